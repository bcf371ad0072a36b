"""Ingest benchmark: Portail vs raw DuckDB ``read_csv`` vs ``sqlite-utils insert``, same file, same run.

Generates a deterministic Sirene-like CSV (``;``-separated, SIRET and commune codes that must
stay text, a dd/mm/yyyy date, decimal lat/lon), then times:
- Portail: ``load_file`` (encoding check, sniffing, staging, whole-file type inference, typed
  version file written and published — the ratios are taken there, when the data is served —
  then its full-text and key indexes written into the version's index file, timed apart: raw
  DuckDB and sqlite-utils build none);
- raw DuckDB: ``CREATE TABLE AS SELECT * FROM read_csv(file)`` into a file database (its
  own sniffer, sample-based inference, no checks);
- sqlite-utils (Datasette's loader): ``sqlite-utils insert db t file --csv --delimiter ';'``.
Each runs in its own process, so its peak RSS is its own. Peak memory of Portail is then
measured again as the file grows (1 M → 4 M rows by default) to show it stays flat.

Usage: ``python bench/ingest.py [--rows 2000000] [--sizes 1000000,2000000,4000000] [--skip-sqlite-utils]``
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NAF = ["47.11A", "47.11B", "56.10A", "62.01Z", "10.71C", "68.20A", "86.21Z", "41.20A"]


def generate(path: Path, rows: int, seed: int = 1) -> Path:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("siret;denomination;code_commune;code_postal;activite_principale;date_creation;"
                     "tranche_effectif;latitude;longitude;capital\n")
        buffer = []
        for i in range(rows):
            dep = rng.randint(1, 95)
            buffer.append(
                f"{rng.randint(0, 99999999999999):014d};ETABLISSEMENT {i} SAS;{dep:02d}{rng.randint(1, 999):03d};"
                f"{dep:02d}{rng.randint(0, 999):03d};{rng.choice(NAF)};{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/"
                f"{rng.randint(1950, 2025)};{rng.randint(0, 53)};{41.3 + rng.random() * 9.8:.6f};{-5.1 + rng.random() * 14.6:.6f};"
                f"{rng.randint(1, 5_000_000)},{rng.randint(0, 99):02d}\n"
            )
            if len(buffer) == 100_000:
                handle.writelines(buffer)
                buffer.clear()
        handle.writelines(buffer)
    return path


PORTAIL = """
import sys, time, json
from portail.config import Settings
from portail.operations import open_instance, load_file
from portail.catalog import services
instance = open_instance(Settings(home=sys.argv[1]))
with instance.session() as s:
    services.create_dataset(s, "bench", "Bench")
marks = {}
t = time.perf_counter()
r = load_file(instance, "bench", sys.argv[2], publish=True,
              progress=lambda phase, fraction, rows: marks.setdefault(phase, time.perf_counter()))
print(json.dumps({"seconds": time.perf_counter() - t, "rows": r.report.rows,
                  "published_seconds": marks["indexing"] - t, "indexing_seconds": marks["indexed"] - marks["indexing"],
                  "types": {f.name: f.type for f in r.report.fields}}))
"""

RAW_DUCKDB = """
import sys, time, json, duckdb
t = time.perf_counter()
con = duckdb.connect(sys.argv[1])
con.execute("CREATE TABLE t AS SELECT * FROM read_csv(?)", [sys.argv[2]])
rows = con.execute("SELECT count(*) FROM t").fetchone()[0]
types = {r[0]: r[1] for r in con.execute("DESCRIBE t").fetchall()}
con.close()
print(json.dumps({"seconds": time.perf_counter() - t, "rows": rows, "types": types}))
"""


def run_measured(argv: list[str]) -> dict:
    """Run a child process; return its JSON line plus its own peak RSS (MiB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed:\n{result.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    data = json.loads(lines[-1]) if lines else {}
    data.setdefault("seconds", wall)
    # ru_maxrss of children is the max over all children so far: only meaningful when it grew.
    data["peak_rss_mib"] = round(max(after, before) / 1024, 1)
    data["wall"] = wall
    return data


def portail(csv_path: Path, work: Path) -> dict:
    home = Path(tempfile.mkdtemp(dir=work, prefix="portail-"))
    return run_measured([sys.executable, "-c", PORTAIL, str(home), str(csv_path)])


def raw_duckdb(csv_path: Path, work: Path) -> dict:
    return run_measured([sys.executable, "-c", RAW_DUCKDB, str(work / f"raw-{time.time_ns()}.duckdb"), str(csv_path)])


def sqlite_utils(csv_path: Path, work: Path) -> dict:
    exe = Path(sys.executable).parent / "sqlite-utils"
    return run_measured([str(exe), "insert", str(work / f"su-{time.time_ns()}.db"), "t", str(csv_path), "--csv",
                         "--delimiter", ";"])  # types are detected by default


def peak_rss_in_fresh_process(csv_path: Path, work: Path) -> float:
    """Peak RSS of a Portail ingest measured by the child itself (RUSAGE_SELF at exit)."""
    code = PORTAIL + "\nimport resource\nprint(json.dumps({'rss': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))\n"
    home = Path(tempfile.mkdtemp(dir=work, prefix="mem-"))
    result = subprocess.run([sys.executable, "-c", code, str(home), str(csv_path)], capture_output=True, text=True, cwd=ROOT)
    if result.returncode:
        raise SystemExit(result.stderr[-2000:])
    return round(json.loads(result.stdout.splitlines()[-1])["rss"] / 1024, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--sizes", default="1000000,2000000,4000000", help="row counts for the memory curve ('' to skip)")
    parser.add_argument("--skip-sqlite-utils", action="store_true")
    parser.add_argument("--work", type=Path, default=HERE / "out")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        work = Path(tmp)
        csv_path = generate(work / "sirene-like.csv", args.rows)
        size_mib = csv_path.stat().st_size / 2**20
        print(f"file: {args.rows:,} rows, {size_mib:,.0f} MiB")
        results = {"rows": args.rows, "file_mib": round(size_mib, 1)}
        results["raw_duckdb"] = raw_duckdb(csv_path, work)
        results["portail"] = portail(csv_path, work)
        if not args.skip_sqlite_utils:
            results["sqlite_utils"] = sqlite_utils(csv_path, work)
        base = results["portail"]["seconds"]
        published, indexing = results["portail"]["published_seconds"], results["portail"]["indexing_seconds"]
        print(f"portail      {published:8.2f} s to the published version ({args.rows / published:,.0f} rows/s), "
              f"then its indexes {indexing:.2f} s (full-text and key tables: {base:.2f} s in all)  "
              f"types: {results['portail']['types']}")
        raw = results["raw_duckdb"]["seconds"]
        print(f"raw duckdb   {raw:8.2f} s  -> Portail publishes at {raw / published:.2f}x raw DuckDB speed "
              f"({raw / base:.2f}x with its indexes written, which raw DuckDB does not build); "
              f"DuckDB typed: {results['raw_duckdb']['types']}")
        results["ratio_vs_raw_duckdb_with_indexes"] = round(raw / base, 3)
        if "sqlite_utils" in results:
            su = results["sqlite_utils"]["wall"]
            print(f"sqlite-utils {su:8.2f} s  -> Portail publishes {su / published:.1f}x faster "
                  f"({su / base:.1f}x with its indexes written)")
            results["ratio_vs_sqlite_utils"] = round(su / published, 2)
        results["ratio_vs_raw_duckdb"] = round(raw / published, 3)
        memory = {}
        for size in [int(s) for s in args.sizes.split(",") if s]:
            path = generate(work / f"mem-{size}.csv", size)
            memory[size] = {"file_mib": round(path.stat().st_size / 2**20), "peak_rss_mib": peak_rss_in_fresh_process(path, work)}
            print(f"memory: {size:>10,} rows, file {memory[size]['file_mib']:,} MiB -> peak RSS {memory[size]['peak_rss_mib']:,} MiB")
            path.unlink()
        results["memory"] = memory
    (args.work / "ingest.json").write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
