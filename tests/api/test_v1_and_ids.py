"""Record ids, the record endpoint, and the v1 search API for older apps."""

from __future__ import annotations

import csv
import json
import math
import re
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from tests.conftest import ANNOTATED_CSV, Published, annotated, logements_file, published_instance

V2 = "/api/explore/v2.1/catalog/datasets/logements"


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    instance = published_instance(tmp_path_factory.mktemp("v1") / "home", Published(
        "logements", logements_file(refdata), "Logements sociaux", {"bs": {"facet": []}}, {"keywords": ["logement"]}))
    yield TestClient(create_app(instance))
    instance.store.close()


@pytest.fixture(scope="module")
def rows(logements_rows):
    return logements_rows


def test_record_ids_are_stable_fingerprints_and_resolve(client):
    first = client.get(f"{V2}/records", params={"include_links": True, "limit": 3, "order_by": "id_livraison"}).json()["results"]
    again = client.get(f"{V2}/records", params={"include_links": True, "limit": 3, "order_by": "id_livraison"}).json()["results"]
    assert [r["_id"] for r in first] == [r["_id"] for r in again] and all(len(r["_id"]) == 40 for r in first)
    assert len({r["_id"] for r in first}) == 3
    one = client.get(f"{V2}/records/{first[0]['_id']}").json()
    assert one["id_livraison"] == first[0]["id_livraison"] and "_id" not in one
    assert client.get(f"{V2}/records/{'0' * 40}").status_code == 404
    assert client.get(f"{V2}/records/not-an-id").status_code == 404
    assert client.get(f"{V2}/records/{first[0]['_id']}", params={"select": "ville"}).json() == {"ville": "Paris"}


def test_v1_record_search(client, rows):
    body = client.get("/api/records/1.0/search/", params={"dataset": "logements", "rows": 5, "sort": "nb_logmt_total",
                                                          "facet": "bs", "refine.ville": "Paris"}).json()
    assert body["nhits"] == len(rows)
    record = body["records"][0]
    assert set(record) >= {"datasetid", "recordid", "fields", "geometry", "record_timestamp"}
    assert record["fields"]["nb_logmt_total"] == max(int(r["nb_logmt_total"]) for r in rows)  # v1 sorts descending
    lat, lon = record["fields"]["geo_point_2d"]
    assert 48.8 < lat < 48.95 and 2.2 < lon < 2.5 and record["geometry"]["coordinates"] == [lon, lat]
    bs = {f["name"]: f["count"] for f in body["facet_groups"][0]["facets"]}
    expected = {}
    for r in rows:
        expected[r["bs"]] = expected.get(r["bs"], 0) + 1
    assert bs == {k: v for k, v in sorted(expected.items(), key=lambda kv: (-kv[1], kv[0]))[:100]}
    assert body["parameters"]["refine"] == {"ville": "Paris"}
    ascending = client.get("/api/records/1.0/search", params={"dataset": "logements", "rows": 1, "sort": "-annee"}).json()
    assert ascending["records"][0]["fields"]["annee"] == min(int(r["annee"]) for r in rows)


def test_v1_full_text_q(client, rows):
    hits = client.get("/api/records/1.0/search/", params={"dataset": "logements", "q": "meuniers", "rows": 0}).json()["nhits"]
    expected = sum(1 for r in rows if any("meuniers" in v.lower() for v in r.values() if v))
    assert hits == expected > 0
    phrase = client.get("/api/records/1.0/search/", params={"dataset": "logements", "q": '"rue des meuniers"'}).json()
    assert all("rue des meuniers" in r["fields"]["adresse_programme"].lower() for r in phrase["records"])
    injection = client.get("/api/records/1.0/search/", params={"dataset": "logements", "q": "'; DROP TABLE records; --"})
    assert injection.status_code == 200 and injection.json()["nhits"] == 0
    assert client.get("/api/records/1.0/search/", params={"dataset": "logements", "rows": 10, "start": 9995}).status_code == 400
    missing = client.get("/api/records/1.0/search/", params={"q": "meuniers"})
    message = "Missing value for dataset API parameter: it is required."
    assert (missing.status_code, missing.json()) == (400, {
        "error": message, "error_code": "InvalidRESTParameterError", "message": message})


def test_v1_q_equals_is_an_exact_match_and_rows_minus_one_takes_all(client, rows):
    """``q=siren=552100554`` (Opendatasoft's query language: ``=`` is an exact match; company
    look-ups send it) matched nothing; ``rows=-1`` (apps listing a city's stations) was a 400."""
    def hits(q):
        return client.get("/api/records/1.0/search/", params={"dataset": "logements", "q": q, "rows": 0}).json()["nhits"]

    assert hits("bs=RIVP") == hits('bs=="RIVP"') == sum(r["bs"] == "RIVP" for r in rows) > 0
    assert hits("bs=rivp") == 0  # exact: not a word search
    assert hits("annee=2015") == sum(r["annee"] == "2015" for r in rows) > 0
    assert hits("annee=2015 AND bs=RIVP") == sum(r["annee"] == "2015" and r["bs"] == "RIVP" for r in rows)
    # "-" between a field and its value is exact too (documented beside ":" and "=="); elsewhere a hyphen is a word's
    assert hits("bs-RIVP") == hits("bs==RIVP") and hits("annee-2015 bs-rivp") == 0
    assert hits("code_postal-75013") == sum(r["code_postal"] == "75013" for r in rows) > 0
    assert hits("saint-denis") == hits('"saint denis"') > 0
    every = client.get("/api/records/1.0/search/", params={"dataset": "logements", "rows": -1, "q": "bs=RIVP"}).json()
    assert len(every["records"]) == every["nhits"] == sum(r["bs"] == "RIVP" for r in rows)
    window = client.get("/api/records/1.0/search/", params={"dataset": "logements", "rows": -1, "start": 4000}).json()
    assert len(window["records"]) == len(rows) - 4000
    for bad, named in (({"rows": -2}, "rows"), ({"start": -1}, "start")):  # a negative number named, not the window
        answer = client.get("/api/records/1.0/search/", params={"dataset": "logements", **bad})
        assert answer.status_code == 400 and f"for {named} API parameter: -" in answer.json()["error"], answer.text
    catalogue = client.get("/api/datasets/1.0/search/", params={"rows": -1}).json()
    assert len(catalogue["datasets"]) == catalogue["nhits"] == client.get(
        "/api/explore/v2.1/catalog/datasets", params={"limit": 0}).json()["total_count"]


def test_qv1_filters_the_explore_api_as_v1_q(client, rows):
    """``qv1`` (v1's q, which Opendatasoft's widgets and its export links send to v2.1): records,
    facets, exports and v2.0 keep what v1's search keeps for the same q; ignored, every record
    came back (an app reading its station's first record got another one)."""
    base = "/api/explore/v2.1/catalog/datasets/logements"
    for q, keep in (("(2000011)", lambda r: "2000011" in r.values()),
                    ("(annee:[2001 TO 2003]) AND (bs=RIVP)", lambda r: 2001 <= int(r["annee"]) <= 2003 and r["bs"] == "RIVP"),
                    ("meuniers", lambda r: any("meuniers" in v.lower() for v in r.values() if v))):
        expected = sorted(r["id_livraison"] for r in rows if keep(r))
        assert expected and len(expected) < len(rows), q
        v1 = client.get("/api/records/1.0/search/", params={"dataset": "logements", "q": q, "rows": 0}).json()
        assert v1["nhits"] == len(expected), q
        records = client.get(f"{base}/records", params={"qv1": q, "limit": 0}).json()
        assert records["total_count"] == len(expected), q
        exported = client.get(f"{base}/exports/json", params={"qv1": q, "select": "id_livraison"}).json()
        assert sorted(str(r["id_livraison"]) for r in exported) == expected, q
        facets = client.get(f"{base}/facets", params={"qv1": q, "facet": "bs"}).json()["facets"][0]["facets"]
        assert sum(f["count"] for f in facets) == len(expected), q
        v20 = client.get("/api/v2/catalog/datasets/logements/records", params={"qv1": q, "limit": 0}).json()
        assert v20["total_count"] == len(expected), q
    both = client.get(f"{base}/records", params={"qv1": "bs=RIVP", "where": "annee = 2001", "limit": 0}).json()
    assert both["total_count"] == sum(r["bs"] == "RIVP" and r["annee"] == "2001" for r in rows)
    catalogue = client.get("/api/explore/v2.1/catalog/datasets", params={"qv1": "(logement)"}).json()
    assert [d["dataset_id"] for d in catalogue["results"]] == ["logements"]
    assert client.get("/api/explore/v2.1/catalog/datasets", params={"qv1": "piscine"}).json()["total_count"] == 0


def test_v1_catalogue(client):
    found = client.get("/api/datasets/1.0/search/", params={"q": "logement"}).json()
    assert found["nhits"] == 1 and found["datasets"][0]["datasetid"] == "logements"
    assert found["datasets"][0]["metas"]["records_count"] == 4174
    assert client.get("/api/datasets/1.0/search/", params={"q": "piscine"}).json()["nhits"] == 0
    assert client.get("/api/datasets/1.0/logements/").json()["datasetid"] == "logements"
    assert client.get("/api/datasets/1.0/nope/").status_code == 404


def test_v1_q_wildcards_are_literal(client):
    none = client.get("/api/records/1.0/search/", params={"dataset": "logements", "q": "%_%", "rows": 0}).json()["nhits"]
    assert none == 0


def test_v1_disjunctive_refinements_are_ored(client, rows):
    both = [("dataset", "logements"), ("refine.bs", "RIVP"), ("refine.bs", "PARIS HABITAT"), ("facet", "bs"), ("rows", 0)]
    assert client.get("/api/records/1.0/search/", params=both).json()["nhits"] == 0  # v1's default: ANDed
    body = client.get("/api/records/1.0/search/", params=[*both, ("disjunctive.bs", "true")]).json()
    assert body["nhits"] == sum(1 for r in rows if r["bs"] in ("RIVP", "PARIS HABITAT")) > 0
    states = {f["name"]: f["state"] for f in body["facet_groups"][0]["facets"]}
    assert states["RIVP"] == states["PARIS HABITAT"] == "refined" and len(states) > 2  # the others still listed


def _metres_between(lat1, lon1, lat2, lon2):
    """Great-circle distance on the mean Earth radius (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371008.8 * math.asin(math.sqrt(a))


def test_v1_geofilters_limit_the_records(client, rows):
    points = [tuple(float(c) for c in r["geo_point_2d"].split(",")) for r in rows if r["geo_point_2d"]]
    near = sum(1 for lat, lon in points if _metres_between(48.8566, 2.3522, lat, lon) <= 1000)
    search = {"dataset": "logements", "rows": 0, "facet": "bs"}
    body = client.get("/api/records/1.0/search/", params={**search, "geofilter.distance": "48.8566,2.3522,1000"}).json()
    assert body["nhits"] == near > 0 and body["parameters"]["geofilter.distance"] == "48.8566,2.3522,1000"  # echoed
    assert sum(f["count"] for f in body["facet_groups"][0]["facets"]) == near  # the facets count the same records
    inside = sum(1 for lat, lon in points if 48.85 <= lat <= 48.87 and 2.34 <= lon <= 2.36)
    polygon = "(48.85,2.34),(48.85,2.36),(48.87,2.36),(48.87,2.34)"
    assert client.get("/api/records/1.0/search/", params={**search, "geofilter.polygon": polygon}).json()["nhits"] == inside > 0
    for corners in ("48.85,2.34,48.87,2.36", "48.87,2.36,48.85,2.34"):  # the map's view, either two corners
        bbox = client.get("/api/records/1.0/search/", params={**search, "geofilter.bbox": corners})
        assert bbox.json()["nhits"] == inside, corners
    download = client.get("/api/records/1.0/download/", params={"dataset": "logements", "geofilter.bbox": "48.85,2.34,48.87,2.36",
                                                                "format": "json"}).json()
    assert len(download) == inside
    # a radius written with an exponent (ODSQL has none): read as the number it is
    tiny = client.get("/api/records/1.0/search/", params={**search, "geofilter.distance": f"{points[0][0]},{points[0][1]},1e-5"})
    assert tiny.status_code == 200 and tiny.json()["nhits"] >= 1
    # lat,lon alone: the records at that point, as ods-widgets' map asks for a clicked marker
    lat, lon = points[0]
    stacked = sum(1 for p in points if _metres_between(lat, lon, *p) <= 1)
    at = client.get("/api/records/1.0/download/", params={"dataset": "logements", "format": "json",
                                                          "geofilter.distance": f"{lat},{lon}"}).json()
    assert len(at) == stacked >= 1
    for bad in ({"geofilter.distance": "48.8566"}, {"geofilter.distance": "a,b,c"},
                {"geofilter.bbox": "48.85,2.34,48.87"}, {"geofilter.bbox": "48.85,2.34,48.87,x"},
                {"geofilter.polygon": "(48.85,2.34),(48.85,2.36)"}, {"geofilter.polygon": "(1,2),(3,4),(5,6)x"}):
        response = client.get("/api/records/1.0/search/", params={**search, **bad})
        assert response.status_code == 400, bad


@pytest.fixture(scope="module")
def mv(tmp_path_factory):
    folder = tmp_path_factory.mktemp("v1-mv")
    instance = published_instance(folder / "home", annotated(folder))
    yield TestClient(create_app(instance))
    instance.store.close()


def test_v1_facet_groups_keep_the_levels_below_a_refined_value(mv):
    def group(**params):
        body = mv.get("/api/records/1.0/search/", params={"dataset": "mv", "rows": 0, **params}).json()
        return body["facet_groups"][0]["facets"]

    (year,) = group(facet="d", **{"refine.d": "2020"})
    assert (year["path"], year["count"], year["state"]) == ("2020", 5, "refined")
    assert {(m["name"], m["path"], m["count"]) for m in year["facets"]} == {("01", "2020/01", 3), ("02", "2020/02", 1),
                                                                            ("05", "2020/05", 1)}
    (fr,) = group(facet="path", **{"refine.path": "fr/ara"})
    (ara,) = fr["facets"]
    assert (fr["state"], ara["path"], ara["state"]) == ("refined", "fr/ara", "refined")
    assert {(e["name"], e["count"]) for e in ara["facets"]} == {("isere", 2), ("rhone", 1)}


def test_v1_record_lookup_has_the_search_shape(client):
    found = client.get("/api/records/1.0/search/", params={"dataset": "logements", "rows": 1, "sort": "-id_livraison"}).json()
    record = found["records"][0]
    one = client.get(f"/api/datasets/1.0/logements/records/{record['recordid']}")
    assert one.status_code == 200 and one.json() == record
    assert client.get(f"/api/datasets/1.0/logements/records/{record['recordid']}/").json() == record
    assert client.get(f"/api/datasets/1.0/logements/records/{'0' * 40}").status_code == 404
    assert client.get(f"/api/datasets/1.0/nope/records/{record['recordid']}").status_code == 404


def test_v1_accepts_post_forms(client):
    search = {"dataset": "logements", "rows": 2, "sort": "-id_livraison", "refine.bs": "RIVP"}
    posted = client.post("/api/records/1.0/search/", data=search)
    assert posted.status_code == 200 and posted.json() == client.get("/api/records/1.0/search/", params=search).json()
    assert client.post("/api/datasets/1.0/search/", data={"q": "logement"}).json()["nhits"] == 1
    assert client.post("/api/datasets/1.0/logements/").json()["datasetid"] == "logements"
    record = posted.json()["records"][0]
    assert client.post(f"/api/datasets/1.0/logements/records/{record['recordid']}").json() == record


def test_v1_post_without_csrf_token_reads_as_anonymous(tmp_path):
    """A cross-site form could POST to v1 with the victim's cookie: it reads only public data.
    A script of the site sending the session's token reads as the signed-in user."""
    from portail.auth import services as auth
    from portail.catalog import services as catalog

    source = tmp_path / "prive.csv"  # what is read, not its size, is the subject: three records
    source.write_text("code;nom\n01001;A\n01002;B\n01003;C\n", encoding="utf-8")
    instance = published_instance(tmp_path / "home", Published("prive", source, "Privé"), session_cookie_secure=False)
    with instance.session() as s:
        dataset = catalog.get_dataset(s, "prive")
        auth.set_dataset_security(s, dataset, visibility="restricted")
        auth.create_user(s, "alice", role="viewer", password="Correct-horse-42")
        auth.grant(s, dataset, "user", "alice")
    client = TestClient(create_app(instance))
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    signed = client.post("/login", data={"login": "alice", "password": "Correct-horse-42", "csrf_token": token},
                         follow_redirects=False)
    assert signed.status_code == 303
    search = {"dataset": "prive", "rows": 0}
    assert client.get("/api/records/1.0/search/", params=search).json()["nhits"] == 3
    forged = client.post("/api/records/1.0/search/", data=search)
    assert forged.status_code == 404 and "Unknown dataset" in forged.text
    session_token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text).group(1)
    own = client.post("/api/records/1.0/search/", data=search, headers={"X-CSRF-Token": session_token})
    assert own.json()["nhits"] == 3
    assert client.post("/logout", follow_redirects=False).status_code == 403  # other routes still refuse
    # JSONP: any page can load it with the visitor's cookie and read it, so it reads as anonymous
    assert client.get("/api/records/1.0/search/", params={**search, "callback": "cb"}).status_code == 404
    assert client.get("/api/records/1.0/download/", params={"dataset": "prive", "format": "jsonp", "callback": "cb"}
                      ).status_code == 404
    assert client.get("/api/records/1.0/download/", params={"dataset": "prive", "format": "json"}).status_code == 200
    instance.store.close()


def test_v1_errors_carry_the_message_as_error(client):
    """odsclient and the v1 widgets read json["error"]; v2.1's keys stay for the others."""
    unknown = client.get("/api/records/1.0/search/", params={"dataset": "nope"})
    assert unknown.status_code == 404 and unknown.json()["error"] == "Unknown dataset: nope"
    assert client.post("/api/datasets/1.0/nope/").json()["error"] == "Unknown dataset: nope"
    assert client.get(f"/api/datasets/1.0/logements/records/{'0' * 40}").json()["error"].startswith("Unknown record")
    assert "error" not in client.get(f"{V2}/records/{'0' * 40}").json()  # v2.1 keeps its shape


def test_v1_geo_shape_is_a_bare_geometry_and_timestamps_have_an_offset(client, rows):
    record = client.get("/api/records/1.0/search/", params={"dataset": "logements", "rows": 1,
                                                            "refine.id_livraison": "2000011"}).json()["records"][0]
    (source,) = [r for r in rows if r["id_livraison"] == "2000011"]
    assert record["fields"]["geo_shape"] == json.loads(source["geo_shape"])  # {"type": "Point", "coordinates": …}
    assert datetime.fromisoformat(record["record_timestamp"]).utcoffset() is not None


def test_v1_parameters_echo_facetsort_and_one_dataset(mv):
    search = [("dataset", "mv"), ("rows", 0), ("refine.cat", "A"), ("refine.cat", "B"), ("exclude.n", "1"),
              ("disjunctive.cat", "true"), ("facet", "n"), ("facetsort.n", "num")]
    body = mv.get("/api/records/1.0/search/", params=search).json()
    assert body["nhits"] == 4  # A or B (rows 1, 2, 3, 5, 6, 8) but n = 1 (rows 1, 6)
    parameters = body["parameters"]
    assert (parameters["refine"], parameters["exclude"], parameters["disjunctive"]) == ({"cat": ["A", "B"]}, {"n": "1"},
                                                                                        {"cat": True})
    # facetsort.n=num overrides n's annotation (-num); the excluded value comes last
    assert [f["name"] for f in body["facet_groups"][0]["facets"]] == ["2", "3", "5", "8", "1"]
    assert mv.get("/api/records/1.0/search/", params=[*search, ("facetsort.n", "sideways")]).status_code == 400
    both = mv.get("/api/records/1.0/search/", params=[("dataset", "mv"), ("dataset", "other")])
    assert both.status_code == 400 and "one dataset" in both.json()["error"]


def test_v1_pretty_print_indents_json_and_jsonp_answers(client):
    for path, params in (("/api/records/1.0/search/", {"dataset": "logements", "rows": 2, "facet": "bs"}),
                         ("/api/records/1.0/analyze/", {"dataset": "logements", "x": "arrdt", "y.n.func": "COUNT"}),
                         ("/api/datasets/1.0/search/", {}), ("/api/datasets/1.0/logements/", {})):
        compact = client.get(path, params=params)
        pretty = client.get(path, params={**params, "pretty_print": "true"})
        assert "\n  " not in compact.text and "\n  " in pretty.text, path
        assert pretty.json() == compact.json() and pretty.headers["content-type"] == compact.headers["content-type"], path
    padded = client.get("/api/records/1.0/search/", params={"dataset": "logements", "rows": 1, "callback": "cb",
                                                            "pretty_print": "true"})
    assert padded.text.startswith("/**/cb({\n  ") and padded.text.endswith("});")
    plain = client.get("/api/records/1.0/search/", params={"dataset": "logements", "rows": 1}).json()
    assert json.loads(padded.text[len("/**/cb("):-2]) == plain
    csv_text = client.get("/api/records/1.0/download/", params={"dataset": "logements", "pretty_print": "true"})
    assert csv_text.status_code == 200 and csv_text.headers["content-type"].startswith("text/csv")  # streamed: as is


def test_v1_geojson_and_jsonp(client):
    search = {"dataset": "logements", "rows": 3, "sort": "-id_livraison"}
    plain = client.get("/api/records/1.0/search/", params=search).json()["records"]
    collection = client.get("/api/records/1.0/search/", params={**search, "format": "geojson"}).json()
    assert collection["type"] == "FeatureCollection"
    assert [f["geometry"] for f in collection["features"]] == [r["geometry"] for r in plain]
    assert [f["properties"] for f in collection["features"]] == [r["fields"] for r in plain]
    padded = client.get("/api/records/1.0/search/", params={**search, "callback": "app.show"})
    assert padded.headers["content-type"].startswith("application/javascript")
    text = padded.text
    assert text.startswith("/**/app.show(") and text.endswith(");")
    assert json.loads(text[len("/**/app.show("):-2])["records"] == plain
    for bad in ({"callback": "alert(1)//"}, {"format": "jsonp"}, {"format": "xml"}):
        assert client.get("/api/records/1.0/search/", params={**search, **bad}).status_code == 400, bad
    # the lookups too, as every v1 route (they answered plain JSON, any format accepted)
    record_id = plain[0]["recordid"]
    for url in ("/api/datasets/1.0/logements/", f"/api/datasets/1.0/logements/records/{record_id}"):
        expected = client.get(url).json()
        for params in ({"callback": "cb"}, {"format": "jsonp", "callback": "cb"}):
            answer = client.get(url, params=params)
            assert answer.headers["content-type"].startswith("application/javascript")
            assert json.loads(answer.text.removeprefix("/**/cb(").removesuffix(");")) == expected
        for bad in ({"callback": "alert(1)//"}, {"format": "jsonp"}, {"format": "xml"}):
            assert client.get(url, params=bad).status_code == 400, (url, bad)


DOWNLOAD = "/api/records/1.0/download/"


def test_v1_download_streams_every_matching_record(client, rows):
    """Past the search's window, with its filters: CSV by default (``;``), JSON as v1 records,
    GeoJSON; each checked against the file."""
    in_13 = [r for r in rows if r["code_postal"] == "75013"]
    text = client.get(DOWNLOAD, params={"dataset": "logements", "refine.code_postal": "75013"})
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/csv")
    assert 'filename="logements.csv"' in text.headers["content-disposition"]
    table = list(csv.DictReader(text.content.decode("utf-8-sig").splitlines(), delimiter=";"))
    assert len(table) == len(in_13) and {r["code_postal"] for r in table} == {"75013"}
    assert sorted(r["id_livraison"] for r in table) == sorted(r["id_livraison"] for r in in_13)
    whole = client.get(DOWNLOAD, params={"dataset": "logements", "fields": "id_livraison", "csv_separator": ","})
    assert whole.content.decode("utf-8-sig").splitlines()[0] == "id_livraison"
    assert len(whole.content.decode("utf-8-sig").splitlines()) == len(rows) + 1  # no 10,000 window, no rows cap

    records = client.get(DOWNLOAD, params={"dataset": "logements", "format": "json", "sort": "-nb_logmt_total",
                                           "exclude.code_postal": "75013"}).json()
    assert len(records) == len(rows) - len(in_13) and all(r["datasetid"] == "logements" for r in records)
    assert [r["fields"]["nb_logmt_total"] for r in records[:3]] == sorted(
        int(r["nb_logmt_total"]) for r in rows if r["code_postal"] != "75013")[:3]  # "-field": ascending in v1
    first = records[0]
    search = client.get("/api/records/1.0/search/", params={"dataset": "logements", "rows": 1, "sort": "-nb_logmt_total",
                                                            "exclude.code_postal": "75013"}).json()["records"][0]
    assert first["recordid"] == search["recordid"] and first["fields"] == search["fields"]
    assert first["geometry"] == search["geometry"]

    features = client.get(DOWNLOAD, params={"dataset": "logements", "format": "geojson", "q": "75013"}).json()
    assert features["type"] == "FeatureCollection" and len(features["features"]) >= len(in_13)


def test_v1_download_as_jsonp_and_with_any_punctuation_separator(client, rows):
    """The documentation's other formats (jsonp, geojsonp) and separators ("any ASCII
    character"), against the JSON download and the file."""
    params = {"dataset": "logements", "refine.code_postal": "75013", "sort": "-id_livraison"}
    plain = client.get(DOWNLOAD, params={**params, "format": "json"}).json()
    for fmt, expected in (("jsonp", plain), ("geojsonp", client.get(DOWNLOAD, params={**params, "format": "geojson"}).json())):
        padded = client.get(DOWNLOAD, params={**params, "format": fmt, "callback": "app.show"})
        assert padded.status_code == 200 and padded.headers["content-type"].startswith("application/javascript")
        text = padded.text
        assert text.startswith("/**/app.show(") and text.endswith(");")
        assert json.loads(text[len("/**/app.show("):-2]) == expected
    assert len(plain) == sum(1 for r in rows if r["code_postal"] == "75013")
    assert client.get(DOWNLOAD, params={**params, "callback": "cb", "format": "json"}).text.startswith("/**/cb(")
    hashed = client.get(DOWNLOAD, params={**params, "csv_separator": "#", "fields": "id_livraison,nb_logmt_total"})
    table = list(csv.DictReader(hashed.content.decode("utf-8-sig").splitlines(), delimiter="#"))
    assert [(r["id_livraison"], int(r["nb_logmt_total"])) for r in table] == [
        (r["fields"]["id_livraison"], r["fields"]["nb_logmt_total"]) for r in plain]


@pytest.mark.parametrize("params, fragment", [
    ({"dataset": "logements", "format": "xls"}, "format"),
    ({"dataset": "logements", "fields": "nope"}, "nope"),
    ({"dataset": "logements", "csv_separator": "x"}, "csv_separator"),
    ({"dataset": "logements", "csv_separator": "."}, "csv_separator"),  # decimals hold it, unquoted
    ({"dataset": "logements", "csv_separator": ";;"}, "csv_separator"),
    ({"dataset": "logements", "format": "jsonp"}, "callback"),
    ({"dataset": "logements", "format": "geojsonp", "callback": "alert(1)//"}, "callback"),
    ({"dataset": "logements", "timezone": "Mars/Olympus"}, "timezone"),
])
def test_v1_download_errors_before_the_first_byte(client, params, fragment):
    response = client.get(DOWNLOAD, params=params)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["message"]
    assert client.get(DOWNLOAD, params={"dataset": "zz-unknown"}).status_code == 404


def test_v1_q_language_field_queries_and_boolean_operators(client, rows, tmp_path):
    """v1's ``q``: field queries, AND/OR/NOT, parentheses and #functions, against the file."""
    def nhits(q: str) -> int:
        response = client.get("/api/records/1.0/search/", params={"dataset": "logements", "q": q, "rows": 0})
        assert response.status_code == 200, response.text
        return response.json()["nhits"]

    count = lambda keep: sum(1 for r in rows if keep(r))  # noqa: E731
    assert nhits("annee>=2020 AND bs:RIVP") == count(lambda r: int(r["annee"]) >= 2020 and r["bs"] == "RIVP") > 0
    assert nhits("annee:2010 OR annee==2011") == count(lambda r: r["annee"] in ("2010", "2011")) > 0
    assert nhits("NOT annee:2010") == count(lambda r: r["annee"] != "2010")
    assert nhits("(annee:2010 OR annee:2011) paris") == nhits("annee:2010 OR annee:2011")  # every row says Paris
    assert nhits("annee:[2005 TO 2007]") == count(lambda r: 2005 <= int(r["annee"]) <= 2007)
    # ``*`` an open bound, as in Lucene's ranges (``[2019 TO *]``: since 2019); was a 400
    assert nhits("annee:[2015 TO *]") == count(lambda r: int(r["annee"]) >= 2015) > 0
    assert nhits("annee:[* TO 2004]") == count(lambda r: int(r["annee"]) <= 2004) > 0
    assert nhits("annee:[* TO *]") == count(lambda r: r["annee"].strip() != "")
    assert nhits("#null(commentaires)") == count(lambda r: not r["commentaires"].strip())
    assert nhits('#exact(bs, "RIVP") annee<2005') == count(lambda r: r["bs"] == "RIVP" and int(r["annee"]) < 2005)
    assert nhits("http://example.org") == 0  # no field named http: a search of its words
    body = client.get(DOWNLOAD, params={"dataset": "logements", "q": "annee:2010", "fields": "annee"}).content
    assert body.decode("utf-8-sig").splitlines()[1:] == ["2010"] * count(lambda r: r["annee"] == "2010")
    wrong = client.get("/api/records/1.0/search/", params={"dataset": "logements", "q": "#nope(bs)"})
    assert wrong.status_code == 400 and "#nope(bs)" in wrong.json()["message"]

    dated = TestClient(create_app(published_instance(tmp_path / "home", annotated(tmp_path))))
    january = dated.get("/api/records/1.0/search/", params={"dataset": "mv", "q": "d:[2020 TO 2020/01]"}).json()
    assert dated.get("/api/records/1.0/search/", params={"dataset": "mv", "q": "d>2020"}).json()["nhits"] == 1  # 2021-03-01
    assert dated.get("/api/records/1.0/search/", params={"dataset": "mv", "q": "d:[2021 TO *]"}).json()["nhits"] == 1
    expected = [line.split(";")[4] for line in ANNOTATED_CSV.splitlines()[1:]]
    assert january["nhits"] == sum(1 for d in expected if d.startswith("2020-01")) == 3  # to the end of January


def test_what_ods_widgets_send_and_read(client, rows):
    """Calls of Opendatasoft's widgets, as their source builds them: several q (one per filter
    of a context) are ANDed, not the last one kept; the download (the map's markers, the
    exports) ORs a disjunctive facet's values as the search does; v1's schema writes
    annotations as a list of {name, args}, which the widgets' value formatter filters."""
    search = "/api/records/1.0/search/"
    both = client.get(search, params=[("dataset", "logements"), ("q", "bs=RIVP"), ("q", "annee>=2010"), ("rows", 0)])
    assert both.json()["nhits"] == sum(r["bs"] == "RIVP" and int(r["annee"]) >= 2010 for r in rows) > 0
    words = client.get(search, params=[("dataset", "logements"), ("q", "rue"), ("q", "meuniers"), ("rows", 0)])
    assert words.json()["nhits"] == sum(all(any(w in v.lower() for v in r.values() if v) for w in ("rue", "meuniers"))
                                        for r in rows) > 0
    chosen = [("refine.bs", "RIVP"), ("refine.bs", "PARIS HABITAT"), ("disjunctive.bs", "true")]
    downloaded = client.get("/api/records/1.0/download/", params=[("dataset", "logements"), ("format", "json"), *chosen])
    assert len(downloaded.json()) == sum(r["bs"] in ("RIVP", "PARIS HABITAT") for r in rows) > 0
    fields = client.get("/api/datasets/1.0/logements/").json()["fields"]
    assert all(isinstance(f["annotations"], list) for f in fields)
    assert next(f for f in fields if f["name"] == "bs")["annotations"] == [{"name": "facet"}]
    found = client.get("/api/datasets/1.0/search/", params={"q": "records_count > 1000"}).json()
    assert [d["datasetid"] for d in found["datasets"]] == ["logements"]
    assert client.get("/api/datasets/1.0/search/", params={"q": "records_count > 1000000"}).json()["nhits"] == 0
    assert client.get("/api/datasets/1.0/search/", params=[("q", "logement"), ("q", "piscine")]).json()["nhits"] == 0


def test_a_text_field_query_is_a_search_of_its_words(client, rows):
    """``bs:"paris habitat"``: the words of the field, case and accents aside (Opendatasoft's
    "normalized token query"; ods-widgets' text search on one field sends what was typed);
    ``==`` stays exact."""
    def hits(q):
        return client.get("/api/records/1.0/search/", params={"dataset": "logements", "q": q, "rows": 0}).json()["nhits"]

    habitat = sum(r["bs"] == "PARIS HABITAT" for r in rows)
    assert hits('bs:"paris habitat"') == hits("bs:PARIS") == sum("PARIS" in r["bs"].split() for r in rows) >= habitat > 0
    assert hits('bs=="paris habitat"') == 0 and hits('bs=="PARIS HABITAT"') == habitat
    street = sum({"meuniers"} <= set(r["adresse_programme"].lower().split()) for r in rows)
    assert hits("adresse_programme:MEUNIERS") == street > 0
    assert hits("ville:lyon") == 0  # words of that field only


def test_v1_sorts_text_a_to_z_and_numbers_largest_first(client, rows):
    """ods-widgets' table: ``sort=<text field>`` is A to Z (its first click, its arrows), a
    number or date field without ``-`` largest first, as v1 documents."""
    def first(sort):
        return client.get("/api/records/1.0/search/", params={"dataset": "logements", "rows": 1, "sort": sort}).json()[
            "records"][0]["fields"]

    assert first("bs")["bs"] == min(r["bs"] for r in rows)
    assert first("-bs")["bs"] == max(r["bs"] for r in rows)
    assert first("annee")["annee"] == max(int(r["annee"]) for r in rows)
    assert first("-annee")["annee"] == min(int(r["annee"]) for r in rows)


def test_recordid_selects_a_record_as_the_widgets_ask_for_it(client):
    """recordid (v2.0's and v1's technical field) is each record's id as the API gives it:
    ods-widgets' map asks for a clicked shape's record with q=recordid:'<id>' (the popup closed
    on an empty answer); where=recordid=… and select=recordid read the same id."""
    listed = client.get("/api/explore/v2.1/catalog/datasets/logements/records",
                        params={"include_links": "true", "limit": 3, "order_by": "id_livraison"}).json()["results"]
    for record in listed:
        rid = record["_id"]
        v1 = client.get("/api/records/1.0/download/", params={"dataset": "logements", "format": "json", "rows": 100,
                                                             "q": f"recordid:'{rid}'"}).json()
        assert [r["recordid"] for r in v1] == [rid]
        where = client.get("/api/explore/v2.1/catalog/datasets/logements/records",
                           params={"where": f'recordid = "{rid}"', "select": "recordid, id_livraison"}).json()
        assert where == {"total_count": 1, "results": [{"recordid": rid, "id_livraison": record["id_livraison"]}]}
        v20 = client.get("/api/v2/catalog/datasets/logements/records", params={"where": f"recordid='{rid}'"}).json()
        assert [r["record"]["id"] for r in v20["records"]] == [rid]
    assert client.get("/api/records/1.0/search/", params={"dataset": "logements", "q": "recordid:nope"}).json()["nhits"] == 0


def test_refine_and_exclude_by_recordid(client):
    """``refine.recordid=<id>`` fetches one record (a Paris app reads its articles so; it was a
    400 "Unknown field"), repeated ORs, and ``exclude.recordid`` leaves records out."""
    listed = client.get("/api/records/1.0/search/", params={"dataset": "logements", "rows": 3, "sort": "-id_livraison"}).json()
    ids = [r["recordid"] for r in listed["records"]]
    one = client.get("/api/records/1.0/search/", params={"dataset": "logements", "refine.recordid": ids[0]}).json()
    assert one["nhits"] == 1 and one["records"] == listed["records"][:1]
    two = client.get("/api/records/1.0/search/", params=[("dataset", "logements"), ("refine.recordid", ids[0]),
                                                          ("refine.recordid", ids[2])]).json()
    assert sorted(r["recordid"] for r in two["records"]) == sorted([ids[0], ids[2]])
    rest = client.get("/api/records/1.0/search/", params={"dataset": "logements", "exclude.recordid": ids[0],
                                                          "rows": 2, "sort": "-id_livraison"}).json()
    assert rest["nhits"] == listed["nhits"] - 1 and [r["recordid"] for r in rest["records"]] == ids[1:3]
    csv_rows = client.get("/api/records/1.0/download/", params={"dataset": "logements", "refine.recordid": ids[1],
                                                               "format": "json"}).json()
    assert [r["recordid"] for r in csv_rows] == [ids[1]]


def test_v1_q_geographic_functions_of_the_search_help(client, rows):
    """``#distance(lat, lon, metres)`` and ``#polygon(field, "(lat,lon),…")`` typed in a search box
    (Opendatasoft's "Searching in the data" help) filter as the geofilter parameters do (a 400)."""
    points = [tuple(float(c) for c in r["geo_point_2d"].split(",")) for r in rows if r["geo_point_2d"]]

    def hits(q):
        answer = client.get("/api/records/1.0/search/", params={"dataset": "logements", "rows": 0, "q": q})
        assert answer.status_code == 200, answer.text
        return answer.json()["nhits"]

    near = sum(1 for lat, lon in points if _metres_between(48.8566, 2.3522, lat, lon) <= 1000)
    assert hits("#distance(48.8566,2.3522,1000)") == hits('#distance("48.8566,2.3522", 1000)') == near > 0
    inside = sum(1 for lat, lon in points if 48.85 <= lat <= 48.87 and 2.34 <= lon <= 2.36)
    square = '"(48.85,2.34),(48.85,2.36),(48.87,2.36),(48.87,2.34)"'
    assert hits(f"#polygon(geo_point_2d, {square})") == hits(f"#polygon({square})") == inside > 0
    ripv = sum(1 for (lat, lon), r in zip(points, [r for r in rows if r["geo_point_2d"]])
               if 48.85 <= lat <= 48.87 and 2.34 <= lon <= 2.36 and r["bs"] == "RIVP")
    assert hits(f"#polygon(geo_point_2d, {square}) AND bs==RIVP") == ripv
    for bad in ("#distance(48.8,2.3)", "#distance(a,b,c)", '#polygon(bs, "(1,2),(3,4),(5,6)")', '#polygon("(1,2)")'):
        answer = client.get("/api/records/1.0/search/", params={"dataset": "logements", "q": bad})
        assert answer.status_code == 400 and "q" in answer.json()["message"], bad


def test_a_geo_dataset_says_its_extent_as_harvesters_read_it(client, rows):
    """``metas.default.bbox`` (a GeoJSON Feature; v1's ``metas.bbox``, the Polygon) and
    ``geometry_types``, which data.gouv.fr's and GeoNetwork's harvesters make the dataset's
    spatial coverage: the box of the records' points, computed here from the file."""
    points = [tuple(float(c) for c in r["geo_point_2d"].split(",")) for r in rows if r["geo_point_2d"]]
    lats, lons = [p[0] for p in points], [p[1] for p in points]
    v21 = client.get("/api/explore/v2.1/catalog/datasets/logements").json()["metas"]["default"]
    assert v21["geometry_types"] == ["Point"] and v21["bbox"]["type"] == "Feature"
    ring = v21["bbox"]["geometry"]["coordinates"][0]
    assert min(x for x, _ in ring) == pytest.approx(min(lons)) and max(x for x, _ in ring) == pytest.approx(max(lons))
    assert min(y for _, y in ring) == pytest.approx(min(lats)) and max(y for _, y in ring) == pytest.approx(max(lats))
    v1 = client.get("/api/datasets/1.0/logements/").json()["metas"]
    assert v1["bbox"] == v21["bbox"]["geometry"] and v1["geometry_types"] == ["Point"]


def test_q_dot_parameters_are_anded_with_q_as_ods_widgets_send_them(client, rows):
    """``q.timerange``, ``q.mapfilter``… (one per filter of a widget's context, each a ``q``
    expression) were ignored: the whole dataset answered."""
    search = {"dataset": "logements", "rows": 0}
    recent = sum(int(r["annee"]) >= 2015 for r in rows)
    both = sum(int(r["annee"]) >= 2015 and r["bs"] == "RIVP" for r in rows)
    assert 0 < both < recent < len(rows)
    assert client.get("/api/records/1.0/search/", params={**search, "q.timerange": "annee>=2015"}).json()["nhits"] == recent
    body = client.get("/api/records/1.0/search/", params={**search, "q": "bs==RIVP", "q.timerange": "annee>=2015",
                                                          "q.other": ""}).json()
    assert body["nhits"] == both
    assert body["parameters"]["q"] == "bs==RIVP" and body["parameters"]["q.timerange"] == "annee>=2015"
    assert "q.other" not in body["parameters"]
    square = '"(48.85,2.34),(48.85,2.36),(48.87,2.36),(48.87,2.34)"'
    inside = sum(1 for r in rows if 48.85 <= float(r["geo_point_2d"].split(",")[0]) <= 48.87
                 and 2.34 <= float(r["geo_point_2d"].split(",")[1]) <= 2.36)
    download = client.get("/api/records/1.0/download/", params={"dataset": "logements", "format": "json",
                                                                "q.geofilter": f"#polygon({square})"}).json()
    assert len(download) == inside > 0
    analysis = client.get("/api/records/1.0/analyze/", params={"dataset": "logements", "y.n.func": "COUNT",
                                                               "q.timerange": "annee>=2015"}).json()
    assert analysis == [{"x": None, "n": recent}]
    bad = client.get("/api/records/1.0/search/", params={**search, "q.timerange": "annee>=#today"})
    assert bad.status_code == 400


def test_geofilter_polygon_in_the_documented_brackets(client, rows):
    """records_api.md writes ``geofilter.polygon=((lat1, lon1), (lat2, lon2), (lat3, lon3))``: a 400."""
    search = {"dataset": "logements", "rows": 0}
    inside = sum(1 for r in rows if 48.83 <= float(r["geo_point_2d"].split(",")[0]) <= 48.87
                 and 2.33 <= float(r["geo_point_2d"].split(",")[1]) <= 2.38)
    for polygon in ("((48.83,2.33),(48.87,2.33),(48.87,2.38),(48.83,2.38))",
                    "( (48.83, 2.33), (48.87, 2.33), (48.87, 2.38), (48.83, 2.38) )",
                    "(48.83,2.33),(48.87,2.33),(48.87,2.38),(48.83,2.38)"):
        answer = client.get("/api/records/1.0/search/", params={**search, "geofilter.polygon": polygon})
        assert answer.status_code == 200 and answer.json()["nhits"] == inside > 0, polygon
    for bad in ("((48.83,2.33),(48.87,2.33))", "(((48.83,2.33),(48.87,2.33),(48.87,2.38)))", "((1,2),(3,4),(5,6)"):
        assert client.get("/api/records/1.0/search/", params={**search, "geofilter.polygon": bad}).status_code == 400, bad


def test_fields_restricts_the_fields_not_the_geometry(client, rows):
    """``fields`` "restricts field to retrieve" (records_api.md): a record's geometry is none of
    them; a GeoJSON download with ``fields=annee`` was a 400, and records lost their geometry."""
    features = client.get("/api/records/1.0/download/", params={"dataset": "logements", "format": "geojson",
                                                                "fields": "annee", "q": "bs==RIVP"})
    assert features.status_code == 200, features.text
    collection = features.json()["features"]
    expected = {(r["annee"], r["geo_point_2d"]) for r in rows if r["bs"] == "RIVP"}
    assert {(str(f["properties"]["annee"]), ",".join(map(str, f["geometry"]["coordinates"][::-1])))
            for f in collection} == {(a, ",".join(str(float(c)) for c in p.split(","))) for a, p in expected}
    assert all(set(f["properties"]) == {"annee"} for f in collection)
    records = client.get("/api/records/1.0/download/", params={"dataset": "logements", "format": "json",
                                                               "fields": "annee,bs", "q": "bs==RIVP"}).json()
    assert len(records) == len(collection) and all(set(r["fields"]) == {"annee", "bs"} for r in records)
    assert all(r["geometry"]["type"] == "Point" for r in records)
    page = client.get("/api/records/1.0/search/", params={"dataset": "logements", "fields": "annee", "rows": 5}).json()
    assert all(set(r["fields"]) == {"annee"} and r["geometry"]["type"] == "Point" for r in page["records"])
    geojson = client.get("/api/records/1.0/search/", params={"dataset": "logements", "fields": "annee", "rows": 5,
                                                             "format": "geojson"}).json()
    assert all(set(f["properties"]) == {"annee"} and f["geometry"]["type"] == "Point" for f in geojson["features"])
    csv_page = client.get("/api/records/1.0/download/", params={"dataset": "logements", "fields": "annee"}).text
    assert csv_page.lstrip("\ufeff").splitlines()[0] == "annee"  # a table keeps the fields asked for
