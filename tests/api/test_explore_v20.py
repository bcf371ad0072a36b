"""Explore API v2.0 (``api/explore_v20.py``) over HTTP, at both of its prefixes: each answer is
checked against an independent truth, the same query on v2.1 reshaped by hand, and the source
files read here with the csv module."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from portail import operations
from portail.api import create_app
from tests.conftest import ANNOTATED_CSV, Published, annotated, logements_file, published_instance

V21 = "/api/explore/v2.1"
PREFIXES = ["/api/v2", "/api/explore/v2.0"]
BOM = "\ufeff".encode()
NOTICE = "Notice du jeu de données\n"


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    folder = tmp_path_factory.mktemp("v20")
    instance = published_instance(folder / "home", Published("logements", logements_file(refdata), "Logements sociaux"),
                                  annotated(folder))
    (folder / "notice.txt").write_text(NOTICE, encoding="utf-8")
    operations.attach(instance, "mv", folder / "notice.txt", title="Notice", name="notice.txt")
    yield TestClient(create_app(instance))
    instance.store.close()


@pytest.fixture(scope="module")
def source(refdata) -> list[dict[str, str]]:
    """The logements file as the csv module reads it: the truth counts come from here."""
    with logements_file(refdata).open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f, delimiter=";"))


#: A geo dataset with datetimes (one empty), written with offsets and a fraction of a second.
GEO_CSV = """id;quand;geo_point_2d
1;2020-12-31T23:30:00+00:00;48.85, 2.35
2;2021-06-01T12:00:00.250+02:00;45.75, 4.85
3;;43.3, 5.37
"""


@pytest.fixture(scope="module")
def geo_client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("v20geo")
    (folder / "lieux.csv").write_text(GEO_CSV, encoding="utf-8")
    instance = published_instance(folder / "home", Published("lieux", folder / "lieux.csv", "Lieux"))
    yield TestClient(create_app(instance))
    instance.store.close()


def annotated_rows() -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(ANNOTATED_CSV), delimiter=";"))


def get(client, url: str, **params):
    response = client.get(url, params=params or None)  # params={} would drop the query of a followed link
    assert response.status_code == 200, f"{url} {params}: {response.status_code} {response.text[:300]}"
    return response


def v21_records(client, dataset: str, **params) -> list[dict]:
    """The v2.1 page with each record's id, its links dropped: what v2.0 wraps."""
    results = get(client, f"{V21}/catalog/datasets/{dataset}/records", include_links="true", **params).json()["results"]
    return [{k: v for k, v in r.items() if k != "_links"} for r in results]


def unwrapped(record: dict) -> dict:
    """A v2.0 record back in v2.1's shape (its fields and ``_id``)."""
    return {**record["record"]["fields"], "_id": record["record"]["id"]}


@pytest.mark.parametrize("prefix", PREFIXES)
def test_records_are_v21_records_wrapped(client, source, prefix):
    params = {"where": 'code_postal="75013"', "limit": 100, "offset": 0, "order_by": "id_livraison"}
    body = get(client, f"{prefix}/catalog/datasets/logements/records", **params).json()
    assert set(body) == {"total_count", "links", "records"}
    assert body["total_count"] == sum(r["code_postal"] == "75013" for r in source)
    assert [unwrapped(r) for r in body["records"]] == v21_records(client, "logements", **params)
    ids = {r["id_livraison"] for r in source if r["code_postal"] == "75013"}
    assert {str(r["record"]["fields"]["id_livraison"]) for r in body["records"]} <= ids
    first = body["records"][0]
    assert set(first) == {"links", "record"} and set(first["record"]) == {"id", "timestamp", "size", "fields"}
    assert datetime.fromisoformat(first["record"]["timestamp"]).tzinfo is not None
    fields_bytes = json.dumps(first["record"]["fields"], ensure_ascii=False, separators=(",", ":")).encode()
    assert first["record"]["size"] == len(fields_bytes)
    links = {link["rel"]: link["href"] for link in first["links"]}
    assert links["self"].endswith(f"{prefix}/catalog/datasets/logements/records/{first['record']['id']}")
    assert get(client, links["self"]).json()["record"] == first["record"]  # the link leads to the record
    assert get(client, links["dataset"]).json()["dataset"]["dataset_id"] == "logements"


@pytest.mark.parametrize("prefix", PREFIXES)
def test_record_lookup(client, prefix):
    listed = v21_records(client, "mv", order_by="id", limit=3)
    for record in listed:
        body = get(client, f"{prefix}/catalog/datasets/mv/records/{record['_id']}").json()
        expected = get(client, f"{V21}/catalog/datasets/mv/records/{record['_id']}").json()
        assert body["record"]["id"] == record["_id"] and body["record"]["fields"] == expected
        assert [link["rel"] for link in body["links"]] == ["self", "dataset"]
    one = get(client, f"{prefix}/catalog/datasets/mv/records/{listed[0]['_id']}", select="id, n").json()
    assert one["record"]["fields"] == {"id": listed[0]["id"], "n": listed[0]["n"]}
    missing = client.get(f"{prefix}/catalog/datasets/mv/records/{'0' * 40}")
    assert missing.status_code == 404 and missing.json()["error_code"] == "NotFound"


def test_paging_links_walk_every_record_once(client, source):
    """first, prev, next and last are requests the server accepts; following next from the
    first page visits each matching record once, as the file counts them."""
    url = f"{PREFIXES[0]}/catalog/datasets/logements/records"
    params = {"where": 'code_postal="75001"', "order_by": "id_livraison", "limit": 7}
    middle = get(client, url, offset=14, **params).json()
    rels = {link["rel"]: link["href"] for link in middle["links"]}
    assert ["self", "first", "prev", "next", "last"] == [link["rel"] for link in middle["links"]]
    prev = get(client, rels["prev"]).json()["records"]
    assert [unwrapped(r) for r in prev] == v21_records(client, "logements", offset=7, **params)
    nxt = get(client, rels["next"]).json()["records"]
    assert [unwrapped(r) for r in nxt] == v21_records(client, "logements", offset=21, **params)
    seen, href = [], next(link["href"] for link in middle["links"] if link["rel"] == "first")
    while href:
        page = get(client, href).json()
        seen += [r["record"]["fields"]["id_livraison"] for r in page["records"]]
        href = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
    expected = sorted(r["id_livraison"] for r in source if r["code_postal"] == "75001")
    assert seen == expected and len(seen) == middle["total_count"]
    first = get(client, url, **params).json()
    assert "prev" not in {link["rel"] for link in first["links"]}


@pytest.mark.parametrize("prefix", PREFIXES)
def test_grouped_records_are_flat_rows_without_the_null_group(client, source, prefix):
    """v2.0 gave a group_by query's rows flat in ``records`` (its OpenAPI example), and left the
    records without a value out (v2.1's changelog: "null values are now grouped")."""
    params = {"select": "count(id_livraison) as nb, commentaires", "group_by": "commentaires", "limit": 100}
    body = get(client, f"{prefix}/catalog/datasets/logements/records", **params).json()
    assert set(body) == {"links", "records"}
    v21 = get(client, f"{V21}/catalog/datasets/logements/records", **params).json()["results"]
    assert any(row["commentaires"] is None for row in v21)  # the null group exists on v2.1…
    assert body["records"] == [row for row in v21 if row["commentaires"] is not None]  # …not on v2.0
    truth = Counter(r["commentaires"] for r in source if r["commentaires"])
    assert {row["commentaires"]: row["nb"] for row in body["records"]} == dict(truth)
    by_year = get(client, f"{prefix}/catalog/datasets/logements/records", select="annee, count(*) as n",
                  group_by="annee", where='code_postal="75013"', limit=100).json()["records"]
    assert by_year == [{"annee": int(year), "n": n} for year, n in
                       sorted(Counter(r["annee"] for r in source if r["code_postal"] == "75013").items())]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_date_group_keys_are_epoch_milliseconds_and_date_parts_text(client, prefix):
    """v2.1's changelog: date aggregation keys were timestamps, year()… returned strings."""
    rows = annotated_rows()
    url = f"{prefix}/catalog/datasets/mv/aggregates"
    by_day = get(client, url, select="count(*) as n", group_by="d").json()["aggregations"]
    midnight = lambda text: int(datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC).timestamp() * 1000)
    days = Counter(r["d"] for r in rows if r["d"])
    assert by_day == [{"d": midnight(day), "n": n} for day, n in sorted(days.items())]
    v21 = get(client, f"{V21}/catalog/datasets/mv/records", select="count(*) as n", group_by="d").json()["results"]
    assert [row["d"] for row in by_day] == [midnight(row["d"]) for row in v21 if row["d"] is not None]
    by_instant = get(client, url, select="count(*) as n", group_by="dt").json()["aggregations"]
    instants = Counter(int(datetime.fromisoformat(r["dt"]).timestamp() * 1000) for r in rows if r["dt"])
    assert by_instant == [{"dt": key, "n": n} for key, n in sorted(instants.items())]
    by_year = get(client, url, select="count(*) as n", group_by="year(d) as y").json()["aggregations"]
    assert by_year == [{"y": year, "n": n} for year, n in sorted(Counter(r["d"][:4] for r in rows if r["d"]).items())]
    v21_years = get(client, f"{V21}/catalog/datasets/mv/records", select="count(*) as n",
                    group_by="year(d) as y").json()["results"]
    assert [row["y"] for row in v21_years] == [None, 2019, 2020, 2021]  # v2.1: integers, the null group first


@pytest.mark.parametrize("prefix", PREFIXES)
def test_aggregates(client, source, prefix):
    url = f"{prefix}/catalog/datasets/logements/aggregates"
    assert get(client, url, select="count(*) as count").json() == {"aggregations": [{"count": len(source)}]}
    grouped = get(client, url, select="count(*) as num, annee, sum(nb_logmt_total) as total", group_by="annee").json()
    truth: dict[int, list[int]] = {}
    for r in source:
        truth.setdefault(int(r["annee"]), []).append(int(r["nb_logmt_total"]))
    assert grouped["aggregations"] == [{"annee": year, "num": len(values), "total": sum(values)}
                                       for year, values in sorted(truth.items())]
    # "moved to records?group_by, which are equivalent" (v2.0's deprecation note)
    records = get(client, f"{prefix}/catalog/datasets/logements/records", limit=-1,
                  select="count(*) as num, annee, sum(nb_logmt_total) as total", group_by="annee").json()["records"]
    assert records == grouped["aggregations"]
    # groups page as on records (v2.0's OpenAPI lists offset)
    paged = get(client, url, select="count(*) as num, annee, sum(nb_logmt_total) as total", group_by="annee",
                limit=3, offset=3).json()["aggregations"]
    assert paged == grouped["aggregations"][3:6]
    refused = client.get(url, params={"select": "code_postal"})
    assert refused.status_code == 400 and refused.json()["error_code"] == "InvalidRESTParameterError"


def test_catalog_aggregates(client):
    body = get(client, f"{PREFIXES[1]}/catalog/aggregates", select="count(*) as n", group_by="features").json()
    v21 = get(client, f"{V21}/catalog/datasets", select="count(*) as n", group_by="features", limit=-1).json()
    assert body == {"aggregations": v21["results"]}
    assert sum(row["n"] for row in body["aggregations"] if row["features"] == "analyze") == 2
    # refine and exclude narrow the datasets aggregated, offset pages the groups (v2.0's OpenAPI)
    for name in ("refine", "exclude"):
        narrowed = get(client, f"{PREFIXES[0]}/catalog/aggregates", select="count(*) as n", **{name: "features:geo"})
        truth = get(client, f"{V21}/catalog/datasets", limit=0, **{name: "features:geo"}).json()["total_count"]
        assert narrowed.json() == {"aggregations": [{"n": truth}]}, name
    assert 0 < get(client, f"{V21}/catalog/datasets", limit=0, refine="features:geo").json()["total_count"] < \
        get(client, f"{V21}/catalog/datasets", limit=0).json()["total_count"]  # the refine does narrow
    # v2.0's catalogue documentation filters on a year written as a number
    everything = get(client, f"{V21}/catalog/datasets", limit=0).json()["total_count"]
    assert get(client, f"{PREFIXES[0]}/catalog/datasets", where="modified>2015").json()["total_count"] == everything
    assert get(client, f"{PREFIXES[0]}/catalog/datasets", where="default.modified<2015").json()["total_count"] == 0
    second = get(client, f"{PREFIXES[1]}/catalog/aggregates", select="count(*) as n", group_by="features",
                 order_by="features", offset=1, limit=1).json()["aggregations"]
    assert second == sorted(body["aggregations"], key=lambda r: r["features"])[1:2]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_facets(client, prefix):
    params = {"facet": ["cat", "d"], "refine": "d:2020"}
    body = get(client, f"{prefix}/catalog/datasets/mv/facets", **params).json()
    assert body["facets"] == get(client, f"{V21}/catalog/datasets/mv/facets", **params).json()["facets"]
    counts = {f["value"]: f["count"] for f in next(f for f in body["facets"] if f["name"] == "cat")["facets"]}
    assert counts == dict(Counter(r["cat"] for r in annotated_rows() if r["d"].startswith("2020")))
    assert [link["rel"] for link in body["links"]] == ["self", "dataset"]
    catalog = get(client, f"{prefix}/catalog/facets", facet="features").json()
    assert catalog["facets"] == get(client, f"{V21}/catalog/facets", facet="features").json()["facets"]
    assert [link["rel"] for link in catalog["links"]] == ["self", "source"]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_csv_export_has_no_bom_by_default(client, source, prefix):
    params = {"delimiter": ";", "list_separator": ",", "quote_all": "false"}
    v20 = get(client, f"{prefix}/catalog/datasets/logements/exports/csv", **params).content
    v21 = get(client, f"{V21}/catalog/datasets/logements/exports/csv", **params).content
    assert not v20.startswith(BOM) and v21.startswith(BOM) and v21 == BOM + v20
    rows = list(csv.DictReader(io.StringIO(v20.decode("utf-8")), delimiter=";"))
    assert sorted(r["id_livraison"] for r in rows) == sorted(r["id_livraison"] for r in source)
    asked = get(client, f"{prefix}/catalog/datasets/logements/exports/csv", with_bom="true").content
    assert asked.startswith(BOM)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_json_export(client, source, prefix):
    params = {"limit": -1, "timezone": "UTC", "use_labels": "false", "epsg": 4326}
    v20 = get(client, f"{prefix}/catalog/datasets/logements/exports/json", **params)
    assert v20.content == get(client, f"{V21}/catalog/datasets/logements/exports/json", **params).content
    records = v20.json()
    assert len(records) == len(source)
    assert Counter(r["code_postal"] for r in records) == Counter(r["code_postal"] for r in source)


def test_xls_answers_the_xlsx_file(client, source):
    from python_calamine import CalamineWorkbook

    response = get(client, f"{PREFIXES[0]}/catalog/datasets/logements/exports/xls")
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    assert response.headers["content-disposition"] == 'attachment; filename="logements.xlsx"'
    rows = CalamineWorkbook.from_filelike(io.BytesIO(response.content)).get_sheet_by_index(0).to_python()
    assert len(rows) == len(source) + 1 and rows[0][0] == "id_livraison"
    listing = get(client, f"{PREFIXES[0]}/catalog/datasets/logements/exports").json()["links"]
    assert {"csv", "json", "xls", "xlsx", "geojson"} <= {link["rel"] for link in listing}
    for link in listing:
        if link["rel"] in ("self", "csv", "xls"):
            assert client.get(link["href"]).status_code == 200, link


@pytest.mark.parametrize("prefix", PREFIXES)
def test_catalog_datasets_and_count(client, prefix):
    count = get(client, f"{prefix}/catalog/datasets", limit=0).json()
    assert count["total_count"] == get(client, f"{V21}/catalog/datasets", limit=0).json()["total_count"] == 2
    assert count["datasets"] == []
    body = get(client, f"{prefix}/catalog/datasets", order_by="dataset_id").json()
    expected = get(client, f"{V21}/catalog/datasets", order_by="dataset_id").json()["results"]
    assert [item["dataset"] for item in body["datasets"]] == expected
    for item in body["datasets"]:
        links = {link["rel"]: link["href"] for link in item["links"]}
        assert set(links) == {"self", "records", "exports", "attachments", "catalog"}
        lookup = get(client, links["self"]).json()
        assert lookup["dataset"] == get(client, f"{V21}/catalog/datasets/{item['dataset']['dataset_id']}").json()
        assert lookup["links"] == item["links"]
        for href in links.values():
            assert client.get(href).status_code == 200, href
    narrowed = get(client, f"{prefix}/catalog/datasets", select="dataset_id, records_count", where="datasetid='mv'")
    assert narrowed.json()["datasets"][0]["dataset"] == {"dataset_id": "mv", "records_count": len(annotated_rows())}


@pytest.mark.parametrize("prefix", PREFIXES)
def test_roots_link_to_served_routes(client, prefix):
    for root in (f"{prefix}/", prefix, f"{prefix}/catalog/", f"{prefix}/catalog"):
        links = get(client, root).json()["links"]
        assert links[0]["rel"] == "self" and links[0]["href"].startswith(f"http://testserver{prefix}")
        for link in links:
            assert client.get(link["href"]).status_code in (200, 400), link  # aggregates asks for a select
    attachments = get(client, f"{prefix}/catalog/datasets/mv/attachments").json()
    v21 = get(client, f"{V21}/catalog/datasets/mv/attachments").text.replace(V21, prefix)
    assert attachments == json.loads(v21) and len(attachments["attachments"]) == 1
    assert get(client, attachments["attachments"][0]["href"]).content.decode("utf-8") == NOTICE


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("params, code, message", [
    ({"where": 'champ_inconnu = "x"'}, "ODSQLError", "Unknown field: champ_inconnu"),
    ({"limit": 101}, "InvalidRESTParameterError",
     "Invalid value for limit API parameter: 101 was found but -1 <= limit <= 100 is expected."),
    ({"limit": 100, "offset": 9901}, "InvalidRESTParameterError",
     "Invalid value for sum of offset + limit API parameter: 10001 was found but <= 10000 is expected."),
])
def test_errors_are_v21_errors(client, prefix, params, code, message):
    response = client.get(f"{prefix}/catalog/datasets/logements/records", params=params)
    assert response.status_code == 400 and response.json()["error_code"] == code
    assert message in response.json()["message"]
    assert response.json() == client.get(f"{V21}/catalog/datasets/logements/records", params=params).json()
    assert client.get(f"{prefix}/catalog/datasets/inconnu/records").status_code == 404


def test_openapi_describes_v20(client):
    spec = get(client, f"{V21}/swagger.json").json()
    for prefix in PREFIXES:
        records = spec["paths"][f"{prefix}/catalog/datasets/{{dataset_id}}/records"]["get"]
        schema = records["responses"]["200"]["content"]["application/json"]["schema"]
        assert set(schema["required"]) == {"links", "records"} and "400" in records["responses"]
        assert f"{prefix}/catalog/datasets/{{dataset_id}}/aggregates" in spec["paths"]
    operations = [op for item in spec["paths"].values() for op in item.values()]
    assert len(operations) == len({op["operationId"] for op in operations})


def test_the_betas_rows_and_start_page_when_limit_and_offset_are_not_given(client):
    """ods-widgets' advanced results send the 2019 beta's rows (and start): every page was 10."""
    url = f"{PREFIXES[0]}/catalog/datasets/logements/records"
    params = {"where": 'code_postal="75001"', "order_by": "id_livraison"}
    beta = get(client, url, rows=7, start=3, **params).json()["records"]
    assert [unwrapped(r) for r in beta] == v21_records(client, "logements", limit=7, offset=3, **params)
    assert len(get(client, url, rows=7, limit=2, **params).json()["records"]) == 2  # limit wins when given
    catalogue = get(client, f"{PREFIXES[0]}/catalog/datasets", rows=1).json()
    assert len(catalogue["datasets"]) == 1 < catalogue["total_count"]


def compact_size(fields: dict) -> int:
    """The bytes of a record's fields written as compact JSON: what record.size measures."""
    return len(json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode())


@pytest.mark.parametrize("prefix", PREFIXES)
def test_technical_fields(client, prefix):
    """v2.0's documentation lists datasetid, record_timestamp, recordid and record_size as
    field literals of select, where, group_by and order_by: each the value the wrapped record
    shows (its id, timestamp and size, the size that of its fields as compact JSON)."""
    url = f"{prefix}/catalog/datasets/mv/records"
    whole = {r["record"]["id"]: r["record"] for r in get(client, url, limit=100).json()["records"]}
    sizes = {record_id: compact_size(record["fields"]) for record_id, record in whole.items()}
    assert len(whole) == len(annotated_rows()) and all(r["size"] == sizes[i] for i, r in whole.items())
    technical = get(client, url, limit=100, order_by="record_size desc, id",
                    select="id, recordid, datasetid, record_timestamp, record_size").json()["records"]
    rows = [r["record"]["fields"] for r in technical]
    assert [row["recordid"] for row in rows] == sorted(sizes, key=lambda i: (-sizes[i], whole[i]["fields"]["id"]))
    for row in rows:
        record = whole[row["recordid"]]
        assert row["datasetid"] == "mv" and row["record_size"] == record["size"]
        assert datetime.fromisoformat(row["record_timestamp"]) == datetime.fromisoformat(record["timestamp"])
    middle = sorted(sizes.values())[len(sizes) // 2]
    bigger = get(client, url, where=f"record_size > {middle}", limit=0).json()["total_count"]
    assert bigger == sum(size > middle for size in sizes.values()) > 0
    stamp = next(iter(whole.values()))["timestamp"]
    assert get(client, url, where=f"datasetid = 'mv' and record_timestamp = date'{stamp}'",
               limit=0).json()["total_count"] == len(whole)
    assert get(client, url, where="datasetid = 'logements'", limit=0).json()["total_count"] == 0
    grouped = get(client, f"{prefix}/catalog/datasets/mv/aggregates", group_by="datasetid",
                  select="count(*) as n, max(record_size) as biggest").json()["aggregations"]
    assert grouped == [{"datasetid": "mv", "n": len(whole), "biggest": max(sizes.values())}]
    # A lookup's size is the whole record's, whatever its select narrows.
    record_id = next(iter(whole))
    narrowed = get(client, f"{url}/{record_id}", select="id, record_size").json()["record"]
    assert narrowed["size"] == narrowed["fields"]["record_size"] == sizes[record_id]


def test_record_size_of_geo_records(client):
    """Shapes, points and decimals: the size is still that of the record's JSON."""
    url = f"{PREFIXES[0]}/catalog/datasets/logements/records"
    params = {"where": 'code_postal="75013"', "order_by": "id_livraison", "limit": 100}
    records = get(client, url, **params).json()["records"]
    sizes = get(client, url, select="record_size", **params).json()["records"]
    assert [r["record"]["fields"]["record_size"] for r in sizes] == [compact_size(r["record"]["fields"]) for r in records]


@pytest.mark.parametrize("name", ["datasetid", "record_timestamp", "record_size"])
def test_v21_has_no_technical_fields_but_recordid(client, name):
    """v2.1's ODSQL reference names no technical field: unknown there, as before."""
    response = client.get(f"{V21}/catalog/datasets/mv/records", params={"select": name})
    assert response.status_code == 400 and f"Unknown field: {name}" in response.json()["message"]
    assert get(client, f"{V21}/catalog/datasets/mv/records", select="recordid").json()["total_count"] == 8


@pytest.mark.parametrize("prefix", PREFIXES)
def test_geojson_export_writes_datetimes_as_epoch_milliseconds(geo_client, prefix):
    """v2.1's changelog: "datetimes in GeoJSON exports are now output as isoformat strings,
    they were previously output as integer timestamps". Other formats keep ISO text."""
    rows = list(csv.DictReader(io.StringIO(GEO_CSV), delimiter=";"))
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    truth = {int(r["id"]): (datetime.fromisoformat(r["quand"]) - epoch) // timedelta(milliseconds=1) if r["quand"]
             else None for r in rows}
    export = f"{prefix}/catalog/datasets/lieux/exports"
    features = get(geo_client, f"{export}/geojson").json()["features"]
    assert {f["properties"]["id"]: f["properties"]["quand"] for f in features} == truth
    assert all(f["geometry"]["type"] == "Point" for f in features)
    v21 = get(geo_client, f"{V21}/catalog/datasets/lieux/exports/geojson").json()["features"]
    assert {f["properties"]["id"]: f["properties"]["quand"] for f in v21} == {
        int(r["id"]): datetime.fromisoformat(r["quand"]).astimezone(UTC).isoformat() if r["quand"] else None
        for r in rows}
    assert get(geo_client, f"{export}/json").content == get(geo_client, f"{V21}/catalog/datasets/lieux/exports/json").content


@pytest.mark.parametrize("prefix", PREFIXES)
def test_catalogue_groups_have_no_null_group(client, prefix):
    """"When grouping with a group_by clause, no group exists for null values in v2.0, a null
    group do exist starting with v2.1" (v2.1's ODSQL reference): the catalogue's too, whose
    datasets here have no theme. Its other v2.0 semantics come along: year() as text."""
    params = {"select": "count(*) as n", "group_by": "theme"}
    v21 = get(client, f"{V21}/catalog/datasets", limit=-1, **params).json()["results"]
    assert v21 == [{"theme": None, "n": 2}]
    assert get(client, f"{prefix}/catalog/aggregates", **params).json() == {"aggregations": []}
    assert get(client, f"{prefix}/catalog/datasets", **params).json()["datasets"] == []
    years = Counter(datetime.fromisoformat(d["dataset"]["metas"]["default"]["modified"]).year
                    for d in get(client, f"{prefix}/catalog/datasets").json()["datasets"])
    by_year = get(client, f"{prefix}/catalog/aggregates", select="count(*) as n", group_by="year(modified) as y").json()
    assert by_year["aggregations"] == [{"y": str(year), "n": n} for year, n in sorted(years.items())]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_the_2021_query_routes_answer_v21s_flat_bodies_as_qgis_reads_them(client, prefix):
    """Opendatasoft's QGIS plugin lists datasets, reads one's fields and its first record only
    through ``/catalog/query`` and ``/catalog/datasets/<id>/query``, in v2.1's flat shape."""
    listed = get(client, f"{prefix}/catalog/query", select="dataset_id", limit=100, order_by="dataset_id").json()
    assert listed == get(client, f"{V21}/catalog/datasets", select="dataset_id", limit=100, order_by="dataset_id").json()
    assert [d["dataset_id"] for d in listed["results"]] == ["logements", "mv"] and listed["total_count"] == 2
    geo = get(client, f"{prefix}/catalog/query", where=["features='geo'"], select="dataset_id").json()
    assert [d["dataset_id"] for d in geo["results"]] == ["logements"]
    described = get(client, f"{prefix}/catalog/query", where='datasetid:"logements"').json()
    assert described["total_count"] == 1
    types = {f["name"]: f["type"] for f in described["results"][0]["fields"]}
    assert types["geo_shape"] == "geo_shape" and types["geo_point_2d"] == "geo_point_2d"
    first = get(client, f"{prefix}/catalog/datasets/logements/query", limit=1).json()
    assert first == get(client, f"{V21}/catalog/datasets/logements/records", limit=1).json()
    assert first["total_count"] > 1000 and len(first["results"]) == 1
    bad = client.get(f"{prefix}/catalog/datasets/logements/query", params={"where": "nope = 1"})
    assert bad.status_code == 400 and "nope" in bad.json()["message"]  # QGIS shows this message
    assert client.get(f"{prefix}/catalog/datasets/unknown/query").status_code == 404


@pytest.mark.parametrize("prefix", PREFIXES)
def test_bbox_filter_of_two_corners(client, source, prefix):
    """v2.0's documented ``bbox(field, geom, geom)`` filter, corners in either order, counted
    against the file's own coordinates."""
    def inside(row) -> bool:
        lat, lon = (float(v) for v in row["geo_point_2d"].split(","))
        return 48.84 <= lat <= 48.87 and 2.30 <= lon <= 2.36

    truth = sum(1 for r in source if r["geo_point_2d"] and inside(r))
    assert 0 < truth < len(source)
    url = f"{prefix}/catalog/datasets/logements/records"
    for corners in ("geom'POINT(2.30 48.87)', geom'POINT(2.36 48.84)'", "geom'POINT(2.36 48.84)', geom'POINT(2.30 48.87)'"):
        body = get(client, url, where=f"bbox(geo_point_2d, {corners})", limit=0).json()
        assert body["total_count"] == truth, corners
    refused = client.get(url, params={"where": "bbox(geo_point_2d, geo_point_2d, geom'POINT(2.3 48.8)')"})
    assert refused.status_code == 400 and "two constant corners" in refused.json()["message"]
    assert get(client, url, select="bbox(geo_point_2d) as b").status_code == 200  # still the aggregate in select


@pytest.mark.parametrize("prefix", PREFIXES)
def test_catalog_exports_as_v20_wrote_them(client, prefix):
    links = get(client, f"{prefix}/catalog/exports").json()["links"]
    assert all(f"{prefix}/catalog/exports" in link["href"] for link in links)  # its own links, not v2.1's
    v20_csv = client.get(f"{prefix}/catalog/exports/csv").content
    assert not v20_csv.startswith(b"\xef\xbb\xbf") and client.get(f"{V21}/catalog/exports/csv").content.startswith(
        b"\xef\xbb\xbf")  # the BOM came with v2.1
    xls = client.get(f"{prefix}/catalog/exports/xls")
    assert xls.status_code == 200 and xls.content.startswith(b"PK")  # v2.0's name of the spreadsheet
    assert client.get(f"{V21}/catalog/exports/xls").status_code == 404
