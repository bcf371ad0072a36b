"""The HTML portal, server-rendered: pages, URLs shared with Opendatasoft, language switch."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.catalog import services
from portail.operations import load_file


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    from tests.conftest import make_instance

    instance = make_instance(tmp_path_factory.mktemp("web") / "home", portal_title="Données de test")
    with instance.session() as s:
        services.create_dataset(s, "logements", "Logements sociaux financés à Paris", themes=["Logement"],
                                description="Programmes **financés** depuis 2001.", license="ODbL")
        services.create_dataset(s, "senateurs", "Sénateurs", themes=["Administration"])
        services.create_dataset(s, "interne", "Interne", portals=["internal"])
    load_file(instance, "logements", refdata / "logement" / "logements-sociaux-finances-a-paris.csv", publish=True)
    load_file(instance, "senateurs", refdata / "elus" / "rne_elus-senateurs-sen.csv", publish=True)
    load_file(instance, "interne", refdata / "elus" / "rne_elus-senateurs-sen.csv", publish=True)
    yield TestClient(create_app(instance))
    instance.store.close()


def test_home_lists_themes_and_latest(client):
    html = client.get("/", headers={"Accept-Language": "fr-FR,fr;q=0.9"}).text
    assert '<html lang="fr">' in html and "Données de test" in html
    assert "Logement <span>(1)</span>" in html and "Sénateurs" in html
    assert "Interne" not in html  # internal-only datasets stay off the public portal
    assert "4 522 enregistrements publiés" in html


def test_catalogue_search_theme_and_language(client):
    html = client.get("/explore/", params={"q": "paris"}).text
    assert "Logements sociaux financés à Paris" in html and "Sénateurs</a>" not in html
    by_theme = client.get("/explore/", params={"theme": "Administration"}).text
    assert "Sénateurs" in by_theme and "Logements sociaux" not in by_theme
    english = client.get("/explore/", params={"lang": "en", "q": "zzz"}).text
    assert '<html lang="en">' in english and "No dataset matches." in english
    assert client.get("/explore/", headers={"Accept-Language": "en-GB"}).text.count('lang="en"') == 1


def test_dataset_tabs_at_opendatasoft_urls(client):
    assert client.get("/explore/dataset/logements/", follow_redirects=False).headers["location"] == \
        "/explore/dataset/logements/information/"
    info = client.get("/explore/dataset/logements/information/").text
    assert "<strong>financés</strong>" in info and "ODbL" in info and "<code>code_postal</code>" in info
    table = client.get("/explore/dataset/logements/table/", params={"sort": "-nb_logmt_total", "page": 2}).text
    assert "4 174 enregistrements" in table and "Page 2 sur 167" in table
    cells = re.findall(r"<tbody>(.*?)</tbody>", table, re.S)[0]
    assert cells.count("<tr>") == 25
    export = client.get("/explore/dataset/logements/export/").text
    assert "/api/explore/v2.1/catalog/datasets/logements/exports/geojson" in export
    no_geo = client.get("/explore/dataset/senateurs/export/").text
    assert "exports/csv" in no_geo and "exports/geojson" not in no_geo
    assert "records?limit=10" in client.get("/explore/dataset/logements/api/").text
    assert client.get("/explore/dataset/interne/information/").status_code == 404
    assert client.get("/static/portail.css").status_code == 200
