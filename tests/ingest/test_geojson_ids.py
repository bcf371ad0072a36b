"""GeoJSON feature ids that first appear late in the file: GDAL makes number ids its own feature
ids (not a field), so the reader reads them from the features; it looked at the first 1,000
features only, and a file whose first numbered feature came after them lost every id. Files
written here as producers write them (features appended over time, ids added later), loaded
through the real loader. Number ids, repeated or beside string ids, and property integers beyond
64 bits are kept as written (GDAL drops or alters them)."""

from __future__ import annotations

import json
from pathlib import Path

from portail.ingest.readers.geo import read_geo
from portail.ingest.types import ReadOptions
from tests.ingest.files import load, rows, staged, types

FIRST_PEEK = 1000  # the features the reader once looked at


def write_features(path: Path, ids: list, properties: list[dict] | None = None) -> Path:
    features = []
    for index, value in enumerate(ids):
        feature = {"type": "Feature", "properties": (properties or [{}] * len(ids))[index] | {"n": index},
                   "geometry": {"type": "Point", "coordinates": [2.35, 48.85]}}
        if value is not None:
            feature["id"] = value
        features.append(feature)
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def test_number_ids_first_seen_after_the_first_thousand_features_are_kept(instance, tmp_path):
    ids = [None] * FIRST_PEEK + list(range(7001, 7301))
    result = load(instance, write_features(tmp_path / "late.geojson", ids))
    assert "feature ids read as the field id" in result.report.notes
    assert types(result)["id"] == "int"
    loaded = rows(instance, order="ORDER BY n")
    assert [r["id"] for r in loaded] == ids


def test_string_ids_then_number_ids_stay_on_their_feature_as_text(instance, tmp_path):
    """GDAL makes string ids a field ``id``; the numbers after them fill it as written."""
    ids = [f"A{i:04d}" for i in range(FIRST_PEEK)] + list(range(1, 201))
    result = load(instance, write_features(tmp_path / "mixed.geojson", ids))
    assert types(result)["id"] == "text"
    assert [r["id"] for r in rows(instance, order="ORDER BY n")] == [str(i) for i in ids]


def test_number_ids_then_string_ids_stay_on_their_feature_as_text(instance, tmp_path):
    ids = list(range(FIRST_PEEK + 200)) + [f"B{i}" for i in range(50)]
    result = load(instance, write_features(tmp_path / "numbers_first.geojson", ids))
    assert types(result)["id"] == "text"
    assert [r["id"] for r in rows(instance, order="ORDER BY n")] == [str(i) for i in ids]


def test_an_id_inside_a_property_object_is_no_feature_id(instance, tmp_path):
    """The member ``id`` the byte scan finds belongs to a property's object: no field ``id``."""
    properties = [{"source": {"id": 5, "nom": "BAN"}}] * (FIRST_PEEK + 10)
    result = load(instance, write_features(tmp_path / "nested.geojson", [None] * (FIRST_PEEK + 10), properties))
    assert "id" not in types(result)
    assert "feature ids read as the field id" not in result.report.notes
    assert json.loads(rows(instance, order="ORDER BY n")[-1]["source"]) == {"id": 5, "nom": "BAN"}


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
