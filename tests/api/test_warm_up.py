"""A server pays before it listens what its first calls would otherwise pay: the ODSQL parser,
the engine and the current version of each dataset with its index file (``api.app.warm_up``)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from portail.api.app import create_app
from portail.api import explore_service as es
from tests.conftest import Published, published_instance

SOURCE = ("referentiels", "laposte_hexasmal.csv")


def test_the_current_versions_are_attached_before_the_first_call(tmp_path, refdata):
    instance = published_instance(tmp_path / "home", Published("cp", refdata.joinpath(*SOURCE)))
    try:
        location = es.get_visible_dataset(instance, "public", "cp").current.location
        instance.store.close()  # as a process that has just started
        assert location not in instance.store._attached
        with TestClient(create_app(instance)) as client:  # runs the app's start
            assert location in instance.store._attached and instance.store.has_index(location)
            body = client.get("/api/explore/v2.1/catalog/datasets/cp/records", params={"refine": "code_postal:51300"}).json()
            assert body["total_count"] == 46
        # A version that cannot be attached is left to its first call, the others are warmed.
        instance.store.close()
        assert instance.store.warm([str(tmp_path / "gone.duckdb"), location]) == [location]
    finally:
        instance.store.close()
