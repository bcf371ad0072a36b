"""The longitude and latitude columns a version stores beside each geo_point_2d
(``schema.lonlat_columns``): written by the loader, read by the compiler, seen by no client.

Two datasets hold the same points: one as the loader writes it now, one turned into the layout
of versions built before (columns dropped, schema flag gone). Every geo query must return the
same rows and values from both: the stored-column path only changes how fast they come.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import replace

import duckdb
import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.catalog import services
from portail.odsql import Query, compile_query, to_sql
from portail.operations import load_file
from portail.schema import FieldType, fields_from_json, lonlat_columns

API = "/api/explore/v2.1/catalog/datasets"
POINT = "coordonnees"
STORED = lonlat_columns(POINT)


def _points() -> list[tuple[float, float]]:
    """(lat, lon): a dense cloud around Paris, the world, and the awkward cases: the edges and
    corners of the boxes queried below, the poles, the antimeridian."""
    rng = random.Random(7)
    paris = [(48.85 + rng.uniform(-0.03, 0.03), 2.35 + rng.uniform(-0.04, 0.04)) for _ in range(600)]
    world = [(rng.uniform(-90, 90), rng.uniform(-180, 180)) for _ in range(300)]
    edges = [(48.84, 2.33), (48.87, 2.37), (48.84, 2.37), (48.87, 2.33), (48.855, 2.33), (48.84, 2.35),
             (48.85, 2.35), (90.0, 0.0), (-90.0, 45.0), (89.99, 179.99), (0.0, 180.0), (0.0, -180.0), (0.5, 179.95),
             (0.5, -179.95)]
    return paris + world + edges


#: Coordinates out of range, which a "lat,lon" text column keeps as written: the great-circle
#: distance reads them modulo the sphere (latitude 95.5 is latitude 84.5 across the pole).
WILD = [(95.5, 20.25), (-120.25, 10.5), (10.5, 200.25), (10.5, -350.5)]


def _csv(path, points: list[tuple[float, float]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(["ident", "coordonnees", "groupe"])
        for i, (lat, lon) in enumerate(points):
            writer.writerow([i, f"{lat:.6f},{lon:.6f}", "ab"[i % 2]])
        writer.writerow([10_000, "", "a"])  # no point at all


def _to_old_layout(instance, slug: str) -> None:
    """The version as built before stored coordinates: no columns, no flag in the schema."""
    with instance.session() as s:
        version = services.get_dataset(s, slug).current
        version.fields = [{k: v for k, v in f.items() if k != "lonlat"} for f in version.fields]
        location = version.location
    con = duckdb.connect(location)
    for name in STORED:
        con.execute(f'ALTER TABLE records DROP COLUMN "{name}"')
    con.execute("CHECKPOINT")
    con.close()


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    from tests.conftest import make_instance

    home = tmp_path_factory.mktemp("lonlat")
    instance = make_instance(home / "home")
    _csv(home / "points.csv", _points())
    _csv(home / "wild.csv", _points() + WILD)
    for slug, source in (("new", "points.csv"), ("old", "points.csv"), ("wild", "wild.csv")):
        with instance.session() as s:
            services.create_dataset(s, slug, slug)
        load_file(instance, slug, home / source, publish=True)
    _to_old_layout(instance, "old")
    with TestClient(create_app(instance)) as client:
        yield instance, client
    instance.store.close()


def _location(instance, slug: str) -> str:
    with instance.session() as s:
        return services.get_dataset(s, slug).current.location


def _columns(instance, slug: str) -> list[str]:
    con = duckdb.connect(_location(instance, slug), read_only=True)
    try:
        return [row[0] for row in con.execute("DESCRIBE records").fetchall()]
    finally:
        con.close()


def test_new_versions_store_the_coordinates_and_old_ones_do_not(portal):
    instance, _ = portal
    assert set(STORED) <= set(_columns(instance, "new"))
    assert not set(STORED) & set(_columns(instance, "old"))
    with instance.session() as s:
        fields = fields_from_json(services.get_dataset(s, "new").current.fields)
    point = next(f for f in fields if f.name == POINT)
    assert point.type == FieldType.GEO_POINT_2D and point.lonlat
    assert not any(f.lonlat for f in fields if f.name != POINT)
    stored = _rows(instance, "new", f'SELECT ST_X("{POINT}") x, ST_Y("{POINT}") y, "{STORED[0]}" lon, "{STORED[1]}" lat '
                                     "FROM records")
    assert all(r["x"] == r["lon"] and r["y"] == r["lat"] for r in stored)


def _rows(instance, slug: str, sql: str) -> list[dict]:
    return instance.store.query(_location(instance, slug), sql).to_pylist()


def test_no_client_ever_sees_them(portal):
    instance, client = portal
    schema = client.get(f"{API}/new").json()["fields"]
    assert [f["name"] for f in schema] == ["ident", "coordonnees", "groupe"]
    assert all(set(f) == {"name", "label", "type", "annotations", "description"} for f in schema)
    assert client.get(f"{API}/new").json()["fields"] == client.get(f"{API}/old").json()["fields"]
    page = client.get(f"{API}/new/records", params={"select": "*", "limit": 100, "order_by": "ident",
                                                   "include_links": True}).json()["results"]
    assert set(page[0]) == {"_id", "_links", "ident", "coordonnees", "groupe"}
    old = client.get(f"{API}/old/records", params={"limit": 100, "order_by": "ident", "include_links": True}).json()
    unlinked = lambda rows: [{k: v for k, v in r.items() if k != "_links"} for r in rows]  # noqa: E731 (links name the dataset)
    assert unlinked(page) == unlinked(old["results"])  # same values, same record ids
    for fmt in ("csv", "json", "geojson", "jsonl"):
        text = client.get(f"{API}/new/exports/{fmt}").text
        assert "__l" not in text and text == client.get(f"{API}/old/exports/{fmt}").text
    missing = client.get(f"{API}/new/records", params={"select": STORED[0]})
    assert missing.status_code == 400 and "Unknown field" in missing.text


#: Geo queries (where, select, group_by, order_by) answered alike with and without the columns.
QUERIES = [
    Query(where=["in_bbox(coordonnees, 48.84, 2.33, 48.87, 2.37)"]),
    Query(where=["in_bbox(coordonnees, 48.87, 2.37, 48.84, 2.33)"]),
    Query(where=["in_bbox(coordonnees, -90, -180, 90, 180)"]),
    Query(where=["not in_bbox(coordonnees, 48.84, 2.33, 48.87, 2.37)"]),
    Query(where=["within_distance(coordonnees, geom'POINT(2.35 48.85)', 1km)"]),
    Query(where=["within_distance(coordonnees, geom'POINT(2.35 48.85)', 2.5km)"]),
    Query(where=["within_distance(coordonnees, geom'POINT(2.35 48.85)', 0m)"]),
    Query(where=["distance(coordonnees, geom'POINT(2.35 48.85)', 3km) and groupe = 'a'"]),
    Query(where=["not within_distance(coordonnees, geom'POINT(2.35 48.85)', 2km)"]),
    Query(where=["within_distance(coordonnees, geom'POINT(20 89.5)', 200km)"]),  # around the pole
    Query(where=["within_distance(coordonnees, geom'POINT(179.99 0.4)', 50km)"]),  # across the antimeridian
    Query(where=["within_distance(coordonnees, geom'POINT(9.5 10.5)', 5000km)"]),
    Query(where=["within_distance(coordonnees, geom'POINT(0 0)', 20000km)"]),
    Query(where=["within_distance(coordonnees, geom'POINT(362.35 48.85)', 300km)"]),  # a longitude past 180 (a latitude past 90 is refused)
    Query(where=["within_distance(coordonnees, geom'POINT(-358 48.85)', 300km)"]),
    Query(where=["intersects(coordonnees, geom'POLYGON((2.33 48.84, 2.37 48.84, 2.37 48.87, 2.33 48.87, 2.33 48.84))')"]),
    Query(where=["within(coordonnees, geom'POLYGON((2.33 48.84, 2.37 48.84, 2.35 48.87, 2.33 48.84))')"]),
    Query(where=["geometry(coordonnees, geom'POLYGON((2.33 48.84, 2.37 48.84, 2.35 48.87, 2.33 48.84))', WITHIN)"]),
    Query(where=["polygon(coordonnees, geom'POLYGON((2.33 48.84, 2.37 48.84, 2.35 48.87, 2.33 48.84))')"]),
    Query(where=["not intersects(coordonnees, geom'POLYGON((2.33 48.84, 2.37 48.84, 2.37 48.87, 2.33 48.84))')"]),
    Query(where=["disjoint(coordonnees, geom'POLYGON((2.33 48.84, 2.37 48.84, 2.37 48.87, 2.33 48.84))')"]),
    Query(select="ident, distance(coordonnees, geom'POINT(2.35 48.85)') as d", order_by="d, ident", limit=50),
    Query(select="geo_cluster(coordonnees, 3) as c, count(*) as n", group_by="geo_cluster(coordonnees, 3) as c"),
    Query(select="groupe, bbox(coordonnees) as b, avg(distance(coordonnees, geom'POINT(2 48)')) as d", group_by="groupe"),
    Query(select="coordonnees, count(*) as n", group_by="coordonnees", order_by="n desc, coordonnees", limit=20),
]


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: (q.where or [q.select])[0][:60])
def test_same_answers_with_and_without_stored_coordinates(portal, query):
    instance, _ = portal
    answers = {}
    for slug in ("new", "old"):
        with instance.session() as s:
            fields = fields_from_json(services.get_dataset(s, slug).current.fields)
        sql = compile_query(replace(query, select=query.select or "ident, coordonnees"), fields)
        # A group key stays the grouped column; anything else reads the stored doubles.
        assert (STORED[0] in to_sql(sql)) is (slug == "new" and query.group_by != "coordonnees")
        rows = instance.store.query(_location(instance, slug), sql).to_pylist()
        answers[slug] = sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)
    assert answers["new"] and answers["new"] == answers["old"]


def _idents(instance, slug: str, where: str) -> set[int]:
    with instance.session() as s:
        fields = fields_from_json(services.get_dataset(s, slug).current.fields)
    sql = compile_query(Query(select="ident", where=[where]), fields)
    return {r["ident"] for r in instance.store.query(_location(instance, slug), sql).to_pylist()}


def test_the_awkward_points_are_found(portal):
    """The points at the edges of what a prefilter keeps are really in the answers."""
    instance, _ = portal
    points = _points()
    corners = {points.index(p) for p in [(48.84, 2.33), (48.87, 2.37), (48.84, 2.37), (48.87, 2.33)]}
    assert corners <= _idents(instance, "new", "in_bbox(coordonnees, 48.84, 2.33, 48.87, 2.37)")
    assert corners <= _idents(instance, "new", "intersects(coordonnees, geom'POLYGON((2.33 48.84, 2.37 48.84, "
                                               "2.37 48.87, 2.33 48.87, 2.33 48.84))')")
    assert {points.index((0.5, 179.95)), points.index((0.5, -179.95))} <= _idents(
        instance, "new", "within_distance(coordonnees, geom'POINT(179.99 0.4)', 50km)")
    assert points.index((89.99, 179.99)) in _idents(instance, "new", "within_distance(coordonnees, geom'POINT(0 89.99)', 5km)")


def test_coordinates_out_of_range_are_not_stored(portal):
    """A version with a point out of range keeps no coordinate columns (a box on raw values
    cannot find what the great-circle distance reads modulo the sphere): queries decode."""
    instance, _ = portal
    assert not set(STORED) & set(_columns(instance, "wild"))
    with instance.session() as s:
        assert not any(f.lonlat for f in fields_from_json(services.get_dataset(s, "wild").current.fields))
    first = len(_points())
    assert first in _idents(instance, "wild", "within_distance(coordonnees, geom'POINT(-160 84.5)', 100km)")
    assert first + 2 in _idents(instance, "wild", "within_distance(coordonnees, geom'POINT(-159.75 10.5)', 10km)")
