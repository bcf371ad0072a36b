"""v1's map endpoints, which ods-widgets' map calls: ``/api/records/1.0/geocluster/``
(``ODSAPI.records.geo``), ``/api/records/1.0/geopreview/`` (``ODSAPI.records.geopreview``),
``/api/records/1.0/boundingbox/`` and ``/api/records/1.0/geopolygon/`` (``ODSAPI.records.boundingbox``
and ``.geopolygon``).

All select records as the v1 search does (``q``, ``refine.``/``exclude.``/``disjunctive.``,
``geofilter.distance``/``polygon``/``bbox``, the last the map's view) through ``query_records``,
so the caller's hidden fields and row filter hold as everywhere else; they map the field v1's
geofilters read (``v1_query.geo_field_of``): the one ``geo_field`` names on a dataset with several
(ods-widgets' choropleth sends its layer's to geopolygon), else the first point, else the first
shape. Opendatasoft documents no ``geo_field``; every v1 records route reads it the same way, so
that the view's ``geofilter.bbox`` selects by the field drawn.

geocluster groups the selected records with ODSQL's ``geo_cluster(geo, clusterprecision,
clusterdistance)`` (``clusterprecision`` is the map's zoom, ``clusterdistance`` a radius in
pixels: the engine's clustering, v2.1's, not a second one here). Each cluster has its ``count``,
its ``cluster_center`` ``[lat, lon]`` (the mean of its points; of the centroids of its shapes),
its ``cluster`` (the convex hull of its geometries: ``envelope()``; a cluster of one point is that
point; of one shape, that shape, looked up by a second query, so a map can draw it) and its
``series`` when asked; a cluster of one record has its ``recordid`` too (the same lookup), which
the map's marker for it asks by when a click refines another context; largest first (ties in
the grouping's order: stable); beside the clusters, the least and greatest ``count`` and
series values (``{"max", "min"}``, as documented and as the map reads them to scale its markers).
``clustermode=heatmap`` and ``return_polygons=false`` (the map's choices) leave the shapes out
(a heatmap the ids too). JSON and JSONP only: ods-widgets read nothing else from it.
``shapeprecision``, "the precision of the returned cluster envelope" (clusterprecision +
shapeprecision <= 29, as documented), is a zoom offset: each cluster's shape (its hull, or a lone
record's shape) is simplified to within a pixel at zoom ``clusterprecision + shapeprecision``, the
tolerance Opendatasoft's engine derives from a zoom (``360 / (256 * 2**zoom)`` degrees, its
geoshape plugin's ``getToleranceFromZoom``): 0 draws it to the map's pixel, each step above halves
the tolerance. Topology is kept (a shape stays valid; one that would not is left as it is) and no
cluster is dropped. Absent, as ods-widgets' maps always leave it (``MapRenderingClustered``, the
legacy ``odsMap``), the shapes come back unsimplified: the legacy map sends a lone shape back as
a tooltip's geofilter, which should select its record.

geopreview answers the records' geometries (the map draws each), with their record ids and
``geo_digest`` (which the map's tooltip asks a clicked shape's records by, as geopolygon's), up to
``rows``; shapes simplified to within a pixel at ``clusterprecision`` when it is given.

boundingbox answers ``{"count", "bbox", "geometries"}``: how many records are selected, the box
``[min lon, min lat, max lon, max lat]`` of their geometries (``[]`` when there are none: the
legacy map fits its view to it only when it holds something, ``MapHelper.retrieveBounds`` only
when ``count`` > 0; across the antimeridian, its east edge past 180°: ``_across``) and their
count per GeoJSON type (``{"Point": 12, "Polygon": 3}``). A map
without a location fits its view to it; an "auto" layer asks it about its view's box: mostly
points (``geometries.Point`` > count / 2) are downloaded (under 200) or clustered, shapes
previewed; without this route the layer never drew. No document gives this answer: its keys are the ones ods-widgets read (``map-helper.js``,
``map-layer-renderer.js``, the legacy ``odsMap``).

geopolygon groups the records by their geometry (``geo_field``, the choropleth's choice, or v1's
geo field): records sharing a shape form one cluster whose ``cluster`` is that shape (a point as
a GeoJSON Point), with its ``count``, its ``series`` when asked, and its ``geo_digest``, ODSQL's
``geo_digest()`` of it (before any simplification, so the same at every zoom), which the widgets
send back to ask for a clicked shape's records (``v1._geofilters``);
largest first, with the least and greatest count and series values as geocluster gives them.
Its aggregation and choropleth layers colour each shape by its count or ``series.serie1``
(``map-rendering-aggregation.js``, ``map-rendering-choropleth-aggregation.js``). Shapes are
simplified to within half a pixel at ``clusterprecision`` (the map's zoom) when it is given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request

from portail.api.errors import invalid_parameter
from portail.api.explore_service import GROUP_WINDOW, get_visible_dataset, query_records
from portail.api.params import TIMEZONE, Param, params_of, query_route
from portail.api.v1 import (MAX_WINDOW, Q, SORT, _conditions, _disjunctive, _dist_expression, _order_by, _padded,
                             _padding, _prefixed, _query, _series_named, _v1_record)
from portail.api.v1_query import geo_field_of
from portail.api.v1_series import Serie, read_series, select_items, serie_value
from portail.catalog.models import Dataset
from portail.odsql.ast import quote_name
from portail.odsql.functions import GEOJSON_TYPES
from portail.odsql.parser import MAX_LENGTH
from portail.schema import Field, FieldType, fields_from_json

if TYPE_CHECKING:  # GEOS is imported by the routes that draw shapes, not at each start of the server
    import shapely


#: geo_cluster()'s zoom levels and radii (pixels).
ZOOMS, RADII = range(0, 26), range(1, 1001)
_FORMATS = ("json", "jsonp")
#: ``geo_field``: the geo field mapped and geofiltered, on a dataset with several (``v1_query.geo_field_of``;
#: a choropleth layer names its ``layerConfig.geoField`` so), the first point's or shape's otherwise.
GEO_FIELD = Param("geo_field", description="The geo field mapped, and which the geofilters read, on a dataset with "
                  "several (the first geo_point_2d, else the first geo_shape, by default).")
#: ``clusterdistance`` is mandatory in Opendatasoft's documentation; absent, it is the 50 pixels
#: the map always sends. ``rows`` defaults to the 1,000 geometries the map asks for.
GEOCLUSTER = (Param("dataset", required=True), Q, Param("clusterprecision", int, required=True),
              Param("clusterdistance", int, 50),
              Param("shapeprecision", int, description="The clusters' shapes simplified to within a pixel at zoom "
                    "clusterprecision + shapeprecision (unsimplified by default)."),
              Param("clustermode", default="polygon", choices=("polygon", "heatmap")), Param("return_polygons", bool, True),
              GEO_FIELD, TIMEZONE, Param("format", default="json", choices=_FORMATS),
              Param("callback"))
GEOPREVIEW = (Param("dataset", required=True), Q, Param("rows", int, 1000), Param("clusterprecision", int),
              SORT, GEO_FIELD, TIMEZONE,
              Param("format", default="json", choices=_FORMATS), Param("callback"))
BOUNDINGBOX = (Param("dataset", required=True), Q, GEO_FIELD, TIMEZONE,
               Param("format", default="json", choices=_FORMATS), Param("callback"))
GEOPOLYGON = (Param("dataset", required=True), Q, Param("clusterprecision", int), GEO_FIELD,
              TIMEZONE, Param("format", default="json", choices=_FORMATS), Param("callback"))
#: The clusters of one record given its id (and a shape's, its shape): how many at most (a map
#: zoomed in on scattered records, its view's; beyond, a whole dataset's, they keep their hull
#: and no id), how many are looked up at once, and how much of a where clause their boxes may
#: fill (ODSQL bounds a clause's length).
SINGLES, BATCH, BOXES_TEXT = 2000, 200, MAX_LENGTH * 9 // 10
#: How far (degrees, ~10 cm) a box reaches past a shape's bounds, and a centroid may lie from
#: its cluster's center: the same doubles, written and read back through GeoJSON and WKT.
_SLACK = 1e-6
#: The decimals of a box's corners (a tenth of a metre): ``_box``.
_DECIMALS = 6


def _pixel(zoom: int) -> float:
    """Degrees of longitude per pixel at ``zoom`` on a 256-pixel web map (geo_cluster's scale)."""
    return 360.0 / (256 * 2**zoom)


def _in(value: int, allowed: range, parameter: str, why: str = "") -> int:
    if value not in allowed:
        raise invalid_parameter(f"Invalid value for {parameter} API parameter: {value} was found but an integer "
                                f"from {allowed.start} to {allowed.stop - 1} is expected{why}.")
    return value


@dataclass(frozen=True)
class _Selection:
    """The records a map call reads (``query_records``' filtering arguments) and the field it maps."""

    ds: Dataset
    geo: Field
    column: str  # the geo field as an ODSQL name
    filters: dict[str, Any]


def _selection(request: Request, portal: str, principal, dataset: str, q: list[str], timezone: str,
               geo_field: str | None = None) -> _Selection:
    if len(params_of(request).getlist("dataset")) > 1:
        raise invalid_parameter("Invalid value for dataset API parameter: one dataset is expected.")
    ds = get_visible_dataset(request.app.state.instance, portal, dataset, principal)
    # the caller's fields (a hidden one is not there); the field the geofilters read too
    geo = geo_field_of(fields_from_json(ds.current.fields), geo_field)
    if geo is None:
        raise invalid_parameter("This dataset has no geo field (geo_point_2d or geo_shape): its records cannot be mapped.")
    column = quote_name(geo.name)
    where, text = _conditions(request, ds, _query(request, q))
    where.append(f"{column} is not null")
    return _Selection(ds, geo, column, {
        "refine": _prefixed(request, "refine."), "exclude": _prefixed(request, "exclude."),
        "disjunctive": _disjunctive(request), "where": where, "text": text, "timezone": timezone, "principal": principal})


def _clusters(request: Request, selection: _Selection, zoom: int, radius: int, shapes: bool,
              series: list[Serie]) -> list[dict[str, Any]]:
    """The clusters, largest first (past ``GROUP_WINDOW`` of them, the smallest are left out)."""
    aliases = [f"serie_{i}" for i in range(len(series))]
    select = ["count(*) as cluster_count"] + ([f"envelope({selection.column}) as cluster_shape"] if shapes else [])
    for serie, alias in zip(series, aliases):
        select += select_items(serie, alias)
    page = query_records(request.app.state.instance, selection.ds, select=", ".join(select),
                         group_by=f"geo_cluster({selection.column}, {zoom}, {radius}) as cluster_key",
                         order_by="count(*) desc", limit=GROUP_WINDOW, **selection.filters)
    clusters = []
    for row in page.results:
        if not row.get("cluster_key"):  # no point in the group (the where clause keeps none)
            continue
        center = row["cluster_key"]["cluster_centroid"]
        cluster: dict[str, Any] = {"cluster_center": [center["lat"], center["lon"]], "count": row["cluster_count"]}
        if shapes and row.get("cluster_shape"):
            cluster["cluster"] = row["cluster_shape"]["geometry"]
        if series:
            cluster["series"] = {s.name: serie_value(s, row, a) for s, a in zip(series, aliases)}
        clusters.append(cluster)
    return clusters


def _box(bounds: tuple[float, float, float, float]) -> shapely.Geometry:
    """``bounds`` widened by ``_SLACK``, its corners rounded outwards to ``_DECIMALS``: a box in
    short WKT (a third of full doubles'), so that a where clause holds a map view's lone records
    in one or two queries, each of which costs more than its engine's work."""
    import shapely  # GEOS (~0.02 s) when a geo route is asked, not at each start

    scale = 10**_DECIMALS
    xmin, ymin, xmax, ymax = bounds
    return shapely.box(math.floor((xmin - _SLACK) * scale) / scale, math.floor((ymin - _SLACK) * scale) / scale,
                       math.ceil((xmax + _SLACK) * scale) / scale, math.ceil((ymax + _SLACK) * scale) / scale)


def _box_batches(singles: list[dict[str, Any]], column: str) -> list[tuple[list[dict[str, Any]], str]]:
    """The clusters of one record in batches, each with the ODSQL condition that selects the
    geometries lying in the union of their boxes (a shape lies in its own box: its hull's bounds
    are its own; a point, in a box around its cluster's center, which is that point). One area
    per batch, not one test per box: the engine reads each geometry once a batch."""
    import shapely
    from shapely.geometry import shape

    batches: list[tuple[list[dict[str, Any]], str]] = []

    def add(members: list[dict[str, Any]], boxes: list[shapely.Geometry]) -> None:
        condition = f"within({column}, geom'{shapely.union_all(boxes).wkt}')"
        if len(condition) > BOXES_TEXT and len(members) > 1:  # ODSQL's bound on a clause: halves
            half = len(members) // 2
            add(members[:half], boxes[:half])
            add(members[half:], boxes[half:])
        else:
            batches.append((members, condition))

    ordered = sorted(singles, key=lambda c: c["cluster_center"][::-1])  # neighbours together: compact unions
    boxes = []
    for single in ordered:
        lat, lon = single["cluster_center"]
        boxes.append(_box(shape(single["cluster"]).bounds if "cluster" in single else (lon, lat, lon, lat)))
    for first in range(0, len(ordered), BATCH):
        add(ordered[first:first + BATCH], boxes[first:first + BATCH])
    return batches


def _single_records(request: Request, selection: _Selection, clusters: list[dict[str, Any]]) -> None:
    """Give each cluster of one record that record's id (``recordid``) and, for a shape whose hull
    was asked, that shape (the hull the grouping gave is its convex hull). ods-widgets' map draws
    a cluster of one as a marker and, when a click on it refines another context, asks for the
    record by that id (``MapLayerHelper.drawPoint``, then ``refineContextOnClick``: ``q`` =
    ``recordid:<id>``), as it does for a downloaded record; without it, by the marker's place.
    The record is found among those lying in its cluster's box, as the one whose point (a
    shape's centroid) is the cluster's center: the nearest, within ``_SLACK``. A shape cluster
    without its hull (``return_polygons=false``) has no box to look in, and keeps no id."""
    from shapely.geometry import shape

    points = selection.geo.type == FieldType.GEO_POINT_2D
    singles = [c for c in clusters if c["count"] == 1 and (points or "cluster" in c)]
    if not singles or len(singles) > SINGLES:
        return
    for members, condition in _box_batches(singles, selection.column):
        filters = {**selection.filters, "where": [*selection.filters["where"], condition]}
        page = query_records(request.app.state.instance, selection.ds, select=selection.column, limit=MAX_WINDOW,
                             max_limit=MAX_WINDOW, with_ids=True, **filters)
        nearest: dict[int, float] = {}  # each member's best match so far: a neighbour's record may lie in its box
        for row in page.results:
            value = row.get(selection.geo.name)
            geometry = None if value is None or points else value.get("geometry")
            if geometry is not None:
                centroid = shape(geometry).centroid
                place = (centroid.y, centroid.x)
            elif points and value is not None:
                place = (value["lat"], value["lon"])
            else:
                continue
            distance, index = min(((math.dist(place, m["cluster_center"]), i) for i, m in enumerate(members)),
                                  default=(math.inf, -1))
            if distance <= _SLACK and distance < nearest.get(index, math.inf):
                nearest[index] = distance
                members[index]["recordid"] = row["_id"]
                if geometry is not None:
                    members[index]["cluster"] = geometry


def _extremes(values: list[Any]) -> dict[str, Any]:
    present = [v for v in values if v is not None]
    return {"max": max(present, default=None), "min": min(present, default=None)}


def _summarised(clusters: list[dict[str, Any]], series: list[Serie]) -> dict[str, Any]:
    """Clusters with the least and greatest count and series values beside (geocluster and
    geopolygon: the map scales its colours and markers from them)."""
    body: dict[str, Any] = {"clusters": clusters, "count": _extremes([c["count"] for c in clusters]) if clusters
                            else {"max": 0, "min": 0}}
    if series:
        body["series"] = {s.name: _extremes([c["series"][s.name] for c in clusters]) for s in series}
    return body


def _bounds(request: Request, selection: _Selection) -> dict[str, Any]:
    """boundingbox's answer, from ODSQL aggregates: ``count(*)`` and ``bbox()`` of the geo field,
    per ``geometry_type()`` for shapes (one query, a group per type); a point field holds points.
    A box wider than half the globe may be narrower the other way round (``_across``)."""
    import shapely
    from shapely.geometry import shape

    points = selection.geo.type == FieldType.GEO_POINT_2D
    page = query_records(request.app.state.instance, selection.ds, select=f"count(*) as n, bbox({selection.column}) as b",
                         group_by=None if points else f"geometry_type({selection.column}) as t",
                         limit=len(GEOJSON_TYPES) + 1, **selection.filters)
    count, geometries, corners = 0, {}, []
    for row in page.results:
        if not row.get("n"):
            continue
        count += row["n"]
        kind = "Point" if points else row.get("t")
        if kind is not None:  # a type GeoJSON has no name for counts in count only
            geometries[kind] = geometries.get(kind, 0) + row["n"]
        if row.get("b"):  # a box (a flat one for a single place): its corners
            corners += shapely.get_coordinates(shape(row["b"]["geometry"])).tolist()
    if not corners:
        return {"count": count, "bbox": [], "geometries": geometries}
    xs, ys = zip(*corners)
    box = [min(xs), min(ys), max(xs), max(ys)]
    if box[2] - box[0] > 180:
        box = _across(request, selection, box, count)
    return {"count": count, "bbox": box, "geometries": geometries}


#: The western and eastern hemispheres as ODSQL geometries, reaching past ±180° (a geometry on
#: that outer edge lies within) and to the poles (a latitude past them is refused; a point on a
#: pole itself lies in neither, and the box stays the plain one); the prime meridian is their
#: common edge.
_HEMISPHERES = ("geom'POLYGON((-181 -90, 0 -90, 0 90, -181 90, -181 -90))'",
                "geom'POLYGON((0 -90, 181 -90, 181 90, 0 90, 0 -90))'")


def _across(request: Request, selection: _Selection, box: list[float], count: int) -> list[float]:
    """The box of geometries on both sides of the antimeridian (Fiji's, the Aleutians', a
    Pacific crossing): when each lies within one hemisphere, the boxes of the western ones
    and of the eastern ones; if the span from the eastern ones' west edge eastwards across
    180° to the western ones' east edge is narrower than ``box``'s, that one, its east edge past
    180° (``[177, …, 182, …]``), as ods-widgets fit their map to it: a Leaflet ``LatLngBounds``
    of its corners (``MapHelper.retrieveBounds``), which a box written west > east (RFC 7946's
    way) would turn inside out, round the world. Otherwise (some geometry straddling a
    meridian, or a spread no narrower that way) ``box``: two more queries, only for boxes wider
    than half the globe, the only ones the other way round may narrow."""
    import shapely
    from shapely.geometry import shape

    halves = []
    column = selection.column
    for hemisphere in _HEMISPHERES:
        filters = {**selection.filters, "where": [*selection.filters["where"], f"within({column}, {hemisphere})"]}
        row = query_records(request.app.state.instance, selection.ds, select=f"count(*) as n, bbox({column}) as b",
                            limit=1, **filters).results[0]
        if not row.get("n") or not row.get("b"):
            return box
        halves.append((row["n"], shapely.bounds(shape(row["b"]["geometry"])).tolist()))
    (west_count, west), (east_count, east) = halves
    if west_count + east_count < count or west[2] + 360 - east[0] >= box[2] - box[0]:
        return box
    return [east[0], min(west[1], east[1]), west[2] + 360, max(west[3], east[3])]


def _by_shape(request: Request, selection: _Selection, series: list[Serie], tolerance: float | None) -> list[dict[str, Any]]:
    """geopolygon's clusters: one grouped query, the geo field as the key; largest first (past
    ``GROUP_WINDOW`` shapes, the least shared are left out)."""
    aliases = [f"serie_{i}" for i in range(len(series))]
    select = ["count(*) as cluster_count", f"min(geo_digest({selection.column})) as cluster_digest"]
    for serie, alias in zip(series, aliases):
        select += select_items(serie, alias)
    page = query_records(request.app.state.instance, selection.ds, select=", ".join(select),
                         group_by=f"{selection.column} as cluster_shape", order_by="count(*) desc", limit=GROUP_WINDOW,
                         **selection.filters)
    clusters = []
    for row in page.results:
        key = row.get("cluster_shape")
        if key is None:
            continue
        geometry = key.get("geometry") if selection.geo.type == FieldType.GEO_SHAPE else \
            {"type": "Point", "coordinates": [key["lon"], key["lat"]]}
        if geometry is None:
            continue
        cluster: dict[str, Any] = {"cluster": _simplified(geometry, tolerance), "count": row["cluster_count"],
                                   "geo_digest": row["cluster_digest"]}
        if series:
            cluster["series"] = {s.name: serie_value(s, row, a) for s, a in zip(series, aliases)}
        clusters.append(cluster)
    return clusters


def _simplified(geometry: dict[str, Any], tolerance: float | None) -> dict[str, Any]:
    """A shape simplified by ``tolerance`` degrees (topology kept: it stays valid; in the rare case
    GEOS would give an empty or invalid one, the shape as it is); points as they are."""
    import shapely
    from shapely.geometry import mapping, shape

    if tolerance is None or geometry.get("type") in ("Point", "MultiPoint"):
        return geometry
    simplified = shapely.simplify(shape(geometry), tolerance, preserve_topology=True)
    if simplified.is_empty or not simplified.is_valid:
        return geometry
    return mapping(simplified)


def _coarsen(clusters: list[dict[str, Any]], tolerance: float) -> None:
    """geocluster's ``shapeprecision``: each cluster's shape simplified by ``tolerance`` degrees."""
    for cluster in clusters:
        if "cluster" in cluster:
            cluster["cluster"] = _simplified(cluster["cluster"], tolerance)


def add_geo_routes(router: APIRouter, portal: str) -> None:
    """Register geocluster and geopreview on v1's router for ``portal``."""

    @query_route(router, "/api/records/1.0/geocluster/", GEOCLUSTER, post=True, summary="v1 geo clustering (maps)")
    def geocluster(request: Request, principal, *, dataset, q, clusterprecision, clusterdistance, shapeprecision,
                   clustermode, return_polygons, geo_field, timezone, format, callback):
        padded, principal = _padding(request, principal, format, callback)
        _in(clusterprecision, ZOOMS, "clusterprecision")
        _in(clusterdistance, RADII, "clusterdistance")
        if shapeprecision is not None:
            _in(shapeprecision, range(0, 30 - clusterprecision), "shapeprecision",
                " (clusterprecision + shapeprecision <= 29)")
        series = read_series(params_of(request))
        selection = _selection(request, portal, principal, dataset, q, timezone, geo_field)
        _series_named(request, selection.ds, series)
        shapes = clustermode == "polygon" and return_polygons
        clusters = _clusters(request, selection, clusterprecision, clusterdistance, shapes, series)
        if clustermode == "polygon":  # markers, which a click asks about; a heatmap's spots are not clicked
            _single_records(request, selection, clusters)
        if shapes and shapeprecision is not None:  # after the lookup, which reads the exact shapes' boxes
            _coarsen(clusters, _pixel(clusterprecision + shapeprecision))
        body = _summarised(clusters, series)
        body["clusterprecision"] = clusterprecision
        return _padded(body, callback) if padded else body

    @query_route(router, "/api/records/1.0/geopreview/", GEOPREVIEW, post=True, summary="v1 map preview (geometries)")
    def geopreview(request: Request, principal, *, dataset, q, rows, clusterprecision, sort, geo_field, timezone,
                   format, callback):
        padded, principal = _padding(request, principal, format, callback)
        _in(rows, range(0, MAX_WINDOW + 1), "rows")
        # Half a pixel: GEOS may move a ring's first corner by up to ~1.5 times the tolerance.
        tolerance = None if clusterprecision is None else _pixel(_in(clusterprecision, ZOOMS, "clusterprecision")) / 2
        selection = _selection(request, portal, principal, dataset, q, timezone, geo_field)
        visible = fields_from_json(selection.ds.current.fields)
        page = query_records(request.app.state.instance, selection.ds,
                             select=f"{selection.column}, geo_digest({selection.column}) as geo_digest",
                             order_by=_order_by(sort, visible, _dist_expression(request, visible), request),
                             limit=rows, max_limit=MAX_WINDOW, with_ids=True, **selection.filters)
        previews = []
        for row in page.results:
            record = _v1_record(selection.ds, [selection.geo], row, row["_id"])
            if record.get("geometry") is not None:
                previews.append({"geometry": _simplified(record["geometry"], tolerance), "recordid": record["recordid"],
                                 "geo_digest": row["geo_digest"]})
        return _padded(previews, callback) if padded else previews

    @query_route(router, "/api/records/1.0/boundingbox/", BOUNDINGBOX, post=True,
                 summary="v1 bounding box of the selected records (maps)")
    def boundingbox(request: Request, principal, *, dataset, q, geo_field, timezone, format, callback):
        """How many records the context selects, the box of their geometries and their count per
        geometry type: where a map without a location opens, and how an "auto" layer draws."""
        padded, principal = _padding(request, principal, format, callback)
        body = _bounds(request, _selection(request, portal, principal, dataset, q, timezone, geo_field))
        return _padded(body, callback) if padded else body

    @query_route(router, "/api/records/1.0/geopolygon/", GEOPOLYGON, post=True,
                 summary="v1 records grouped by their shape (aggregation and choropleth maps)")
    def geopolygon(request: Request, principal, *, dataset, q, clusterprecision, geo_field, timezone, format, callback):
        """The selected records grouped by their geometry, each shape with its count, series and
        ``geo_digest``: what a map's aggregation and choropleth layers colour."""
        padded, principal = _padding(request, principal, format, callback)
        tolerance = None if clusterprecision is None else _pixel(_in(clusterprecision, ZOOMS, "clusterprecision")) / 2
        series = read_series(params_of(request))
        selection = _selection(request, portal, principal, dataset, q, timezone, geo_field)
        _series_named(request, selection.ds, series)
        body = _summarised(_by_shape(request, selection, series, tolerance), series)
        return _padded(body, callback) if padded else body
