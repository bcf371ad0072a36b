"""A HEAD's work stops once its head is sent under any ASGI server (``HeadAsGetMiddleware``).

The middleware tells the app the client has gone through ``receive``, as ASGI 2.3 servers do
(uvicorn's today). From ASGI 2.4 on, Starlette's streamed answers no longer listen there: they
learn of a hang-up from a failing ``send``, which the middleware never raises (it drops what
follows the head). Under a server of 2.4 a HEAD on an export ran its whole query again, its
chunks dropped one by one. The requests are ASGI calls on the app as a server makes them; the
engine's batches are counted through the store's real ``stream``, in small batches.
"""

from __future__ import annotations

import asyncio

import pytest

from portail.api import create_app
from tests.conftest import Published, published_instance

SOURCE = ("referentiels", "laposte_hexasmal.csv")
EXPORT = "/api/explore/v2.1/catalog/datasets/cp/exports/csv"
BATCH_ROWS = 512


@pytest.fixture(scope="module")
def site(tmp_path_factory, refdata):
    instance = published_instance(tmp_path_factory.mktemp("head-review") / "home",
                                  Published("cp", refdata.joinpath(*SOURCE)))
    yield instance, create_app(instance)
    instance.store.close()


def call(app, method: str, spec: str) -> list[dict]:
    """The messages the app sends for one request, from a client that stays, under a server
    speaking ASGI ``spec``."""
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
                 "method": method, "scheme": "http", "path": EXPORT, "raw_path": EXPORT.encode(),
                 "query_string": b"", "headers": [(b"host", b"testserver")],
                 "client": ("127.0.0.1", 50000), "server": ("testserver", 80), "root_path": ""}
        await app(scope, receive, send)

    asyncio.run(run())
    return sent


@pytest.mark.parametrize("spec", ["2.3", "2.4", "2.5"])
def test_a_head_on_an_export_stops_its_query_whatever_the_servers_asgi_version(site, spec, monkeypatch):
    instance, app = site
    stream, read = instance.store.stream, []

    def counted(location, query, params=None, batch_size=65536):
        read.append(0)
        for batch in stream(location, query, params, batch_size=BATCH_ROWS):
            read[-1] += 1
            yield batch

    monkeypatch.setattr(instance.store, "stream", counted)
    got = call(app, "GET", spec)
    headed = call(app, "HEAD", spec)
    assert got[0]["status"] == headed[0]["status"] == 200
    assert headed[1:] == [{"type": "http.response.body", "body": b"", "more_body": False}]
    assert read[0] > 40  # the GET read every batch; the HEAD a few, for its first chunk
    assert 0 < read[1] < read[0] // 4, read
