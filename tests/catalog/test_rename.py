"""A renamed dataset keeps answering under its former dataset_id (migration 0007): the APIs
serve it as itself, the pages send browsers to its new address, the command line finds it; a
new dataset created under the former id takes it back. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.catalog import services, transaction
from portail.operations import load_file
from tests.conftest import make_instance


def test_former_ids_resolve_until_taken_back(catalog):
    with transaction(catalog) as s:
        uid = services.create_dataset(s, "elus-2024", "Élus").uid
    with transaction(catalog) as s:
        services.rename_dataset(s, services.get_dataset(s, "elus-2024"), "elus")
    with transaction(catalog) as s:
        services.rename_dataset(s, services.get_dataset(s, "elus"), "elus-senat")
    with transaction(catalog) as s:
        for ref in ("elus-2024", "elus", "elus-senat", uid):
            assert services.get_dataset(s, ref).slug == "elus-senat", ref
        assert [a.slug for a in services.get_dataset(s, uid).aliases] == ["elus", "elus-2024"]
    with transaction(catalog) as s:  # back to a former id: it is the dataset's own again, not an alias
        services.rename_dataset(s, services.get_dataset(s, uid), "elus")
    with transaction(catalog) as s:
        assert [a.slug for a in services.get_dataset(s, uid).aliases] == ["elus-2024", "elus-senat"]
        other = services.create_dataset(s, "elus-2024", "Autre jeu")  # takes the former id back
    with transaction(catalog) as s:
        assert services.get_dataset(s, "elus-2024").uid == other.uid
        assert services.get_dataset(s, "elus-senat").uid == uid
        services.delete_dataset(s, services.get_dataset(s, uid))
    with transaction(catalog) as s:
        with pytest.raises(services.NotFound):
            services.get_dataset(s, "elus-senat")  # the aliases went with their dataset
        services.create_dataset(s, "senat", "Sénat")
        with pytest.raises(services.CatalogError, match="already exists"):  # a current id is never taken
            services.rename_dataset(s, services.get_dataset(s, "elus-2024"), "senat")


def test_apis_and_pages_follow_a_renamed_dataset(tmp_path, refdata):
    instance = make_instance(tmp_path / "home")
    with instance.session() as s:
        services.create_dataset(s, "regions-2024", "Régions")
    load_file(instance, "regions-2024", refdata / "referentiels" / "cog2026_regions.csv", publish=True)
    client = TestClient(create_app(instance))
    before = client.get("/api/explore/v2.1/catalog/datasets/regions-2024/records", params={"limit": 3}).json()
    with instance.session() as s:
        services.rename_dataset(s, services.get_dataset(s, "regions-2024"), "regions")
    old = "/api/explore/v2.1/catalog/datasets/regions-2024"
    assert client.get(old).json()["dataset_id"] == "regions"  # served as itself, under its new id
    assert client.get(f"{old}/records", params={"limit": 3}).json() == before
    assert client.get("/api/records/1.0/search/", params={"dataset": "regions-2024", "rows": 0}).json()["nhits"] == 18
    assert client.get(f"{old}/exports/csv").status_code == 200
    page = client.get("/explore/dataset/regions-2024/table/?q=bretagne", follow_redirects=False)
    assert page.status_code == 301 and page.headers["location"] == "/explore/dataset/regions/table/?q=bretagne"
    bare = client.get("/explore/dataset/regions-2024?q=bretagne", follow_redirects=False)  # one redirect, not two
    assert bare.status_code == 301 and bare.headers["location"] == "/explore/dataset/regions/information/?q=bretagne"
    current = client.get("/explore/dataset/regions/", follow_redirects=False)
    assert current.status_code == 307 and current.headers["location"] == "/explore/dataset/regions/information/"
    listed = client.get("/api/explore/v2.1/catalog/datasets", params={"select": "dataset_id"}).json()["results"]
    assert listed == [{"dataset_id": "regions"}]  # the catalogue lists the current id only
    with instance.session() as s:
        services.create_dataset(s, "regions-2024", "Régions 2024 (nouveau)")
    gone = client.get(f"{old}/records")  # the new dataset has no version yet: the alias is released
    assert gone.status_code == 404
    instance.store.close()
