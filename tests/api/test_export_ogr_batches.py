"""GDAL exports of more records than one batch: every record written with its date, in each
format GDAL writes, and a writer's failure answered as an error, not as a 200 with an empty file."""

from __future__ import annotations

import random
import string

import numpy
import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.api.explore_service import export_batches
from portail.catalog import services
from portail.exports import OGR_FORMATS
from tests.api.gdal_layers import read_layer
from tests.conftest import Published, published_instance

#: More records than one export batch, whose rows ``export_batch_rows`` counts from the version's
#: bytes a row: each record carries a ``note`` of ``NOTE`` random letters (never exported) so
#: that a batch holds ~8,500 rows, and 30,000 records make several batches (150,000 narrow ones
#: did, at five times the writing and reading of every format).
ROWS, NOTE = 30_000, 200
URL = "/api/explore/v2.1/catalog/datasets/sirene/exports"
#: The last records share their ``lot`` and their point, and their ``montant`` (an integer of
#: 18 digits, the most the loader reads as one) sums beyond int64: a float in its batch only
#: (``exports.formats.plain_numbers``)
SHARED, BIG = 11, 9 * 10**17


def creation_date(i: int) -> str | None:
    """Record ``i``'s date as /records writes it: none for one in seven, and none over a stretch
    longer than a batch (a batch of null dates)."""
    if i % 7 == 0 or 12_000 <= i < 28_000:
        return None
    return f"{1990 + i % 30}-{1 + i % 12:02d}-{1 + i % 28:02d}"


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    path = tmp_path_factory.mktemp("src") / "sirene.csv"
    letters = random.Random(0)
    with path.open("w", encoding="utf-8") as out:
        out.write("siret;geo_point_2d;date_creation;lot;montant;note\n")
        for i in range(ROWS):
            day = creation_date(i)
            written = f"{day[8:10]}/{day[5:7]}/{day[:4]}" if day else ""  # as French sources write them
            lot = min(i, ROWS - SHARED)
            point = f"{48 + lot / 1e6:.6f},{2 + lot / 1e6:.6f}"
            note = "".join(letters.choices(string.ascii_letters, k=NOTE))  # random: the engine cannot pack it
            out.write(f"{i:014d};{point};{written};{lot};{BIG if lot == ROWS - SHARED else 1};{note}\n")
    instance = published_instance(tmp_path_factory.mktemp("ogr") / "home", Published("sirene", path, "Sirene"))
    yield instance
    instance.store.close()


@pytest.fixture(scope="module")
def client(instance):
    return TestClient(create_app(instance), raise_server_exceptions=False)


def test_the_records_come_in_several_batches(instance):
    """The premise of the other tests: an export of these records is written batch by batch,
    one of them without a date, and the groups of the failing sum come in several batches too."""
    with instance.session() as s:
        dataset = services.get_dataset(s, "sirene")
        _, _, batches, _ = export_batches(instance, dataset, "fgb", select="siret, geo_point_2d, date_creation")
        batches = list(batches)
        _, _, groups, _ = export_batches(instance, dataset, "fgb", select="lot, geo_point_2d, sum(montant) as total",
                                         group_by="lot, geo_point_2d", order_by="lot")
        groups = [batch.num_rows for batch in groups]
    assert sum(batch.num_rows for batch in batches) == ROWS and len(batches) >= 3
    assert any(batch.column("date_creation").null_count == batch.num_rows for batch in batches)  # a batch of null dates
    assert sum(groups) == ROWS - SHARED + 1 and len(groups) >= 2


def day(value) -> str | None:
    """A date read back as ISO text: a shapefile's date, FlatGeobuf's datetime (it has no date
    column) at midnight, KML's text."""
    if value is None or (isinstance(value, numpy.datetime64) and numpy.isnat(value)):
        return None
    return str(value)[:10]


@pytest.mark.parametrize("fmt", sorted(OGR_FORMATS))
def test_every_record_is_written_with_its_date(client, fmt, tmp_path):
    response = client.get(f"{URL}/{fmt}", params={"limit": 100_000 + ROWS, "select": "siret, geo_point_2d, date_creation"})
    assert response.status_code == 200, response.text
    read, _ = read_layer(response.content, fmt, tmp_path)
    dates = read["date_creat" if fmt == "shp" else "date_creation"]
    written = {siret: day(value) for siret, value in zip(read["siret"], dates)}
    assert len(read["siret"]) == ROWS and len(written) == ROWS
    assert written == {f"{i:014d}": creation_date(i) for i in range(ROWS)}


@pytest.mark.parametrize("fmt", ["fgb", "shp", "parquet"])
def test_a_writer_failing_past_its_first_batch_answers_an_error(client, fmt):
    """The last group's sum (SHARED * BIG) is a float beyond int64 where the first batch made
    the field an integer: the file cannot hold it, and the client is told so by the status and
    Opendatasoft's JSON error, the file being built before the answer starts (appended batch by
    batch, GDAL wrote int64's largest value in its place, under a 200; a writer failing there
    sent an empty body)."""
    response = client.get(f"{URL}/{fmt}", params={"select": "lot, geo_point_2d, sum(montant) as total",
                                                  "group_by": "lot, geo_point_2d", "order_by": "lot"})
    assert response.status_code == 500, response.content[:200]
    assert response.json() == {"error_code": "InternalError", "message": "An internal error occurred."}
