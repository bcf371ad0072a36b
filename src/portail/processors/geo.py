"""Geographic transforms: build a geo_point_2d, reproject coordinates to WGS84."""

from __future__ import annotations

from typing import Any

from pyproj import CRS
from pyproj.exceptions import CRSError
from sqlglot import exp

from portail.ingest.errors import IngestError
from portail.processors.base import Outcome, Plan, column, count_where, processor, replace_columns, require
from portail.schema import Field, FieldType, normalize_name


def _number(name: str) -> exp.Expression:
    """A coordinate from a number or a text with a dot or a decimal comma."""
    return exp.TryCast(this=exp.func("replace", exp.cast(column(name), "VARCHAR"), exp.Literal.string(","),
                                     exp.Literal.string(".")), to=exp.DataType.build("DOUBLE"))


def _output(plan: Plan, params: dict[str, Any], default: str, value: exp.Expression, label: str) -> Plan:
    output = normalize_name(params.get("output", default))
    if output in plan.names():
        return replace_columns(plan, {output: value}, types={output: FieldType.GEO_POINT_2D})
    return replace_columns(plan, {output: value}, added=[Field(output, params.get("label") or label, FieldType.GEO_POINT_2D)])


def _failed(inputs: list[exp.Expression], value: exp.Expression) -> exp.Expression:
    present = exp.and_(*[exp.Not(this=exp.Is(this=i, expression=exp.Null())) for i in inputs])
    return count_where(exp.and_(present, exp.Is(this=value.copy(), expression=exp.Null())))


@processor("geopoint", "Build a geo_point_2d from latitude and longitude fields, or from one \"lat,lon\" text field.",
           {"lat": "latitude field", "lon": "longitude field", "field": "or: a \"lat,lon\" text field",
            "output": "default geo_point_2d"},
           {"processor": "geopoint", "lat": "latitude", "lon": "longitude"})
def geopoint(plan: Plan, params: dict[str, Any], step: str) -> Outcome:
    if params.get("field") and plan.field(params["field"], step).type == FieldType.GEO_POINT_2D:
        # Already read as a point at load (a "lat,lon" column is detected): copy it.
        outcome = Outcome(_output(plan, params, "geo_point_2d", column(params["field"]), "Geo Point"))
        outcome.counters["failed"] = exp.Literal.number(0)
        return outcome
    if params.get("field"):
        source = plan.field(params["field"], step)
        text = exp.cast(column(source.name), "VARCHAR")
        lat = exp.TryCast(this=exp.func("trim", exp.func("split_part", text, exp.Literal.string(","), exp.Literal.number(1))),
                          to=exp.DataType.build("DOUBLE"))
        lon = exp.TryCast(this=exp.func("trim", exp.func("split_part", text.copy(), exp.Literal.string(","), exp.Literal.number(2))),
                          to=exp.DataType.build("DOUBLE"))
        inputs = [column(source.name)]
    else:
        lat_field = plan.field(require(params, "lat", step), step)
        lon_field = plan.field(require(params, "lon", step), step)
        lat, lon = _number(lat_field.name), _number(lon_field.name)
        inputs = [column(lat_field.name), column(lon_field.name)]
    valid = exp.and_(exp.Between(this=lat, low=exp.Literal.number(-90), high=exp.Literal.number(90)),
                     exp.Between(this=lon.copy(), low=exp.Literal.number(-180), high=exp.Literal.number(180)))
    value = exp.Case(ifs=[exp.If(this=valid, true=exp.func("ST_Point", lon.copy(), lat.copy()))])
    output = _output(plan, params, "geo_point_2d", value, "Geo Point")
    target = normalize_name(params.get("output", "geo_point_2d"))
    return Outcome(output, counters_after={"failed": _failed(inputs, column(target))})


@processor("reproject", "Turn projected x/y coordinates (Lambert-93 by default) into a WGS84 geo_point_2d.",
           {"x": "required: easting field", "y": "required: northing field", "from_epsg": "default 2154 (Lambert-93)",
            "output": "default geo_point_2d"},
           {"processor": "reproject", "x": "coord_x_l93", "y": "coord_y_l93", "from_epsg": 2154})
def reproject(plan: Plan, params: dict[str, Any], step: str) -> Outcome:
    x_field = plan.field(require(params, "x", step), step)
    y_field = plan.field(require(params, "y", step), step)
    epsg = int(params.get("from_epsg", 2154))
    try:
        CRS.from_epsg(epsg)
    except CRSError:
        raise IngestError(f"pipeline step {step}: unknown EPSG code {epsg}") from None
    point = exp.func("ST_Point", _number(x_field.name), _number(y_field.name))
    value = exp.func("ST_Transform", point, exp.Literal.string(f"EPSG:{epsg}"), exp.Literal.string("EPSG:4326"),
                     exp.PropertyEQ(this=exp.to_identifier("always_xy"), expression=exp.true()))
    output = _output(plan, params, "geo_point_2d", value, "Geo Point")
    target = normalize_name(params.get("output", "geo_point_2d"))
    return Outcome(output, counters_after={"failed": _failed([column(x_field.name), column(y_field.name)], column(target))})


@processor("simplify", "Simplify shapes (Douglas-Peucker keeping the topology valid) to lighten maps and exports; "
           "the report gives the number of vertices before and after.",
           {"field": "geo_shape field (default: the first one)", "tolerance": "distance under which vertices are "
            "dropped, in degrees (default 0.0001, about 10 m)"},
           {"processor": "simplify", "field": "geo_shape", "tolerance": 0.001})
def simplify(plan: Plan, params: dict[str, Any], step: str) -> Outcome:
    if params.get("field"):
        source = plan.field(params["field"], step)
    else:
        shapes = [f for f in plan.fields if f.type == FieldType.GEO_SHAPE]
        if not shapes:
            raise IngestError(f"pipeline step {step}: the dataset has no geo_shape field")
        source = shapes[0]
    if source.type != FieldType.GEO_SHAPE:
        raise IngestError(f"pipeline step {step}: field {source.name!r} is not a geo_shape")
    try:
        tolerance = float(params.get("tolerance", 0.0001))
    except (TypeError, ValueError):
        tolerance = -1.0
    if not 0 < tolerance < 10:
        raise IngestError(f"pipeline step {step}: tolerance must be a positive number of degrees (below 10)")
    value = exp.func("ST_SimplifyPreserveTopology", column(source.name), exp.Literal.number(tolerance))
    outcome = Outcome(replace_columns(plan, {source.name: value}))
    outcome.counters["vertices_before"] = exp.func("coalesce", exp.func("sum", exp.func("ST_NPoints", column(source.name))),
                                                   exp.Literal.number(0))
    outcome.counters["vertices_after"] = exp.func("coalesce", exp.func("sum", exp.func("ST_NPoints", value.copy())),
                                                  exp.Literal.number(0))
    return outcome
