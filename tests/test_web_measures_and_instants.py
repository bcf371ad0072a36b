"""The chart's measure and the day of an instant, server-side. The chart's value field (what a
sum or a mean is of) is a measure, never the first numeric field when that is a year (``annee``,
a ``generation`` valued 1950 to 1960), an id or a code (a reader who chose "Somme" got a sum of
years); without a measure the chart counts. An instant the table writes ``1er mars 2012 à 00:00
CET`` is filed under mars by the facets, the refinements, the chart and the exports (they cut
days in UTC: février), and the map's popups get the dataset's zone names to write instants as
the table does."""

from __future__ import annotations

import csv
import re
from html import unescape
from urllib.parse import parse_qsl
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.web.routes import zone_names
from tests.chart_form import chart_config, selected_value_field
from tests.conftest import Published, published_instance, sirene_places

ANALYZE = "/explore/dataset/{}/analyze/"


def keys_and_years(refdata: Path, tmp: Path) -> Path:
    """The Paris social housing file's id, year and landlord columns alone: numbers, none a measure."""
    source = refdata / "logement" / "logements-sociaux-finances-a-paris.csv"
    target = tmp / "cles.csv"
    with source.open(encoding="utf-8-sig", newline="") as read, target.open("w", encoding="utf-8", newline="") as write:
        rows = csv.DictReader(read, delimiter=";")
        out = csv.writer(write, delimiter=";")
        out.writerow(["id_livraison", "annee", "bs"])
        out.writerows([r["id_livraison"], r["annee"], r["bs"]] for r in rows)
    return target


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    tmp = tmp_path_factory.mktemp("measures")
    instance = published_instance(
        tmp / "home",
        Published("logements", refdata / "logement" / "logements-sociaux-finances-a-paris.csv", "Logements"),
        Published("retraites", refdata / "retraites" / "drees_eacr_age_liquidation.csv", "Âge de liquidation"),
        Published("cles", keys_and_years(refdata, tmp), "Programmes"),
        Published("annote", refdata / "logement" / "logements-sociaux-finances-a-paris.csv", "Logements annotés",
                  annotations={"nb_logmt_total": {"facet": []}}),
        Published("sirene", sirene_places(refdata, tmp / "sirene.csv"), "Établissements"))
    yield TestClient(create_app(instance))
    instance.store.close()


def test_a_sum_asked_without_its_field_is_of_a_measure_not_an_id_or_a_year(client):
    logements = client.get(ANALYZE.format("logements"), params={"chart.y": "sum"}).text
    assert chart_config(logements)["yfield"] == "nb_logmt_total"  # not id_livraison, code_postal nor annee
    retraites = client.get(ANALYZE.format("retraites"), params={"chart.y": "avg", "lang": "en"}).text
    assert chart_config(retraites)["yfield"] == "ageliq"  # generation holds years (1940s to 1950s)
    # a field the publisher made a facet is a category: the next measure
    assert chart_config(client.get(ANALYZE.format("annote"), params={"chart.y": "sum"}).text)["yfield"] == "nb_plai"


def test_the_value_field_offered_beside_a_count_is_the_measure(client):
    """The default chart counts; switching it to a sum shows the select's chosen field, which
    was the first one, an id."""
    html = client.get(ANALYZE.format("logements")).text
    assert chart_config(html)["y"] == "count" and chart_config(html)["yfield"] == ""
    assert selected_value_field(html) == "nb_logmt_total"
    chosen = client.get(ANALYZE.format("logements"), params={"chart.y": "max", "chart.yfield": "annee"}).text
    assert chart_config(chosen)["yfield"] == "annee" and selected_value_field(chosen) == "annee"  # a choice is kept


def test_without_a_measure_the_chart_counts(client):
    html = client.get(ANALYZE.format("cles"), params={"chart.y": "sum"}).text
    assert chart_config(html)["y"] == "count" and chart_config(html)["yfield"] == ""
    assert selected_value_field(html) is None


def test_the_maps_zone_names_its_offsets_as_the_tables_instants():
    """The popups write an instant's zone as the table (``CET``, ``CEST``: Python's names, which
    the browser's Intl writes ``UTC+1``); a zone no one knows is the portal's default, as in ``cell``."""
    assert zone_names("Europe/Paris") == {"name": "Europe/Paris", "names": {60: "CET", 120: "CEST"}}
    assert zone_names("America/New_York")["names"] == {-300: "EST", -240: "EDT"}
    assert zone_names("Mars/Olympus") == zone_names("Europe/Paris")


def facet_names(html: str, field: str) -> list[str]:
    """A table facet's values, as its links name them."""
    section = re.search(rf'<section class="facet" aria-labelledby="tf-{field}">(.*?)</section>', html, re.S).group(1)
    link = r'<a href="[^"]*"\s*(?:aria-current="true")?\s*>(?:<span[^>]*>✓ </span>)?([^<]+)'
    return [name.strip() for name in re.findall(link, section)]


def test_an_instant_is_filed_on_the_day_the_table_writes_it(client):
    """The table writes an instant in the dataset's zone (``1er mars 2012 à 00:00 CET``, stored
    2012-02-29T23:00Z); the facets, the refinements, the chart and the exports cut days in UTC,
    the API's default: that record was filed under février, and a refinement on mars missed it."""
    table = "/explore/dataset/sirene/table/"
    year = client.get(table, params={"refine.mise_a_jour": "2012"}).text
    assert "1er mars 2012 à 00:00 CET" in year
    assert facet_names(year, "mise_a_jour")[1:] == ["février", "mars", "juillet"]  # one record each
    march = client.get(table, params=[("refine.mise_a_jour", "2012"), ("refine.mise_a_jour", "2012/03")]).text
    assert "1 enregistrement sur 99" in march and "COPRO IM CORNES DE CERF" in march
    # the chart's and the map's queries, and the filtered exports, cut days in the same zone
    analyze = client.get(ANALYZE.format("sirene"), params={"refine.mise_a_jour": "2012/03"}).text
    assert ("timezone", "Europe/Paris") in parse_qsl(unescape(re.search(r'data-filters="([^"]*)"', analyze).group(1)))
    export = client.get("/explore/dataset/sirene/export/", params={"refine.mise_a_jour": "2012/03"}).text
    csv_link = unescape(re.search(r'class="filtered" href="([^"]*/csv[^"]*)"', export).group(1))
    rows = client.get(csv_link).content.decode("utf-8-sig").splitlines()
    assert len(rows) == 2 and "COPRO IM CORNES DE CERF" in rows[1]
    # a dataset without instants: the API's URLs as they were
    assert 'data-filters=""' in client.get(ANALYZE.format("logements")).text
