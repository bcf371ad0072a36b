"""The grid the geo_cluster() tests place their points on: zoom 10, radius 40, so that a cell is
``SIZE`` degrees wide and the merge radius is one cell (``odsql.clusters``)."""

from __future__ import annotations

import json
import math

from sqlglot import exp

ZOOM, RADIUS = 10, 40
SIZE = 360.0 / (256 * 2**ZOOM) * RADIUS  # a cell's width in degrees: also the merge radius
KEY = f"geo_cluster(geo_point_2d, {ZOOM}, {RADIUS})"


def point(cx: int, cy: int, fx: float, fy: float = 0.5) -> str:
    """A ``geo_point_2d`` ("lat,lon") in cell (cx, cy), at fractions (fx, fy) of its width."""
    return f"{(cy + fy) * SIZE},{(cx + fx) * SIZE}"


def records_read(select: exp.Select) -> list[str]:
    """The CTE each reading of the records table stands in (``""``: the query itself): which
    path a merge took (``odsql.clusters``: the merged clusters grouped from the grid's rows, or
    from the records again)."""
    found = []
    for table in select.find_all(exp.Table):
        if table.name == "records":
            cte = table.find_ancestor(exp.CTE)
            found.append(cte.alias if cte is not None else "")
    return found


def plain(value):
    """A value to compare: JSON texts (the centroid) read, so that their doubles compare as numbers."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def same(a, b) -> bool:
    """Equal answers of the two merge paths: doubles to 12 digits (a sum's order differs), the
    rest exactly, types included."""
    a, b = plain(a), plain(b)
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def sort_key(row: tuple) -> str:
    """An order of answer rows that last-bit differences in their doubles do not change."""
    return repr([round(v, 6) if isinstance(v, float) else v for v in map(plain, row)])
