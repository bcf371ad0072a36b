"""A build opens its workspace without the spatial extension (~0.25 s of CPU a connection) and
loads it where geometry is met (``VersionBuild.use_spatial``, ``engine.ensure_spatial``): each
place that meets geometry must ask for it, or a load with shapes fails where one without them
succeeds. These loads go through each such place."""

from __future__ import annotations

import json

import pytest

from portail.catalog import services
from portail.store.engine import connect, ensure_spatial
from tests.conftest import Published, published_instance, semicolon_csv

#: Past the inference sample (``infer.SAMPLE_ROWS``): the sample's geo decision is checked on every
#: row by its cast, before the version's records are written.
ROWS = 50_500


def _types(instance, slug: str) -> dict[str, str]:
    with instance.session() as s:
        return {f.name: f.type for f in services.current_fields(services.get_dataset(s, slug))}


def test_points_and_shapes_past_the_sample_load_and_answer(tmp_path):
    shape = json.dumps({"type": "Point", "coordinates": [2.35, 48.85]}).replace(";", ",")
    rows = [{"nom": f"lieu {i}", "geo_point_2d": f"48.{i % 1000:03d},2.{i % 997:03d}", "forme": shape}
            for i in range(ROWS)]
    instance = published_instance(tmp_path / "home", Published("lieux", semicolon_csv(tmp_path / "lieux.csv", rows)))
    try:
        assert _types(instance, "lieux") == {"nom": "text", "geo_point_2d": "geo_point_2d", "forme": "geo_shape"}
    finally:
        instance.store.close()


def _spatial_loaded(con) -> bool:
    return con.execute("SELECT loaded FROM duckdb_extensions() WHERE extension_name = 'spatial'").fetchone()[0]


def test_a_table_without_geometry_is_built_without_the_extension(tmp_path):
    """A table's own stager (an Arrow stream, as readers hand theirs) sees the build's workspace:
    without geometry, the extension is not loaded there, and the version is built all the same;
    with a point column, it is loaded by the time the records are written."""
    import pyarrow as pa

    from portail.ingest.load import build_version
    from portail.ingest.types import RawTable, arrow_stager
    from tests.conftest import make_instance

    seen: list[bool] = []

    def table(columns: dict[str, list[str]]) -> RawTable:
        stream = arrow_stager(lambda: pa.Table.from_pydict(columns).to_reader())

        def stage(con, name: str) -> None:
            seen.append(_spatial_loaded(con))
            stream(con, name)

        return RawTable(source="t.arrow", labels=list(columns), names=list(columns), stage=stage)

    instance = make_instance(tmp_path / "home")
    try:
        plain = build_version(instance.store, "plain", 1, table({"code_insee": ["01001", "2A004"], "n": ["1", "2"]}))
        assert seen == [False] and plain.report.rows == 2
        assert {f.name: f.type for f in plain.fields} == {"code_insee": "text", "n": "int"}
        points = build_version(instance.store, "points", 1, table({"geo_point_2d": ["48.85,2.35", "45.76,4.83"]}))
        assert [f.type for f in points.fields] == ["geo_point_2d"] and points.report.rows == 2
    finally:
        instance.store.close()


def test_ensure_spatial_loads_once():
    con = connect(spatial=False)
    with pytest.raises(Exception, match="(?i)st_point"):
        con.execute("SELECT ST_Point(1, 2)")
    ensure_spatial(con)
    ensure_spatial(con)  # a second call is a no-op, not an error
    assert con.execute("SELECT ST_AsText(ST_Point(1, 2))").fetchone()[0] == "POINT (1 2)"
