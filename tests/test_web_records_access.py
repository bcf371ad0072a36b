"""Who may open a dataset's records tabs: whoever may read some of its records (a public dataset
with a column hidden from anonymous shows its table without that column; a restricted one asks
an anonymous visitor to sign in, and opens to a group member's key or session:
``routes.closed_records``); the sign-in redirect keeps only a known language (``lang=``), never
a value smuggling another parameter."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.auth import services as auth
from portail.catalog import services
from tests.conftest import Published, fast_passwords, published_instance
from tests.web_sign_in import PASSWORD

TABLE = "/explore/dataset/{}/table/"


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    tmp = tmp_path_factory.mktemp("records-access")
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
