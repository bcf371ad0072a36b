"""``geo_cluster()``'s second step: clusters whose centroids are closer than the radius merge.

Opendatasoft clusters in two steps (the reference's §5.5): points are grouped by a grid cell
whose size follows the zoom and the radius, then clusters whose centroids are closer than the
radius merge. Without the second step, a tight group of points astride a cell border shows as
two bubbles side by side on a map.

The second step needs the first one's centroids over the rows the query keeps, every condition
included: the compiler's, the caller's record filter, and those the API adds afterwards
(refine, exclude, ``q``). So it is a rewrite of the finished SELECT (:func:`merge_clusters`),
run by whoever adds the last condition, before the SELECT is wrapped in a count or a page:

1. ``grid``: the first step's cells (with the query's other group keys), each with its
   centroid, its number of points and the query's own aggregates over its points;
2. ``cells``: the cells that take part in the merge (the heaviest, when it is bounded);
3. ``near``: each cell's heaviest neighbour whose centroid is closer than the radius, itself
   included (only the 3×3 block of cells around it can be: a centroid lies in its cell and the
   radius is a cell wide); ties go to the greatest cell. A cell that is its own heaviest
   neighbour is a centre;
4. ``merged``: each cell joins its heaviest neighbouring centre closer than the radius (a
   centre joins itself); a cell with none stays apart. One hop: clusters never chain across
   the map, and a cluster spans at most the 3×3 cells around its centre;
5. ``joined``: the cells of the clusters of two cells or more, each with its cluster's cell;
6. the query's groups: a cluster of one cell is that cell's row of the grid. The others are
   their cells' rows of the grid grouped by the cell they joined when every value the query
   reads off its groups combines from its cells' (:func:`_combined`: counts, sums, min, max,
   avg as a sum over a count, the centroid's among them); else the query's rows of their
   cells are grouped again by it, so that every output (``envelope()``, a median,
   ``count(distinct)``) is computed over the merged cluster's rows. The query reads its
   outputs, ordering and HAVING off these groups.

At fine zooms nearly every cluster is one cell, and the rows are grouped once: grouping every
row again by its cluster, as the query did before, cost as much as the grid itself (2 M points
at zoom 25: two groupings into 2 M groups). At coarse zooms (France at zoom 5: a map's first
view) nearly every cell joins a cluster of several: regrouping their rows grouped nearly every
row twice, where combining their cells' values groups a few thousand cells.

Distances are measured in degrees, as the cells are cut (``functions._geo_cluster``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

#: The key of a geo_cluster() cell expression's ``meta`` (sqlglot keeps it on copies).
CELL = "geo_cluster_cell"

_GRID, _CELLS, _NEAR, _MERGED, _JOINED, _GROUPS = (
    "__cluster_grid", "__cluster_cells", "__cluster_near", "__cluster_merged", "__cluster_joined", "__cluster_groups")


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
    grid's and the merged clusters' rows'): a placeholder in them would need its value twice."""
    group = select.args.get("group")
    return group is not None and len(_marked(list(group.expressions))) == 2


def merge_clusters(select: exp.Select, heaviest: int | None = None) -> exp.Select:
    """``select`` grouped by merged clusters when it groups by one geo_cluster(), else itself
    (two geo_cluster() keys keep their cells). Changes ``select`` in place: callers hand over a
    SELECT built for one call. It stays a SELECT of the same outputs, ordering, limit and
    offset, which callers extend (a count of its groups, a page of them).

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
    cell_x, cell_y = keys[ix], keys[iy]
    source = select.args["from_"]
    joins = select.args.get("joins") or []
    where = select.args.get("where")

    def col(name: str, table: str | None = None) -> exp.Column:
        return exp.column(name, table=table, quoted=True)

    def rows() -> exp.Select:
        """A SELECT of the rows the query keeps, every condition included."""
        found = exp.Select().from_(source.copy(), copy=False)
        if joins:
            found.set("joins", [j.copy() for j in joins])
        return found.where(where.this.copy(), copy=False) if where is not None else found

    # The query's outputs, ordering and HAVING are read off its groups: each aggregate of theirs
    # is a column of the groups (the grid's own among them), computed once per cell.
    groups = _Groups({**{o: p for o, p in zip(others, parts)}, cell_x: "__cx", cell_y: "__cy"})
    for aggregate, name in ((exp.Count(this=exp.Star()), "__n"), (exp.func("avg", spec.x.copy()), "__ax"),
                            (exp.func("avg", spec.y.copy()), "__ay")):
        groups.values[aggregate] = name
    outputs = [exp.alias_(groups.read(e.this), e.alias, quoted=True) if isinstance(e, exp.Alias) else groups.read(e)
               for e in select.expressions]
    order = select.args.get("order")
    ordered = [o.copy() for o in order.expressions] if order is not None else None
    for o in ordered or []:
        o.set("this", groups.read(o.this))
    having = select.args.get("having")
    kept = groups.read(having.this) if having is not None else None
    values = list(groups.values.items())
    combined = [_combined(v, name, (cell_x, cell_y)) for v, name in values]
    from_cells = all(c is not None for c in combined)
    partials = [p for c in combined if c is not None for p in c.partials] if from_cells else []
    # a cell's own value, as its cluster's is computed when merged (an avg, the centroid's
    # among them, is its sum over its count: the engine aggregates each once)
    own = [(c.cell if from_cells and c is not None and c.cell is not None else v, name)
           for c, (v, name) in zip(combined, values)]

    # 1. the grid: every point grouped once by its cell (a point without coordinates in the null
    # cell, a group of the answer that takes no part in the merge)
    grid = rows().select(*[exp.alias_(o.copy(), p, quoted=True) for o, p in zip(others, parts)],
                         exp.alias_(cell_x.copy(), "__cx", quoted=True), exp.alias_(cell_y.copy(), "__cy", quoted=True),
                         *[exp.alias_(v.copy(), name, quoted=True) for v, name in [*own, *partials]], copy=False) \
        .group_by(*[o.copy() for o in others], cell_x.copy(), cell_y.copy(), copy=False)

    # 2. the cells that take part in the merge
    present = exp.Not(this=exp.Is(this=col("__cx"), expression=exp.Null()))
    cells = exp.select("*").from_(exp.to_identifier(_GRID, quoted=True)).where(present.copy(), copy=False)
    if heaviest is not None:
        # Ties go to the greatest cell, as in ``heaviest_close``'s weight (n, x, y): a cell kept
        # has its heavier neighbours kept, so whether it is a centre is as in the whole merge (the
        # smallest kept first, a cell could centre a cluster whose centre was left out). Parts make
        # the order total, so that the same cells are kept each time.
        # The heaviest are the cells whose sort key is at most the ``heaviest``-th smallest, which
        # a bounded min() finds in one pass: ORDER BY ... LIMIT sorted every cell (DuckDB's top-N
        # is for limits under ~1% of the rows), 2 M at zoom 25; 2.8 -> 1.9 s of CPU over 2 M points.
        order_key = [(col("__n"), "DESC"), *[(col(p), "ASC") for p in parts], (col("__cx"), "DESC"), (col("__cy"), "DESC")]
        key = exp.Anonymous(this="create_sort_key", expressions=[  # ORDER BY's order, as bytes
            e for c, direction in order_key for e in (c, exp.Literal.string(f"{direction} NULLS LAST"))])
        smallest = exp.Anonymous(this="min", expressions=[key.copy(), exp.Literal.number(heaviest)])  # a sorted list
        last = exp.select(exp.func("list_extract", smallest, exp.Literal.number(-1))) \
            .from_(exp.to_identifier(_GRID, quoted=True)).where(present.copy(), copy=False)
        cells = cells.where(exp.LTE(this=key, expression=last.subquery()), copy=False)

    def same_parts(a: str, b: str) -> list[exp.Expression]:
        return [exp.NullSafeEQ(this=col(p, a), expression=col(p, b)) for p in parts]

    # 3. each cell's heaviest neighbour closer than the radius (itself included): a cell that
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

    # 4. each cell joins its heaviest neighbouring centre closer than the radius (a centre,
    # itself); a cell with none stays apart
    merged = heaviest_close(_NEAR, True)

    # 5. the cells of clusters of two cells or more (a centre is in its own cluster: a cell
    # that joined another is in one of two), each with its cluster's cell
    cluster = [col(p) for p in parts] + [t.copy()]
    joined = exp.select(*[col(p) for p in parts], col("__cx"), col("__cy"),
                        exp.alias_(exp.Dot(this=t.copy(), expression=exp.to_identifier("x")), "__tx", quoted=True),
                        exp.alias_(exp.Dot(this=t.copy(), expression=exp.to_identifier("y")), "__ty", quoted=True)) \
        .from_(exp.to_identifier(_MERGED, quoted=True)) \
        .where(exp.Not(this=exp.Is(this=t.copy(), expression=exp.Null())), copy=False) \
        .qualify(exp.GT(this=exp.Window(this=exp.Count(this=exp.Star()), partition_by=cluster),
                        expression=exp.Literal.number(1)), copy=False)

    # 6. the query's groups: a cluster of one cell, its row of the grid; the others, their
    # cells' rows of the grid (else their cells' records) grouped by the cluster their cell joined
    def in_joined(x: exp.Expression, y: exp.Expression, values: list[exp.Expression]) -> exp.Expression:
        return exp.and_(exp.EQ(this=col("__cx", _JOINED), expression=x), exp.EQ(this=col("__cy", _JOINED), expression=y),
                        *[exp.NullSafeEQ(this=col(p, _JOINED), expression=v) for p, v in zip(parts, values)])

    alone = exp.select(*[col(p) for p in parts], col("__cx"), col("__cy"), *[col(name) for _, name in values]) \
        .from_(exp.to_identifier(_GRID, quoted=True)) \
        .where(exp.Not(this=exp.Exists(this=exp.select("1").from_(exp.to_identifier(_JOINED, quoted=True)).where(
            in_joined(col("__cx", _GRID), col("__cy", _GRID), [col(p, _GRID) for p in parts]), copy=False))),
            copy=False)
    target = {cell_x: col("__tx", _JOINED), cell_y: col("__ty", _JOINED)}
    if from_cells:
        rejoined = exp.select(*[exp.alias_(col(p, _GRID), p, quoted=True) for p in parts],
                              exp.alias_(target[cell_x].copy(), "__cx", quoted=True),
                              exp.alias_(target[cell_y].copy(), "__cy", quoted=True),
                              *[exp.alias_(c.merged, name, quoted=True)
                                for c, (_, name) in zip(combined, values) if c is not None], copy=False) \
            .from_(exp.to_identifier(_GRID, quoted=True)) \
            .join(exp.Table(this=exp.to_identifier(_JOINED, quoted=True)),
                  on=in_joined(col("__cx", _GRID), col("__cy", _GRID), [col(p, _GRID) for p in parts]), copy=False) \
            .group_by(*[col(p, _GRID) for p in parts], target[cell_x].copy(), target[cell_y].copy(), copy=False)
    else:
        rejoined = rows().select(*[exp.alias_(o.copy(), p, quoted=True) for o, p in zip(others, parts)],
                                 exp.alias_(target[cell_x].copy(), "__cx", quoted=True),
                                 exp.alias_(target[cell_y].copy(), "__cy", quoted=True),
                                 *[exp.alias_(v.copy().transform(lambda n: target[n].copy() if n in target else n), name,
                                              quoted=True) for v, name in values], copy=False) \
            .join(exp.Table(this=exp.to_identifier(_JOINED, quoted=True)),
                  on=in_joined(cell_x.copy(), cell_y.copy(), [o.copy() for o in others]), copy=False) \
            .group_by(*[o.copy() for o in others], target[cell_x].copy(), target[cell_y].copy(), copy=False)

    select.set("expressions", outputs)
    select.set("from_", exp.From(this=exp.union(alone, rejoined, distinct=False).subquery(_GROUPS)))
    for arg in ("joins", "where", "group", "having"):
        select.set(arg, None)
    if ordered is not None:
        select.set("order", exp.Order(expressions=ordered))
    if kept is not None:
        select = select.where(kept, copy=False)
    # Materialized: each is read twice or more (a cell, its neighbours), and the engine may
    # otherwise compute it, the query's conditions included, once per reading.
    for name, table in ((_GRID, grid), (_CELLS, cells), (_NEAR, near), (_MERGED, merged), (_JOINED, joined)):
        select = select.with_(exp.to_identifier(name, quoted=True), as_=table, materialized=True, copy=False)
    return select


class _Groups:
    """What the query reads of its groups, once they are clusters: its aggregates and group keys
    as columns (``values``: each aggregate's column), the rest computed over them."""

    def __init__(self, keys: dict[exp.Expression, str]):
        self.keys = keys  # each group key's column
        self.values: dict[exp.Expression, str] = {}

    def read(self, expression: exp.Expression) -> exp.Expression:
        """``expression`` over the groups' columns: its aggregates and keys replaced by columns.
        One that reads a record's value elsewhere (an aggregate sqlglot knows by name only, as
        ``list()`` or ``quantile_cont()``) is a value of the groups itself, and so is one where such
        a function reads a group key or nothing at all: ``quantile_cont(key)`` over the groups'
        columns would aggregate the groups themselves (a 500, or one row for all)."""
        found: dict[exp.Expression, str] = {}

        def column(node: exp.Expression) -> exp.Expression:
            if node in self.keys:
                return exp.column(self.keys[node], quoted=True)
            if isinstance(node, exp.AggFunc):
                name = self.values.get(node) or found.setdefault(node, f"__v{len(self.values) + len(found)}")
                return exp.column(name, quoted=True)
            return node

        def maybe_aggregate(call: exp.Anonymous) -> bool:
            """Could this function, known by name only, aggregate? Only one over aggregates'
            columns alone (``to_json(struct_pack(avg(…)))``, the centroid) surely does not."""
            read_columns = [c.name for c in call.find_all(exp.Column)]
            return not read_columns or any(name in keys for name in read_columns)

        read = expression.copy().transform(column, copy=False)
        keys = set(self.keys.values())
        generated = keys | set(self.values.values()) | set(found.values())
        if any(c.table or c.name not in generated for c in read.find_all(exp.Column)) or read.find(exp.Star) \
                or any(maybe_aggregate(call) for call in read.find_all(exp.Anonymous)):
            name = self.values.setdefault(expression.copy(), f"__v{len(self.values)}")
            return exp.column(name, quoted=True)
        self.values.update({node.copy(): name for node, name in found.items()})
        return read


@dataclass(frozen=True)
class _Combined:
    """How a merged cluster's value is computed from its cells' rows of the grid."""

    partials: tuple[tuple[exp.Expression, str], ...]  # what the grid adds for it, each aggregate with its column
    merged: exp.Expression  # the aggregate over the cells' columns
    cell: exp.Expression | None = None  # the grid's own value, when not the query's aggregate itself


def _combined(value: exp.Expression, name: str, cells: tuple[exp.Expression, exp.Expression]) -> _Combined | None:
    """``value`` (the grid's column ``name``) over a cluster's records, from its cells' rows;
    None when it does not combine. Exact: a count is the sum of its cells' (an all-null cell's
    is 0), a sum (min, max) the sum (min, max) of theirs, whose nulls are the cells without a
    value. avg is kept as a sum over a count, never an average of averages, and a cell's own is
    its sum over its count too (a cluster of one cell reads as one of several; the engine
    aggregates each sum and count once, the centroid's at every cell). Only the order of a
    sum of doubles changes, as it does between the engine's threads. ``bbox()`` is min and max;
    ``envelope()`` is a convex hull of the records' list, a median a quantile, neither combines.

    Of an integer field, DuckDB's own avg divides in long double: the quotient (in double) may
    differ from it in its last bit, the more likely past a sum of 2**53 in magnitude."""
    if type(value) not in (exp.Count, exp.Sum, exp.Min, exp.Max, exp.Avg) or isinstance(value.this, exp.Distinct) \
            or value.args.get("expressions") or any(node in cells for node in value.walk()):
        return None  # count(distinct), min(x, n) (a list), an aggregate of the cell itself (read per cluster)

    def column(c: str) -> exp.Column:
        return exp.column(c, table=_GRID, quoted=True)

    if isinstance(value, exp.Count):  # a BIGINT, as the cells' own
        return _Combined((), exp.cast(exp.func("sum", column(name)), "BIGINT"))
    if not isinstance(value, exp.Avg):
        return _Combined((), type(value)(this=column(name)))
    total, count = f"{name}_sum", f"{name}_count"

    def quotient(dividend: exp.Expression, divisor: exp.Expression) -> exp.Expression:
        return exp.Div(this=exp.cast(dividend, "DOUBLE"), expression=exp.func("nullif", divisor, exp.Literal.number(0)))

    partials = ((exp.func("sum", value.this.copy()), total), (exp.Count(this=value.this.copy()), count))
    return _Combined(partials, quotient(exp.func("sum", column(total)), exp.func("sum", column(count))),
                     quotient(partials[0][0].copy(), partials[1][0].copy()))


def _pair(x: exp.Expression, y: exp.Expression) -> exp.Expression:
    return exp.func("struct_pack", exp.PropertyEQ(this=exp.to_identifier("x"), expression=x),
                    exp.PropertyEQ(this=exp.to_identifier("y"), expression=y))
