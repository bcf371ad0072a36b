"""Dataset exports whose client hangs up, and, on the same small instance, hidden fields and
how the exports write empty texts, nulls and code-like numbers: each checked against what a
client expects.

- A client that hangs up while its export waits on the engine (an ``order_by`` or ``group_by``
  over millions of rows computes its whole result before the first batch) left the engine
  running that query to its end for nobody: 1-2.5 s of both cores after the hang-up on 2 M rows
  (``bench/api.py``'s table), against ~0.02 s now (``api.streaming``). Its test never times: it
  asks whether the query was interrupted or ran to its end.
- A call abandoned before one of its queries began ran that query anyway: DuckDB forgets an
  interrupt sent before a query starts (``store.abandon``); one interrupted while an Arrow
  reader fetched its batches (a parquet or geo export built in the call) was logged as an
  unexpected error, the interrupt being an ``OSError`` there (``api.deps.in_worker``).
- A hidden field renamed by a reload: its records were refused, but the dataset's schema listed
  the hidden column under its new name to the very callers it is hidden from.
- Checked and kept: a sort on a hidden field answers as one on an unknown field; CSV writes an
  empty text and a null alike unless ``quote_all`` (then ``""`` and an empty cell); a double
  field named like a code is written as a JSON number, as ``/records`` writes it.
"""

from __future__ import annotations

import asyncio
import contextvars
import csv
import io
import json

import duckdb
import pytest
import sqlglot
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.api.deps import CLIENT_GONE, in_worker
from portail.api.streaming import ClosingStreamingResponse
from portail.auth import services as auth
from portail.catalog import services
from portail.operations import load_file
from portail.store import abandon
from tests.api.leaving_client import LeavingClient
from tests.conftest import make_instance, semicolon_csv

API = "/api/explore/v2.1/catalog/datasets"
#: Seconds of both cores if not interrupted (~4 s here): the tests fail on its outcome, not its time.
SLOW = "SELECT sum(hash(i)) AS s FROM range(200000000) t(i)"
#: Batches and batches (a minute's worth, read whole): the engine's work is in the Arrow reader.
ROWS_ON_ROWS = "SELECT hash(i) AS h FROM range(3000000000) t(i)"
ROWS = [{"nom": '""', "code_insee": "01001", "secret": "s1", "n": "1"},
        {"nom": "", "code_insee": "75056", "secret": "s2", "n": "2"},
        {"nom": "Lyon", "code_insee": "", "secret": "s3", "n": "3"}]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """``masque`` hides ``secret`` from everyone; ``renomme`` too, then a reload renamed the
    column ``secret_v2``. ``code_insee`` is typed double by the publisher (a code, by its name)."""
    folder = tmp_path_factory.mktemp("export_hang_ups")
    instance = make_instance(folder / "home")
    source = semicolon_csv(folder / "d.csv", ROWS)
    for slug in ("masque", "renomme"):
        with instance.session() as s:
            dataset = services.create_dataset(s, slug, slug)
            services.set_field_override(s, dataset, "code_insee", type="double")
        load_file(instance, slug, source, publish=True)
        with instance.session() as s:
            auth.set_dataset_security(s, services.get_dataset(s, slug), hidden_fields={"*": ["secret"]})
    renamed = [{("secret_v2" if k == "secret" else k): v for k, v in row.items()} for row in ROWS]
    load_file(instance, "renomme", semicolon_csv(folder / "v2.csv", renamed), publish=True)
    with instance.session() as s:
        location = services.get_dataset(s, "masque").current.location
    yield instance, location, TestClient(create_app(instance))
    instance.store.close()


def test_an_export_whose_client_hangs_up_interrupts_the_query_it_waits_on(site):
    instance, location, _ = site
    outcome: list[str] = []

    def content():
        yield b"nom;n\r\n"  # the header, sent before the engine's first batch
        try:
            for _ in instance.store.stream(location, sqlglot.parse_one(SLOW, dialect="duckdb")):
                yield b"row\r\n"
            outcome.append("ran to its end")
        except Exception as error:  # DuckDB's InterruptException, or an OSError from its Arrow reader
            outcome.append("interrupted" if "INTERRUPT" in str(error) else repr(error))
            raise

    async def answer() -> list[dict]:
        sent: list[dict] = []
        header = asyncio.Event()

        async def send(message: dict) -> None:
            sent.append(message)
            if message.get("body"):
                header.set()

        asked = False

        async def receive() -> dict:
            nonlocal asked
            if not asked:
                asked = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await header.wait()
            await asyncio.sleep(0.2)  # the engine has begun the query
            return {"type": "http.disconnect"}

        await ClosingStreamingResponse(content(), media_type="text/csv")({"type": "http"}, receive, send)
        return sent

    sent = asyncio.run(answer())
    assert outcome == ["interrupted"]
    assert [m.get("body") for m in sent if m["type"] == "http.response.body"] == [b"nom;n\r\n"]
    # the store serves the next query as before
    count = instance.store.query(location, sqlglot.parse_one("SELECT count(*) AS n FROM records"))
    assert count.column("n").to_pylist() == [3]


def test_a_query_asked_once_its_call_was_abandoned_never_starts(site):
    instance, location, _ = site
    watch = abandon.Watch()
    watch.abandon()
    context = contextvars.copy_context()
    context.run(abandon.CURRENT.set, watch)
    with pytest.raises(duckdb.InterruptException):
        context.run(instance.store.run, location, SLOW)


def test_a_call_reading_an_export_batch_when_its_client_went_away_answers_as_gone(site):
    """Interrupted in an Arrow reader (a parquet or geo export builds its file in the call),
    the engine's interrupt is an ``OSError``, not DuckDB's ``InterruptException``: it was
    logged as an unexpected error (a 500) on every such hang-up."""
    instance, location, _ = site

    def read() -> int:
        query = sqlglot.parse_one(ROWS_ON_ROWS, dialect="duckdb")
        return sum(batch.num_rows for batch in instance.store.stream(location, query))

    answer = asyncio.run(in_worker(read, watched=LeavingClient(0.5)))
    assert getattr(answer, "status_code", None) == CLIENT_GONE, answer


def test_a_hidden_field_renamed_by_a_reload_is_named_nowhere(site):
    _, _, client = site
    dataset = client.get(f"{API}/renomme").json()
    assert dataset["fields"] == [] and dataset["has_records"] is False
    assert client.get(f"{API}/renomme/records").json()["error_code"] == "SecurityError"
    for path in (f"{API}/renomme", API, "/api/explore/v2.1/catalog/exports/json", "/api/datasets/1.0/renomme/",
                 "/api/explore/v2.0/catalog/datasets/renomme", "/explore/dataset/renomme/information/"):
        response = client.get(path)
        assert response.status_code == 200 and "secret_v2" not in response.text, path
    # where the rule holds, the visible fields are listed as before
    assert [f["name"] for f in client.get(f"{API}/masque").json()["fields"]] == ["nom", "code_insee", "n"]


def test_a_sort_on_a_hidden_field_answers_as_one_on_an_unknown_field(site):
    _, _, client = site
    for path in (f"{API}/masque/records", f"{API}/masque/exports/csv"):
        hidden, unknown = (client.get(path, params={"order_by": f"{name} desc"}) for name in ("secret", "inconnu"))
        assert hidden.status_code == unknown.status_code == 400
        assert hidden.json()["message"].replace("secret", "inconnu") == unknown.json()["message"]


def test_csv_tells_an_empty_text_from_a_null_with_quote_all_only(site):
    """Opendatasoft documents neither: CSV writes both as an empty cell, as Python's
    ``csv.QUOTE_MINIMAL`` does; ``quote_all`` quotes every value, so ``""`` is the empty text
    and an empty cell the null (the JSON exports write ``""`` and ``null``)."""
    _, _, client = site
    params = {"select": "nom", "order_by": "n", "with_bom": False}
    assert client.get(f"{API}/masque/exports/csv", params=params).text == 'nom\r\n""\r\n""\r\nLyon\r\n'
    plain = client.get(f"{API}/masque/exports/csv", params={**params, "select": "nom, n"}).text
    assert plain == "nom;n\r\n;1\r\n;2\r\nLyon;3\r\n"
    quoted = client.get(f"{API}/masque/exports/csv", params={**params, "select": "nom, n", "quote_all": True}).text
    assert quoted == '"nom";"n"\r\n"";"1"\r\n;"2"\r\n"Lyon";"3"\r\n'
    assert [r["nom"] for r in client.get(f"{API}/masque/exports/json", params=params).json()] == ["", None, "Lyon"]


def test_a_double_field_named_like_a_code_is_a_json_number_in_every_json_export(site):
    _, _, client = site
    params = {"select": "code_insee", "order_by": "n"}
    records = client.get(f"{API}/masque/records", params=params).json()["results"]
    exported = client.get(f"{API}/masque/exports/json", params=params).json()
    lines = [json.loads(line) for line in client.get(f"{API}/masque/exports/jsonl", params=params).text.splitlines()]
    assert exported == lines == records == [{"code_insee": 1001.0}, {"code_insee": 75056.0}, {"code_insee": None}]
    assert all(type(r["code_insee"]) in (float, type(None)) for r in exported)
    assert list(csv.reader(io.StringIO(client.get(f"{API}/masque/exports/csv", params={**params, "with_bom": False})
                                       .text), delimiter=";")) == [["code_insee"], ["1001"], ["75056"], [""]]
