"""JSON documents and JSON Lines, read by DuckDB's JSON reader.

Why DuckDB rather than a Python streaming parser: its reader parses a top-level array or JSON
Lines record by record, in parallel and in bounded memory, and gives every key a type from the
*whole* file (``sample_size=-1``), which is the union of keys the brief asks for. A first scan
reads the schema; the staging scan then reads the file again with that schema spelt out, so
DuckDB's own guesses stay out: strings that look like dates are read as text (the loader
infers them, as for CSV) and only what JSON itself types is declared — integers (INT), other
numbers (DOUBLE), booleans, and objects/arrays, kept as JSON text. A key whose values mix kinds
(``12`` here, ``"12"`` there) is staged as text to infer, and so is a key of integers whose name
says it holds a code (``siret``, ``code_insee``: ``infer.looks_like_code``): the loader then keeps
them as text, as written (``1001``), by the rule and with the note of a CSV column of integers.

Documents wrapped in an object (``{"marches": [...]}``) are read through the member holding
the records (``options.json_path``, dotted, or the only member that is an array of objects).
DuckDB must parse such a document as one value, so it needs memory in proportion to the
document (up to DuckDB's 4 GiB object limit); publishers of bigger files should use JSON
Lines or a top-level array, which stream.

On a syntax error the file is re-read with Python's parser to name the line: JSON Lines line
by line (bounded memory), documents only up to ``PY_DIAGNOSE_BYTES``; beyond that, DuckDB's
own position is reported. A JSON Lines line ending with a comma (``{"a": 1},``, an array cut
into lines) is refused: JSON Lines has no separator, and accepting one would accept whatever
sits after it.

A record that is no object is refused, naming its line (JSON Lines) or element (array): a
``null`` too, which DuckDB would read as a record of nulls. Keys differing only by case
(``a`` and ``A``) are refused: DuckDB's names are case-insensitive, so it cannot stage both.
An empty key (``""``) is refused, naming its record: DuckDB cannot read it by name either, and
its values were loaded as nulls.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from portail.ingest.archive import remove_tree
from portail.ingest.errors import IngestError
from portail.ingest.infer import looks_like_code
from portail.ingest.readers._common import describe, engine_column, first_line, make_table, query_stager, \
    quote_ident, sql_literal, type_family
from portail.ingest.types import RawTable, ReadOptions
from portail.schema import FieldType, unique_names
from portail.store.duckdb_store import scratch_name

HEAD_BYTES = 1 << 16
PY_DIAGNOSE_BYTES = 32 << 20
MAX_DOCUMENT_BYTES = 2**32 - 1  # DuckDB's maximum_object_size is a 32-bit count
_ARRAY_OF_OBJECTS = re.compile(r"^STRUCT\(.*\)\[\]$", re.S)
_READ_TYPES = {"nested": "JSON", "int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN"}
_RECORD = "__portail_record"


@dataclass(frozen=True)
class Layout:
    """Where the records are: DuckDB's ``format`` and, in a wrapping object, the member path."""

    format: str  # "array", "newline_delimited" or "unstructured"
    path: tuple[str, ...] = ()
    max_object: int = 16 << 20


def read_json(path: Path, options: ReadOptions) -> RawTable:
    source = path.name
    head = _head(path, source)
    if head.startswith("["):
        if options.json_path:
            raise IngestError(f"json_path {options.json_path!r} given, but the document is an array", source=source)
        return _read_records(path, Layout("array", max_object=options.max_line_bytes), ["records: top-level array"])
    if not head.startswith("{"):
        raise IngestError("not a JSON document (it starts with neither '[' nor '{')", source=source, line=1)
    if not options.json_path and '"FeatureCollection"' in head:
        from portail.ingest.readers.geo import read_geo  # a GeoJSON file named .json

        return read_geo(path, options)
    layout = Layout("unstructured", max_object=_document_limit(path, source))
    if options.json_path:
        parts = tuple(part for part in options.json_path.split(".") if part)
        if not parts:
            raise IngestError(f"json_path {options.json_path!r} names no member", source=source)
        note = f"records: array at {options.json_path!r}"
    else:
        parts = (_records_member(path, layout, source),)
        note = f"records: member {parts[0]!r} (the only array of objects)"
    return _read_records(path, Layout(layout.format, parts, layout.max_object), [note])


def read_jsonl(path: Path, options: ReadOptions) -> RawTable:
    _head(path, path.name)
    layout = Layout("newline_delimited", max_object=options.max_line_bytes)
    if not _starts_with_bom(path):
        return _read_records(path, layout, ["JSON Lines"])
    copy = _without_bom(path, options.tmp_dir)
    try:
        raw = _read_records(copy, layout, ["JSON Lines", "UTF-8 byte order mark skipped"])
    except BaseException:
        remove_tree(copy.parent)
        raise
    raw.cleanup.append(copy.parent)
    return raw


def _starts_with_bom(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(len(codecs.BOM_UTF8)) == codecs.BOM_UTF8


def _without_bom(path: Path, directory: Path | None) -> Path:
    """A copy of a JSON Lines file without its UTF-8 byte order mark, under its own name in a
    private scratch folder (the loader deletes it: ``RawTable.cleanup``). DuckDB reads a BOM
    before a JSON array but refuses it before JSON Lines, which Windows tools write (PowerShell's
    ``Out-File -Encoding utf8``): such a file was refused as "malformed JSON", on its line 2."""
    folder = Path(directory or tempfile.gettempdir()) / scratch_name("jsonl")
    try:
        folder.mkdir(mode=0o700, parents=True)
        copy = folder / path.name
        private = os.open(copy, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)  # an upload's data: its owner's alone
        with open(path, "rb") as source, open(private, "wb") as target:
            source.seek(len(codecs.BOM_UTF8))
            shutil.copyfileobj(source, target, 1 << 20)
    except OSError as error:
        remove_tree(folder)
        raise IngestError(f"could not copy the file without its byte order mark ({error.strerror or error})",
                          source=path.name) from error
    except BaseException:  # an interrupted copy (Ctrl-C, a worker stopped) leaves no scratch folder either
        remove_tree(folder)
        raise
    return copy


# --- schema --------------------------------------------------------------------------------

def _head(path: Path, source: str) -> str:
    with open(path, "rb") as handle:
        text = handle.read(HEAD_BYTES).decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if not text:
        raise IngestError("the file is empty", source=source)
    return text


def _document_limit(path: Path, source: str) -> int:
    size = path.stat().st_size + 1
    if size > MAX_DOCUMENT_BYTES:
        raise IngestError("a JSON document wrapped in an object cannot exceed 4 GiB; publish a top-level array or "
                          "JSON Lines instead", source=source)
    return max(size, 16 << 20)


def _scan(path: Path, layout: Layout, depth: int | None = None, columns: str | None = None) -> str:
    args = [sql_literal(str(path)), f"format='{layout.format}'", "records=true",
            f"maximum_object_size={layout.max_object}"]
    args += [f"columns={columns}"] if columns else ["sample_size=-1", f"maximum_depth={depth}"]
    return f"read_json({', '.join(args)})"


def _path_expression(parts: tuple[str, ...]) -> str:
    expression = quote_ident(parts[0])
    for part in parts[1:]:
        expression = f"struct_extract({expression}, {sql_literal(part)})"
    return expression


def _describe(path: Path, layout: Layout, query: str) -> list[tuple[str, str]]:
    try:
        return describe(query)
    except duckdb.Error as error:
        raise _diagnose(path, layout, error) from None


def _records_member(path: Path, layout: Layout, source: str) -> str:
    members = _describe(path, layout, f"SELECT * FROM {_scan(path, layout, depth=3)}")
    found = [name for name, kind in members if _ARRAY_OF_OBJECTS.match(kind)]
    if len(found) != 1:
        listed = ", ".join(repr(name) for name, _ in members) or "none"
        reason = "no member" if not found else "several members"
        raise IngestError(f"{reason} of the document is an array of objects; set json_path to the records "
                          f"(members: {listed})", source=source)
    return found[0]


def _record_fields(path: Path, layout: Layout) -> list[tuple[str, str]]:
    """(key, detected DuckDB type) of the records, every record scanned."""
    if not layout.path:
        return _describe(path, layout, f"SELECT * FROM {_scan(path, layout, depth=2)}")
    scan = _scan(path, layout, depth=len(layout.path) + 3)
    try:
        [(_, kind)] = describe(f"SELECT {_path_expression(layout.path)} FROM {scan}")
    except duckdb.BinderException:
        raise IngestError(f"json_path {'.'.join(layout.path)!r} not found in the document", source=path.name) from None
    except duckdb.Error as error:
        raise _diagnose(path, layout, error) from None
    if not _ARRAY_OF_OBJECTS.match(kind):
        raise IngestError(f"json_path {'.'.join(layout.path)!r} is not an array of objects", source=path.name)
    return _describe(path, layout, f"SELECT unnest({_path_expression(layout.path)}, max_depth := 2) FROM {scan}")


def _check_records(path: Path, layout: Layout, labels: list[str]) -> None:
    """Refuse, in a top-level array or JSON Lines, a record that is no object (DuckDB reads a
    ``null`` as a record of nulls, where it refuses a ``5``), and keys differing only by case
    (``a`` and ``A``): DuckDB's names are case-insensitive, so it renames the second (``A_1``),
    and the typed scan, looking for that key, would read nulls. A name such a renaming could
    give is checked against the keys the records hold. One pass over the file's objects."""
    if layout.path:
        return  # a wrapped document: DuckDB refuses such keys itself (``_diagnose``)
    lowered = [label.lower() for label in labels]
    suspects = {}
    for position, label in enumerate(labels):
        match = re.fullmatch(r"(.+)_[0-9]+", label)
        if match and match.group(1).lower() in lowered:
            suspects[label] = match.group(1).lower()
        elif label == f"C{position}":  # DuckDB's name for an empty key ("") in this position
            suspects[label] = ""
    objects = _objects(path, layout)
    try:
        with duckdb.connect() as con:  # a private connection, as for ``describe``
            [others] = con.execute(f"SELECT count(*) FILTER (WHERE json_type(json) <> 'OBJECT') FROM {objects}").fetchone()
            # the distinct keys, streamed (a list of every record's keys would hold the file's)
            found = {key for (key,) in con.execute(
                f"SELECT DISTINCT unnest(json_keys(json)) FROM {objects} WHERE json_type(json) = 'OBJECT'").fetchall()} \
                if suspects and not others else set()
    except duckdb.Error as error:
        raise _diagnose(path, layout, error) from None
    if others and layout.format == "array":
        raise _non_object_element(path, layout) or IngestError("an element of the array is no object", source=path.name)
    if others:
        raise _jsonl_error(path) or IngestError("a line is not a JSON object", source=path.name)
    for label, base in suspects.items():
        if label not in found and base == "":
            if "" in found:
                raise _empty_key_error(path, layout, objects)
        elif label not in found:
            keys = _spellings(label, found)
            record = _second_spelling(path, layout, objects, keys) if keys else None
            if record is None:
                refuse_case_clash(path.name, keys or [label])
            if layout.format == "array":
                refuse_case_clash(path.name, keys, f"element {record} of the array")
            refuse_case_clash(path.name, keys, line=_line_of(path, record))


def _objects(path: Path, layout: Layout) -> str:
    """The scan of the file's JSON values, one per record (the records' own keys not read)."""
    return (f"read_json_objects({sql_literal(str(path))}, format='{layout.format}', "
            f"maximum_object_size={layout.max_object})")


def _non_object_element(path: Path, layout: Layout) -> IngestError | None:
    """The refusal naming the first element of a top-level array that is no object, when the
    array also holds objects (None otherwise: it has no records at all). DuckDB refuses a number
    or a string among the records as "expected records", which was reported as an array with no
    records at all."""
    try:
        with duckdb.connect() as con:
            found = con.execute(
                "SELECT n, json_type(json) FROM (SELECT row_number() OVER () AS n, json "
                f"FROM {_objects(path, layout)}) WHERE json_type(json) <> 'OBJECT' "
                f"AND EXISTS (SELECT 1 FROM {_objects(path, layout)} WHERE json_type(json) = 'OBJECT') "
                "ORDER BY n LIMIT 1").fetchall()
    except duckdb.Error:
        return None  # unreadable as values: the caller's message stands
    if not found:
        return None
    [(element, kind)] = found
    return IngestError(f"element {element} of the array is {_JSON_KINDS.get(kind, kind.lower())}: each element "
                       "must be a JSON object", source=path.name)


#: ``json_type``'s answers in JSON's words.
_JSON_KINDS = {"NULL": "null", "BOOLEAN": "a boolean", "BIGINT": "a number", "UBIGINT": "a number",
               "DOUBLE": "a number", "VARCHAR": "a string", "ARRAY": "an array"}


def _spellings(label: str, found: set[str]) -> list[str]:
    """The keys of the records that DuckDB renamed ``label``: those spelling one name in more
    than one case. Its suffixes go one at a time, as DuckDB adds one per clash: ``AB`` beside
    ``ab`` and ``ab_1`` is ``AB_1_1``, whose first base, ``AB_1``, is spelled once. Empty when
    no base is spelled twice (the refusal then names the label alone)."""
    base = label
    while match := re.fullmatch(r"(.+)_[0-9]+", base):
        base = match.group(1)
        keys = sorted({key for key in found if key.lower() == base.lower()})
        if len(keys) > 1:
            return keys
    return []


def _empty_key_error(path: Path, layout: Layout, objects: str | None = None) -> IngestError:
    """The refusal of a key that is empty (``""``), naming the first record holding it where the
    records can be scanned (``objects``): DuckDB names it ``C<position>`` and then reads no such
    key, so its values were loaded as nulls (a wrapped document failed on "struct_extract")."""
    message = 'a key of the records is empty (""): every field needs a name, give it one'
    record = _firsts(path, layout, objects, [""])[0] if objects else None
    if record is None:
        return IngestError(message, source=path.name)
    if layout.format == "array":
        return IngestError(f"element {record} of the array: {message}", source=path.name)
    return IngestError(message, source=path.name, line=_line_of(path, record))


def _second_spelling(path: Path, layout: Layout, objects: str, keys: list[str]) -> int | None:
    """The number of the first record that holds a second spelling of ``keys`` (on the refusal
    path only: one more pass over the file's objects, for every spelling at once); None when
    the records do not show two (a spelling no record holds as such: its first is NULL)."""
    records = _firsts(path, layout, objects, keys)
    return records[1] if len(records) > 1 else None


def _firsts(path: Path, layout: Layout, objects: str, keys: list[str]) -> list[int | None]:
    """The number of the first record holding each of ``keys`` (None: none does), sorted, Nones last."""
    firsts = ", ".join("min(n) FILTER (WHERE list_contains(json_keys(json), ?))" for _ in keys)
    try:
        with duckdb.connect() as con:
            [found] = con.execute(
                f"SELECT {firsts} FROM (SELECT row_number() OVER () AS n, json FROM {objects}) "
                "WHERE json_type(json) = 'OBJECT'", keys).fetchall()
    except duckdb.Error as error:
        raise _diagnose(path, layout, error) from None
    return sorted(found, key=lambda n: (n is None, n or 0))


def _line_of(path: Path, record: int) -> int:
    """The line of the ``record``-th object of a JSON Lines file (blank lines hold none)."""
    with open(path, "rb") as handle:
        held = 0
        for number, raw in enumerate(handle, start=1):
            held += bool(raw.strip())
            if held == record:
                return number
    return record


def refuse_case_clash(source: str, keys: list[str], where: str | None = None, line: int | None = None) -> None:
    """Refuse keys differing only by case; ``where`` or ``line``: the record holding the second
    one (a GeoJSON feature, ``readers.geo``; an element of an array; a line of JSON Lines)."""
    named = " and ".join(repr(key) for key in keys)
    raise IngestError(f"{where + ': ' if where else ''}keys {named} differ only by case: fields cannot be told apart "
                      "by case, rename all but one", source=source, line=line)


def _read_type(detected: str) -> str:
    """The type each key is read as: JSON's own types, everything else as it was written."""
    return _READ_TYPES.get(type_family(detected), "VARCHAR")


def _staging(read_type: str, name: str) -> tuple[FieldType | None, str]:
    """How a key is staged: declared with its JSON type, except integers under a code's name,
    staged as text to infer (``75056``, ``1001`` as written): a JSON number is no reason to sum
    INSEE codes, and inference keeps such a column as text with its note, as for a CSV."""
    if read_type == "BIGINT" and looks_like_code(name):
        return None, "CAST({} AS VARCHAR)"
    return engine_column(read_type, text=None)


# --- staging -------------------------------------------------------------------------------

def _read_records(path: Path, layout: Layout, notes: list[str]) -> RawTable:
    fields = _record_fields(path, layout)
    if not fields:
        raise IngestError("the records have no fields", source=path.name)
    labels = [key for key, _ in fields]
    _check_records(path, layout, labels)
    read_types = [_read_type(kind) for _, kind in fields]
    if layout.path:
        record_type = "STRUCT(" + ", ".join(f"{quote_ident(k)} {t}" for k, t in zip(labels, read_types)) + ")[]"
        for part in reversed(layout.path[1:]):
            record_type = f"STRUCT({quote_ident(part)} {record_type})"
        scan = _scan(path, layout, columns=f"{{{sql_literal(layout.path[0])}: {sql_literal(record_type)}}}")
        from_clause = f"(SELECT unnest({_path_expression(layout.path)}) AS {_RECORD} FROM {scan})"
        sources = [f"struct_extract({_RECORD}, {sql_literal(key)})" for key in labels]
    else:
        spelt = ", ".join(f"{sql_literal(k)}: {sql_literal(t)}" for k, t in zip(labels, read_types))
        from_clause = _scan(path, layout, columns=f"{{{spelt}}}")
        sources = [quote_ident(key) for key in labels]
    names = unique_names(labels)
    staged = [_staging(kind, name) for kind, name in zip(read_types, names)]
    nested = [key for key, kind in zip(labels, read_types) if kind == "JSON"]
    if nested:
        notes.append(f"kept as JSON: {', '.join(nested)}")
    diagnose = lambda error: _diagnose(path, layout, error)  # noqa: E731
    stage_for = query_stager(from_clause, [template.format(s) for (_, template), s in zip(staged, sources)], diagnose)
    return make_table(path.name, labels, [kind for kind, _ in staged], stage_for, notes=notes, diagnose=diagnose,
                      names=names)


# --- errors --------------------------------------------------------------------------------

def _diagnose(path: Path, layout: Layout, error: Exception) -> IngestError:
    """The line and reason of a JSON error, or DuckDB's message when Python finds nothing."""
    message = first_line(error, path.parent)
    if "struct_extract needs to be neither NULL nor empty" in message:  # a wrapped document's empty key
        return _empty_key_error(path, layout)
    clash = re.search(r'Duplicate name "(.*?)" in struct', message)
    if clash:  # keys differing only by case, in a wrapped document or nested records
        return IngestError(f"keys differing only by case ({clash.group(1)!r} and another spelling of it): fields "
                           "cannot be told apart by case, rename all but one", source=path.name)
    if layout.format == "newline_delimited":
        found = _jsonl_error(path)
    elif "expected records" in message:
        return (layout.format == "array" and _non_object_element(path, layout)) or IngestError(
            "no records: the data must be objects (an empty array, or an array of plain values, has none)",
            source=path.name)
    else:
        found = _document_error(path)
    return found or IngestError(f"malformed JSON ({message})", source=path.name)


def _jsonl_error(path: Path) -> IngestError | None:
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1:  # a BOM is accepted (the reader skips it): the first line's fault is elsewhere
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            if not raw.strip():
                continue
            try:
                value = json.loads(raw)
            except UnicodeDecodeError:
                return IngestError("the line is not UTF-8 text", source=path.name, line=number)
            except json.JSONDecodeError as error:
                return IngestError(_jsonl_reason(raw, error), source=path.name, line=number)
            if not isinstance(value, dict):
                return IngestError("each line must be a JSON object", source=path.name, line=number)
    return None


def _jsonl_reason(raw: bytes, error: json.JSONDecodeError) -> str:
    """Python's reason without its own "line 1" (the file's line is the error's), and a comma
    after the object (a JSON array cut into lines) said as such: it is no JSON Lines separator."""
    if error.msg == "Extra data" and raw.decode("utf-8")[error.pos:].lstrip().startswith(","):
        return f"a comma after the object (column {error.colno}): JSON Lines hold one object per line, with no comma"
    return f"malformed JSON: {error.msg} (column {error.colno})"


def _document_error(path: Path) -> IngestError | None:
    if path.stat().st_size > PY_DIAGNOSE_BYTES:
        return None
    data = path.read_bytes()
    try:
        json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        return IngestError("the document is not UTF-8 text", source=path.name, line=line)
    except json.JSONDecodeError as error:
        return IngestError(f"malformed JSON: {error.msg} (column {error.colno})", source=path.name, line=error.lineno)
    return None
