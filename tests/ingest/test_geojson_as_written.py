"""GeoJSON read as its producer wrote it: feature ids that are numbers and property integers
beyond 64 bits kept as written (GDAL drops or alters them), and a declared coordinate system the
coordinates are not in (longitudes/latitudes under Lambert-93) refused, while projected metres a
little beyond the system's area still load where pyproj puts them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from portail.ingest.errors import IngestError
from portail.ingest.readers.geo import read_geo
from portail.ingest.types import ReadOptions
from tests.ingest.test_csv import load, rows
from tests.ingest.test_geojson_values_beside_gdal import staged

# --- GeoJSON: what GDAL does not hand over exactly ----------------------------------------

def _geojson(path: Path, features: list[tuple[object, dict]]) -> Path:
    """A FeatureCollection of points, each (its ``id`` member or None for none, its properties);
    the ids and numbers written by the json module, as any producer writes them."""
    body = [{"type": "Feature", **({"id": fid} if fid is not None else {}), "properties": properties,
             "geometry": {"type": "Point", "coordinates": [2.35 + i / 100, 48.85]}}
            for i, (fid, properties) in enumerate(features)]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": body}))
    return path


def test_numeric_feature_ids_and_integers_beyond_64_bits_are_kept_as_written(instance, tmp_path):
    """``"id": 12`` was dropped (GDAL makes number ids its feature ids, and alters a repeated
    one), where ``"id": "x12"`` was a field ``id``; ``20000000000000000017`` was read as a double,
    ``20000000000000000000``. Integers of 19 digits or more are text, as in a CSV file."""
    from tests.ingest.test_csv import load, rows

    path = _geojson(tmp_path / "parcelles.geojson", [
        (12, {"nom": "Ambérieu", "reference": 20000000000000000017, "surface": 1.5}),
        (12, {"nom": "Ajaccio", "reference": 7, "surface": 2}),  # a repeated id, kept as written too
        (3, {"nom": "Paris", "reference": None, "surface": 3.25}),
    ])
    result = load(instance, path)
    assert {f.name: f.type for f in result.report.fields} == {
        "id": "int", "nom": "text", "reference": "text", "surface": "double", "geo_shape": "geo_shape",
        "geo_point_2d": "geo_point_2d"}
    assert [(r["id"], r["nom"], r["reference"], r["surface"]) for r in rows(instance, order="ORDER BY surface")] == [
        (12, "Ambérieu", "20000000000000000017", 1.5), (12, "Ajaccio", "7", 2.0), (3, "Paris", None, 3.25)]
    assert "integers of 19 digits or more read as written: reference" in result.report.notes

    # ids of both kinds (the first a number: GDAL dropped them all), and string ids as before
    mixed = read_geo(_geojson(tmp_path / "mixed.geojson", [(12, {"nom": "a"}), ("2A004", {"nom": "b"})]), ReadOptions())
    strings = read_geo(_geojson(tmp_path / "strings.geojson", [("x12", {"nom": "a"}), (None, {"nom": "b"})]),
                       ReadOptions())
    assert mixed.names == strings.names == ["id", "nom", "geo_shape", "geo_point_2d"]
    assert staged(mixed, "SELECT id, nom FROM s") == [("12", "a"), ("2A004", "b")]
    assert staged(strings, "SELECT id, nom FROM s") == [("x12", "a"), (None, "b")]
    # a property called id keeps the name, as it does beside string ids; without ids, no field
    own = read_geo(_geojson(tmp_path / "own.geojson", [(12, {"id": 5, "nom": "a"})]), ReadOptions())
    bare = read_geo(_geojson(tmp_path / "bare.geojson", [(None, {"nom": "a"})]), ReadOptions())
    assert staged(own, "SELECT id, nom FROM s") == [(5, "a")] and bare.names == ["nom", "geo_shape", "geo_point_2d"]


# --- A declared coordinate system the coordinates are not in --------------------------------

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
