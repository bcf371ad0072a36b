"""v1 analyze's ``join.<name>.*``: each point's x replaced by the records of another dataset whose
key holds it, as ods-widgets' aggregation map layer asks when it colours another dataset's shapes
by this one's series (``MapRenderingAggregation``: ``join.agg1.remotedataset``, ``.localkey``,
``.remotekey``, ``.fields``, then ``x[0].fields[<shape field>]`` and ``aggregations.agg1.min``/
``max``). Opendatasoft documents no join: the parameters and the answer's shape are the ones the
widget sends and reads.

- ``localkey`` is the analysis' x (an ``x`` naming another field is a 400): one point per value;
- ``remotekey`` is matched by equality, values compared as text (a département code held as text
  here and as text there, or as a number on both sides);
- each point's ``x`` becomes the list of the matching remote records, written as v1's search
  writes records (``datasetid``, ``recordid``, ``fields`` of ``fields``, or every field the caller
  sees there, ``geometry``); a point without a match is left out, as an inner join does, and as
  the widget needs (it reads ``x[0]`` of every point);
- the remote dataset is read as the caller may read it (``get_visible_dataset``: an unknown or
  hidden dataset is a 404; its hidden fields are unknown fields; its row filter holds), through
  ``query_records``: the keys are written into ODSQL ``in`` lists, batched under the clause's
  length bound, never pasted as text; a batch whose matches fill the query window is asked
  again in halves, so that no match is cut (but past 20,000 records for one key).

One join per call: the widget sends one, and several would need x to be several things at once.

The widget sends its map's view as ``geofilter.bbox`` with the join, whatever the analysed dataset
holds. On an analysed dataset with a geo field the geofilters keep its records, as on any analyze
call; on one without (a table of figures per code, the usual choropleth), they keep the remote
records whose geometry they hold (``geofiltered``): the groups whose joined shape is in view,
which is what the layer draws. The remote geometry is its first shape field, the one the widget
draws (``getFieldsForType('geo_shape')[0]``), else its geo field (``geo_field_of``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from portail.api.errors import invalid_parameter
from portail.api.explore_service import GROUP_WINDOW, get_visible_dataset, query_records
from portail.api.params import params_of
from portail.api.v1 import _v1_record, geofilter_conditions
from portail.api.v1_query import geo_field_of
from portail.api.v1_series import odsql_number
from portail.odsql.ast import quote_name, quote_string
from portail.odsql.parser import MAX_LENGTH
from portail.schema import Field, FieldType, fields_from_json

_ATTRIBUTES = ("remotedataset", "localkey", "remotekey", "fields")
_NUMBERS = (FieldType.INT, FieldType.DOUBLE)
#: How much of a where clause one batch of keys may fill (ODSQL bounds a clause's length).
_KEYS_TEXT = MAX_LENGTH * 9 // 10


@dataclass(frozen=True)
class Join:
    """One ``join.<name>.*``: the dataset joined, the keys matched and the remote fields written."""

    name: str
    dataset: str
    local_key: str
    remote_key: str
    fields: tuple[str, ...]  # empty: every field the caller sees


def read_join(params) -> Join | None:
    """The call's ``join.<name>.*``, or None; a 400 for a second join or a missing attribute."""
    given: dict[str, dict[str, str]] = {}
    for key, value in params.multi_items():
        if key.startswith("join.") and key.count(".") >= 2:
            name, attribute = key[5:].rsplit(".", 1)
            if attribute not in _ATTRIBUTES or not name:
                raise invalid_parameter(f"Invalid API parameter {key}: join.<name>.{{{', '.join(_ATTRIBUTES)}}} "
                                        "is expected.")
            given.setdefault(name, {})[attribute] = value.strip()
    if not given:
        return None
    if len(given) > 1:
        raise invalid_parameter(f"Invalid join API parameters: one join is expected, {len(given)} were found "
                                f"({', '.join(sorted(given))}).")
    name, parts = next(iter(given.items()))
    missing = [a for a in _ATTRIBUTES[:3] if not parts.get(a)]
    if missing:
        raise invalid_parameter(f"Missing value for join.{name}.{missing[0]} API parameter: a join needs "
                                "remotedataset, localkey and remotekey.")
    fields = tuple(f.strip() for f in parts.get("fields", "").split(",") if f.strip())
    return Join(name, parts["remotedataset"], parts["localkey"], parts["remotekey"], fields)


def joined_points(request: Request, portal: str, principal, join: Join, points: list[dict[str, Any]], *,
                  geofiltered: bool = False) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """``points`` (x being the local key's value) whose key some remote record holds, in their
    order, each with the list of those records, which become its x once the points are summed
    and ordered by their key (``v1_analysis``). ``geofiltered``: the call's geofilters keep the
    remote records instead of the local ones (module docstring)."""
    remote = get_visible_dataset(request.app.state.instance, portal, join.dataset, principal)
    visible = {f.name: f for f in fields_from_json(remote.current.fields)}  # the caller's: hidden ones are absent
    key = visible.get(join.remote_key)
    for name in (join.remote_key, *join.fields):
        if name not in visible:
            raise invalid_parameter(f"Invalid value for join.{join.name} API parameters: {name!r} is not a field of "
                                    f"dataset {join.dataset!r}.")
    within = _remote_geofilters(request, join, list(visible.values())) if geofiltered else []
    written = [visible[n] for n in join.fields] if join.fields else list(visible.values())
    columns = written + ([key] if key not in written else [])
    matches: dict[str, list[dict[str, Any]]] = {}
    keys = list(dict.fromkeys(_text(p["x"]) for p in points if p["x"] is not None))
    select = ", ".join(quote_name(f.name) for f in columns)
    for batch in _key_batches(key, keys):
        for row in _remote_rows(request, remote, select, key, batch, principal, within):
            matches.setdefault(_text(row[key.name]), []).append(_v1_record(remote, written, row, row["_id"]))
    return [(p, matches[_text(p["x"])]) for p in points if p["x"] is not None and _text(p["x"]) in matches]


def _text(value: Any) -> str:
    """A key as the text both sides are compared by: an integral number without its ``.0`` (an
    INT key here, a DOUBLE one there)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _remote_geofilters(request: Request, join: Join, fields: list[Field]) -> list[str]:
    """The call's geofilters on the remote dataset's geometry (module docstring); a 400 when it
    has none either."""
    geo = next((f for f in fields if f.type == FieldType.GEO_SHAPE), None) or geo_field_of(fields)
    if geo is None:
        raise invalid_parameter(f"Neither this dataset nor join.{join.name}.remotedataset {join.dataset!r} has a geo "
                                "field: geofilter parameters cannot apply.")
    return geofilter_conditions(params_of(request), quote_name(geo.name))


def _remote_rows(request: Request, remote, select: str, key: Field, literals: list[str],
                 principal, within: list[str]) -> list[dict[str, Any]]:
    """The remote records whose key is one of ``literals`` (ODSQL literals) and that ``within``
    (geofilters) keeps. An answer that fills the window may have been cut: its batch is asked
    again in halves, so that every match is written. One key's own matches stop at the window
    (``GROUP_WINDOW``, in the remote's order)."""
    page = query_records(request.app.state.instance, remote, select=select,
                         where=[f"{quote_name(key.name)} in ({', '.join(literals)})", *within], limit=GROUP_WINDOW,
                         max_limit=GROUP_WINDOW, window=None, with_ids=True, principal=principal)
    if len(page.results) < GROUP_WINDOW or len(literals) == 1:
        return page.results
    half = len(literals) // 2
    return [*_remote_rows(request, remote, select, key, literals[:half], principal, within),
            *_remote_rows(request, remote, select, key, literals[half:], principal, within)]


def _key_batches(key: Field, keys: list[str]) -> Iterator[list[str]]:
    """``keys`` as ODSQL literals of the remote key's type, in batches whose ``in`` list stays
    under ``_KEYS_TEXT``; a key a numeric field cannot hold matches nothing there and is left out."""
    literals = []
    for value in keys:
        if key.type in _NUMBERS:
            try:
                literals.append(odsql_number(float(value)))
            except ValueError:
                continue
        else:
            literals.append(quote_string(value))
    batch: list[str] = []
    size = 0
    for literal in literals:
        if batch and size + len(literal) + 2 > _KEYS_TEXT:
            yield batch
            batch, size = [], 0
        batch.append(literal)
        size += len(literal) + 2
    if batch:
        yield batch
