"""A version written by a process of an older release, serving beside upgraded ones, has no
cursor key (migration 0013 gave one to the versions it found): its ``after=`` walk answered 500
(found by an upgrade hunt). The first call makes its key, kept in the catalogue for every node."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from portail.api import create_app
from portail.catalog.models import DatasetVersion
from tests.conftest import Published, published_instance, semicolon_csv

URL = "/api/explore/v2.1/catalog/datasets/petit/records"


def test_a_version_written_without_a_cursor_key_is_walked(tmp_path):
    path = semicolon_csv(tmp_path / "petit.csv", [{"n": str(i)} for i in range(5)])
    instance = published_instance(tmp_path / "home", Published("petit", path))
    try:
        with instance.session() as s:  # as an older process writes its versions
            s.execute(update(DatasetVersion).values(cursor_key=None))
        client = TestClient(create_app(instance))
        seen, cursor = [], ""
        while cursor is not None:
            answer = client.get(URL, params={"after": cursor, "limit": 2, "select": "n"})
            assert answer.status_code == 200, answer.text
            seen += [r["n"] for r in answer.json()["results"]]
            following = [link["href"] for link in answer.json()["_links"] if link["rel"] == "next"]
            cursor = following[0].split("after=")[1].split("&")[0] if following else None
        assert seen == list(range(5))
        with instance.session() as s:
            [key] = s.scalars(select(DatasetVersion.cursor_key)).all()
        assert key is not None and len(key) == 16
        # A second app (another node) opens the cursors the first one sealed.
        other = TestClient(create_app(instance))
        first = client.get(URL, params={"after": "", "limit": 2}).json()["_links"]
        resumed = [link["href"] for link in first if link["rel"] == "next"][0].split("after=")[1].split("&")[0]
        assert other.get(URL, params={"after": resumed, "limit": 2, "select": "n"}).json()["results"] == [{"n": 2}, {"n": 3}]
    finally:
        instance.store.close()
