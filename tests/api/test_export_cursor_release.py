"""An export closed or failed releases the engine's cursor then, not at the next collection.

The writers close what they are handed, which is not the engine's batches but generators over
them (``ExportFormat.write`` makes plain numbers and joined lists of each batch; CSV and the
JSON family filter out empty batches before ``pipelined``). Closing a wrapper closes nothing
beneath it: the cursor was released only when the last reference to the engine's generator
went. Whatever else held one kept the cursor, the version file it pins and the engine's
buffers: a caller holding the batches, or a writer that failed, its frame (holding them) kept
by the error's traceback as long as the error lives (logged, reported, or in a reference
cycle until the collector runs).

The cursors are counted where the store counts its running queries (``engine.Sharing``).
"""

from __future__ import annotations

import inspect

import pytest
import sqlglot

from portail.catalog import services
from portail.exports import FORMATS, ExportOptions
from portail.schema import Field, FieldType
from tests.conftest import Published, logements_file, published_instance

#: Far more batches than an export reads before its first chunk.
ROWS = "SELECT i, 'commune ' || i AS nom FROM range(2000000) t(i)"
FIELDS = [Field("i", "i", FieldType.INT), Field("nom", "nom", FieldType.TEXT)]


@pytest.fixture(scope="module")
def served(tmp_path_factory, refdata):
    instance = published_instance(tmp_path_factory.mktemp("cursor-release") / "home",
                                  Published("logements", logements_file(refdata), "Logements"))
    with instance.session() as s:
        location = services.get_dataset(s, "logements").current.location
    yield instance, location
    instance.store.close()


def open_cursors(instance) -> int:
    return instance.store._sharing._running


def engine_batches(instance, location):
    return instance.store.stream(location, sqlglot.parse_one(ROWS, dialect="duckdb"), batch_size=10_000)


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl", "xlsx", "parquet"])
def test_closing_an_export_releases_its_cursor_whoever_holds_its_batches(served, fmt):
    instance, location = served
    before = open_cursors(instance)
    batches = engine_batches(instance, location)  # held here, as a caller of ``export_batches`` holds them
    chunks = FORMATS[fmt].write(FIELDS, batches, ExportOptions())
    assert next(chunks)
    assert open_cursors(instance) == before + 1
    chunks.close()  # the client hung up (``api.streaming`` closes the answer's chunks)
    assert open_cursors(instance) == before and inspect.getgeneratorstate(batches) == inspect.GEN_CLOSED


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_an_export_whose_writer_fails_releases_its_cursor_while_its_error_lives(served, fmt):
    """A writer failing at a batch (here told of a field the engine's columns do not hold, for
    any fault of a formatter): the error, raised from the formatter pool, is kept as a server
    keeps the error it logs; the cursor is released when the export ends, not with the error."""
    instance, location = served
    before = open_cursors(instance)
    chunks = FORMATS[fmt].write([*FIELDS, Field("absent", "absent", FieldType.TEXT)],
                                engine_batches(instance, location), ExportOptions())
    with pytest.raises(IndexError) as failed:
        next(chunks)
    assert failed.value.__traceback__ is not None
    assert open_cursors(instance) == before
