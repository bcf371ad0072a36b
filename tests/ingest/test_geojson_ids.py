"""GeoJSON feature ids that first appear late in the file: GDAL makes number ids its own feature
ids (not a field), so the reader reads them from the features; it looked at the first 1,000
features only, and a file whose first numbered feature came after them lost every id. Files
written here as producers write them (features appended over time, ids added later), loaded
through the real loader."""

from __future__ import annotations

import json
from pathlib import Path

from tests.ingest.test_csv import load, rows, types

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
