"""v1's map endpoints, ``/api/records/1.0/geocluster/`` and ``/api/records/1.0/geopreview/``,
checked against the published files read with the csv and json modules: clusters partition the
selected points (each inside its own envelope, counted once, centred on their mean), filters
narrow them as a plain filter of the file does, shapes come back as the file has them."""

from __future__ import annotations

import csv
import json
import math
import re
import statistics

import pytest
from fastapi.testclient import TestClient
import shapely
from shapely.geometry import Point, Polygon, shape

from portail.api import create_app
from tests.conftest import Published, logements_file, published_instance

CLUSTER, PREVIEW = "/api/records/1.0/geocluster/", "/api/records/1.0/geopreview/"
EARTH_RADIUS = 6371008.8  # metres, the mean radius
NEAR = 1e-9  # degrees: doubles written to JSON and read back
SHAPES = {"departements": "departements-version-simplifiee.geojson", "communes": "communes-ile-de-france.geojson"}


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    instance = published_instance(
        tmp_path_factory.mktemp("v1geo") / "home",
        Published("logements", logements_file(refdata), "Logements sociaux"),
        Published("departements", refdata / "geo" / SHAPES["departements"], "Départements"),
        Published("communes", refdata / "geo" / SHAPES["communes"], "Communes d'Île-de-France"),
        Published("regions", refdata / "referentiels" / "cog2026_regions.csv", "Régions (sans géométrie)"))
    yield TestClient(create_app(instance))
    instance.store.close()


@pytest.fixture(scope="module")
def rows(refdata):
    with open(logements_file(refdata), encoding="utf-8-sig") as handle:
        found = list(csv.DictReader(handle, delimiter=";"))
    assert all(r["geo_point_2d"].strip() for r in found)
    return found


def features(refdata, dataset: str) -> list[dict]:
    with open(refdata / "geo" / SHAPES[dataset], encoding="utf-8") as handle:
        return json.load(handle)["features"]


@pytest.fixture(scope="module")
def departements(refdata):
    return features(refdata, "departements")


def point(row: dict) -> tuple[float, float]:
    lat, lon = (float(part) for part in row["geo_point_2d"].split(","))
    return lat, lon


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    (lat1, lon1), (lat2, lon2) = (map(math.radians, p) for p in (a, b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS * math.asin(math.sqrt(h))


def clusters_of(client, **params) -> dict:
    response = client.get(CLUSTER, params={"dataset": "logements", "clusterdistance": 50, **params})
    assert response.status_code == 200, response.text
    return response.json()


def members(clusters: list[dict], selected: list[dict]) -> tuple[dict[int, list[dict]], int]:
    """Each cluster's rows: those whose point lies in its envelope and in no other one; and how
    many rows lie in several (none while clusters are cells of a grid)."""
    tree = shapely.STRtree([shape(c["cluster"]) for c in clusters])
    points = [Point(point(r)[1], point(r)[0]) for r in selected]
    found, hulls = tree.query(points, predicate="dwithin", distance=NEAR)
    covering: dict[int, list[int]] = {}
    for p, h in zip(found.tolist(), hulls.tolist()):
        covering.setdefault(p, []).append(h)
    assert len(covering) == len(selected), "a selected point lies in no cluster's envelope"
    owned: dict[int, list[dict]] = {}
    for p, hs in covering.items():
        if len(hs) == 1:
            owned.setdefault(hs[0], []).append(selected[p])
    return owned, sum(1 for hs in covering.values() if len(hs) > 1)


def check_partition(body: dict, selected: list[dict]) -> dict[int, list[dict]]:
    """The clusters count the selected rows once each, each within its envelope, centred on its
    rows' mean point; ``count`` gives their least and greatest sizes."""
    clusters = body["clusters"]
    counts = [c["count"] for c in clusters]
    assert sum(counts) == len(selected)
    assert body["count"] == ({"max": max(counts), "min": min(counts)} if counts else {"max": 0, "min": 0})
    owned, shared = members(clusters, selected)
    assert shared <= len(selected) // 100
    exact = 0
    for index, cluster in enumerate(clusters):
        mine = owned.get(index, [])
        assert len(mine) <= cluster["count"]
        if len(mine) == cluster["count"]:
            exact += 1
            lat, lon = cluster["cluster_center"]
            assert math.isclose(lat, statistics.fmean(point(r)[0] for r in mine), abs_tol=NEAR)
            assert math.isclose(lon, statistics.fmean(point(r)[1] for r in mine), abs_tol=NEAR)
    assert exact >= 0.95 * len(clusters)
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
    check_partition(fine, rows)


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
        assert [(c["cluster_center"], c["count"]) for c in bare["clusters"]] == \
            [(c["cluster_center"], c["count"]) for c in shaped["clusters"]]


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
])
def test_bad_input_is_a_400(client, path, params, mentions):
    response = client.get(path, params=params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert mentions in body["error"] and body["error"] == body["message"] and body["error_code"]


def test_unknown_dataset(client):
    for path in (CLUSTER, PREVIEW):
        response = client.get(path, params={"dataset": "nulle-part", "clusterprecision": 3})
        assert (response.status_code, response.json()["error"]) == (404, "Unknown dataset: nulle-part")


def test_row_filters_and_hidden_geo_fields_hold(tmp_path, refdata, rows):
    """A row filter bounds the clusters and previews to the rows it keeps; a hidden geo field is
    not mapped (the other one is), and with both hidden the dataset reads as one without any."""
    from portail.auth import services as auth
    from portail.catalog import services as catalog

    path = logements_file(refdata)
    instance = published_instance(tmp_path / "home", Published("filtre", path, "Filtré"), Published("masque", path, "Masqué"),
                                  Published("aveugle", path, "Aveugle"), Published("regions", refdata / "referentiels" /
                                                                                   "cog2026_regions.csv", "Régions"))
    with instance.session() as s:
        auth.set_dataset_security(s, catalog.get_dataset(s, "filtre"), record_filters={"*": "arrdt = 13"})
        auth.set_dataset_security(s, catalog.get_dataset(s, "masque"), hidden_fields={"*": ["geo_point_2d"]})
        auth.set_dataset_security(s, catalog.get_dataset(s, "aveugle"), hidden_fields={"*": ["geo_point_2d", "geo_shape"]})
    client = TestClient(create_app(instance))
    kept = [r for r in rows if r["arrdt"] == "13"]
    allowed = {point(r)[::-1] for r in kept}
    for zoom in (0, 12, 16):
        body = client.get(CLUSTER, params={"dataset": "filtre", "clusterprecision": zoom}).json()
        check_partition(body, kept)
        for cluster in body["clusters"]:  # a hull's corners are its points: all kept ones
            assert {tuple(c) for c in shapely.get_coordinates(shape(cluster["cluster"])).tolist()} <= allowed
    previews = client.get(PREVIEW, params={"dataset": "filtre", "rows": 10000}).json()
    assert len(previews) == len(kept) and {tuple(p["geometry"]["coordinates"]) for p in previews} == allowed

    masked = client.get(CLUSTER, params={"dataset": "masque", "clusterprecision": 13}).json()
    check_partition(masked, rows)  # mapped from geo_shape, the same points
    hidden = client.get(CLUSTER, params={"dataset": "masque", "clusterprecision": 13, "y.s.func": "SUM",
                                         "y.s.expr": "geo_point_2d"})
    absent = client.get(CLUSTER, params={"dataset": "masque", "clusterprecision": 13, "y.s.func": "SUM",
                                         "y.s.expr": "geo_point_3d"})
    assert hidden.status_code == absent.status_code == 400
    assert hidden.text == absent.text.replace("geo_point_3d", "geo_point_2d")
    for path, params in ((CLUSTER, {"clusterprecision": 5}), (PREVIEW, {})):
        blind = client.get(path, params={"dataset": "aveugle", **params})
        none = client.get(path, params={"dataset": "regions", **params})
        assert blind.status_code == none.status_code == 400 and blind.text == none.text
    instance.store.close()
