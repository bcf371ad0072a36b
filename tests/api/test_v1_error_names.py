"""A v1 refusal names the parameter the caller sent: a condition of ``q`` the compiler refuses
names ``q`` (not the ``where`` clause it becomes), and a bad ``refine.<field>``/``exclude.<field>``
names that very parameter (not v2.1's ``refine``/``exclude``), on every records route reading
them; v2.1's own ``refine=``/``exclude=`` keep Opendatasoft's wording. A dataset page, whose box
is v1's ``q``, still says where the error is in its language."""

from __future__ import annotations

import re
from html import unescape

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from tests.conftest import Published, annotated, logements_file, published_instance

#: Every records route that reads ``refine.``/``exclude.`` (``api.v1._prefixed``), with what each needs.
ROUTES = {"/api/records/1.0/search/": {}, "/api/records/1.0/download/": {},
          "/api/records/1.0/geopreview/": {}, "/api/records/1.0/geocluster/": {"clusterprecision": 5},
          "/api/records/1.0/boundingbox/": {}, "/api/records/1.0/geopolygon/": {},
          "/api/records/1.0/analyze/": {"x": "annee", "y.n.func": "COUNT"}}


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    folder = tmp_path_factory.mktemp("v1errornames")
    instance = published_instance(folder / "home", Published("logements", logements_file(refdata), "Logements"),
                                  annotated(folder))
    yield TestClient(create_app(instance))
    instance.store.close()


def refused(client, path: str, **params) -> dict:
    response = client.get(path, params=params)
    assert response.status_code == 400, (path, params, response.text)
    body = response.json()
    assert body["error"] == body["message"], body  # v1's shape: the message twice
    return body


def test_a_refused_q_condition_names_q(client):
    for q in ("annee>abc", "annee:[abc TO 2010]", 'bs:"' + "x" * 20_000 + '"'):
        body = refused(client, "/api/records/1.0/search/", dataset="logements", q=q)
        assert body["error_code"] == "ODSQLError"
        assert body["message"].endswith("Clause(s) containing the error(s): q."), body
    body = refused(client, "/api/records/1.0/search/", dataset="logements", q="annee>abc")
    assert body["message"] == "ODSQL query is malformed: not a number: 'abc' Clause(s) containing the error(s): q."
    for path, extra in ROUTES.items():
        body = refused(client, path, dataset="logements", q="annee>=abc", **extra)
        assert body["message"].endswith("Clause(s) containing the error(s): q."), (path, body)


@pytest.mark.parametrize("prefix", ["refine", "exclude"])
def test_an_unknown_refined_field_names_its_parameter(client, prefix):
    for path, extra in ROUTES.items():
        body = refused(client, path, dataset="logements", **{f"{prefix}.nope": "1"}, **extra)
        assert body == {"error": body["message"], "error_code": "ODSQLError",
                        "message": f"ODSQL query is malformed: Unknown field: nope Clause(s) containing the error(s): "
                                   f"{prefix}.nope."}, path
    # v2.1's refine=/exclude= are the parameters sent there: their refusals keep Opendatasoft's wording
    records = "/api/explore/v2.1/catalog/datasets/logements/records"
    assert client.get(records, params={prefix: "nope:1"}).json()["message"] == \
        f"ODSQL query is malformed: Unknown field: nope Clause(s) containing the error(s): {prefix}."
    assert client.get(records, params={prefix: "annee:abc"}).json() == {
        "error_code": "InvalidRESTParameterError", "message": "Invalid value 'abc' for field annee of type int."}


@pytest.mark.parametrize("prefix", ["refine", "exclude"])
def test_a_bad_number_or_date_names_its_parameter(client, prefix):
    for path, extra in ROUTES.items():
        body = refused(client, path, dataset="logements", **{f"{prefix}.annee": "abc"}, **extra)
        assert body["error_code"] == "InvalidRESTParameterError"
        assert body["message"] == f"Invalid value 'abc' for field annee of type int in the {prefix}.annee API parameter.", path
    body = refused(client, "/api/records/1.0/search/", dataset="mv", **{f"{prefix}.d": "2020/13"}, facet="d")
    assert body["message"] == (f"Invalid date path '2020/13' in the {prefix}.d API parameter: YYYY, YYYY/MM or "
                               "YYYY/MM/DD is expected.")
    body = refused(client, "/api/records/1.0/search/", dataset="logements", **{f"{prefix}.annee": "1\x00"})
    assert body["message"] == f"Invalid value for {prefix}.annee API parameter: the value holds a NUL character."


def test_an_unknown_sort_or_fields_names_its_parameter(client):
    """sort and fields become ODSQL's order_by and select, which the caller did not send."""
    for path in ("/api/records/1.0/search/", "/api/records/1.0/download/", "/api/records/1.0/geopreview/"):
        body = refused(client, path, dataset="logements", sort="-nope")
        assert body["message"] == "ODSQL query is malformed: Unknown field: nope Clause(s) containing the error(s): sort."
    for path, extra in (("/api/records/1.0/search/", {}), ("/api/records/1.0/download/", {}),
                        ("/api/records/1.0/download/", {"format": "json"})):
        body = refused(client, path, dataset="logements", fields="annee,nope", **extra)
        assert body["message"] == "ODSQL query is malformed: Unknown field: nope Clause(s) containing the error(s): fields."
    fine = client.get("/api/records/1.0/search/", params={"dataset": "logements", "fields": "annee", "rows": 1,
                                                          "sort": ["-annee", "dist"], "geofilter.distance": "48.85,2.35,1000"})
    assert fine.status_code == 200 and set(fine.json()["records"][0]["fields"]) == {"annee", "dist"}


def test_v1_catalogue_refinements_name_their_parameter(client):
    body = refused(client, "/api/datasets/1.0/search/", **{"refine.nope": "x"})
    assert body["message"].endswith("Clause(s) containing the error(s): refine.nope."), body


def alert(html: str) -> str | None:
    found = re.search(r'<p class="error" role="alert">(.*?)</p>', html, re.S)
    return unescape(re.sub(r"<[^>]+>", "", found.group(1))) if found else None


def test_a_page_says_a_refused_box_is_in_the_search(client):
    """The page's box is v1's q: its refusal names q, which the page reads as "the search"."""
    for lang, said in (("fr", "Filtre invalide : Ce n'est pas un nombre : « abc » (dans la recherche)."),
                       ("en", "Invalid filter: not a number: 'abc' (in the search).")):
        page = client.get("/explore/dataset/logements/table/", params={"q": "annee>abc", "lang": lang})
        assert page.status_code == 400 and alert(page.text) == said, alert(page.text)


def test_a_refused_serie_expression_names_its_parameter(client):
    """analyze, geocluster and geopolygon turn ``y.<serie>.expr`` into select items: a refusal
    names the serie's parameter, whichever the reason (an unknown or a hidden field, a type)."""
    for path, extra in {"/api/records/1.0/analyze/": {"x": "annee"},
                        "/api/records/1.0/geocluster/": {"clusterprecision": 5},
                        "/api/records/1.0/geopolygon/": {}}.items():
        for expr, detail in (("nope", "Unknown field: nope"), ("annee + nope", "Unknown field: nope"),
                             ("bs", "Argument 1 of sum() must be double or int, not text.")):
            body = refused(client, path, dataset="logements", **{"y.total.func": "SUM", "y.total.expr": expr}, **extra)
            assert body["message"] == f"ODSQL query is malformed: {detail} Clause(s) containing the error(s): " \
                                      "y.total.expr.", (path, expr, body)


def test_too_many_words_in_q_names_q(client):
    words = " ".join(f"mot{i}" for i in range(40))
    for path, extra in ROUTES.items():
        body = refused(client, path, dataset="logements", q=words, **extra)
        assert body["message"] == ("ODSQL query is malformed: A full-text search takes at most 32 words (40 given). "
                                   "Clause(s) containing the error(s): q."), (path, body)
