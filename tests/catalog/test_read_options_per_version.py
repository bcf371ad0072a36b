"""Each version remembers the read options its file was read with: a reload after a rollback
reads the source of the version rolled back to with that version's options, not the newest
load's (a UTF-8 file read as cp1252 would be mojibake); migration 0012 gives the options a
dataset kept before to its current version only."""

from __future__ import annotations

from pathlib import Path

from portail.catalog import services, transaction
from portail.catalog.db import migrate
from portail.operations import reread_of
from tests.catalog.downgrades import downgrade
from tests.cli import cli  # noqa: F401 - the `portail` command, as a fixture
from tests.conftest import make_instance


def _served_records(home: Path, slug: str) -> list[dict]:
    instance = make_instance(home)
    try:
        with instance.session() as session:
            location = services.get_dataset(session, slug).current.location
        return instance.store.query(location, "SELECT * FROM records").to_pylist()
    finally:
        instance.store.close()
        instance.catalog.kw["bind"].dispose()


def test_a_reload_after_a_rollback_reads_the_old_source_with_its_own_encoding(cli, tmp_path):
    utf8 = tmp_path / "communes-utf8.csv"
    utf8.write_text("code;nom\n01001;Abergement-Clémenciat\n", encoding="utf-8")  # detected
    cp1252 = tmp_path / "communes-cp1252.csv"
    cp1252.write_bytes("code;nom\n01002;Ambérieux-en-Dombes\n".encode("cp1252"))
    cli("dataset", "create", "communes", "--title", "Communes", "--from", str(utf8))
    cli("dataset", "ingest", "communes", str(cp1252), "--encoding", "cp1252", "--publish")
    cli("dataset", "rollback", "communes", "--to", "1")
    assert "version 3 published" in cli("dataset", "reload", "communes").output
    assert _served_records(tmp_path / "home", "communes") == [{"code": "01001", "nom": "Abergement-Clémenciat"}]


def test_a_reload_after_a_rollback_keeps_the_delimiter_forced_for_that_version(cli, tmp_path):
    forced = tmp_path / "forced.csv"
    forced.write_text("a,b;c\n1,2;3\n", encoding="utf-8")  # sniffed: ';' (a tie goes to ';')
    plain = tmp_path / "plain.csv"
    plain.write_text("x;y\n4;5\n", encoding="utf-8")
    cli("dataset", "create", "opts", "--title", "O", "--from", str(forced), "--delimiter", ",")
    cli("dataset", "ingest", "opts", str(plain), "--publish")  # detected: nothing forced
    cli("dataset", "rollback", "opts", "--to", "1")
    assert "delimiter ','" in cli("dataset", "reload", "opts").output
    assert _served_records(tmp_path / "home", "opts") == [{"a": 1, "b_c": "2;3"}]


def test_migration_0012_gives_the_dataset_options_to_its_current_version_only(catalog):
    """Before 0012 only the dataset kept options (its last load's), and every reload read the
    served version's source with them: its current version gets them when it is that last load,
    so its reloads read as they did; after a rollback they belong to another file (a review found
    a cp1252 file given a UTF-8 file's options, which then failed to reload): none, detected
    afresh, as for older versions and a dataset never published."""
    with transaction(catalog) as s:
        for slug, served in (("current", 3), ("rolled-back", 2)):
            dataset = services.create_dataset(s, slug, slug)
            for n in (1, 2, 3):
                version = services.start_version(s, dataset, f"/data/file{n}.csv")
                services.complete_version(s, version, location=f"/data/{slug}-v{n}.duckdb", row_count=1,
                                          size_bytes=1, fields=[], report={})
            services.publish(s, dataset, served)
            dataset.source, dataset.read_options = "/data/file3.csv", {"encoding": "cp1252", "sheet": 1}
        draft = services.create_dataset(s, "draft", "D")
        services.start_version(s, draft, "/data/draft.csv")
        draft.read_options = {"delimiter": ","}
    engine = catalog.kw["bind"]
    with engine.begin() as connection:  # the catalogue as revision 0011 left it
        downgrade(connection, "0011")
    migrate(engine)
    with transaction(catalog) as s:
        current = services.get_dataset(s, "current")
        assert [v.read_options for v in current.versions] == [None, None, {"encoding": "cp1252", "sheet": 1}]
        assert reread_of(current).options == {"encoding": "cp1252", "sheet": 1}
        rolled_back = services.get_dataset(s, "rolled-back")
        assert [v.read_options for v in rolled_back.versions] == [None, None, None]
        # 0013: every version, older ones included, has its own key to seal its cursors
        keys = [v.cursor_key for d in (current, rolled_back) for v in d.versions]
        assert all(isinstance(k, bytes) and len(k) == 16 for k in keys) and len(set(keys)) == len(keys)
        assert reread_of(rolled_back).options == {}
        draft = services.get_dataset(s, "draft")
        assert [v.read_options for v in draft.versions] == [None]
        assert reread_of(draft).options == {"delimiter": ","}  # nothing served: the last load's
