"""v1's map endpoints, ``/api/records/1.0/geocluster/``, ``geopreview/``, ``boundingbox/`` and
``geopolygon/``, checked against the published files read with the csv and json modules:
clusters partition the selected points (each inside its own envelope, counted once, centred on
their mean), filters narrow them as a plain filter of the file does, shapes come back as the file
has them; a bounding box is the least and greatest coordinates of the selected rows, counted per
geometry type; polygons are the file's rows grouped by their shape. On a dataset with two geo
fields, ``geo_field`` names the one mapped and filtered; places on both sides of 180° are boxed
and filtered across it."""

from __future__ import annotations

import csv
import json
import math
import re
import statistics
from collections import Counter
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
import shapely
from shapely.geometry import Point, Polygon, shape

from portail.api import create_app
from tests.api.great_circle import metres, point
from tests.api.v1_geo_rows import rows  # noqa: F401 - the file's rows, a fixture
from tests.conftest import Published, logements_file, published_instance, semicolon_rows

CLUSTER, PREVIEW = "/api/records/1.0/geocluster/", "/api/records/1.0/geopreview/"
BOUNDS, POLYGONS = "/api/records/1.0/boundingbox/", "/api/records/1.0/geopolygon/"
NEAR = 1e-9  # degrees: doubles written to JSON and read back
SHAPES = {"departements": "departements-version-simplifiee.geojson", "communes": "communes-ile-de-france.geojson"}


def choropleth_file(refdata, target: Path) -> Path:
    """A choropleth's dataset: communes (population, area) carrying their département's shape
    (Paris and its three neighbours, Polygons; the Var, a MultiPolygon), so that many records
    share one shape; the Bouches-du-Rhône's carrying their own point (some share one); and a few
    of Corse-du-Sud none."""
    with open(refdata / "geo" / SHAPES["departements"], encoding="utf-8") as handle:
        shapes = {f["properties"]["code"]: f["geometry"] for f in json.load(handle)["features"]}
    with open(refdata / "referentiels" / "communes_france_enrichies.csv", encoding="utf-8-sig", newline="") as handle:
        communes = list(csv.DictReader(handle))
    with open(target, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, delimiter=";")
        writer.writerow(["insee_com", "commune", "insee_dep", "population_2021", "superficie_km2", "geo_shape"])
        for c in communes:
            if c["insee_dep"] in ("75", "92", "93", "94", "83"):
                geometry = json.dumps(shapes[c["insee_dep"]])
            elif c["insee_dep"] == "13":
                geometry = json.dumps({"type": "Point", "coordinates": [float(c["lng"]), float(c["lat"])]})
            elif c["insee_dep"] == "2A" and c["insee_com"] < "2A010":
                geometry = ""
            else:
                continue
            writer.writerow([c["insee_com"], c["commune"], c["insee_dep"], c["population_2021"], c["superficie_km2"],
                             geometry])
    return target


@pytest.fixture(scope="module")
def choropleth(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("choropleth") / "communes-et-departements.csv"


#: Where the two geo fields of ``two_geo_file`` part: Paris and its neighbours (the view a map
#: sends as ``geofilter.bbox``), and the département each commune carries the shape of.
PARIS_VIEW, SWAPPED = "48.80,2.25,48.90,2.42", {"75": "83", "92": "83", "93": "83", "94": "83", "13": "75"}


def two_geo_file(refdata, target: Path) -> Path:
    """A dataset with two geo fields that disagree: the communes of Paris, its three neighbours
    and the Bouches-du-Rhône, each at its own point (``position``, the first: v1's geo field)
    and carrying the shape of another département (``contour``): Île-de-France's the Var's,
    the Bouches-du-Rhône's Paris's. Filtered by a view of Paris, the first field selects
    Île-de-France's communes, the second Marseille's."""
    with open(refdata / "geo" / SHAPES["departements"], encoding="utf-8") as handle:
        shapes = {f["properties"]["code"]: f["geometry"] for f in json.load(handle)["features"]}
    with open(refdata / "referentiels" / "communes_france_enrichies.csv", encoding="utf-8-sig", newline="") as handle:
        communes = [c for c in csv.DictReader(handle) if c["insee_dep"] in SWAPPED and c["lat"] and c["lng"]]
    return semicolon_rows(target, ["insee_com", "commune", "insee_dep", "position", "contour"],
                          ([c["insee_com"], c["commune"], c["insee_dep"], f"{float(c['lat'])!r},{float(c['lng'])!r}",
                            json.dumps(shapes[SWAPPED[c["insee_dep"]]])] for c in communes))


#: Places on both sides of the antimeridian (Fiji, Tonga, Samoa's way), and three far from it:
#: ``(name, zone, lat, lon)``; ``contour`` is a square 0.02° wide around each.
PACIFIC = [("p1", "pacifique", -18.1, 176.2), ("p2", "pacifique", -17.6, 177.5), ("p3", "pacifique", -16.4, 178.9),
           ("p4", "pacifique", -15.9, 179.9), ("p5", "pacifique", -19.2, -179.9), ("p6", "pacifique", -18.8, -179.3),
           ("p7", "pacifique", -17.2, -178.4), ("p8", "pacifique", -14.3, -177.8),
           ("a1", "ailleurs", 20.5, -100.25), ("a2", "ailleurs", 5.5, 10.75), ("a3", "ailleurs", 15.5, 100.5)]
HALF = 0.01


def pacific_file(target: Path) -> Path:
    def square(lon: float, lat: float) -> str:
        return json.dumps(shapely.geometry.mapping(shapely.box(lon - HALF, lat - HALF, lon + HALF, lat + HALF)))

    return semicolon_rows(target, ["nom", "zone", "position", "contour"],
                          ([name, zone, f"{lat!r},{lon!r}", square(lon, lat)] for name, zone, lat, lon in PACIFIC))


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata, choropleth):
    instance = published_instance(
        tmp_path_factory.mktemp("v1geo") / "home",
        Published("logements", logements_file(refdata), "Logements sociaux"),
        Published("departements", refdata / "geo" / SHAPES["departements"], "Départements"),
        Published("communes", refdata / "geo" / SHAPES["communes"], "Communes d'Île-de-France"),
        Published("regions", refdata / "referentiels" / "cog2026_regions.csv", "Régions (sans géométrie)"),
        Published("choro", choropleth_file(refdata, choropleth), "Communes et leur département"),
        Published("deux", two_geo_file(refdata, choropleth.with_name("deux-champs.csv")), "Deux champs géo"),
        Published("pacifique", pacific_file(choropleth.with_name("pacifique.csv")), "De part et d'autre de 180°"))
    yield TestClient(create_app(instance))
    instance.store.close()


def features(refdata, dataset: str) -> list[dict]:
    with open(refdata / "geo" / SHAPES[dataset], encoding="utf-8") as handle:
        return json.load(handle)["features"]


@pytest.fixture(scope="module")
def departements(refdata):
    return features(refdata, "departements")


def clusters_of(client, **params) -> dict:
    response = client.get(CLUSTER, params={"dataset": "logements", "clusterdistance": 50, **params})
    assert response.status_code == 200, response.text
    return response.json()


def expected_clusters(selected: list[dict], zoom: int, radius: int) -> list[list[dict]]:
    """The reference's two steps (§5.5), computed here: rows grouped by a grid cell the radius
    wide at the zoom; then each cell joins its heaviest neighbouring centre (a cell heavier than
    every cell whose centroid is closer than the radius) closer than the radius, if any."""
    size = 360.0 / (256 * 2**zoom) * radius
    cells: dict[tuple[int, int], list[dict]] = {}
    for r in selected:
        lat, lon = point(r)
        cells.setdefault((math.floor(lon / size), math.floor(lat / size)), []).append(r)
    centroid = {k: (statistics.fmean(point(r)[1] for r in v), statistics.fmean(point(r)[0] for r in v))
                for k, v in cells.items()}

    def heaviest_close(cell: tuple[int, int], among) -> tuple[int, int] | None:
        close = [(cell[0] + dx, cell[1] + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
        close = [b for b in close if b in among and math.dist(centroid[b], centroid[cell]) < size]
        return max(close, key=lambda b: (len(cells[b]), b), default=None)

    centres = {k for k in cells if heaviest_close(k, cells) == k}
    merged: dict[tuple[int, int], list[dict]] = {}
    for k, members in cells.items():
        merged.setdefault(heaviest_close(k, centres) or k, []).extend(members)
    return list(merged.values())


def check_partition(body: dict, selected: list[dict], radius: int = 50) -> dict[int, list[dict]]:
    """The clusters are those computed here (``expected_clusters``): each counts its rows once,
    is centred on their mean point and its envelope holds them; ``count`` gives their least and
    greatest sizes. Returns each cluster's rows."""
    clusters = body["clusters"]
    counts = [c["count"] for c in clusters]
    assert sum(counts) == len(selected)
    assert body["count"] == ({"max": max(counts), "min": min(counts)} if counts else {"max": 0, "min": 0})
    expected = expected_clusters(selected, body["clusterprecision"], radius)
    assert len(clusters) == len(expected)
    centres = {(round(statistics.fmean(point(r)[0] for r in rows), 7), round(statistics.fmean(point(r)[1] for r in rows), 7)):
               rows for rows in expected}
    owned: dict[int, list[dict]] = {}
    for index, cluster in enumerate(clusters):
        lat, lon = cluster["cluster_center"]
        mine = centres.get((round(lat, 7), round(lon, 7)))
        assert mine is not None and len(mine) == cluster["count"], cluster
        owned[index] = mine
        if "cluster" in cluster:
            hull = shape(cluster["cluster"])
            assert all(hull.distance(Point(point(r)[1], point(r)[0])) < NEAR for r in mine)
    return owned


def test_clusters_partition_the_points(client, rows):
    body = clusters_of(client, clusterprecision=13)
    assert body["clusterprecision"] == 13 and 20 < len(body["clusters"]) < len(rows)
    check_partition(body, rows)
    sizes = [c["count"] for c in body["clusters"]]
    assert sizes == sorted(sizes, reverse=True)  # the largest first: a capped answer drops the smallest


def test_the_precision_is_the_map_zoom(client, rows):
    """Zooming in splits clusters: more of them, smaller, until most points stand alone."""
    numbers = [len(clusters_of(client, clusterprecision=z, return_polygons="false")["clusters"]) for z in (9, 12, 15, 18)]
    assert numbers == sorted(numbers) and numbers[0] * 5 < numbers[-1]
    assert clusters_of(client, clusterprecision=0)["count"]["max"] == len(rows)  # one cluster holds Paris
    wide = clusters_of(client, clusterprecision=13, clusterdistance=200)["clusters"]
    assert len(wide) < len(clusters_of(client, clusterprecision=13)["clusters"])  # a wider radius gathers more
    distinct = {point(r) for r in rows}
    fine = clusters_of(client, clusterprecision=25, clusterdistance=1)
    assert len(distinct) - 5 <= len(fine["clusters"]) <= len(distinct)  # but for points a few mm apart
    check_partition(fine, rows, radius=1)


def test_a_cluster_of_one_point_is_that_point(client, rows):
    body = clusters_of(client, clusterprecision=18)
    singles = [c for c in body["clusters"] if c["count"] == 1]
    assert len(singles) > 100
    points = {point(r) for r in rows}
    for cluster in singles:
        lat, lon = cluster["cluster_center"]
        assert (lat, lon) in points
        assert cluster["cluster"] == {"type": "Point", "coordinates": [lon, lat]}


@pytest.mark.parametrize("params, keep", [
    ({"refine.arrdt": "13"}, lambda r: r["arrdt"] == "13"),
    ({"exclude.arrdt": "13", "refine.bs": "RIVP"}, lambda r: r["arrdt"] != "13" and r["bs"] == "RIVP"),
    ({"q": "annee>=2015"}, lambda r: int(r["annee"]) >= 2015),
    ({"q": "meuniers"}, lambda r: any("meuniers" in v.lower() for v in r.values() if v)),
    ({"geofilter.bbox": "48.85,2.30,48.87,2.36"}, lambda r: 48.85 <= point(r)[0] <= 48.87 and 2.30 <= point(r)[1] <= 2.36),
    ({"geofilter.polygon": "(48.90,2.30),(48.82,2.28),(48.84,2.42)"},
     lambda r: Polygon([(2.30, 48.90), (2.28, 48.82), (2.42, 48.84)]).contains(Point(point(r)[1], point(r)[0]))),
])
def test_filters_narrow_the_clusters(client, rows, params, keep):
    selected = [r for r in rows if keep(r)]
    assert 0 < len(selected) < len(rows)
    check_partition(clusters_of(client, clusterprecision=14, **params), selected)


def test_geofilter_distance(client, rows):
    center = (48.8566, 2.3522)
    distances = sorted(metres(center, point(r)) for r in rows)
    radius = next(a + 2.5 for a, b in zip(distances, distances[1:]) if a > 800 and b - a > 5)  # no point near the edge
    selected = [r for r in rows if metres(center, point(r)) <= radius]
    body = clusters_of(client, clusterprecision=15, **{"geofilter.distance": f"{center[0]},{center[1]},{radius}"})
    check_partition(body, selected)


def test_series(client, rows):
    """``y.<serie>.func``/``expr`` per cluster, and their least and greatest values beside."""
    params = {"y.total.func": "SUM", "y.total.expr": "nb_logmt_total", "y.mean.func": "avg", "y.mean.expr": "nb_plai",
              "y.n.func": "COUNT", "y.top.func": "MAX", "y.top.expr": "nb_plai * 2 + 1", "y.low.func": "MIN",
              "y.low.expr": "abs(nb_pls - 3)", "y.sd.func": "STDDEV", "y.sd.expr": "nb_logmt_total",
              "y.sq.func": "SUMSQUARES", "y.sq.expr": "(nb_plus)"}
    body = clusters_of(client, clusterprecision=14, **params)
    owned = check_partition(body, rows)
    value = lambda r, name: int(r[name])  # noqa: E731
    checked = 0
    for index, cluster in enumerate(body["clusters"]):
        mine, series = owned.get(index, []), cluster["series"]
        assert series["n"] == cluster["count"]
        if len(mine) != cluster["count"]:
            continue
        totals = [value(r, "nb_logmt_total") for r in mine]
        assert series["total"] == sum(totals)
        assert math.isclose(series["mean"], statistics.fmean(value(r, "nb_plai") for r in mine), rel_tol=1e-9)
        assert series["top"] == max(value(r, "nb_plai") * 2 + 1 for r in mine)
        assert series["low"] == min(abs(value(r, "nb_pls") - 3) for r in mine)
        assert math.isclose(series["sd"], statistics.pstdev(totals), rel_tol=1e-6, abs_tol=1e-6)
        assert series["sq"] == sum(value(r, "nb_plus") ** 2 for r in mine)
        checked += 1
    assert checked >= 0.95 * len(body["clusters"])
    assert sum(c["series"]["total"] for c in body["clusters"]) == sum(value(r, "nb_logmt_total") for r in rows)
    for name in ("total", "mean", "sd"):
        values = [c["series"][name] for c in body["clusters"]]
        assert body["series"][name] == {"max": max(values), "min": min(values)}


def test_heatmap_and_no_polygons_leave_the_shapes_out(client, rows):
    shaped = clusters_of(client, clusterprecision=12)
    for params in ({"clustermode": "heatmap"}, {"return_polygons": "false"}):
        bare = clusters_of(client, clusterprecision=12, **params)
        assert all("cluster" not in c for c in bare["clusters"])
        # the same clusters; a centre may differ in its last bit (without shapes, a merged
        # cluster's centre is summed from its cells', in another order: odsql.clusters)
        assert [c["count"] for c in bare["clusters"]] == [c["count"] for c in shaped["clusters"]]
        assert all(math.isclose(a, b, rel_tol=1e-12) for one, other in zip(bare["clusters"], shaped["clusters"])
                   for a, b in zip(one["cluster_center"], other["cluster_center"]))


@pytest.mark.parametrize("dataset, zoom, lone", [("departements", 6, 10), ("communes", 12, 1000)])
def test_shapes_cluster_by_centroid_and_a_lone_shape_is_itself(client, refdata, dataset, zoom, lone):
    """Shapes cluster by their centroids; a cluster's envelope covers its shapes; a cluster of one
    shape is that shape (the communes, zoomed in, look up a thousand of them, in batches)."""
    shapes = [shape(f["geometry"]) for f in features(refdata, dataset)]
    body = client.get(CLUSTER, params={"dataset": dataset, "clusterprecision": zoom, "clusterdistance": 40}).json()
    clusters = body["clusters"]
    assert sum(c["count"] for c in clusters) == len(shapes) and body["count"]["max"] > 1
    hulls = shapely.STRtree([shape(c["cluster"]).buffer(NEAR) for c in clusters])
    covered, _ = hulls.query(shapes, predicate="covered_by")
    assert set(covered.tolist()) == set(range(len(shapes)))  # each inside (at least) one envelope: hulls overlap
    # centres are the means of their shapes' centroids, each shape in one cluster: weighted, they add up
    for axis in (0, 1):
        assert math.isclose(sum(c["count"] * c["cluster_center"][axis] for c in clusters),
                            sum((s.centroid.y, s.centroid.x)[axis] for s in shapes), abs_tol=1e-7)
    singles = [c for c in clusters if c["count"] == 1]
    assert len(singles) > lone
    centroids = shapely.STRtree([s.centroid for s in shapes])
    for cluster in singles:
        lat, lon = cluster["cluster_center"]
        (source,) = centroids.query(Point(lon, lat), predicate="dwithin", distance=1e-6).tolist()
        assert shapely.hausdorff_distance(shape(cluster["cluster"]), shapes[source]) < 1e-9  # the shape, not its hull
    concave = [c for c in singles if shape(c["cluster"]).area < shape(c["cluster"]).convex_hull.area * 0.999]
    assert len(concave) > len(singles) / 2, "the lone shapes came back as hulls"


def test_geopreview_points(client, rows):
    selected = [r for r in rows if r["arrdt"] == "13"]
    previews = client.get(PREVIEW, params={"dataset": "logements", "refine.arrdt": "13", "rows": 5000}).json()
    assert len(previews) == len(selected)
    assert sorted(tuple(p["geometry"]["coordinates"]) for p in previews) == \
        sorted((point(r)[1], point(r)[0]) for r in selected)
    assert len({p["recordid"] for p in previews}) == len(previews)
    for preview in previews[:5]:  # the id is the record's
        record = client.get(f"/api/datasets/1.0/logements/records/{preview['recordid']}").json()
        assert record["geometry"] == preview["geometry"]
    assert len(client.get(PREVIEW, params={"dataset": "logements", "rows": 7}).json()) == 7
    default = client.get(PREVIEW, params={"dataset": "logements"}).json()
    assert len(default) == 1000  # as many as the map asks for
    ordered = client.get(PREVIEW, params={"dataset": "logements", "rows": 3, "sort": "-annee"}).json()
    oldest = min(int(r["annee"]) for r in rows)
    assert {point(r)[::-1] for r in rows if int(r["annee"]) == oldest} >= {tuple(p["geometry"]["coordinates"]) for p in ordered}


def test_geopreview_shapes_are_simplified_to_a_pixel(client, departements):
    whole = client.get(PREVIEW, params={"dataset": "departements", "rows": 200}).json()
    assert len(whole) == len(departements)
    sources = {json.dumps(f["geometry"]["coordinates"]) for f in departements}
    assert {json.dumps(p["geometry"]["coordinates"]) for p in whole} == sources
    pixel = 360 / (256 * 2**6)
    light = client.get(PREVIEW, params={"dataset": "departements", "rows": 200, "clusterprecision": 6}).json()
    assert [p["recordid"] for p in light] == [p["recordid"] for p in whole]
    for before, after in zip(whole, light):
        a, b = shape(before["geometry"]), shape(after["geometry"])
        corners = shapely.points(shapely.get_coordinates(a))  # each corner dropped: within a pixel of the outline kept
        assert b.is_valid and len(shapely.get_coordinates(b)) <= len(corners)
        assert shapely.distance(corners, b.boundary).max() <= pixel
    assert len(json.dumps(light)) < len(json.dumps(whole)) * 2 / 3


def test_post_and_jsonp(client):
    params = {"dataset": "logements", "clusterprecision": 11, "clusterdistance": 50, "refine.arrdt": "5"}
    posted = client.post(CLUSTER, data=params)
    assert posted.status_code == 200 and posted.json() == client.get(CLUSTER, params=params).json()
    padded = client.get(CLUSTER, params={**params, "callback": "draw"})
    assert padded.headers["content-type"].startswith("application/javascript")
    assert json.loads(re.fullmatch(r"/\*\*/draw\((.*)\);", padded.text, re.S).group(1)) == posted.json()
    preview = {"dataset": "logements", "rows": 3}
    assert client.post(PREVIEW, data=preview).json() == client.get(PREVIEW, params=preview).json()


@pytest.mark.parametrize("path, params, mentions", [
    (CLUSTER, {"dataset": "logements"}, "clusterprecision"),
    (CLUSTER, {"dataset": "logements", "clusterprecision": "26"}, "clusterprecision"),
    (CLUSTER, {"dataset": "logements", "clusterprecision": "douze"}, "clusterprecision"),
    (CLUSTER, {"dataset": "logements", "clusterprecision": "10", "clusterdistance": "0"}, "clusterdistance"),
    (CLUSTER, {"dataset": "logements", "clusterprecision": "10", "shapeprecision": "20"}, "shapeprecision"),
    (CLUSTER, {"dataset": "logements", "clusterprecision": "10", "clustermode": "hexagons"}, "clustermode"),
    (CLUSTER, {"dataset": "logements", "clusterprecision": "10", "y.s.func": "MEDIAN", "y.s.expr": "annee"}, "y.s.func"),
    (CLUSTER, {"dataset": "logements", "clusterprecision": "10", "y.s.func": "SUM"}, "y.s.expr"),
    (CLUSTER, {"dataset": "logements", "clusterprecision": "10", "y.s.expr": "annee"}, "y.s.func"),
    (CLUSTER, {"dataset": "logements", "clusterprecision": "10", "y.s.func": "AVG", "y.s.expr": "ulp(annee)"}, "ulp"),
    (CLUSTER, {"dataset": "logements", "clusterprecision": "10", "y.s.func": "AVG", "y.s.expr": "annee); drop"}, "y.s.expr"),
    (CLUSTER, {"dataset": "logements", "clusterprecision": "10", "y.s.func": "SUM", "y.s.expr": "ville"}, "sum()"),
    (CLUSTER, {"dataset": "logements", "clusterprecision": "10", "y.s.func": "SUM", "y.s.expr": "inconnu"}, "inconnu"),
    (CLUSTER, {"dataset": "logements", "clusterprecision": "10", "geofilter.bbox": "48.8,2.3,48.9"}, "geofilter.bbox"),
    (CLUSTER, {"dataset": "logements", "clusterprecision": "10", "geofilter.polygon": "(1,2)"}, "geofilter.polygon"),
    (CLUSTER, {"dataset": "logements", "clusterprecision": "10", "callback": "alert(1)"}, "callback"),
    (CLUSTER, {"dataset": "regions", "clusterprecision": "10"}, "no geo field"),
    (PREVIEW, {"dataset": "regions"}, "no geo field"),
    (PREVIEW, {"dataset": "logements", "rows": "10001"}, "rows"),
    (PREVIEW, {"dataset": "logements", "rows": "-1"}, "rows"),
    (PREVIEW, {"dataset": "logements", "clusterprecision": "40"}, "clusterprecision"),
    (PREVIEW, {"dataset": "logements", "sort": "inconnu"}, "inconnu"),
    (PREVIEW, {"dataset": "logements", "timezone": "Europe/" + "Nulle" * 60}, "timezone"),  # too long for a file name
    (BOUNDS, {"dataset": "regions"}, "no geo field"),
    (BOUNDS, {"dataset": "logements", "geofilter.bbox": "48.8,2.3"}, "geofilter.bbox"),
    (BOUNDS, {"dataset": "logements", "callback": "alert(1)"}, "callback"),
    (BOUNDS, {"dataset": "logements", "format": "csv"}, "format"),
    (POLYGONS, {"dataset": "regions"}, "no geo field"),
    (POLYGONS, {"dataset": "regions", "geo_field": "reg"}, "geo_field"),
    (POLYGONS, {"dataset": "logements", "geo_field": "adresse_programme"}, "geo_field"),  # text, not geo
    (POLYGONS, {"dataset": "logements", "clusterprecision": "26"}, "clusterprecision"),
    (POLYGONS, {"dataset": "logements", "y.s.func": "MEDIAN", "y.s.expr": "annee"}, "y.s.func"),
    (POLYGONS, {"dataset": "logements", "y.s.func": "SUM", "y.s.expr": "inconnu"}, "inconnu"),
    (POLYGONS, {"dataset": "logements", "geofilter.polygon": "(1,2)"}, "geofilter.polygon"),
    (CLUSTER, {"dataset": "deux", "clusterprecision": "10", "geo_field": "commune"}, "geo_field"),
    (PREVIEW, {"dataset": "deux", "geo_field": "inconnu"}, "geo_field"),
    (BOUNDS, {"dataset": "regions", "geo_field": "reg"}, "geo_field"),
    ("/api/records/1.0/search/", {"dataset": "deux", "geo_field": "insee_dep", "geofilter.bbox": PARIS_VIEW},
     "geo_field"),
    ("/api/records/1.0/download/", {"dataset": "deux", "geo_field": "inconnu"}, "geo_field"),
    ("/api/records/1.0/analyze/", {"dataset": "deux", "x": "insee_dep", "geo_field": "commune"}, "geo_field"),
])
def test_bad_input_is_a_400(client, path, params, mentions):
    response = client.get(path, params=params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert mentions in body["error"] and body["error"] == body["message"] and body["error_code"]


def test_unknown_dataset(client):
    for path in (CLUSTER, PREVIEW, BOUNDS, POLYGONS):
        response = client.get(path, params={"dataset": "nulle-part", "clusterprecision": 3})
        assert (response.status_code, response.json()["error"]) == (404, "Unknown dataset: nulle-part")


def test_row_filters_and_hidden_geo_fields_hold(tmp_path, refdata, rows, client):
    """A row filter bounds the clusters and previews to the rows it keeps; a hidden geo field is
    not mapped (the other one is), and with both hidden the dataset reads as one without any
    (the module's ``regions``). One load of the file, its policy changed between the three
    checks as an administrator changes it (a load per policy was ~2 s of the file's time)."""
    from portail.auth import services as auth
    from portail.catalog import services as catalog

    instance = published_instance(tmp_path / "home", Published("garde", logements_file(refdata), "Gardé"))
    own = TestClient(create_app(instance))

    def policy(**settings) -> None:
        with instance.session() as s:
            auth.set_dataset_security(s, catalog.get_dataset(s, "garde"), **settings)

    policy(record_filters={"*": "arrdt = 13"})
    kept = [r for r in rows if r["arrdt"] == "13"]
    allowed = {point(r)[::-1] for r in kept}
    for zoom in (0, 12, 16):
        body = own.get(CLUSTER, params={"dataset": "garde", "clusterprecision": zoom}).json()
        check_partition(body, kept)
        for cluster in body["clusters"]:  # a hull's corners are its points: all kept ones
            assert {tuple(c) for c in shapely.get_coordinates(shape(cluster["cluster"])).tolist()} <= allowed
    previews = own.get(PREVIEW, params={"dataset": "garde", "rows": 10000}).json()
    assert len(previews) == len(kept) and {tuple(p["geometry"]["coordinates"]) for p in previews} == allowed
    # the box and the polygons hold the kept rows' locations only
    check_bounds(own.get(BOUNDS, params={"dataset": "garde"}).json(), [point_geometry(r) for r in kept])
    check_polygons(own.get(POLYGONS, params={"dataset": "garde"}).json(), kept, point_geometry)

    policy(record_filters={"*": None}, hidden_fields={"*": ["geo_point_2d"]})
    masked = own.get(CLUSTER, params={"dataset": "garde", "clusterprecision": 13}).json()
    check_partition(masked, rows)  # mapped from geo_shape, the same points
    hidden = own.get(CLUSTER, params={"dataset": "garde", "clusterprecision": 13, "y.s.func": "SUM",
                                      "y.s.expr": "geo_point_2d"})
    absent = own.get(CLUSTER, params={"dataset": "garde", "clusterprecision": 13, "y.s.func": "SUM",
                                      "y.s.expr": "geo_point_3d"})
    assert hidden.status_code == absent.status_code == 400
    assert hidden.text == absent.text.replace("geo_point_3d", "geo_point_2d")
    # the masked dataset maps geo_shape
    check_bounds(own.get(BOUNDS, params={"dataset": "garde"}).json(), [shape_geometry(r) for r in rows])
    check_polygons(own.get(POLYGONS, params={"dataset": "garde"}).json(), rows, shape_geometry)
    hidden, absent = (own.get(POLYGONS, params={"dataset": "garde", "geo_field": name})
                      for name in ("geo_point_2d", "geo_point_3d"))
    assert hidden.status_code == absent.status_code == 400
    assert hidden.text == absent.text.replace("geo_point_3d", "geo_point_2d")

    policy(hidden_fields={"*": ["geo_point_2d", "geo_shape"]})
    for path, params in ((CLUSTER, {"clusterprecision": 5}), (PREVIEW, {}), (BOUNDS, {}), (POLYGONS, {})):
        blind = own.get(path, params={"dataset": "garde", **params})
        none = client.get(path, params={"dataset": "regions", **params})
        assert blind.status_code == none.status_code == 400 and blind.text == none.text
    instance.store.close()


# -- boundingbox and geopolygon ---------------------------------------------------------------

def point_geometry(row: dict) -> dict:
    lat, lon = point(row)
    return {"type": "Point", "coordinates": [lon, lat]}


def shape_geometry(row: dict) -> dict | None:
    return json.loads(row["geo_shape"]) if row["geo_shape"].strip() else None


@pytest.fixture(scope="module")
def choro(client, choropleth) -> list[dict]:
    """The choropleth file's rows, as the csv module reads them."""
    with open(choropleth, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


def positions(geometry: dict) -> list[tuple[float, float]]:
    """Every position of a GeoJSON geometry."""
    def walk(coordinates):
        if isinstance(coordinates[0], (int, float)):
            yield coordinates[0], coordinates[1]
        else:
            for part in coordinates:
                yield from walk(part)
    return list(walk(geometry["coordinates"]))


def check_bounds(body: dict, geometries: list[dict | None]) -> None:
    """The selected geometries' count, their count per type and the least and greatest of their
    longitudes and latitudes (``[]`` for none)."""
    present = [g for g in geometries if g is not None]
    assert body["count"] == len(present)
    assert body["geometries"] == dict(Counter(g["type"] for g in present))
    xy = [p for g in present for p in positions(g)]
    if not xy:
        assert body["bbox"] == []
        return
    expected = [min(x for x, _ in xy), min(y for _, y in xy), max(x for x, _ in xy), max(y for _, y in xy)]
    assert len(body["bbox"]) == 4 and all(math.isclose(a, b, abs_tol=NEAR) for a, b in zip(body["bbox"], expected))


def canonical(geometry: dict) -> str:
    return json.dumps(geometry, sort_keys=True, separators=(",", ":"))


def check_polygons(body: dict, selected: list[dict], geometry_of) -> dict[str, list[dict]]:
    """One cluster per distinct geometry of the selected rows, that geometry, its rows' count and
    an id of its own; largest first, with the least and greatest counts beside."""
    groups: dict[str, list[dict]] = {}
    for row in selected:
        if (geometry := geometry_of(row)) is not None:
            groups.setdefault(canonical(geometry), []).append(row)
    clusters = body["clusters"]
    assert sorted(canonical(c["cluster"]) for c in clusters) == sorted(groups)
    for cluster in clusters:
        key = canonical(cluster["cluster"])
        assert cluster["count"] == len(groups[key])
        assert re.fullmatch(r"[0-9a-f]{32}", cluster["geo_digest"])
    assert len({c["geo_digest"] for c in clusters}) == len(clusters)  # one id per shape
    counts = [c["count"] for c in clusters]
    assert counts == sorted(counts, reverse=True)
    assert body["count"] == ({"max": max(counts), "min": min(counts)} if counts else {"max": 0, "min": 0})
    return groups


def bounds_of(client, **params) -> dict:
    response = client.get(BOUNDS, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def polygons_of(client, **params) -> dict:
    response = client.get(POLYGONS, params=params)
    assert response.status_code == 200, response.text
    return response.json()


POINT_FILTERS = [
    ({}, lambda r: True),
    ({"refine.arrdt": "13"}, lambda r: r["arrdt"] == "13"),
    ({"exclude.arrdt": "13", "refine.bs": "RIVP"}, lambda r: r["arrdt"] != "13" and r["bs"] == "RIVP"),
    ({"q": ["annee>=2015", "nb_logmt_total>20"]}, lambda r: int(r["annee"]) >= 2015 and int(r["nb_logmt_total"]) > 20),
    ({"disjunctive.arrdt": "true", "refine.arrdt": ["13", "14"]}, lambda r: r["arrdt"] in ("13", "14")),
    ({"geofilter.bbox": "48.85,2.30,48.87,2.36"}, lambda r: 48.85 <= point(r)[0] <= 48.87 and 2.30 <= point(r)[1] <= 2.36),
    ({"q": "id_livraison=2000011"}, lambda r: r["id_livraison"] == "2000011"),  # one place: a flat box
]


@pytest.mark.parametrize("params, keep", POINT_FILTERS)
def test_bounds_and_polygons_of_points(client, rows, params, keep):
    """A point field: every record is a Point; the box is its points' extent; the polygons are
    its distinct points, each with the number of records there."""
    selected = [r for r in rows if keep(r)]
    assert 0 < len(selected) <= len(rows) and (len(selected) < len(rows) or not params)
    check_bounds(bounds_of(client, dataset="logements", **params), [point_geometry(r) for r in selected])
    check_polygons(polygons_of(client, dataset="logements", **params), selected, point_geometry)


def test_bounds_of_shapes_count_each_type(client, departements, choro):
    """A shape field: the box of every corner, a count per GeoJSON type (the map's "auto" layer
    clusters when most are points); records without a shape are not counted."""
    check_bounds(bounds_of(client, dataset="departements"), [f["geometry"] for f in departements])
    finistere = [f["geometry"] for f in departements if f["properties"]["code"] == "29"]
    assert [g["type"] for g in finistere] == ["MultiPolygon"]
    check_bounds(bounds_of(client, dataset="departements", **{"refine.code": "29"}), finistere)
    body = bounds_of(client, dataset="choro")
    assert set(body["geometries"]) == {"Point", "Polygon", "MultiPolygon"} and body["count"] < len(choro)
    check_bounds(body, [shape_geometry(r) for r in choro])
    check_bounds(bounds_of(client, dataset="choro", **{"refine.insee_dep": "13"}),
                 [shape_geometry(r) for r in choro if r["insee_dep"] == "13"])


SHAPE_FILTERS = [
    ({"refine.insee_dep": "83"}, lambda r: r["insee_dep"] == "83"),
    ({"q": "population_2021>=20000"}, lambda r: r["population_2021"] != "" and int(r["population_2021"]) >= 20000),
    ({"exclude.insee_dep": "13", "q": "superficie_km2<5"}, lambda r: r["insee_dep"] != "13" and r["superficie_km2"] != ""
     and float(r["superficie_km2"]) < 5),
    ({"disjunctive.insee_dep": "true", "refine.insee_dep": ["75", "13"]}, lambda r: r["insee_dep"] in ("75", "13")),
    ({"geofilter.bbox": "48.80,2.25,48.90,2.42"},  # Paris and its neighbours, the shapes crossing the box
     lambda r: r["geo_shape"] != "" and shape(shape_geometry(r)).intersects(shapely.box(2.25, 48.80, 2.42, 48.90))),
]


@pytest.mark.parametrize("params, keep", SHAPE_FILTERS)
def test_filters_narrow_bounds_and_polygons_of_shapes(client, choro, params, keep):
    selected = [r for r in choro if keep(r)]
    assert 0 < len(selected) < len(choro)
    check_bounds(bounds_of(client, dataset="choro", **params), [shape_geometry(r) for r in selected])
    check_polygons(polygons_of(client, dataset="choro", **params), selected, shape_geometry)


def test_polygons_group_records_by_shape_with_their_series(client, choro):
    """Each shape with its records' count and series (the choropleth colours it by
    ``series.serie1``), and the least and greatest of each beside."""
    params = {"y.serie1.func": "SUM", "y.serie1.expr": "population_2021", "y.area.func": "AVG",
              "y.area.expr": "superficie_km2", "y.top.func": "MAX", "y.top.expr": "population_2021 / 1000",
              "y.n.func": "COUNT", "y.sd.func": "STDDEV", "y.sd.expr": "population_2021"}
    body = polygons_of(client, dataset="choro", **params)
    groups = check_polygons(body, choro, shape_geometry)
    assert len(groups) > 100 and max(len(g) for g in groups.values()) == 158  # the Var's communes share its shape
    for cluster in body["clusters"]:
        mine = groups[canonical(cluster["cluster"])]
        population = [int(r["population_2021"]) for r in mine if r["population_2021"] != ""]
        series = cluster["series"]
        assert series["serie1"] == sum(population)
        assert math.isclose(series["area"], statistics.fmean(float(r["superficie_km2"]) for r in mine), rel_tol=1e-9)
        assert math.isclose(series["top"], max(population) / 1000, rel_tol=1e-12)
        assert series["n"] == cluster["count"]
        assert math.isclose(series["sd"], statistics.pstdev(population), rel_tol=1e-6, abs_tol=1e-6)
    for name in ("serie1", "area", "top", "n", "sd"):
        values = [c["series"][name] for c in body["clusters"]]
        assert body["series"][name] == {"max": max(values), "min": min(values)}


def test_a_clicked_shape_s_digest_selects_its_records(client, choro):
    """ods-widgets ask for a clicked shape's records with the geo_digest geopolygon gave it
    (``geo_digest=…``, or ``geo_digest.<field>=…`` on a choropleth): its records, no other."""
    body = polygons_of(client, dataset="choro")
    groups = check_polygons(body, choro, shape_geometry)
    for cluster in body["clusters"][:3] + body["clusters"][-2:]:
        for key in ("geo_digest", "geo_digest.geo_shape"):
            found = client.get("/api/records/1.0/search/", params={"dataset": "choro", key: cluster["geo_digest"],
                                                                  "rows": 0}).json()
            assert found["nhits"] == cluster["count"] == len(groups[canonical(cluster["cluster"])]), key
    for bad in ({"geo_digest": "nope"}, {"geo_digest.commune": "0" * 32}):
        assert client.get("/api/records/1.0/search/", params={"dataset": "choro", **bad}).status_code == 400, bad


def test_polygons_of_a_named_geo_field(client, rows):
    """``geo_field`` (a choropleth's) picks the field grouped: logements' geo_shape holds the
    same places as its geo_point_2d, written as GeoJSON in the file."""
    check_polygons(polygons_of(client, dataset="logements", geo_field="geo_shape", **{"refine.arrdt": "5"}),
                   [r for r in rows if r["arrdt"] == "5"], shape_geometry)


def test_polygons_are_simplified_at_the_zoom_and_keep_their_digest(client, choro):
    """At a zoom, each shape within half a pixel of the file's, fewer corners; its count and
    ``geo_digest`` the same as at full precision (a click finds the same shape at every zoom)."""
    whole = polygons_of(client, dataset="choro")
    light = polygons_of(client, dataset="choro", clusterprecision=6)
    assert {c["geo_digest"]: c["count"] for c in light["clusters"]} == {c["geo_digest"]: c["count"] for c in whole["clusters"]}
    sources = {c["geo_digest"]: shape(c["cluster"]) for c in whole["clusters"]}
    pixel = 360 / (256 * 2**6)
    for cluster in light["clusters"]:
        simplified, source = shape(cluster["cluster"]), sources[cluster["geo_digest"]]
        assert len(shapely.get_coordinates(simplified)) <= len(shapely.get_coordinates(source))
        assert shapely.hausdorff_distance(simplified, source) <= pixel / 2 * 1.5 + NEAR
    corners = [sum(len(shapely.get_coordinates(shape(c["cluster"]))) for c in body["clusters"] if c["count"] > 1)
               for body in (whole, light)]  # the départements: fewer corners by a third at least
    assert corners[1] < corners[0] * 2 / 3


def test_nothing_selected(client):
    """No record: count 0 and an empty box (the map then keeps its view), no clusters."""
    empty = {"count": 0, "bbox": [], "geometries": {}}
    assert bounds_of(client, dataset="logements", **{"refine.arrdt": "99"}) == empty
    assert bounds_of(client, dataset="choro", **{"geofilter.bbox": "10,10,11,11"}) == empty
    assert polygons_of(client, dataset="choro", **{"geofilter.bbox": "10,10,11,11", "y.s.func": "SUM",
                                                   "y.s.expr": "population_2021"}) == \
        {"clusters": [], "count": {"max": 0, "min": 0}, "series": {"s": {"max": None, "min": None}}}
    assert polygons_of(client, dataset="departements", q="nulle-part-qzxw") == \
        {"clusters": [], "count": {"max": 0, "min": 0}}


def test_bounds_and_polygons_post_and_jsonp(client):
    for path, params in ((BOUNDS, {"dataset": "choro", "refine.insee_dep": "83"}),
                         (POLYGONS, {"dataset": "choro", "clusterprecision": 7, "y.serie1.func": "AVG",
                                     "y.serie1.expr": "population_2021"})):
        plain = client.get(path, params=params)
        assert plain.status_code == 200 and plain.headers["content-type"].startswith("application/json")
        assert client.post(path, data=params).json() == plain.json()
        for padding, callback in (({"callback": "draw"}, "draw"), ({"format": "jsonp", "callback": "ods.map_1"}, "ods.map_1")):
            padded = client.get(path, params={**params, **padding})
            assert padded.status_code == 200 and padded.headers["content-type"].startswith("application/javascript")
            found = re.fullmatch(r"/\*\*/" + re.escape(callback) + r"\((.*)\);", padded.text, re.S)
            assert found and json.loads(found.group(1)) == plain.json()



def test_geometry_type_the_counts_are_built_on(client, rows, choro):
    """ODSQL's ``geometry_type()`` (beyond Opendatasoft), through v2.1: a point field's records
    are Points, a shape field's are counted by their GeoJSON type, null without a shape."""
    def groups(dataset: str, field: str, **params) -> dict:
        response = client.get(f"/api/explore/v2.1/catalog/datasets/{dataset}/records",
                              params={"select": "count(*) as n", "group_by": f"geometry_type({field}) as t", **params})
        assert response.status_code == 200, response.text
        return {r["t"]: r["n"] for r in response.json()["results"]}

    assert groups("logements", "geo_point_2d") == {"Point": len(rows)}
    assert groups("logements", "geo_point_2d", where='arrdt = "5"') == {"Point": sum(r["arrdt"] == "5" for r in rows)}
    types = Counter(g["type"] if (g := shape_geometry(r)) else None for r in choro)
    assert groups("choro", "geo_shape") == dict(types) and None in types
    shapes = client.get("/api/explore/v2.1/catalog/datasets/choro/records",
                        params={"select": "count(*) as n", "where": 'geometry_type(geo_shape) = "MultiPolygon"'}).json()
    assert shapes["results"] == [{"n": types["MultiPolygon"]}]


# -- geo_field: the field mapped is the field geofiltered ---------------------------------------

SEARCH, DOWNLOAD, ANALYZE = "/api/records/1.0/search/", "/api/records/1.0/download/", "/api/records/1.0/analyze/"


@pytest.fixture(scope="module")
def deux(client, choropleth) -> list[dict]:
    """The two-geo-field file's rows, as the csv module reads them."""
    with open(choropleth.with_name("deux-champs.csv"), encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


def in_paris_view(lat: float, lon: float) -> bool:
    lat1, lon1, lat2, lon2 = (float(n) for n in PARIS_VIEW.split(","))
    return lat1 <= lat <= lat2 and lon1 <= lon <= lon2


def test_geofilters_read_the_geo_field_named(client, departements, deux):
    """``geo_field=contour`` (a choropleth's second geo field): the view's ``geofilter.bbox``
    selects by the shapes drawn, on every records route, not by the first geo field's points."""
    by_point = [r for r in deux if in_paris_view(*(float(n) for n in r["position"].split(",")))]
    by_shape = [r for r in deux if r["insee_dep"] == "13"]  # they carry Paris's shape
    assert 0 < len(by_point) and 0 < len(by_shape) and {r["insee_dep"] for r in by_point} <= {"75", "92", "93", "94"}
    paris = next(f["geometry"] for f in departements if f["properties"]["code"] == "75")
    view = {"dataset": "deux", "geofilter.bbox": PARIS_VIEW}
    for named, expected in ((None, by_point), ("position", by_point), ("contour", by_shape)):
        params = {**view, **({"geo_field": named} if named else {})}
        ids = sorted(r["insee_com"] for r in expected)
        found = client.get(SEARCH, params={**params, "rows": 1000}).json()
        assert found["nhits"] == len(expected) and sorted(r["fields"]["insee_com"] for r in found["records"]) == ids
        downloaded = client.get(DOWNLOAD, params={**params, "format": "json"}).json()
        assert sorted(r["fields"]["insee_com"] for r in downloaded) == ids, named
        analysed = client.get(ANALYZE, params={**params, "x": "insee_dep", "y.n.func": "COUNT"}).json()
        assert {p["x"]: p["n"] for p in analysed} == dict(Counter(r["insee_dep"] for r in expected)), named
        bounds = bounds_of(client, **params)
        assert bounds["count"] == len(expected), named
    # the map's routes draw the field named, filtered by it
    shaped = {**view, "geo_field": "contour"}
    check_bounds(bounds_of(client, **shaped), [paris] * len(by_shape))
    body = polygons_of(client, **shaped)
    assert [(c["count"], c["cluster"]) for c in body["clusters"]] == [(len(by_shape), paris)]
    clusters = clusters_of(client, clusterprecision=8, **shaped)["clusters"]
    centroid = shape(paris).centroid
    assert [c["count"] for c in clusters] == [len(by_shape)]
    assert math.isclose(clusters[0]["cluster_center"][0], centroid.y, abs_tol=1e-7)
    previews = client.get(PREVIEW, params={**shaped, "rows": 1000}).json()
    assert len(previews) == len(by_shape) and all(p["geometry"] == paris for p in previews)
    # q's #distance reads the field named too: 100 m around Notre-Dame lie in Paris's shape only
    near = {"dataset": "deux", "q": "#distance(48.853, 2.3499, 100)", "rows": 1000}
    assert client.get(SEARCH, params={**near, "geo_field": "contour"}).json()["nhits"] == len(by_shape)
    points = client.get(SEARCH, params=near).json()["nhits"]  # the communes' points: none so near
    assert points == client.get(SEARCH, params={**near, "geo_field": "position"}).json()["nhits"] < len(by_shape)


def test_a_bare_geo_digest_finds_its_shape_in_any_geo_field(client, deux):
    """A choropleth of the second geo field gives its shapes' digests; the tooltip of a clicked
    shape asks with a bare ``geo_digest`` (the context's parameters, no ``geo_field``): the
    records holding that shape in any geo field, or in the one ``geo_field`` names."""
    def hits(**params) -> int:
        response = client.get(SEARCH, params={"dataset": "deux", "rows": 0, **params})
        assert response.status_code == 200, response.text
        return response.json()["nhits"]

    body = polygons_of(client, dataset="deux", geo_field="contour")
    assert len(body["clusters"]) == 2
    for cluster in body["clusters"]:
        digest = cluster["geo_digest"]
        assert hits(geo_digest=digest) == hits(**{"geo_digest.contour": digest}) == cluster["count"]
        assert hits(geo_digest=digest, geo_field="contour") == cluster["count"]
        assert hits(geo_digest=digest, geo_field="position") == 0


# -- clusters of one record, previews and the antimeridian ----------------------------------

def test_a_cluster_of_one_record_names_it(client, rows):
    """A cluster of one point carries its record's id (the map asks by it when a click on its
    marker refines another context): that record, at that point; a heatmap's spots do not."""
    view = {"clusterprecision": 17, "geofilter.bbox": "48.84,2.32,48.87,2.37"}  # as the map asks at that zoom
    for params in (view, {**view, "return_polygons": "false"}):
        body = clusters_of(client, **params)
        singles = [c for c in body["clusters"] if c["count"] == 1]
        assert len(singles) > 100 and all("recordid" not in c for c in body["clusters"] if c["count"] > 1)
        assert len({c["recordid"] for c in singles}) == len(singles)
        for cluster in singles[::len(singles) // 8]:
            lat, lon = cluster["cluster_center"]
            record = client.get(f"/api/datasets/1.0/logements/records/{cluster['recordid']}").json()
            assert record["geometry"] == {"type": "Point", "coordinates": [lon, lat]}
            asked = client.get(DOWNLOAD, params={"dataset": "logements", "format": "json", "rows": 1,
                                                 "q": f"recordid:{cluster['recordid']}"}).json()
            assert [r["recordid"] for r in asked] == [cluster["recordid"]]  # refineContextOnClick's query
    heat = clusters_of(client, clustermode="heatmap", **view)
    assert all("recordid" not in c for c in heat["clusters"])


def test_a_cluster_of_one_shape_names_its_record(client, departements):
    body = client.get(CLUSTER, params={"dataset": "departements", "clusterprecision": 6, "clusterdistance": 40}).json()
    singles = [c for c in body["clusters"] if c["count"] == 1]
    assert len(singles) > 10
    for cluster in singles:
        record = client.get(f"/api/datasets/1.0/departements/records/{cluster['recordid']}").json()
        assert record["geometry"] == cluster["cluster"]


def test_geopreview_gives_each_shape_its_digest(client, departements):
    """The map's shape preview hands a clicked shape's ``geo_digest`` to its tooltip, which asks
    for the records by it: that département's, the same shape at any zoom."""
    whole = client.get(PREVIEW, params={"dataset": "departements", "rows": 200}).json()
    light = client.get(PREVIEW, params={"dataset": "departements", "rows": 200, "clusterprecision": 6}).json()
    assert [p["geo_digest"] for p in light] == [p["geo_digest"] for p in whole]
    assert len({p["geo_digest"] for p in whole}) == len(departements)
    for preview in light[:5]:
        found = client.get(SEARCH, params={"dataset": "departements", "geo_digest": preview["geo_digest"]}).json()
        assert [r["recordid"] for r in found["records"]] == [preview["recordid"]]


def pacific(zone: str | None = None) -> list[tuple[float, float]]:
    return [(lat, lon) for _, z, lat, lon in PACIFIC if zone in (None, z)]


@pytest.mark.parametrize("geo_field, half", [("position", 0), ("contour", HALF)])
def test_a_box_across_the_antimeridian(client, geo_field, half):
    """Places on both sides of 180°: the box runs east from the eastern ones across 180° (its
    east edge past it, as Leaflet fits it), not round the world; a spread no narrower that way
    keeps its plain box."""
    def box(**params) -> list[float]:
        return bounds_of(client, dataset="pacifique", geo_field=geo_field, **params)["bbox"]

    def near(found: list[float], expected: list[float]) -> bool:
        return all(math.isclose(a, b, abs_tol=1e-9) for a, b in zip(found, expected, strict=True))

    places = pacific("pacifique")
    east, west = [p for p in places if p[1] > 0], [p for p in places if p[1] < 0]
    lats = [lat for lat, _ in places]
    expected = [min(lon for _, lon in east) - half, min(lats) - half, max(lon for _, lon in west) + 360 + half,
                max(lats) + half]
    assert near(box(**{"refine.zone": "pacifique"}), expected)
    everywhere = pacific()  # from Africa eastwards across 180° to Mexico: the widest gap, over the Atlantic, left out
    assert near(box(), [10.75 - half, min(lat for lat, _ in everywhere) - half, -100.25 + 360 + half,
                        max(lat for lat, _ in everywhere) + half])
    # -100, 10 and 100 alone: 200° wide, but 250° the other way round
    assert near(box(**{"refine.zone": "ailleurs"}), [-100.25 - half, 5.5 - half, 100.5 + half, 20.5 + half])


@pytest.mark.parametrize("view, zone", [
    ("-20,176,-14,183", "pacifique"),  # Leaflet's bounds panned east across 180°
    ("-20,-184,-14,-177", "pacifique"),  # or west
    ("-20,536,-14,543", "pacifique"),  # a world away
    ("-90,-400,90,400", None),  # zoomed out past the whole world
])
def test_a_view_across_the_antimeridian(client, view, zone):
    """``geofilter.bbox`` as a map panned across 180° sends it: its longitudes read around the
    globe, both sides of the antimeridian selected."""
    for geo_field in ("position", "contour"):
        found = client.get(SEARCH, params={"dataset": "pacifique", "geofilter.bbox": view, "geo_field": geo_field,
                                           "rows": 100}).json()
        assert sorted(r["fields"]["nom"] for r in found["records"]) == sorted(n for n, z, *_ in PACIFIC
                                                                              if zone in (None, z)), geo_field


def test_q_dot_parameters_filter_the_map_as_q(client, rows):
    """The map's contexts send ``q.timerange``/``q.mapfilter`` beside ``q``: ANDed with it on
    every map route (they were ignored: the map drew the whole dataset)."""
    given = {"dataset": "logements", "q": "bs==RIVP", "q.timerange": "annee>=2015"}
    kept = [r for r in rows if r["bs"] == "RIVP" and int(r["annee"]) >= 2015]
    assert 0 < len(kept) < sum(r["bs"] == "RIVP" for r in rows)
    assert sum(c["count"] for c in clusters_of(client, clusterprecision=10, **given)["clusters"]) == len(kept)
    assert client.get(BOUNDS, params=given).json()["count"] == len(kept)
    assert len(client.get(PREVIEW, params=given).json()) == len(kept)
    assert sum(c["count"] for c in client.get(POLYGONS, params=given).json()["clusters"]) == len(kept)
