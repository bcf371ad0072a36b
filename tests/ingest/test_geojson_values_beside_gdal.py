"""GeoJSON values read beside GDAL (numeric feature ids, integers of 19 digits or more, which GDAL
would round): each stays on its own feature when GDAL skips elements of ``features`` (``null``,
``{}``, a bare geometry: every later feature got the value of the one before it), only the values
wanted are held, not a batch of decoded features with their coordinates (3x the memory), and the
keys of long integers are found by one scan (a regular expression over the 1,000 bytes before
each took 35 s for a 54 MB file of 300,000 such integers)."""

from __future__ import annotations

import json
import math
import tracemalloc
from pathlib import Path

import duckdb

from portail.ingest.readers.geo import _long_integer_keys, read_geo
from portail.ingest.types import ReadOptions
from tests.ingest.files import staged


def _feature(fid: object, properties: dict, geometry: dict | None = None) -> dict:
    point = {"type": "Point", "coordinates": [2.35, 48.85]}
    return {"type": "Feature", "id": fid, "properties": properties, "geometry": geometry or point}


def _collection(path: Path, features: list) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def test_values_read_beside_gdal_stay_on_their_feature_when_gdal_skips_elements(tmp_path):
    """GDAL reads the objects of type Feature and skips anything else in ``features``."""
    path = _collection(tmp_path / "parcelles.geojson", [
        _feature(1, {"nom": "a", "ref": 10000000000000000001}),
        None, {}, {"type": "Point", "coordinates": [1, 2]}, {"properties": {"nom": "untyped"}},
        _feature(2, {"nom": "b", "ref": 7}),
        _feature(3, {"nom": "c", "ref": 10000000000000000003}),
    ])
    raw = read_geo(path, ReadOptions())
    assert staged(raw, "SELECT id, nom, ref FROM s") == [
        ("1", "a", "10000000000000000001"), ("2", "b", "7"), ("3", "c", "10000000000000000003")]


def test_values_read_beside_gdal_do_not_hold_the_decoded_features(tmp_path):
    """Only the values wanted are kept, not a batch of features with their coordinates."""
    ring = [[2 + math.cos(k / 40) / 100, 48 + math.sin(k / 40) / 100] for k in range(250)]
    polygon = {"type": "Polygon", "coordinates": [ring + ring[:1]]}
    path = _collection(tmp_path / "communes.geojson", [_feature(i, {"nom": f"c{i}"}, polygon) for i in range(300)])
    raw = read_geo(path, ReadOptions())
    con = duckdb.connect()
    tracemalloc.start()
    try:
        raw.stage(con, "s")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert con.execute("SELECT count(*), count(id), min(id::INT), max(id::INT) FROM s").fetchone() == (300, 300, 0, 299)
    assert peak < 11 * 2**20, peak  # 16 MB held before, 7 MB now (the reading buffer mostly)


def test_the_keys_of_long_integers_are_found_exactly(tmp_path):
    """The keys found by the scan over 40,000 long integers, quotes and backslashes in them; a
    colon inside a string value names no key. (The scan's speed, 35 s for a 54 MB file before
    the keys were read backwards, is not timed here: tests assert no durations.)"""
    features = [_feature(None, {"ref": 10**20 + i, 'a "quoted" \\ key': -(10**19) - i, "note": f"x: {10**25}",
                                "small": 123456789012345678})
                for i in range(20_000)]
    path = _collection(tmp_path / "long.geojson", features)
    assert _long_integer_keys(path) == {"ref", 'a "quoted" \\ key'}
