"""A load hands its build's workspace on to the version's index build (``VersionBuild.finish(keep=True)``):
what the build left there (staged tables, attached references, the spatial extension, a scratch
database of a wide file) must not change the index, and no workspace outlives its load, whether the
index build succeeds or fails. A reindex (a workspace of its own) is the reference."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow.ipc as ipc

from portail.catalog import services
from portail.operations import load_file, reindex
from portail.store import postings
from portail.store.duckdb_store import index_path
from portail.store.pages import page_path
from tests.conftest import make_instance


def _csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.write_text(";".join(header) + "\n" + "".join(";".join(row) + "\n" for row in rows))
    return path


def _index_tables(location: str) -> dict[str, list]:
    """Every table of the version's index file, its rows sorted (the postings token aside: new at each build)."""
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{index_path(location)}' AS i (READ_ONLY)")
        names = [n for (n,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'i'").fetchall()]
        return {n: sorted(map(repr, con.execute(f'SELECT * FROM i.main."{n}"').fetchall()))
                for n in names if n != postings.TOKEN_TABLE}
    finally:
        con.close()


def _page_rows(location: str) -> list[str]:
    table = ipc.open_file(str(page_path(location))).read_all()
    return [str(table.schema)] + sorted(map(repr, table.to_pylist()))


def _builds_left(tmp_dir: Path) -> list[str]:
    return sorted(p.name for p in tmp_dir.glob("build-*"))


def _location(instance, slug: str) -> str:
    with instance.session() as session:
        return services.get_dataset(session, slug).current.location


def test_handed_over_workspace_indexes_as_a_fresh_one(tmp_path):
    """A geo dataset joined to a reference (spatial loaded, a reference attached, staged tables), a
    JSON field, nulls, empty strings, a field of empty values, and a file wider than a statement's
    500 columns (a scratch database, text fields split in two statements): the index and page
    files a load writes are those a reindex writes in a fresh workspace."""
    instance = make_instance(tmp_path / "home")
    loads = {
        "ref-communes": (_csv(tmp_path / "ref.csv", ["code", "nom"],
                              [[f"{75100 + i}", f"Paris {i}e arrondissement"] for i in range(1, 21)]), None),
        "geo": (_csv(tmp_path / "geo.csv", ["code_commune", "geo_point_2d", "libelle", "vide", "multi"],
                     [[f"{75101 + i % 20}", f"48.8{i % 10},2.3{i % 7}", "" if i % 4 == 0 else f"Ecole numero {i % 6}",
                       "", f"a,b{i % 3}"] for i in range(80)]),
                [{"processor": "join_dataset", "dataset": "ref-communes", "keys": ["code_commune"],
                  "remote_keys": ["code"], "fields": ["nom"]}]),
        "wide": (_csv(tmp_path / "wide.csv", [f"c{j}" for j in range(620)],
                      [[f"v{j} {i % (j % 5 + 1)}" if j % 2 else (f"v{j}_{i % 3}" if (i + j) % 6 else "")
                        for j in range(620)] for i in range(30)]), None),
    }
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [2.3 + i / 100, 48.8]},
                 "properties": {"nom": f"Lieu {i % 5}", "info": {"k": f"val {i}", "l": [1, 2]}, "code": f"C{i % 9}"}}
                for i in range(40)]
    (tmp_path / "g.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    loads["gj"] = (tmp_path / "g.geojson", None)
    loaded = {}
    for slug, (path, pipeline) in loads.items():
        with instance.session() as session:
            services.create_dataset(session, slug, slug).pipeline = pipeline
        result = load_file(instance, slug, path, publish=True)
        assert not [n for n in result.report.notes if "index" in n], result.report.notes
        location = _location(instance, slug)
        loaded[slug] = (_index_tables(location), _page_rows(location))
        assert _builds_left(instance.settings.tmp_dir) == []  # the workspace went with its load
    assert any(t.startswith("fulltext_values") and rows for t, rows in loaded["wide"][0].items())
    for slug in loads:
        reindex(instance, slug)
        location = _location(instance, slug)
        assert (_index_tables(location), _page_rows(location)) == loaded[slug], slug
    assert _builds_left(instance.settings.tmp_dir) == []

