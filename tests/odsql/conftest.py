"""A small real dataset for the ODSQL tests: the same rows as Python values (the oracle the
tests compute expected results from) and as a DuckDB ``records`` table with the store's
physical types (VARCHAR, BIGINT, DOUBLE, BOOLEAN, DATE, TIMESTAMPTZ, GEOMETRY, JSON)."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import duckdb
import pytest
import shapely

from portail.odsql import ODSQLError, Query, Security, compile_plan, to_sql
from portail.schema import Field, FieldType

UTC = timezone.utc
NOW = datetime(2021, 5, 6, 12, 0, tzinfo=UTC)

FIELDS = [
    Field("id", "Id", FieldType.INT),
    Field("name", "Name", FieldType.TEXT),
    Field("city", "City", FieldType.TEXT),
    Field("pop", "Population", FieldType.INT),
    Field("score", "Score", FieldType.DOUBLE),
    Field("flag", "Flag", FieldType.BOOLEAN),
    Field("d", "Day", FieldType.DATE),
    Field("ts", "Moment", FieldType.DATETIME),
    Field("geo", "Point", FieldType.GEO_POINT_2D),
    Field("shape", "Shape", FieldType.GEO_SHAPE),
    Field("tags", "Tags", FieldType.TEXT, annotations={"multivalued": [","]}),
    Field("secret", "Secret", FieldType.TEXT),
    Field("payload", "Payload", FieldType.JSON),
]

SQUARE = "POLYGON((4 45, 5 45, 5 46, 4 46, 4 45))"
LYON = "POLYGON((4.7 45.6, 5.0 45.6, 5.0 45.9, 4.7 45.9, 4.7 45.6))"
CORSICA = "MULTIPOLYGON(((8.5 41.3, 9.6 41.3, 9.6 43.0, 8.5 43.0, 8.5 41.3)))"


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# id, name, city, pop, score, flag, d, ts, geo (lon, lat), shape (WKT), tags, secret, payload
_RAW: list[tuple[Any, ...]] = [
    (1, "Saint-Étienne", "Saint-Étienne", 172565, 12.5, True, date(2020, 1, 15), _ts("2020-01-15T10:00:00Z"),
     (4.3872, 45.4397), SQUARE, "a,b", "s1", '{"k": 1}'),
    (2, "Paris", "Paris", 2165423, None, False, date(2021, 6, 1), _ts("2021-06-01T23:30:00Z"),
     (2.3522, 48.8566), None, "b", "s2", None),
    (3, None, None, None, 3.0, None, None, None, None, None, None, None, None),
    (4, "Lyon", "Lyon", 522250, 7.25, True, date(2019, 12, 31), _ts("2021-12-31T23:30:00Z"),
     (4.8357, 45.7640), LYON, "a, c", "s1", '[1, 2]'),
    (5, "Marseille", "Marseille", 870731, -2.5, False, date(2020, 2, 29), _ts("2020-02-29T12:00:00Z"),
     (5.3698, 43.2965), None, "", "s3", None),
    (6, "Nice", "Nice", 342669, 15.0, None, date(2018, 7, 14), _ts("2018-07-14T08:15:30.250Z"),
     (7.2620, 43.7102), None, "c", None, None),
    (7, "Évry", "Évry-Courcouronnes", 0, 0.0, True, date(2022, 3, 1), _ts("2022-03-01T00:00:00Z"),
     (2.4289, 48.6238), None, "a", "s2", None),
    (8, "l'Haÿ-les-Roses", "L'Haÿ-les-Roses", 31000, 100.125, False, date(2021, 1, 1), _ts("2020-12-31T23:59:59Z"),
     (2.3375, 48.7800), None, "b,c", "s2", None),
    (9, "Ajaccio", "Ajaccio", 71361, 15.0, True, date(2021, 1, 1), _ts("2021-07-01T06:00:00+02:00"),
     (8.7369, 41.9192), CORSICA, "a", "s3", None),
    (10, 'He said "hi"; DROP TABLE records; --', "Paris", 5, 1.5, False, date(2017, 1, 1), None,
     None, None, None, "s1", None),
    (11, "PARIS 12e arrondissement", "Paris", 140000, None, True, None, _ts("2017-01-01T00:00:00Z"),
     (2.3958, 48.8399), None, "d", "s1", None),
    (12, "Straße", "Berlin", 3645000, 2.0, None, date(2020, 1, 1), _ts("2020-01-01T00:00:00Z"),
     (13.4050, 52.5200), None, None, None, None),
]

COLUMNS = [f.name for f in FIELDS]


@dataclass(frozen=True)
class Row:
    id: int
    name: str | None
    city: str | None
    pop: int | None
    score: float | None
    flag: bool | None
    d: date | None
    ts: datetime | None
    geo: tuple[float, float] | None
    shape: str | None
    tags: str | None
    secret: str | None
    payload: str | None

    @property
    def point(self) -> shapely.Point | None:
        return shapely.Point(self.geo) if self.geo else None

    @property
    def polygon(self) -> shapely.Geometry | None:
        return shapely.from_wkt(self.shape) if self.shape else None


ROWS = [Row(*raw) for raw in _RAW]


def spatial_path() -> str:
    import duckdb_extension_spatial

    return glob.glob(os.path.dirname(duckdb_extension_spatial.__file__) + "/extensions/*/spatial.duckdb_extension")[0]


def build_connection() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"LOAD '{spatial_path()}'")
    con.execute("""CREATE TABLE records (id BIGINT, name VARCHAR, city VARCHAR, pop BIGINT, score DOUBLE,
                   flag BOOLEAN, d DATE, ts TIMESTAMPTZ, geo GEOMETRY, shape GEOMETRY, tags VARCHAR,
                   secret VARCHAR, payload JSON)""")
    for r in ROWS:
        point = f"POINT({r.geo[0]} {r.geo[1]})" if r.geo else None
        con.execute("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ST_GeomFromText(?), ST_GeomFromText(?), ?, ?, ?)",
                    [r.id, r.name, r.city, r.pop, r.score, r.flag, r.d, r.ts, point, r.shape, r.tags, r.secret,
                     r.payload])
    return con


@pytest.fixture(scope="session")
def con() -> duckdb.DuckDBPyConnection:
    connection = build_connection()
    yield connection
    connection.close()


def run(con: duckdb.DuckDBPyConnection, security: Security | None = None, **query: Any) -> list[dict[str, Any]]:
    """Compile a query over FIELDS, run it, and return the rows as dicts."""
    query.setdefault("now", NOW)
    plan = compile_plan(Query(**query), FIELDS, security)
    assert_tree(plan.select)
    cursor = con.execute(to_sql(plan.select))
    names = [d[0] for d in cursor.description]
    assert names == [c.name for c in plan.columns]
    return [dict(zip(names, values)) for values in cursor.fetchall()]



def refusal(con: duckdb.DuckDBPyConnection, **query: Any) -> str:
    """The message the query is refused with (an ``ODSQLError``: the API's 400)."""
    with pytest.raises(ODSQLError) as caught:
        run(con, **query)
    return str(caught.value)


def assert_tree(select) -> None:
    """No sqlglot node is shared between two places of the tree (a later transform would move it)."""
    seen: set[int] = set()
    for node in select.walk():
        assert id(node) not in seen, f"shared node {node.sql()}"
        seen.add(id(node))
        for child in node.iter_expressions():
            assert child.parent is node, f"misparented node {child.sql()} under {node.key}"


def ids(con: duckdb.DuckDBPyConnection, *where: str, security: Security | None = None, **query: Any) -> list[int]:
    """The ids of the rows a where clause keeps, sorted."""
    return sorted(r["id"] for r in run(con, security, select="id", where=list(where), **query))


def expect(predicate) -> list[int]:
    """The ids of the rows a Python predicate keeps (a predicate tripping on a None is false)."""
    kept = []
    for r in ROWS:
        try:
            if predicate(r):
                kept.append(r.id)
        except (TypeError, AttributeError):
            pass
    return sorted(kept)
