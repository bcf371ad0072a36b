"""Geo predicates, distance, geo outputs and geo aggregates on real points (social housing
in Paris) and shapes (départements), checked with haversine distances and shapely
predicates computed here. Points within 0.3 % of a radius are left out of the comparison:
the sphere radius used by the engine is an implementation detail, not ODSQL."""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest
import shapely
import shapely.geometry
from shapely.geometry import box, shape

from tests.conformance.api import get

EARTH = 6_371_008.8
CENTRE = (2.35, 48.85)  # lon, lat (Île de la Cité)


def haversine(lon1, lat1, lon2, lat2) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH * math.asin(math.sqrt(a))


def ids(body, key):
    return {r[key] for r in body["results"]}


def all_ids(client, slug, where, key):
    """Every matching key with its number of rows, in one request (grouped pages go up to
    20,000 groups; a housing programme financed twice appears twice, at the same place)."""
    body = get(client, slug, where=where, select=f"{key}, count(*) as n", group_by=key, limit=20000)
    return Counter({r[key]: r["n"] for r in body["results"]})


RADII = [  # text, metres
    ("1km", 1000), ("500m", 500), ("0.8km", 800), ("1000yd", 914.4), ("1mi", 1609.344), ("3000ft", 914.4),
    ("120000cm", 1200), ("700000mm", 700),
]


@pytest.mark.parametrize("spelling", ["within_distance", "distance"])
@pytest.mark.parametrize(("radius", "metres"), RADII, ids=[r for r, _ in RADII])
def test_within_distance(portal, source, spelling, radius, metres):
    where = f"{spelling}(geo_point_2d, geom'POINT({CENTRE[0]} {CENTRE[1]})', {radius})"
    got = set(all_ids(portal, "logements", where, "id_livraison"))
    inside, outside = set(), set()
    for r in source("logements"):
        d = haversine(r["geo_point_2d"].x, r["geo_point_2d"].y, *CENTRE)
        if d < metres * 0.997:
            inside.add(r["id_livraison"])
        elif d > metres * 1.003:
            outside.add(r["id_livraison"])
    assert inside and inside <= got and not (got & outside)


POLYGON = [(2.33, 48.84), (2.37, 48.84), (2.37, 48.87), (2.33, 48.87), (2.33, 48.84)]
WKT = "POLYGON((" + ", ".join(f"{x} {y}" for x, y in POLYGON) + "))"
GEOJSON = json.dumps({"type": "Polygon", "coordinates": [POLYGON]})
TRIANGLE = shapely.geometry.Polygon([(2.30, 48.82), (2.40, 48.82), (2.35, 48.90)])
TRIANGLE_WKT = TRIANGLE.wkt
TANGLE = ("MULTIPOLYGON(((2.411137 48.849482, 2.258209 48.892127, 2.266002 48.868279, 2.40465 48.83147, "
          "2.264611 48.851817, 2.411137 48.849482)), ((2.31 48.85, 2.31 48.86, 2.3 48.86, 2.3 48.85, 2.31 48.85)))")

POINT_CASES = [  # where → python test on the point
    (f"in_bbox(geo_point_2d, 48.84, 2.33, 48.87, 2.37)", lambda p: 2.33 <= p.x <= 2.37 and 48.84 <= p.y <= 48.87),
    (f"in_bbox(geo_point_2d, 48.87, 2.37, 48.84, 2.33)", lambda p: 2.33 <= p.x <= 2.37 and 48.84 <= p.y <= 48.87),
    (f"in_bbox(geo_shape, 48.84, 2.33, 48.87, 2.37)", lambda p: 2.33 <= p.x <= 2.37 and 48.84 <= p.y <= 48.87),
    (f"intersects(geo_point_2d, geom'{WKT}')", lambda p: box(2.33, 48.84, 2.37, 48.87).intersects(p)),
    (f"intersects(geo_point_2d, geom'{GEOJSON}')", lambda p: box(2.33, 48.84, 2.37, 48.87).intersects(p)),
    (f"within(geo_point_2d, geom'{TRIANGLE_WKT}')", lambda p: p.within(TRIANGLE)),
    (f"disjoint(geo_point_2d, geom'{TRIANGLE_WKT}')", lambda p: p.disjoint(TRIANGLE)),
    (f"geometry(geo_point_2d, geom'{TRIANGLE_WKT}')", lambda p: p.intersects(TRIANGLE)),
    (f"geometry(geo_point_2d, geom'{TRIANGLE_WKT}', INTERSECTS)", lambda p: p.intersects(TRIANGLE)),
    (f"geometry(geo_point_2d, geom'{TRIANGLE_WKT}', WITHIN)", lambda p: p.within(TRIANGLE)),
    (f"geometry(geo_point_2d, geom'{TRIANGLE_WKT}', DISJOINT)", lambda p: p.disjoint(TRIANGLE)),
    (f"polygon(geo_point_2d, geom'{TRIANGLE_WKT}')", lambda p: p.within(TRIANGLE)),
    (f"within(geo_point_2d, geom'{shapely.to_wkb(TRIANGLE, hex=True)}')", lambda p: p.within(TRIANGLE)),
    ("within(geo_point_2d, geom'" + json.dumps({"type": "Feature", "properties": {}, "geometry": TRIANGLE.__geo_interface__}) + "')",
     lambda p: p.within(TRIANGLE)),
    # A literal whose first part crosses itself and whose second part overlaps it: repaired,
    # within() and intersects() agree (683 and 676 records before, intersects() answering by plan).
    (f"within(geo_point_2d, geom'{TANGLE}')", lambda p: p.within(shapely.make_valid(shapely.from_wkt(TANGLE)))),
    (f"intersects(geo_point_2d, geom'{TANGLE}')", lambda p: p.intersects(shapely.make_valid(shapely.from_wkt(TANGLE)))),
    (f"disjoint(geo_point_2d, geom'{TANGLE}')", lambda p: p.disjoint(shapely.make_valid(shapely.from_wkt(TANGLE)))),
    (f"within(geo_shape, geom'{TRIANGLE_WKT}') and annee = 2010", None),
    (f"not intersects(geo_point_2d, geom'{WKT}') and arrdt = 11", None),
]


@pytest.mark.parametrize(("where", "test"), [pytest.param(w, t, id=f"logements: {w[:90]}") for w, t in POINT_CASES])
def test_point_predicates(portal, source, where, test):
    rows = source("logements")
    if test is None:  # the combined cases
        if "annee = 2010" in where:
            expected = Counter(r["id_livraison"] for r in rows if r["annee"] == 2010 and r["geo_point_2d"].within(TRIANGLE))
        else:
            expected = Counter(r["id_livraison"] for r in rows
                               if r["arrdt"] == 11 and not box(2.33, 48.84, 2.37, 48.87).intersects(r["geo_point_2d"]))
    else:
        expected = Counter(r["id_livraison"] for r in rows if test(r["geo_point_2d"]))
    assert expected and all_ids(portal, "logements", where, "id_livraison") == expected


SHAPE_CASES = [
    "intersects(geo_shape, geom'POINT(2.35 48.85)')",
    "intersects(geo_shape, geom'POINT(5.72 45.19)')",
    "intersects(geo_shape, geom'LINESTRING(2.35 48.85, 4.83 45.76)')",
    "intersects(geo_shape, geom'{\"type\": \"Point\", \"coordinates\": [-1.55, 47.22]}')",
    "within(geo_shape, geom'POLYGON((1.4 48.1, 3.6 48.1, 3.6 49.3, 1.4 49.3, 1.4 48.1))')",
    "disjoint(geo_shape, geom'POLYGON((-5 41, 10 41, 10 44, -5 44, -5 41))')",
    "within_distance(geo_shape, geom'POINT(2.35 48.85)', 1m)",
    "in_bbox(geo_shape, 48.5, 2.0, 49.0, 2.6)",
]


def _shape_test(where: str):
    literal = where.split("geom'", 1)[1].split("'", 1)[0] if "geom'" in where else None
    g = shape(json.loads(literal)) if literal and literal.startswith("{") else shapely.from_wkt(literal) if literal else None
    if where.startswith("intersects"):
        return lambda s: s.intersects(g)
    if where.startswith("within_distance"):
        return lambda s: s.intersects(g)
    if where.startswith("within"):
        return lambda s: s.within(g)
    if where.startswith("disjoint"):
        return lambda s: s.disjoint(g)
    return lambda s: s.intersects(box(2.0, 48.5, 2.6, 49.0))


@pytest.mark.parametrize("where", [pytest.param(w, id=f"departements: {w}") for w in SHAPE_CASES])
def test_shape_predicates(portal, source, where):
    test = _shape_test(where)
    expected = {r["code"] for r in source("departements") if test(r["geo_shape"])}
    body = get(portal, "departements", where=where, select="code", limit=100)
    assert expected and ids(body, "code") == expected


def test_distance_in_select_and_order_by(portal, source):
    point = f"geom'POINT({CENTRE[0]} {CENTRE[1]})'"
    body = get(portal, "logements", select=f"id_livraison, distance(geo_point_2d, {point}) as d",
               order_by=f"distance(geo_point_2d, {point})", limit=20)
    distances = {r["id_livraison"]: haversine(r["geo_point_2d"].x, r["geo_point_2d"].y, *CENTRE) for r in source("logements")}
    got = [r["d"] for r in body["results"]]
    assert got == sorted(got)
    for r in body["results"]:
        assert r["d"] == pytest.approx(distances[r["id_livraison"]], rel=3e-3)
    assert got[-1] <= sorted(distances.values())[19] * 1.003


def test_distance_descending(portal, source):
    point = "geom'POINT(2.35 48.85)'"
    body = get(portal, "logements", select=f"distance(geo_point_2d, {point}) as d", order_by="d desc", limit=5)
    farthest = sorted((haversine(r["geo_point_2d"].x, r["geo_point_2d"].y, *CENTRE) for r in source("logements")), reverse=True)[:5]
    assert [r["d"] for r in body["results"]] == pytest.approx(farthest, rel=3e-3)


def test_bbox_aggregate(portal, source):
    body = get(portal, "logements", select="bbox(geo_point_2d) as b, count(*) as n", where="arrdt = 13")
    points = [r["geo_point_2d"] for r in source("logements") if r["arrdt"] == 13]
    (row,) = body["results"]
    assert row["n"] == len(points)
    got = shape(row["b"]["geometry"]).bounds
    expected = (min(p.x for p in points), min(p.y for p in points), max(p.x for p in points), max(p.y for p in points))
    assert got == pytest.approx(expected)


def test_envelope_aggregate(portal, source):
    body = get(portal, "logements", select="envelope(geo_point_2d) as e", where="arrdt = 4")
    points = shapely.geometry.MultiPoint([r["geo_point_2d"] for r in source("logements") if r["arrdt"] == 4])
    hull = shape(body["results"][0]["e"]["geometry"])
    assert hull.equals_exact(points.convex_hull, 1e-9) or hull.symmetric_difference(points.convex_hull).area < 1e-12


def test_bbox_by_group(portal, source):
    body = get(portal, "departements", select="code, bbox(geo_shape) as b", group_by="code", where='code in ("75", "2A", "13")')
    shapes = {r["code"]: r["geo_shape"] for r in source("departements")}
    assert {r["code"] for r in body["results"]} == {"75", "2A", "13"}
    for r in body["results"]:
        assert shape(r["b"]["geometry"]).bounds == pytest.approx(shapes[r["code"]].bounds)


@pytest.mark.parametrize("zoom", [1, 8, 12, 15])
def test_geo_cluster(portal, source, zoom):
    body = get(portal, "logements", select="count(*) as n", group_by=f"geo_cluster(geo_point_2d, {zoom})", limit=20000)
    rows = source("logements")
    key = f"geo_cluster(geo_point_2d, {zoom})"
    assert sum(r["n"] for r in body["results"]) == len(rows)
    xs, ys = [r["geo_point_2d"].x for r in rows], [r["geo_point_2d"].y for r in rows]
    for r in body["results"]:
        centroid = r[key]["cluster_centroid"]
        assert min(xs) <= centroid["lon"] <= max(xs) and min(ys) <= centroid["lat"] <= max(ys)
    if zoom == 1:
        assert len(body["results"]) == 1
        assert body["results"][0][key]["cluster_centroid"] == pytest.approx({"lon": sum(xs) / len(xs), "lat": sum(ys) / len(ys)})
    assert body["total_count"] == len(body["results"])


def _shape_metres(shape_, lon: float, lat: float) -> float:
    """A shape's distance to a point on the sphere, computed here: the shape densified (every
    ~100 m), projected azimuthal-equidistant around the point, where distances from it are true."""
    import pyproj

    to_plane = pyproj.Transformer.from_crs("EPSG:4326", f"+proj=aeqd +lat_0={lat} +lon_0={lon} +R={EARTH} +units=m",
                                           always_xy=True)
    dense = shapely.segmentize(shape_, 0.001)
    return shapely.transform(dense, lambda xy: __import__("numpy").column_stack(to_plane.transform(xy[:, 0], xy[:, 1]))) \
        .distance(shapely.Point(0, 0))


@pytest.mark.parametrize("lon, lat", [(2.35, 48.85), (5.72, 45.19), (-1.55, 47.22)])
def test_distance_from_shapes(portal, source, lon, lat):
    """A département's distance to a place, and within_distance() on shapes, measured on the
    sphere (found on plain degrees, the closest point was not the closest: 6 % too far in
    Île-de-France). Départements within 0.3 % of the radius are left out of the comparison."""
    point = f"geom'POINT({lon} {lat})'"
    expected = {r["code"]: _shape_metres(r["geo_shape"], lon, lat) for r in source("departements")}
    body = get(portal, "departements", select=f"code, distance(geo_shape, {point}) as d", order_by="d", limit=12)
    for r in body["results"]:
        assert r["d"] == pytest.approx(expected[r["code"]], rel=3e-3, abs=1.0), r["code"]
    radius = 60_000
    kept = {code for code, d in expected.items() if d <= radius}
    near_edge = {code for code, d in expected.items() if abs(d - radius) <= 0.003 * radius}
    got = ids(get(portal, "departements", where=f"within_distance(geo_shape, {point}, 60km)", select="code", limit=100), "code")
    assert kept - near_edge <= got <= kept | near_edge and kept


def test_distance_from_a_shape_near_the_antipode(portal, source):
    """The projection around a point tears towards its antipode: a département there was 0 m
    away (its projected outline wrapped the origin). Far shapes keep the closest-point estimate,
    within a few per cent of the sphere's answer."""
    for lon, lat in ((-177.65, -48.85), (-177.55, -48.85)):  # Paris's antipode, and 0.1° east of it
        point = f"geom'POINT({lon} {lat})'"
        body = get(portal, "departements", select=f"code, distance(geo_shape, {point}) as d", where='code = "75"')
        expected = haversine(lon, lat, 2.35, 48.86)  # Paris is small: any of its points will do
        assert body["results"][0]["d"] == pytest.approx(expected, rel=0.01)
