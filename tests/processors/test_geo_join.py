"""The grid index for geo_join (processors/geo_index.py) gives the same commune as the exact join,
and loads build it once per reference version.

Real contours (the 1,276 communes of Île-de-France from the reference files), real points (each
commune's own point on surface, and random points over the region's extent), compared with
the rule the index must keep: strict ``ST_Contains``, smallest code where contours overlap.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlglot import exp

from portail.ingest.errors import IngestError
from portail.processors import geo_index
from portail.store.engine import connect


@pytest.fixture(scope="module")
def con(refdata):
    con = connect()
    path = str(refdata / "geo" / "communes-ile-de-france.geojson").replace("'", "''")
    con.execute(f"CREATE TABLE communes AS SELECT code, geom AS geo_shape FROM ST_Read('{path}')")
    geo_index.build(con, "communes", "cells")
    yield con
    con.close()


def _compare(con, points: str) -> tuple[int, int, int]:
    """(points, points matched by the index, disagreements with the exact join)."""
    point = exp.column("pt", table="p")
    key = geo_index.cell_key(exp.func("ST_X", point), exp.func("ST_Y", point.copy())).sql("duckdb")
    code = geo_index.code_of("c", point.copy()).sql("duckdb")
    con.execute(f"CREATE OR REPLACE TEMP TABLE indexed AS SELECT p.id, {code} AS code FROM {points} p "
                f"LEFT JOIN cells c ON c.cell = {key}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE exact AS SELECT p.id, min(c.code) AS code FROM {points} p "
                "JOIN communes c ON ST_Contains(c.geo_shape, p.pt) GROUP BY p.id")
    return con.execute("SELECT count(*), count(i.code), count(*) FILTER (WHERE i.code IS DISTINCT FROM e.code) "
                       "FROM indexed i LEFT JOIN exact e USING (id)").fetchone()


def test_index_keeps_one_row_per_cell_and_interior_cells_need_no_test(con):
    cells, distinct, interior = con.execute(
        "SELECT count(*), count(DISTINCT cell), count(*) FILTER (WHERE len(codes) = 1 AND pieces[1] IS NULL) "
        "FROM cells").fetchone()
    assert cells == distinct > 1000
    assert interior > 0


def test_each_commune_point_on_surface_lands_in_its_commune(con):
    con.execute("CREATE OR REPLACE TEMP TABLE own AS SELECT code AS id, ST_PointOnSurface(geo_shape) AS pt FROM communes")
    total, matched, wrong = _compare(con, "own")
    assert total == 1276 and wrong == 0
    # Where simplified contours overlap, a point on surface can fall in a smaller-code neighbour.
    elsewhere = con.execute("SELECT count(*) FROM indexed WHERE code IS DISTINCT FROM id").fetchone()[0]
    assert matched == total and elsewhere < 20


def test_random_points_match_the_exact_join(con):
    con.execute("SELECT setseed(0.5)")
    con.execute("CREATE OR REPLACE TEMP TABLE rnd AS SELECT i AS id, ST_Point(1.4 + random() * 1.9, 48.1 + random() * 1.2) AS pt "
                "FROM range(100000) t(i)")
    total, matched, wrong = _compare(con, "rnd")
    assert total == 100000 and wrong == 0
    assert 0 < matched < total  # the extent's corners lie outside the region


def test_points_on_cell_edges_are_tested_against_the_real_contour(con):
    # Points exactly on cell edges and corners: the clipping margin keeps them exact.
    step = geo_index.CELL
    con.execute(f"CREATE OR REPLACE TEMP TABLE edges AS SELECT row_number() OVER () AS id, "
                f"ST_Point(i * {step}, 48.5 + j * 0.0037) AS pt FROM range(70, 166) a(i), range(0, 200) b(j)")
    total, matched, wrong = _compare(con, "edges")
    assert total == 96 * 200 and matched > 0 and wrong == 0


# -- the index of a reference version, as loads use it ---------------------------------------

def _zones(path, codes: list[str]):
    """A GeoJSON reference of unit squares side by side from (2, 48), with the columns geo_join
    brings (the communes reference's)."""
    import json

    features = []
    for i, code in enumerate(codes):
        x = 2 + i
        ring = [[x, 48], [x + 1, 48], [x + 1, 49], [x, 49], [x, 48]]
        properties = {"code": code, "nom": f"Zone {code}", "dep_code": "00", "dep_nom": "D", "reg_code": "00",
                      "reg_nom": "R", "epci_siren": "000000000", "epci_nom": "E"}
        features.append({"type": "Feature", "properties": properties, "geometry": {"type": "Polygon", "coordinates": [ring]}})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def _load(instance, slug, path, steps=None):
    from portail.catalog import services
    from portail.operations import load_file

    with instance.session() as s:
        try:
            dataset = services.get_dataset(s, slug)
        except services.NotFound:
            dataset = services.create_dataset(s, slug, slug)
        if steps:
            services.set_pipeline(s, dataset, steps)
    result = load_file(instance, slug, path, publish=True)
    with instance.session() as s:
        return result, services.get_dataset(s, slug).current.location


def test_geo_join_with_a_custom_reference_builds_its_index_once_per_version(instance, tmp_path):
    points = tmp_path / "points.csv"
    points.write_text("id,lat,lon\n1,48.5,2.5\n2,48.5,3.5\n3,48.5,9.5\n4,,\n")
    steps = [{"processor": "geopoint", "lat": "lat", "lon": "lon"}, {"processor": "geo_join", "reference": "zones"}]
    _, v1 = _load(instance, "zones", _zones(tmp_path / "zones.geojson", ["A", "B"]))
    assert not geo_index.index_path(v1).exists()  # built on first use, not with every dataset
    result, location = _load(instance, "points", points, steps)
    assert result.report.processors[1]["outside"] == 1
    assert [r["id"] for r in result.report.processors[1]["outside_records"]] == [3]
    rows = instance.store.query(location, "SELECT id, commune_code, commune_nom FROM records ORDER BY id").to_pylist()
    assert rows[:2] == [{"id": 1, "commune_code": "A", "commune_nom": "Zone A"},
                        {"id": 2, "commune_code": "B", "commune_nom": "Zone B"}]
    # Shapes join by their centroid.
    shapes = _zones(tmp_path / "shapes.geojson", ["s1", "s2"])
    _, location = _load(instance, "shapes", shapes, [{"processor": "geo_join", "reference": "zones", "prefix": "zone"}])
    assert instance.store.query(location, "SELECT code, zone_code FROM records ORDER BY code").to_pylist() == [
        {"code": "s1", "zone_code": "A"}, {"code": "s2", "zone_code": "B"}]
    with pytest.raises(IngestError, match="dataset 'points' has no 'code' field"):
        _load(instance, "shapes", shapes, [{"processor": "geo_join", "reference": "points", "prefix": "zone"}])
    built = geo_index.index_path(v1).stat()
    _load(instance, "points", points)
    assert geo_index.index_path(v1).stat().st_ino == built.st_ino  # reused, not rebuilt
    # A new version of the reference gets its own index, and loads use it.
    _, v2 = _load(instance, "zones", _zones(tmp_path / "zones.geojson", ["C", "D"]))
    _, location = _load(instance, "points", points)
    assert v2 != v1 and geo_index.index_path(v2).exists()
    assert instance.store.query(location, "SELECT commune_code FROM records WHERE id = 1").to_pylist() == [{"commune_code": "C"}]
    instance.store.drop_version(v1)  # a version's index goes with it
    assert not list(geo_index.index_path(v1).parent.glob(Path(v1).name + "*"))


def test_concurrent_builders_of_one_index_build_it_once(instance, tmp_path, monkeypatch):
    import threading

    _, version = _load(instance, "zones", _zones(tmp_path / "zones.geojson", ["A", "B"]))
    writes, write = [], geo_index._write
    monkeypatch.setattr(geo_index, "_write", lambda *args: writes.append(write(*args)))
    paths: list[str] = []
    threads = [threading.Thread(target=lambda: paths.append(geo_index.ensure_index(version))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(writes) == 1 and len(set(paths)) == 1 and len(paths) == 3
    assert not list(geo_index.index_path(version).parent.glob("*.tmp*"))  # the temporary file was renamed
    con = connect()
    con.execute(f"ATTACH '{paths[0]}' AS g (READ_ONLY)")
    assert con.execute("SELECT count(*) FROM g.main.records").fetchone()[0] > 0
    con.close()
