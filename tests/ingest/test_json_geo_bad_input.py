"""Bad or ambiguous input in JSON, GeoJSON and Parquet files, loaded through the real loader
into real version files: refused with the file and the feature or line named (and the served
version kept), or read with a note saying what was decided."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from portail.catalog import services
from portail.ingest.errors import IngestError
from tests.ingest.files import POINT, geojson, load


def rows(instance, slug: str = "ds", columns: str = "*") -> list[dict]:
    with instance.session() as session:
        location = services.get_dataset(session, slug).current.location
    return instance.store.query(location, f"SELECT {columns} FROM records").to_pylist()


def assert_refused_and_served_version_kept(instance, tmp_path: Path, bad: Path,
                                           good: tuple[dict, dict | None] = ({"n": 1}, POINT)) -> IngestError:
    """Load a file of one ``good`` feature, then ``bad``: the error names ``bad`` and version 1 stays served."""
    load(instance, geojson(tmp_path / "good.geojson", [good]))
    with pytest.raises(IngestError) as caught:
        load(instance, bad)
    with instance.session() as session:
        dataset = services.get_dataset(session, "ds")
        assert dataset.current_version == 1 and dataset.version(2).status == "failed"
    assert rows(instance, columns="n") == [{"n": 1}]
    assert str(caught.value).startswith(bad.name)
    return caught.value


def test_string_coordinates_are_refused_naming_the_feature_and_the_geometry(instance, tmp_path):
    """GDAL read ["2.35", "48.85"] as a null geometry; its message only reached stderr."""
    bad = geojson(tmp_path / "strings.geojson", [({"n": 1}, POINT), ({"n": 2}, POINT),
                                                 ({"n": 3}, {"type": "Point", "coordinates": ["2.35", "48.85"]})])
    # A feature without geometry ("geometry": null, also null from GDAL) is no error: version 1 has one.
    error = assert_refused_and_served_version_kept(instance, tmp_path, bad, good=({"n": 1}, None))
    assert error.source == "strings.geojson" and error.field == "geo_shape"
    assert error.message.startswith("feature 3: unreadable geometry (invalid 'x' coordinate")


@pytest.mark.parametrize("ring", [
    [[2, 48], [3, 48], [2, 48]],  # three positions
    [[2, 48], [2, 48], [2, 48], [2, 48]],  # one point repeated
])
def test_a_degenerate_polygon_is_refused_naming_the_feature(instance, tmp_path, ring):
    square = {"type": "Polygon", "coordinates": [[[2, 48], [3, 48], [3, 49], [2, 49], [2, 48]]]}
    bad = geojson(tmp_path / "degenerate.geojson", [
        ({"n": 1}, square), ({"n": 2}, {"type": "MultiPolygon", "coordinates": [square["coordinates"], [ring]]})])
    error = assert_refused_and_served_version_kept(instance, tmp_path, bad)
    assert error.field == "geo_shape" and error.message.startswith("feature 2: degenerate polygon")


@pytest.mark.parametrize("empty", [{"type": "Polygon", "coordinates": []}, {"type": "MultiPolygon", "coordinates": []}])
def test_an_empty_polygon_still_loads(instance, tmp_path, empty):
    """The degenerate-polygon check indexed nothing with a mask of one (a review found the file
    refused with numpy's words); an empty polygon loaded before it and still does."""
    path = geojson(tmp_path / "empty.geojson", [({"n": 1}, empty), ({"n": 2}, empty)])
    assert load(instance, path).version == 1


def test_a_geojson_property_mixing_strings_and_numbers_is_text_keeping_leading_zeros(instance, tmp_path):
    """GDAL typed it JSON: the API answered "01001" with its quotes and 1001 as a number."""
    path = geojson(tmp_path / "communes.geojson", [({"commune": "01001", "tags": {"a": 1}}, POINT),
                                                   ({"commune": 1001, "tags": "x"}, POINT)])
    result = load(instance, path)
    fields = {f.name: f for f in result.report.fields}
    assert fields["commune"].type == "text" and "leading zeros: kept as text" in fields["commune"].notes
    assert fields["tags"].type == "json"  # a property holding an object stays JSON
    assert "strings and numbers mixed, read as text: commune" in result.report.notes
    assert rows(instance, columns="commune") == [{"commune": "01001"}, {"commune": "1001"}]


@pytest.mark.parametrize("body, line", [('{"a": 1},\n{"a": 2}\n', 1), ('{"a": 1}\n{"a": 2} ,\n', 2),
                                        ('\ufeff{"a": 1},\n{"a": 2}\n', 1)])  # with a BOM: the same message
def test_a_jsonl_line_ending_with_a_comma_is_refused_naming_the_line(instance, tmp_path, body, line):
    path = tmp_path / "trailing.jsonl"
    path.write_text(body)
    with pytest.raises(IngestError) as caught:
        load(instance, path)
    assert (caught.value.source, caught.value.line) == ("trailing.jsonl", line)
    assert caught.value.message.startswith("a comma after the object")


def test_a_parquet_decimal_column_is_read_as_double_with_a_note(instance, tmp_path):
    path = tmp_path / "montants.parquet"
    pq.write_table(pa.table({"montant": pa.array([Decimal("1234.50"), Decimal("0.10")], pa.decimal128(38, 2)),
                             "n": [1, 2]}), path)
    result = load(instance, path)
    assert {f.name: f.type for f in result.report.fields} == {"montant": "double", "n": "int"}
    assert "decimal numbers read as double (15 significant digits): montant (decimal(38,2))" in result.report.notes
    assert rows(instance, columns="montant") == [{"montant": 1234.5}, {"montant": 0.1}]
