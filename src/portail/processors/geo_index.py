"""A grid index over reference polygons, so that a point finds its polygon by a hash join.

Why: a spatial join of a million points against ~35,000 commune contours spends its time in
point-in-polygon tests on large polygons, and overlapping simplified contours force a second
pass (numbering, grouping) to keep one commune per point. The index moves that work to one
build per reference version:

- the plane is cut in square cells of ``CELL`` degrees; each cell keeps the codes of the
  polygons whose *interior* meets it, in code order, and for each either nothing (the polygon
  covers the whole cell: the answer needs no test) or the polygon clipped to the cell (a few
  vertices instead of hundreds);
- where simplified contours overlap, a clipped piece loses the parts of pieces with a smaller
  code, so the pieces of a cell are disjoint and a point matches at most one of them.

A lookup is then one equality hash join on the cell key (one row per cell, so never more than
one row per point) and, only in boundary cells, ``ST_Contains`` on small pieces. The rule is
the one of the plain join it replaces: a point belongs to a polygon that contains it strictly
(``ST_Contains``: a point exactly on a border belongs to none), and where contours overlap the
smallest code wins. Cells are clipped with a margin of ``MARGIN`` degrees so that points on a
cell edge are tested against the real contour, not against the cut.

The index is pure data derived from one immutable reference version, so it never needs
invalidation; it must not hold anything else (no dataset records, no configuration).
"""

from __future__ import annotations

from sqlglot import exp

#: Side of a cell in degrees (about 2 km): measured on the commune contours, 0.02 gives
#: 182,000 non-empty cells, 23 % of them inside one commune, pieces of ~7 vertices.
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
        f"""CREATE TEMP TABLE __cand AS
        WITH p AS (SELECT code::VARCHAR AS code, geo_shape AS g,
                          floor(ST_XMin(geo_shape) / {d})::INT AS x0, floor(ST_XMax(geo_shape) / {d})::INT AS x1,
                          floor(ST_YMin(geo_shape) / {d})::INT AS y0, floor(ST_YMax(geo_shape) / {d})::INT AS y1
                   FROM {polygons} WHERE geo_shape IS NOT NULL AND NOT ST_IsEmpty(geo_shape)),
             px AS (SELECT code, g, y0, y1, unnest(range(x0, x1 + 1)) AS ix FROM p),
             pxy AS (SELECT code, g, ix, unnest(range(y0, y1 + 1)) AS iy FROM px),
             b AS (SELECT code, g, ix, iy, ST_MakeEnvelope(ix * {d} - {m}, iy * {d} - {m},
                                                           (ix + 1) * {d} + {m}, (iy + 1) * {d} + {m}) AS box FROM pxy)
        SELECT code, ix, iy, box, ST_Covers(g, box) AS inside,
               CASE WHEN NOT ST_Covers(g, box) THEN ST_CollectionExtract(ST_Intersection(g, box), 3) END AS piece
        FROM b WHERE ST_Intersects(g, box)""",
        # Pieces of one cell whose interiors meet: the larger code gives way to the smaller.
        """CREATE TEMP TABLE __overlap AS
        SELECT a.code, a.ix, a.iy, ST_Union_Agg(coalesce(b.piece, b.box)) AS cover
        FROM __cand a JOIN __cand b ON a.ix = b.ix AND a.iy = b.iy AND b.code < a.code
        WHERE ST_Intersects(coalesce(a.piece, a.box), coalesce(b.piece, b.box))
          AND NOT ST_Touches(coalesce(a.piece, a.box), coalesce(b.piece, b.box))
        GROUP BY ALL""",
        f"""CREATE TABLE {target} AS
        WITH resolved AS (
            SELECT c.code, c.ix, c.iy, count(*) OVER (PARTITION BY c.ix, c.iy) AS n, c.inside,
                   CASE WHEN o.cover IS NULL THEN coalesce(c.piece, c.box)
                        ELSE ST_CollectionExtract(ST_Difference(coalesce(c.piece, c.box), o.cover), 3) END AS piece
            FROM __cand c LEFT JOIN __overlap o USING (code, ix, iy))
        SELECT {key} AS cell, list(code ORDER BY code) AS codes,
               list(CASE WHEN n = 1 AND inside THEN NULL ELSE piece END ORDER BY code) AS pieces
        FROM resolved WHERE NOT ST_IsEmpty(piece)
        GROUP BY ALL ORDER BY cell""",
        "DROP TABLE __cand",
        "DROP TABLE __overlap",
    ]


def build(con, polygons: str, target: str) -> None:
    """Create the index table ``target`` on the connection (spatial extension loaded)."""
    for statement in build_statements(polygons, target):
        con.execute(statement)


def code_of(cells_alias: str, point: exp.Expression) -> exp.Expression:
    """The code of the polygon holding ``point``, given the index row joined on its cell (null
    outside every polygon): no test in an interior cell, else the first piece that contains it."""
    codes = exp.column("codes", table=cells_alias)
    pieces = exp.column("pieces", table=cells_alias)

    def item(array: exp.Expression, position: exp.Expression) -> exp.Expression:
        return exp.Bracket(this=array, expressions=[position], offset=1)

    one = exp.Literal.number(1)
    interior = exp.and_(exp.EQ(this=exp.func("len", codes.copy()), expression=one.copy()),
                        exp.Is(this=item(pieces.copy(), one.copy()), expression=exp.Null()))
    tested = exp.Lambda(this=exp.func("coalesce", exp.func("ST_Contains", exp.column("x"), point.copy()), exp.true()),
                        expressions=[exp.to_identifier("x")])
    position = exp.func("list_position", exp.func("list_transform", pieces.copy(), tested), exp.true())
    return exp.Case(ifs=[exp.If(this=interior, true=item(codes.copy(), one.copy()))], default=item(codes, position))
