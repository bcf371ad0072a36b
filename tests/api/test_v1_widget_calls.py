"""v1 calls as ods-widgets send them, replayed: a choropleth layer joined to another dataset's
shapes with its map's view as ``geofilter.bbox``, a chart's hour timescale with
``output_timezone=UTC``, the raw map layer's ``rows``-bounded download, the two weekday
numberings. Expected values come from the published files, read here with plain Python."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box, shape

from portail.api import create_app
from tests.api.v1_join_data import COUNCILLORS, REGIONS, councillors, regions  # noqa: F401 - the join's files, as fixtures
from tests.conftest import ANNOTATED_CSV, Published, annotated, published_instance

ANALYZE = "/api/records/1.0/analyze/"
DOWNLOAD = "/api/records/1.0/download/"
#: ``MapRenderingAggregation.render``'s joined call, its view being ``BBOX`` (lat, lon, lat, lon).
BBOX = "44,4,46.5,7"
LAYER = {"dataset": "cr", "clusterprecision": "8", "geofilter.bbox": BBOX, "join.agg1.fields": "geo_shape,nom",
         "join.agg1.remotedataset": "regions", "join.agg1.remotekey": "code",
         "join.agg1.localkey": "code_de_la_region", "agg.agg1.func": "MIN,MAX", "agg.agg1.expr": "serie1",
         "y.serie1.func": "COUNT"}


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    folder = tmp_path_factory.mktemp("v1-widget-calls")
    instance = published_instance(folder / "home",
                                  Published("cr", refdata.joinpath(*COUNCILLORS), "Conseillers régionaux"),
                                  Published("regions", refdata.joinpath(*REGIONS), "Régions"),
                                  annotated(folder))
    yield TestClient(create_app(instance))
    instance.store.close()


@pytest.fixture(scope="module")
def instants():
    return [datetime.fromisoformat(r["dt"]) for r in csv.DictReader(io.StringIO(ANNOTATED_CSV), delimiter=";")
            if r["dt"]]


def ok(response):
    assert response.status_code == 200, response.text
    return response


def test_a_joined_layer_draws_the_shapes_in_its_view(client, councillors, regions):
    """The councillors have no geo field: the view's bbox keeps the regions whose shape is in it."""
    view = box(4, 44, 7, 46.5)
    in_view = {code for code, f in regions.items() if shape(f["geometry"]).intersects(view)}
    assert 0 < len(in_view) < len(regions)
    counts = Counter(r["Code de la région"] for r in councillors)
    body = ok(client.get(ANALYZE, params=LAYER)).json()
    assert {p["x"][0]["fields"]["nom"]: p["serie1"] for p in body["results"]} == \
        {regions[code]["properties"]["nom"]: counts[code] for code in in_view}
    shown = [counts[code] for code in in_view]
    assert body["aggregations"]["agg1"] == {"min": min(shown), "max": max(shown)}


def test_a_geofilter_on_a_dataset_without_geo_field_stays_a_400(client):
    response = client.get(ANALYZE, params={"dataset": "cr", "x": "code_de_la_region", "geofilter.bbox": BBOX,
                                           "y.n.func": "COUNT"})
    assert response.status_code == 400
    assert "no geo field" in response.json()["error"]


def test_output_timezone_writes_the_x_parts(client, instants):
    """A chart's hour timescale: cut in Paris by ``timezone``, in UTC with ``output_timezone=UTC``."""
    x = [f"dt.{part}" for part in ("year", "month", "day", "hour")]

    def hours(**zones):
        points = ok(client.get(ANALYZE, params={"dataset": "mv", "x": x, "y.n.func": "COUNT", **zones})).json()
        return {tuple(p["x"].values()): p["n"] for p in points}

    def counted(zone: str):
        return dict(Counter((i.year, i.month, i.day, i.hour) for i in (i.astimezone(ZoneInfo(zone)) for i in instants)))

    assert hours(timezone="Europe/Paris") == counted("Europe/Paris")
    assert hours(timezone="Europe/Paris", output_timezone="UTC") == counted("UTC") != counted("Europe/Paris")


@pytest.mark.parametrize("format", ["json", "geojson", "csv"])
def test_the_download_takes_rows_and_start(client, regions, format):
    """``MapRenderingRaw.render`` downloads ``rows=1000`` and reads ``data.length >= rows``."""
    def codes(**window) -> list[str]:
        text = ok(client.get(DOWNLOAD, params={"dataset": "regions", "format": format, "sort": "code", **window})).text
        if format == "csv":
            return [row["code"] for row in csv.DictReader(io.StringIO(text.lstrip("\ufeff")), delimiter=";")]
        body = json.loads(text)
        return [r["properties" if format == "geojson" else "fields"]["code"]
                for r in (body["features"] if format == "geojson" else body)]

    every = codes()
    assert sorted(every) == sorted(regions)
    assert codes(rows="2") == every[:2]
    assert codes(rows="2", start="3") == every[3:5]
    assert codes(rows="-1") == every
    assert client.get(DOWNLOAD, params={"dataset": "regions", "rows": "-2"}).status_code == 400


def test_weekday_numberings(client, instants):
    """``periodic=weekday``: 0 for Monday, as Opendatasoft documents it and ods-widgets'
    ``formatRowX`` names it; ``x=<field>.weekday``: 1 for Monday … 7, as ods-widgets'
    ``getDateFromXObject`` reads it back (2000-01-02 plus ``weekday`` days: 1 is a Monday)."""
    def weekdays(**params):
        points = ok(client.get(ANALYZE, params={"dataset": "mv", "y.n.func": "COUNT", **params})).json()
        return {p["x"]["weekday"]: p["n"] for p in points}

    assert weekdays(x="dt", periodic="weekday") == dict(Counter(i.weekday() for i in instants))
    assert weekdays(x="dt.weekday") == dict(Counter(i.isoweekday() for i in instants))
