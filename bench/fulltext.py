"""Full-text benchmark: the version's full-text index vs the scan, on the generated Sirene-like
table of ``bench/ingest.py``.

Loads the table into Portail once (reports the build time and what the index costs: its build
time, measured again alone on the same records, and its size), then times the same full-text
queries (v1 ``q``, ODSQL ``search()``, a bare string, ``suggest()``; a page of 10 and a count)
through the Explore/v1 services on the indexed version and on a copy of it without the index
(the scan Portail falls back to for versions built before the index), and the raw DuckDB
``ILIKE`` scan that served v1 ``q`` before. Medians of ``--repeat`` runs after a warm-up.

Usage: ``python bench/fulltext.py [--rows 2000000] [--repeat 7]``

Measured 2026-11-29, 2 M rows, on the shared 2-core machine at load average ~35 (absolute times
inflated several times; compare within a run): load+publish 171.5 s, of which the index ~61 s
(16 M postings over 5 text fields); file 72 MB → 174 MB. Medians, index vs scan fallback:
bare string ``"1234567"`` page 180 ms vs 16.4 s (the former ILIKE scan: 773 ms); search(*,
'etablissement 1234567') count 2.7 s vs 11.6 s; v1 q 'ETABLISSEMENT 1234567' (count + page)
5.2 s vs 18.0 s; suggest count 1.9 s vs 6.5 s. A word found in every row ("etablissement")
costs a semi-join over all its postings: the index pays off on selective words.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from ingest import generate  # noqa: E402


def timed(call, repeat: int) -> float:
    call()
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    import duckdb
    from fastapi.testclient import TestClient

    from portail.api import create_app
    from portail.catalog import services
    from portail.config import Settings
    from portail.operations import load_file, open_instance
    from portail.store import fulltext
    from portail.store.engine import connect

    with tempfile.TemporaryDirectory() as tmp:
        source = generate(Path(tmp) / "sirene.csv", args.rows)
        instance = open_instance(Settings(home=Path(tmp) / "home"))
        with instance.session() as s:
            services.create_dataset(s, "sirene", "Sirene")
        started = time.perf_counter()
        load_file(instance, "sirene", source, publish=True)
        build_s = time.perf_counter() - started
        with instance.session() as s:
            location = services.get_dataset(s, "sirene").current.location

        # The index alone, rebuilt on the same records, and a copy of the version without it.
        plain = Path(tmp) / "plain" / "v000001.duckdb"
        plain.parent.mkdir()
        con = connect()
        con.execute(f"ATTACH '{location}' AS src (READ_ONLY)")
        con.execute(f"ATTACH '{plain}' AS build")
        con.execute("CREATE TABLE build.records AS SELECT * FROM src.records")
        con.execute("CREATE TABLE build.portail_version AS SELECT * FROM src.portail_version")
        texts = [r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE database_name = 'src' "
                                           "AND table_name = 'records' AND data_type = 'VARCHAR'").fetchall()]
        con.execute("CHECKPOINT build")
        plain_size = plain.stat().st_size
        con.execute(f"ATTACH '{Path(tmp) / 'index-only.duckdb'}' AS idx")
        con.execute("CREATE TABLE idx.records AS SELECT * FROM build.records")
        started = time.perf_counter()
        postings = fulltext.build(con, "idx", texts)
        index_s = time.perf_counter() - started
        con.close()
        indexed_size = Path(location).stat().st_size
        print(f"rows {args.rows:,}; load+publish {build_s:.1f} s, of which the full-text index ~{index_s:.1f} s "
              f"({postings:,} postings over {len(texts)} text fields); file {plain_size / 1e6:.0f} MB without index, "
              f"{indexed_size / 1e6:.0f} MB with")

        client = TestClient(create_app(instance))
        raw = duckdb.connect()
        raw.execute(f"ATTACH '{location}' AS v (READ_ONLY)")
        url = "/api/explore/v2.1/catalog/datasets/sirene/records"
        queries = {
            "v1 q 'ETABLISSEMENT 1234567', 10 rows": lambda: client.get(
                "/api/records/1.0/search/", params={"dataset": "sirene", "q": "ETABLISSEMENT 1234567", "rows": 10}),
            "search(*, 'etablissement 1234567'), count": lambda: client.get(
                url, params={"where": 'search(*, "etablissement 1234567")', "limit": 0}),
            "bare string '\"1234567\"', 10 rows": lambda: client.get(url, params={"where": '"1234567"', "limit": 10}),
            "suggest(denomination, 'etab 12345'), count": lambda: client.get(
                url, params={"where": 'suggest(denomination, "etab 12345")', "limit": 0}),
        }
        indexed = {name: timed(q, args.repeat) for name, q in queries.items()}
        for name, q in queries.items():  # every query answers 200
            assert q().status_code == 200, q().text
        # The same queries on the version without index (swap the file under the same location).
        instance.store.close()
        Path(location).rename(location + ".indexed")
        Path(plain).rename(location)
        scanned = {name: timed(q, max(1, args.repeat // 2)) for name, q in queries.items()}
        before = timed(lambda: raw.execute("SELECT * FROM v.records WHERE denomination ILIKE "
                                           "'%etablissement 1234567%' LIMIT 10").fetchall(), args.repeat)
        instance.store.close()
        print(f"{'query':45s} {'index':>10s} {'scan':>10s}")
        for name in queries:
            print(f"{name:45s} {indexed[name]:8.1f}ms {scanned[name]:8.1f}ms ({scanned[name] / indexed[name]:5.1f}x)")
        print(f"raw DuckDB ILIKE scan (the former v1 q), 10 rows: {before:.1f} ms")


if __name__ == "__main__":
    main()
