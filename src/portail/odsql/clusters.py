"""``geo_cluster()``'s second step: clusters whose centroids are closer than the radius merge.

Opendatasoft clusters in two steps (the reference's §5.5): points are grouped by a grid cell
whose size follows the zoom and the radius, then clusters whose centroids are closer than the
radius merge. Without the second step, a tight group of points astride a cell border shows as
two bubbles side by side on a map.

The second step needs the first one's centroids over the rows the query keeps, every condition
included: the compiler's, the caller's record filter, and those the API adds afterwards
(refine, exclude, ``q``). So it is a rewrite of the finished SELECT (:func:`merge_clusters`),
run by whoever adds the last condition, before the SELECT is wrapped in a count or a page:

1. ``cells``: the first step's cells (with the query's other group keys), each with its
   centroid and its number of points;
2. ``near``: each cell's heaviest neighbour whose centroid is closer than the radius, itself
   included (only the 3×3 block of cells around it can be: a centroid lies in its cell and the
   radius is a cell wide); ties go to the greatest cell. A cell that is its own heaviest
   neighbour is a centre;
3. ``merged``: each cell joins its heaviest neighbouring centre closer than the radius (a
   centre joins itself); a cell with none stays apart. One hop: clusters never chain across
   the map, and a cluster spans at most the 3×3 cells around its centre;
4. the query itself groups each row by the cell its cell joined instead of its own cell, so
   every output (``count(*)``, sums, the centroid, ``envelope()``) is computed over the merged
   cluster's rows, exactly.

Distances are measured in degrees, as the cells are cut (``functions._geo_cluster``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

#: The key of a geo_cluster() cell expression's ``meta`` (sqlglot keeps it on copies).
CELL = "geo_cluster_cell"

_GRID, _CELLS, _NEAR, _MERGED = "__cluster_grid", "__cluster_cells", "__cluster_near", "__cluster_merged"


@dataclass(frozen=True)
class Cells:
    """What the second step needs of the first, carried by both cell expressions' ``meta``."""

    x: exp.Expression  # the point's longitude
    y: exp.Expression  # its latitude
    size: float  # a cell's width in degrees: also the radius under which centroids merge
    axis: str  # "x" or "y": which of the two cell expressions this is


def mark(cell_x: exp.Expression, cell_y: exp.Expression, x: exp.Expression, y: exp.Expression, size: float) -> None:
    """Mark geo_cluster()'s two cell expressions for :func:`merge_clusters`."""
    cell_x.meta[CELL] = Cells(x, y, size, "x")
    cell_y.meta[CELL] = Cells(x, y, size, "y")


def _marked(keys: list[exp.Expression]) -> list[int]:
    return [i for i, e in enumerate(keys) if isinstance(e.meta.get(CELL) if e.meta else None, Cells)]


def merges_clusters(select: exp.Select) -> bool:
    """Does :func:`merge_clusters` change ``select``? Then its conditions are read twice (the
    cells' and the query's own): a placeholder in them would need its value twice."""
    group = select.args.get("group")
    return group is not None and len(_marked(list(group.expressions))) == 2


def merge_clusters(select: exp.Select, heaviest: int | None = None) -> exp.Select:
    """``select`` grouped by merged clusters when it groups by one geo_cluster(), else itself
    (two geo_cluster() keys keep their cells). Changes ``select`` in place: callers hand over a
    SELECT built for one call.

    ``heaviest``: only that many cells, the heaviest, take part in the merge; the others stay
    apart. A fine grid (zoom 25: cells of 20 cm) makes a cell per point, and merging millions of
    cells costs ten times the grouping itself: 30 s of CPU for one public call. A caller that
    shows a bounded number of groups merges as many cells as it shows, as Opendatasoft's engine
    merges the buckets its aggregation returns (its ``size``); at or under that many cells, the
    merge is the whole one."""
    if not merges_clusters(select):
        return select
    group = select.args["group"]
    keys = list(group.expressions)
    marked = _marked(keys)
    ix, iy = (marked if keys[marked[0]].meta[CELL].axis == "x" else marked[::-1])
    spec: Cells = keys[ix].meta[CELL]
    others = [e for i, e in enumerate(keys) if i not in (ix, iy)]
    parts = [f"__p{i}" for i in range(len(others))]

    def col(name: str, table: str | None = None) -> exp.Column:
        return exp.column(name, table=table, quoted=True)

    # 1. the first step's cells over the rows the query keeps
    cells = exp.select(*[exp.alias_(o.copy(), p, quoted=True) for o, p in zip(others, parts)],
                       exp.alias_(keys[ix].copy(), "__cx", quoted=True), exp.alias_(keys[iy].copy(), "__cy", quoted=True),
                       exp.alias_(exp.Count(this=exp.Star()), "__n", quoted=True),
                       exp.alias_(exp.func("avg", spec.x.copy()), "__ax", quoted=True),
                       exp.alias_(exp.func("avg", spec.y.copy()), "__ay", quoted=True))
    cells.set("from_", select.args["from_"].copy())
    if select.args.get("joins"):
        cells.set("joins", [j.copy() for j in select.args["joins"]])
    present = exp.Not(this=exp.Is(this=keys[ix].copy(), expression=exp.Null()))
    where = select.args.get("where")
    cells = cells.where(exp.and_(where.this.copy(), present) if where is not None else present, copy=False)
    cells = cells.group_by(*[o.copy() for o in others], keys[ix].copy(), keys[iy].copy(), copy=False)
    grid = None
    if heaviest is not None:
        # Ties go to the greatest cell, as in ``heaviest_close``'s weight (n, x, y): a cell kept
        # has its heavier neighbours kept, so whether it is a centre is as in the whole merge (the
        # smallest kept first, a cell could centre a cluster whose centre was left out). Parts make
        # the order total, so that the same cells are kept each time.
        # The heaviest are the cells whose sort key is at most the ``heaviest``-th smallest, which
        # a bounded min() finds in one pass: ORDER BY ... LIMIT sorted every cell (DuckDB's top-N
        # is for limits under ~1% of the rows), 2 M at zoom 25; 2.8 -> 1.9 s of CPU over 2 M points.
        order = [(col("__n"), "DESC"), *[(col(p), "ASC") for p in parts], (col("__cx"), "DESC"), (col("__cy"), "DESC")]
        key = exp.Anonymous(this="create_sort_key", expressions=[  # ORDER BY's order, as bytes
            e for c, direction in order for e in (c, exp.Literal.string(f"{direction} NULLS LAST"))])
        smallest = exp.Anonymous(this="min", expressions=[key.copy(), exp.Literal.number(heaviest)])  # a sorted list
        last = exp.select(exp.func("list_extract", smallest, exp.Literal.number(-1))).from_(exp.to_identifier(_GRID, quoted=True))
        grid, cells = cells, exp.select("*").from_(exp.to_identifier(_GRID, quoted=True)).where(
            exp.LTE(this=key, expression=last.subquery()), copy=False)

    def same_parts(a: str, b: str) -> list[exp.Expression]:
        return [exp.NullSafeEQ(this=col(p, a), expression=col(p, b)) for p in parts]

    # 2. each cell's heaviest neighbour closer than the radius (itself included): a cell that
    # is its own is a centre
    offsets = exp.select("*").from_(exp.Values(
        expressions=[exp.Tuple(expressions=[exp.Literal.number(dx), exp.Literal.number(dy)])
                     for dx in (-1, 0, 1) for dy in (-1, 0, 1)],
        alias=exp.TableAlias(this=exp.to_identifier("d"), columns=[exp.to_identifier("dx"), exp.to_identifier("dy")])))

    def heaviest_close(table: str, centres_only: bool) -> exp.Select:
        """Each cell of ``table`` with its heaviest neighbour in ``table`` closer than the radius."""
        dx = exp.Paren(this=exp.Sub(this=col("__ax", "b"), expression=col("__ax", "a")))
        dy = exp.Paren(this=exp.Sub(this=col("__ay", "b"), expression=col("__ay", "a")))
        close = exp.LT(this=exp.Add(this=exp.Mul(this=dx, expression=dx.copy()), expression=exp.Mul(this=dy, expression=dy.copy())),
                       expression=exp.Literal.number(repr(spec.size * spec.size)))
        weight = exp.func("struct_pack", *[exp.PropertyEQ(this=exp.to_identifier(k), expression=col(c, "b"))
                                           for k, c in (("n", "__n"), ("x", "__cx"), ("y", "__cy"))])
        neighbours = exp.and_(
            exp.EQ(this=col("__cx", "b"), expression=exp.Add(this=col("__cx", "a"), expression=col("dx", "d"))),
            exp.EQ(this=col("__cy", "b"), expression=exp.Add(this=col("__cy", "a"), expression=col("dy", "d"))),
            *same_parts("a", "b"), close, *([col("__centre", "b")] if centres_only else []))
        own = [col(p, "a") for p in parts] + [col(c, "a") for c in ("__cx", "__cy", "__n", "__ax", "__ay")]
        return exp.select(*own, exp.alias_(exp.func("arg_max", _pair(col("__cx", "b"), col("__cy", "b")), weight), "__t",
                                           quoted=True)) \
            .from_(exp.Table(this=exp.to_identifier(table, quoted=True), alias=exp.TableAlias(this=exp.to_identifier("a")))) \
            .join(offsets.subquery("d")) \
            .join(exp.Table(this=exp.to_identifier(table, quoted=True), alias=exp.TableAlias(this=exp.to_identifier("b"))),
                  on=neighbours) \
            .group_by(*[c.copy() for c in own])

    t = exp.column("__t", quoted=True)
    near = exp.select("*", exp.alias_(exp.and_(
        exp.EQ(this=exp.Dot(this=t, expression=exp.to_identifier("x")), expression=exp.column("__cx", quoted=True)),
        exp.EQ(this=exp.Dot(this=t.copy(), expression=exp.to_identifier("y")), expression=exp.column("__cy", quoted=True))),
        "__centre", quoted=True)).from_(heaviest_close(_CELLS, False).subquery("h"))

    # 3. each cell joins its heaviest neighbouring centre closer than the radius (a centre,
    # itself); a cell with none stays apart
    merged = heaviest_close(_NEAR, True)

    # 4. each row grouped by the cluster its cell joined
    joined = exp.and_(exp.EQ(this=col("__cx", _MERGED), expression=keys[ix].copy()),
                      exp.EQ(this=col("__cy", _MERGED), expression=keys[iy].copy()),
                      *[exp.NullSafeEQ(this=col(p, _MERGED), expression=o.copy()) for o, p in zip(others, parts)])
    merged_cell = {keys[i]: exp.Coalesce(this=exp.Dot(this=col("__t", _MERGED), expression=exp.to_identifier(axis)),
                                         expressions=[keys[i].copy()])
                   for i, axis in ((ix, "x"), (iy, "y"))}
    # The cells are replaced wherever the query reads them (its keys, an ordering by the key).
    select = select.transform(lambda node: merged_cell[node].copy() if node in merged_cell else node, copy=False)
    select = select.join(exp.Table(this=exp.to_identifier(_MERGED, quoted=True)), on=joined, join_type="left", copy=False)
    # Materialized: each is read twice or more (a cell, its neighbours), and the engine may
    # otherwise compute it, the query's conditions included, once per reading. The merge still
    # costs the conditions twice (the cells', the query's) and a join: 3-5x the grid alone.
    if grid is not None:
        select = select.with_(exp.to_identifier(_GRID, quoted=True), as_=grid, materialized=True, copy=False)
    select = select.with_(exp.to_identifier(_CELLS, quoted=True), as_=cells, materialized=True, copy=False)
    select = select.with_(exp.to_identifier(_NEAR, quoted=True), as_=near, materialized=True, copy=False)
    return select.with_(exp.to_identifier(_MERGED, quoted=True), as_=merged, materialized=True, copy=False)


def _pair(x: exp.Expression, y: exp.Expression) -> exp.Expression:
    return exp.func("struct_pack", exp.PropertyEQ(this=exp.to_identifier("x"), expression=x),
                    exp.PropertyEQ(this=exp.to_identifier("y"), expression=y))
