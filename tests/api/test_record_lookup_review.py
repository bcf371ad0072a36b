"""Review of record lookups through the id table (``store.record_ids``) and of the reserved
``rowid`` name: a lookup answers what the scan answers on every record route (v2.1, v2.0, v1)
under a row filter, with page files off (the build then runs without the spatial extension),
after a reindex, and on odd ids; a version loaded before ``rowid`` was reserved still reads."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from portail import operations, schema
from portail.api import create_app
from portail.auth import services as auth
from portail.catalog import services
from portail.operations import reindex
from portail.store import record_ids
from portail.values import record_id_expression
from tests.conftest import Published, annotated, current_version, logements_file, published_instance, semicolon_csv

V21 = "/api/explore/v2.1/catalog/datasets"
V20 = "/api/explore/v2.0/catalog/datasets"
V1 = "/api/datasets/1.0"


def _home(folder, refdata, min_rows: int, **settings):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(record_ids, "MIN_ROWS", min_rows)
        return published_instance(folder / "home", Published("logements", logements_file(refdata), "Logements"),
                                  annotated(folder), **settings)


def _ids(client: TestClient, slug: str, limit: int = 100, **params) -> list[str]:
    answer = client.get(f"{V21}/{slug}/records", params={"include_links": True, "limit": limit, **params})
    assert answer.status_code == 200, answer.text
    return [r["_id"] for r in answer.json()["results"]]


def _candidates(instance, slug: str, record_id: str) -> list[int] | None:
    location, fields = current_version(instance, slug)
    return instance.store.record_rows(location, record_id_expression(fields), record_id)


def _statuses(client: TestClient, slug: str, record_id: str) -> tuple[int, int, int]:
    return (client.get(f"{V21}/{slug}/records/{record_id}").status_code,
            client.get(f"{V20}/{slug}/records/{record_id}").status_code,
            client.get(f"{V1}/{slug}/records/{record_id}").status_code)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, refdata):
    instance = _home(tmp_path_factory.mktemp("review-indexed"), refdata, 0)
    yield instance
    instance.store.close()


def test_without_page_files_the_table_still_finds_every_record(tmp_path_factory, refdata):
    """Page files off (the hub's setting): the index build's workspace has no spatial extension,
    and logements has a geometry; the table's ids must still be the ones the reader computes."""
    instance = _home(tmp_path_factory.mktemp("review-nopages"), refdata, 0, page_files=False)
    try:
        with TestClient(create_app(instance)) as client:
            ids = _ids(client, "logements", 30)
            assert all(_candidates(instance, "logements", rid) for rid in ids)
            for rid in ids:
                assert _statuses(client, "logements", rid) == (200, 200, 200), rid
    finally:
        instance.store.close()


def test_a_row_filter_holds_through_the_table_on_every_route(indexed):
    """``mv``'s id is its ``id`` field, which the filtered caller sees: the table answers for
    it (same id expression), and the row filter must still refuse the rows it excludes."""
    with TestClient(create_app(indexed)) as client:
        every = dict(zip(_ids(client, "mv", where="true"), range(8)))
        every = {rid: client.get(f"{V21}/mv/records/{rid}").json()["id"] for rid in every}
        assert sorted(every.values()) == list(range(1, 9))
        with indexed.session() as s:
            auth.set_dataset_security(s, services.get_dataset(s, "mv"), record_filters={"*": "id <= 3"})
        for rid, key in every.items():
            assert _candidates(indexed, "mv", rid) is not None  # the table is asked for this caller
            expected = 200 if key <= 3 else 404
            assert _statuses(client, "mv", rid) == (expected,) * 3, (rid, key)
        assert sorted(_ids(client, "mv")) == sorted(r for r, k in every.items() if k <= 3)
        with indexed.session() as s:
            auth.set_dataset_security(s, services.get_dataset(s, "mv"), record_filters={"*": None})


@pytest.mark.parametrize("odd", ["F" * 40, "f" * 40, "f" * 16 + "0" * 24, "0" * 40, "8" + "0" * 39,
                                 "f" * 41, "f" * 39, "g" * 40, "ffffffffffffffff"])
def test_odd_ids_are_not_found_on_every_route(indexed, odd):
    with TestClient(create_app(indexed)) as client:
        assert _statuses(client, "logements", odd) == (404, 404, 404)


def test_an_upper_case_id_is_not_found_rather_than_an_error(indexed):
    with TestClient(create_app(indexed)) as client:
        rid = _ids(client, "logements", 1)[0]
        assert _statuses(client, "logements", rid) == (200, 200, 200)
        assert _statuses(client, "logements", rid.upper()) == (404, 404, 404)


def test_a_reindex_writes_the_table_and_lookups_agree_before_and_after(tmp_path_factory, refdata):
    """A version built without the table (small): lookups scan; a reindex (the table written
    now) changes no answer, in the process that served before it and in a fresh one."""
    instance = _home(tmp_path_factory.mktemp("review-reindex"), refdata, record_ids.MIN_ROWS)
    try:
        with TestClient(create_app(instance)) as client:
            ids = _ids(client, "logements", 20)
            before = [client.get(f"{V21}/logements/records/{rid}").json() for rid in ids]
            assert _candidates(instance, "logements", ids[0]) is None
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(record_ids, "MIN_ROWS", 0)
                reindex(instance, "logements")
            assert [client.get(f"{V21}/logements/records/{rid}").json() for rid in ids] == before
        instance.store.close()
        assert _candidates(instance, "logements", ids[0])  # a fresh read finds the new table
        with TestClient(create_app(instance)) as client:
            assert [client.get(f"{V21}/logements/records/{rid}").json() for rid in ids] == before
            with pytest.MonkeyPatch.context() as patch:  # reindexed again, now small: no table
                patch.setattr(record_ids, "MIN_ROWS", 10**9)
                reindex(instance, "logements")
            assert [client.get(f"{V21}/logements/records/{rid}").json() for rid in ids] == before
        instance.store.close()
        assert _candidates(instance, "logements", ids[0]) is None
    finally:
        instance.store.close()


@pytest.mark.parametrize("slug", ["texts", "numbers"])
def test_a_version_loaded_before_rowid_was_reserved_still_reads(tmp_path, slug):
    """A version whose field is still named ``rowid`` (loaded before ``RESERVED_NAMES``): its
    records, searches and lookups answer until it is loaded again, with or without an id table."""
    texts = semicolon_csv(tmp_path / "texts.csv", [{"rowid": f"R{i:03d}", "code": f"C{i:04d}"} for i in range(40)])
    numbers = semicolon_csv(tmp_path / "numbers.csv", [{"rowid": str(900 - i % 3), "code": f"C{i:04d}"}
                                                       for i in range(40)])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(schema, "RESERVED_NAMES", frozenset())
        patch.setattr(operations, "RESERVED_NAMES", frozenset())  # indexed, as versions then were
        patch.setattr(record_ids, "MIN_ROWS", 0)
        instance = published_instance(tmp_path / "home", Published("texts", texts, "Textes"),
                                      Published("numbers", numbers, "Nombres"))
    try:
        with TestClient(create_app(instance)) as client:
            for value in [{"texts": "R007", "numbers": 900 - 7 % 3}[slug]]:
                with instance.session() as s:
                    assert [f["name"] for f in services.get_dataset(s, slug).current.fields] == ["rowid", "code"]
                found = client.get(f"{V21}/{slug}/records", params={"where": 'code = "C0007"', "include_links": True})
                assert found.status_code == 200, found.text
                assert len(found.json()["results"]) == 1, (slug, found.json())
                (record,) = found.json()["results"]
                assert record["rowid"] == value and record["code"] == "C0007"
                assert client.get(f"{V21}/{slug}/records/{record['_id']}").json() == {"rowid": value, "code": "C0007"}
                assert client.get(f"{V21}/{slug}/records", params={"limit": 100}).json()["total_count"] == 40
    finally:
        instance.store.close()
