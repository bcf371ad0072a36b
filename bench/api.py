"""API benchmark: Portail over HTTP vs raw DuckDB on the equivalent SQL vs Datasette's JSON API
on the same data in SQLite, one run, same machine.

The Sirene-like table of ``bench/ingest.py`` is loaded into Portail (published version) and
into SQLite with sqlite-utils (plus an FTS index for Datasette's search); both servers run on
loopback. Each query class runs ``--repeat`` times after a warm-up; medians are reported with
the ratios, and whether Portail is within 1.3x raw DuckDB + 2 ms (issue #3's target). Portail
keeps, per version, plans, index lookups, counts and facet answers (a version never changes), so
a repeated class measures kept answers; the classes marked "new each call" ask something new at
every call, and each class's first (cold) call is reported too. Raw DuckDB
runs the equivalent SQL, count included where the API answers a total_count (the number of
records, or of groups for a group_by).

Usage: ``python bench/api.py [--rows 2000000] [--repeat 15]``
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from ingest import generate  # noqa: E402

LOAD = """
import sys
from portail.config import Settings
from portail.operations import open_instance, load_file
from portail.catalog import services
instance = open_instance(Settings(home=sys.argv[1]))
with instance.session() as s:
    d = services.create_dataset(s, "sirene", "Sirene")
    services.set_field_override(s, d, "activite_principale", annotations={"facet": []})
    services.set_pipeline(s, d, [{"processor": "geopoint", "lat": "latitude", "lon": "longitude"}])
load_file(instance, "sirene", sys.argv[2], publish=True)
with instance.session() as s:
    print(services.get_dataset(s, "sirene").current.location)
"""


#: Full-text classes: (label, the words searched, raw DuckDB's scan, Datasette's FTS5 query).
#: Every ``denomination`` is "ETABLISSEMENT <n> SAS": a number is a rare word, a number's
#: prefix a few rows, "sas" every row. Opendatasoft's bare string searches every text field,
#: its words whole, ``term*`` a prefix; Datasette's FTS index holds ``denomination`` only.
FULL_TEXT = [
    ("a rare word (1 row)", "1234567", "denomination ILIKE '%1234567%'", "1234567*"),
    ("a prefix (1,707 rows; 1,111 names)", "1234*", "denomination ILIKE '%1234%'", "1234*"),
    ("a word in every row + a prefix", "sas 1234*", "denomination ILIKE '%sas%' AND denomination ILIKE '%1234%'", "sas 1234*"),
    ("a word in every row (2 M)", "sas", "denomination ILIKE '%sas%'", "sas*"),
]


def fresh(call):
    """A call that asks for something new each time (its argument counts the calls)."""
    count = iter(range(10**6))
    return lambda: call(next(count))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server on {port} did not start")


#: geo_cluster()'s cell at zoom 25, radius 40, in degrees (``functions._geo_cluster``): 19 cm.
FINE_CELL = 360.0 / (256 * 2**25) * 40
#: And at zoom 5 (a map's first view of France, as map.js asks it): 1.76°.
COARSE_CELL = 360.0 / (256 * 2**5) * 40
#: Classes too slow for ``--repeat`` calls (seconds each): run this many times instead.
SLOW = {"geo_cluster zoom 25 (2 M cells, merged)": 3}
#: Classes whose raw and Datasette columns do less than Portail (geo_cluster's grid without the
#: merge of neighbouring cells, which neither has): their ratio says what the merge costs, and
#: the 1.3x + 2 ms target, made for the same query on both sides, is not applied to them.
UNEQUAL = {"geo_cluster zoom 25 (2 M cells, merged)", "geo_cluster zoom 5 (map's first view, merged)"}


#: The pause before each call of the "raw DuckDB, paused" column: a server's engine is asked a
#: query after its client's turn, not back to back; the same raw count measures 0.5 ms back to
#: back and 1.6 ms after a 3 ms pause on this machine (the engine's threads and the CPU's caches
#: go cold). The target is checked against the back-to-back figure; the paused one says what
#: part of a miss is that.
PAUSE = 0.002


def timed(call, repeat: int, pause: float = 0.0) -> tuple[float, float]:
    """(median of ``repeat`` calls, first call) in ms, each call after ``pause`` seconds (not
    timed). The first call of a query class is the cold one: Portail keeps plans and facet
    answers per version, so repeats are warm."""
    started = time.perf_counter()
    call()
    first = time.perf_counter() - started
    samples = []
    for _ in range(repeat):
        if pause:
            time.sleep(pause)
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000, first * 1000


def download(pid: int, url: str, target: Path) -> tuple[float, int, int, int]:
    """An export fetched by curl (a real client writing a file, not a Python loop competing for
    the cores), with the server's resident memory sampled every 20 ms meanwhile:
    (seconds, bytes, peak RSS, RSS before)."""
    import psutil

    server = psutil.Process(pid)
    idle = peak = server.memory_info().rss
    started = time.perf_counter()
    client = subprocess.Popen(["curl", "-s", "-f", "-o", str(target), url])
    while client.poll() is None:
        peak = max(peak, server.memory_info().rss)
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    if client.returncode:
        raise SystemExit(f"export failed: {url}")
    size = target.stat().st_size
    target.unlink()
    return seconds, size, peak, idle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--exports", default="csv", help="export formats to time over everything (comma-separated)")
    parser.add_argument("--exports-only", action="store_true",
                        help="skip the query classes and Datasette (for export memory at 10 M rows)")
    args = parser.parse_args()
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        work = Path(tmp)
        csv_path = generate(work / "sirene.csv", args.rows)
        home = work / "home"
        location = subprocess.run([sys.executable, "-c", LOAD, str(home), str(csv_path)], capture_output=True, text=True,
                                  cwd=ROOT, check=True).stdout.strip().splitlines()[-1]
        db = work / "sirene.db"
        bin_dir = Path(sys.executable).parent
        if not args.exports_only:
            utils = str(bin_dir / "sqlite-utils")
            subprocess.run([utils, "insert", str(db), "sirene", str(csv_path), "--csv", "--delimiter", ";"], check=True,
                           capture_output=True)
            subprocess.run([utils, "enable-fts", str(db), "sirene", "denomination"], check=True, capture_output=True)
            for column in ("code_postal", "activite_principale"):
                subprocess.run([utils, "create-index", str(db), "sirene", column], check=True, capture_output=True)
        csv_path.unlink()
        p_port, d_port = free_port(), free_port()
        portail = subprocess.Popen([sys.executable, "-m", "uvicorn", "portail.api.app:create_app", "--factory", "--port", str(p_port),
                                    "--log-level", "warning"], cwd=ROOT, env={"PORTAIL_HOME": str(home), "PATH": "/usr/bin:/bin",
                                         **{k: v for k, v in os.environ.items() if k in ("PORTAIL_QUERY_MEMORY_LIMIT", "MALLOC_ARENA_MAX")}})
        # Datasette as its users run it, minus facet suggestions (extra queries a JSON client
        # does not ask for): the fairer peer.
        datasette = None if args.exports_only else subprocess.Popen(
            [str(bin_dir / "datasette"), "serve", str(db), "--port", str(d_port), "--setting", "sql_time_limit_ms", "60000",
             "--setting", "max_returned_rows", "1000", "--setting", "suggest_facets", "off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait(p_port)
            if datasette is not None:
                wait(d_port)
            from portail.store.engine import connect

            raw = connect()
            raw.execute(f"ATTACH '{location}' AS v (READ_ONLY)")
            # The dataset's fields, not the point coordinates a version keeps beside them.
            FIELDS = ", ".join(f'"{name}"' for (name,) in raw.execute(
                "SELECT column_name FROM duckdb_columns() WHERE database_name = 'v' AND table_name = 'records' "
                "AND NOT starts_with(column_name, '__') ORDER BY column_index").fetchall())
            base = f"http://127.0.0.1:{p_port}/api/explore/v2.1/catalog/datasets/sirene"
            p = httpx.Client(base_url=base, timeout=120)
            d = httpx.Client(base_url=f"http://127.0.0.1:{d_port}", timeout=120)
            def sql(*statements: str):
                """The equivalent SQL on the raw engine: an API page answers its total_count too."""
                return lambda: [raw.execute(q).fetchall() for q in statements]

            def dsql(query: str):
                return lambda: d.get("/sirene.json", params={"sql": query, "_shape": "array"}).raise_for_status()

            records = lambda params: (lambda: p.get("/records", params=params).raise_for_status())  # noqa: E731
            bbox = "latitude BETWEEN 48.8 AND 48.9 AND longitude BETWEEN 2.3 AND 2.4"
            classes = {
                # The cheapest answer of each server over the same client: what no query can go
                # below (a query Datasette answers at its floor cannot be answered 10x faster
                # unless Portail's floor is a tenth of Datasette's).
                "HTTP floor (no query)": (
                    lambda: p.get(f"http://127.0.0.1:{p_port}/api/health").raise_for_status(),
                    lambda: None,
                    lambda: d.get("/-/versions.json").raise_for_status()),
                # The call clients make most (a table's pages): no condition, no order. Datasette
                # pages a rowid table by keyset (``_next``), a B-tree seek.
                "page without filter (offset 5,000)": (
                    records({"limit": 10, "offset": 5000}),
                    sql(f"SELECT {FIELDS} FROM v.records LIMIT 10 OFFSET 5000"),
                    lambda: d.get("/sirene/sirene.json", params={"_size": 10, "_next": 5000}).raise_for_status()),
                "page with equality filter": (
                    records({"refine": "code_postal:75012", "limit": 10}),
                    sql(f"SELECT {FIELDS} FROM v.records WHERE code_postal = '75012' LIMIT 10",
                        "SELECT count(*) FROM v.records WHERE code_postal = '75012'"),
                    lambda: d.get("/sirene/sirene.json", params={"code_postal": "75012", "_size": 10}).raise_for_status()),
                "count with filters": (
                    records([("refine", "activite_principale:62.01Z"), ("refine", "tranche_effectif:12"), ("limit", 0)]),
                    sql("SELECT count(*) FROM v.records WHERE activite_principale = '62.01Z' AND tranche_effectif = 12"),
                    lambda: d.get("/sirene/sirene.json", params={"activite_principale": "62.01Z", "tranche_effectif": 12,
                                                                 "_size": 0}).raise_for_status()),
                # Another count each call (a new plan, no count kept yet: Portail keeps the
                # counts of a version, so the class above repeats a kept one).
                "count with filters, new each call": (
                    fresh(lambda i: records([("refine", "activite_principale:62.01Z"), ("refine", f"tranche_effectif:{13 + i % 40}"),
                                             ("limit", 0)])()),
                    fresh(lambda i: sql("SELECT count(*) FROM v.records WHERE activite_principale = '62.01Z' "
                                        f"AND tranche_effectif = {13 + i % 40}")()),
                    fresh(lambda i: d.get("/sirene/sirene.json", params={"activite_principale": "62.01Z",
                                                                         "tranche_effectif": 13 + i % 40,
                                                                         "_size": 0}).raise_for_status())),
                "group_by top-10": (
                    records({"select": "activite_principale, count(*) as n", "group_by": "activite_principale",
                             "order_by": "n desc", "limit": 10}),
                    sql("SELECT activite_principale, count(*) n FROM v.records GROUP BY 1 ORDER BY n DESC LIMIT 10",
                        "SELECT count(*) FROM (SELECT activite_principale FROM v.records GROUP BY 1)"),
                    dsql("select activite_principale, count(*) n from sirene group by 1 order by n desc limit 10")),
                "group_by year": (
                    records({"select": "y, count(*) as n", "group_by": "year(date_creation) as y", "order_by": "y",
                             "limit": 100}),
                    sql("SELECT year(date_creation) y, count(*) n FROM v.records GROUP BY 1 ORDER BY 1",
                        "SELECT count(*) FROM (SELECT year(date_creation) FROM v.records GROUP BY 1)"),
                    dsql("select substr(date_creation, 7, 4) y, count(*) n from sirene group by 1 order by 1")),
                **{f"full-text: {label}": (
                    records({"where": f'"{words}"', "limit": 10}),
                    sql(f"SELECT {FIELDS} FROM v.records WHERE {scan} LIMIT 10", f"SELECT count(*) FROM v.records WHERE {scan}"),
                    (lambda fts=fts: d.get("/sirene/sirene.json", params={"_search": fts, "_searchmode": "raw",
                                                                          "_size": 10}).raise_for_status()))
                   for label, words, scan, fts in FULL_TEXT},
                # A new search each call (users rarely repeat one): no plan nor lookup kept yet.
                "full-text: a new prefix each call": (
                    fresh(lambda i: records({"where": f'"1{i:03d}3*"', "limit": 10})()),
                    fresh(lambda i: sql(f"SELECT {FIELDS} FROM v.records WHERE denomination ILIKE '%1{i:03d}3%' LIMIT 10",
                                        f"SELECT count(*) FROM v.records WHERE denomination ILIKE '%1{i:03d}3%'")()),
                    fresh(lambda i: d.get("/sirene/sirene.json", params={"_search": f"1{i:03d}3*", "_searchmode": "raw",
                                                                         "_size": 10}).raise_for_status())),
                # An ordered page of a search: its rows sorted on the order's columns alone, the
                # page then read by row id (it read every column of the table: 0.4-0.6 s).
                "full-text: a prefix, ordered page": (
                    records({"where": '"1234*"', "order_by": "capital", "limit": 10}),
                    sql(f"SELECT {FIELDS} FROM v.records WHERE denomination ILIKE '%1234%' ORDER BY capital LIMIT 10",
                        "SELECT count(*) FROM v.records WHERE denomination ILIKE '%1234%'"),
                    lambda: d.get("/sirene/sirene.json", params={"_search": "1234*", "_searchmode": "raw", "_sort": "capital",
                                                                 "_size": 10}).raise_for_status()),
                # like's words are full-text words of one field (it scanned every row: 7.7 s).
                "like: a word in every row + a rare one": (
                    records({"where": 'denomination like "ETABLISSEMENT 99"', "limit": 10}),
                    sql(f"SELECT {FIELDS} FROM v.records WHERE denomination ILIKE '%ETABLISSEMENT 99 %' LIMIT 10",
                        "SELECT count(*) FROM v.records WHERE denomination ILIKE '%ETABLISSEMENT 99 %'"),
                    lambda: d.get("/sirene/sirene.json", params={"_search": "ETABLISSEMENT 99", "_searchmode": "raw",
                                                                 "_size": 10}).raise_for_status()),
                "bbox (in_bbox)": (
                    records({"where": "in_bbox(geo_point_2d, 48.8, 2.3, 48.9, 2.4)", "limit": 10}),
                    sql(f"SELECT {FIELDS} FROM v.records WHERE {bbox} LIMIT 10", f"SELECT count(*) FROM v.records WHERE {bbox}"),
                    lambda: d.get("/sirene/sirene.json", params={"latitude__gte": 48.8, "latitude__lte": 48.9,
                                                                 "longitude__gte": 2.3, "longitude__lte": 2.4,
                                                                 "_size": 10}).raise_for_status()),
                "within_distance 2 km": (
                    records({"where": "within_distance(geo_point_2d, geom'POINT(2.35 48.85)', 2km)", "limit": 10}),
                    sql("SELECT count(*) FROM v.records WHERE ST_Distance_Sphere(ST_Point(latitude, longitude), "
                        "ST_Point(48.85, 2.35)) <= 2000"),
                    None),
                # A fine grid: a cell per point, the merge of neighbouring clusters bounded to the
                # heaviest 20,000 cells (odsql.clusters). Raw DuckDB and Datasette cut the grid
                # alone, without the merge: the ratio is what the merge costs (SQLite truncates,
                # its floor() being optional: the same work).
                "geo_cluster zoom 25 (2 M cells, merged)": (
                    records({"select": "count(*) as n", "group_by": "geo_cluster(geo_point_2d, 25)", "order_by": "n desc",
                             "limit": 10}),
                    sql(f"SELECT floor(longitude / {FINE_CELL}) x, floor(latitude / {FINE_CELL}) y, count(*) n FROM v.records "
                        "GROUP BY 1, 2 ORDER BY n DESC LIMIT 10",
                        f"SELECT count(*) FROM (SELECT floor(longitude / {FINE_CELL}), floor(latitude / {FINE_CELL}) "
                        "FROM v.records GROUP BY 1, 2)"),
                    dsql(f"select cast(longitude / {FINE_CELL} as int) x, cast(latitude / {FINE_CELL} as int) y, count(*) n "
                         "from sirene group by 1, 2 order by n desc limit 10")),
                # A coarse grid: nearly every cell joins a cluster of several, whose count and
                # centroid combine from their cells' (odsql.clusters); the map's first view.
                "geo_cluster zoom 5 (map's first view, merged)": (
                    records({"select": "count(*) as n", "group_by": "geo_cluster(geo_point_2d, 5) as c", "limit": 20000}),
                    sql(f"SELECT floor(longitude / {COARSE_CELL}) x, floor(latitude / {COARSE_CELL}) y, count(*) n, "
                        "avg(longitude), avg(latitude) FROM v.records GROUP BY 1, 2",
                        f"SELECT count(*) FROM (SELECT floor(longitude / {COARSE_CELL}), floor(latitude / {COARSE_CELL}) "
                        "FROM v.records GROUP BY 1, 2)"),
                    dsql(f"select cast(longitude / {COARSE_CELL} as int) x, cast(latitude / {COARSE_CELL} as int) y, "
                         "count(*) n, avg(longitude), avg(latitude) from sirene group by 1, 2")),
                "facets top-10": (
                    lambda: p.get("/facets", params={"facet": 'facet(name="activite_principale", limit=10)'}).raise_for_status(),
                    sql("SELECT activite_principale, count(*) n FROM v.records GROUP BY 1 ORDER BY n DESC LIMIT 10"),
                    lambda: d.get("/sirene/sirene.json", params={"_facet": "activite_principale", "_size": 0}).raise_for_status()),
            }
            results = {}
            for name, (portail_call, raw_call, datasette_call) in ({} if args.exports_only else classes).items():
                repeat = min(args.repeat, SLOW.get(name, args.repeat))
                (pm, p_first), (rm, _) = timed(portail_call, repeat), timed(raw_call, repeat)
                paused = timed(raw_call, repeat, PAUSE)[0]
                dm = timed(datasette_call, max(3, repeat // 3))[0] if datasette_call else None
                target = pm <= 1.3 * rm + 2 if name not in UNEQUAL else None
                results[name] = {"portail_ms": round(pm, 2), "portail_first_call_ms": round(p_first, 2), "raw_duckdb_ms": round(rm, 2),
                                 "raw_duckdb_paused_ms": round(paused, 2),
                                 "datasette_ms": round(dm, 2) if dm else None, "portail_vs_raw": round(pm / rm, 2),
                                 "datasette_vs_portail": round(dm / pm, 2) if dm else None,
                                 "within_1.3x_raw_plus_2ms": target}
                peer = f"Datasette {dm:9.2f} ms (Portail {dm / pm:6.1f}x faster)" if dm else "Datasette: no equivalent"
                print(f"{name:28s} Portail {pm:8.2f} ms (first call {p_first:7.2f}) | raw DuckDB {rm:8.2f} ms ({pm / rm:5.2f}x, "
                      f"{'meets 1.3x+2ms' if target else 'MISSES 1.3x+2ms' if target is not None else 'no target: baselines skip the merge'}; "
                      f"paused {paused:7.2f} ms) | {peer}", flush=True)
            started = time.perf_counter()
            raw.execute(f"COPY (SELECT {FIELDS} FROM v.records) TO '{work / 'raw.csv'}' (HEADER, DELIMITER ';')")
            raw_seconds = time.perf_counter() - started
            (work / "raw.csv").unlink()
            for fmt in args.exports.split(","):
                seconds, size, peak, idle = download(portail.pid, f"{base}/exports/{fmt}", work / f"export.{fmt}")
                results[f"{fmt} export"] = {"seconds": round(seconds, 2), "rows_per_s": round(args.rows / seconds),
                                            "raw_copy_csv_seconds": round(raw_seconds, 2), "mib": round(size / 2**20),
                                            "server_rss_before_mib": round(idle / 2**20),
                                            "server_peak_rss_mib": round(peak / 2**20)}
                print(f"{fmt.upper() + ' export of everything':28s} {seconds:.2f} s, {args.rows / seconds:,.0f} rows/s "
                      f"(raw DuckDB COPY to a CSV file {raw_seconds:.2f} s), {size / 2**20:,.0f} MiB, server RSS "
                      f"{idle / 2**20:,.0f} MiB before, peak {peak / 2**20:,.0f} MiB", flush=True)
            (out / ("api-exports.json" if args.exports_only else "api.json")).write_text(json.dumps(results, indent=2))
        finally:
            portail.terminate()
            if datasette is not None:
                datasette.terminate()


if __name__ == "__main__":
    main()
