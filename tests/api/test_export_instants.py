"""Every export writes an instant and a multivalued text as ``/records`` does
(``values.record_value``): ``datetime.isoformat`` once in the request's zone, and the values
``values.multivalued_list`` splits. Each format is read back (CSV by ``csv``, XLSX by calamine,
GPX and KML by ElementTree, FlatGeobuf and shapefiles by GDAL, Parquet by pyarrow) and compared
cell by cell with the records, on values pyarrow alone wrote otherwise: Paris in the summer of
2038 (past its zone data), Paris before 1911 (an offset in seconds), a fraction on one value of
a column only, multivalued texts holding Unicode spaces, ``\\v`` and information separators."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
import zipfile
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings, strategies as st

from portail.api import create_app
from portail.exports import isotext
from portail.exports.formats import FORMATS, ExportOptions
from portail.schema import Field, FieldType
from portail.values import multivalued_list, record_value
from tests.conftest import Published, published_instance

BASE = "/api/explore/v2.1/catalog/datasets/moments"
PARAMS = {"timezone": "Europe/Paris", "order_by": "nom"}
UTC = timezone.utc
MOMENTS = ("nom;quand;tags;geo_point_2d\n"
           "ete2038;2038-07-01T12:00:00+00:00;x\u00a0|\u2028y|z;48.85,2.35\n"
           "lmt;1900-01-01T00:00:00+00:00;a\x0b|b\x1c|c;48.86,2.36\n"
           "micro;2024-05-01T10:30:00.123456+00:00;p | q;48.87,2.37\n"
           "rond;2024-05-01T10:30:00+00:00;u\u3000|\u202fv\u2029|w;48.88,2.38\n")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("instants")
    moments = folder / "moments.csv"
    moments.write_text(MOMENTS, encoding="utf-8")
    instance = published_instance(folder / "home", Published("moments", moments,
                                                             annotations={"tags": {"multivalued": ["|"]}}))
    yield TestClient(create_app(instance))
    instance.store.close()


@pytest.fixture(scope="module")
def records(client) -> dict[str, dict]:
    """The records as ``/records`` writes them, by name; the texts every export must write."""
    results = client.get(f"{BASE}/records", params=PARAMS).json()["results"]
    assert [r["quand"] for r in results] == ["2038-07-01T14:00:00+02:00", "1900-01-01T00:09:21+00:09:21",
                                             "2024-05-01T12:30:00.123456+02:00", "2024-05-01T12:30:00+02:00"]
    assert [r["tags"] for r in results] == [["x", "y", "z"], ["a", "b", "c"], ["p", "q"], ["u", "v", "w"]]
    return {r["nom"]: r for r in results}


def _expected(records: dict[str, dict]) -> dict[str, tuple[str, str]]:
    """Each record's instant and its values joined by the default ``list_separator``."""
    return {name: (r["quand"], ",".join(r["tags"])) for name, r in records.items()}


def test_csv_writes_the_records_instants_and_values(client, records):
    """Before: ``2038-07-01T13:00:00+01:00``, ``1900-01-01T00:09:21+00:09``,
    ``2024-05-01T12:30:00.000000+02:00`` and ``x\\xa0,\\u2028y,z``."""
    response = client.get(f"{BASE}/exports/csv", params=PARAMS)
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert {row["nom"]: (row["quand"], row["tags"]) for row in rows} == _expected(records)


def test_xlsx_holds_the_records_wall_times_and_values(client, records):
    """A datetime cell holds the wall time the record's text shows (before: 13:00 for 14:00 in the
    summer of 2038); multivalued values joined as the records list them."""
    from python_calamine import CalamineWorkbook

    response = client.get(f"{BASE}/exports/xlsx", params=PARAMS)
    rows = CalamineWorkbook.from_filelike(io.BytesIO(response.content)).get_sheet_by_index(0).to_python()
    header = rows[0]
    for row in rows[1:]:
        cells = dict(zip(header, row))
        record = records[cells["nom"]]
        wall = datetime.fromisoformat(record["quand"]).replace(tzinfo=None)
        assert abs(cells["quand"] - wall) < timedelta(milliseconds=1), cells
        assert cells["tags"] == ",".join(record["tags"])


def test_gpx_extensions_hold_the_records_instants_and_values(client, records):
    response = client.get(f"{BASE}/exports/gpx", params=PARAMS)
    ogr = "{http://osgeo.org/gdal}"
    written = {}
    for point in ET.fromstring(response.content).iter("{http://www.topografix.com/GPX/1/1}wpt"):
        extensions = {e.tag.removeprefix(ogr): e.text for e in point.iter() if e.tag.startswith(ogr)}
        written[extensions["nom"]] = (extensions["quand"], extensions["tags"])
    assert written == _expected(records)


def test_kml_holds_the_records_instants_and_values(client, records):
    response = client.get(f"{BASE}/exports/kml", params=PARAMS)
    kml = "{http://www.opengis.net/kml/2.2}"
    written = {}
    for placemark in ET.fromstring(response.content).iter(f"{kml}Placemark"):
        data = {d.get("name"): d.text for d in placemark.iter(f"{kml}SimpleData")}
        written[data["nom"]] = (data["quand"], data["tags"])
    assert written == _expected(records)


@pytest.mark.parametrize("fmt", ["fgb", "shp"])
def test_gdal_formats_hold_the_records_instants_and_values(client, records, fmt, tmp_path):
    import pyogrio

    response = client.get(f"{BASE}/exports/{fmt}", params=PARAMS)
    if fmt == "shp":
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            archive.extractall(tmp_path)
        path = next(tmp_path.glob("*.shp"))
    else:
        path = tmp_path / "moments.fgb"
        path.write_bytes(response.content)
    table = pyogrio.read_arrow(path)[1]
    written = {n: (q, t) for n, q, t in zip(*(table.column(c).to_pylist() for c in ("nom", "quand", "tags")))}
    assert written == _expected(records)


def test_parquet_lists_the_records_values(client, records):
    """Parquet keeps its timestamps (the same instants); its lists are the records' (before:
    ``['x\\xa0', '\\u2028y', 'z']``)."""
    response = client.get(f"{BASE}/exports/parquet", params=PARAMS)
    table = pq.read_table(io.BytesIO(response.content))
    for name, moment, tags in zip(*(table.column(c).to_pylist() for c in ("nom", "quand", "tags"))):
        assert tags == records[name]["tags"]
        assert moment == datetime.fromisoformat(records[name]["quand"])


# -- batches written directly, against record_value -----------------------------------------------
INSTANT = Field("quand", "Quand", FieldType.DATETIME)
TAGS = Field("tags", "Tags", annotations={"multivalued": [";"]})
ZONES = ["UTC", "Europe/Paris", "America/Sao_Paulo", "Asia/Kathmandu", "Africa/Monrovia", "Pacific/Chatham"]


def _csv_cells(fields: list[Field], batches: list[pa.RecordBatch], zone_name: str) -> list[list[str]]:
    options = ExportOptions(timezone=zone_name, with_bom=False)
    text = b"".join(FORMATS["csv"].write(fields, iter(batches), options)).decode()
    return list(csv.reader(io.StringIO(text), delimiter=";"))[1:]


def _reference(fields: list[Field], batches: list[pa.RecordBatch], zone_name: str) -> list[list[str]]:
    tz = ZoneInfo(zone_name)
    rows = []
    for batch in batches:
        for row in zip(*(column.to_pylist() for column in batch.columns)):
            values = [record_value(f, v, tz) for f, v in zip(fields, row)]
            rows.append(["" if v is None else ",".join(v) if isinstance(v, list) else v for v in values])
    return rows


EDGES = pa.RecordBatch.from_pydict({
    "quand": pa.array([datetime(2038, 7, 1, 12, tzinfo=UTC), datetime(1850, 1, 1, tzinfo=UTC),
                       datetime(2024, 5, 1, 10, 30, tzinfo=UTC), datetime(2024, 5, 1, 10, 30, 0, 5, tzinfo=UTC), None,
                       datetime(2100, 1, 15, 6, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
    "tags": [" a ; b;c ", None, "x\u00a0; y", "\x0b;z", "un\u2028;deux\x1f", "u\u3000;\u202fv"]})


@pytest.mark.parametrize("zone_name", ZONES)
def test_csv_of_edge_batches_is_record_value(zone_name):
    """Cut batches: 2038 and 2100 past pyarrow's zone data, 1850's local mean times, a fraction
    in one value of a batch only, whitespace RE2 does not read as Python does."""
    fields = [INSTANT, TAGS]
    batches = [EDGES.slice(0, 3), EDGES.slice(3)]
    assert _csv_cells(fields, batches, zone_name) == _reference(fields, batches, zone_name)


INSTANTS = st.datetimes(min_value=datetime(1, 1, 3), max_value=datetime(9999, 12, 29), timezones=st.just(UTC)) | \
    st.sampled_from([datetime(2038, 7, 1, 12, tzinfo=UTC), datetime(1900, 6, 1, tzinfo=UTC),
                     datetime(2024, 3, 31, 1, 0, 0, 1, tzinfo=UTC)])
TEXTS = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=10) | st.sampled_from(
    [" a ; b ", "x\u3000;y", "a\x1c;b", ";;", "\x0b", "a\u2028"])


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.none() | INSTANTS, max_size=6), st.lists(st.none() | TEXTS, min_size=6, max_size=6),
       st.sampled_from(ZONES))
def test_random_instants_and_lists_are_record_value(moments, texts, zone_name):
    """Instants anywhere in Python's years and texts of any characters: the one writer
    (``isotext``) gives ``record_value``'s text and lists, whatever the zone."""
    tz = ZoneInfo(zone_name)
    array = pa.array(moments, pa.timestamp("us", tz="UTC"))
    assert isotext.instants(array, tz).to_pylist() == [None if m is None else record_value(INSTANT, m, tz)
                                                        for m in moments]
    walls = isotext.wall_times(array, tz).to_pylist()
    assert walls == [None if m is None else datetime.fromisoformat(record_value(INSTANT, m, tz)).replace(tzinfo=None)
                     for m in moments]
    for annotation in ([";"], [], [" "]):
        lists = isotext.multivalued_lists(pa.array(texts, pa.string()), annotation).to_pylist()
        assert lists == [None if t is None else multivalued_list(t, annotation) for t in texts]
        for separator in (",", "\\1"):
            joined = isotext.multivalued_joined(pa.array(texts, pa.string()), annotation, separator).to_pylist()
            assert joined == [None if t is None else separator.join(multivalued_list(t, annotation)) for t in texts]


def test_naive_timestamps_are_written_without_an_offset_as_the_records_are():
    """A timestamp without a zone (the store holds none: a datetime field is a TIMESTAMPTZ, but a
    writer may be handed one) is written as ``record_value`` writes it, without an offset, in
    CSV as in JSON (before: CSV added ``+00:00``)."""
    fields = [INSTANT]
    batch = pa.RecordBatch.from_pydict({"quand": pa.array([datetime(2024, 5, 1, 12), datetime(2024, 5, 1, 12, 0, 0, 7)],
                                                         pa.timestamp("us"))})
    assert _csv_cells(fields, [batch], "Europe/Paris") == _reference(fields, [batch], "Europe/Paris") == [
        ["2024-05-01T12:00:00"], ["2024-05-01T12:00:00.000007"]]


def test_plain_instants_go_without_python_per_cell(monkeypatch):
    """Instants of the years pyarrow's zone data covers (to 2037), local mean times in seconds
    included (Paris before 1911), are written by pyarrow, their few offsets once by Python:
    ``record_value`` is not called once (the speed of CSV)."""
    calls = []
    monkeypatch.setattr(isotext, "record_value", lambda *args: calls.append(args) or record_value(*args))
    array = pa.array([datetime(1850 + i % 180, 1 + i % 12, 1, i % 24, tzinfo=UTC) for i in range(1000)],
                     pa.timestamp("us", tz="UTC"))
    isotext.instants(array, ZoneInfo("Europe/Paris"))
    isotext.wall_times(array, ZoneInfo("Europe/Paris"))
    assert calls == []
