"""A grid index over reference polygons, so that a point finds its polygon by a hash join.

Why: a spatial join of a million points against ~35,000 commune contours spends its time in
point-in-polygon tests on large polygons, and overlapping simplified contours force a second
pass (numbering, grouping) to keep one commune per point. The index moves that work to one
build per reference version:

- the plane is cut in square cells of ``CELL`` degrees; each cell keeps the codes of the
  polygons whose *interior* meets it, largest piece first, and for each either nothing (the polygon
  covers the whole cell: the answer needs no test) or the polygon clipped to the cell (a few
  vertices instead of hundreds);
- where simplified contours overlap, a clipped piece loses the parts of pieces with a smaller
  code, so the pieces of a cell are disjoint and a point matches at most one of them.

A lookup is then one equality hash join on the cell key (one row per cell, so never more than
one row per point) and, only in boundary cells, ``ST_Contains`` on small pieces, largest first
(the pieces of a cell being disjoint, the first that contains the point is the answer). The rule is
the one of the plain join it replaces: a point belongs to a polygon that contains it strictly
(``ST_Contains``: a point exactly on a border belongs to none), and where contours overlap the
smallest code wins. Cells are clipped with a margin of ``MARGIN`` degrees so that points on a
cell edge are tested against the real contour, not against the cut. The one known difference:
a point on a border shared by two contours, to double precision, may fall in the other commune,
because the cut recomputes that border's segments (1 of the benchmark's 1,000,000 points).

The index is pure data derived from one immutable reference version, so it never needs
invalidation; it must not hold anything else (no dataset records, no configuration). It lives in
a file beside the version file (``v000001.duckdb.geoindex``, its table named ``records`` like a
version's), built by :func:`ensure_index` the first time a load needs it (or at
``portail refdata install`` for ``ref-communes``) and reused by every later load of any dataset.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from pathlib import Path

from sqlglot import exp

from portail.store.duckdb_store import RECORDS, fsync_path
from portail.store.engine import connect

#: Side of a cell in degrees (about 2 km): measured on the commune contours, 0.02 gives
#: 182,000 non-empty cells, 23 % of them inside one commune, pieces of ~7 vertices. The trade
#: between the lookup of 1 M points and the build (same run): 0.01° 0.38 s / 20.9 s, 0.02°
#: 0.45 s / 10.1 s, 0.04° 0.50 s / 6.1 s.
CELL = 0.02
#: Clipping margin around each cell, in degrees (about 0.1 mm).
MARGIN = 1e-9
#: Offsets keeping both cell coordinates positive in the key.
_X_OFFSET, _Y_OFFSET, _Y_SPAN = 40_000, 20_000, 65_536


def cell_key(x: exp.Expression, y: exp.Expression) -> exp.Expression:
    """The key of the cell holding the point (x, y): half-open cells, one key per point."""
    def index(value: exp.Expression, offset: int) -> exp.Expression:
        scaled = exp.func("floor", exp.Div(this=value, expression=exp.Literal.number(CELL)))
        return exp.Paren(this=exp.Add(this=exp.cast(scaled, "BIGINT"), expression=exp.Literal.number(offset)))

    return exp.Add(this=exp.Mul(this=index(x, _X_OFFSET), expression=exp.Literal.number(_Y_SPAN)),
                   expression=index(y, _Y_OFFSET))


def build_statements(polygons: str, target: str) -> list[str]:
    """SQL creating the table ``target`` (cell BIGINT, codes VARCHAR[], pieces GEOMETRY[]) from
    ``polygons``, a table or subquery with columns ``code`` and ``geo_shape``."""
    d, m = CELL, MARGIN
    key = f"(ix + {_X_OFFSET})::BIGINT * {_Y_SPAN} + (iy + {_Y_OFFSET})"
    return [
        # The (polygon, cell) pairs of each polygon's bounding box first: materialized, they are
        # split among the engine's threads for the geometry work below (one source row group
        # of 35,000 polygons would keep it on one thread).
        f"""CREATE TEMP TABLE __pairs AS
        WITH p AS (SELECT code::VARCHAR AS code, geo_shape AS g,
                          floor(ST_XMin(geo_shape) / {d})::INT AS x0, floor(ST_XMax(geo_shape) / {d})::INT AS x1,
                          floor(ST_YMin(geo_shape) / {d})::INT AS y0, floor(ST_YMax(geo_shape) / {d})::INT AS y1
                   FROM {polygons} WHERE geo_shape IS NOT NULL AND NOT ST_IsEmpty(geo_shape)),
             px AS (SELECT code, g, y0, y1, unnest(range(x0, x1 + 1)) AS ix FROM p)
        SELECT code, g, ix, unnest(range(y0, y1 + 1)) AS iy FROM px""",
        f"""CREATE TEMP TABLE __cand AS
        WITH b AS (SELECT code, g, ix, iy, ST_MakeEnvelope(ix * {d} - {m}, iy * {d} - {m},
                                                           (ix + 1) * {d} + {m}, (iy + 1) * {d} + {m}) AS box FROM __pairs),
             i AS (SELECT code, g, ix, iy, box, ST_Covers(g, box) AS inside FROM b WHERE ST_Intersects(g, box))
        SELECT code, ix, iy, box, inside,
               CASE WHEN NOT inside THEN ST_CollectionExtract(ST_Intersection(g, box), 3) END AS piece
        FROM i""",
        "DROP TABLE __pairs",  # a copy of each polygon per cell of its box: freed before the rest
        # Pieces of one cell whose interiors meet: the larger code gives way to the smaller.
        """CREATE TEMP TABLE __overlap AS
        SELECT a.code, a.ix, a.iy, ST_Union_Agg(coalesce(b.piece, b.box)) AS cover
        FROM __cand a JOIN __cand b ON a.ix = b.ix AND a.iy = b.iy AND b.code < a.code
        WHERE ST_Intersects(coalesce(a.piece, a.box), coalesce(b.piece, b.box))
          AND NOT ST_Touches(coalesce(a.piece, a.box), coalesce(b.piece, b.box))
        GROUP BY ALL""",
        # Materialized: as a subquery, the engine computed each difference twice (once in the
        # filter on empty pieces, once for the pieces kept), ~2 s of the commune index's build.
        """CREATE TEMP TABLE __resolved AS
        SELECT c.code, c.ix, c.iy, count(*) OVER (PARTITION BY c.ix, c.iy) AS n, c.inside,
               CASE WHEN o.cover IS NULL THEN coalesce(c.piece, c.box)
                    ELSE ST_CollectionExtract(ST_Difference(coalesce(c.piece, c.box), o.cover), 3) END AS piece
        FROM __cand c LEFT JOIN __overlap o USING (code, ix, iy)""",
        "DROP TABLE __cand",
        "DROP TABLE __overlap",
        f"""CREATE TABLE {target} AS
        WITH sized AS (SELECT *, ST_Area(piece) AS area FROM __resolved WHERE NOT ST_IsEmpty(piece))
        SELECT {key} AS cell, list(code ORDER BY area DESC, code) AS codes,
               list(CASE WHEN n = 1 AND inside THEN NULL ELSE piece END ORDER BY area DESC, code) AS pieces
        FROM sized GROUP BY ALL ORDER BY cell""",
        "DROP TABLE __resolved",
    ]


def build(con, polygons: str, target: str) -> None:
    """Create the index table ``target`` on the connection (spatial extension loaded)."""
    for statement in build_statements(polygons, target):
        con.execute(statement)


def index_path(version_path: str) -> Path:
    """Where the index of a reference version lives: beside it, named after it (the store drops
    a version's derived files with it)."""
    return Path(version_path + ".geoindex")


def ensure_index(version_path: str) -> str:
    """The path of the index of the reference version at ``version_path`` (polygons in its
    ``records``: ``code``, ``geo_shape``), built if it does not exist yet.

    Once per version: a version file never changes, so neither does its index. Builders of the
    same index wait on one lock and the later ones find it built; the file is written under a
    temporary name and renamed into place, so a reader never opens a half-written index."""
    target = index_path(version_path)
    if target.exists():
        return str(target)
    with open(f"{target}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.exists():
            _write(version_path, target)
    return str(target)


def _write(version_path: str, target: Path) -> None:
    """Build the index into a temporary file (removed on failure), then rename it to ``target``."""
    partial = target.with_name(f"{target.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    con = connect()
    try:
        con.execute(f"ATTACH '{_quoted(version_path)}' AS src (READ_ONLY)")
        con.execute(f"ATTACH '{_quoted(str(partial))}' AS idx")
        build(con, f"src.main.{RECORDS}", f"idx.main.{RECORDS}")
        con.execute("CHECKPOINT idx")
        con.execute("DETACH idx")
    except BaseException:
        for leftover in partial.parent.glob(partial.name + "*"):
            leftover.unlink(missing_ok=True)
        raise
    finally:
        con.close()
    fsync_path(partial)
    os.replace(partial, target)
    fsync_path(target.parent)


def _quoted(path: str) -> str:
    return path.replace("'", "''")


#: Pieces tested one by one, largest first, before the rest of a cell's go through one list
#: test: the engine evaluates a CASE branch only on the rows the earlier ones left, so most
#: points take one test (measured on 1 M points: 0.76 s instead of 1.14 s testing every piece).
TESTED_FIRST = 4


def code_of(cells_alias: str, point: exp.Expression) -> exp.Expression:
    """The code of the polygon holding ``point``, given the index row joined on its cell (null
    outside every polygon): no test in an interior cell, else the piece that contains it. The
    pieces of a cell are disjoint, so the order of the tests cannot change the answer."""
    codes = exp.column("codes", table=cells_alias)
    pieces = exp.column("pieces", table=cells_alias)

    def item(array: exp.Expression, position: int | exp.Expression) -> exp.Expression:
        index = exp.Literal.number(position) if isinstance(position, int) else position
        return exp.Bracket(this=array.copy(), expressions=[index], offset=1)

    def contains(piece: exp.Expression) -> exp.Expression:
        return exp.func("ST_Contains", piece, point.copy())

    ifs = [exp.If(this=exp.Is(this=item(pieces, 1), expression=exp.Null()), true=item(codes, 1))]
    ifs += [exp.If(this=contains(item(pieces, i)), true=item(codes, i)) for i in range(1, TESTED_FIRST + 1)]
    rest = exp.Anonymous(this="list_slice", expressions=[pieces.copy(), exp.Literal.number(TESTED_FIRST + 1),
                                                         exp.func("len", pieces.copy())])
    tested = exp.Lambda(this=contains(exp.column("x")), expressions=[exp.to_identifier("x")])
    position = exp.func("list_position", exp.func("list_transform", rest, tested), exp.true())
    return exp.Case(ifs=ifs, default=item(codes, exp.Add(this=exp.Literal.number(TESTED_FIRST), expression=position)))
