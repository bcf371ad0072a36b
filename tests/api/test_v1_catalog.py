"""v1's catalogue search (``/api/datasets/1.0/search/``) in its documented formats: json, jsonp
(``callback``), csv and rss, read back against the published datasets."""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC
from email.utils import parsedate_to_datetime

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.catalog import services
from tests.api.v1_catalog_callers import alice_key, client  # noqa: F401 - over this module's instance, as fixtures
from tests.conftest import Published, published_instance

URL = "/api/datasets/1.0/search/"
BASE = "https://data.example.fr"
#: The published datasets: file, title, themes and keywords.
DATASETS = {
    "departements": ("cog2026_departements.csv", "Départements", ["Administration"], ["cog", "insee"]),
    "regions": ("cog2026_regions.csv", "Régions", ["Economie"], []),
    "arrondissements": ("cog2026_arrondissements.csv", "Arrondissements", ["Administration"], ["cog"]),
}
PASSWORD = "Correct-horse-42"


@pytest.fixture(scope="module")
def instance(tmp_path_factory, refdata):
    """The datasets of ``DATASETS``, and ``prive``, which only alice may see."""
    from portail.auth import services as auth

    folder = refdata / "referentiels"
    instance = published_instance(
        tmp_path_factory.mktemp("v1_catalog") / "home",
        *(Published(slug, folder / path, title, metadata={"themes": themes, "keywords": keywords})
          for slug, (path, title, themes, keywords) in DATASETS.items()),
        Published("prive", folder / "cog2026_regions.csv", "Jeu privé"), base_url=BASE, session_cookie_secure=False)
    with instance.session() as s:
        prive = services.get_dataset(s, "prive")
        auth.set_dataset_security(s, prive, visibility="restricted")
        auth.create_user(s, "alice", role="viewer", password=PASSWORD)
        auth.grant(s, prive, "user", "alice")
    yield instance
    instance.store.close()


@pytest.fixture(scope="module")
def stored(instance) -> dict[str, dict]:
    with instance.session() as s:
        return {slug: {"uid": d.uid, "modified": d.modified} for slug in DATASETS
                for d in [services.get_dataset(s, slug)]}


def _lines(refdata, slug: str) -> int:
    """A file's records: its lines but the header."""
    return len((refdata / "referentiels" / DATASETS[slug][0]).read_text(encoding="utf-8").strip().splitlines()) - 1


def _csv(client, **params) -> list[dict[str, str]]:
    response = client.get(URL, params={"format": "csv", **params})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff")), delimiter=";"))


def test_csv_is_the_page_the_search_selects(client, refdata):
    rows = _csv(client, sort="-dataset_id", rows=2, start=1)  # "-field": ascending
    assert [r["dataset_id"] for r in rows] == sorted(DATASETS)[1:3]
    for row in rows:
        _, title, themes, keywords = DATASETS[row["dataset_id"]]
        assert (row["title"], row["theme"], row["keyword"]) == (title, ",".join(themes), ",".join(keywords))
        assert int(row["records_count"]) == _lines(refdata, row["dataset_id"])
    assert [r["dataset_id"] for r in _csv(client, **{"refine.theme": "Administration", "sort": "-dataset_id"})] == \
        sorted(s for s, d in DATASETS.items() if "Administration" in d[2])
    assert [r["dataset_id"] for r in _csv(client, q="arrondissements")] == ["arrondissements"]
    # the catalogue export's writer: the same file as the v2.1 CSV of the same query
    v2 = client.get("/api/explore/v2.1/catalog/exports/csv", params={"order_by": "dataset_id", "limit": 2, "offset": 1})
    assert client.get(URL, params={"format": "csv", "sort": "-dataset_id", "rows": 2, "start": 1}).content == v2.content


def test_rss_newest_first_unless_sorted(client, stored):
    def items(**params) -> list[ET.Element]:
        response = client.get(URL, params={"format": "rss", **params})
        assert response.status_code == 200 and response.headers["content-type"].startswith("application/rss+xml")
        return ET.fromstring(response.content).find("channel").findall("item")

    newest = sorted(DATASETS, key=lambda s: stored[s]["modified"], reverse=True)
    feed = items(rows=2)
    assert [i.findtext("title") for i in feed] == [DATASETS[s][1] for s in newest[:2]]
    for item, slug in zip(feed, newest):
        assert item.findtext("link") == f"{BASE}/explore/dataset/{slug}/"
        assert item.findtext("guid") == stored[slug]["uid"]
        published = parsedate_to_datetime(item.findtext("pubDate"))
        assert published.tzinfo is not None
        assert published == stored[slug]["modified"].replace(tzinfo=UTC, microsecond=0)
    assert [i.findtext("title") for i in items(sort="-dataset_id")] == [DATASETS[s][1] for s in sorted(DATASETS)]
    assert [i.findtext("title") for i in items(**{"refine.theme": "Economie"})] == ["Régions"]


def _unpadded(text: str, callback: str) -> dict:
    match = re.fullmatch(rf"/\*\*/{re.escape(callback)}\((.*)\);", text, re.S)
    assert match, text[:80]
    return json.loads(match.group(1))


def test_jsonp_pads_the_json_answer(client):
    params = {"rows": 2, "facet": "theme", "refine.theme": "Administration"}
    plain = client.get(URL, params=params).json()
    assert plain["nhits"] == 2
    padded = client.get(URL, params={**params, "format": "jsonp", "callback": "app.show"})
    assert padded.headers["content-type"].startswith("application/javascript")
    body = _unpadded(padded.text, "app.show")
    assert body["parameters"]["format"] == "jsonp"
    assert {**body, "parameters": {**body["parameters"], "format": "json"}} == plain
    assert _unpadded(client.get(URL, params={**params, "callback": "cb"}).text, "cb") == plain  # json + callback
    assert client.get(URL, params={"format": "csv", "callback": "cb"}).text.lstrip("\ufeff").startswith("dataset_id;")
    for bad in ({"format": "jsonp"}, {"format": "jsonp", "callback": "alert(1)//"}, {"format": "xml"}):
        response = client.get(URL, params=bad)
        assert response.status_code == 400, bad
        assert response.json()["error_code"] == "InvalidRESTParameterError"


def test_jsonp_reads_as_anonymous_unless_a_key_is_given(instance, client, alice_key):
    """Any page can load JSONP in a script tag with the visitor's cookie: a session does not
    count there; an API key, which no page holds, does. CSV and RSS are no script."""
    signed = TestClient(create_app(instance))
    token = re.search(r'name="csrf_token" value="([^"]+)"', signed.get("/login").text).group(1)
    assert signed.post("/login", data={"login": "alice", "password": PASSWORD, "csrf_token": token},
                       follow_redirects=False).status_code == 303

    def ids(response) -> set[str]:
        text = response.text
        return {d["datasetid"] for d in (_unpadded(text, "cb") if text.startswith("/**/") else json.loads(text))["datasets"]}

    assert ids(signed.get(URL)) == {*DATASETS, "prive"}
    assert ids(signed.get(URL, params={"format": "jsonp", "callback": "cb"})) == set(DATASETS)
    assert ids(signed.get(URL, params={"callback": "cb"})) == set(DATASETS)
    assert "prive" in {r["dataset_id"] for r in _csv(signed)}
    keyed = client.get(URL, params={"format": "jsonp", "callback": "cb", "apikey": alice_key})
    assert ids(keyed) == {*DATASETS, "prive"}
    assert ids(client.get(URL, params={"format": "jsonp", "callback": "cb"})) == set(DATASETS)
    assert "prive" not in {r["dataset_id"] for r in _csv(client)}


def test_disjunctive_themes_and_facet_order_as_ods_widgets_send_them(client):
    """``<ods-facet name="theme" disjunctive="true" sort="alphanum">`` on a catalogue: the chosen
    themes are ORed (0 datasets before) and the facet keeps listing the others, in its order."""
    chosen = [("refine.theme", "Administration"), ("refine.theme", "Economie"), ("facet", "theme")]
    assert client.get(URL, params=chosen).json()["nhits"] == 0  # ANDed without disjunctive
    body = client.get(URL, params=[*chosen, ("disjunctive.theme", "true"), ("facetsort.theme", "-alphanum")]).json()
    assert sorted(d["datasetid"] for d in body["datasets"]) == sorted(DATASETS)
    facets = body["facet_groups"][0]["facets"]
    assert [f["name"] for f in facets] == sorted({t for _, _, themes, _ in DATASETS.values() for t in themes}, reverse=True)
    assert {f["name"]: f["count"] for f in facets} == {"Administration": 2, "Economie": 1}
    assert {f["state"] for f in facets} == {"refined"}
    one = client.get(URL, params=[("refine.theme", "Economie"), ("disjunctive.theme", "true"), ("facet", "theme")]).json()
    assert [d["datasetid"] for d in one["datasets"]] == ["regions"]
    assert one["parameters"]["disjunctive"] == {"theme": True}  # echoed, as the records' search echoes it
    assert {f["name"]: f["state"] for f in one["facet_groups"][0]["facets"]} == {
        "Administration": "displayed", "Economie": "refined"}


def test_what_the_widgets_read_of_a_dataset_and_the_reuse_feed(client):
    """ods-widgets read extra_metas.visualization unguarded (a calendar tooltip threw), and the
    reuse feeds show an error on a 404; a portal without reuses answers none."""
    dataset = client.get("/api/datasets/1.0/regions/", params={"extrametas": "true", "interopmetas": "true"}).json()
    assert dataset["extra_metas"]["visualization"] == {} and dataset["data_visible"] is True
    v2 = client.get("/api/explore/v2.1/catalog/datasets/regions").json()
    assert dataset["alternative_exports"] == v2["alternative_exports"]
    assert client.get("/api/reuses/", params={"rows": 5, "sort": "modified"}).json() == []


def test_what_data_gouv_fr_s_harvester_reads_and_links(client, instance, refdata, tmp_path):
    """data.gouv.fr's Opendatasoft harvesters (udata's ods backend, udata-ods) publish each
    attachment at ``/api/datasets/1.0/<id>/attachments/<id>`` and each geo dataset's Shapefile
    at the page's legacy ``download?format=shp`` (both were dead links), and read creation,
    frequency, contact and coverage in ``interop_metas.dcat``."""
    from datetime import date

    from portail import operations

    notice = tmp_path / "notice.pdf"
    notice.write_bytes(b"%PDF-1.4 notice")
    attachment_id = operations.attach(instance, "arrondissements", notice, title="Notice")
    with instance.session() as s:
        services.update_metadata(s, services.get_dataset(s, "arrondissements"), update_frequency="annual",
                                 contact_email="data@example.org", temporal_start=date(2020, 1, 1),
                                 temporal_end=date(2026, 1, 1))
    dataset = client.get("/api/datasets/1.0/search/", params={"q": "", "rows": 100, "interopmetas": "true"}).json()
    found = next(d for d in dataset["datasets"] if d["datasetid"] == "arrondissements")
    (attachment,) = found["attachments"]
    assert attachment["id"] == attachment_id
    for suffix in ("", "/"):
        served = client.get(f"/api/datasets/1.0/arrondissements/attachments/{attachment_id}{suffix}")
        assert served.status_code == 200 and served.content == b"%PDF-1.4 notice"
    assert client.get("/api/datasets/1.0/arrondissements/attachments/nope").status_code == 404
    assert client.get(f"/api/datasets/1.0/prive/attachments/{attachment_id}").status_code == 404  # not alice: unknown
    dcat = found["interop_metas"]["dcat"]
    assert dcat["accrualperiodicity"] == "annual" and dcat["contact_email"] == "data@example.org"
    assert dcat["temporal"] == "2020-01-01/2026-01-01" and dcat["created"]
    assert "license" not in found["metas"]  # an unknown meta is left out, as the others are
    v2 = client.get("/api/explore/v2.1/catalog/datasets/arrondissements").json()["metas"]["dcat"]
    assert v2["temporal"] == "2020-01-01/2026-01-01"


def test_the_legacy_download_link_serves_every_export_format(client):
    """The dataset page's ``download?format=…`` as harvesters build it (shp for geo datasets,
    xls, kml…): the same file as the v2.1 export with the same filters."""
    base = "/explore/dataset/departements/download"
    for fmt, v21 in (("xlsx", "xlsx"), ("xls", "xlsx"), ("parquet", "parquet"), ("jsonl", "jsonl")):
        legacy = client.get(base, params={"format": fmt, "timezone": "Europe/Berlin", "use_labels_for_header": "true",
                                          "refine.reg": "84"})
        assert legacy.status_code == 200, legacy.text
        export = client.get(f"/api/explore/v2.1/catalog/datasets/departements/exports/{v21}",
                            params={"refine": "reg:84", "use_labels": "true"})
        if v21 in ("jsonl",):
            assert legacy.content == export.content and legacy.content.count(b"\n") == 12
        else:
            assert legacy.headers["content-type"] == export.headers["content-type"]
    assert client.get(base, params={"format": "shp"}).status_code == 400  # no geo field: the export's own 400
    assert client.get(base, params={"format": "nope"}).status_code == 400


def test_the_facets_a_publisher_set_are_those_the_widgets_list(tmp_path, refdata):
    """ods-widgets list a dataset's facets from extra_metas.asset_content_configuration.facets
    (``ODS.Dataset``): a bare <ods-facets> showed none."""
    from fastapi.testclient import TestClient

    from portail.api import create_app
    from tests.conftest import Published, published_instance

    source = refdata / "referentiels" / "cog2026_regions.csv"
    instance = published_instance(tmp_path / "home", Published("regions", source, annotations={
        "libelle": {"facet": [], "facetsort": ["alphanum"]}, "reg": {"facet": [], "disjunctive": []}}))
    try:
        dataset = TestClient(create_app(instance)).get("/api/datasets/1.0/regions/", params={"extrametas": "true"}).json()
        names = [f["name"] for f in dataset["fields"]]
        expected = sorted([{"field_name": "reg", "disjunctive": True}, {"field_name": "libelle", "sort": "alphanum"}],
                          key=lambda f: names.index(f["field_name"]))
        assert dataset["extra_metas"]["asset_content_configuration"]["facets"] == expected
    finally:
        instance.store.close()
