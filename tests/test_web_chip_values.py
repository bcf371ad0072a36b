"""A dataset page's filter chips read a refinement's value as the page writes that field's
values: a number as its cells do (``number_text``: the ``unit`` and ``decimals`` its publisher
annotated, grouped digits), whatever spelling the URL sent it in (``1e3``, ``1000.0``), since the
API reads the number, not the text; a value that is no number of the field is shown as sent (and
the page says the API refused it); a date refinement as its facet names it (``mai 2020``)."""

from __future__ import annotations

import re
from html import unescape

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from tests.conftest import Published, published_instance, semicolon_csv

NBSP, NNBSP = "\u00a0", "\u202f"
TABLE = "/explore/dataset/marches/table/"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    home = tmp_path_factory.mktemp("chips")
    rows = [{"objet": "Voirie", "montant": "1000", "prix": "12345.5", "lots": "12345", "notifie": "2020-05-04"},
            {"objet": "Écoles", "montant": "80000.5", "prix": "3", "lots": "3", "notifie": "2021-01-15"},
            {"objet": "Parcs", "montant": "7", "prix": "4", "lots": "12345", "notifie": "2021-02-15"},
            {"objet": "Piscines", "montant": "8", "prix": "5", "lots": "3", "notifie": "2021-03-15"}]
    instance = published_instance(home / "home", Published(
        "marches", semicolon_csv(home / "marches.csv", rows), "Marchés",
        annotations={"montant": {"unit": ["€"]}, "lots": {"facet": []}}, labels={"montant": "Montant", "prix": "Prix", "lots": "Lots",
                                                          "notifie": "Notifié"}))
    yield TestClient(create_app(instance))
    instance.store.close()


def chips(client, **params) -> list[str]:
    """The active filters' chips as read (their removal links left out)."""
    html = client.get(TABLE, params=params).text
    found = re.search(r'<ul class="active-filters".*?</ul>', html, re.S)
    assert found, html[:2000]
    return [unescape(re.sub(r"<[^>]+>", "", tag)).strip() for tag in re.findall(r'<span class="tag">(.*?)</span>',
                                                                                  found.group(0), re.S)]


def test_a_number_chip_reads_the_number_the_api_reads(client):
    assert chips(client, **{"refine.montant": "1e3"}) == [f"Montant = 1{NNBSP}000{NBSP}€"]
    assert chips(client, **{"refine.montant": "1000.0"}) == [f"Montant = 1{NNBSP}000{NBSP}€"]
    assert chips(client, **{"refine.montant": "1e3", "lang": "en"}) == [f"Montant = 1,000{NBSP}€"]
    # without annotations, as the field's cells write it: grouped digits, a decimal comma
    assert chips(client, **{"refine.prix": "1.23455e4"}) == [f"Prix = 12{NNBSP}345,5"]
    assert chips(client, **{"exclude.lots": "012345"}) == [f"Lots ≠ 12{NNBSP}345 (exclu)"]


def test_a_number_chip_matches_its_records(client):
    html = client.get(TABLE, params={"refine.montant": "1e3"}).text
    assert "Voirie" in html and "Écoles" not in html


def test_no_number_of_the_field_is_shown_as_sent(client):
    response = client.get(TABLE, params={"refine.lots": "1e3"})  # an int field reads no exponent
    assert response.status_code == 400
    assert chips(client, **{"refine.lots": "1e3"}) == ["Lots = 1e3"]
    for sent in ("nan", "inf", "douze"):
        assert chips(client, **{"refine.prix": sent}) == [f"Prix = {sent}"]


def test_a_date_chip_reads_as_its_facet(client):
    assert chips(client, **{"refine.notifie": "2020/05"}) == ["Notifié = mai 2020"]
    assert chips(client, **{"refine.notifie": "2020/05/04"}) == ["Notifié = 4 mai 2020"]
    assert chips(client, **{"refine.notifie": "2020"}) == ["Notifié = 2020"]


def test_a_number_facet_reads_as_its_chip(client):
    """An unannotated number field's facet values are written as its cells and chips are: the
    facet ``12 345`` is the chip ``Lots = 12 345`` it leads to (it read ``12345``)."""
    html = client.get(TABLE).text
    facet = re.search(r'<section class="facet" aria-labelledby="tf-lots">(.*?)</section>', html, re.S).group(1)
    assert f"12{NNBSP}345" in unescape(facet) and "12345<" not in facet


def test_a_page_excluding_a_facet_value_answers(client):
    """An excluded value comes back in its facet without a count: the page summed the counts and
    answered 500."""
    response = client.get(TABLE, params={"exclude.lots": "3"})
    assert response.status_code == 200 and "Piscines" not in response.text and "Parcs" in response.text
