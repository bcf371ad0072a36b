"""A wide typed file (Parquet: no inference, its declared types cast in parts of
``COLUMNS_PER_WRITE`` columns, ``load.cast_in_parts``) keeps each row's values on their row
across the parts' positional join; a wide reload failing after its parts were written leaves the
published version served and readable, and no building file nor scratch database behind."""

from __future__ import annotations

import pytest

from portail.catalog import services


@pytest.mark.slow  # ~5 s: two wide loads (each indexed)
def test_a_wide_typed_file_keeps_its_rows_whole_and_a_failed_wide_reload_loses_nothing(tmp_path):
    """A wide Parquet file (typed reader: no inference, the parts cast its declared types) read
    with 4 threads past one vector of rows: every row's values stay on their row across the
    parts' positional join. A wide reload failing after its parts were written (every value of
    a column refused by its override) leaves the published version served and readable, and
    no building file nor scratch database; a successful reload then publishes the next."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from portail.ingest import IngestError
    from portail.ingest.load import COLUMNS_PER_WRITE
    from portail.operations import load_file
    from tests.conftest import make_instance

    width, rows = COLUMNS_PER_WRITE + 10, 2100
    n = pa.array(range(rows), pa.int64())
    columns = {"n": n, **{f"c{c}": pa.array([(r * 31 + c) % 997 for r in range(rows)], pa.int32())
                          for c in range(1, width)}}
    source = tmp_path / "wide.parquet"
    pq.write_table(pa.table(columns), source, row_group_size=700)
    text = tmp_path / "wide.csv"
    text.write_text(";".join(columns) + "\n" + "".join(";".join("x" if c == "c7" else str(r) for c in columns) + "\n"
                                                      for r in range(5)), encoding="utf-8")
    instance = make_instance(tmp_path / "home", ingest_threads=4, page_files=False)
    try:
        with instance.session() as s:
            dataset = services.create_dataset(s, "wide", "Wide")
            services.set_field_override(s, dataset, "c7", type="int")  # "x" is no integer: the reload fails
        load_file(instance, "wide", source, publish=True)
        with instance.session() as s:
            first = services.get_dataset(s, "wide").current.location
        checked = [f"c{c}" for c in (1, COLUMNS_PER_WRITE - 1, COLUMNS_PER_WRITE, width - 1)]
        misplaced = " OR ".join(f"{c} IS DISTINCT FROM (n * 31 + {c[1:]}) % 997" for c in checked)
        assert instance.store.query(first, f"SELECT count(*) AS rows, count(DISTINCT n) AS whole, "
                                           f"count(*) FILTER ({misplaced}) AS bad FROM records").to_pylist() == \
            [{"rows": rows, "whole": rows, "bad": 0}]
        with pytest.raises(IngestError, match="none of its 5 values reads as int"):
            load_file(instance, "wide", text, publish=True)
        with instance.session() as s:
            assert services.get_dataset(s, "wide").current.location == first
        assert instance.store.query(first, "SELECT count(*) AS n FROM records").to_pylist() == [{"n": rows}]
        assert not list((tmp_path / "home").rglob("*.building")) and not list((tmp_path / "home").rglob("scratch.duckdb"))
        with instance.session() as s:
            services.set_field_override(s, services.get_dataset(s, "wide"), "c7", type="text")
        load_file(instance, "wide", text, publish=True)
        with instance.session() as s:
            second = services.get_dataset(s, "wide").current.location
        assert second != first
        assert instance.store.query(second, "SELECT count(*) AS n, min(c7) AS c7 FROM records").to_pylist() == [{"n": 5, "c7": "x"}]
        assert not list((tmp_path / "home").rglob("scratch.duckdb"))
        assert instance.store.query(first, "SELECT count(*) AS n FROM records").to_pylist() == [{"n": rows}]  # still read
    finally:
        instance.store.close()
