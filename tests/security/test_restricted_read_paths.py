"""A record filter means the same rows whatever the caller asks the answer to be written in.

The filter is the administrator's, checked when saved with ODSQL's defaults (UTC, French names:
``auth.services``); the caller's ``timezone``, ``output_timezone`` (v1 analyze) and ``lang`` shape
the caller's own clauses and outputs only (``odsql.compiler.ROW_FILTER_QUERY``). Read in the
caller's zone, ``instant < date'2024-01-01'`` showed a member of its group the records of the
first twelve hours of 2024 (``timezone=Etc/GMT+12``); read in the caller's language,
``date_format(jour, "MMMM") != "janvier"`` showed everyone the January records (``lang=en``).

One small instance: ``evenements`` (public), four dated records; group ``avant`` sees those
before 2024 (UTC), everyone else those outside January.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.auth import services as auth
from portail.catalog import services
from tests.conftest import Published, fast_passwords, published_instance, semicolon_csv

SLUG = "evenements"
API = f"/api/explore/v2.1/catalog/datasets/{SLUG}"
ROWS = [dict(ref="A1", instant="2023-12-31T20:00:00+00:00", jour="2023-12-31"),
        dict(ref="A2", instant="2024-01-01T06:00:00+00:00", jour="2024-01-01"),
        dict(ref="A3", instant="2024-01-01T11:00:00+00:00", jour="2024-01-01"),
        dict(ref="A4", instant="2024-06-01T11:00:00+00:00", jour="2024-06-01")]
#: Zones from UTC-12 to UTC+14: the filter's cut moves by as much in each if read there.
ZONES = ("UTC", "Etc/GMT+12", "America/Los_Angeles", "Europe/Paris", "Pacific/Kiritimati")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    home = tmp_path_factory.mktemp("restricted-read-paths")
    with fast_passwords():
        instance = published_instance(home, Published(SLUG, semicolon_csv(home / "e.csv", ROWS), "Événements"))
        with instance.session() as s:
            dataset = services.get_dataset(s, SLUG)
            group = auth.create_group(s, "avant")
            auth.set_dataset_security(s, dataset, record_filters={"avant": "instant < date'2024-01-01'",
                                                                   "*": 'date_format(jour, "MMMM") != "janvier"'})
            member = auth.create_user(s, "membre", role="viewer")
            auth.add_member(s, group, member)
            _, key = auth.create_api_key(s, member, "membre")
            _, admin = auth.create_api_key(s, auth.create_user(s, "root", role="admin"), "root")
    client = TestClient(create_app(instance))
    yield client, {"Authorization": f"Apikey {key}"}, {"Authorization": f"Apikey {admin}"}
    instance.store.close()


def refs(client: TestClient, path: str, headers: dict, **params) -> list[str]:
    """The records' ``ref`` a read path gives, whichever shape it writes them in."""
    answer = client.get(path, params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    if path.endswith("/exports/csv"):
        return answer.text.lstrip("\ufeff").split()[1:]
    if path.endswith("/facets"):
        return [v["value"] for v in answer.json()["facets"][0]["facets"]]
    body = answer.json()
    if "records" in body:  # v1's search, v2.0's records
        return [(r["record"] if "record" in r else r)["fields"]["ref"] for r in body["records"]]
    return [r["ref"] for r in body["results"]]


def read_paths(zone_parameter: str, zone: str) -> list[tuple[str, dict]]:
    return [(f"{API}/records", {"select": "ref", zone_parameter: zone}),
            (f"/api/v2/catalog/datasets/{SLUG}/records", {"select": "ref", zone_parameter: zone}),
            (f"{API}/exports/csv", {"select": "ref", zone_parameter: zone}),
            (f"{API}/facets", {"facet": "ref", zone_parameter: zone}),
            ("/api/records/1.0/search/", {"dataset": SLUG, zone_parameter: zone})]


@pytest.mark.parametrize("zone", ZONES)
def test_a_record_filter_cuts_at_the_same_instant_in_every_timezone(site, zone):
    client, member, _ = site
    for path, params in read_paths("timezone", zone):
        assert sorted(refs(client, path, member, **params)) == ["A1"], (path, zone)
    assert client.get(f"{API}/records", params={"where": 'ref = "A2"', "timezone": zone, "select": "count(*) as n"},
                      headers=member).json()["results"] == [{"n": 0}], zone
    # v1 analyze cuts its x in output_timezone: the filter is still the one instant
    points = client.get("/api/records/1.0/analyze/", headers=member, params={
        "dataset": SLUG, "x": "ref", "y.n.func": "COUNT", "timezone": zone, "output_timezone": zone}).json()
    assert [p["x"] for p in points] == ["A1"], zone


def test_a_record_filter_reads_the_names_it_was_saved_with_in_every_language(site):
    client, _, admin = site
    for lang in ("fr", "en"):
        for path, params in read_paths("lang", lang):
            assert sorted(refs(client, path, {}, **params)) == ["A1", "A4"], (path, lang)
    # the caller's own clauses are still read in the caller's language
    english = refs(client, f"{API}/records", {}, select="ref", where='date_format(jour, "MMMM") = "June"', lang="en")
    assert english == ["A4"]
    assert sorted(refs(client, f"{API}/records", admin, select="ref", lang="en")) == ["A1", "A2", "A3", "A4"]


def test_the_web_table_and_the_api_cut_at_the_same_instant(tmp_path):
    """The web pages read a dataset in its own zone (``timezone`` metadata, here UTC+14): the
    record filter still cuts at the instant it was saved with, so the table shows what the API
    gives (read in UTC+14, the cut fell ten hours before 2024 and the table lost A1)."""
    rows = semicolon_csv(tmp_path / "e.csv", ROWS)
    instance = published_instance(tmp_path / "home", Published(SLUG, rows, "Événements",
                                                               metadata={"extra_metas": {"timezone": "Pacific/Kiritimati"}}))
    try:
        with instance.session() as s:
            auth.set_dataset_security(s, services.get_dataset(s, SLUG), record_filters={"*": "instant < date'2024-01-01'"})
        client = TestClient(create_app(instance))
        assert refs(client, f"{API}/records", {}, select="ref") == ["A1"]
        table = client.get(f"/explore/dataset/{SLUG}/table/")
        assert table.status_code == 200, table.text
        assert [ref for ref in ("A1", "A2", "A3", "A4") if f">{ref}<" in table.text] == ["A1"]
    finally:
        instance.store.close()
