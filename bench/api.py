"""API benchmark: Portail over HTTP vs raw DuckDB on the equivalent SQL vs Datasette's JSON API
on the same data in SQLite, one run, same machine.

The Sirene-like table of ``bench/ingest.py`` is loaded into Portail (published version) and
into SQLite with sqlite-utils (plus an FTS index for Datasette's search); both servers run on
loopback. Each query class runs ``--repeat`` times after a warm-up; medians are reported with
the ratios. Query classes that need the ODSQL compiler (group_by, bbox) join when it lands.

Usage: ``python bench/api.py [--rows 2000000] [--repeat 15]``
"""

from __future__ import annotations

import argparse
import json
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
load_file(instance, "sirene", sys.argv[2], publish=True)
with instance.session() as s:
    print(services.get_dataset(s, "sirene").current.location)
"""


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


def timed(call, repeat: int) -> float:
    call()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=15)
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
        subprocess.run([str(bin_dir / "sqlite-utils"), "insert", str(db), "sirene", str(csv_path), "--csv", "--delimiter", ";"],
                       check=True, capture_output=True)
        subprocess.run([str(bin_dir / "sqlite-utils"), "enable-fts", str(db), "sirene", "denomination"], check=True, capture_output=True)
        for column in ("code_postal", "activite_principale"):
            subprocess.run([str(bin_dir / "sqlite-utils"), "create-index", str(db), "sirene", column], check=True, capture_output=True)
        p_port, d_port = free_port(), free_port()
        portail = subprocess.Popen([sys.executable, "-m", "uvicorn", "portail.api.app:create_app", "--factory", "--port", str(p_port),
                                    "--log-level", "warning"], cwd=ROOT, env={"PORTAIL_HOME": str(home), "PATH": "/usr/bin:/bin"})
        datasette = subprocess.Popen([str(bin_dir / "datasette"), "serve", str(db), "--port", str(d_port),
                                      "--setting", "sql_time_limit_ms", "60000", "--setting", "max_returned_rows", "1000"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait(p_port)
            wait(d_port)
            from portail.store.engine import connect

            raw = connect()
            raw.execute(f"ATTACH '{location}' AS v (READ_ONLY)")
            p = httpx.Client(base_url=f"http://127.0.0.1:{p_port}/api/explore/v2.1/catalog/datasets/sirene", timeout=120)
            d = httpx.Client(base_url=f"http://127.0.0.1:{d_port}", timeout=120)
            classes = {
                "page with equality filter": (
                    lambda: p.get("/records", params={"refine": "code_postal:75012", "limit": 10}).raise_for_status(),
                    lambda: raw.execute("SELECT * FROM v.records WHERE code_postal = '75012' LIMIT 10").fetchall(),
                    lambda: d.get("/sirene/sirene.json", params={"code_postal": "75012", "_size": 10}).raise_for_status()),
                "count with filters": (
                    lambda: p.get("/records", params=[("refine", "activite_principale:62.01Z"), ("refine", "tranche_effectif:12"),
                                                      ("limit", 0)]).raise_for_status(),
                    lambda: raw.execute("SELECT count(*) FROM v.records WHERE activite_principale = '62.01Z' "
                                        "AND tranche_effectif = 12").fetchall(),
                    lambda: d.get("/sirene/sirene.json", params={"activite_principale": "62.01Z", "tranche_effectif": 12, "_size": 0}).raise_for_status()),
                "facets top-10": (
                    lambda: p.get("/facets", params={"facet": 'facet(name="activite_principale", limit=10)'}).raise_for_status(),
                    lambda: raw.execute("SELECT activite_principale, count(*) n FROM v.records GROUP BY 1 ORDER BY n DESC LIMIT 10").fetchall(),
                    lambda: d.get("/sirene/sirene.json", params={"_facet": "activite_principale", "_size": 0}).raise_for_status()),
                "full-text search (v1 q, no index yet)": (
                    lambda: httpx.get(f"http://127.0.0.1:{p_port}/api/records/1.0/search/",
                                      params={"dataset": "sirene", "q": "ETABLISSEMENT 1234567", "rows": 10}, timeout=120).raise_for_status(),
                    lambda: raw.execute("SELECT * FROM v.records WHERE denomination ILIKE '%etablissement 1234567%' LIMIT 10").fetchall(),
                    lambda: d.get("/sirene/sirene.json", params={"_search": '"ETABLISSEMENT 1234567"', "_size": 10}).raise_for_status()),
            }
            results = {}
            for name, (portail_call, raw_call, datasette_call) in classes.items():
                pm, rm, dm = (timed(c, args.repeat) for c in (portail_call, raw_call, datasette_call))
                results[name] = {"portail_ms": round(pm, 2), "raw_duckdb_ms": round(rm, 2), "datasette_ms": round(dm, 2),
                                 "portail_vs_raw": round(pm / rm, 2), "datasette_vs_portail": round(dm / pm, 2)}
                print(f"{name:40s} Portail {pm:8.2f} ms | raw DuckDB {rm:8.2f} ms ({pm / rm:5.2f}x) | "
                      f"Datasette {dm:8.2f} ms (Portail {dm / pm:5.1f}x faster)")
            started = time.perf_counter()
            size = 0
            with p.stream("GET", "/exports/csv") as response:
                for chunk in response.iter_bytes():
                    size += len(chunk)
            seconds = time.perf_counter() - started
            results["csv export"] = {"seconds": round(seconds, 2), "rows_per_s": round(args.rows / seconds), "mib": round(size / 2**20)}
            print(f"{'CSV export of everything':40s} {seconds:.2f} s, {args.rows / seconds:,.0f} rows/s, {size / 2**20:,.0f} MiB")
            (out / "api.json").write_text(json.dumps(results, indent=2))
        finally:
            portail.terminate()
            datasette.terminate()


if __name__ == "__main__":
    main()
