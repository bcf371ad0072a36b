"""Record lookups through a version's id table (``store.record_ids``): the same record as the
scan finds, the scan again for a caller whose id differs (hidden fields) or a version without
the table, and an unknown id (or one sharing only the table's 64 bits) a 404."""

from __future__ import annotations

import duckdb
import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.api import explore_service as es
from portail.auth import ANONYMOUS
from portail.auth import services as auth
from portail.catalog import services
from portail.store import record_ids
from portail.store.duckdb_store import index_path
from portail.values import record_id_expression
from tests.conftest import Published, annotated, current_version, logements_file, published_instance, semicolon_csv

API = "/api/explore/v2.1/catalog/datasets"


def _home(tmp_path_factory, refdata, name: str, min_rows: int):
    """Logements (a geometry among its fields) and the ``id``-annotated dataset, published with
    the id table written above ``min_rows`` rows."""
    folder = tmp_path_factory.mktemp(name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(record_ids, "MIN_ROWS", min_rows)
        return published_instance(folder / "home", Published("logements", logements_file(refdata), "Logements"),
                                  annotated(folder))


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, refdata):
    instance = _home(tmp_path_factory, refdata, "ids-indexed", 0)
    yield instance
    instance.store.close()


@pytest.fixture(scope="module")
def scanned(tmp_path_factory, refdata):
    """The same datasets, too small for the table: as versions built before it."""
    instance = _home(tmp_path_factory, refdata, "ids-scanned", record_ids.MIN_ROWS)
    yield instance
    instance.store.close()


def _records(client: TestClient, slug: str) -> list[dict]:
    return client.get(f"{API}/{slug}/records", params={"include_links": True, "limit": 100}).json()["results"]


def _candidates(instance, slug: str, record_id: str) -> list[int] | None:
    """What the id table says of ``record_id`` under the version's own id (every field it has)."""
    location, fields = current_version(instance, slug)
    return instance.store.record_rows(location, record_id_expression(fields), record_id)


@pytest.mark.parametrize("slug", ["logements", "mv"])
def test_every_record_is_found_through_the_table_as_by_the_scan(indexed, scanned, slug):
    with TestClient(create_app(indexed)) as fast, TestClient(create_app(scanned)) as slow:
        listed = _records(fast, slug)
        assert listed and [r["_id"] for r in listed] == [r["_id"] for r in _records(slow, slug)]
        for position, record in list(enumerate(listed))[::9]:  # a dozen spread out: each scan hashes every row
            rid = record.pop("_id")
            assert _candidates(indexed, slug, rid) == [position]  # the table answers...
            assert _candidates(scanned, slug, rid) is None  # ... where the other version has none
            found = fast.get(f"{API}/{slug}/records/{rid}")
            assert found.status_code == 200 and found.json() == slow.get(f"{API}/{slug}/records/{rid}").json()
            assert {k: v for k, v in found.json().items() if not k.startswith("_")} == \
                {k: v for k, v in record.items() if not k.startswith("_")}


def test_an_unknown_id_is_not_found_even_sharing_the_tables_bits(indexed, scanned):
    with TestClient(create_app(indexed)) as fast, TestClient(create_app(scanned)) as slow:
        rid = _records(fast, "logements")[3]["_id"]
        twin = rid[:16] + ("0" * 24 if rid[16:] != "0" * 24 else "1" * 24)  # same first 64 bits, another id
        assert _candidates(indexed, "logements", twin) == [3]  # a candidate the full id rejects
        unknown = "f" * 40 if rid[:16] != "f" * 16 else "e" * 40
        assert _candidates(indexed, "logements", unknown) == []
        for client in (fast, slow):
            for missing in (twin, unknown):
                assert client.get(f"{API}/logements/records/{missing}").status_code == 404


def test_a_caller_with_hidden_fields_gets_its_own_ids_by_the_scan(tmp_path_factory, refdata):
    instance = _home(tmp_path_factory, refdata, "ids-hidden", 0)
    try:
        with TestClient(create_app(instance)) as client:
            full = _records(client, "logements")[:5]
            with instance.session() as s:
                auth.set_dataset_security(s, services.get_dataset(s, "logements"), hidden_fields={"*": ["bs"]})
            seen = _records(client, "logements")[:5]
            d = es.get_visible_dataset(instance, "public", "logements", ANONYMOUS)
            for before, now in zip(full, seen):
                assert before["_id"] != now["_id"] and "bs" not in now
                # The table still knows the full id, but the caller's id is another expression:
                assert _candidates(instance, "logements", before["_id"]) is not None
                assert es.get_record(instance, d, now["_id"], principal=ANONYMOUS) == \
                    {k: v for k, v in now.items() if not k.startswith("_")}
                # ... and an id hashing the hidden field confirms nothing.
                assert client.get(f"{API}/logements/records/{before['_id']}").status_code == 404
    finally:
        instance.store.close()


def test_a_lookup_reads_the_table_rather_than_every_row(tmp_path_factory, refdata):
    """What proves the lookup asks the table (its answers equal the scan's): a table naming the
    wrong row for an id (damaged here on purpose) makes the lookup miss a record the scan finds."""
    instance = _home(tmp_path_factory, refdata, "ids-damaged", 0)
    with TestClient(create_app(instance)) as client:
        rid = _records(client, "logements")[3]["_id"]
        assert client.get(f"{API}/logements/records/{rid}").status_code == 200
    with instance.session() as s:
        location = services.get_dataset(s, "logements").current.location
    instance.store.close()
    with duckdb.connect(str(index_path(location))) as con:
        con.execute(f"UPDATE {record_ids.TABLE} SET rid = rid + 1 WHERE h = ?", [record_ids.prefix_of(rid)])
    try:
        with TestClient(create_app(instance)) as client:
            assert client.get(f"{API}/logements/records/{rid}").status_code == 404
    finally:
        instance.store.close()


def test_a_table_built_in_another_time_zone_is_not_read(tmp_path):
    """Ids write a datetime in the engine's time zone: a reader in another zone than the table's
    build (a reindex from a shell of another zone) finds the records by the scan, not through
    the table, whose ids would name none of them."""
    rows = [{"code": f"C{i:02d}", "quand": f"2024-01-{i + 1:02d}T12:30:00+00:00"} for i in range(20)]
    path = semicolon_csv(tmp_path / "dates.csv", rows)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(record_ids, "MIN_ROWS", 0)
        instance = published_instance(tmp_path / "home", Published("dates", path, "Dates"))
    try:
        with instance.session() as s:
            assert [f["type"] for f in services.get_dataset(s, "dates").current.fields] == ["text", "datetime"]
        with TestClient(create_app(instance)) as client:
            instance.store.cursor().execute("SET GLOBAL TimeZone = 'Pacific/Tahiti'")
            listed = _records(client, "dates")
            assert len(listed) == 20
            for record in listed:
                assert client.get(f"{API}/dates/records/{record['_id']}").status_code == 200
    finally:
        instance.store.close()
