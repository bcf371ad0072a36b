"""Geo-join benchmark: generated points inside France against the commune contours.

Same points, same polygons (the reference hub's ``ref-communes``), same machine, one run, each
tool in its own process (peak RSS is that process's):
- Portail, end to end (CSV read, typing, version written with its full-text index, published):
  the ``geopoint`` + ``geo_join`` pipeline, and ``geopoint`` alone, so that the difference is the
  geo_join stage's marginal cost (the records query and the full-text index are timed apart:
  geo_join adds eight text columns, which the full-text index covers like any other);
- geopandas (what an analyst would use): read the CSV, build the points, ``sjoin(predicate="within")``
  (timed end to end, and the join alone), polygons already in memory;
- DuckDB spatial: a plain ``JOIN … ON ST_Contains`` (no de-duplication of border matches);
- the grid index alone (``processors/geo_index.py``, what geo_join looks points up in): the
  lookup of points already in the engine, one commune per point (the counterpart of sjoin
  alone), and apart the index build, which happens once per reference version (at install).

Usage: ``python bench/enrich.py --refdata ../shared/refdata [--sizes 1000000,5000000]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

SETUP = """
import sys, json, time
from portail.config import Settings
from portail.operations import open_instance
from portail.refdata import install
instance = open_instance(Settings(home=sys.argv[1]))
for _ in install(instance, sys.argv[2], ["communes"]):
    pass
from portail.catalog import services
with instance.session() as s:
    print(json.dumps({"ref": services.get_dataset(s, "ref-communes").current.location}))
"""

PORTAIL = """
import sys, json, time, resource, functools
from portail.config import Settings
from portail.operations import open_instance, load_file
from portail.catalog import services
from portail.ingest import load
from portail.store.duckdb_store import VersionBuild
phases = {}
def timed(name, function):
    @functools.wraps(function)
    def measured(*args, **kwargs):
        t = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            phases[name] = round(time.perf_counter() - t, 3)
    return measured
VersionBuild.create_records = timed("records_query", VersionBuild.create_records)
load.fulltext.build = timed("fulltext_index", load.fulltext.build)
instance = open_instance(Settings(home=sys.argv[1]))
steps = [{"processor": "geopoint", "lat": "lat", "lon": "lon"}] + ([{"processor": "geo_join"}] if sys.argv[3] == "join" else [])
with instance.session() as s:
    d = services.create_dataset(s, "points-" + str(time.time_ns()), "Points")
    services.set_pipeline(s, d, steps)
    slug = d.slug
t = time.perf_counter()
r = load_file(instance, slug, sys.argv[2], publish=True)
print(json.dumps({"seconds": time.perf_counter() - t, **phases, "outside": r.report.processors[-1].get("outside"),
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

GEOPANDAS = """
import sys, json, time, resource
import duckdb, geopandas, pandas, shapely
from portail.store.engine import connect
con = connect()
con.execute(f"ATTACH '{sys.argv[1]}' AS r (READ_ONLY)")
table = con.execute("SELECT code, ST_AsWKB(geo_shape) AS wkb FROM r.main.records WHERE geo_shape IS NOT NULL").to_arrow_table()
polygons = geopandas.GeoDataFrame({"code": table.column("code").to_pylist()},
                                  geometry=shapely.from_wkb(table.column("wkb").to_pylist()), crs=4326)
start = time.perf_counter()
points = pandas.read_csv(sys.argv[2])
points = geopandas.GeoDataFrame(points, geometry=geopandas.points_from_xy(points.lon, points.lat), crs=4326)
t = time.perf_counter()
joined = geopandas.sjoin(points, polygons, how="left", predicate="within")
print(json.dumps({"seconds": time.perf_counter() - start, "join_only": time.perf_counter() - t, "rows": len(joined),
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

DUCKDB = """
import sys, json, time, resource
from portail.store.engine import connect
con = connect()
con.execute(f"ATTACH '{sys.argv[1]}' AS r (READ_ONLY)")
con.execute(f"CREATE TEMP TABLE p AS SELECT ST_Point(lon, lat) AS pt FROM read_csv('{sys.argv[2]}')")
t = time.perf_counter()
n = con.execute("SELECT count(*) FROM p JOIN r.main.records c ON ST_Contains(c.geo_shape, p.pt)").fetchone()[0]
print(json.dumps({"seconds": time.perf_counter() - t, "matches": n,
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

INDEX_BUILD = """
import sys, json, time, resource, shutil, tempfile
from portail.processors import geo_index
with tempfile.TemporaryDirectory() as tmp:  # what geo_join pays once per reference version (at install)
    copy = shutil.copy(sys.argv[1], tmp)
    t = time.perf_counter()
    geo_index.ensure_index(copy)
    print(json.dumps({"seconds": time.perf_counter() - t, "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

INDEXED = """
import sys, json, time, resource
from sqlglot import exp
from portail.processors import geo_index
from portail.store.engine import connect
con = connect()
con.execute(f"ATTACH '{geo_index.ensure_index(sys.argv[1])}' AS g (READ_ONLY)")
con.execute(f"CREATE TEMP TABLE p AS SELECT ST_Point(lon, lat) AS pt FROM read_csv('{sys.argv[2]}')")
point = exp.column("pt", table="p")
key = geo_index.cell_key(exp.func("ST_X", point), exp.func("ST_Y", point.copy())).sql("duckdb")
code = geo_index.code_of("c", point.copy()).sql("duckdb")
t = time.perf_counter()
con.execute(f"CREATE TEMP TABLE j AS SELECT p.pt, {code} AS code FROM p LEFT JOIN g.main.records c ON c.cell = {key}")
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "matched": con.execute("SELECT count(code) FROM j").fetchone()[0],
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

TOOLS = "portail,portail_geopoint,geopandas_sjoin,duckdb_plain_join,grid_index,grid_index_build"


def points(path: Path, n: int, seed: int = 7) -> Path:
    """Points in metropolitan France's bounding box (some fall in the sea: they count as outside)."""
    rng = random.Random(seed)
    with open(path, "w") as handle:
        handle.write("id,lat,lon\n")
        for i in range(n):
            handle.write(f"{i},{42.3 + rng.random() * 8.7:.6f},{-4.8 + rng.random() * 12.9:.6f}\n")
    return path


def run(code: str, *args: str) -> dict:
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT)
    if result.returncode:
        return {"error": result.stderr.strip().splitlines()[-1][:200]}
    return json.loads([line for line in result.stdout.splitlines() if line.startswith("{")][-1])


def ratios(row: dict) -> dict:
    """geo_join's stage (its marginal cost in a load, its share of the records query, and the
    index lookup alone) against geopandas' sjoin alone, and both tools end to end."""
    join, alone = row.get("portail", {}), row.get("portail_geopoint", {})
    sjoin, grid = row.get("geopandas_sjoin", {}), row.get("grid_index", {})
    out = {}
    if "seconds" in join and "seconds" in alone:
        out["geo_join_stage_s"] = join["seconds"] - alone["seconds"]
        if "records_query" in join and "records_query" in alone:
            out["geo_join_query_s"] = join["records_query"] - alone["records_query"]
    if "join_only" in sjoin:
        for name, seconds in [("stage", out.get("geo_join_stage_s")), ("query", out.get("geo_join_query_s")),
                              ("lookup", grid.get("seconds"))]:
            if seconds:
                out[f"sjoin_alone_over_geo_join_{name}"] = sjoin["join_only"] / seconds
    if "seconds" in join and "seconds" in sjoin:
        out["geopandas_end_to_end_over_portail"] = sjoin["seconds"] / join["seconds"]
    return {k: round(v, 3) for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refdata", type=Path, default=ROOT.parent / "shared" / "refdata")
    parser.add_argument("--sizes", default="1000000,5000000")
    parser.add_argument("--tools", default=TOOLS, help="which of the tools to run (comma-separated)")
    args = parser.parse_args()
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    results: dict = {"load_average_at_start": os.getloadavg()}
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        home = Path(tmp) / "home"
        reference = run(SETUP, str(home), str(args.refdata))["ref"]
        for size in [int(s) for s in args.sizes.split(",") if s]:
            csv_path = points(Path(tmp) / f"points-{size}.csv", size)
            scripts = {"portail": (PORTAIL, str(home), "join"), "portail_geopoint": (PORTAIL, str(home), "geopoint"),
                       "geopandas_sjoin": (GEOPANDAS, reference), "duckdb_plain_join": (DUCKDB, reference),
                       "grid_index": (INDEXED, reference), "grid_index_build": (INDEX_BUILD, reference)}
            row: dict = {}
            for tool, (code, first, *rest) in scripts.items():
                if tool in args.tools.split(","):
                    row[tool] = {**run(code, first, str(csv_path), *rest), "load_average_1min": os.getloadavg()[0]}
            row["ratios"] = ratios(row)
            results[size] = row
            print(f"{size:>10,} points:", json.dumps(row, indent=1))
            csv_path.unlink()
    (out / "enrich.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
