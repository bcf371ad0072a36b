"""GeoJSON read as its producer wrote it: a declared coordinate system the coordinates are not in
(longitudes/latitudes under Lambert-93) refused, while projected metres a little beyond the
system's area still load where pyproj puts them. Feature ids and integers beyond 64 bits kept as
written: ``test_geojson_ids``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from portail.ingest.errors import IngestError
from tests.ingest.files import load, rows


def _points_geojson(path: Path, coordinates: list[list[float]], crs: str) -> Path:
    features = [{"type": "Feature", "properties": {"n": n}, "geometry": {"type": "Point", "coordinates": c}}
                for n, c in enumerate(coordinates, start=1)]
    path.write_text(json.dumps({"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": crs}},
                                "features": features}))
    return path


def test_longitudes_latitudes_declared_as_lambert93_are_refused(instance, tmp_path):
    """Reprojected as metres, Paris's [2.35, 48.85] landed in the Gulf of Guinea (-1.36, -5.98) and
    loaded without a word: within longitude/latitude, so no check stopped it."""
    path = _points_geojson(tmp_path / "gares.geojson", [[652469, 6862035], [2.35, 48.85]], "urn:ogc:def:crs:EPSG::2154")
    with pytest.raises(IngestError) as refused:
        load(instance, path)
    assert str(refused.value).startswith("gares.geojson, field 'geo_shape': feature 2: coordinates far outside where "
                                         "the declared coordinate system is used (EPSG:2154: France - onshore")


@pytest.mark.parametrize("crs, places", [
    ("EPSG:2154", [(6.1432, 46.2044), (4.3517, 50.8503)]),
    ("EPSG:32631", [(-5.0950, 48.4560), (7.7521, 48.5734), (9.4500, 42.0400)]),
], ids=["lambert93-geneva-brussels", "utm31n-ouessant-corsica"])
def test_projected_metres_beyond_the_systems_area_still_load(instance, tmp_path, crs, places):
    """Geneva and Brussels in Lambert-93 (outside France, within the margin), and France-wide
    data in UTM zone 31N's metres, a zone used from 0 to 6° E (Ouessant at -5.1° E, Corsica):
    the area check is for degrees written under a projected system, which refused the UTM file.
    Each loads where pyproj puts it."""
    from pyproj import Transformer

    to_crs = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    path = _points_geojson(tmp_path / "lieux.geojson", [list(to_crs.transform(*p)) for p in places],
                           f"urn:ogc:def:crs:EPSG::{crs.split(':')[1]}")
    load(instance, path)
    stored = rows(instance, order="ORDER BY n")
    assert [(r["__lon__geo_point_2d"], r["__lat__geo_point_2d"]) for r in stored] == \
        [pytest.approx(p, abs=1e-7) for p in places]
