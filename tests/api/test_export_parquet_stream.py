"""The Parquet export streamed a row group at a time (2026-12-07): it was built whole in a
temporary file before its first byte, a 2 M-row download waiting 12-14 s for nothing and the
server holding the file meanwhile. The file read back is the one the whole-file writer made
(types, nulls, order, hidden fields); a hang-up stops the engine's query; a failure past the
first chunk cuts the answer into a file no reader opens, never a readable wrong one."""

from __future__ import annotations

import asyncio
import datetime
import io

import numpy
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.api.explore_service import export_batches
from portail.api.streaming import ClosingStreamingResponse
from portail.auth import services as auth
from portail.catalog import services
from portail.exports import FORMATS, ExportOptions
from portail.exports.formats import PARQUET_HELD
from portail.operations import load_file
from portail.schema import Field, FieldType
from tests.conftest import make_instance

URL = "/api/explore/v2.1/catalog/datasets/etablissements/exports/parquet"
#: Rows enough for a file several times ``PARQUET_HELD``: streamed in several chunks.
ROWS = 400_000
#: Seconds of both cores if not interrupted (~4 s here): the test fails on its outcome, not its time.
SLOW = "SELECT sum(hash(i)) AS s FROM range(200000000) t(i)"


def source_rows(count: int) -> list[dict[str, str]]:
    """Establishments as a publisher's CSV holds them: SIRETs and commune codes with their
    leading zeros, a headcount missing one row in seven, a date, a position. Drawn a column at
    a time (numpy): drawn a value at a time, the 400,000 rows cost ~3.5 s of CPU."""
    rng = numpy.random.default_rng(7)

    def ints(low: int, high: int) -> list[int]:
        return rng.integers(low, high, count, endpoint=True).tolist()

    columns = zip(ints(0, 10 ** 14 - 1), ints(1, 95), ints(1, 999), ints(0, 5000), ints(1950, 2025), ints(1, 12),
                  ints(1, 28), (41.3 + rng.random(count) * 9.8).tolist(), (-5.1 + rng.random(count) * 14.6).tolist())
    return [{"siret": f"{siret:014d}", "nom": f"Etablissement {i}", "code_commune": f"{dep:02d}{commune:03d}",
             "effectif": "" if i % 7 == 3 else str(effectif), "date_creation": f"{year}-{month:02d}-{day:02d}",
             "latitude": f"{lat:.6f}", "longitude": f"{lon:.6f}", "secret": f"s{i}"}
            for i, (siret, dep, commune, effectif, year, month, day, lat, lon) in enumerate(columns)]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("parquet-stream")
    rows = source_rows(ROWS)
    source = folder / "etablissements.csv"
    with source.open("w", encoding="utf-8") as out:
        out.write(";".join(rows[0]) + "\n")
        out.writelines(";".join(row.values()) + "\n" for row in rows)
    instance = make_instance(folder / "home")
    with instance.session() as s:
        dataset = services.create_dataset(s, "etablissements", "Etablissements")
        services.set_pipeline(s, dataset, [{"processor": "geopoint", "lat": "latitude", "lon": "longitude"}])
    load_file(instance, "etablissements", source, publish=True)
    with instance.session() as s:
        auth.set_dataset_security(s, services.get_dataset(s, "etablissements"), hidden_fields={"*": ["secret"]})
    yield instance, rows, TestClient(create_app(instance))
    instance.store.close()


def test_the_streamed_file_holds_the_records_in_their_order(site):
    _, rows, client = site
    response = client.get(URL, params={"order_by": "siret desc", "where": "code_commune < '50000'",
                                       "parquet_compression": "zstd"})
    assert response.status_code == 200
    parquet = pq.ParquetFile(io.BytesIO(response.content))
    assert parquet.metadata.num_row_groups > 1 and parquet.metadata.row_group(0).column(0).compression == "ZSTD"
    table = parquet.read()
    kept = sorted((r for r in rows if r["code_commune"] < "50000"), key=lambda r: r["siret"], reverse=True)
    assert table.num_rows == len(kept) and len(response.content) > PARQUET_HELD
    # the hidden field is nowhere; codes stay text with their zeros; a missing headcount a null
    assert "secret" not in table.column_names
    # points as text, as the whole-file writer wrote them: no GeoParquet metadata to keep
    assert set(parquet.metadata.metadata) == {b"ARROW:schema"}
    assert {name: str(table.schema.field(name).type) for name in ("siret", "code_commune", "effectif",
                                                                     "date_creation", "geo_point_2d")} == \
        {"siret": "string", "code_commune": "string", "effectif": "int64", "date_creation": "date32[day]",
         "geo_point_2d": "string"}
    assert table.column("siret").to_pylist() == [r["siret"] for r in kept]
    assert table.column("code_commune").to_pylist() == [r["code_commune"] for r in kept]
    assert table.column("effectif").to_pylist() == [int(r["effectif"]) if r["effectif"] else None for r in kept]
    assert table.column("date_creation").to_pylist() == [datetime.date.fromisoformat(r["date_creation"]) for r in kept]
    # a point is the "lat,lon" text the CSV export writes, as the whole-file writer wrote it
    points = [tuple(map(float, text.split(","))) for text in table.column("geo_point_2d").to_pylist()]
    assert points == [(float(r["latitude"]), float(r["longitude"])) for r in kept]


def test_the_first_chunk_goes_out_before_the_last_batch_is_read(site):
    """The writer hands out its first ``PARQUET_HELD`` bytes while the engine still has batches
    to give, then a row group at a time: nothing is written whole first, in memory or on disk."""
    instance, _, _ = site
    events: list[str] = []
    with instance.session() as s:
        fmt, columns, batches, options = export_batches(instance, services.get_dataset(s, "etablissements"), "parquet")

    def counted():
        for batch in batches:
            events.append("batch")
            yield batch

    chunks = []
    for chunk in fmt.write(columns, counted(), options):
        events.append("chunk")
        chunks.append(chunk)
    assert "batch" in events[events.index("chunk"):]
    sizes = [len(chunk) for chunk in chunks]
    assert sizes[0] >= PARQUET_HELD and len(sizes) > 2
    assert max(sizes[1:-1]) < PARQUET_HELD  # a row group at a time past the first chunk
    assert pq.read_table(io.BytesIO(b"".join(chunks))).num_rows == ROWS


def serve(content, hang_up: str | None = None) -> tuple[list[dict], BaseException | None]:
    """``content`` answered by the export's response to a client that hangs up once the first
    body is sent (``hang_up="after body"``), 0.3 s after asking (``"soon"``) or never (None):
    what was sent, and what the answer raised to the server (None: it ended as it should)."""
    sent: list[dict] = []

    async def answer() -> BaseException | None:
        body = asyncio.Event()
        asked = False

        async def send(message: dict) -> None:
            sent.append(message)
            if message.get("body"):
                body.set()

        async def receive() -> dict:
            nonlocal asked
            if not asked:
                asked = True
                return {"type": "http.request", "body": b"", "more_body": False}
            if hang_up is None:
                await asyncio.Event().wait()
            if hang_up == "after body":
                await body.wait()
            else:
                await asyncio.sleep(0.3)  # the engine has begun the query
            return {"type": "http.disconnect"}

        try:
            await ClosingStreamingResponse(content, media_type=FORMATS["parquet"].media_type)(
                {"type": "http"}, receive, send)
        except Exception as error:
            return error
        return None

    return sent, asyncio.run(answer())


def test_a_hang_up_mid_stream_closes_the_engine_cursor(site):
    instance, _, _ = site
    read, closed = [0], []
    with instance.session() as s:
        fmt, columns, batches, options = export_batches(instance, services.get_dataset(s, "etablissements"), "parquet")

    def counted():
        try:
            for batch in batches:
                read[0] += 1
                yield batch
        finally:  # the engine's cursor is closed here (``DuckDBStore.stream``)
            batches.close()
            closed.append(read[0])

    with instance.session() as s:
        total = sum(1 for _ in export_batches(instance, services.get_dataset(s, "etablissements"), "parquet")[2])
    sent, raised = serve(fmt.write(columns, counted(), options), hang_up="after body")
    bodies = [m for m in sent if m["type"] == "http.response.body"]
    assert raised is None and bodies and not any(m["more_body"] is False for m in bodies)
    # released when the answer ended, far before the last batch (not at the next collection)
    assert closed and closed[0] < total, (closed, total)


def test_a_hang_up_while_the_export_waits_on_the_engine_interrupts_its_query(site):
    """An order_by or group_by over millions of rows computes its result before the first
    batch: the file is now written in the answer, whose hang-up interrupts the query (it was
    built in the call, which ran it to its end for nobody)."""
    instance, _, _ = site
    with instance.session() as s:
        location = services.get_dataset(s, "etablissements").current.location
    outcome: list[str] = []

    def batches():
        try:
            yield from instance.store.stream(location, sqlglot.parse_one(SLOW, dialect="duckdb"))
            outcome.append("ran to its end")
        except Exception as error:  # DuckDB's InterruptException, or an OSError from its Arrow reader
            outcome.append("interrupted" if "INTERRUPT" in str(error) else repr(error))
            raise

    content = FORMATS["parquet"].write([Field("s", "s", FieldType.INT)], batches(), ExportOptions())
    sent, raised = serve(content, hang_up="soon")
    assert outcome == ["interrupted"] and raised is None
    assert not [m for m in sent if m["type"] == "http.response.body"]


def test_a_failure_past_the_first_chunk_cuts_the_file(site):
    """A sum past int64 in a late batch, where the first batches made the column an integer:
    the file cannot hold it. Past the first chunk the 200 has gone: the answer ends without its
    last body message (the server drops the connection) and the bytes sent are no Parquet file,
    its footer never written. Within the first chunk it is an error status (the geo formats'
    ``test_a_writer_failing_past_its_first_batch_answers_an_error``)."""
    instance, _, _ = site
    with instance.session() as s:
        location = services.get_dataset(s, "etablissements").current.location
    late = "SELECT CASE WHEN i < 2999999 THEN i::HUGEINT ELSE 100000000000000000000::HUGEINT END AS n " \
           "FROM range(3000000) t(i)"
    batches = instance.store.stream(location, sqlglot.parse_one(late, dialect="duckdb"))
    content = FORMATS["parquet"].write([Field("n", "n", FieldType.INT)], batches, ExportOptions())
    sent, raised = serve(content)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200
    bodies = [m for m in sent if m["type"] == "http.response.body"]
    assert isinstance(raised, pa.ArrowInvalid) and bodies and bodies[-1]["more_body"] is True
    data = b"".join(m["body"] for m in bodies)
    assert data.startswith(b"PAR1") and len(data) >= PARQUET_HELD
    with pytest.raises(pa.ArrowInvalid):
        pq.read_metadata(io.BytesIO(data))
