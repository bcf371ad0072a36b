"""A version's indexes live in an index file. A first version is published before it is written:
until it appears, queries are answered without it (full text scans, key conditions test the
column); once it does, readers attach it — plans kept from before included. A reload is
published only once its own is written, so searches never fall back to scans. Versions built
before index files, with their indexes inside, keep using them."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from sqlglot import exp

from portail.api import explore_service as es
from portail.catalog import services
from portail.operations import load_file
from portail.odsql import Query, compile_plan
from portail.schema import FieldType, fields_from_json
from portail.store import DuckDBStore, fulltext, keys
from portail.store.duckdb_store import INDEX_ROW_GROUP, index_path
from tests.conftest import Published, make_instance, published_instance

SOURCE = ("referentiels", "laposte_hexasmal.csv")


@pytest.fixture(scope="module")
def published_cp(tmp_path_factory, refdata) -> Path:
    """The postal codes file published once as ``cp`` (version 1 with its index file), at a
    home each test copies: the catalogue names version files relative to the store's folder."""
    home = tmp_path_factory.mktemp("index-file") / "home"
    instance = published_instance(home, Published("cp", refdata.joinpath(*SOURCE)))
    instance.store.close()
    instance.catalog.kw["bind"].dispose()
    return home


@pytest.fixture(scope="module")
def reloaded_cp(tmp_path_factory, refdata) -> Path:
    """What a reload of ``cp`` reads: every tenth line of the same file and all of 51300's (one
    record a line, no quotes), its header kept. What these tests watch (when the new version is
    published, its report, its key index) needs no more than ~4,000 of the 39,192 rows."""
    with open(refdata.joinpath(*SOURCE), encoding="utf-8") as handle:
        header, *lines = handle.readlines()
    target = tmp_path_factory.mktemp("reload") / SOURCE[1]
    target.write_text(header + "".join(line for i, line in enumerate(lines)
                                       if i % 10 == 0 or line.split(";")[2] == "51300"), encoding="utf-8")
    return target


def cp_instance(published_cp: Path, tmp_path: Path):
    """This test's own copy of the published ``cp`` instance."""
    return make_instance(shutil.copytree(published_cp, tmp_path / "home"))


def test_a_version_is_served_before_its_index_and_uses_it_once_written(tmp_path, refdata, published_cp):
    instance = cp_instance(published_cp, tmp_path)
    try:
        dataset = es.get_visible_dataset(instance, "public", "cp")
        location = dataset.current.location
        index = index_path(location)
        assert index.exists()
        aside = index.with_name("aside")
        index.rename(aside)
        store = instance.store
        store.close()  # as a process that attached the version before its index was written
        fields = fields_from_json(dataset.current.fields)
        search = compile_plan(Query(select="count(*) as n", where=['"vitry"']), fields).select
        assert not store.has_index(location)
        assert "regexp_split_to_array" in store.prepare(location, search).sql.lower()  # the scan
        key = dict(where=['code_postal = "51300"'])
        before = es.query_records(instance, dataset, **key)
        scanned = store.query(location, search).column("n")[0].as_py()
        aside.rename(index)  # the index file appears: the next call attaches it
        assert store.has_index(location)
        assert "regexp_split_to_array" not in store.prepare(location, search).sql.lower()
        assert store.query(location, search).column("n")[0].as_py() == scanned > 0
        after = es.query_records(instance, dataset, **key)
        assert after.total_count == before.total_count == 46
        assert sorted(r["code_commune_insee"] for r in after.results) == sorted(r["code_commune_insee"] for r in before.results)
        sql = store.prepare(location, compile_plan(Query(where=key["where"]), fields).select).sql
        assert '"rowid" IN (' in sql  # the key resolved from the index file's key table
    finally:
        instance.store.close()


def test_a_reload_is_published_once_its_index_file_is_written(tmp_path, reloaded_cp, published_cp):
    instance = cp_instance(published_cp, tmp_path)
    seen: list[tuple[str, int, bool]] = []

    def served(stage: str, *_: object) -> None:
        if stage.startswith("index"):  # while the new version's index file is written, and after
            with instance.session() as session:
                current = services.get_dataset(session, "cp").current
                seen.append((stage, current.number, index_path(current.location).exists()))

    try:
        result = load_file(instance, "cp", reloaded_cp, publish=True, progress=served)
        assert result.version == 2 and result.published
        assert seen == [("indexing", 1, True), ("indexed", 1, True)]  # version 1 served, with its index
        with instance.session() as session:
            current = services.get_dataset(session, "cp").current
            assert current.number == 2 and index_path(current.location).exists()
        seen.clear()
        load_file(instance, "cp", reloaded_cp, publish=False, progress=served)
        assert [number for _, number, _ in seen] == [2, 2]  # not asked to publish: version 2 stays
    finally:
        instance.store.close()


def test_the_index_tables_are_stored_in_small_row_groups(tmp_path, refdata, published_cp):
    """An index read wants a few rows of a sorted table, and the engine skips data a row group
    at a time: the index file's tables come in groups of INDEX_ROW_GROUP rows, not the
    engine's default 122,880 (2-4x faster reads on 2 M records: docs/benchmarks.md)."""
    instance = cp_instance(published_cp, tmp_path)
    try:
        location = es.get_visible_dataset(instance, "public", "cp").current.location
        con = duckdb.connect(str(index_path(location)), read_only=True)
        try:
            for table in (keys.TABLE, fulltext.TERMS):
                rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                groups = con.execute(f"SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('{table}')").fetchone()[0]
                assert rows > 2 * INDEX_ROW_GROUP and groups == -(-rows // INDEX_ROW_GROUP), (table, rows, groups)
        finally:
            con.close()
    finally:
        instance.store.close()


def test_a_version_with_its_indexes_inside_keeps_using_them(tmp_path, refdata, published_cp):
    """The layout of versions built before index files: the tables in the version file."""
    instance = cp_instance(published_cp, tmp_path)
    try:
        version = es.get_visible_dataset(instance, "public", "cp").current
        fields = fields_from_json(version.fields)
    finally:
        instance.store.close()
    old = tmp_path / "old" / "v000001.duckdb"
    old.parent.mkdir()
    shutil.copy(version.location, old)
    con = duckdb.connect(str(old))
    try:
        texts = [f.name for f in fields if f.type == FieldType.TEXT]
        catalog = con.execute("SELECT current_catalog()").fetchone()[0]
        keyed, one_word = keys.choose(con, _records(catalog), texts)
        keys.build(con, catalog, keyed)
        fulltext.build(con, catalog, texts, one_word)
    finally:
        con.close()
    store = DuckDBStore(tmp_path / "data")
    try:
        assert store.has_index(str(old)) and not index_path(str(old)).exists()
        search = compile_plan(Query(select="count(*) as n", where=['"vitry"']), fields).select
        bound = store.prepare(str(old), search).sql
        assert "regexp_split_to_array" not in bound.lower() and "_ix" not in bound
        assert store.query(str(old), search).column("n")[0].as_py() > 0
    finally:
        store.close()


def test_an_index_build_that_fails_is_said_and_the_version_still_served(tmp_path, reloaded_cp, published_cp):
    """A real failure after publication (something else lies where the index file goes, so it
    cannot be renamed into place): the load succeeds, its report says the indexes are missing,
    queries scan; a reindex fails loudly while the obstacle remains, and works once it is gone."""
    from portail.catalog.services import CatalogError
    from portail.operations import load_file, reindex

    instance = cp_instance(published_cp, tmp_path)
    try:
        uid = es.get_visible_dataset(instance, "public", "cp").uid
        blocker = index_path(str(instance.store.version_path(uid, 2)))
        blocker.mkdir()
        result = load_file(instance, "cp", reloaded_cp, publish=True)
        assert result.version == 2
        dataset = es.get_visible_dataset(instance, "public", "cp")
        assert dataset.current.number == 2
        notes = [n for n in dataset.current.report["notes"] if "indexes not built" in n]
        assert len(notes) == 1 and "portail dataset reindex cp" in notes[0], dataset.current.report["notes"]
        assert result.report.notes[-1] == notes[0]
        assert not instance.store.has_index(dataset.current.location)
        key = dict(where=['code_postal = "51300"'])
        assert es.query_records(instance, dataset, **key).total_count == 46  # by scanning the column
        with pytest.raises(CatalogError) as refused:
            reindex(instance, "cp")
        assert refused.value.code == "IndexNotBuilt" and "version 2" in refused.value.message
        blocker.rmdir()
        assert reindex(instance, "cp").number == 2
        assert instance.store.has_index(dataset.current.location)
        assert es.query_records(instance, dataset, **key).total_count == 46
    finally:
        instance.store.close()


def _records(catalog: str) -> exp.Table:
    return exp.table_("records", db="main", catalog=catalog)
