"""Dataset exports in RDF (Turtle, N3, RDF/XML, JSON-LD), parsed back with rdflib and checked
against ``/records``."""

from __future__ import annotations

import gzip
import itertools
from datetime import date

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import RDF, RDFS, XSD

from portail.api import create_app
from portail.exports import FORMATS, ExportOptions
from portail.exports.rdf import local_name
from portail.schema import Field, FieldType
from tests.conftest import Published, logements_file, published_instance

API = "/api/explore/v2.1/catalog/datasets"
BASE = "http://127.0.0.1:8000" + API  # the instance's configured public URL, not the test client's host
PARSERS = {"turtle": "turtle", "n3": "n3", "rdfxml": "xml", "jsonld": "json-ld"}
WKT = URIRef("http://www.opengis.net/ont/geosparql#wktLiteral")


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    tricky = tmp_path_factory.mktemp("src") / "tricky.csv"
    tricky.write_bytes('texte;n\n"a ""quoted"" \\ back\nslash\r <&> été";1\n'.encode())
    instance = published_instance(tmp_path_factory.mktemp("rdf") / "home",
                                  Published("tricky", tricky),
                                  Published("logements", logements_file(refdata), "Logements sociaux"),
                                  Published("senateurs", refdata / "elus" / "rne_elus-senateurs-sen.csv", "Sénateurs"),
                                  Published("departements", refdata / "referentiels" / "cog2026_departements.csv"))
    yield TestClient(create_app(instance))
    instance.store.close()


def graph(client, dataset: str, fmt: str, **params) -> Graph:
    response = client.get(f"{API}/{dataset}/exports/{fmt}", params=params)
    assert response.status_code == 200, response.text
    content = gzip.decompress(response.content) if params.get("compressed") else response.content
    return Graph().parse(data=content, format=PARSERS[fmt])


def predicate(dataset: str, name: str) -> URIRef:
    return URIRef(f"{BASE}/{dataset}#{name}")


def test_listing_advertises_the_rdf_formats(client):
    rels = {link["rel"] for link in client.get(f"{API}/senateurs/exports").json()["links"]}
    assert rels >= set(PARSERS)


@pytest.mark.parametrize("fmt", list(PARSERS))
def test_every_record_with_every_value_as_records_gives_it(client, fmt):
    """Senators: each record of /records is a typed resource named by its id, one triple per
    non-null value, dates as xsd:date."""
    records = client.get(f"{API}/senateurs/records", params={"limit": 100, "include_links": True,
                                                              "order_by": "nom_de_l_elu"}).json()
    total = records["total_count"]
    g = graph(client, "senateurs", fmt)
    subjects = set(g.subjects(RDF.type, URIRef(f"{BASE}/senateurs#Record")))
    assert len(subjects) == total == 348
    expected = 0
    for record in records["results"]:
        subject = URIRef(f"{BASE}/senateurs/records/{record['_id']}")
        assert subject in subjects
        for name, value in record.items():
            if name in ("_id", "_links") or value is None:
                continue
            expected += 1
            (literal,) = g.objects(subject, predicate("senateurs", name))
            if name.startswith("date_"):
                assert literal.datatype == XSD.date and literal.toPython() == date.fromisoformat(value)
            else:
                assert literal.datatype is None and str(literal) == value
    assert expected > 900
    blatrix = next(s for s in subjects if str(g.value(s, predicate("senateurs", "nom_de_l_elu"))) == "BLATRIX CONTAT")
    assert g.value(blatrix, predicate("senateurs", "date_de_naissance")) == Literal(date(1966, 3, 30))


@pytest.mark.parametrize("fmt", list(PARSERS))
def test_numbers_codes_and_geometries_are_typed(client, fmt):
    """Integers and doubles typed, a code with leading zeros still a string, a point as WKT."""
    g = graph(client, "logements", fmt, where="id_livraison='2000011'")
    (subject,) = g.subjects(RDF.type, URIRef(f"{BASE}/logements#Record"))
    (record,) = client.get(f"{API}/logements/records", params={"where": "id_livraison='2000011'",
                                                               "include_links": True}).json()["results"]
    assert subject == URIRef(f"{BASE}/logements/records/{record['_id']}")
    annee = g.value(subject, predicate("logements", "annee"))
    assert annee.datatype == XSD.integer and annee.toPython() == 2001 == record["annee"]
    x = g.value(subject, predicate("logements", "coord_x_l93"))
    assert x.datatype == XSD.double and x.toPython() == pytest.approx(655823.1529)
    point = g.value(subject, predicate("logements", "geo_point_2d"))
    assert point.datatype == WKT
    lon, lat = map(float, str(point).removeprefix("POINT (").removesuffix(")").split())
    assert (lon, lat) == (record["geo_point_2d"]["lon"], record["geo_point_2d"]["lat"])
    assert str(g.value(subject, predicate("logements", "geo_shape"))).startswith("POINT (2.398")
    assert g.value(subject, predicate("logements", "code_postal")) == Literal("75012")

    codes = graph(client, "departements", fmt, refine="dep:01")
    (ain,) = codes.subjects(RDF.type, URIRef(f"{BASE}/departements#Record"))
    assert codes.value(ain, predicate("departements", "dep")) == Literal("01")
    assert codes.value(ain, predicate("departements", "cheflieu")) == Literal("01053")


@pytest.mark.parametrize("fmt", list(PARSERS))
def test_query_parameters(client, fmt):
    """select, where, exclude, order_by, limit, compressed and use_labels as for other exports."""
    g = graph(client, "logements", fmt, select="annee,ville", where="annee >= 2020", exclude="ville:Paris",
              order_by="annee", limit=5, compressed=True)
    assert len(set(g.subjects(RDF.type, None))) == 0  # every record is in Paris
    g = graph(client, "logements", fmt, select="annee, nb_logmt_total * 2 as double_total", where="annee >= 2020",
              limit=5, use_labels=True)
    subjects = set(g.subjects(RDF.type, URIRef(f"{BASE}/logements#Record")))
    assert len(subjects) == 5
    assert {p for s in subjects for p in g.predicates(s)} == {RDF.type, predicate("logements", "annee"),
                                                               predicate("logements", "double_total")}
    assert all(g.value(s, predicate("logements", "annee")).toPython() >= 2020 for s in subjects)
    assert g.value(predicate("logements", "annee"), RDFS.label) == Literal("annee")


@pytest.mark.parametrize("fmt", list(PARSERS))
def test_text_is_escaped(client, fmt):
    g = graph(client, "tricky", fmt)
    (subject,) = g.subjects(RDF.type, URIRef(f"{BASE}/tricky#Record"))
    text = client.get(f"{API}/tricky/records").json()["results"][0]["texte"]
    assert text == 'a "quoted" \\ back\nslash\r <&> été'
    assert g.value(subject, predicate("tricky", "texte")) == Literal(text)


def test_aggregation_is_refused(client):
    response = client.get(f"{API}/logements/exports/turtle", params={"group_by": "annee"})
    assert response.status_code == 400 and response.json()["error_code"] == "InvalidRESTParameterError"


def test_a_field_name_starting_with_a_digit_is_an_xml_name():
    assert local_name("2019_pop") == "_2019_pop" and local_name("annee") == "annee"


@pytest.mark.parametrize("fmt", list(PARSERS))
def test_writers_stream(fmt):
    """Bytes come out while batches keep coming: an endless source still yields its first chunks."""
    fields = [Field("n", "n", FieldType.INT)]

    def endless():
        for start in itertools.count(0, 1000):
            n = pa.array(range(start, start + 1000), pa.int64())
            yield pa.RecordBatch.from_arrays([n, pa.compute.cast(n, pa.string())], names=["n", "__record_id"])

    chunks = FORMATS[fmt].writer(fields, endless(), ExportOptions(dataset_url="http://x/d"))
    assert sum(len(c) for c in itertools.islice(chunks, 5)) > 5 * 1000 * 20
    chunks.close()
