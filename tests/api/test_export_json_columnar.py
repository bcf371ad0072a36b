"""The JSON family's exports written column by column (``exports.jsontext``) are the bytes the
record-by-record writer wrote: ``json.dumps`` of each record's ``record_value`` dict, which
this file re-implements as the reference, on hand-made edge values, random batches and the
reference datasets' real exports."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import date, datetime, time, timezone
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings, strategies as st

from portail.api import create_app
from portail.api import explore_service as es
from portail.exports import jsontext
from portail.exports.formats import ExportOptions, write_geojson, write_json, write_jsonl
from portail.exports.waypoints import geometry_field
from portail.schema import Field, FieldType
from portail.values import record_value
from tests.conftest import Published, logements_file, published_instance

WRITERS = {"json": write_json, "jsonl": write_jsonl, "geojson": write_geojson}
POINT = pa.struct([("lon", pa.float64()), ("lat", pa.float64())])
UTC = timezone.utc
ZONES = ["UTC", "Europe/Paris", "America/Sao_Paulo", "Asia/Kathmandu", "Africa/Monrovia", "Pacific/Chatham"]


# -- the reference: one record at a time, as the exports were written ------------------------------
def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


def _keys(fields: list[Field], use_labels: bool) -> list[str]:
    from portail.exports.formats import unique_labels

    return unique_labels(fields) if use_labels else [f.name for f in fields]


def _records(fields: list[Field], batches: list[pa.RecordBatch], options: ExportOptions, use_labels: bool):
    from portail.odsql.literals import zone

    keys, tz = _keys(fields, use_labels), zone(options.timezone)
    for batch in batches:
        for row in zip(*(batch.column(i).to_pylist() for i in range(len(fields)))):
            yield {k: record_value(f, v, tz) for k, f, v in zip(keys, fields, row)}


def reference(fmt: str, fields: list[Field], batches: list[pa.RecordBatch], options: ExportOptions) -> bytes:
    if fmt == "json":
        return ("[" + ",".join(_dumps(r) for r in _records(fields, batches, options, options.use_labels)) + "]").encode()
    if fmt == "jsonl":
        return "".join(_dumps(r) + "\n" for r in _records(fields, batches, options, options.use_labels)).encode()
    if options.epoch_datetimes:  # v2.0: datetimes as integer milliseconds
        moments = [i for i, f in enumerate(fields) if f.type == FieldType.DATETIME]
        batches = [pa.RecordBatch.from_arrays(
            [pc.cast(pc.cast(a, pa.timestamp("ms", tz=a.type.tz), safe=False), pa.int64()) if i in moments else a
             for i, a in enumerate(b.columns)], names=b.schema.names) for b in batches]
        fields = [replace(f, type=FieldType.INT) if i in moments else f for i, f in enumerate(fields)]
    geo, keys = geometry_field(fields), _keys(fields, options.use_labels)
    features = []
    for record in _records(fields, batches, options, False):
        value = record.get(geo.name) if geo else None
        geometry = None if value is None else value["geometry"] if geo.type == FieldType.GEO_SHAPE \
            else {"type": "Point", "coordinates": [value["lon"], value["lat"]]}
        properties = {k: record[f.name] for k, f in zip(keys, fields) if f is not geo}
        features.append(_dumps({"type": "Feature", "geometry": geometry, "properties": properties}))
    return ('{"type":"FeatureCollection","features":[' + ",".join(features) + "]}").encode()


def written(fmt: str, fields: list[Field], batches: list[pa.RecordBatch], options: ExportOptions) -> bytes:
    return b"".join(WRITERS[fmt](fields, iter(batches), options))


# -- hand-made edge values ----------------------------------------------------------------------
FIELDS = [Field("texte", "Texte"), Field("entier", "Entier", FieldType.INT), Field("reel", "Réel", FieldType.DOUBLE),
          Field("oui", "Oui", FieldType.BOOLEAN), Field("jour", "Jour", FieldType.DATE),
          Field("instant", "Instant", FieldType.DATETIME), Field("point", "Point", FieldType.GEO_POINT_2D),
          Field("forme", "Forme", FieldType.GEO_SHAPE), Field("doc", "Doc", FieldType.JSON),
          Field("fichier", "Fichier", FieldType.FILE), Field("tags", "Texte", annotations={"multivalued": [";"]}),
          Field("heure", "Heure")]
EDGES = pa.RecordBatch.from_pydict({
    "texte": ["plain", 'q"b\\s/', "line\nfeed\ttab\r\x00\x1f\x7f", "é 😀 \u2028\u2029", "", None],
    "entier": [0, -1, 2 ** 63 - 1, -2 ** 63, None, 42],
    "reel": [0.1, -0.0, 1e16, 9.999e-05, 5.0, None],
    "oui": [True, False, None, True, False, True],
    "jour": [date(2024, 2, 29), date(1, 1, 1), date(999, 12, 31), date(9999, 12, 31), None, date(1970, 1, 1)],
    "instant": pa.array([datetime(2024, 5, 1, 10, 30, tzinfo=UTC), datetime(2024, 5, 1, 10, 30, 0, 5, tzinfo=UTC),
                         datetime(1850, 1, 1, tzinfo=UTC), datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), None,
                         datetime(2038, 7, 1, 12, 0, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
    "point": pa.array([{"lon": 2.3522, "lat": 48.8566}, None, {"lon": None, "lat": None}, {"lon": 1e-07, "lat": -0.0},
                       {"lon": 3.0, "lat": None}, {"lon": -180.0, "lat": 90.0}], POINT),
    "forme": ['{"type": "Point", "coordinates": [1.0, 2]}', None, "null",
              '{"type":"LineString","coordinates":[[1.00000000000000001,2],[3,4e-7]]}', None,
              '{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}'],
    "doc": ['{"a": [1, 2.50, "x"], "b": {"é": null}}', None, '"s"', "1e400", '{"k": NaN}', "[]"],
    "fichier": ['{"id": "abc", "filename": "a.pdf"}', None, None, None, None, "{}"],
    "tags": [" a ; b;c ", None, "", "x\u00a0; y", "\x0b;z", "un\n;deux"],
    "heure": pa.array([time(1, 2, 3), None, time(0, 0), time(23, 59, 59, 5), None, time(12)], pa.time64("us")),
})


@pytest.mark.parametrize("fmt", sorted(WRITERS))
@pytest.mark.parametrize("zone_name", ZONES)
@pytest.mark.parametrize("use_labels", [False, True])
def test_edge_values_are_the_record_writer_bytes(fmt, zone_name, use_labels):
    """Escapes, control characters, -0.0, exponents, historical offsets in seconds (Paris before
    1911: ``+00:09:21``), summer time past pyarrow's zone data (2038), points without a latitude, shapes and json re-written, multivalued
    texts with Unicode spaces, an unknown type (time): all as the record writer wrote them,
    batches cut anywhere."""
    options = ExportOptions(use_labels=use_labels, timezone=zone_name, epoch_datetimes=fmt == "geojson" and use_labels)
    batches = [EDGES.slice(0, 2), EDGES.slice(2, 0), EDGES.slice(2)]
    assert written(fmt, FIELDS, batches, options) == reference(fmt, FIELDS, batches, options)


def test_nan_and_infinity_are_null():
    """JSON has no NaN or infinity (Python's encoder wrote ``NaN`` and ``Infinity``, which no
    strict reader takes): they are null, as on ``/records``."""
    fields = [Field("x", "x", FieldType.DOUBLE)]
    batch = pa.RecordBatch.from_pydict({"x": [math.nan, math.inf, -math.inf, 1.0]})
    assert written("jsonl", fields, [batch], ExportOptions()) == b'{"x":null}\n{"x":null}\n{"x":null}\n{"x":1.0}\n'


def test_no_record_at_all():
    options = ExportOptions()
    empty = [pa.RecordBatch.from_pydict({"texte": pa.array([], pa.string())})]
    fields = FIELDS[:1]
    assert [written(fmt, fields, empty, options) for fmt in ("json", "jsonl")] == [b"[]", b""]
    assert written("json", fields, [], options) == b"[]"
    point = [Field("p", "p", FieldType.GEO_POINT_2D)]
    assert written("geojson", point, [], options) == b'{"type":"FeatureCollection","features":[]}'


def test_plain_columns_go_without_python_per_cell(monkeypatch):
    """Texts, numbers, booleans, dates, datetimes and points of ordinary values are written by
    pyarrow: ``record_value`` is not called once (it was, for every cell: the export's cost)."""
    calls = []
    monkeypatch.setattr(jsontext, "record_value", lambda *args: calls.append(args) or record_value(*args))
    plain = FIELDS[:7]
    batch = pa.RecordBatch.from_pydict({
        "texte": ["a", 'b"\\é'], "entier": [1, None], "reel": [0.1, -2.0], "oui": [True, None],
        "jour": [date(2024, 1, 2), None], "instant": pa.array([datetime(2024, 5, 1, tzinfo=UTC), None], pa.timestamp("us", tz="UTC")),
        "point": pa.array([{"lon": 2.35, "lat": 48.85}, None], POINT)})
    for fmt in WRITERS:
        written(fmt, plain, [batch], ExportOptions(timezone="Europe/Paris"))
    assert calls == []


# -- random batches -----------------------------------------------------------------------------
TEXTS = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=10) | st.sampled_from(
    [" a ; b ", "x\u3000;y", "a\x1c;b", ";;", '"\\', "\n"])
FLOATS = st.floats() | st.sampled_from([0.0, -0.0, 1e16, 1e-4, 9.999e-05, 1e15, 0.1, 5e-324])
INSTANTS = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC))
COLUMNS = {
    "t": (Field("t", "T"), pa.string(), TEXTS),
    "i": (Field("i", "I", FieldType.INT), pa.int64(), st.integers(-2 ** 63, 2 ** 63 - 1)),
    "u": (Field("u", "U", FieldType.INT), pa.uint64(), st.integers(0, 2 ** 64 - 1)),
    "d": (Field("d", "D", FieldType.DOUBLE), pa.float64(), FLOATS),
    "f": (Field("f", "F", FieldType.DOUBLE), pa.float32(), st.floats(width=32)),
    "b": (Field("b", "B", FieldType.BOOLEAN), pa.bool_(), st.booleans()),
    "day": (Field("day", "Day", FieldType.DATE), pa.date32(), st.dates()),
    "at": (Field("at", "At", FieldType.DATETIME), pa.timestamp("us", tz="UTC"), INSTANTS),
    "naive": (Field("naive", "Naive", FieldType.DATETIME), pa.timestamp("us"), st.datetimes()),
    "p": (Field("p", "P", FieldType.GEO_POINT_2D), POINT,
          st.fixed_dictionaries({"lon": st.none() | FLOATS, "lat": st.none() | FLOATS})),
    "s": (Field("s", "S", FieldType.GEO_SHAPE), pa.string(),
          st.lists(st.tuples(st.floats(allow_nan=False, allow_infinity=False), st.integers()), min_size=1, max_size=3)
          .map(lambda cs: json.dumps({"type": "LineString", "coordinates": cs}))),
    "j": (Field("j", "J", FieldType.JSON), pa.string(), st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXTS,
        lambda c: st.lists(c, max_size=3) | st.dictionaries(TEXTS, c, max_size=3), max_leaves=5).map(json.dumps)),
    "m": (Field("m", "T", annotations={"multivalued": [";"]}), pa.string(), TEXTS),
    "m0": (Field("m0", "M0", annotations={"multivalued": []}), pa.string(), TEXTS),
    "ms": (Field("ms", "MS", annotations={"multivalued": [" "]}), pa.string(), TEXTS),
    "l": (Field("l", "L"), pa.list_(pa.int64()), st.lists(st.integers(-5, 5), max_size=3)),
}


@st.composite
def batches(draw):
    names = draw(st.lists(st.sampled_from(sorted(COLUMNS)), min_size=1, max_size=6, unique=True))
    rows = draw(st.integers(0, 5))
    fields = [COLUMNS[n][0] for n in names]
    arrays = [pa.array([draw(st.none() | COLUMNS[n][2]) for _ in range(rows)], COLUMNS[n][1]) for n in names]
    batch, cut = pa.RecordBatch.from_arrays(arrays, names=names), draw(st.integers(0, rows))
    return fields, [batch.slice(0, cut), batch.slice(cut)]


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(batches(), st.sampled_from(ZONES), st.booleans(), st.booleans(), st.sampled_from(sorted(WRITERS)))
def test_random_batches_are_the_record_writer_bytes(drawn, zone_name, use_labels, epoch, fmt):
    fields, parts = drawn
    options = ExportOptions(use_labels=use_labels, timezone=zone_name, epoch_datetimes=epoch)
    try:
        expected = reference(fmt, fields, parts, options)
    except (ValueError, OverflowError):  # Python cannot hold the value: the export fails as it did
        with pytest.raises((ValueError, OverflowError)):
            written(fmt, fields, parts, options)
        return
    assert written(fmt, fields, parts, options) == expected


# -- the reference datasets, through the API ----------------------------------------------------
@pytest.fixture(scope="module")
def instance(tmp_path_factory, refdata):
    folder = tmp_path_factory.mktemp("columnar")
    events = folder / "events.csv"
    events.write_text("nom;tags;quand;jour;mesure;lieu\n"
                      'a "b";x | y|z;2024-03-31T01:30:00+00:00;2024-03-01;0.1;48.85,2.35\n'
                      "c\\d;;1900-01-01T00:00:00+00:00;1900-01-01;-0.0;\n"
                      "é;solo;2038-07-01T12:00:00+00:00;;1e20;-12.5,170\n")
    instance = published_instance(folder / "home", Published("logements", logements_file(refdata)),
                                  Published("regions", refdata / "geo" / "regions.geojson"),
                                  Published("events", events, annotations={"tags": {"multivalued": ["|"]}},
                                            labels={"nom": "Nom", "tags": "Nom"}))
    yield instance
    instance.store.close()


@pytest.mark.parametrize("slug", ["logements", "regions", "events"])
@pytest.mark.parametrize("fmt", sorted(WRITERS))
@pytest.mark.parametrize("params", [{}, {"timezone": "Europe/Paris", "use_labels": "true"}])
def test_real_exports_are_the_record_writer_bytes(instance, slug, fmt, params):
    """The API's export of each reference dataset, byte for byte the reference writer's on the
    engine's own batches; read back by ``json`` as the records ``/records`` returns."""
    dataset = es.get_visible_dataset(instance, "public", slug)
    response = TestClient(create_app(instance)).get(f"/api/explore/v2.1/catalog/datasets/{slug}/exports/{fmt}",
                                                     params=params)
    if fmt == "geojson" and slug == "events":  # no geometry: no GeoJSON
        assert response.status_code == 400
        return
    _, fields, engine, _ = es.export_batches(instance, dataset, fmt, timezone=params.get("timezone", "UTC"))
    options = ExportOptions(use_labels="use_labels" in params, timezone=params.get("timezone", "UTC"))
    expected = reference(fmt, fields, list(engine), options)
    assert response.status_code == 200 and response.content == expected
    if fmt == "json" and not params:
        records = TestClient(create_app(instance)).get(f"/api/explore/v2.1/catalog/datasets/{slug}/records",
                                                        params={"limit": 20}).json()["results"]
        assert json.loads(response.content)[:20] == records


def test_a_parquet_files_nan_reads_as_null_on_records_and_exports(tmp_path):
    """pandas writes a missing float as NaN in Parquet: /records answered 500 (the encoder refused
    NaN), the JSON export wrote ``NaN``. Both write null; an aggregate over them too."""
    import pyarrow.parquet as pq

    source = tmp_path / "mesures.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3, 4], "x": [1.5, math.nan, math.inf, -math.inf]}), source)
    instance = published_instance(tmp_path / "home", Published("mesures", source))
    try:
        client = TestClient(create_app(instance))
        base = "/api/explore/v2.1/catalog/datasets/mesures"
        page = client.get(f"{base}/records", params={"order_by": "id"})
        assert page.status_code == 200, page.text
        assert [r["x"] for r in page.json()["results"]] == [1.5, None, None, None]
        assert client.get(f"{base}/records", params={"select": "avg(x) as m"}).json()["results"] == [{"m": None}]
        assert [r["x"] for r in json.loads(client.get(f"{base}/exports/json", params={"order_by": "id"}).content)] \
            == [1.5, None, None, None]
        v1 = client.get("/api/records/1.0/search/", params={"dataset": "mesures", "sort": "-id"})
        assert v1.status_code == 200 and [r["fields"].get("x") for r in v1.json()["records"]] == [1.5, None, None, None]
    finally:
        instance.store.close()
