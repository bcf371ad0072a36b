"""The grid index for geo_join (processors/geo_index.py) gives the same commune as the exact join.

Real contours (the 1,276 communes of Île-de-France from the reference files), real points (each
commune's own point on surface, and random points over the region's extent), compared with
the rule the index must keep: strict ``ST_Contains``, smallest code where contours overlap.
"""

from __future__ import annotations

import pytest
from sqlglot import exp

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
