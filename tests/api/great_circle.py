"""Points of the social housing file and the distance between two, computed here as an oracle
for the v1 geo tests (``geofilter.distance``, ``dist``, ``-dist``): the haversine on the mean
Earth radius, independent of the engine's own."""

from __future__ import annotations

import math

EARTH_RADIUS = 6371008.8  # metres, the mean radius


def point(row: dict) -> tuple[float, float]:
    """A CSV row's ``geo_point_2d`` as (latitude, longitude)."""
    lat, lon = (float(part) for part in row["geo_point_2d"].split(","))
    return lat, lon


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """The great-circle distance between two (latitude, longitude) points."""
    (lat1, lon1), (lat2, lon2) = (map(math.radians, p) for p in (a, b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS * math.asin(math.sqrt(h))
