"""Numbers as their publisher annotated them (``unit``, ``decimals``), through the real app: the
table's cells, the record view, a number facet's values and its filter chip write ``1 234,50 €``
in French and ``1,234.50 €`` in English (the unit after a no-break space), the stored value kept
in ``<data value>``; a number without annotations is written as before, and the API and the
exports keep the raw numbers."""

from __future__ import annotations

import re
from html import unescape

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.catalog.services import MAX_DECIMALS
from portail.schema import Field, FieldType
from portail.web.routes import number_format
from tests.conftest import Published, published_instance, semicolon_csv

NBSP = "\u00a0"
TABLE = "/explore/dataset/marches/table/"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    home = tmp_path_factory.mktemp("units")
    rows = [{"objet": "Voirie", "montant": "1234.5", "duree": "12", "lots": "12345"},
            {"objet": "Écoles", "montant": "80000", "duree": "12", "lots": "3"},
            {"objet": "Sport", "montant": "0.25", "duree": "24", "lots": "7"},
            {"objet": "Parcs", "montant": "10", "duree": "24", "lots": "1"}]
    instance = published_instance(home / "home", Published(
        "marches", semicolon_csv(home / "marches.csv", rows), "Marchés",
        annotations={"montant": {"unit": ["€"], "decimals": ["2"]}, "duree": {"unit": ["mois"], "facet": []},
                     "objet": {"facet": []}},
        labels={"montant": "Montant", "duree": "Durée"}))
    yield TestClient(create_app(instance))
    instance.store.close()


def cells(html: str) -> list[list[str]]:
    """The records table's rows as read (the detail link's column left out)."""
    body = re.search(r'<table class="records">.*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    return [[unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td>(.*?)</td>", row, re.S)][1:]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def test_table_cells_in_unit_and_decimals(client):
    fr = cells(client.get(TABLE, params={"sort": "objet"}).text)
    assert fr[1] == ["Sport", f"0,25{NBSP}€", f"24{NBSP}mois", "7"]
    assert fr[2] == ["Voirie", f"1\u202f234,50{NBSP}€", f"12{NBSP}mois", "12\u202f345"]  # ``lots``: no annotation, as before
    assert fr[3] == ["Écoles", f"80\u202f000,00{NBSP}€", f"12{NBSP}mois", "3"]
    en = cells(client.get(TABLE, params={"sort": "objet", "lang": "en"}).text)
    assert en[2] == ["Voirie", f"1,234.50{NBSP}€", f"12{NBSP}mois", "12,345"]
    assert '<data value="1234.5">' in client.get(TABLE).text  # the stored value, for whoever copies it
    assert_api_and_exports_raw(client)


def test_record_view_in_unit_and_decimals(client):
    record = client.get("/api/explore/v2.1/catalog/datasets/marches/records",
                        params={"where": 'objet = "Voirie"', "select": "objet"}).json()["results"][0]
    ids = re.findall(r'id="detail-([^"]+)"', client.get(TABLE, params={"sort": "objet"}).text)
    for lang, amount in (("fr", f"1\u202f234,50{NBSP}€"), ("en", f"1,234.50{NBSP}€")):
        html = client.get(TABLE, params={"sort": "objet", "record": ids[2], "lang": lang}).text
        view = re.search(r'<section class="record".*?</section>', html, re.S).group(0)
        rows = dict((unescape(re.sub(r"<[^>]+>", "", th)).strip(), unescape(re.sub(r"<[^>]+>", "", td)).strip())
                    for th, td in re.findall(r"<th[^>]*>(.*?)</th><td>(.*?)</td>", view, re.S))
        assert rows["objet"] == record["objet"] == "Voirie"
        assert rows["Montant"] == amount and rows["Durée"] == f"12{NBSP}mois"


def test_number_facet_and_its_chip_in_unit(client):
    html = client.get(TABLE).text
    facet = re.search(r'<section class="facet" aria-labelledby="tf-duree">(.*?)</section>', html, re.S).group(1)
    assert f">12{NBSP}mois <span" in facet and f">24{NBSP}mois <span" in facet
    assert "refine.duree=12" in facet  # the link keeps the value the API reads
    chips = re.search(r'<ul class="active-filters".*?</ul>', client.get(TABLE, params={"refine.duree": "12"}).text,
                      re.S).group(0)
    assert f"Durée = 12{NBSP}mois" in unescape(chips)


def assert_api_and_exports_raw(client):
    """The API and the exports keep the raw numbers, whatever the pages write."""
    api = "/api/explore/v2.1/catalog/datasets/marches"
    values = {r["objet"]: r["montant"] for r in client.get(f"{api}/records").json()["results"]}
    assert values == {"Voirie": 1234.5, "Écoles": 80000, "Sport": 0.25, "Parcs": 10}
    csv = client.get(f"{api}/exports/csv", params={"select": "montant", "order_by": "montant"}).text
    assert csv.lstrip("\ufeff").split() == ["montant", "0.25", "10", "1234.5", "80000"]
    assert "€" not in csv
    fields = {f["name"]: f for f in client.get(api).json()["fields"]}
    assert fields["montant"]["annotations"] == {"unit": ["€"], "decimals": ["2"]}


def test_decimals_round_the_exact_value_half_away_from_zero():
    """As the map's popups and the chart's ``Intl`` round (``test_browser_units``): a large whole
    number keeps its digits (a float format changed them), a tie goes away from zero, no ``-0``."""
    from portail.web.i18n import format_number

    assert format_number(9007199254740993, "fr", 0) == "9\u202f007\u202f199\u202f254\u202f740\u202f993"
    assert format_number(12345678901234567, "en", 2) == "12,345,678,901,234,567.00"
    assert format_number(0.125, "fr", 2) == "0,13"
    assert format_number(2.5, "fr", 0) == "3" and format_number(-2.5, "en", 0) == "-3"
    assert format_number(-0.4, "fr", 0) == "0"
    assert format_number(1e300, "en", 2).endswith(".00")  # every digit of the double: quantize has the precision


def test_information_tab_names_each_field_unit(client):
    """The fields' list says the unit a number is counted in, as the table's headers don't."""
    html = client.get("/explore/dataset/marches/information/").text
    rows = {m[0]: unescape(m[1]) for m in re.findall(r"<tr><td><code>(\w+)</code></td><td>[^<]*</td><td>([^<]*)</td>", html)}
    assert rows["montant"] == "Nombre décimal (€)" and rows["duree"] == "Nombre entier (mois)" and rows["lots"] == "Nombre entier"


def test_decimals_stored_before_their_check_are_read_within_the_pages_limit():
    """A ``decimals`` of thousands of digits, stored by a release that did not check annotations'
    values, made the pages' ``int()`` fail (a 500 on every page of the dataset)."""
    def decimals(written: str) -> int | None:
        return number_format(Field(name="n", label="n", type=FieldType.DOUBLE, annotations={"decimals": [written]}))[1]

    assert [decimals("9" * 5000), decimals("0" * 4000 + "3"), decimals("25"), decimals("2"), decimals("deux")] == \
        [MAX_DECIMALS, 3, MAX_DECIMALS, 2, None]
