"""v1's record search as RSS 2.0 and Atom 1.0 (``format=rss``/``atom``, which Opendatasoft's v1
documentation lists beside json, jsonp, geojson and geojsonp): the JSON answer's records, read
back with a real XML parser; and the catalogue's RSS, written by the same writer."""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from datetime import datetime
from email.utils import parsedate_to_datetime

import pytest

from portail.catalog import services
from tests.api.v1_catalog_callers import alice_key, client  # noqa: F401 - over this module's instance, as fixtures
from tests.conftest import Published, logements_file, published_instance

SEARCH = "/api/records/1.0/search/"
BASE = "https://data.example.fr"
ATOM = "{http://www.w3.org/2005/Atom}"
#: A text that XML must escape (``<``, ``&``) and one it cannot hold at all (U+0001).
ODD = "Bâtiment <A> & fils\x01 fin"
#: A small dataset whose first text field holds ``ODD``.
ODD_CSV = f"nom;commentaire;n\n{ODD};ok;1\nSimple;a & b;2\n"


@pytest.fixture(scope="module")
def instance(tmp_path_factory, refdata):
    """``logements``, ``odd`` (``ODD_CSV``, its description holding ``ODD`` too) and ``prive``,
    which only alice may read."""
    from portail.auth import services as auth

    folder = tmp_path_factory.mktemp("v1_feeds")
    odd = folder / "odd.csv"
    odd.write_text(ODD_CSV, encoding="utf-8")
    instance = published_instance(folder / "home", Published("logements", logements_file(refdata), "Logements"),
                                  Published("odd", odd, "Odd", metadata={"description": ODD}),
                                  Published("prive", logements_file(refdata), "Privé"), base_url=BASE)
    with instance.session() as s:
        prive = services.get_dataset(s, "prive")
        auth.set_dataset_security(s, prive, visibility="restricted")
        auth.create_user(s, "alice", role="viewer", password="Correct-horse-42")
        auth.grant(s, prive, "user", "alice")
    yield instance
    instance.store.close()


def _entries(client, fmt: str, **params) -> list[dict[str, str]]:
    """A feed's items or entries, parsed (a malformed feed fails here), each as its id, link,
    title, description (the HTML, unescaped from XML once) and date."""
    answer = client.get(SEARCH, params={**params, "format": fmt})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == f"application/{fmt}+xml"
    root = ET.fromstring(answer.content)
    if fmt == "rss":
        assert root.tag == "rss" and root.get("version") == "2.0"
        return [{"id": i.findtext("guid"), "link": i.findtext("link"), "title": i.findtext("title"),
                 "description": i.findtext("description"), "date": parsedate_to_datetime(i.findtext("pubDate"))}
                for i in root.find("channel").findall("item")]
    assert root.tag == f"{ATOM}feed"
    for required in ("id", "title", "updated", "author"):  # RFC 4287, 4.1.1
        assert root.find(f"{ATOM}{required}") is not None, required
    assert root.find(f"{ATOM}content") is None
    return [{"id": e.findtext(f"{ATOM}id"), "link": e.find(f"{ATOM}link").get("href"),
             "title": e.findtext(f"{ATOM}title"), "description": e.findtext(f"{ATOM}content"),
             "date": datetime.fromisoformat(e.findtext(f"{ATOM}updated"))}
            for e in root.findall(f"{ATOM}entry")]


def _record_url(slug: str, record_id: str) -> str:
    return f"{BASE}/api/explore/v2.1/catalog/datasets/{slug}/records/{record_id}"


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_a_feed_lists_the_records_the_json_answer_lists(client, fmt):
    """The same query (q, refine, exclude, sort, rows, start): the same records in the same order."""
    params = {"dataset": "logements", "q": "annee>=2015", "refine.bs": "RIVP", "exclude.arrdt": "13",
              "sort": "nb_logmt_total", "rows": 4, "start": 3}
    page = client.get(SEARCH, params=params).json()
    assert len(page["records"]) == 4 and page["nhits"] > 7
    entries = _entries(client, fmt, **params)
    ids = [r["recordid"] for r in page["records"]]
    assert [e["id"] for e in entries] == [_record_url("logements", i) for i in ids]
    assert [e["link"] for e in entries] == [e["id"] for e in entries]
    for entry, record in zip(entries, page["records"]):
        stamp = datetime.fromisoformat(record["record_timestamp"])  # RFC 822 dates stop at the second
        assert entry["date"] == (stamp.replace(microsecond=0) if fmt == "rss" else stamp)
        assert f"<dd>{record['fields']['nb_logmt_total']}</dd>" in entry["description"]
    assert len(_entries(client, fmt, dataset="logements", rows=2)) == 2  # the default sort, another window
    assert _entries(client, fmt, **{**params, "start": page["nhits"]}) == []


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_a_record_link_is_its_v21_record(client, fmt):
    entry = _entries(client, fmt, dataset="odd", rows=1, sort="-n")[0]
    path = entry["link"].removeprefix(BASE)
    assert path != entry["link"]
    record = client.get(path).json()
    assert record["nom"] == ODD and record["n"] == 1


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_any_text_makes_a_well_formed_feed(client, fmt):
    """``<``, ``&`` and U+0001 (which XML 1.0 cannot hold, even escaped: it becomes U+FFFD) in a
    record's title and description; a record whose value needs no escaping keeps it as is."""
    odd, simple = _entries(client, fmt, dataset="odd", sort="-n")
    shown = ODD.replace("\x01", "\ufffd")
    assert odd["title"] == shown and simple["title"] == "Simple"
    assert html.unescape(odd["description"]) == f"<dl><dt>nom</dt><dd>{shown}</dd><dt>commentaire</dt><dd>ok</dd>" \
                                                "<dt>n</dt><dd>1</dd></dl>"
    assert "<dd>a &amp; b</dd>" in simple["description"]  # HTML in the feed: a value's & escaped for it


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_a_restricted_dataset_s_feed_follows_its_access_rules(client, alice_key, fmt):
    params = {"dataset": "prive", "rows": 3, "refine.bs": "RIVP"}
    assert client.get(SEARCH, params={**params, "format": fmt}).status_code == 404
    page = client.get(SEARCH, params={**params, "apikey": alice_key}).json()
    entries = _entries(client, fmt, **params, apikey=alice_key)
    assert [e["id"] for e in entries] == [_record_url("prive", r["recordid"]) for r in page["records"]]
    assert len(entries) == 3


def test_the_catalogue_rss_holds_any_description(client):
    """The catalogue's RSS is written by the same writer: a description holding U+0001 made it
    a document no XML parser reads."""
    answer = client.get("/api/explore/v2.1/catalog/exports/rss")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/rss+xml")
    items = {i.findtext("title"): i for i in ET.fromstring(answer.content).find("channel").findall("item")}
    assert items["Odd"].findtext("description") == ODD.replace("\x01", "\ufffd")
