"""v1's record search as a feed (``format=rss``, RSS 2.0, or ``format=atom``, Atom 1.0), which
Opendatasoft's v1 documentation lists for it: the page the JSON answer lists (same query, same
window, same caller), written by the one feed writer (``api.feeds``).

Each record is an entry:

- its id and link are the record's v2.1 URL at the configured address
  (``{dataset}/records/{recordid}``), as the RDF exports name records and the calendar's events:
  stable while the record's values (or its key fields) are;
- its title is the first text field's value (datasets here declare no title field; the calendar
  and the waypoint exports title theirs so too), else the record id;
- its description lists the record's fields holding a value (labels and values, as HTML), geo
  fields aside: a shape is a long GeoJSON no reader draws, and v1's JSON has it as the geometry;
- its date is the record's ``record_timestamp`` (when the dataset's current version was processed,
  records carry no time of their own).
"""

from __future__ import annotations

import json
from datetime import datetime
from html import escape
from typing import Any

from fastapi import Response

from portail.api.feeds import Entry, Feed, feed_response
from portail.schema import GEO_TYPES, Field, FieldType

#: The feed formats of v1's record search.
FEEDS = ("rss", "atom")


def _shown(value: Any) -> str:
    """A v1 field value as text: a text as is, a list's items joined, the rest as JSON writes it."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    return json.dumps(value, ensure_ascii=False)


def _title(columns: list[Field], record: dict[str, Any]) -> str:
    """The entry's title: the first text field's value, else the record id."""
    first = next((f.name for f in columns if f.type == FieldType.TEXT), None)
    value = record["fields"].get(first) if first else None
    shown = _shown(value).strip() if value is not None else ""
    return shown or record["recordid"]


def _description(columns: list[Field], record: dict[str, Any]) -> str:
    """The record's fields holding a value, as an HTML definition list (text escaped for HTML
    here, the whole for XML by the writer)."""
    values = record["fields"]
    rows = "".join(f"<dt>{escape(f.label or f.name)}</dt><dd>{escape(_shown(values[f.name]))}</dd>"
                   for f in columns if f.type not in GEO_TYPES and values.get(f.name) is not None)
    return f"<dl>{rows}</dl>"


def records_feed(kind: str, records: list[dict[str, Any]], columns: list[Field], *, title: str, description: str,
                 page_link: str, dataset_link: str, publisher: str | None, updated: datetime) -> Response:
    """v1 records (``v1._v1_record``, in the search's order) as a feed of ``kind`` (``FEEDS``):
    ``page_link`` the dataset's page, ``dataset_link`` its v2.1 URL, the base of the records'."""
    feed = Feed(title=title, link=page_link, description=description or title, author=publisher, updated=updated)
    entries = [Entry(id=f"{dataset_link}/records/{r['recordid']}", link=f"{dataset_link}/records/{r['recordid']}",
                     title=_title(columns, r), description=_description(columns, r), updated=updated)
               for r in records]
    return feed_response(kind, feed, entries)
