"""Review of Dec 7's commits on pages, exports and Explore v2.0 (review 4).

- A ruleset hiding a field the published version lacks refused the dataset's records and, since
  b71a6ec, blanked its schema too, for every caller of the ruleset: right for a hidden column
  renamed by a reload (served under its new name), wrong for one dropped on purpose or a rule
  written before the first load naming no field (``explore_service._renamed_away``).
- A call or an export abandoned by its client answered 499 (or nothing) for any exception, a
  bug of its own included, never logged: only the interrupt's own error is (``abandon.interrupted``).
- Signing in or out with a ``next`` naming a POST-only address (``/logout``, ``/account/apikeys``)
  landed the reader on a bare JSON 405 (``auth_routes.NOT_PAGES``).
"""

from __future__ import annotations

import asyncio
import re
import time

import duckdb
import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.api.deps import in_worker
from portail.api.streaming import ClosingStreamingResponse
from portail.auth import services as auth
from portail.catalog import services
from portail.operations import load_file
from portail.store import abandon
from portail.web.auth_routes import safe_next
from tests.api.test_exports_gaps_dec7 import GoneClient
from tests.conftest import make_instance, semicolon_csv

API = "/api/explore/v2.1/catalog/datasets"
ROWS = [{"nom": "Paris", "secret": "zeta", "n": "1"}, {"nom": "Lyon", "secret": "alpha", "n": "2"}]


def _reshaped(rows: list[dict[str, str]], name: str, renamed: str | None = None) -> list[dict[str, str]]:
    """``rows`` without the column ``name``, or with it called ``renamed``: a reload's file."""
    return [{(renamed if k == name else k): v for k, v in row.items() if renamed or k != name} for row in rows]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """``retire`` hides ``secret``, then a reload dropped the column; ``renomme`` hides it, then a
    reload renamed it ``secret_v2``; ``avant`` got a rule hiding ``inconnu`` before its first
    load (no schema to check it against)."""
    folder = tmp_path_factory.mktemp("review4")
    instance = make_instance(folder / "home", session_cookie_secure=False)  # the test client speaks plain HTTP
    source = semicolon_csv(folder / "d.csv", ROWS)
    for slug in ("retire", "renomme", "avant"):
        with instance.session() as s:
            dataset = services.create_dataset(s, slug, slug)
            if slug == "avant":
                auth.set_dataset_security(s, dataset, hidden_fields={"*": ["inconnu"]})
        load_file(instance, slug, source, publish=True)
        if slug != "avant":
            with instance.session() as s:
                auth.set_dataset_security(s, services.get_dataset(s, slug), hidden_fields={"*": ["secret"]})
    load_file(instance, "retire", semicolon_csv(folder / "v2.csv", _reshaped(ROWS, "secret")), publish=True)
    load_file(instance, "renomme", semicolon_csv(folder / "v3.csv", _reshaped(ROWS, "secret", "secret_v2")),
              publish=True)
    yield instance, TestClient(create_app(instance))
    instance.store.close()


def test_a_hidden_name_the_version_lacks_blanks_the_dataset_only_when_renamed(site):
    _, client = site
    for slug, names in (("retire", ["nom", "n"]), ("avant", ["nom", "secret", "n"])):
        dataset = client.get(f"{API}/{slug}").json()
        assert [f["name"] for f in dataset["fields"]] == names and dataset["has_records"] is True, slug
        records = client.get(f"{API}/{slug}/records", params={"order_by": "n"})
        assert records.status_code == 200 and [r["nom"] for r in records.json()["results"]] == ["Paris", "Lyon"], slug
    # renamed: still named nowhere, its records refused
    assert client.get(f"{API}/renomme").json()["fields"] == []
    assert client.get(f"{API}/renomme/records").json()["error_code"] == "SecurityError"


# -- a call abandoned by its client: only the interrupt's own error goes unread -----------------


def _fails_later() -> None:
    time.sleep(0.7)  # the client has gone meanwhile (listened for from 0.25 s, gone 0.3 s later)
    raise KeyError("a fault of the call's own")


def test_a_fault_of_an_abandoned_call_is_raised_not_answered_as_gone():
    """``in_worker`` answered 499 (unlogged) for any exception once the client was gone: a bug
    in a slow call whose client had given up left no trace."""
    with pytest.raises(KeyError):
        asyncio.run(in_worker(_fails_later, watched=GoneClient(0.3)))
    assert abandon.interrupted(duckdb.InterruptException("INTERRUPT Error: Interrupted!"))
    assert abandon.interrupted(OSError("INTERRUPT Error: Interrupted!"))
    assert not abandon.interrupted(OSError("No space left on device"))


def test_a_fault_of_an_abandoned_stream_is_raised_not_swallowed():
    """``ClosingStreamingResponse`` swallowed any exception once its client was gone."""

    def content():
        yield b"nom\r\n"
        time.sleep(0.45)  # the client hangs up meanwhile
        raise KeyError("a fault of the export's own")

    async def answer() -> None:
        gone = GoneClient(0.3)
        await ClosingStreamingResponse(content(), media_type="text/csv")({"type": "http"}, gone.receive, _ignore)

    with pytest.raises(KeyError):
        asyncio.run(answer())


async def _ignore(message: dict) -> None:
    pass


# -- sign in and out: back to a page, never to a form's POST-only address -----------------------
def test_a_next_to_a_post_only_address_lands_on_the_home(site):
    _, client = site
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    for target in ("/logout", "/logou%74", "/logout-everywhere/", "/interne/logout?lang=en", "/account/apikeys"):
        answer = client.post("/logout", params={"next": target}, data={"csrf_token": token}, follow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (303, "/"), target
    for target in ("//evil.example/", "/\\evil.example", "https://evil.example/", "/\t/evil.example"):
        assert safe_next(target, "/interne") == "/interne/", target
    # pages, the account's and the consent's included, are followed
    for target in ("/explore/?q=logout", "/account?lang=en", "/oauth2/authorize?client_id=x", "/interne/"):
        assert safe_next(target, "") == target
