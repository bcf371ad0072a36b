"""The catalogue in Dublin Core (``/catalog/exports/dublin_core``), read back with rdflib and as
plain XML against the metadata the datasets were published with; and Opendatasoft's national
DCAT-AP profiles, which this portal does not serve."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, RDFS

from portail.api import create_app
from portail.catalog import services
from tests.conftest import Published, published_instance

URL = "/api/explore/v2.1/catalog/exports"
BASE = "https://data.example.fr"
DCMITYPE = "http://purl.org/dc/dcmitype/"
#: What each dataset is published with; the expectations below are read from it.
METADATA = {
    "departements": {"title": "Départements", "description": "Les départements **français**, code officiel.",
                     "themes": ["Administration"], "keywords": ["cog", "insee"], "license": "ODbL",
                     "publisher": "Insee", "update_frequency": "annual", "temporal_start": "2026-01-01",
                     "temporal_end": "2026-12-31", "spatial_coverage": "France", "language": "fr"},
    "regions": {"title": "Régions", "themes": ["Economie"], "license": "Licence maison", "language": "en"},
    "arrondissements": {"title": "Arrondissements", "themes": ["Administration"], "keywords": ["cog"],
                        "license": "Ma licence", "license_url": "https://example.org/ma-licence", "publisher": "Insee"},
}
#: Licence names a harvester knows by URI (the others are only named).
KNOWN_LICENCES = {"ODbL": "https://opendatacommons.org/licenses/odbl/1-0/"}
#: The dataset exports a dataset without a geo field lists, and their media types.
MEDIA_TYPES = {"csv": "text/csv", "json": "application/json", "parquet": "application/vnd.apache.parquet",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               "jsonld": "application/ld+json", "turtle": "text/turtle", "rdfxml": "application/rdf+xml",
               "n3": "text/n3"}
FILES = {"departements": "cog2026_departements.csv", "regions": "cog2026_regions.csv",
         "arrondissements": "cog2026_arrondissements.csv"}


@pytest.fixture(scope="module")
def instance(tmp_path_factory, refdata):
    """The three datasets of ``METADATA``, a fourth whose metadata only its readers see, and a
    draft never published."""
    from portail.auth import services as auth

    folder = refdata / "referentiels"
    instance = published_instance(
        tmp_path_factory.mktemp("dublin_core") / "home",
        *(Published(slug, folder / FILES[slug], metas["title"],
                    metadata={k: v for k, v in metas.items() if k != "title"}) for slug, metas in METADATA.items()),
        Published("cache", folder / "cog2026_regions.csv", "Jeu caché"), base_url=BASE)
    with instance.session() as s:
        auth.set_dataset_security(s, services.get_dataset(s, "cache"), visibility="restricted", metadata_public=False)
        services.create_dataset(s, "brouillon", "Pas encore publié")
    yield instance
    instance.store.close()


@pytest.fixture(scope="module")
def client(instance):
    return TestClient(create_app(instance))


@pytest.fixture(scope="module")
def stored(instance) -> dict[str, dict]:
    """Each published dataset's uid and instants, as the catalogue stores them."""
    with instance.session() as s:
        rows = {slug: services.get_dataset(s, slug) for slug in METADATA}
        return {slug: {"uid": d.uid, "issued": d.created_at, "modified": d.modified} for slug, d in rows.items()}


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _graph(client, **params) -> Graph:
    response = client.get(f"{URL}/dublin_core", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/rdf+xml")
    return Graph().parse(data=response.content, format="xml")


def _datasets(graph: Graph) -> set[URIRef]:
    return set(graph.subjects(DCTERMS.type, URIRef(DCMITYPE + "Dataset")))


def test_each_dataset_as_published(client, stored):
    graph = _graph(client)
    uri = {slug: URIRef(f"{BASE}/dcat/dataset/{row['uid']}") for slug, row in stored.items()}
    assert _datasets(graph) == set(uri.values())  # neither the draft nor the dataset the caller may not see
    (catalog,) = graph.subjects(DCTERMS.type, URIRef(DCMITYPE + "Collection"))
    assert set(graph.objects(catalog, DCTERMS.hasPart)) == set(uri.values())
    for slug, metas in METADATA.items():
        node, lang = uri[slug], metas.get("language", "fr")
        assert str(graph.value(node, DCTERMS.identifier)) == stored[slug]["uid"]
        assert graph.value(node, DCTERMS.title) == Literal(metas["title"], lang=lang)
        assert graph.value(node, DCTERMS.description) == (Literal(metas["description"], lang=lang)
                                                          if "description" in metas else None)
        assert set(graph.objects(node, DCTERMS.subject)) == {Literal(s, lang=lang)
                                                             for s in metas["themes"] + metas.get("keywords", [])}
        assert str(graph.value(node, FOAF.page)) == f"{BASE}/explore/dataset/{slug}/"
        assert str(graph.value(node, DCTERMS.language)).endswith("/language/" + {"fr": "FRA", "en": "ENG"}[lang])
        for term, key in ((DCTERMS.issued, "issued"), (DCTERMS.modified, "modified")):
            written = graph.value(node, term).toPython()
            assert written.tzinfo is not None and written == _utc(stored[slug][key])
        publisher = graph.value(node, DCTERMS.publisher)
        assert (publisher and str(graph.value(publisher, FOAF.name))) == metas.get("publisher", None)
        licence = metas.get("license_url") or KNOWN_LICENCES.get(metas["license"])
        if licence:
            assert graph.value(node, DCTERMS.license) == URIRef(licence)
            assert str(graph.value(URIRef(licence), RDFS.label)) == metas["license"]
        else:
            rights = graph.value(node, DCTERMS.rights)
            assert graph.value(node, DCTERMS.license) is None
            assert (graph.value(rights, RDF.type), str(graph.value(rights, RDFS.label))) == \
                (DCTERMS.RightsStatement, metas["license"])
        downloads = {str(u): str(graph.value(u, DCTERMS.format)) for u in graph.objects(node, DCTERMS.hasFormat)}
        assert downloads == {f"{BASE}/api/explore/v2.1/catalog/datasets/{slug}/exports/{fmt}?use_labels=true":
                             f"https://www.iana.org/assignments/media-types/{media}" for fmt, media in MEDIA_TYPES.items()}
    departements = uri["departements"]
    assert str(graph.value(departements, DCTERMS.accrualPeriodicity)).endswith("/frequency/ANNUAL")
    assert str(graph.value(graph.value(departements, DCTERMS.spatial), RDFS.label)) == "France"
    period = graph.value(graph.value(departements, DCTERMS.temporal), RDF.value)
    assert (str(period), period.datatype) == ("start=2026-01-01; end=2026-12-31; scheme=W3C-DTF;", DCTERMS.Period)
    assert graph.value(uri["regions"], DCTERMS.accrualPeriodicity) is None
    assert graph.value(uri["regions"], DCTERMS.temporal) is None
    # one agent for Insee, named once, wherever a dataset names it
    assert graph.value(uri["departements"], DCTERMS.publisher) == graph.value(uri["arrondissements"], DCTERMS.publisher)


def test_plain_xml_readers_find_the_datasets(client):
    """An XML harvester reads one ``rdf:Description`` per resource, its DCMI terms as children."""
    rdf, dcterms = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}", "{http://purl.org/dc/terms/}"
    root = ET.fromstring(client.get(f"{URL}/dublin_core").content)
    titles = {d.findtext(f"{dcterms}title") for d in root.findall(f"{rdf}Description")
              if any(t.get(f"{rdf}resource") == DCMITYPE + "Dataset" for t in d.findall(f"{dcterms}type"))}
    assert titles == {metas["title"] for metas in METADATA.values()}


def test_same_resources_as_dcat(client):
    """A harvester reading both exports merges them: the datasets' URIs are DCAT's."""
    dcat = Graph().parse(data=client.get(f"{URL}/dcat").content, format="xml")
    assert _datasets(_graph(client)) == set(dcat.subjects(RDF.type, DCAT.Dataset))


def _kept(params: dict) -> list[str]:
    """The slugs a catalogue query keeps, worked out from ``METADATA``."""
    slugs = sorted(METADATA)
    if "where" in params:
        return [s for s in slugs if params["where"] == f"dataset_id='{s}'"
                or params["where"] == "keyword = 'insee'" and "insee" in METADATA[s].get("keywords", [])]
    if "refine" in params:
        return [s for s in slugs if params["refine"].split(":")[1] in METADATA[s]["themes"]]
    if "exclude" in params:
        return [s for s in slugs if params["exclude"].split(":")[1] not in METADATA[s]["themes"]]
    ordered = sorted(slugs, reverse=params["order_by"].endswith("desc"))
    return ordered[params.get("offset", 0):params.get("offset", 0) + params["limit"]]


@pytest.mark.parametrize("params", [
    {"where": "dataset_id='regions'"}, {"where": "keyword = 'insee'"}, {"refine": "theme:Administration"},
    {"exclude": "theme:Administration"}, {"order_by": "dataset_id", "limit": 1, "offset": 1},
    {"order_by": "dataset_id desc", "limit": 2},
])
def test_the_catalogue_query_picks_the_datasets(client, stored, params):
    expected = _kept(params)
    assert expected and len(expected) < len(METADATA)  # the query leaves some out
    graph = _graph(client, **params)
    assert _datasets(graph) == {URIRef(f"{BASE}/dcat/dataset/{stored[s]['uid']}") for s in expected}


def test_include_exports_labels_and_groups(client, stored):
    graph = _graph(client, where="dataset_id='regions'", include_exports="csv,geojson", use_labels_in_exports=False)
    node = URIRef(f"{BASE}/dcat/dataset/{stored['regions']['uid']}")
    assert {str(u) for u in graph.objects(node, DCTERMS.hasFormat)} == \
        {f"{BASE}/api/explore/v2.1/catalog/datasets/regions/exports/csv"}  # no geo field: no GeoJSON
    refused = client.get(f"{URL}/dublin_core", params={"group_by": "theme"})
    assert refused.status_code == 400 and "group_by" in refused.json()["message"]


# ---- national DCAT-AP profiles ----------------------------------------------------------------
#: Opendatasoft's national profiles and the name each error gives.
PROFILES = {"dcat_ap_ch": "DCAT-AP-CH", "dcat_ap_de": "DCAT-AP.de", "dcat_ap_se": "DCAT-AP-SE",
            "dcat_ap_sp": "DCAT-AP-ES", "dcat_ap_it": "DCAT-AP_IT", "dcat_ap_vl": "DCAT-AP-VL",
            "dcat_ap_benap": "BENAP"}
#: The JS client's spellings (hyphens; ``dcat-ap-v1`` for Flanders).
SPELLINGS = {**{p: n for p, n in PROFILES.items()}, **{p.replace("_", "-"): n for p, n in PROFILES.items()},
             "dcat-ap-v1": "DCAT-AP-VL"}


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
def test_national_profiles_are_not_activated_here(client, spelling):
    response = client.get(f"{URL}/{spelling}")
    assert response.status_code == 404
    body = response.json()
    assert body["error_code"] == "NotFound"
    assert SPELLINGS[spelling] in body["message"] and f"({spelling})" in body["message"]
    assert "not activated on this portal" in body["message"]
    pointed = re.search(r"(https?://\S+/catalog/exports/dcat)\b", body["message"]).group(1)
    harvested = client.get(pointed)
    assert harvested.status_code == 200
    assert len(set(Graph().parse(data=harvested.content, format="xml").subjects(RDF.type, DCAT.Dataset))) == len(METADATA)


def test_listed_formats_are_the_served_ones(client):
    links = client.get(URL).json()["links"]
    listed = {link["rel"]: link["href"] for link in links if link["rel"] != "self"}
    assert "dublin_core" in listed
    assert not {p for p in SPELLINGS if p.replace("-", "_") in listed}
    for rel, href in listed.items():
        assert client.get(href).status_code == 200, rel
    unknown = client.get(f"{URL}/dcat_ap_fr")
    assert unknown.status_code == 404 and unknown.json()["message"] == "Unknown catalog export format: dcat_ap_fr"
