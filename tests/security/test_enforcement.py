"""What each caller sees, exactly: counts, facets, aggregates, schema, portals, audit, errors.

The leak matrix proves nothing escapes; these tests pin the numbers the caller does get.
"""

from __future__ import annotations

import csv
import io
from urllib.parse import parse_qs, urlparse

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from portail.api import create_app
from portail.auth import services as auth
from portail.auth.audit import recent
from portail.auth.models import DatasetSecurity
from portail.catalog import open_catalog, services
from portail.config import Portal, Settings
from portail.operations import open_instance
from tests.security.conftest import ALLOWED_CP, HIDDEN, META, OPEN, SECRET

API = "/api/explore/v2.1/catalog/datasets"


def get(matrix, who: str, path: str, **params):
    key = matrix.callers[who].key
    return matrix.client.get(path, params=params, headers={"Authorization": f"Apikey {key}"} if key else {},
                             follow_redirects=False)


def test_a_record_filter_holds_in_counts_facets_aggregates_and_the_catalogue(matrix):
    body = get(matrix, "arr13", f"{API}/{SECRET}/records", limit=100).json()
    assert body["total_count"] == matrix.allowed < matrix.total
    assert {r["code_postal"] for r in body["results"]} == {ALLOWED_CP}
    groups = get(matrix, "arr13", f"{API}/{SECRET}/records", group_by="code_postal", select="code_postal, count(*) as n").json()
    assert groups["results"] == [{"code_postal": ALLOWED_CP, "n": matrix.allowed}]
    facets = get(matrix, "arr13", f"{API}/{SECRET}/facets", facet="code_postal").json()["facets"][0]["facets"]
    assert [(f["value"], f["count"]) for f in facets] == [(ALLOWED_CP, matrix.allowed)]
    listed = {d["dataset_id"]: d for d in get(matrix, "arr13", API, limit=100).json()["results"]}
    assert listed[SECRET]["metas"]["default"]["records_count"] == matrix.allowed
    v1 = get(matrix, "arr13", "/api/records/1.0/search", dataset=SECRET, rows=0).json()
    assert v1["nhits"] == matrix.allowed
    analyze = "/api/records/1.0/analyze"
    assert get(matrix, "arr13", analyze, dataset=SECRET, **{"y.n.func": "COUNT"}).json() == [{"x": None, "n": matrix.allowed}]
    assert get(matrix, "arr13", analyze, dataset=SECRET, x="code_postal", **{"y.n.func": "COUNT"}).json() == \
        [{"x": ALLOWED_CP, "n": matrix.allowed}]
    rows = list(csv.DictReader(io.StringIO(get(matrix, "arr13", f"{API}/{SECRET}/exports/csv").text.lstrip("\ufeff")),
                               delimiter=";"))
    assert len(rows) == matrix.allowed and {r["code_postal"] for r in rows} == {ALLOWED_CP}
    grouped = get(matrix, "arr13", f"{API}/{SECRET}/exports/csv", group_by="code_postal",
                  select="code_postal, count(*) as n", with_bom="false").text
    assert list(csv.reader(io.StringIO(grouped), delimiter=";")) == [["code_postal", "n"], [ALLOWED_CP, str(matrix.allowed)]]
    everyone = get(matrix, "admin", f"{API}/{SECRET}/exports/json", group_by="code_postal",
                   select="code_postal, count(*) as n").json()
    assert len(everyone) > 15 and sum(g["n"] for g in everyone) == matrix.total
    # Whoever sees it whole gets the whole count.
    assert get(matrix, "valid_key", f"{API}/{SECRET}/records", limit=0).json()["total_count"] == matrix.total
    assert get(matrix, "admin", f"{API}/{SECRET}").json()["metas"]["default"]["records_count"] == matrix.total
    # The extent of the geometries is said to whoever reads every record, never under a row filter
    # (it would outline the rows held back).
    assert get(matrix, "admin", f"{API}/{SECRET}").json()["metas"]["default"]["geometry_types"] == ["Point"]
    assert "bbox" not in listed[SECRET]["metas"]["default"]
    assert "bbox" not in get(matrix, "arr13", f"/api/datasets/1.0/{SECRET}/").json()["metas"]


def test_a_hidden_field_is_gone_from_schema_records_exports_and_errors(matrix):
    dataset = get(matrix, "masque", f"{API}/{SECRET}").json()
    assert HIDDEN not in {f["name"] for f in dataset["fields"]}
    assert dataset["metas"]["default"]["records_count"] == matrix.total
    record = get(matrix, "masque", f"{API}/{SECRET}/records", limit=1).json()["results"][0]
    assert HIDDEN not in record and "code_postal" in record
    header = get(matrix, "masque", f"{API}/{SECRET}/exports/csv").text.splitlines()[0]
    assert HIDDEN not in header and "code_postal" in header
    hidden = get(matrix, "masque", f"{API}/{SECRET}/records", where=f'{HIDDEN} = "x"')
    unknown = get(matrix, "masque", f"{API}/{SECRET}/records", where='nulle_part = "x"')
    assert hidden.status_code == unknown.status_code == 400
    assert hidden.json()["message"] == unknown.json()["message"].replace("nulle_part", HIDDEN)
    # The same field is known to a caller it is not hidden from.
    assert get(matrix, "arr13", f"{API}/{SECRET}/records", where=f'{HIDDEN} = "x"').status_code == 200
    # The catalogue's full text reads the names and labels of the fields the caller sees, no others.
    found = {who: [d["dataset_id"] for d in get(matrix, who, "/api/explore/v2.1/catalog/datasets",
                                                   where=f'"{HIDDEN}"').json()["results"]] for who in ("masque", "arr13")}
    assert found == {"masque": [], "arr13": [SECRET]}


def test_record_ids_do_not_hash_hidden_values(matrix):
    seen_by_all = get(matrix, "admin", f"{API}/{SECRET}/records", include_links="true", limit=1).json()["results"][0]
    seen_masked = get(matrix, "masque", f"{API}/{SECRET}/records", include_links="true", limit=1).json()["results"][0]
    assert seen_by_all["_id"] != seen_masked["_id"]
    assert get(matrix, "masque", f"{API}/{SECRET}/records/{seen_masked['_id']}").json() == \
        {k: v for k, v in seen_masked.items() if k not in ("_id", "_links")}
    assert get(matrix, "masque", f"{API}/{SECRET}/records/{seen_by_all['_id']}").status_code == 404


def test_public_metadata_with_restricted_records(matrix):
    listed = {d["dataset_id"]: d for d in get(matrix, "anonymous", API, limit=100).json()["results"]}
    assert set(listed) == {META, OPEN}
    assert listed[META]["metas"]["default"]["records_count"] == 0 and listed[META]["has_records"] is False
    assert get(matrix, "anonymous", f"{API}/{META}").status_code == 200
    for path in ("records", "facets", "exports/csv", "attachments"):
        response = get(matrix, "anonymous", f"{API}/{META}/{path}")  # credentials may open them: 401
        assert response.status_code == 401 and response.json()["error_code"] == "Unauthorized", path
        refused = get(matrix, "nogrant", f"{API}/{META}/{path}")  # they do not: 403
        assert refused.status_code == 403 and refused.json()["error_code"] == "Forbidden", path
    assert get(matrix, "admin", f"{API}/{META}/records", limit=0).json()["total_count"] > 90


def test_each_portal_lists_its_own_datasets(matrix):
    public = {d["dataset_id"] for d in get(matrix, "admin", API, limit=100).json()["results"]}
    internal = {d["dataset_id"] for d in get(matrix, "admin", f"/interne{API}", limit=100).json()["results"]}
    assert public == {SECRET, META, OPEN} and internal == {SECRET, META}
    assert get(matrix, "admin", f"/interne{API}/{OPEN}/records").status_code == 404
    links = get(matrix, "admin", f"/interne{API}/{SECRET}", include_links="true").json()["_links"]
    assert links[0]["href"].endswith(f"/interne{API}/{SECRET}")
    # A private portal: nothing for anonymous callers, a login page for browsers.
    refused = get(matrix, "anonymous", f"/interne{API}")
    assert refused.status_code == 401 and refused.json()["error_code"] == "Unauthorized"
    page = get(matrix, "anonymous", "/interne/explore/", q="x")
    assert page.status_code == 303 and page.headers["location"] == "/interne/login?next=/interne/explore/%3Fq%3Dx"


def test_exports_of_restricted_data_are_audited(matrix):
    with matrix.instance.session() as s:
        before = len(recent(s, action="export.restricted", limit=1000))
    assert get(matrix, "arr13", f"{API}/{SECRET}/exports/json").status_code == 200
    assert get(matrix, "anonymous", f"{API}/{OPEN}/exports/json").status_code == 200
    with matrix.instance.session() as s:
        events = recent(s, action="export.restricted", limit=1000)
        assert len(events) == before + 1
        event = events[0]
        assert (event.actor, event.target, event.detail["format"], event.detail["row_filter"]) == \
            ("v13", f"dataset:{SECRET}", "json", True)


def test_a_broken_record_filter_refuses_the_data_without_revealing_itself(tmp_path, refdata):
    instance = open_instance(Settings(home=tmp_path))
    with instance.session() as s:
        dataset = services.create_dataset(s, "regions", "Régions")
        # set before the first load (no schema to check it against yet), as a filter naming a
        # field that a later version renamed would be
        auth.set_dataset_security(s, dataset, record_filters={"*": 'champ_secret_renomme = "x"'})
    from portail import operations

    operations.load_file(instance, "regions", refdata / "referentiels" / "cog2026_regions.csv", publish=True)
    client = TestClient(create_app(instance))
    response = client.get(f"{API}/regions/records")
    assert response.status_code == 403 and response.json()["error_code"] == "SecurityError"
    assert "champ_secret_renomme" not in response.text
    # The caller's own mistakes are still theirs to read.
    mistake = client.get(f"{API}/regions/records", params={"where": "nulle_part = 1"})
    assert mistake.status_code == 400 and "nulle_part" in mistake.json()["message"]
    instance.store.close()


def test_a_hidden_field_a_reload_renamed_refuses_the_data_until_the_rule_follows(tmp_path, refdata):
    """Hidden by name, a column renamed in the new version was served under its new name, to
    the very group it was hidden from (found in a hunt): the data is refused instead, as for a
    broken record filter, on every read path, until the rule names the column again."""
    from portail import operations

    instance = open_instance(Settings(home=tmp_path))
    with instance.session() as s:
        services.create_dataset(s, "regions", "Régions")
    operations.load_file(instance, "regions", refdata / "referentiels" / "cog2026_regions.csv", publish=True)
    with instance.session() as s:
        auth.set_dataset_security(s, services.get_dataset(s, "regions"), hidden_fields={"*": ["cheflieu"]})
    client = TestClient(create_app(instance))
    assert "97105" not in client.get(f"{API}/regions/records").text
    renamed = tmp_path / "regions.csv"
    lines = (refdata / "referentiels" / "cog2026_regions.csv").read_text(encoding="utf-8").splitlines()
    renamed.write_text("\n".join([lines[0].replace("CHEFLIEU", "CHEF_LIEU")] + lines[1:]) + "\n", encoding="utf-8")
    loaded = operations.load_file(instance, "regions", renamed, publish=True)

    assert "access rule default hides cheflieu, which this version does not have: its callers' reads are refused " \
           "until `portail dataset-security regions --hide-fields` names its fields" in loaded.report.notes
    for path in (f"{API}/regions/records", f"{API}/regions/exports/csv", f"{API}/regions/records?select=count(*)",
                 "/api/records/1.0/search/?dataset=regions"):
        refused = client.get(path)
        assert refused.status_code == 403 and refused.json()["error_code"] == "SecurityError", (path, refused.text)
        assert "97105" not in refused.text
    with instance.session() as s:
        auth.set_dataset_security(s, services.get_dataset(s, "regions"), hidden_fields={"*": ["chef_lieu"]})
    served = client.get(f"{API}/regions/records")
    assert served.status_code == 200 and "97105" not in served.text and served.json()["total_count"] == 18
    instance.store.close()


def test_a_portal_on_its_own_hostname(tmp_path):
    portals = [Portal(id="public", title="Open data"),
               Portal(id="internal", title="Intranet", prefix="/interne/", hostname="data.intra.example", policy="private")]
    client = TestClient(create_app(open_instance(Settings(home=tmp_path, portals=portals))))
    assert client.get(API).status_code == 200
    inside = client.get(API, headers={"Host": "data.intra.example"})
    assert inside.status_code == 401 and inside.json()["error_code"] == "Unauthorized"
    assert client.get(API, headers={"Host": "other.example"}).status_code == 200


@pytest.mark.postgres
def test_migration_0003_on_postgresql(pg_url):
    factory = open_catalog(pg_url)
    with factory() as s, s.begin():
        dataset = services.create_dataset(s, "d", "D")
        auth.set_dataset_security(s, dataset, visibility="restricted", metadata_public=True)
    with factory() as s:
        assert s.scalar(select(DatasetSecurity.metadata_public)) is True
        assert auth.dataset_ref(s, services.get_dataset(s, "d")).metadata_public is True
    factory.kw["bind"].dispose()


def test_the_dataset_object_says_what_the_caller_may_read(matrix):
    """visibility and data_visible come from the dataset's security, for the caller."""
    def shown(who: str, slug: str) -> tuple:
        body = get(matrix, who, f"{API}/{slug}").json()
        return body["visibility"], body["data_visible"], body["has_records"]

    assert shown("anonymous", META) == ("restricted", False, False)  # metadata only
    assert shown("admin", META) == ("restricted", True, True)
    assert shown("admin", SECRET) == ("restricted", True, True)
    assert shown("anonymous", OPEN) == ("domain", True, True)
    listed = get(matrix, "anonymous", API, where="visibility = 'restricted'", select="dataset_id, data_visible").json()
    assert listed["results"] == [{"dataset_id": META, "data_visible": False}]
    assert [r["dataset_id"] for r in get(matrix, "anonymous", API, where="data_visible is false").json()["results"]] == [META]


# -- row filters under the store's index rewrites (the matrix's arr13 caller, on an indexed postcode) --
#: Conditions the store answers from its indexes (a key field's ``=``/``in``, full-text words,
#: prefixes, phrases), alone, negated and ORed with the very value the row filter keeps: each
#: row-id list the index gives must still be ANDed with the caller's filter.
INDEXED_WHERES = ['code_postal = "75012"', 'code_postal in ("75012", "75013")', 'code_postal = "75013" OR "RUE"',
                  'NOT code_postal = "75013"', '"RUE DES"', 'phrase(*, "RUE DES")', '"ANNEL*"', 'suggest(*, "MEUN")',
                  '"75013" OR "75012"', 'code_postal = "75012" OR true', 'NOT ("RUE" AND code_postal = "75013")',
                  '(code_postal = "75013") OR ("RUE" AND code_postal = "75012")']


def test_a_row_filter_reads_as_its_where_whatever_the_index_answers(matrix):
    """What a filtered caller gets for a condition is what the admin gets for that condition
    AND the caller's filter: counts, rows (an export of their ids) and a walk by cursor."""
    base = f"/api/explore/v2.1/catalog/datasets/{SECRET}"
    own = f'code_postal = "{ALLOWED_CP}"'

    def ask(who: str, path: str, **params):
        answer = matrix.client.get(base + path, params=params,
                                   headers={"Authorization": f"Apikey {matrix.callers[who].key}"})
        assert answer.status_code == 200, (who, path, params, answer.text[:200])
        return answer.json()

    def ids(who: str, where: list[str]) -> list[str]:
        return sorted(r["id_livraison"] for r in ask(who, "/exports/json", select="id_livraison", where=where))

    for where in INDEXED_WHERES:
        filtered = ask("arr13", "/records", where=where, limit=0)["total_count"]
        assert filtered == ask("admin", "/records", where=[where, own], limit=0)["total_count"], where
        assert ids("arr13", [where]) == ids("admin", [where, own]), where
    walked, after = [], ""
    while after is not None:
        page = ask("arr13", "/records", select="id_livraison", after=after, limit=40)
        walked += [r["id_livraison"] for r in page["results"]]
        following = [link["href"] for link in page["_links"] if link["rel"] == "next"]
        after = parse_qs(urlparse(following[0]).query)["after"][0] if following else None
    assert sorted(walked) == ids("admin", [own])
