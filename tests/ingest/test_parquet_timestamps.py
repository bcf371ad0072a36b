"""Parquet's naive timestamps (``isAdjustedToUTC=false``, as pandas writes them) are wall-clock
times, read in the dataset's time zone as every other format's are; aware ones stay instants."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq

from tests.ingest.files import load, rows, types

PARIS = ZoneInfo("Europe/Paris")


def test_parquet_naive_timestamps_are_read_in_the_datasets_time_zone(instance, tmp_path):
    """pandas writes naive datetimes with ``isAdjustedToUTC=false``: wall-clock times, which the
    loader reads in the dataset's zone for every other format; Parquet's are read as UTC, so a
    Paris 14:00 is served as 16:00 (15:00 in winter), unlike the same data's CSV."""
    walls = [dt.datetime(2024, 1, 15, 14, 0), dt.datetime(2024, 7, 1, 8, 30, 0, 250000), None]
    aware = [dt.datetime(2024, 1, 15, 13, 0, tzinfo=dt.timezone.utc), None, None]
    table = pa.table({"n": [1, 2, 3], "releve": pa.array(walls, pa.timestamp("ns")),
                      "releve_utc": pa.array(aware, pa.timestamp("us", tz="UTC")),
                      "jamais": pa.array([None] * 3, pa.timestamp("us"))})
    path = tmp_path / "releves.parquet"
    pq.write_table(table, path)
    result = load(instance, path)
    # declared by the file, an empty column too (staged as text, it was typed text)
    assert types(result) == {"n": "int", "releve": "datetime", "releve_utc": "datetime", "jamais": "datetime"}
    read = pq.read_table(path).to_pylist()
    assert rows(instance, order="ORDER BY n") == [
        {"n": r["n"], "releve": r["releve"] and r["releve"].replace(tzinfo=PARIS),
         "releve_utc": r["releve_utc"], "jamais": None} for r in read]
