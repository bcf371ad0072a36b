"""Input the catalogue's columns cannot hold, on SQLite and PostgreSQL alike.

PostgreSQL refuses a text longer than its ``String(n)`` column, a NUL character and a number
beyond a 32-bit ``Integer``, each a 500 there, while SQLite stored them silently. Each is now a
400 naming the field and its limit (or, for an id or login sent to be looked up, simply unknown),
and a failed sign-in's audit row always fits. The PostgreSQL database of these tests sorts
under ICU's ``en-US`` collation, as a production server's ``en_US.UTF-8`` does: listings must
come in the order SQLite gives.
"""

from __future__ import annotations

import base64
import re
from contextlib import contextmanager

import pytest

from portail.auth import services as auth
from portail.auth.audit import recent
from portail.auth.errors import AuthError
from portail.catalog import services
from portail.config import Settings
from portail.operations import open_instance
from tests.cli import invoke
from tests.conftest import _catalogue_from_template, fresh_pg_database, operator_client

LONG_LOGIN = "u" * 300


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request):
    """The catalogue's URL: SQLite in the home, or a fresh PostgreSQL database under a non-C
    collation, already migrated (``pg_catalog_url_icu``, dropped afterwards)."""
    return None if request.param == "sqlite" else request.getfixturevalue("pg_catalog_url_icu")


@contextmanager
def _site(home, database_url):
    """An instance (and its operator's client) on that catalogue holding one dataset, ``ds``: a
    SQLite one copied from the worker's migrated template, as ``make_instance`` makes it (the
    migrations are not the subject here; 22 tests ran them)."""
    if database_url is None:
        _catalogue_from_template(home)
    instance = open_instance(Settings(home=home, database_url=database_url, ratelimit_anonymous=0,
                                     session_cookie_secure=False))  # the test client speaks http
    try:
        client = operator_client(instance)
        assert client.post("/api/management/v1/datasets", json={"dataset_id": "ds", "title": "T"}).status_code == 201
        yield instance, client
    finally:
        instance.store.close()
        instance.catalog.kw["bind"].dispose()


@pytest.fixture
def site(tmp_path, database_url):
    with _site(tmp_path / "home", database_url) as made:
        yield made


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def reading_site(request, tmp_path_factory, pg_templates):
    """``site`` made once per backend for the module, for cases that only read and whose answer
    does not depend on what an earlier case asked (an id nobody made): a fresh PostgreSQL
    database, migrated and under the same collation, dropped at the end of the module."""
    home = tmp_path_factory.mktemp("reading-site") / "home"
    if request.param == "sqlite":
        with _site(home, None) as made:
            yield made
        return
    with fresh_pg_database(template=pg_templates("icu")) as url, _site(home, url) as made:
        yield made


def _refused(answer, *words: str) -> None:
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["error_code"] == "InvalidRESTParameterError", body
    for word in words:
        assert word in body["message"], body


@pytest.mark.parametrize("method, path, body, field, limit", [
    ("patch", "/api/management/v1/datasets/ds", {"publisher": "p" * 301}, "publisher", "300"),
    ("patch", "/api/management/v1/datasets/ds", {"title": "t" * 501}, "title", "500"),
    ("patch", "/api/management/v1/datasets/ds", {"license": "l" * 201}, "license", "200"),
    ("patch", "/api/management/v1/datasets/ds", {"owner": "o" * 301}, "owner", "300"),
    ("patch", "/api/management/v1/datasets/ds", {"contact_name": "c" * 301}, "contact_name", "300"),
    ("patch", "/api/management/v1/datasets/ds", {"spatial_coverage": "s" * 301}, "spatial_coverage", "300"),
    ("post", "/api/management/v1/datasets", {"dataset_id": "ds2", "title": "t" * 501}, "title", "500"),
    ("post", "/api/management/v1/datasets", {"dataset_id": "ds2", "title": "T", "publisher": "p" * 400},
     "publisher", "300"),
    ("post", "/api/management/v1/users", {"login": "bob", "display_name": "d" * 301}, "display_name", "300"),
    ("post", "/api/management/v1/groups", {"name": "g" * 101}, "name", "100"),
    ("put", "/api/management/v1/quotas/user/carl", {"calls": 2**31}, "calls", "2147483647"),
])
def test_values_beyond_their_column_are_400s_naming_field_and_limit(site, method, path, body, field, limit):
    _, client = site
    assert client.post("/api/management/v1/users", json={"login": "carl"}).status_code == 201
    _refused(getattr(client, method)(path, json=body), field, limit)
    dataset = client.get("/api/management/v1/datasets/ds").json()
    assert (dataset["title"], dataset["publisher"]) == ("T", None)
    assert client.get("/api/management/v1/datasets/ds2").status_code == 404
    assert [u["login"] for u in client.get("/api/management/v1/users").json()["results"]] == ["carl"]
    assert client.get("/api/management/v1/quotas").json()["results"] == []
    # the longest value each column holds is taken
    assert client.patch("/api/management/v1/datasets/ds", json={"publisher": "p" * 300}).json()["publisher"] == "p" * 300
    assert client.put("/api/management/v1/quotas/user/carl", json={"calls": 2**31 - 1}).status_code == 200


def test_the_services_refuse_them_too(site):
    """Whatever calls them (the command line, a later back office): the same rule."""
    instance, _ = site
    with instance.session() as s, pytest.raises(services.CatalogError, match="publisher: at most 300 characters"):
        services.update_metadata(s, services.get_dataset(s, "ds"), publisher="p" * 301)
    with instance.session() as s, pytest.raises(services.CatalogError, match="description: a NUL character"):
        services.update_metadata(s, services.get_dataset(s, "ds"), description="a\x00b")
    with instance.session() as s, pytest.raises(AuthError, match="display_name: at most 300 characters") as error:
        auth.create_user(s, "bob", display_name="d" * 301)
    assert error.value.status == 400
    with instance.session() as s, pytest.raises(AuthError, match="description: a NUL character") as error:
        auth.create_group(s, "g", "a\x00b")
    assert error.value.status == 400


def test_the_command_line_names_the_field_and_its_limit(site, tmp_path, database_url):
    instance, _ = site
    env = {"PORTAIL_HOME": str(instance.settings.home), "COLUMNS": "400",
           **({"PORTAIL_DATABASE_URL": database_url} if database_url else {})}
    for args, message in ((["dataset", "meta", "ds", "--publisher", "p" * 301], "publisher: at most 300 characters"),
                          (["user", "create", "bob", "--display-name", "d" * 301],
                           "display_name: at most 300 characters")):
        result = invoke(args, env)
        assert result.exit_code != 0 and message in result.output, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    with instance.session() as s:
        assert services.get_dataset(s, "ds").publisher is None
        assert auth.list_users(s) == []


@pytest.mark.parametrize("path", [
    "/api/explore/v2.1/catalog/datasets/a%00b",
    "/api/explore/v2.1/catalog/datasets/a%00b/records",
    "/api/explore/v2.1/catalog/datasets/a%00b/exports/csv",
    "/api/records/1.0/search/?dataset=a%00b",
    "/explore/dataset/a%00b/information/",
    "/api/management/v1/datasets/a%00b",
    "/api/management/v1/users/a%00b",
])
def test_an_id_holding_a_nul_is_unknown(reading_site, path):
    _, client = reading_site
    assert client.get(path).status_code == 404


def test_names_holding_a_nul_are_refused(site):
    _, client = site
    assert client.post("/api/management/v1/users", json={"login": "carl"}).status_code == 201
    _refused(client.post("/api/management/v1/groups", json={"name": "g", "description": "a\x00b"}), "description", "NUL")
    _refused(client.post("/api/management/v1/users", json={"login": "dan", "display_name": "a\x00b"}),
             "display_name", "NUL")
    _refused(client.post("/api/management/v1/apikeys", json={"login": "carl", "name": "a\x00b"}), "name", "NUL")
    assert client.get("/api/management/v1/groups").json()["results"] == []
    assert client.get("/api/management/v1/apikeys").json()["results"] == []


def _basic(login: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{login}:x".encode()).decode()}


def test_a_long_or_nul_login_is_refused_as_any_wrong_one_and_audited(site):
    instance, client = site
    for login in (LONG_LOGIN, "a\x00b"):
        answer = client.get("/api/explore/v2.1/catalog/datasets", headers=_basic(login))
        assert answer.status_code == 401 and answer.json()["error_code"] == "InvalidAPIKey", answer.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
        answer = client.post("/login", data={"login": login, "password": "x", "csrf_token": token})
        assert answer.status_code == 401, answer.text
    with instance.session() as s:
        targets = [e.target for e in recent(s, action="login.failure")]
    assert len(targets) == 4
    assert set(targets) == {"user:a\\x00b", "user:" + "u" * 294 + "…"}
    assert all(len(t) <= 300 for t in targets)


def test_a_value_the_database_refuses_is_a_400_without_its_sql(site, database_url):
    """The last resort, for a case nothing checks first (an API key id holding a NUL): on
    PostgreSQL a 400 saying what is wrong, without the SQL; on SQLite the key is unknown."""
    _, client = site
    answer = client.delete("/api/management/v1/apikeys/a%00b")
    assert answer.status_code == (400 if database_url else 404), answer.text
    assert "SELECT" not in answer.text and "auth_api_key" not in answer.text


def test_listings_sort_alike_on_both(site):
    _, client = site
    names = ["a-b", "a0", "a_b", "ab"]  # code point order; ICU's en-US: a_b, a-b, a0, ab
    for name in names:
        assert client.post("/api/management/v1/datasets", json={"dataset_id": name, "title": name}).status_code == 201
        assert client.post("/api/management/v1/groups", json={"name": name}).status_code == 201
    for login in ("a0", "a@b", "ab"):
        assert client.post("/api/management/v1/users", json={"login": login}).status_code == 201
        assert client.put(f"/api/management/v1/groups/a0/members/{login}").status_code == 200
    datasets = client.get("/api/management/v1/datasets").json()["results"]
    assert [d["dataset_id"] for d in datasets] == sorted(names + ["ds"])
    assert [g["name"] for g in client.get("/api/management/v1/groups").json()["results"]] == names
    assert [u["login"] for u in client.get("/api/management/v1/users").json()["results"]] == ["a0", "a@b", "ab"]
    members = next(g for g in client.get("/api/management/v1/groups").json()["results"] if g["name"] == "a0")["members"]
    assert members == ["a0", "a@b", "ab"]
