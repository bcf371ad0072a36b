"""Exports read back by readers independent of ours (icalendar, rdflib, GDAL through pyogrio,
calamine), on one small dataset holding what broke them: a multivalued field, labels beyond a
DBF name's 10 bytes (``€``, two accented labels alike once cut), integers beyond 2**53 and
beyond Excel's 15 digits, dates before 1900."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime

import icalendar
import pyogrio
import pytest
import rdflib
from fastapi.testclient import TestClient
from python_calamine import CalamineWorkbook

from portail.api import create_app
from portail.catalog import services
from portail.operations import load_file
from tests.conftest import make_instance

API = "/api/explore/v2.1/catalog/datasets/lieux/exports/"
BIG = 9007199254740993  # 2**53 + 1: a double holds 2**53
HUGE = 1234567890123456789  # 19 digits: Excel keeps 15
LIEUX_CSV = f"""id;nom;tags;montant;hauteur_moyenne;hauteur_maximale;grand;enorme;jour;instant;geo_point_2d
1;Moulin;ancien|classé;12;1.5;3.5;{BIG};{HUGE};1850-06-01;1890-05-01T12:00:00+00:00;48.85,2.35
2;Lavoir;public;7;2.5;4.5;-42;-{HUGE};1900-03-01;1900-02-28T12:00:00+00:00;43.3,5.37
3;Halle;;3;0.5;1.5;42;5;2024-03-01;2024-03-01T12:00:00+00:00;45.76,4.83
"""


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("readback")
    (folder / "lieux.csv").write_text(LIEUX_CSV, encoding="utf-8")
    instance = make_instance(folder / "home")
    with instance.session() as session:  # as published_instance, with a type the publisher chose
        dataset = services.create_dataset(session, "lieux", "Lieux")
        services.set_field_override(session, dataset, "tags", annotations={"multivalued": ["|"]})
        services.set_field_override(session, dataset, "enorme", type="int")  # 19 digits: else a code
        for name, label in {"montant": "Montant (€)", "hauteur_moyenne": "Élévation moyenne",
                            "hauteur_maximale": "Élévation maximale"}.items():
            services.set_field_override(session, dataset, name, label=label)
    load_file(instance, "lieux", folder / "lieux.csv", publish=True)
    yield TestClient(create_app(instance))
    instance.store.close()


def _get(client, fmt: str, **params) -> bytes:
    response = client.get(API + fmt, params=params)
    assert response.status_code == 200, response.text
    return response.content


def test_ical_with_a_multivalued_field_writes_every_event(client):
    """The record ids iCalendar asks came as an extra column, which joining the multivalued
    texts dropped: the calendar stopped after its header."""
    body = _get(client, "ical", name_field="nom", description_field_list="tags")
    assert body.rstrip().endswith(b"END:VCALENDAR")
    events = list(icalendar.Calendar.from_ical(body).walk("VEVENT"))
    assert sorted(str(e["SUMMARY"]) for e in events) == ["Halle", "Lavoir", "Moulin"]
    assert len({str(e["UID"]) for e in events}) == 3
    moulin = next(e for e in events if str(e["SUMMARY"]) == "Moulin")
    assert "ancien,classé" in str(moulin["DESCRIPTION"])


@pytest.mark.parametrize("fmt, syntax", [("n3", "nt"), ("turtle", "turtle"), ("rdfxml", "xml"), ("jsonld", "json-ld")])
def test_rdf_with_a_multivalued_field_names_every_record(client, fmt, syntax):
    graph = rdflib.Graph().parse(data=_get(client, fmt), format=syntax)
    subjects = {s for s in graph.subjects() if isinstance(s, rdflib.URIRef)}
    assert len(subjects) >= 3
    assert {str(o) for o in graph.objects() if isinstance(o, rdflib.Literal)} >= {"Moulin", "ancien", "classé"}


def _shapefile(client, tmp_path, **params):
    zipfile.ZipFile(io.BytesIO(_get(client, "shp", **params))).extractall(tmp_path)
    return pyogrio.read_dataframe(next(tmp_path.glob("*.shp")))


def test_shapefile_labels_are_cut_at_ten_bytes_on_a_character_and_stay_apart(client, tmp_path):
    """DBF names hold 10 bytes: ``Montant (€)`` cut at 10 characters ended mid-``€`` and GDAL
    could not open the file; the accented labels, recut by GDAL, lost their ``_2``."""
    frame = _shapefile(client, tmp_path, use_labels="true", order_by="id")
    assert all(len(name.encode()) <= 10 for name in frame.columns)
    assert frame["Montant ("].tolist() == [12, 7, 3]
    assert frame["Élévatio"].tolist() == [1.5, 2.5, 0.5]
    assert frame["Élévat_2"].tolist() == [3.5, 4.5, 1.5]


@pytest.mark.parametrize("fmt", ["kml", "fgb", "shp"])
def test_integers_beyond_two_to_the_53_are_kept_by_gdal_formats(client, tmp_path, fmt):
    """KML has no 64-bit integer: the column was cast to float64, which refused 2**53 + 1 (a 500)."""
    if fmt == "shp":
        frame = _shapefile(client, tmp_path, order_by="id")
    else:
        path = tmp_path / f"lieux.{fmt}"
        path.write_bytes(_get(client, fmt, order_by="id"))
        frame = pyogrio.read_dataframe(path)
    frame = frame.sort_values("id")
    assert [int(v) for v in frame["grand"]] == [BIG, -42, 42]
    assert [int(v) for v in frame["enorme"]] == [HUGE, -HUGE, 5]


def test_integers_beyond_two_to_the_53_are_kept_by_gpx(client):
    body = _get(client, "gpx", order_by="id").decode()
    assert str(BIG) in body and str(HUGE) in body and str(-HUGE) in body


def test_kml_keeps_integers_as_numbers_where_every_value_fits(client, tmp_path):
    """Only a column holding a value GDAL's 15 digits would change is text."""
    path = tmp_path / "lieux.kml"
    path.write_bytes(_get(client, "kml", where="id > 1"))
    frame = pyogrio.read_dataframe(path)
    assert frame["grand"].dtype.kind in "if" and sorted(frame["grand"]) == [-42, 42]
    assert frame["enorme"].dtype.kind not in "if" and sorted(frame["enorme"]) == [str(-HUGE), "5"]


def _rows(client, **params) -> list[list]:
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(_get(client, "xlsx", order_by="id", **params)))
    return sheet.get_sheet_by_index(0).to_python()


def test_xlsx_dates_before_1900_are_iso_text(client):
    """Excel has no day before 1900 (1850-06-01 was the serial -18110, read as 1850-05-31):
    dates and datetimes before 1900-01-01 are ISO text, later ones dates (1900's first days too)."""
    rows = _rows(client, select="jour, instant")
    assert rows[1] == ["1850-06-01", "1890-05-01T12:00:00+00:00"]
    assert rows[2] == [date(1900, 3, 1), datetime(1900, 2, 28, 12)]
    assert rows[3][0] == date(2024, 3, 1) and rows[3][1] == datetime(2024, 3, 1, 12)


def test_xlsx_integers_beyond_15_digits_are_text(client):
    """Excel keeps 15 significant digits of a number: 1234567890123456789 became …800."""
    rows = _rows(client, select="grand, enorme, montant")
    assert [row[:2] for row in rows[1:]] == [[str(BIG), str(HUGE)], [-42, str(-HUGE)], [42, 5]]
    assert [row[2] for row in rows[1:]] == [12, 7, 3]


@pytest.mark.parametrize("fmt", ["kml", "shp"])
def test_an_integer_beyond_the_format_in_a_later_batch_makes_the_whole_column_text(tmp_path, fmt):
    """The whole export decides the column's type, not its first batch: the first batch's
    small integers would have declared numbers that a later batch could not hold."""
    import pyarrow as pa
    import shapely

    from portail.exports import FORMATS, ExportOptions
    from portail.schema import Field, FieldType

    fields = [Field("n", "n", FieldType.INT), Field("geo", "geo", FieldType.GEO_POINT_2D)]

    def batch(values: list[int]) -> pa.RecordBatch:
        points = shapely.points([[2 + i / 1000, 48] for i in range(len(values))])
        return pa.RecordBatch.from_pydict({"n": pa.array(values, pa.int64()), "geo": shapely.to_wkb(points).tolist()})

    options = ExportOptions(geometry_kinds=("POINT",))
    body = b"".join(FORMATS[fmt].write(fields, iter([batch([1, 2]), batch([3, HUGE]), batch([-HUGE])]), options))
    if fmt == "shp":
        zipfile.ZipFile(io.BytesIO(body)).extractall(tmp_path)
        path = tmp_path / "export.shp"
    else:
        (path := tmp_path / "export.kml").write_bytes(body)
    assert [int(v) for v in pyogrio.read_dataframe(path)["n"]] == [1, 2, 3, HUGE, -HUGE]
