"""Records as RDF: Turtle, N3, RDF/XML and JSON-LD, written batch by batch.

Each record is a resource whose IRI is its dataset's API URL and its record id
(``{dataset}/records/{id}``, the IRI answers with the record in JSON), typed ``{dataset}#Record``;
each field is a predicate ``{dataset}#{name}`` (``local_name``). Values are literals typed as XSD (``xsd:integer``,
``xsd:double``, ``xsd:boolean``, ``xsd:date``, ``xsd:dateTime`` in the request's zone), text as
plain strings (a code with leading zeros stays ``"01001"``), geometries as GeoSPARQL WKT
literals (longitude first, CRS84 as GeoSPARQL assumes); a multivalued field gives one triple per
value and a null none. ``use_labels`` adds each predicate's ``rdfs:label`` (a label is not an
IRI: predicates stay the same whatever the request).

Streaming, never a graph: a batch becomes text in one pass (no rdflib ``Graph`` of millions of
triples). N3 is written as N-Triples, the subset of N3 every RDF reader takes line by line.
The record ids come as the batch's last column (``FORMATS[...].extra["record_ids"]`` asks the
API for it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from xml.sax.saxutils import quoteattr

import pyarrow as pa

from portail.exports.xmltext import xml_text
from portail.odsql.literals import zone
from portail.schema import GEO_TYPES, Field, FieldType
from portail.values import record_value

if TYPE_CHECKING:  # formats registers these writers: it imports this module, not the reverse
    from portail.exports.formats import ExportOptions

XSD = "http://www.w3.org/2001/XMLSchema#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
WKT = "http://www.opengis.net/ont/geosparql#wktLiteral"
DATATYPES = {FieldType.INT: XSD + "integer", FieldType.DOUBLE: XSD + "double", FieldType.BOOLEAN: XSD + "boolean",
             FieldType.DATE: XSD + "date", FieldType.DATETIME: XSD + "dateTime",
             FieldType.GEO_POINT_2D: WKT, FieldType.GEO_SHAPE: WKT}
#: The class of the records, under the dataset's URL (field names are lowercase: no predicate takes it).
RECORD_CLASS = "Record"

_UNSAFE = re.compile(r"[^A-Za-z0-9_]+")
def local_name(name: str) -> str:
    """A field's name as the local part of its predicate: an XML name, so that RDF/XML can write
    it (``2019_pop`` → ``_2019_pop``; field names never start with ``_``, so none collide)."""
    safe = _UNSAFE.sub(lambda m: "".join(f"-{b:02X}" for b in m.group().encode()), name)
    return safe if re.match(r"[A-Za-z_]", safe) else "_" + safe


@dataclass(frozen=True)
class Vocabulary:
    """The IRIs of one export: the dataset's namespace and a predicate per output field."""

    dataset: str
    predicates: list[str]

    @classmethod
    def of(cls, fields: list[Field], options: ExportOptions) -> "Vocabulary":
        if not options.dataset_url:
            raise ValueError("an RDF export needs the dataset's URL")
        dataset = quote(options.dataset_url.rstrip("/"), safe=":/?[]@!$&'()*+,;=%~")
        return cls(dataset, [f"{dataset}#{local_name(f.name)}" for f in fields])

    @property
    def namespace(self) -> str:
        return self.dataset + "#"

    @property
    def record_class(self) -> str:
        return self.namespace + RECORD_CLASS

    def subject(self, record_id: str) -> str:
        return f"{self.dataset}/records/{record_id}"


# -- values -------------------------------------------------------------------------------------
def _lexical(f: Field, value: Any) -> str:
    """One JSON-shaped value (``values.record_value``) as the lexical form of its literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "INF" if value > 0 else "-INF"
        return repr(value)
    if isinstance(value, (dict, list)):  # a json field
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _column(f: Field, array: pa.Array, timezone: str) -> list[Any]:
    """A column's cells: None, a value, or a list of values (multivalued), shaped as the JSON
    output shapes them; geometries (read as WKB) as WKT."""
    if f.type in GEO_TYPES:
        import shapely

        wkb = array.to_pylist()
        shapes = shapely.from_wkb(wkb)
        texts = shapely.to_wkt(shapes, rounding_precision=-1)
        return [None if raw is None else str(text) for raw, text in zip(wkb, texts)]
    tz = zone(timezone)
    return [record_value(f, value, tz) for value in array.to_pylist()]


def _cells(f: Field, value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list) and f.type not in (FieldType.JSON, FieldType.FILE):
        return [v for v in value if v is not None]
    return [value]


def _rows(fields: list[Field], batch: pa.RecordBatch, timezone: str) -> Iterator[tuple[str, list[list[Any]]]]:
    """(record id, each field's values) for each row of a batch whose last column is the record id."""
    columns = [_column(f, batch.column(i), timezone) for i, f in enumerate(fields)]
    ids = batch.column(batch.num_columns - 1).to_pylist()
    for index, record_id in enumerate(ids):
        yield record_id, [_cells(f, column[index]) for f, column in zip(fields, columns)]


# -- Turtle and N-Triples -----------------------------------------------------------------------
def _string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r") + '"'


#: Datatypes by prefixed name, for Turtle (declared in its header).
_PREFIXED = {t: ("xsd:" + d.removeprefix(XSD)) if d.startswith(XSD) else "geo:wktLiteral" for t, d in DATATYPES.items()}
_PREFIXES = {"xsd": XSD, "geo": WKT.removesuffix("wktLiteral")}


def _literal(f: Field, value: Any, prefixed: bool = False) -> str:
    """A literal in N-Triples syntax (full datatype IRIs), or in Turtle's with ``prefixed``."""
    text = _string(_lexical(f, value))
    if f.type not in DATATYPES:
        return text
    return f"{text}^^{_PREFIXED[f.type]}" if prefixed else f"{text}^^<{DATATYPES[f.type]}>"


def _labels_ntriples(fields: list[Field], vocabulary: Vocabulary) -> str:
    return "".join(f"<{p}> <{RDF}type> <{RDF}Property> .\n<{p}> <{RDFS}label> {_string(f.label)} .\n"
                   for f, p in zip(fields, vocabulary.predicates))


def _batches(fields: list[Field], batches: Iterator[pa.RecordBatch], options: ExportOptions,
             render: Callable[[str, list[list[Any]]], str], separator: str = "") -> Iterator[bytes]:
    """Each non-empty batch rendered record by record (in a small thread pool, in order), the
    records joined by ``separator`` across batches too."""
    from portail.exports.formats import pipelined

    def work(batch: pa.RecordBatch) -> bytes:
        return separator.join(render(record_id, values) for record_id, values in _rows(fields, batch, options.timezone)).encode()

    first = True
    for chunk in pipelined(work, (b for b in batches if b.num_rows)):
        yield chunk if first else separator.encode() + chunk
        first = False


def write_ntriples(fields: list[Field], batches: Iterator[pa.RecordBatch], options: ExportOptions) -> Iterator[bytes]:
    vocabulary = Vocabulary.of(fields, options)

    def render(record_id: str, values: list[list[Any]]) -> str:
        subject = f"<{vocabulary.subject(record_id)}>"
        lines = [f"{subject} <{RDF}type> <{vocabulary.record_class}> .\n"]
        for f, predicate, cells in zip(fields, vocabulary.predicates, values):
            lines.extend(f"{subject} <{predicate}> {_literal(f, v)} .\n" for v in cells)
        return "".join(lines)

    def chunks() -> Iterator[bytes]:
        if options.use_labels:
            yield _labels_ntriples(fields, vocabulary).encode()
        yield from _batches(fields, batches, options, render)

    return chunks()


def write_turtle(fields: list[Field], batches: Iterator[pa.RecordBatch], options: ExportOptions) -> Iterator[bytes]:
    vocabulary = Vocabulary.of(fields, options)
    names = [p.removeprefix(vocabulary.namespace) for p in vocabulary.predicates]

    def render(record_id: str, values: list[list[Any]]) -> str:
        parts = [f"<{vocabulary.subject(record_id)}> a :{RECORD_CLASS}"]
        for f, name, cells in zip(fields, names, values):
            if cells:
                parts.append(f":{name} " + ", ".join(_literal(f, v, prefixed=True) for v in cells))
        return " ;\n    ".join(parts) + " .\n"

    def chunks() -> Iterator[bytes]:
        prefixes = {"": vocabulary.namespace, "rdf": RDF, "rdfs": RDFS, **_PREFIXES}
        header = "".join(f"@prefix {name}: <{iri}> .\n" for name, iri in prefixes.items()) + "\n"
        if options.use_labels:
            header += "".join(f":{name} a rdf:Property ; rdfs:label {_string(f.label)} .\n" for f, name in zip(fields, names))
        yield header.encode()
        yield from _batches(fields, batches, options, render)

    return chunks()


# -- RDF/XML ------------------------------------------------------------------------------------
def write_rdfxml(fields: list[Field], batches: Iterator[pa.RecordBatch], options: ExportOptions) -> Iterator[bytes]:
    vocabulary = Vocabulary.of(fields, options)
    names = [p.removeprefix(vocabulary.namespace) for p in vocabulary.predicates]
    datatypes = [f' rdf:datatype="{DATATYPES[f.type]}"' if f.type in DATATYPES else "" for f in fields]

    def render(record_id: str, values: list[list[Any]]) -> str:
        parts = [f"<ds:{RECORD_CLASS} rdf:about={quoteattr(vocabulary.subject(record_id))}>"]
        for f, name, datatype, cells in zip(fields, names, datatypes, values):
            parts.extend(f"<ds:{name}{datatype}>{xml_text(_lexical(f, v))}</ds:{name}>" for v in cells)
        parts.append(f"</ds:{RECORD_CLASS}>\n")
        return "".join(parts)

    def chunks() -> Iterator[bytes]:
        header = (f'<?xml version="1.0" encoding="utf-8"?>\n<rdf:RDF xmlns:rdf="{RDF}" xmlns:rdfs="{RDFS}" '
                  f"xmlns:ds={quoteattr(vocabulary.namespace)}>\n")
        if options.use_labels:
            header += "".join(f"<rdf:Property rdf:about={quoteattr(p)}><rdfs:label>{xml_text(f.label)}</rdfs:label>"
                              f"</rdf:Property>\n" for f, p in zip(fields, vocabulary.predicates))
        yield header.encode()
        yield from _batches(fields, batches, options, render)
        yield b"</rdf:RDF>\n"

    return chunks()


# -- JSON-LD ------------------------------------------------------------------------------------
def _json_value(f: Field, value: Any) -> Any:
    """Numbers and booleans stay JSON numbers and booleans (the context types them); what JSON
    cannot hold (NaN, infinities) and everything else is the literal's lexical form."""
    if isinstance(value, bool) or (isinstance(value, int) and f.type == FieldType.INT):
        return value
    if isinstance(value, float) and value == value and value not in (float("inf"), float("-inf")):
        return value
    return _lexical(f, value)


def json_ld_term(name: str) -> str:
    """A field's key in the JSON-LD records: its name, as in the JSON export, unless it starts
    with ``@`` (an alias, ``select=bs as `@id```), a keyword there (``@id`` replaced the
    record's IRI, ``@graph`` dropped its values, ``@context`` failed the file): its predicate's
    local name then (``local_name``)."""
    return local_name(name) if name.startswith("@") else name


def write_jsonld(fields: list[Field], batches: Iterator[pa.RecordBatch], options: ExportOptions) -> Iterator[bytes]:
    """``{"@context": …, "@graph": [records]}``: the context maps each field name to its
    predicate and datatype, so a record reads as the JSON export's record plus ``@id``/``@type``."""
    vocabulary = Vocabulary.of(fields, options)
    terms = [json_ld_term(f.name) for f in fields]
    context: dict[str, Any] = {RECORD_CLASS: vocabulary.record_class}
    for f, term, predicate in zip(fields, terms, vocabulary.predicates):
        context[term] = {"@id": predicate, "@type": DATATYPES[f.type]} if f.type in DATATYPES else predicate

    def render(record_id: str, values: list[list[Any]]) -> str:
        node: dict[str, Any] = {"@id": vocabulary.subject(record_id), "@type": RECORD_CLASS}
        for f, term, cells in zip(fields, terms, values):
            if cells:
                shaped = [_json_value(f, v) for v in cells]
                node[term] = shaped if len(shaped) > 1 or "multivalued" in f.annotations else shaped[0]
        return json.dumps(node, ensure_ascii=False, separators=(",", ":"))

    def chunks() -> Iterator[bytes]:
        opening = '{"@context":' + json.dumps(context, ensure_ascii=False) + ',"@graph":['
        if options.use_labels:
            labels = [json.dumps({"@id": p, "@type": RDF + "Property", RDFS + "label": f.label}, ensure_ascii=False)
                      for f, p in zip(fields, vocabulary.predicates)]
            opening += ",".join(labels)
        yield opening.encode()
        separator = "," if options.use_labels and fields else ""
        for index, chunk in enumerate(_batches(fields, batches, options, render, separator=",")):
            yield (separator.encode() if index == 0 else b"") + chunk
        yield b"]}"

    return chunks()
