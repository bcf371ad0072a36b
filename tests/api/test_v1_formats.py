"""v1's record search as CSV (``format=csv``, Opendatasoft's v1 documentation lists it beside
json, jsonp, geojson and geojsonp): the JSON answer's page, written by the download's CSV writer."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections import Counter

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from tests.conftest import Published, annotated, logements_file, published_instance

SEARCH = "/api/records/1.0/search/"
DOWNLOAD = "/api/records/1.0/download/"
#: A v1 field query, a refinement and an exclusion, which the oracle below applies to the file.
FILTERS = {"dataset": "logements", "q": "annee>=2015", "refine.bs": "RIVP", "exclude.arrdt": "13"}


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    folder = tmp_path_factory.mktemp("v1csv")
    instance = published_instance(folder / "home", Published("logements", logements_file(refdata)),
                                  dataclasses.replace(annotated(folder), labels={"dt": "Horodatage"}))
    yield TestClient(create_app(instance))
    instance.store.close()


@pytest.fixture(scope="module")
def rows(logements_rows):
    return logements_rows


def _lines(body: bytes) -> list[str]:
    """A CSV answer's lines, its BOM checked and removed."""
    assert body.startswith("\ufeff".encode())
    return body.decode("utf-8-sig").split("\r\n")[:-1]


def _table(body: bytes, delimiter: str = ";") -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline=""), delimiter=delimiter))


def test_search_csv_is_the_page_the_json_answer_lists(client, rows):
    expected = [r for r in rows if int(r["annee"]) >= 2015 and r["bs"] == "RIVP" and r["arrdt"] != "13"]
    answer = client.get(SEARCH, params={**FILTERS, "format": "csv", "rows": 5, "start": 3, "sort": "nb_logmt_total",
                                        "fields": "nb_logmt_total,id_livraison,annee"})
    assert answer.status_code == 200 and answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"] == 'attachment; filename="logements.csv"'
    lines = _lines(answer.content)
    assert lines[0] == "nb_logmt_total;id_livraison;annee"  # the fields, in the order asked
    page = _table(answer.content)
    totals = sorted((int(r["nb_logmt_total"]) for r in expected), reverse=True)  # v1 sorts descending
    assert [int(r["nb_logmt_total"]) for r in page] == totals[3:8]
    assert all(int(r["annee"]) >= 2015 for r in page)
    # the JSON answer of the same call: the same records, the same order of the sort key
    json_page = client.get(SEARCH, params={**FILTERS, "rows": 5, "start": 3, "sort": "nb_logmt_total"}).json()
    assert [r["fields"]["nb_logmt_total"] for r in json_page["records"]] == totals[3:8]
    everything = client.get(SEARCH, params={**FILTERS, "format": "csv", "rows": -1})
    assert len(_table(everything.content)) == len(expected) == json_page["nhits"] > 8


def test_search_csv_is_written_as_the_download_writes_it(client):
    """Every matching record in one page: the same lines as the download of the same filters
    (same header, separator, BOM, quoting, points as lat,lon, shapes as GeoJSON)."""
    page = client.get(SEARCH, params={**FILTERS, "format": "csv", "rows": -1, "sort": "annee"})
    download = client.get(DOWNLOAD, params={**FILTERS, "format": "csv", "sort": "annee"})
    searched, downloaded = _lines(page.content), _lines(download.content)
    assert searched[0] == downloaded[0] and ";geo_shape;geo_point_2d" in searched[0]
    assert Counter(searched[1:]) == Counter(downloaded[1:]) and len(searched) > 9  # ties in annee: any order


@pytest.mark.parametrize("timezone", ["UTC", "Europe/Paris"])
def test_search_csv_of_every_field_kind_matches_the_download(client, timezone):
    """Dates, instants in the request's timezone, multivalued texts, decimals and empty cells;
    and the download's CSV options, csv_separator and use_labels_for_header."""
    params = {"dataset": "mv", "timezone": timezone, "csv_separator": "|", "use_labels_for_header": "true"}
    page = client.get(SEARCH, params={**params, "format": "csv", "rows": 100})
    download = client.get(DOWNLOAD, params={**params, "format": "csv"})
    searched, downloaded = _lines(page.content), _lines(download.content)
    assert searched[0] == downloaded[0] == "id|tags|path|cat|d|n|x|Horodatage"
    assert Counter(searched[1:]) == Counter(downloaded[1:]) and len(searched) == 9
    dt = {r["id"]: r["Horodatage"] for r in _table(page.content, "|")}
    assert dt["1"] == ("2020-12-31T23:30:00+00:00" if timezone == "UTC" else "2021-01-01T00:30:00+01:00")
    assert dt["4"] == ""


def test_search_csv_keeps_the_search_window_and_its_errors(client):
    assert client.get(SEARCH, params={"dataset": "logements", "format": "csv", "rows": 10, "start": 9995}).status_code == 400
    assert client.get(SEARCH, params={"dataset": "logements", "format": "csv", "csv_separator": "a"}).status_code == 400
    empty = client.get(SEARCH, params={"dataset": "logements", "format": "csv", "q": "annee>=3000"})
    assert _lines(empty.content) == [_lines(empty.content)[0]] and empty.content.count(b"\r\n") == 1


@pytest.mark.parametrize("fmt", ["xml", "xlsx"])
def test_search_formats_opendatasoft_does_not_list_are_refused(client, fmt):
    """The reference (§11) lists json, jsonp, geojson, geojsonp, rss and atom (csv: the download's)."""
    answer = client.get(SEARCH, params={"dataset": "logements", "format": fmt})
    assert answer.status_code == 400 and answer.json()["error_code"] == "InvalidRESTParameterError"
    assert "'csv'" in answer.json()["error"]


@pytest.mark.parametrize("fmt", ["jsonld", "turtle", "rdfxml", "n3"])
def test_the_page_download_link_names_rdf_records_as_v21_does(client, rows, fmt):
    """The RDF formats name each record by its v2.1 URL: the dataset page's download link
    answered 500 (no dataset URL to build the names from)."""
    from rdflib import Graph

    answer = client.get("/explore/dataset/logements/download/",
                        params={"format": fmt, "q": "annee>=2015", "refine.bs": "RIVP"})
    assert answer.status_code == 200, answer.text
    graph = Graph().parse(data=answer.content, format={"jsonld": "json-ld", "rdfxml": "xml", "n3": "nt"}.get(fmt, fmt))
    subjects = {str(s) for s in graph.subjects() if "/records/" in str(s)}
    assert len(subjects) == sum(1 for r in rows if int(r["annee"]) >= 2015 and r["bs"] == "RIVP")
    v21 = client.get("/api/explore/v2.1/catalog/datasets/logements/exports/jsonld",
                     params={"where": "annee>=2015", "refine": "bs:RIVP"})
    assert subjects == {str(s) for s in Graph().parse(data=v21.content, format="json-ld").subjects() if "/records/" in str(s)}
