"""The grid the geo_cluster() tests place their points on: zoom 10, radius 40, so that a cell is
``SIZE`` degrees wide and the merge radius is one cell (``odsql.clusters``)."""

from __future__ import annotations

ZOOM, RADIUS = 10, 40
SIZE = 360.0 / (256 * 2**ZOOM) * RADIUS  # a cell's width in degrees: also the merge radius
KEY = f"geo_cluster(geo_point_2d, {ZOOM}, {RADIUS})"


def point(cx: int, cy: int, fx: float, fy: float = 0.5) -> str:
    """A ``geo_point_2d`` ("lat,lon") in cell (cx, cy), at fractions (fx, fy) of its width."""
    return f"{(cy + fy) * SIZE},{(cx + fx) * SIZE}"
