"""The store's query face: sqlglot expressions in, Arrow out; streaming keeps one batch in memory."""

from __future__ import annotations

import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from portail.store import DuckDBStore


@pytest.fixture
def store(tmp_path):
    s = DuckDBStore(tmp_path / "data", memory_limit="256MB")
    yield s
    s.close()


def build(store, uid, number, table: pa.Table, sort_by=()):
    build = store.begin_version(uid, number)
    build.con.register("src", table)
    build.create_records(exp.select("*").from_("src"), sort_by=sort_by)
    return build.finish({"note": "test"})


def test_build_query_and_stream(store):
    table = pa.table({"code": [f"{i:05d}" for i in range(100_000)], "n": list(range(100_000))[::-1]})
    info = build(store, "da_test", 1, table, sort_by=["n"])
    assert info.row_count == 100_000 and info.location.endswith("v000001.duckdb")
    first = store.query(info.location, exp.select("code", "n").from_("records").limit(2))
    assert first.to_pylist() == [{"code": "99999", "n": 0}, {"code": "99998", "n": 1}]  # sorted on n at build
    with_param = store.query(info.location, "SELECT count(*) c FROM records WHERE code LIKE ?", ["000%"])
    assert with_param.column("c")[0].as_py() == 100
    batches = list(store.stream(info.location, exp.select("*").from_("records"), batch_size=10_000))
    assert sum(b.num_rows for b in batches) == 100_000 and max(b.num_rows for b in batches) <= 10_000
    assert store.version_meta(info.location) == {"note": "test"}


def test_append_arrow_batches_and_abort(store, tmp_path):
    build_ = store.begin_version("da_test", 1)
    reader = pa.RecordBatchReader.from_batches(pa.schema([("x", pa.int64())]),
                                               [pa.record_batch([pa.array([1, 2])], names=["x"])] * 3)
    build_.append(reader)
    build_.abort()
    assert not list((tmp_path / "data" / "da_test").glob("*"))
    again = store.begin_version("da_test", 1)
    again.append(pa.RecordBatchReader.from_batches(pa.schema([("x", pa.int64())]), [pa.record_batch([pa.array([7])], names=["x"])]))
    info = again.finish({})
    assert store.query(info.location, "SELECT x FROM records").to_pylist() == [{"x": 7}]
    with pytest.raises(FileExistsError):
        store.begin_version("da_test", 1)


def test_version_files_are_read_only_for_readers(store):
    info = build(store, "da_ro", 1, pa.table({"a": [1]}))
    with pytest.raises(Exception, match="read-only|read only|Cannot execute"):
        store.query(info.location, "INSERT INTO records VALUES (2)")
    store.drop_version(info.location)
    with pytest.raises(FileNotFoundError):
        store.query(info.location, "SELECT * FROM records")


def test_uids_cannot_escape_the_data_folder(store):
    with pytest.raises(ValueError):
        store.begin_version("../evil", 1)


def _spatial_loaded(store) -> bool:
    return store._connection().execute(
        "SELECT loaded FROM duckdb_extensions() WHERE extension_name = 'spatial'").fetchone()[0]


def test_the_reader_loads_the_spatial_functions_when_a_query_first_calls_one(store):
    """Loading them costs ~0.4 s of CPU a store: a reader that never meets ``ST_*`` never pays it,
    one whose query calls one loads them first, and a server starting (``warm``) pays it then."""
    build_ = store.begin_version("da_geo", 1)
    build_.create_records(sqlglot.parse_one("SELECT 'a' AS code, ST_Point(2.35, 48.85) AS geo", dialect="duckdb"))
    info = build_.finish({})
    assert store.query(info.location, "SELECT code, geo IS NOT NULL AS has FROM records").to_pylist() == \
        [{"code": "a", "has": True}]  # a GEOMETRY column reads without them
    assert not _spatial_loaded(store)
    assert store.query(info.location, "SELECT round(st_x(geo), 2) AS x FROM records").to_pylist() == [{"x": 2.35}]
    assert _spatial_loaded(store)
    store.close()
    assert store.warm([info.location]) == [info.location] and _spatial_loaded(store)


def test_a_full_text_search_beside_a_distance_loads_the_spatial_functions_first(tmp_path):
    """The index reads re-test a query's other conditions (``fulltext``) before its SQL is
    written: a ``within_distance`` beside a ``search()`` ran ``ST_Distance_Sphere`` on a reader
    that had not loaded them (a review found it)."""
    from portail.api.explore_service import compile_odsql
    from portail.catalog import services
    from portail.operations import load_file
    from tests.conftest import make_instance

    rows = "".join(f"{i:05d};{'paris' if i < 3 else 'lyon'} {i};{48.85 + i / 1000},2.35\n" for i in range(200))
    (tmp_path / "d.csv").write_text("code;nom;geo\n" + rows, encoding="utf-8")
    instance = make_instance(tmp_path / "home")
    try:
        with instance.session() as s:
            services.create_dataset(s, "d", "D")
        load_file(instance, "d", tmp_path / "d.csv", publish=True)
        instance.store.close()  # a reader not warmed: a CLI, a worker before its warm-up
        with instance.session() as s:
            version = services.get_dataset(s, "d").current
            fields, location = services.current_fields(services.get_dataset(s, "d")), version.location
        plan = compile_odsql(fields, select="count(*) as n",
                             where=["search(nom, \"paris\") and within_distance(geo, geom'POINT(2.35 48.85)', 1km)"])
        assert instance.store.query(location, plan.select).to_pylist() == [{"n": 3}]
    finally:
        instance.store.close()
