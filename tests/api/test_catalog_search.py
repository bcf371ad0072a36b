"""The catalogue as ODSQL (``/catalog/datasets`` with select, where, group_by, order_by,
refine/exclude) and ``/catalog/facets``, checked against plain Python over the datasets the test
creates; and datetimes written in the request's timezone."""

from __future__ import annotations

from collections import Counter
import csv
import io
import time
from datetime import datetime, timezone

import pytest
from fastapi.testclient import TestClient
from python_calamine import CalamineWorkbook

from portail.api import create_app
from portail.catalog import services
from portail.operations import load_file

URL = "/api/explore/v2.1/catalog/datasets"

#: slug, title, themes, keywords, publisher, modified (UTC), CSV (header + rows)
DATASETS = [
    ("velos", "Comptage vélo à Paris", ["Transports", "Environnement"], ["vélo", "mobilité"], "Ville de Paris",
     datetime(2024, 5, 3, 8, 0, tzinfo=timezone.utc), "nom;quand;n\nBoulevard Sébastopol;2024-05-01T10:30:00Z;12\n"),
    ("bus", "Lignes de bus", ["Transports"], ["bus", "mobilité"], "RATP",
     datetime(2023, 11, 20, 12, 0, tzinfo=timezone.utc), "ligne;n\n38;4\n91;5\n"),
    ("budget", "Budget primitif", ["Economie"], ["finances"], "Ville de Paris",
     datetime(2024, 1, 15, 23, 30, tzinfo=timezone.utc), "poste;montant\nÉcoles;1000\nVoirie;250\nSport;12\n"),
    ("arbres", "Arbres remarquables", ["Environnement"], [], None,
     datetime(2022, 7, 1, 6, 0, tzinfo=timezone.utc), "espece;hauteur\nPlatane;30\n"),
]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from tests.conftest import make_instance

    home = tmp_path_factory.mktemp("catalog")
    instance = make_instance(home / "home")
    for slug, title, themes, keywords, publisher, modified, csv in DATASETS:
        path = home / f"{slug}.csv"
        path.write_text(csv, encoding="utf-8")
        with instance.session() as s:
            services.create_dataset(s, slug, title)
        load_file(instance, slug, path, publish=True)
        with instance.session() as s:
            d = services.get_dataset(s, slug)
            services.update_metadata(s, d, themes=themes, keywords=keywords, publisher=publisher)
            d.modified = modified
    yield TestClient(create_app(instance))
    instance.store.close()


def ids(body) -> list[str]:
    return [r["dataset_id"] for r in body["results"]]


def get(client, **params):
    response = client.get(URL, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_plain_listing_is_unchanged(client):
    body = get(client, limit=100)
    assert body["total_count"] == len(DATASETS)
    assert sorted(ids(body)) == sorted(d[0] for d in DATASETS)
    first = body["results"][0]
    assert {"dataset_id", "dataset_uid", "metas", "fields", "features", "has_records"} <= set(first)


@pytest.mark.parametrize("where, keep", [
    ('title like "vélo"', lambda d: "vélo" in d[1].lower().split()),
    ('search("transport")', lambda d: any(w.lower().startswith("transport") for w in [d[1], *d[2], *d[3]]
                                          for w in w.split())),
    ('"Transports" in theme', lambda d: "Transports" in d[2]),
    ('theme = "Economie"', lambda d: d[2] == ["Economie"]),
    ('publisher = "Ville de Paris"', lambda d: d[4] == "Ville de Paris"),
    ("publisher is null", lambda d: d[4] is None),
    ("modified >= date'2024'", lambda d: d[5].year >= 2024),
    ("default.modified < date'2023-12-01'", lambda d: d[5] < datetime(2023, 12, 1, tzinfo=timezone.utc)),
    ("records_count > 1", lambda d: d[6].count("\n") - 1 > 1),
    ("metas.default.records_count = 1", lambda d: d[6].count("\n") - 1 == 1),
    ('dataset_id = "bus" or dataset_id = "arbres"', lambda d: d[0] in ("bus", "arbres")),
    ('"timeserie" in features', lambda d: d[0] == "velos"),
    # "=" on a list field is membership, as the QGIS plugin's where=features='geo' expects
    ("features='timeserie'", lambda d: d[0] == "velos"),
    ('features in ("timeserie")', lambda d: d[0] == "velos"),  # what uMap's importer sends (with "geo")
    ('features:"timeserie"', lambda d: d[0] == "velos"),
    ('keyword in ("mobilité", "nulle part")', lambda d: "mobilité" in d[3]),
    ('keyword = "mobilité"', lambda d: "mobilité" in d[3]),
    ('"Transports" = default.theme', lambda d: "Transports" in d[2]),
    ('theme != "Transports"', lambda d: "Transports" not in d[2]),
    ('"budget"', lambda d: d[0] == "budget"),
])
def test_where(client, where, keep):
    body = get(client, where=where, limit=100)
    expected = sorted(d[0] for d in DATASETS if keep(d))
    assert sorted(ids(body)) == expected
    assert body["total_count"] == len(expected)


def test_order_by_limit_offset(client):
    by_modified = [d[0] for d in sorted(DATASETS, key=lambda d: d[5], reverse=True)]
    assert ids(get(client, order_by="modified desc", limit=2)) == by_modified[:2]
    assert ids(get(client, order_by="modified desc", limit=2, offset=2)) == by_modified[2:]
    by_title = [d[0] for d in sorted(DATASETS, key=lambda d: d[1])]
    assert ids(get(client, order_by="title")) == by_title


def test_select_narrows_the_objects(client):
    body = get(client, select="dataset_id, title, theme, records_count", where='dataset_id = "velos"')
    assert body["results"] == [{"dataset_id": "velos", "title": "Comptage vélo à Paris",
                                "theme": ["Transports", "Environnement"], "records_count": 1}]
    fields = get(client, select="dataset_id, fields", where='dataset_id = "bus"')["results"][0]["fields"]
    assert [f["name"] for f in fields] == ["ligne", "n"]


def test_aggregates_without_group_by_count_the_matching_datasets(client):
    """As for records: total_count is the number of datasets the aggregates run over, not 1."""
    kept = [d for d in DATASETS if "Transports" in d[2]]
    body = get(client, select="count(*) as n", where='"Transports" in theme')
    assert body == {"total_count": len(kept), "results": [{"n": len(kept)}]}
    assert get(client, select="count(*) as n", limit=0) == {"total_count": len(DATASETS), "results": []}


def test_group_by_multivalued_counts_each_value(client):
    body = get(client, select="theme, count(*) as n", group_by="theme", order_by="n desc, theme")
    counts = Counter(t for d in DATASETS for t in d[2])
    expected = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    assert [(r["theme"], r["n"]) for r in body["results"]] == expected
    assert body["total_count"] == len(expected)
    publishers = get(client, select="publisher, sum(records_count) as rows", group_by="publisher", order_by="publisher")
    sums: Counter = Counter()
    for d in DATASETS:
        sums[d[4]] += d[6].count("\n") - 1
    assert {r["publisher"]: r["rows"] for r in publishers["results"]} == dict(sums)
    years = get(client, select="count(*) as n", group_by="year(modified) as y", order_by="y")
    assert [(r["y"], r["n"]) for r in years["results"]] == sorted(Counter(d[5].year for d in DATASETS).items())


def test_group_by_a_list_field_after_where(client):
    body = get(client, select="keyword, count(*) as n", group_by="keyword", order_by="n desc, keyword")
    counts = Counter(k for d in DATASETS for k in (d[3] or [None]))  # no keyword: the null group
    assert [(r["keyword"], r["n"]) for r in body["results"]] == \
        sorted(counts.items(), key=lambda kv: (-kv[1], kv[0] is None, kv[0] or ""))
    assert all(isinstance(r["keyword"], str) for r in body["results"] if r["keyword"] is not None)
    # where keeps datasets, then each of their themes is a group (not only the one asked about)
    body = get(client, select="theme, count(*) as n", group_by="theme", where='"Transports" in theme')
    assert {r["theme"]: r["n"] for r in body["results"]} == Counter(t for d in DATASETS if "Transports" in d[2] for t in d[2])
    assert body["total_count"] == 2


def test_refine_and_exclude(client):
    assert sorted(ids(get(client, refine="theme:Transports"))) == sorted(d[0] for d in DATASETS if "Transports" in d[2])
    assert sorted(ids(get(client, exclude="theme:Transports"))) == sorted(d[0] for d in DATASETS if "Transports" not in d[2])
    assert ids(get(client, refine=["theme:Transports", "keyword:vélo"])) == ["velos"]
    assert sorted(ids(get(client, refine="modified:2024"))) == sorted(d[0] for d in DATASETS if d[5].year == 2024)
    assert ids(get(client, refine="modified:2024/01")) == ["budget"]


def test_catalog_facets(client):
    body = client.get("/api/explore/v2.1/catalog/facets").json()
    facets = {f["name"]: f["facets"] for f in body["facets"]}
    themes = Counter(t for d in DATASETS for t in d[2])
    assert {e["value"]: e["count"] for e in facets["theme"]} == dict(themes)
    assert [e["count"] for e in facets["theme"]] == sorted(themes.values(), reverse=True)
    assert {e["value"]: e["count"] for e in facets["publisher"]} == dict(Counter(d[4] for d in DATASETS if d[4]))
    assert {e["value"]: e["count"] for e in facets["modified"]} == dict(Counter(str(d[5].year) for d in DATASETS))
    refined = client.get("/api/explore/v2.1/catalog/facets",
                         params=[("facet", "keyword"), ("facet", "modified"), ("refine", "theme:Transports"),
                                 ("refine", "modified:2024")]).json()["facets"]
    by_name = {f["name"]: f["facets"] for f in refined}
    kept = [d for d in DATASETS if "Transports" in d[2] and d[5].year == 2024]
    assert {e["value"]: e["count"] for e in by_name["keyword"]} == dict(Counter(k for d in kept for k in d[3]))
    year = by_name["modified"][0]
    assert (year["value"], year["state"], year["count"]) == ("2024", "refined", len(kept))
    assert {m["value"]: m["count"] for m in year["facets"]} == dict(Counter(d[5].strftime("%Y/%m") for d in kept))
    excluded = client.get("/api/explore/v2.1/catalog/facets",
                          params=[("facet", "theme"), ("exclude", "theme:Economie")]).json()["facets"][0]["facets"]
    assert {"name": "Economie", "value": "Economie", "state": "excluded"} in excluded
    assert all(e["value"] != "Economie" or "count" not in e for e in excluded)


def test_catalog_date_facets_and_refinements_follow_the_timezone(client):
    """``budget`` changed on 2024-01-15 at 23:30 UTC: the 16th in Paris, as a dataset's own
    date facets and refinements read their datetimes."""
    facets = "/api/explore/v2.1/catalog/facets"
    def days(**params) -> dict[str, int]:
        body = client.get(facets, params={"facet": "modified", "refine": "modified:2024/01", **params}).json()
        month = body["facets"][0]["facets"][0]["facets"][0]
        return {e["value"]: e["count"] for e in month["facets"]}

    assert days() == {"2024/01/15": 1}
    assert days(timezone="Europe/Paris") == {"2024/01/16": 1}
    assert ids(get(client, refine="modified:2024/01/16", timezone="Europe/Paris")) == ["budget"]
    assert ids(get(client, refine="modified:2024/01/16")) == []
    wrong = client.get(facets, params={"facet": "modified", "timezone": "Mars/Olympus"})
    assert wrong.status_code == 400 and "timezone" in wrong.json()["message"]


def test_catalog_facets_where_a_list_field_equals_a_value(client):
    body = client.get("/api/explore/v2.1/catalog/facets", params={"facet": "keyword", "where": "keyword='mobilité'"}).json()
    expected = Counter(k for d in DATASETS if "mobilité" in d[3] for k in d[3])
    assert {e["value"]: e["count"] for e in body["facets"][0]["facets"]} == dict(expected)


@pytest.mark.parametrize("params, fragment", [
    ({"where": "nope = 1"}, "Unknown field: nope"),
    ({"group_by": "title", "select": "dataset_id"}, "group_by"),
    ({"order_by": "title desk"}, ""),
    ({"limit": 101}, "-1 <= limit <= 100"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"refine": "nope:1"}, "nope"),
])
def test_errors_are_400(client, params, fragment):
    response = client.get(URL, params=params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error_code"] and fragment in body["message"]


def test_datetimes_in_the_requested_timezone(client):
    url = f"{URL}/velos/records"
    utc = client.get(url, params={"select": "quand"}).json()["results"][0]["quand"]
    assert datetime.fromisoformat(utc) == datetime(2024, 5, 1, 10, 30, tzinfo=timezone.utc)
    assert utc.endswith("+00:00")
    paris = client.get(url, params={"select": "quand, hour(quand) as h", "timezone": "Europe/Paris"}).json()["results"][0]
    assert paris["quand"] == "2024-05-01T12:30:00+02:00"
    assert paris["h"] == 12
    grouped = client.get(url, params={"select": "count(*) as n", "group_by": "day(quand) as d",
                                      "timezone": "Pacific/Kiritimati"}).json()["results"]
    assert grouped == [{"d": 2, "n": 1}]  # UTC+14: already the next day


def test_exports_and_record_lookup_in_the_requested_timezone(client):
    """The same instant as the records endpoint, in every text format and the record by id."""
    url = f"{URL}/velos"
    paris = {"select": "quand", "timezone": "Europe/Paris"}
    def csv_rows(params):
        return list(csv.reader(client.get(f"{url}/exports/csv", params=params).content.decode("utf-8-sig").splitlines(),
                               delimiter=";"))

    assert csv_rows(paris) == [["quand"], ["2024-05-01T12:30:00+02:00"]]
    assert client.get(f"{url}/exports/json", params=paris).json() == [{"quand": "2024-05-01T12:30:00+02:00"}]
    jsonl = client.get(f"{url}/exports/jsonl", params=paris).text.splitlines()
    assert jsonl == ['{"quand":"2024-05-01T12:30:00+02:00"}']
    assert csv_rows({"select": "quand"})[1] == ["2024-05-01T10:30:00+00:00"]
    record_id = client.get(f"{url}/records", params={"include_links": "true"}).json()["results"][0]["_id"]
    one = client.get(f"{url}/records/{record_id}", params={"timezone": "Europe/Paris"}).json()
    assert one["quand"] == "2024-05-01T12:30:00+02:00"
    xlsx = client.get(f"{url}/exports/xlsx", params=paris)
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(xlsx.content)).get_sheet_by_index(0).to_python()
    assert sheet[1][0] == datetime(2024, 5, 1, 12, 30)  # Excel has no zones: the local time


def test_now_is_read_at_every_call(client):
    """Plans are kept between calls, but not those that read the clock."""
    params = {"select": "now() as t", "limit": 1}
    first = client.get(f"{URL}/velos/records", params=params).json()["results"][0]["t"]
    time.sleep(0.01)
    second = client.get(f"{URL}/velos/records", params=params).json()["results"][0]["t"]
    assert datetime.fromisoformat(second) > datetime.fromisoformat(first)


def test_order_by_random_is_a_stable_shuffle(client):
    """random(seed) hashes each row's identity: the catalogue table carries one."""
    first = ids(get(client, order_by="random(1)", limit=100))
    assert sorted(first) == sorted(d[0] for d in DATASETS)
    assert ids(get(client, order_by="random(1)", limit=100)) == first
    assert ids(get(client, order_by="random(2) desc", limit=2)) == ids(get(client, order_by="random(2) desc", limit=100))[:2]


@pytest.mark.parametrize("where, expected", [
    ('"Paris"', ["budget", "velos"]),  # title or publisher; every dataset's timezone is Europe/Paris
    ('search(*, "paris")', ["budget", "velos"]),
    ('search("paris")', ["budget", "velos"]),
    ('suggest(*, "europ")', []),
    ('"Europe"', []),
    ('"domain"', []),
    ('"fr"', []),
    ('"analyze"', []),
    ('"budget" or "bus"', ["budget", "bus"]),
    ('not "paris"', ["arbres", "bus"]),
    ('"mobilité" and "RATP"', ["bus"]),  # keyword and publisher
    ('timezone = "Europe/Paris"', ["arbres", "budget", "bus", "velos"]),  # still a field where can name
    ('search(timezone, "paris")', ["arbres", "budget", "bus", "velos"]),
])
def test_full_text_reads_descriptive_metadata_only(client, where, expected):
    assert sorted(ids(get(client, where=where, limit=100))) == expected


@pytest.mark.parametrize("where, expected", [
    ('"transport"', []),  # only a prefix of the theme "Transports": a bare string's words are whole
    ('"transport*"', ["bus", "velos"]),
    ('search(*, "transport")', ["bus", "velos"]),  # search()'s last word is a prefix
    ('"budgat primitif"', []),  # one letter off: search()'s earlier words are fuzzy, a bare string's not
    ('search(*, "budgat primitif")', ["budget"]),
    ('"VELO"', ["velos"]),  # accents and case ignored ("vélo"; the id "velos" is another word)
    ('"comptage paris"', ["velos"]),  # every word, in any field: title and publisher
    ('"paris" and not "vélo"', ["budget"]),
])
def test_a_bare_string_on_the_catalogue_follows_the_reference(client, where, expected):
    """Reference §5.4 item 1, over the catalogue's descriptive metadata as over records."""
    assert sorted(ids(get(client, where=where, limit=100))) == expected


def test_qv1_words_keep_v1_full_text(client):
    """``qv1`` (and v1's dataset search) is v1's ``q``, whose documentation sets no whole-word
    rule: its plain words stay ``search()``'s (the last a prefix), not a bare string's."""
    assert sorted(ids(get(client, qv1="transport", limit=100))) == ["bus", "velos"]
    body = client.get("/api/datasets/1.0/search/", params={"q": "transport"}).json()
    assert sorted(d["datasetid"] for d in body["datasets"]) == ["bus", "velos"]


def test_datasetid_is_the_v2_0_name_of_dataset_id(client):
    """QGIS looks a layer's dataset up with where=datasetid:"x" and wants total_count > 0."""
    assert get(client, where='datasetid:"bus"')["total_count"] == 1
    assert ids(get(client, where='datasetid = "bus" or datasetid = "velos"', order_by="datasetid")) == ["bus", "velos"]
    assert get(client, select="datasetid", where='dataset_id = "bus"')["results"] == [{"datasetid": "bus"}]
    assert ids(get(client, refine="datasetid:budget")) == ["budget"]


def test_functions_and_aggregates_of_list_fields_read_their_values(client):
    """The separator the catalogue table joins a list with never reaches a response, and
    aggregates count values, not joined lists."""
    row = get(client, select="lower(keyword) as k, upper(theme) as t, keyword", where='dataset_id = "velos"')["results"][0]
    assert row == {"k": ["vélo", "mobilité"], "t": ["TRANSPORTS", "ENVIRONNEMENT"], "keyword": ["vélo", "mobilité"]}
    keywords = {k for d in DATASETS for k in d[3]}
    themes = {t for d in DATASETS for t in d[2]}
    body = get(client, select="count(distinct keyword) as k, count(distinct theme) as t, max(theme) as hi, "
                              "min(theme) as lo, count(distinct features) as f")
    assert body["results"] == [{"k": len(keywords), "t": len(themes), "hi": max(themes), "lo": min(themes), "f": 2}]
    grouped = get(client, select="publisher, count(distinct theme) as t", group_by="publisher", order_by="publisher")
    assert {r["publisher"]: r["t"] for r in grouped["results"]} == {
        p: len({t for d in DATASETS if d[4] == p for t in d[2]}) for p in {d[4] for d in DATASETS}}


def test_catalog_pagination_links(client):
    body = get(client, include_links="true", limit=2, order_by="dataset_id", select="dataset_id")
    links = {link["rel"]: link["href"] for link in body["_links"]}
    assert set(links) == {"self", "first", "next", "last"}
    for item in body["results"]:  # each dataset keeps its own links whatever the select
        assert set(item) == {"dataset_id", "_links"}
        assert any(link["href"].endswith(f"/catalog/datasets/{item['dataset_id']}") for link in item["_links"])
    one = client.get(f"{URL}/{body['results'][0]['dataset_id']}", params={"include_links": "true",
                                                                           "select": "dataset_id"}).json()
    assert set(one) == {"dataset_id", "_links"}
    assert ids(client.get(links["next"]).json()) == sorted(d[0] for d in DATASETS)[2:4]
    assert client.get(links["last"]).json()["results"] == client.get(links["next"]).json()["results"]
    assert ids(client.get(links["first"]).json()) == ids(body)
    last = {link["rel"] for link in client.get(links["last"]).json()["_links"]}
    assert last == {"self", "first", "last"}


def test_select_star_gives_the_dataset_object(client):
    """select's default is *: an explicit * gives what no select gives."""
    plain = get(client, order_by="dataset_id", limit=100)["results"]
    assert get(client, select="*", order_by="dataset_id", limit=100)["results"] == plain
    assert get(client, select="include(*)", order_by="dataset_id", limit=100)["results"] == plain
    no_fields = get(client, select="exclude(fields)", order_by="dataset_id", limit=100)["results"]
    assert no_fields == [{k: v for k, v in d.items() if k != "fields"} for d in plain]
    doubled = get(client, select="*, records_count * 2 as r2", order_by="dataset_id", limit=100)["results"]
    assert doubled == [{**d, "r2": 2 * d["metas"]["default"]["records_count"]} for d in plain]
    # data-fair's ODS connector narrows the objects it harvests so; metas can be left out too
    narrow = "exclude(features),exclude(attachments),exclude(alternative_exports),exclude(fields)"
    left_out = {"features", "attachments", "alternative_exports", "fields"}
    assert get(client, select=narrow, order_by="dataset_id", limit=100)["results"] == [
        {k: v for k, v in d.items() if k not in left_out} for d in plain]
    assert get(client, select="exclude(metas)", order_by="dataset_id", limit=100)["results"] == [
        {k: v for k, v in d.items() if k != "metas"} for d in plain]
    one = client.get(f"{URL}/velos", params={"select": narrow})
    assert one.status_code == 200 and left_out.isdisjoint(one.json()) and one.json()["dataset_id"] == "velos"
    assert [r["alternative_exports"] for r in get(client, select="alternative_exports", limit=100)["results"]] == [
        d["alternative_exports"] for d in get(client, limit=100)["results"]]


@pytest.mark.parametrize("params", [{"order_by": "vector_similarity('vélo')"},
                                    {"where": 'vector_similarity_threshold("vélo", 0.1)'}])
def test_semantic_search_is_refused_honestly(client, params):
    response = client.get(URL, params=params)
    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == "ODSQLError" and "not implemented" in body["message"]
    assert "only available on the catalog" not in body["message"]


def test_metadata_instants_carry_their_offset_in_the_requested_timezone(client):
    """modified reads the same in the object as through select: an instant with its offset."""
    utc = get(client, where='dataset_id = "velos"')["results"][0]["metas"]["default"]
    assert utc["modified"] == "2024-05-03T08:00:00+00:00"
    assert datetime.fromisoformat(utc["data_processed"]).utcoffset() is not None
    paris = client.get(f"{URL}/velos", params={"timezone": "Europe/Paris"}).json()
    assert paris["metas"]["default"]["modified"] == "2024-05-03T10:00:00+02:00"
    assert paris["metas"]["dcat"]["created"].endswith("+02:00") or paris["metas"]["dcat"]["created"].endswith("+01:00")
    listed = get(client, where='dataset_id = "budget"', timezone="Europe/Paris")["results"][0]["metas"]["default"]
    assert listed["modified"] == "2024-01-16T00:30:00+01:00"
    selected = get(client, select="modified", where='dataset_id = "budget"', timezone="Europe/Paris")["results"][0]
    assert selected["modified"] == listed["modified"]
    # the same instant whatever the zone it is written in: 23:30 UTC on the 15th is the 16th in Paris
    day = "modified >= date'2024-01-16' and modified < date'2024-01-17'"
    assert ids(get(client, where=day, timezone="Europe/Paris")) == ["budget"]
    assert ids(get(client, where=day)) == []
    assert ids(get(client, refine="modified:2024/01/16", timezone="Europe/Paris")) == ["budget"]


def test_dataset_lookup_reads_select_and_timezone(client):
    assert client.get(f"{URL}/bus", params={"select": "dataset_id, records_count"}).json() == \
        {"dataset_id": "bus", "records_count": 2}
    assert client.get(f"{URL}/bus", params={"select": "*"}).json() == client.get(f"{URL}/bus").json()
    for params in ({"select": "nope("}, {"select": "nope"}, {"timezone": "Mars/Olympus"}, {"select": "count(*)"}):
        response = client.get(f"{URL}/bus", params=params)
        assert response.status_code == 400, params
    assert client.get(URL, params={"timezone": "Mars/Olympus", "where": 'dataset_id = "nope"'}).status_code == 400


def test_every_metadata_template_is_a_field(client):
    """explore.*, dcat.* and the rest of default.* are fields too, as <template>.<name>."""
    assert get(client, where="explore.download_count > 100")["total_count"] == 0  # null until usage analytics exist
    assert get(client, where="metas.explore.popularity_score is null")["total_count"] == len(DATASETS)
    assert get(client, where="dcat.created >= date'2000'")["total_count"] == len(DATASETS)
    assert get(client, where='"fr" in metadata_languages')["total_count"] == len(DATASETS)
    assert get(client, where="default.modified_updates_on_data_change and territory is null")["total_count"] == len(DATASETS)
    row = get(client, select="dcat.created, metas.dcat.creator, metadata_languages, dcat.temporal_coverage_start",
              where='dataset_id = "bus"')["results"][0]
    obj = client.get(f"{URL}/bus").json()["metas"]
    assert datetime.fromisoformat(row["dcat.created"]) == datetime.fromisoformat(obj["dcat"]["created"])
    assert row["metas.dcat.creator"] == obj["dcat"]["creator"] and row["metadata_languages"] == ["fr"]
    assert row["dcat.temporal_coverage_start"] is None
    trimmed = get(client, select="exclude(dcat.creator)", where='dataset_id = "bus"')["results"][0]["metas"]
    assert "creator" not in trimmed["dcat"] and "created" in trimmed["dcat"]


def test_v1_catalogue_search_refines_facets_and_sorts_like_v2(client):
    """Older apps list datasets by theme through v1: its refinements, facets and order are the
    v2.1 catalogue's, in v1's shapes."""
    v1 = "/api/datasets/1.0/search/"
    def slugs(**params) -> list[str]:
        body = client.get(v1, params=params).json()
        assert body["nhits"] == len(body["datasets"]) or params.get("rows")
        return [d["datasetid"] for d in body["datasets"]]

    assert sorted(slugs(**{"refine.theme": "Transports"})) == sorted(d[0] for d in DATASETS if "Transports" in d[2])
    assert sorted(slugs(**{"exclude.theme": "Transports"})) == sorted(d[0] for d in DATASETS if "Transports" not in d[2])
    by_date = [d[0] for d in sorted(DATASETS, key=lambda d: d[5], reverse=True)]
    assert slugs(sort="modified") == by_date  # v1 sorts descending
    assert slugs(sort="-modified") == by_date[::-1]
    assert slugs(sort="-modified", rows=2, start=1) == by_date[::-1][1:3]
    assert slugs(q="vélo") == ["velos"] and slugs(q='budget "primitif') == ["budget"]  # a quote is no syntax
    body = client.get(v1, params={"facet": "theme", "refine.publisher": "Ville de Paris"}).json()
    kept = [d for d in DATASETS if d[4] == "Ville de Paris"]
    assert body["nhits"] == len(kept) and body["parameters"]["refine"] == {"publisher": "Ville de Paris"}
    assert {f["path"]: f["count"] for f in body["facet_groups"][0]["facets"]} == dict(Counter(t for d in kept for t in d[2]))
    wrong = client.get(v1, params={"sort": "nope"})
    assert wrong.status_code == 400 and "nope" in wrong.json()["message"]


@pytest.fixture(scope="module")
def tree_client(tmp_path_factory):
    """Themes as paths (``Territoires/Régions``) and two publishers, for facet(…) options."""
    from tests.conftest import make_instance

    home = tmp_path_factory.mktemp("catalog-tree")
    instance = make_instance(home / "home")
    for slug, themes, publisher in [("regions", ["Territoires/Régions"], "IGN"),
                                    ("communes", ["Territoires/Communes", "Logement"], "INSEE"),
                                    ("hlm", ["Logement"], "Ville de Paris"), ("elus", ["Élus"], "Sénat")]:
        path = home / f"{slug}.csv"
        path.write_text("a;b\n1;2\n", encoding="utf-8")
        with instance.session() as s:
            services.create_dataset(s, slug, slug.title(), themes=themes, publisher=publisher)
        load_file(instance, slug, path, publish=True)
    yield TestClient(create_app(instance))
    instance.store.close()


def test_catalog_facets_honour_facet_disjunctive_and_hierarchical(tree_client):
    facets = "/api/explore/v2.1/catalog/facets"

    def groups(**params):
        return {g["name"]: g["facets"] for g in tree_client.get(facets, params=params).json()["facets"]}

    # disjunctive: the theme's refined values are ORed for every facet, as on the dataset facets
    ored = groups(facet=['facet(name="theme",disjunctive=true)', "publisher"], refine=["theme:Logement", "theme:Élus"])
    assert {e["name"]: e["count"] for e in ored["publisher"]} == {"INSEE": 1, "Ville de Paris": 1, "Sénat": 1}
    assert {e["name"]: e["state"] for e in ored["theme"]}["Élus"] == "refined"
    anded = groups(facet=["theme", "publisher"], refine=["theme:Logement", "theme:Communes"])
    assert anded["publisher"] == []  # without the option, two values of one field must both hold
    # hierarchical: segments of paths; a refined node lists its children and refines by path
    tree = groups(facet='facet(name="theme",hierarchical=true)', refine="theme:Territoires")
    top = {e["name"]: e for e in tree["theme"]}
    assert top["Territoires"]["count"] == 2 and top["Territoires"]["state"] == "refined"
    assert {(e["name"], e["value"], e["count"]) for e in top["Territoires"]["facets"]} == {
        ("Régions", "Territoires/Régions", 1), ("Communes", "Territoires/Communes", 1)}
    assert "facets" not in top["Logement"] and top["Logement"]["count"] == 1  # the communes dataset, refined
    deeper = groups(facet='facet(name="theme",hierarchical=true,separator="/")', refine="theme:Territoires/Régions")
    assert [(e["value"], e["count"]) for e in deeper["theme"]] == [("Territoires", 1)]
    assert deeper["theme"][0]["facets"] == [{"name": "Régions", "value": "Territoires/Régions", "count": 1,
                                             "state": "refined", "facets": []}]  # a leaf, as on datasets
    flat = groups(facet="theme", refine="theme:Territoires")
    assert flat["theme"] == []  # without the option a refine is the whole value (a theme may hold a "/")


def test_full_text_reads_the_description_words_not_its_html(tmp_path):
    """A description is Markdown, written as HTML (``description``, as Opendatasoft's): full text
    reads its words (``description_text``), so a tag, an attribute or an entity matches nothing
    ("strong", "href", "amp" and a link's "https" matched every dataset with bold, a link or "&")."""
    from tests.conftest import Published, published_instance, semicolon_csv

    instance = published_instance(tmp_path / "home", *(
        Published(slug, semicolon_csv(tmp_path / f"{slug}.csv", [{"n": "1"}]), slug, metadata={"description": text})
        for slug, text in (("liens", "Voir **le** [site](https://example.org/x) & Co"), ("brut", "Tableau simple"))))
    client = TestClient(create_app(instance))

    def found(**params) -> list[str]:
        answer = client.get(URL, params={"limit": 100, **params})
        assert answer.status_code == 200, answer.text
        return sorted(ids(answer.json()))

    for markup in ("strong", "href", "amp", "https", "example", "p"):
        assert found(where=f'"{markup}"') == [] and found(where=f'search(*, "{markup}")') == [], markup
        assert client.get("/api/datasets/1.0/search/", params={"q": markup}).json()["nhits"] == 0, markup
    assert found(where='"site"') == found(where='"voir le site"') == ["liens"]
    assert found(where='"tableau"') == ["brut"]
    assert client.get(f"{URL}/liens").json()["metas"]["default"]["description"].startswith("<p>Voir <strong>")  # as written
    instance.store.close()


@pytest.mark.parametrize("where", ['publisher like "%"', 'publisher like "-"', 'publisher like ""'])
def test_a_like_pattern_without_a_word_matches_no_dataset(client, where):
    """As a bare ``"%"`` does: a match query whose text gives no token finds nothing
    (Elasticsearch's ``zero_terms_query: none``), so its negation keeps every dataset, the one
    without a publisher too (tests/odsql/test_like_without_words.py has the rule)."""
    assert ids(get(client, where=where, limit=100)) == []
    assert sorted(ids(get(client, where=f"not ({where})", limit=100))) == sorted(d[0] for d in DATASETS)


@pytest.mark.parametrize("where", ['search(publisher, "")', 'suggest(publisher, "")', 'phrase(publisher, "")'])
def test_a_null_publisher_matches_no_text_condition(client, where):
    """An empty text asked nothing of a value, so it matched the datasets with no publisher too
    (all of them), while ``publisher != "INSEE"`` leaves those out: any comparison involving null
    is false (reference §5.2)."""
    published = sorted(d[0] for d in DATASETS if d[4] is not None)
    assert sorted(ids(get(client, where=where, limit=100))) == published
    assert ids(get(client, where=f"not ({where})", limit=100)) == ["arbres"]  # false, so its negation holds
    assert get(client, where='search(*, "")', limit=0)["total_count"] == len(DATASETS)  # names no field
