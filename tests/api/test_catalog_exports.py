"""Catalogue exports: DCAT-AP validated with pyshacl against the official SHACL shapes, and the
plain formats read back."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET

import pytest
from fastapi.testclient import TestClient
from rdflib import Graph, URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF

from portail.api import create_app
from portail.catalog import services
from portail.operations import load_file

URL = "/api/explore/v2.1/catalog/exports"


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    from tests.conftest import make_instance

    instance = make_instance(tmp_path_factory.mktemp("catalog") / "home", base_url="https://data.example.fr")
    with instance.session() as s:
        services.create_dataset(s, "logements", "Logements sociaux financés à Paris", description="Programmes **financés**.",
                                themes=["Logement"], keywords=["logement", "Paris"], license="ODbL", publisher="Ville de Paris",
                                update_frequency="annual", temporal_start="2001-01-01", temporal_end="2023-12-31",
                                spatial_coverage="Paris", contact_email="open@paris.fr", contact_name="Open data",
                                language="fr")
        services.create_dataset(s, "retraites", "Âge de liquidation", license="Licence Ouverte / Etalab 2.0",
                                update_frequency="irregular")
        services.create_dataset(s, "brouillon", "Pas encore publié")
    load_file(instance, "logements", refdata / "logement" / "logements-sociaux-finances-a-paris.csv", publish=True)
    load_file(instance, "retraites", refdata / "retraites" / "drees_eacr_age_liquidation.csv", publish=True)
    yield TestClient(create_app(instance))
    instance.store.close()


def test_dcat_ap_satisfies_the_official_shapes(client, refdata):
    from pyshacl import validate

    turtle = client.get(f"{URL}/ttl").text
    data = Graph().parse(data=turtle, format="turtle")
    shapes = Graph().parse(refdata / "dcat-ap" / "dcat-ap_2.1.1_shacl_shapes.ttl", format="turtle")
    conforms, _, report = validate(data, shacl_graph=shapes, inference="none")
    assert conforms, report


def test_dcat_content_for_harvesters(client):
    graph = Graph().parse(data=client.get(f"{URL}/dcat").content, format="xml")
    datasets = list(graph.subjects(RDF.type, DCAT.Dataset))
    assert len(datasets) == 2  # the unpublished dataset is not in the catalogue
    logements = next(d for d in datasets if "Logements" in str(graph.value(d, DCTERMS.title)))
    uid = str(graph.value(logements, DCTERMS.identifier))
    assert str(logements) == f"https://data.example.fr/dcat/dataset/{uid}"  # immutable URI from the uid
    assert str(graph.value(logements, DCTERMS.accrualPeriodicity)) == "http://publications.europa.eu/resource/authority/frequency/ANNUAL"
    assert {str(k) for k in graph.objects(logements, DCAT.keyword)} == {"logement", "Paris"}
    assert str(graph.value(logements, DCAT.landingPage)) == "https://data.example.fr/explore/dataset/logements/"
    period = graph.value(logements, DCTERMS.temporal)
    assert str(graph.value(period, DCAT.startDate)) == "2001-01-01"
    formats = {str(graph.value(d, DCTERMS.format)).rsplit("/", 1)[1] for d in graph.objects(logements, DCAT.distribution)}
    assert formats == {"CSV", "JSON", "GEOJSON", "PARQUET", "XLSX", "SHP", "KML", "GPX", "JSON_LD", "RDF_TURTLE", "RDF_XML", "N3"}
    kml = next(d for d in graph.objects(logements, DCAT.distribution) if str(graph.value(d, DCTERMS.format)).endswith("/KML"))
    assert str(graph.value(kml, DCAT.mediaType)).endswith("/application/vnd.google-earth.kml+xml")
    assert str(graph.value(kml, DCAT.downloadURL)).startswith("https://data.example.fr/api/explore/v2.1/catalog/datasets/logements/exports/kml")
    distribution = next(iter(graph.objects(logements, DCAT.distribution)))
    assert str(graph.value(distribution, DCTERMS.license)) == "https://opendatacommons.org/licenses/odbl/1-0/"
    retraites = next(d for d in datasets if d != logements)
    retraites_formats = {str(graph.value(d, DCTERMS.format)).rsplit("/", 1)[1] for d in graph.objects(retraites, DCAT.distribution)}
    assert retraites_formats == {"CSV", "JSON", "PARQUET", "XLSX", "JSON_LD", "RDF_TURTLE", "RDF_XML", "N3"}  # no geo field, no geo distribution
    jsonld = Graph().parse(data=client.get(f"{URL}/jsonld").text, format="json-ld")
    assert len(jsonld) == len(graph)


def test_hydra_paging(client):
    graph = Graph().parse(data=client.get(f"{URL}/ttl", params={"page_size": 1, "page": 1}).text, format="turtle")
    assert len(list(graph.subjects(RDF.type, DCAT.Dataset))) == 1
    hydra = "http://www.w3.org/ns/hydra/core#"
    view = next(graph.subjects(RDF.type, URIRef(hydra + "PartialCollectionView")))
    assert str(graph.value(view, URIRef(hydra + "next"))).endswith("page_size=1&page=2")
    assert int(graph.value(view, URIRef(hydra + "totalItems"))) == 2


def test_plain_catalog_exports(client):
    assert {link["rel"] for link in client.get(URL).json()["links"]} >= {"csv", "json", "xlsx", "rss", "dcat", "ttl", "jsonld"}
    rows = list(csv.DictReader(io.StringIO(client.get(f"{URL}/csv").text.lstrip("\ufeff")), delimiter=";"))
    assert sorted(r["dataset_id"] for r in rows) == ["logements", "retraites"]
    assert next(r for r in rows if r["dataset_id"] == "retraites")["records_count"] == "17996"
    assert [d["dataset_id"] for d in client.get(f"{URL}/json").json()] == ["logements", "retraites"]
    channel = ET.fromstring(client.get(f"{URL}/rss").content).find("channel")
    assert len(channel.findall("item")) == 2
    from python_calamine import CalamineWorkbook

    sheet = CalamineWorkbook.from_filelike(io.BytesIO(client.get(f"{URL}/xlsx").content)).get_sheet_by_index(0).to_python()
    assert sheet[0][0] == "dataset_id" and len(sheet) == 3
    assert client.get(f"{URL}/docx").status_code == 404


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory, refdata):
    """Three small published datasets, one of them with formulas in its metadata, its records
    restricted (its metadata public)."""
    from portail.auth import services as auth
    from tests.conftest import Published, published_instance

    cog = refdata / "referentiels"
    instance = published_instance(
        tmp_path_factory.mktemp("catalogue") / "home",
        Published("departements", cog / "cog2026_departements.csv", "Départements",
                  metadata={"themes": ["Administration"], "keywords": ["cog", "insee"]}),
        Published("regions", cog / "cog2026_regions.csv", "Régions", metadata={"themes": ["Economie"]}),
        Published("formules", cog / "cog2026_regions.csv", '=HYPERLINK("http://evil","titre")',
                  metadata={"description": "+33 description", "keywords": ["@kw"]}))
    with instance.session() as s:
        auth.set_dataset_security(s, services.get_dataset(s, "formules"), visibility="restricted", metadata_public=True)
    yield TestClient(create_app(instance))
    instance.store.close()


def _csv(client, **params) -> list[dict]:
    return list(csv.DictReader(io.StringIO(client.get(f"{URL}/csv", params=params).text.lstrip("\ufeff")), delimiter=";"))


@pytest.mark.parametrize("params", [
    {"where": "dataset_id='regions'"}, {"refine": "theme:Economie"}, {"exclude": "theme:Economie"},
    {"select": "dataset_id, records_count", "order_by": "dataset_id desc"}, {"limit": 2, "offset": 1, "order_by": "dataset_id"},
    {"where": "title like 'r*'", "lang": "en"}, {"group_by": "theme", "select": "theme, count(*) as n"},
])
def test_catalogue_exports_select_as_the_catalogue_does(catalogue, params):
    """JSON and CSV hold exactly what /catalog/datasets answers to the same query."""
    expected = catalogue.get("/api/explore/v2.1/catalog/datasets", params={"limit": 100, **params}).json()["results"]
    assert catalogue.get(f"{URL}/json", params=params).json() == expected
    assert len(expected) < 3 or "select" in params  # a query that picks datasets left some out
    rows = _csv(catalogue, **params)
    assert len(rows) == len(expected)
    if "select" in params:
        assert [list(r) for r in rows] == [list(e) for e in expected]
        assert [list(r.values()) for r in rows] == [["" if v is None else str(v) for v in e.values()] for e in expected]
    else:
        assert [r["dataset_id"] for r in rows] == [e["dataset_id"] for e in expected]


def test_catalogue_csv_options_and_timezone(catalogue):
    text = catalogue.get(f"{URL}/csv", params={"select": "dataset_id, keyword, modified", "list_separator": "|",
                                               "quote_all": True, "delimiter": ",", "with_bom": False,
                                               "timezone": "Europe/Paris", "where": "dataset_id='departements'"}).text
    header, row = list(csv.reader(io.StringIO(text)))
    assert header == ["dataset_id", "keyword", "modified"]
    assert row[:2] == ["departements", "cog|insee"] and row[2].endswith(("+01:00", "+02:00"))
    grouped = catalogue.get(f"{URL}/csv", params={"group_by": "theme", "with_bom": False}).text.split("\r\n")
    # the groups, not the usual columns; the null group (datasets without a theme) first, as on /records
    assert grouped[:4] == ['theme', '""', 'Administration', 'Economie']
    negative = catalogue.get(f"{URL}/csv", params={"limit": -2})
    assert negative.status_code == 400 and negative.json()["message"] == (
        "Invalid value for limit API parameter: -2 was found but limit >= -1 is expected.")  # no internal bound
    assert catalogue.get(f"{URL}/json", params={"where": "dataset_id ="}).json()["error_code"] == "ODSQLError"


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_catalogue_tables_write_computed_numbers(catalogue, fmt):
    """sum() of integers comes from the engine as a Decimal, avg() as a float: numbers in the
    file as in the JSON export (the tables answered 500 on the Decimal, and quoted floats)."""
    from python_calamine import CalamineWorkbook

    params = {"select": "sum(default.records_count) as total, avg(default.records_count) as mean, "
                        "-max(default.records_count) as least", "with_bom": False}
    (expected,) = catalogue.get(f"{URL}/json", params=params).json()
    response = catalogue.get(f"{URL}/{fmt}", params=params)
    assert response.status_code == 200, response.text
    if fmt == "csv":
        assert response.text.split("\r\n")[1] == ";".join(
            str(expected[k]) for k in ("total", "mean", "least"))  # unquoted numbers
    else:
        sheet = CalamineWorkbook.from_filelike(io.BytesIO(response.content)).get_sheet_by_index(0).to_python()
        assert sheet[1] == pytest.approx([expected["total"], expected["mean"], expected["least"]])  # number cells


def test_catalogue_csv_neutralises_formulas(catalogue):
    (row,) = _csv(catalogue, where="dataset_id='formules'")
    assert row["title"] == "'=HYPERLINK(\"http://evil\",\"titre\")"
    assert row["keyword"] == "'@kw"
    assert not row["description"].startswith(("=", "+", "-", "@"))


def test_dcat_pages_the_selection(catalogue):
    hydra = "http://www.w3.org/ns/hydra/core#"
    graph = Graph().parse(data=catalogue.get(f"{URL}/ttl", params={"exclude": "theme:Economie", "page_size": 1,
                                                                    "order_by": "dataset_id"}).text, format="turtle")
    (dataset,) = graph.subjects(RDF.type, DCAT.Dataset)
    assert str(graph.value(dataset, DCAT.landingPage)).endswith("/departements/")
    view = next(graph.subjects(RDF.type, URIRef(hydra + "PartialCollectionView")))
    assert int(graph.value(view, URIRef(hydra + "totalItems"))) == 2
    following = str(graph.value(view, URIRef(hydra + "next")))
    assert "exclude=theme%3AEconomie" in following and "order_by=dataset_id" in following
    assert following.endswith("page_size=1&page=2")
    second = Graph().parse(data=catalogue.get(following.split("/api/explore/v2.1/catalog/exports")[1].join(
        [f"{URL}", ""]).replace("/dcat?", "/ttl?")).text, format="turtle")
    (other,) = second.subjects(RDF.type, DCAT.Dataset)
    assert str(second.value(other, DCAT.landingPage)).endswith("/formules/")
    rss = ET.fromstring(catalogue.get(f"{URL}/rss", params={"where": "dataset_id='regions'"}).content)
    assert [i.findtext("title") for i in rss.find("channel").findall("item")] == ["Régions"]
    assert catalogue.get(f"{URL}/dcat", params={"group_by": "theme"}).status_code == 400


def test_dcat_downloads_use_labels_unless_told_not_to(catalogue):
    def downloads(**params) -> set[str]:
        graph = Graph().parse(data=catalogue.get(f"{URL}/ttl", params={"where": "dataset_id='regions'", **params}).text,
                              format="turtle")
        return {str(url) for url in graph.objects(None, DCAT.downloadURL)}

    assert downloads() and all(url.endswith("?use_labels=true") for url in downloads())
    assert downloads(use_labels_in_exports=False) == {url.removesuffix("?use_labels=true") for url in downloads()}


def test_data_json_for_project_open_data_harvesters(client):
    """data.json (Project Open Data v1.1): the schema's required fields, the DCAT URIs, the
    distributions DCAT lists, and the catalogue query."""
    document = client.get(f"{URL}/data.json").json()
    assert document["conformsTo"] == "https://project-open-data.cio.gov/v1.1/schema"
    assert document["@type"] == "dcat:Catalog"
    by_title = {d["title"]: d for d in document["dataset"]}
    assert set(by_title) == {"Logements sociaux financés à Paris", "Âge de liquidation"}
    required = {"title", "description", "keyword", "modified", "publisher", "contactPoint", "identifier", "accessLevel"}
    assert all(required <= set(d) for d in document["dataset"])
    logements = by_title["Logements sociaux financés à Paris"]
    graph = Graph().parse(data=client.get(f"{URL}/dcat").content, format="xml")
    assert URIRef(logements["identifier"]) in set(graph.subjects(RDF.type, DCAT.Dataset))
    assert logements["keyword"] == ["logement", "Paris"] and logements["accessLevel"] == "public"
    assert logements["contactPoint"] == {"@type": "vcard:Contact", "fn": "Open data", "hasEmail": "mailto:open@paris.fr"}
    assert logements["license"] == "https://opendatacommons.org/licenses/odbl/1-0/"
    assert logements["accrualPeriodicity"] == "R/P1Y" and logements["temporal"] == "2001-01-01/2023-12-31"
    assert {d["format"] for d in logements["distribution"]} == {"CSV", "JSON", "GEOJSON", "PARQUET", "XLSX", "SHP", "KML", "GPX",
                                                                "JSON_LD", "RDF_TURTLE", "RDF_XML", "N3"}
    assert all(d["downloadURL"].endswith("?use_labels=true") for d in logements["distribution"])
    only = client.get(f"{URL}/data.json", params={"where": "dataset_id='retraites'", "include_exports": "csv"}).json()
    assert [d["title"] for d in only["dataset"]] == ["Âge de liquidation"]
    assert [d["format"] for d in only["dataset"][0]["distribution"]] == ["CSV"]
    assert "data.json" in {link["rel"] for link in client.get(URL).json()["links"]}


def test_data_json_access_levels(catalogue):
    levels = {d["landingPage"].rsplit("/", 2)[1]: d["accessLevel"]
              for d in catalogue.get(f"{URL}/data.json").json()["dataset"]}
    assert levels == {"departements": "public", "regions": "public", "formules": "restricted public"}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_catalogue_tables_keep_their_header_when_nothing_matches(catalogue, fmt):
    """A dataset export that matches nothing still writes its header; the catalogue's wrote an
    empty file (its columns came from the rows), which a client reads as having no columns."""
    from python_calamine import CalamineWorkbook

    def header(params):
        response = catalogue.get(f"{URL}/{fmt}", params={"where": "records_count > 999999999", "with_bom": False,
                                                         **params})
        assert response.status_code == 200, response.text
        if fmt == "csv":
            return response.text.split("\r\n")[0].split(";")
        return CalamineWorkbook.from_filelike(io.BytesIO(response.content)).get_sheet_by_index(0).to_python()[0]

    assert header({"select": "dataset_id, title as name"}) == ["dataset_id", "name"]
    assert header({})[:3] == ["dataset_id", "dataset_uid", "title"]
    assert header({"group_by": "theme"}) == ["theme"]


def test_v1_catalogue_csv_keeps_its_header_when_nothing_matches(catalogue):
    text = catalogue.get("/api/datasets/1.0/search/", params={"format": "csv", "q": "zzqxjw"}).text
    assert text.lstrip("\ufeff").split("\r\n")[0].split(";")[:2] == ["dataset_id", "dataset_uid"]


def test_catalogue_csv_of_every_property_keeps_its_header_when_nothing_matches(catalogue):
    """``select=*`` writes the dataset objects' properties; with no match it wrote the catalogue
    table's 107 columns instead (found by a review)."""
    def header(where):
        text = catalogue.get(f"{URL}/csv", params={"select": "*", "where": where, "with_bom": False}).text
        return text.split("\r\n")[0].split(";")

    assert header("records_count > 999999999") == header("true")


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_catalogue_tables_write_objects_as_json(catalogue, fmt):
    """``fields`` (a list of objects) was written as Python's repr joined by the list separator
    (``{'name': 'code', … 'description': None},{…}``) while ``metas`` beside it was JSON: every
    object-valued cell is JSON now, a list of texts still joined by ``list_separator``."""
    import json

    from python_calamine import CalamineWorkbook

    params = {"select": "dataset_id, fields, metas, keyword", "where": "dataset_id='departements'", "with_bom": False}
    (expected,) = catalogue.get(f"{URL}/json", params=params).json()
    response = catalogue.get(f"{URL}/{fmt}", params=params)
    if fmt == "csv":
        (row,) = csv.DictReader(io.StringIO(response.text), delimiter=";")
    else:
        header, cells = CalamineWorkbook.from_filelike(io.BytesIO(response.content)).get_sheet_by_index(0).to_python()
        row = dict(zip(header, cells))
    assert json.loads(row["fields"]) == expected["fields"] and row["fields"].startswith('[{"name": ')
    assert json.loads(row["metas"]) == expected["metas"]
    assert row["keyword"] == "cog,insee"
