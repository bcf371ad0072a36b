"""HEAD on an export stops its work once the status and headers are sent (``HeadAsGetMiddleware``).

Link checkers, proxies, ``curl -I`` and data.gouv.fr's harvester (checking each resource URL)
send HEAD to export URLs: it was answered by running the GET and dropping its body, a 2 M-row
export's whole query and serialisation for nothing. Now the answer's head goes out as the GET's
(the streamed answer reads its first chunk first, so the status is the truthful one), then the
app hears that the client has gone: the export's engine query is interrupted and its cursor
closed, as for a hang-up. It does so under any ASGI server: from ASGI 2.4 on, Starlette's
streamed answers no longer listen to ``receive`` (where the middleware says the client has gone,
as 2.3 servers such as uvicorn's do today) but learn of a hang-up from a failing ``send``, which
the middleware never raises; under a 2.4 server a HEAD on an export ran its whole query again.

The requests are ASGI calls on the app as the server makes them, from a client that stays: the
only hang-up the answer hears is the one HEAD sends it. The engine's batches are counted by
wrapping the store's ``stream`` (the real one, in smaller batches, so that how far the query got
is plain in the count). Parquet is not among the formats: it holds its first 8 MB before its
first chunk (``PARQUET_HELD``), the whole of this file.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from portail.api import create_app
from tests.conftest import Published, published_instance, semicolon_csv

#: Rows of the exported dataset: a few hundred batches of ``BATCH_ROWS`` (390), so that a HEAD's
#: few batches (4 for CSV, ~20 for XLSX, which holds 64 KB of compressed sheet before its first
#: chunk) are plainly under a tenth of the GET's. What matters is the batch count, not the rows:
#: 300,000 rows in batches of 1,024 said the same in three times the load and the exports.
ROWS = 100_000
BATCH_ROWS = 256
EXPORT = "/api/explore/v2.1/catalog/datasets/etablissements/exports/{}"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("head")
    rng = random.Random(11)
    rows = [{"siren": f"{rng.randint(0, 10 ** 9 - 1):09d}", "nom": f"Etablissement {i}",
             "code_commune": f"{rng.randint(1, 95):02d}{rng.randint(1, 999):03d}", "effectif": str(rng.randint(0, 900))}
            for i in range(ROWS)]
    instance = published_instance(folder / "home",
                                  Published("etablissements", semicolon_csv(folder / "etablissements.csv", rows)))
    yield instance, create_app(instance)
    instance.store.close()


class CountedStream:
    """The store's ``stream`` in batches of ``BATCH_ROWS``, telling how many batches each query
    handed out and whether it ran to its end."""

    def __init__(self, stream):
        self.stream, self.read, self.ended = stream, [], []

    def __call__(self, location, query, params=None, batch_size=65536):
        index = len(self.read)
        self.read.append(0)
        for batch in self.stream(location, query, params, batch_size=BATCH_ROWS):
            self.read[index] += 1
            yield batch
        self.ended.append(index)


def call(app, method: str, path: str, query: str = "", spec: str = "2.3") -> list[dict]:
    """The messages the app sends for one request, from a client that stays until the answer ends,
    under a server speaking ASGI ``spec``."""
    sent: list[dict] = []

    async def run() -> None:
        asked = False

        async def receive() -> dict:
            nonlocal asked
            if not asked:
                asked = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()  # never leaves: cancelled when the answer ends

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": spec}, "http_version": "1.1",
                 "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
                 "query_string": query.encode(), "headers": [(b"host", b"testserver")],
                 "client": ("127.0.0.1", 50000), "server": ("testserver", 80), "root_path": ""}
        await app(scope, receive, send)

    asyncio.run(run())
    return sent


def head_of(sent: list[dict]) -> tuple[int, dict[bytes, bytes]]:
    """The status and headers sent, but those that tell the moment and the calls left in the quota
    (a HEAD counts as a call)."""
    start = sent[0]
    assert start["type"] == "http.response.start"
    return start["status"], {k: v for k, v in start["headers"] if k not in (b"date", b"x-ratelimit-reset", b"x-ratelimit-remaining")}


def body_of(sent: list[dict]) -> bytes:
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl", "xlsx"])
def test_a_head_on_a_large_export_answers_the_gets_head_and_interrupts_its_query(site, fmt, monkeypatch):
    instance, app = site
    counted = CountedStream(instance.store.stream)
    monkeypatch.setattr(instance.store, "stream", counted)

    got = call(app, "GET", EXPORT.format(fmt))
    assert counted.ended == [0] and counted.read[0] >= ROWS // BATCH_ROWS  # the GET reads every batch
    assert head_of(got)[0] == 200 and len(body_of(got)) > ROWS * 10

    headed = call(app, "HEAD", EXPORT.format(fmt))
    assert head_of(headed) == head_of(got)
    assert headed[1:] == [{"type": "http.response.body", "body": b"", "more_body": False}]
    # the HEAD's query stopped a few batches in, its first chunk read for a truthful status:
    # it never ran to its end
    assert counted.ended == [0] and 0 < counted.read[1] < counted.read[0] // 10, counted.read


def test_a_head_on_a_refused_export_answers_its_error_status(site):
    """A HEAD is answered with the GET's status, an error's too, without its JSON."""
    _, app = site
    query = "where=effectif%20%3E%3E%201"
    got, headed = call(app, "GET", EXPORT.format("csv"), query), call(app, "HEAD", EXPORT.format("csv"), query)
    assert head_of(got)[0] == 400 and b"error_code" in body_of(got)
    assert head_of(headed) == head_of(got) and body_of(headed) == b""


def test_a_head_on_an_answer_that_is_not_streamed_keeps_its_length(site):
    """A JSON answer's head holds its Content-Length, as the GET's; the body is left out."""
    _, app = site
    path = "/api/explore/v2.1/catalog/datasets/etablissements/records"
    got, headed = call(app, "GET", path, "limit=3"), call(app, "HEAD", path, "limit=3")
    status, headers = head_of(headed)
    assert (status, headers) == head_of(got) and status == 200
    assert int(headers[b"content-length"]) == len(body_of(got)) > 0
    assert body_of(headed) == b""


@pytest.mark.parametrize("spec", ["2.3", "2.4", "2.5"])
def test_a_head_on_an_export_stops_its_query_whatever_the_servers_asgi_version(site, spec, monkeypatch):
    instance, app = site
    counted = CountedStream(instance.store.stream)
    monkeypatch.setattr(instance.store, "stream", counted)
    got = call(app, "GET", EXPORT.format("csv"), spec=spec)
    headed = call(app, "HEAD", EXPORT.format("csv"), spec=spec)
    assert got[0]["status"] == headed[0]["status"] == 200
    assert headed[1:] == [{"type": "http.response.body", "body": b"", "more_body": False}]
    # the GET read every batch; the HEAD a few, for its first chunk
    assert counted.read[0] >= ROWS // BATCH_ROWS
    assert counted.ended == [0] and 0 < counted.read[1] < counted.read[0] // 10, counted.read
