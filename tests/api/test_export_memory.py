"""What a download holds while it is served: batches sized by the rows' width (a slow client of
wide rows held the whole file), formatter threads shared by every export, and the export's
generator closed as soon as its client hangs up (its cursor and batches released then, not at
the next garbage collection)."""

from __future__ import annotations

import asyncio
import os
import random
import string
import threading

import pyarrow as pa

from portail.api.explore_service import EXPORT_BATCH_BYTES, export_batch_rows, export_batches
from portail.api.streaming import ClosingStreamingResponse
from portail.catalog import services
from portail.catalog.models import DatasetVersion
from portail.exports.formats import pipelined
from portail.operations import load_file
from tests.conftest import make_instance


def test_wide_rows_come_in_smaller_batches(tmp_path):
    assert export_batch_rows(DatasetVersion(row_count=2_000_000, size_bytes=20 << 20)) == 65536  # narrow rows
    assert export_batch_rows(DatasetVersion(row_count=2_000_000, size_bytes=180 << 20)) == 22222  # Sirene-like
    assert export_batch_rows(DatasetVersion(row_count=35_000, size_bytes=14 << 20)) == 35_000 * EXPORT_BATCH_BYTES // (14 << 20)
    assert export_batch_rows(DatasetVersion(row_count=13, size_bytes=2 << 20)) == 256
    assert export_batch_rows(DatasetVersion(row_count=0, size_bytes=0)) == 65536
    rng = random.Random(7)
    path = tmp_path / "wide.csv"
    with path.open("w", encoding="utf-8") as out:  # ~3,000 rows of 2 kB that do not compress
        out.write("id;texte\n")
        for i in range(3000):
            out.write(f"{i};{''.join(rng.choices(string.ascii_letters, k=2000))}\n")
    instance = make_instance(tmp_path / "home")
    with instance.session() as s:
        services.create_dataset(s, "wide", "Wide")
    load_file(instance, "wide", path, publish=True)
    with instance.session() as s:
        dataset = services.get_dataset(s, "wide")
        _, _, batches, _ = export_batches(instance, dataset, "csv")
        sizes = [b.num_rows for b in batches]
    assert sum(sizes) == 3000 and max(sizes) < 3000 and len(sizes) >= 3, sizes
    instance.store.close()


def test_exports_share_their_formatter_threads():
    release = threading.Event()

    def work(batch: pa.RecordBatch) -> bytes:
        release.wait(5)
        return b"x"

    def batches():
        while True:
            yield pa.record_batch({"a": [1]})

    exports = [pipelined(work, batches()) for _ in range(12)]
    started = []
    for export in exports:  # each asks for its first chunk in a thread of its own, as servers do
        thread = threading.Thread(target=next, args=(export,), daemon=True)
        thread.start()
        started.append(thread)
    threading.Event().wait(0.3)
    formatters = [t for t in threading.enumerate() if t.name.startswith("export")]
    assert 0 < len(formatters) <= max(2, os.cpu_count() or 2)  # not two per export
    release.set()
    for thread in started:
        thread.join(5)
    for export in exports:
        export.close()


def test_a_download_is_closed_when_its_client_hangs_up():
    closed = threading.Event()

    def chunks():
        try:
            for _ in range(1000):
                yield b"x" * 1024
        finally:
            closed.set()  # where an export releases its cursor and batches

    sent = []

    async def send(message):
        sent.append(message)
        if len(sent) > 3:
            raise OSError("client gone")

    async def receive():
        await asyncio.sleep(10)
        return {"type": "http.disconnect"}

    async def serve() -> bool:
        scope = {"type": "http", "asgi": {"spec_version": "2.4"}}
        response = ClosingStreamingResponse(chunks(), media_type="text/csv")
        try:
            await response(scope, receive, send)
        except Exception:  # Starlette's ClientDisconnect: the server's to handle
            pass
        # asked while the loop and the response live on, as in a server: not at their collection
        return closed.is_set()

    assert asyncio.run(serve()) and len(sent) == 4
