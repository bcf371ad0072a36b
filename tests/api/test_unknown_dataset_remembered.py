""""Unknown dataset" is remembered per caller while the catalogue is unchanged
(``explore_service._UNSEEN``), and forgotten at the first change made by any process: the
dataset granted, opened or published through another instance on the same home (another
process's view of the catalogue) is found at the very next call."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from portail.api import create_app
from portail.auth import services as auth
from portail.catalog import services
from portail.config import Settings
from portail.operations import load_file, open_instance
from tests.conftest import Published, published_instance, semicolon_csv

RECORDS = "/api/explore/v2.1/catalog/datasets/{}/records"
ROWS = [{"code": str(n), "nom": f"ligne {n}"} for n in range(5)]


@pytest.fixture
def served(tmp_path):
    """The API's instance with a restricted dataset and a key without a grant; another instance
    on the same home, as the command line of another process writes the catalogue."""
    instance = published_instance(tmp_path / "home", Published("ferme", semicolon_csv(tmp_path / "f.csv", ROWS)))
    with instance.session() as s:
        auth.set_dataset_security(s, services.get_dataset(s, "ferme"), visibility="restricted")
        _, secret = auth.create_api_key(s, auth.create_user(s, "alice"))
    other = open_instance(Settings(home=instance.settings.home))
    yield TestClient(create_app(instance)), instance, other, {"Authorization": f"Apikey {secret}"}
    other.store.close()
    instance.store.close()


def dataset_lookups(instance) -> list[str]:
    """The statements reading the dataset table, as they are run."""
    seen: list[str] = []

    @event.listens_for(instance.catalog.kw["bind"], "before_cursor_execute")
    def _seen(_conn, _cursor, statement, *_):
        if "FROM dataset " in statement or "FROM dataset\n" in statement:
            seen.append(statement)

    return seen


def test_an_unknown_dataset_is_looked_up_once_per_catalogue_change(served):
    client, instance, other, key = served
    lookups = dataset_lookups(instance)
    first = client.get(RECORDS.format("ferme"), headers=key)
    assert first.status_code == 404 and first.json()["message"] == "Unknown dataset: ferme"
    looked = len(lookups)
    assert looked > 0
    for _ in range(3):
        again = client.get(RECORDS.format("ferme"), headers=key)
        assert (again.status_code, again.json()) == (404, first.json())
    assert len(lookups) == looked
    with other.session() as s:  # a change elsewhere (any watched table): looked up again
        auth.create_group(s, "autres")
    assert client.get(RECORDS.format("ferme"), headers=key).status_code == 404
    assert len(lookups) > looked


def test_a_grant_made_elsewhere_opens_the_dataset_at_the_next_call(served):
    client, _, other, key = served
    for _ in range(2):
        assert client.get(RECORDS.format("ferme"), headers=key).status_code == 404
        assert client.get(RECORDS.format("ferme")).status_code == 404
    with other.session() as s:
        auth.grant(s, services.get_dataset(s, "ferme"), "user", "alice")
    assert client.get(RECORDS.format("ferme"), headers=key).json()["total_count"] == len(ROWS)
    assert client.get(RECORDS.format("ferme")).status_code == 404  # still unknown to anyone else
    with other.session() as s:
        auth.set_dataset_security(s, services.get_dataset(s, "ferme"), visibility="public")
    assert client.get(RECORDS.format("ferme")).json()["total_count"] == len(ROWS)


def test_a_dataset_published_elsewhere_is_found_at_the_next_call(served, tmp_path):
    client, _, other, _ = served
    for _ in range(2):
        assert client.get(RECORDS.format("nouveau")).status_code == 404
    with other.session() as s:
        services.create_dataset(s, "nouveau", "Nouveau")
    assert client.get(RECORDS.format("nouveau")).status_code == 404  # created, not yet published
    load_file(other, "nouveau", semicolon_csv(tmp_path / "n.csv", ROWS[:2]), publish=True)
    assert client.get(RECORDS.format("nouveau")).json()["total_count"] == 2
