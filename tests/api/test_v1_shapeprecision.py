"""v1 geocluster's ``shapeprecision``: "the precision of the returned cluster envelope"
(Opendatasoft's v1 records API documentation; clusterprecision + shapeprecision <= 29). It is a zoom
offset: each cluster's shape is simplified to within a pixel at zoom clusterprecision +
shapeprecision (Opendatasoft's engine's tolerance for a zoom: 360 / (256 * 2**zoom) degrees), so
a lower one returns fewer coordinates; the shapes stay valid and close to the exact ones, and the
clusters (their counts, centres and record ids) are the same whatever it is. Absent (ods-widgets
never send it), the shapes are exact. Checked on the départements' contours (lone shapes and
hulls of several) and on social housing points (hulls)."""

from __future__ import annotations

import json

import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import shape

from portail.api import create_app
from tests.conftest import Published, logements_file, published_instance

CLUSTER = "/api/records/1.0/geocluster/"
DEPARTEMENTS = "departements-version-simplifiee.geojson"


def pixel(zoom: int) -> float:
    return 360 / (256 * 2**zoom)


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    instance = published_instance(
        tmp_path_factory.mktemp("shapeprecision") / "home",
        Published("departements", refdata / "geo" / DEPARTEMENTS, "Départements"),
        Published("logements", logements_file(refdata), "Logements sociaux"))
    yield TestClient(create_app(instance))
    instance.store.close()


@pytest.fixture(scope="module")
def contours(refdata) -> list[shapely.Geometry]:
    with open(refdata / "geo" / DEPARTEMENTS, encoding="utf-8") as handle:
        return [shape(f["geometry"]) for f in json.load(handle)["features"]]


def clusters(client, dataset: str, **params) -> list[dict]:
    response = client.get(CLUSTER, params={"dataset": dataset, "clusterdistance": 40, **params})
    assert response.status_code == 200, response.text
    return response.json()["clusters"]


def coordinates(found: list[dict]) -> int:
    return sum(len(shapely.get_coordinates(shape(c["cluster"]))) for c in found)


def same_clusters(a: list[dict], b: list[dict]) -> None:
    """The same clusters, in the same order: counts, centres and record ids; each with a shape."""
    assert [(c["count"], c["cluster_center"], c.get("recordid")) for c in a] == \
        [(c["count"], c["cluster_center"], c.get("recordid")) for c in b]
    assert all("cluster" in c for c in a) and all("cluster" in c for c in b)


def test_a_lower_shapeprecision_returns_coarser_valid_shapes(client, contours):
    zoom = 6
    exact = clusters(client, "departements", clusterprecision=zoom)
    assert sum(c["count"] for c in exact) == len(contours)
    assert sum(1 for c in exact if c["count"] == 1) > 10  # lone contours, not only hulls
    by_precision = {p: clusters(client, "departements", clusterprecision=zoom, shapeprecision=p) for p in (0, 2, 8)}
    for found in by_precision.values():
        same_clusters(found, exact)
    sizes = [coordinates(by_precision[p]) for p in (0, 2, 8)]
    assert sizes[0] < sizes[1] < sizes[2] <= coordinates(exact)
    assert sizes[0] < coordinates(exact) / 2  # a pixel at the map's zoom drops most corners
    for precision, found in by_precision.items():
        tolerance = pixel(zoom + precision)
        for coarse, fine in zip(found, exact):
            a, b = shape(coarse["cluster"]), shape(fine["cluster"])
            assert a.is_valid and not a.is_empty and a.geom_type in ("Polygon", "MultiPolygon")
            assert shapely.hausdorff_distance(a, b) <= 2 * tolerance  # within a pixel or so of the exact shape
            assert abs(a.area - b.area) <= 0.06 * b.area
        assert sum(shape(c["cluster"]).area for c in found) == pytest.approx(
            sum(shape(c["cluster"]).area for c in exact), rel=0.01)


def test_point_hulls_are_coarsened_too(client):
    exact = clusters(client, "logements", clusterprecision=12)
    coarse = clusters(client, "logements", clusterprecision=12, shapeprecision=0)
    fine = clusters(client, "logements", clusterprecision=12, shapeprecision=10)
    same_clusters(coarse, exact)
    same_clusters(fine, exact)
    assert coordinates(coarse) < coordinates(fine) <= coordinates(exact)
    for c, e in zip(coarse, exact):
        a, b = shape(c["cluster"]), shape(e["cluster"])
        assert a.is_valid and a.geom_type == b.geom_type
        assert shapely.hausdorff_distance(a, b) <= 2 * pixel(12)


def test_absent_the_shapes_are_exact(client, contours):
    """ods-widgets never send shapeprecision: a lone contour comes back as the file has it."""
    exact = clusters(client, "departements", clusterprecision=6)
    lone = [shape(c["cluster"]) for c in exact if c["count"] == 1]
    tree = shapely.STRtree(contours)
    for geometry in lone:
        assert any(shapely.hausdorff_distance(geometry, contours[i]) < 1e-9 for i in tree.query(geometry.centroid))


@pytest.mark.parametrize("params, status", [
    ({"clusterprecision": 25, "shapeprecision": 4}, 200),
    ({"clusterprecision": 25, "shapeprecision": 5}, 400),
    ({"clusterprecision": 6, "shapeprecision": -1}, 400),
    ({"clusterprecision": 6, "shapeprecision": "fine"}, 400),
])
def test_shapeprecision_bounds(client, params, status):
    response = client.get(CLUSTER, params={"dataset": "departements", **params})
    assert response.status_code == status, response.text
    if status == 400:
        assert "shapeprecision" in response.text
