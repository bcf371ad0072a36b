"""The dataset page in its reader's language: table and record cells (numbers, dates, instants)
written as the page writes its own counts and dates while codes keep their exact text, a date
facet's months named, and the chart form offering only what the dataset's fields can compute."""

from __future__ import annotations

import re
from html import unescape

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from tests.chart_form import chart_config, select_options
from tests.conftest import Published, published_instance, semicolon_csv

#: Codes (text, leading zeros), quantities, a year, an identifier, dates and instants.
ROWS = [{"code_insee": "01001", "code_postal": "01400", "siren": "012345678", "id_programme": str(2000011 + i),
         "annee": "2023", "population": str(12345 + i), "surface": f"{1234.5 + i}", "jour": f"2023-0{1 + i % 3}-04",
         "instant": f"2023-05-04T13:45:0{i}Z", "nom": "Abc", "generation": str(1951 + i), "categorie": "5710",
         "siege": "true" if i % 2 else "false", "ratio": "34.7519655732477", "premier": "2023-01-01"} for i in range(6)]
TEXTS = [{"nom": f"n{i}", "categorie": "ab"[i % 2]} for i in range(6)]
TABLE = "/explore/dataset/communes/table/"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("localized")
    instance = published_instance(tmp / "home", Published("communes", semicolon_csv(tmp / "communes.csv", ROWS)),
                                  Published("textes", semicolon_csv(tmp / "textes.csv", TEXTS)))
    yield TestClient(create_app(instance))
    instance.store.close()


def first_row(html: str) -> list[str]:
    """The cells of the table's first row, its "Detail" link left out."""
    row = html.split('<table class="records">')[1].split("<tbody>")[1].split("</tr>")[0]
    return [c.strip() for c in re.findall(r"<td>(.*?)</td>", row, re.S)][1:]


def test_table_and_record_cells_in_the_page_language(client):
    fields = [f["name"] for f in client.get("/api/explore/v2.1/catalog/datasets/communes").json()["fields"]]
    french = dict(zip(fields, first_row(client.get(TABLE, params={"sort": "population"}).text)))
    assert french["code_insee"] == "01001" and french["code_postal"] == "01400" and french["siren"] == "012345678"
    assert french["population"] == '<data value="12345">12\u202f345</data>'
    assert french["surface"] == '<data value="1234.5">1\u202f234,5</data>'
    assert french["annee"] == '<data value="2023">2023</data>'  # a year, not 2 023
    assert french["id_programme"] == '<data value="2000011">2000011</data>'  # a key people copy
    assert french["jour"] == '<time datetime="2023-01-04">4 janvier 2023</time>'
    assert french["instant"] == '<time datetime="2023-05-04T13:45:00+00:00">4 mai 2023 à 15:45 CEST</time>'
    # four digits are not grouped (a year, a legal category), ten significant digits at most, yes/no
    assert french["generation"] == '<data value="1951">1951</data>' and french["categorie"] == '<data value="5710">5710</data>'
    assert french["ratio"] == '<data value="34.7519655732477">34,75196557</data>'
    assert french["siege"] == "Non" and french["premier"] == '<time datetime="2023-01-01">1er janvier 2023</time>'
    english = client.get(TABLE, params={"sort": "population", "lang": "en"}).text
    english = dict(zip(fields, first_row(english)))
    assert english["population"] == '<data value="12345">12,345</data>' and english["code_insee"] == "01001"
    assert english["surface"] == '<data value="1234.5">1,234.5</data>'
    assert english["jour"] == '<time datetime="2023-01-04">January 4, 2023</time>'
    assert english["siege"] == "No" and english["premier"] == '<time datetime="2023-01-01">January 1, 2023</time>'
    assert english["instant"] == '<time datetime="2023-05-04T13:45:00+00:00">May 4, 2023, 15:45 CEST</time>'
    # the record detail writes its values the same way
    table = client.get(TABLE, params={"sort": "-population"}).text
    link = unescape(re.search(r'href="(\?[^"]*record=[0-9a-f]{40})#record-title"', table).group(1))
    record = client.get(TABLE + link).text.split('id="record-title"')[1].split("</section>")[0]
    assert '<data value="12350">12\u202f350</data>' in record and "4 mai 2023 à 15:45:05 CEST" in record
    assert "<td>01001</td>" in record and "<td>012345678</td>" in record


def test_the_api_and_exports_keep_raw_values(client):
    records = client.get("/api/explore/v2.1/catalog/datasets/communes/records",
                         params={"order_by": "population", "limit": 1}).json()["results"]
    assert records[0]["population"] == 12345 and records[0]["jour"] == "2023-01-04"
    assert records[0]["code_insee"] == "01001"
    csv = client.get("/api/explore/v2.1/catalog/datasets/communes/exports/csv").text
    assert "12345" in csv and "12\u202f345" not in csv and "2023-01-04" in csv and "janvier" not in csv


def test_date_facet_months_are_named_and_keep_their_values(client):
    french = client.get(TABLE, params={"refine.jour": "2023"}).text
    march = re.search(r'<a href="([^"]*refine\.jour=2023%2F03)"\s*>([^<]+)<span', french)
    assert march and march.group(2).strip() == "mars"
    assert 'aria-label="Exclure mars"' in french and "exclude.jour=2023%2F03" in french
    english = client.get(TABLE, params={"refine.jour": "2023", "lang": "en"}).text
    assert re.search(r'refine\.jour=2023%2F03[^"]*"\s*>March <span', english)
    refined = client.get(TABLE, params=[("refine.jour", "2023"), ("refine.jour", "2023/03")]).text
    assert "2 enregistrements" in refined  # the month's link still filters
    assert '<span class="tag">jour = mars 2023</span>' in refined  # the chip names it as the facet does
    day = client.get(TABLE, params=[("exclude.jour", "2023/03/04"), ("lang", "en")]).text
    assert '<span class="tag">jour ≠ March 4, 2023 (excluded)</span>' in day


def test_chart_form_offers_only_what_the_fields_compute(client):
    texts = client.get("/explore/dataset/textes/analyze/", params={"chart.y": "sum"}).text
    assert select_options(texts, "chart.y") == ["count"]  # no numeric field: a count only
    assert chart_config(texts)["y"] == "count"
    assert re.search(r'<select id="c-yfield" name="chart.yfield" disabled>', texts)
    numbers = client.get("/explore/dataset/communes/analyze/", params={"chart.y": "sum"}).text
    assert select_options(numbers, "chart.y") == ["count", "sum", "avg", "min", "max"]
    assert select_options(numbers, "chart.yfield") == ["id_programme", "annee", "population", "surface", "generation",
                                                      "categorie", "ratio"]
    # a sum asked without its field is of the measure the form shows chosen (not an id nor a year),
    # not a count named a sum
    assert chart_config(numbers)["y"] == "sum" and chart_config(numbers)["yfield"] == "population"
