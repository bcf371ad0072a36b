"""Review of three December 7th commits: wide inference unpivoted (``infer.UNPIVOT_FROM``),
date facets in calendar order by default (``facets.annotated_sort``), and a restricted dataset's
records tabs (``routes.closed_records``) with the sign-in redirect keeping ``lang``."""

from __future__ import annotations

from dataclasses import asdict

import duckdb
import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.auth import services as auth
from portail.catalog import services
from tests.conftest import Published, fast_passwords, published_instance
from tests.test_web_dec7 import PASSWORD

TABLE = "/explore/dataset/{}/table/"


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    tmp = tmp_path_factory.mktemp("dec7h")
    instance = published_instance(
        tmp / "home",
        Published("departements", refdata / "referentiels" / "cog2026_departements.csv", "Départements (COG)"),
        Published("senateurs", refdata / "elus" / "rne_elus-senateurs-sen.csv", "Sénateurs"),
        session_cookie_secure=False)
    with fast_passwords(), instance.session() as s:
        departements = services.get_dataset(s, "departements")
        auth.set_dataset_security(s, departements, hidden_fields={"*": ["cheflieu"]})  # public, a column hidden
        senateurs = services.get_dataset(s, "senateurs")
        auth.set_dataset_security(s, senateurs, visibility="restricted", metadata_public=True)
        membre = auth.create_user(s, "membre", password=PASSWORD)
        group = auth.create_group(s, "equipe")
        auth.add_member(s, group, membre)
        auth.grant(s, senateurs, "group", "equipe")
        _, secret = auth.create_api_key(s, membre)
    yield TestClient(create_app(instance)), secret
    instance.store.close()


def test_records_tabs_open_to_whoever_may_read_some_records(client):
    web, secret = client
    web.cookies.clear()
    # public, a column hidden from anonymous: the table, without that column
    answer = web.get(TABLE.format("departements") + "?lang=en")
    assert answer.status_code == 200 and 'id="records-closed"' not in answer.text
    assert 'id="records-table"' in answer.text and "Cheflieu" not in answer.text.split('id="records-table"')[1]
    # restricted to a group: anonymous is asked to sign in, a key of a member opens the table
    assert web.get(TABLE.format("senateurs") + "?lang=en").status_code == 401
    keyed = web.get(TABLE.format("senateurs") + "?lang=en", headers={"Authorization": f"Apikey {secret}"})
    assert keyed.status_code == 200 and 'id="records-closed"' not in keyed.text and 'id="records-table"' in keyed.text
    # a member signed in
    html = web.get("/login?lang=en").text
    token = html.split('name="csrf_token" value="')[1].split('"')[0]
    assert web.post("/login", data={"login": "membre", "password": PASSWORD, "csrf_token": token},
                    follow_redirects=False).status_code == 303
    for tab in ("table", "export"):
        answer = web.get(TABLE.format("senateurs").replace("table", tab) + "?lang=en")
        assert answer.status_code == 200 and 'id="records-closed"' not in answer.text, tab
    web.cookies.clear()


def test_sign_in_redirect_keeps_only_a_known_language(client):
    web, _ = client
    web.cookies.clear()
    for query, kept in (("lang=fr", "&lang=fr"), ("lang=en", "&lang=en"), ("lang=fr&lang=en", "&lang=en"),
                        ("lang=en%26next%3D//evil.example", None), ("lang=de", None)):
        location = web.get(f"/account?{query}", follow_redirects=False).headers["location"]
        assert location.startswith("/login?next=/account%3F"), query
        tail = location.split("&", 1)[1] if "&" in location else None
        assert (f"&{tail}" if tail else None) == kept, (query, location)


#: one day in 2021, three in 2022, two in 2023: most used first and calendar order disagree
DAYS = ["2021-06-01", "2022-03-04", "2022-03-05", "2022-01-09", "2023-02-01", "2023-02-02"]


@pytest.fixture(scope="module")
def dated(tmp_path_factory):
    from tests.conftest import semicolon_csv

    folder = tmp_path_factory.mktemp("dec7h_dates")
    rows = [{"d": d, "k": "x"} for d in DAYS]
    instance = published_instance(
        folder / "home",
        Published("cal", semicolon_csv(folder / "cal.csv", rows), title="cal", annotations={"d": {"facet": []}}),
        Published("used", semicolon_csv(folder / "used.csv", rows), title="used",
                  annotations={"d": {"facet": [], "facetsort": ["-count"]}}))
    yield TestClient(create_app(instance))
    instance.store.close()


def test_date_facets_calendar_by_default_an_explicit_order_wins(dated):
    def v1(dataset: str, **params) -> list[str]:
        body = dated.get("/api/records/1.0/search/", params={"dataset": dataset, "facet": "d", "rows": 0, **params})
        assert body.status_code == 200, body.text
        return [f["path"] for f in next(g for g in body.json()["facet_groups"] if g["name"] == "d")["facets"]]

    assert v1("cal") == ["2021", "2022", "2023"]
    assert v1("cal", **{"facetsort.d": "-count"}) == ["2022", "2023", "2021"]
    assert v1("cal", **{"facetsort.d": "-alphanum"}) == ["2023", "2022", "2021"]
    assert v1("used") == ["2022", "2023", "2021"]  # the annotation's order
    v2 = dated.get("/api/explore/v2.1/catalog/datasets/used/facets", params={"facet": "d"}).json()
    assert [e["value"] for e in v2["facets"][0]["facets"]] == ["2022", "2023", "2021"]
    for slug, order in (("cal", ["2021", "2022", "2023"]), ("used", ["2022", "2023", "2021"])):
        html = dated.get(f"/explore/dataset/{slug}/table/?lang=en").text
        where = [html.find(f"refine.d={year}") for year in order]
        assert -1 not in where and where == sorted(where), (slug, where)
