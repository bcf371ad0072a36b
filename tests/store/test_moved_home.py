"""A home moved to another path (a backup restored elsewhere, a container mounting it at another
path, API nodes mounting shared storage at different paths) keeps serving every dataset: the
catalogue names version files relative to the store's folder (``catalog.models.StoreLocation``),
and their index and page files are named after them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import text

from portail.catalog import services
from portail.operations import Instance, load_file
from portail.store import pages
from portail.store.duckdb_store import index_path
from tests.conftest import make_instance, operator_client, start_cursor

RECORDS = "/api/explore/v2.1/catalog/datasets/towns/records"
VERSIONS = "/api/management/v1/datasets/towns/versions"


def _stored_locations(instance: Instance) -> list[str]:
    """What the catalogue's table holds, read past the ORM's conversion."""
    with instance.catalog.kw["bind"].connect() as connection:
        return list(connection.execute(text("SELECT location FROM dataset_version ORDER BY number")).scalars())


def _close(instance: Instance) -> None:
    instance.store.close()
    instance.catalog.kw["bind"].dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request) -> str | None:
    """The catalogue in the home (SQLite, moved with it) or shared by both paths (PostgreSQL)."""
    return None if request.param == "sqlite" else request.getfixturevalue("pg_catalog_url")


def test_a_moved_home_serves_its_records_history_and_rollback(tmp_path, database_url):
    first, second = tmp_path / "v1.csv", tmp_path / "v2.csv"
    first.write_text("code;nom\n1;Alphaville\n2;Betaville\n3;Gammaville\n", encoding="utf-8")
    second.write_text("code;nom\n1;Alphaville\n2;Deltaville\n", encoding="utf-8")
    original = make_instance(tmp_path / "old" / "home", database_url=database_url)
    with original.session() as s:
        services.create_dataset(s, "towns", "Towns")
    load_file(original, "towns", first, publish=True)
    load_file(original, "towns", second, publish=True)
    assert _stored_locations(original) and not any(Path(p).is_absolute() for p in _stored_locations(original))
    attached = operator_client(original).post("/api/management/v1/datasets/towns/attachments",
                                              files={"file": ("Notice.pdf", b"%PDF-1.4 towns", "application/pdf")})
    assert attached.status_code in (200, 201), attached.text
    with original.catalog.kw["bind"].connect() as connection:  # the attachment too, relative to the home
        assert not Path(connection.execute(text("SELECT path FROM attachment")).scalar_one()).is_absolute()
    _close(original)

    shutil.move(tmp_path / "old" / "home", tmp_path / "new" / "place")
    moved = make_instance(tmp_path / "new" / "place", database_url=database_url)
    with moved.session() as s:
        locations = [v.location for v in services.get_dataset(s, "towns").versions]
    root = tmp_path / "new" / "place" / "data"
    assert all(Path(p).is_relative_to(root) and Path(p).is_file() for p in locations)
    # the index and page files beside each version followed it
    assert all(index_path(p).is_file() and pages.page_path(p).is_file() for p in locations)
    assert moved.store.has_index(locations[1])
    client = operator_client(moved)
    body = client.get(RECORDS, params={"order_by": "code"}).json()
    assert [r["nom"] for r in body["results"]] == ["Alphaville", "Deltaville"]
    assert client.get(RECORDS, params={"where": 'search(nom, "deltaville")'}).json()["total_count"] == 1
    assert [(v["version"], v["records_count"]) for v in client.get(VERSIONS).json()] == [(1, 3), (2, 2)]
    assert client.get(RECORDS, params={"after": start_cursor(moved, "towns", 1)}).json()["total_count"] == 3  # replaced
    assert client.post("/api/management/v1/datasets/towns/rollback", json={"version": 1}).status_code == 200
    body = client.get(RECORDS, params={"order_by": "code", "where": 'search(nom, "gammaville")'}).json()
    assert [r["nom"] for r in body["results"]] == ["Gammaville"]
    assert client.get(RECORDS, params={"limit": 0}).json()["total_count"] == 3
    listed = client.get("/api/explore/v2.1/catalog/datasets/towns/attachments").json()["attachments"]
    assert client.get(listed[0]["href"].replace("http://testserver", "")).content == b"%PDF-1.4 towns"
    _close(moved)


def test_a_version_file_outside_the_store_keeps_its_absolute_path(tmp_path):
    source = tmp_path / "v1.csv"
    source.write_text("code;nom\n1;Alphaville\n2;Betaville\n", encoding="utf-8")
    instance = make_instance(tmp_path / "home")
    with instance.session() as s:
        services.create_dataset(s, "towns", "Towns")
    load_file(instance, "towns", source, publish=True)
    with instance.session() as s:
        inside = Path(services.get_dataset(s, "towns").current.location)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for path in inside.parent.glob(inside.name + "*"):  # the version with its index and page files
        shutil.move(path, elsewhere / path.name)
    outside = str(elsewhere / inside.name)
    with instance.session() as s:
        services.get_dataset(s, "towns").current.location = outside
    assert _stored_locations(instance) == [outside]
    _close(instance)

    reopened = make_instance(tmp_path / "home")
    with reopened.session() as s:
        assert services.get_dataset(s, "towns").current.location == outside
    client = operator_client(reopened)
    assert client.get(RECORDS, params={"where": 'search(nom, "betaville")'}).json()["total_count"] == 1
    assert reopened.store.has_index(outside)
    _close(reopened)
