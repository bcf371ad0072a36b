"""Type inference over the whole staged table, and the casts that apply it.

One aggregate query counts, for every text column, how many values look like each type.
A column gets a type only when *every* non-empty value fits it, apart from well-known
"no value" markers (``N/A``, ``nd``, ``s``…), which become nulls (counted in a field note, not
as rejected values: they say the value is missing, nothing failed to read). A spreadsheet's
error values (``#DIV/0!``, ``#N/A``…, ``ERROR_VALUES``) do not decide a type either, but a
formula failed there: in a typed column they are rejected values, shown in the report with
their line, as in a CSV written from the sheet.
Anything else stays text: a load never fails because row 10,001 disagrees with row 1.

French rules: values with a leading zero followed by a digit (``01001``, ``06``, NAF ``01.11``,
SIREN ``052 100 554``) are codes, while ``0.5`` and ``0,25`` are numbers; columns of numbers whose
name says they hold a code (``code_*``, ``insee``, ``siren``…) stay text, as written (``552 100 554``,
NAF ``56.10``; JSON and GeoJSON readers stage integers as text for this rule), integers with a
note counting the values shorter than the widest, whose leading zeros the producer may have lost;
``dd/mm/yyyy`` dates are read day-first unless the data proves month-first; decimal commas are
numbers; ``oui``/``non`` and ``vrai``/``faux`` are booleans. ``O``/``N`` stay text: Sirene's flags also take other letters
(``P``), ``S`` is a "no value" marker that would hide a North/South column's half, and a
column's type must not change with the letters one refresh happens to hold.

SQL is built from constant templates in which the column is substituted as a quoted
identifier (a node of the casts' trees; in the counting passes, that node as sqlglot writes it,
quoted and escaped). Staged columns carry the normalized names of ``schema.unique_names``, so
no header text reaches this SQL at all (tests/ingest/test_csv.py loads hostile headers).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb
import sqlglot
from sqlglot import exp

from portail.schema import DUCKDB_TYPES, GEO_TYPES, FieldType
from portail.store.engine import ensure_spatial

NULL_TOKENS = ("na", "n/a", "n.a.", "nan", "null", "none", "nd", "n.d.", "n/d", "nc", "n.c.", "-", "--", "?", "s",
               "x", "secret")
#: What Excel and LibreOffice show in a cell whose formula failed (lower case).
ERROR_VALUES = ("#null!", "#div/0!", "#value!", "#ref!", "#name?", "#num!", "#n/a", "#getting_data", "#spill!",
                "#calc!", "#field!", "#blocked!", "#connect!", "#busy!", "#unknown!", "#ext!", "#error!")
CODE_WORDS = frozenset({"code", "codes", "cod", "insee", "siren", "siret", "nic", "cp", "postal", "codepostal", "zip",
                        "dep", "dept", "departement", "codgeo", "geo", "com", "depcom", "epci", "iris", "naf", "ape",
                        "cog", "uai", "finess", "rna", "cedex", "tel", "telephone", "phone", "ean", "isbn", "iban",
                        "depet", "comet", "cpos", "postcode", "arr", "arrondissement", "canton", "can", "circonscription"})

_I = "__col__"  # placeholder identifier in templates
_T = f"nullif(trim({_I}), '')"  # the trimmed, non-empty value
_NOT_TOKEN = f"(length({_T}) > 8 OR lower({_T}) NOT IN ({', '.join(repr(t) for t in NULL_TOKENS)}))"
_RE_INT = r"[+-]?[0-9]{1,18}"
_RE_LEAD0 = "[+-]?0[0-9][0-9., \u00a0\u202f]*([eE][+-]?[0-9]+)?"  # a code, even with dots or spaces
_RE_DOT = r"[+-]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?[0-9]+[eE][+-]?[0-9]+"
_RE_COMMA = r"[+-]?[0-9]+,[0-9]+"
_RE_GROUPED = "[+-]?[0-9]{1,3}([ \u00a0\u202f][0-9]{3})+([.,][0-9]+)?"
# Dates are recognised by pattern only (a failing strptime is costly in the engine); an
# impossible date such as 31/02 then fails the cast and is reported as rejected.
_DAY, _MONTH = "(0?[1-9]|[12][0-9]|3[01])", "(0?[1-9]|1[0-2])"
_RE_ISO_DATE = r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_RE_DMY = f"{_DAY}/{_MONTH}/[0-9]{{4}}"
_RE_MDY = f"{_MONTH}/{_DAY}/[0-9]{{4}}"
_RE_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?"
_RE_ISO_DT = _RE_ISO_DATE + r"[T ]" + _RE_TIME + r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)?"
_RE_FR_DT = _RE_DMY + r"[ T]([01]?[0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?"
_RE_POINT = r"[+-]?[0-9]{1,3}\.[0-9]+\s*,\s*[+-]?[0-9]{1,3}\.[0-9]+"
_RE_GEOJSON = r'\s*\{.*"type"\s*:\s*"(Point|MultiPoint|LineString|MultiLineString|Polygon|MultiPolygon|GeometryCollection)".*\}\s*'

_IS_BOOL = f"lower({_T}) IN ('true', 'false', 'vrai', 'faux', 'oui', 'non')"
_IS_ERROR = f"lower({_T}) IN ({', '.join(repr(e) for e in ERROR_VALUES)})"

#: Each value falls in the first class it fits; a column's histogram of classes decides its type.
#: One CASE per value, so a text value costs a few failed anchored matches and nothing more.
_RE_NUMERIC_CHARS = "[+-]?[0-9.][0-9., \u00a0\u202f]*([eE][+-]?[0-9]+)?"
_RE_DATE_CHARS = "[0-9]{1,4}[-/][0-9]{1,2}[-/][0-9]{1,4}([ T].*)?"
CLASSIFY = (
    f"CASE WHEN {_T} IS NULL THEN 'null' "
    f"WHEN length({_T}) <= 8 AND NOT ({_NOT_TOKEN}) THEN 'token' "
    f"WHEN starts_with({_T}, '#') AND {_IS_ERROR} THEN 'error' "
    f"WHEN regexp_full_match({_T}, '{_RE_NUMERIC_CHARS}') THEN CASE "
    f"  WHEN regexp_full_match({_T}, '{_RE_LEAD0}') THEN 'lead0' "
    f"  WHEN regexp_full_match({_T}, '{_RE_INT}') THEN 'int' "
    f"  WHEN regexp_full_match({_T}, '{_RE_DOT}') THEN 'dot' "
    f"  WHEN regexp_full_match({_T}, '{_RE_COMMA}') THEN 'comma' "
    f"  WHEN regexp_full_match({_T}, '{_RE_GROUPED}') THEN 'grouped' "
    f"  WHEN regexp_full_match({_T}, '{_RE_POINT}') THEN 'point' "
    f"  ELSE 'text' END "
    f"WHEN regexp_full_match({_T}, '{_RE_DATE_CHARS}') THEN CASE "
    f"  WHEN regexp_full_match({_T}, '{_RE_ISO_DATE}') THEN 'iso_date' "
    f"  WHEN regexp_full_match({_T}, '{_RE_DMY}') THEN "
    f"    CASE WHEN regexp_full_match({_T}, '{_RE_MDY}') THEN 'dmy_mdy' ELSE 'dmy' END "
    f"  WHEN regexp_full_match({_T}, '{_RE_MDY}') THEN 'mdy' "
    f"  WHEN regexp_full_match({_T}, '{_RE_ISO_DT}') THEN 'iso_dt' "
    f"  WHEN regexp_full_match({_T}, '{_RE_FR_DT}') THEN 'dmy_dt' "
    f"  ELSE 'text' END "
    f"WHEN regexp_full_match({_T}, '{_RE_POINT}') THEN 'point' "
    f"WHEN {_IS_BOOL} THEN 'bool' "
    f"WHEN regexp_full_match({_T}, '{_RE_GEOJSON}', 's') THEN 'geojson' "
    f"ELSE 'text' END"
)
CLASSES = ("null", "token", "error", "lead0", "int", "dot", "comma", "grouped", "bool", "iso_date", "dmy_mdy", "dmy",
           "mdy", "iso_dt", "dmy_dt", "point", "geojson", "text")

_DMY_DT = f"try_strptime({_T}, ['%d/%m/%Y %H:%M:%S', '%d/%m/%Y %H:%M'])"
_NUMERIC_TEXT = f"replace(regexp_replace({_T}, '[ \u00a0\u202f]', '', 'g'), ',', '.')"

#: A datetime's wall time (its offset, if any, dropped).
_LOCAL = f"coalesce(try_cast({_T} AS TIMESTAMP), {_DMY_DT})"
#: A datetime whose instant would fall outside years 1 to 9999 UTC, which no writer can write
#: (Python's ``datetime``, ISO 8601's four digits): a placeholder such as .NET's
#: ``DateTime.MinValue``, ``0001-01-01T00:00:00``, which read in Paris is year 0 UTC, or
#: ``9999-12-31T23:59:59`` read in New York. Its wall time is read as UTC instead: the value as
#: written, kept, and written back by every zone (``values.instant_text``).
_BEYOND = "{0} < TIMESTAMPTZ '0001-01-01 00:00:00+00' OR {0} > TIMESTAMPTZ '9999-12-31 23:59:59.999999+00'"
#: An ISO datetime with an offset, given ``:00`` seconds where it has none: the engine reads
#: ``10:00`` alone but refuses ``10:00+01:00`` and ``10:00Z``, which ISO 8601 and the
#: classification (``_RE_ISO_DT``) accept: such a column was stored null, or refused.
_WITH_SECONDS = (f"regexp_replace({_T}, '^([0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}[T ][0-9]{{2}}:[0-9]{{2}})([Z+-])', "
                 "'\\1:00\\2')")
_AS_UTC = f"timezone('UTC', try_cast({_WITH_SECONDS} AS TIMESTAMP))"
_AWARE = f"try_cast({_WITH_SECONDS} AS TIMESTAMPTZ)"
#: A naive datetime read in the dataset's zone as Java's ``ZonedDateTime.of`` and Python's
#: ``fold=0`` read it, and the ODSQL literal ``date'…'`` (``odsql.literals``): a wall time the
#: clock skipped (``2023-03-26T02:30`` in Paris) moved on by the gap (03:30, ``01:30Z``), which
#: is what the engine's ``timezone()`` does; a wall time the clock showed twice
#: (``2023-10-29T02:30``) the first time (``+02:00``, ``00:30Z``), where the engine takes the
#: second. The first is the wall time read a day earlier, a day later, when it reads back
#: (the lambdas name the wall time and its reading once: the engine computes each once).
# An offset follows a time: the ``-05`` ending ``2020-01-05`` is a day, and the date a local midnight.
_IN_ZONE = (f"list_transform([__wall__], l -> list_transform([timezone(__tz__, l)], u -> "
            f"CASE WHEN {_BEYOND.format('u')} THEN timezone('UTC', l) "
            f"ELSE list_transform([timezone(__tz__, l - INTERVAL 1 DAY) + INTERVAL 1 DAY], e -> "
            f"CASE WHEN e < u AND timezone(__tz__, e) = l THEN e ELSE u END)[1] END)[1])[1]")
_DATETIME = (f"CASE WHEN regexp_matches({_T}, ':[0-9]{{2}}([.][0-9]+)? ?(Z|[+-][0-9]{{2}}(:?[0-9]{{2}})?)$') "
             f"THEN CASE WHEN {_BEYOND.format(_AWARE)} THEN {_AS_UTC} ELSE {_AWARE} END "
             f"ELSE {_IN_ZONE.replace('__wall__', _LOCAL)} END")
#: A naive timestamp a reader staged typed (Parquet's ``isAdjustedToUTC=false``, what pandas and
#: Polars write for naive datetimes): a wall time, read in the dataset's zone as the text path
#: reads one (``_DATETIME``'s second branch), without going through text. Declared as UTC, a
#: Paris 14:00 was served as 16:00; staged as text, loads took 5× longer.
_NAIVE_DATETIME = _IN_ZONE.replace("__wall__", _I)

#: (type, variant) -> SQL template of the cast. Naive datetimes are read in the dataset's
#: timezone (``__tz__``), which the loader substitutes as a literal.
CASTS: dict[tuple[FieldType, str], str] = {
    (FieldType.TEXT, ""): f"{_I}",
    (FieldType.INT, ""): f"try_cast({_T} AS BIGINT)",
    (FieldType.DOUBLE, ""): f"try_cast({_T} AS DOUBLE)",
    (FieldType.DOUBLE, "comma"): f"try_cast(replace({_T}, ',', '.') AS DOUBLE)",
    (FieldType.DOUBLE, "grouped"): f"try_cast({_NUMERIC_TEXT} AS DOUBLE)",
    (FieldType.BOOLEAN, ""): f"CASE WHEN lower({_T}) IN ('true', 'vrai', '1', 'oui', 'o', 'yes') THEN true "
                             f"WHEN lower({_T}) IN ('false', 'faux', '0', 'non', 'n', 'no') THEN false END",
    (FieldType.DATE, "iso"): f"try_strptime({_T}, '%Y-%m-%d')::DATE",
    (FieldType.DATE, "dmy"): f"coalesce(try_strptime({_T}, '%d/%m/%Y'), try_strptime({_T}, '%Y-%m-%d'))::DATE",
    (FieldType.DATE, "mdy"): f"coalesce(try_strptime({_T}, '%m/%d/%Y'), try_strptime({_T}, '%Y-%m-%d'))::DATE",
    (FieldType.DATETIME, ""): _DATETIME,
    (FieldType.GEO_POINT_2D, ""): f"CASE WHEN regexp_full_match({_T}, '{_RE_POINT}') THEN ST_Point("
                                  f"try_cast(trim(split_part({_T}, ',', 2)) AS DOUBLE), "
                                  f"try_cast(trim(split_part({_T}, ',', 1)) AS DOUBLE)) END",
    (FieldType.GEO_SHAPE, ""): f"CASE WHEN regexp_full_match({_T}, '{_RE_GEOJSON}', 's') "
                               f"THEN try(ST_GeomFromGeoJSON({_T})) END",
    (FieldType.JSON, ""): f"CASE WHEN json_valid({_T}) THEN {_T}::JSON END",
    (FieldType.FILE, ""): f"CASE WHEN json_valid({_T}) THEN {_T}::JSON END",
}

#: Casts from a declared (already typed) staging column to the stored type.
DECLARED_CASTS: dict[FieldType, str] = {
    FieldType.GEO_POINT_2D: f"ST_GeomFromWKB({_I})",
    FieldType.GEO_SHAPE: f"ST_GeomFromWKB({_I})",
    FieldType.JSON: f"{_I}::JSON",
    FieldType.DATETIME: f"{_I}::TIMESTAMPTZ",
}


@dataclass
class Inferred:
    type: FieldType
    variant: str = ""
    nonnull: int = 0  # non-empty raw values
    tokens: int = 0  # "no value" markers that become nulls in a typed column
    notes: list[str] = field(default_factory=list)
    #: the counts are the sample's (a column settled as text on it): ``count_values`` reads the
    #: whole table's where they matter (a publisher's type of another kind)
    sampled: bool = False


@functools.cache
def _parsed(sql: str) -> exp.Expression:
    """A template parsed once per process (a few ms each, for every column of every load);
    ``transform`` below copies it."""
    return sqlglot.parse_one(sql, dialect="duckdb")


def _template(sql: str, column: str | exp.Expression, tz: str = "UTC") -> exp.Expression:
    tree = _parsed(sql)
    target = exp.column(column, quoted=True) if isinstance(column, str) else column

    def substitute(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and node.name == _I:
            return target.copy()
        if isinstance(node, exp.Column) and node.name == "__tz__":
            return exp.Literal.string(tz)
        return node

    return tree.transform(substitute)


def looks_like_code(name: str) -> bool:
    """Names of identifier columns: ``code_*``, ``insee``, ``siren``, Sirene's ``codpos``, ``depcomen``…"""
    words = re.split(r"_+", name)
    return any(w in CODE_WORDS or w.startswith(("cod", "insee", "siren", "siret", "depcom")) for w in words) \
        or name.startswith("num_")


CODE_NOTE = "integers kept as text: the name says it is a code"
CODE_NUMBERS_NOTE = "numbers kept as text, as written: the name says it is a code"


def _as_code(name: str, c: dict[str, int], nonnull: int) -> Inferred | None:
    """Text, as written, for a column of numbers whose name says it holds codes (None for
    others): whatever their form, a SIREN printed in groups (``552 100 554``), a postcode
    ``75 001`` or a NAF code ``56.10`` read as doubles lost their spaces and trailing zeros, and
    codes are not summed. Integers keep their own note, which ``_note_short_codes`` completes."""
    valid = nonnull - c["token"] - c["error"]
    if not looks_like_code(name) or sum(c[k] for k in ("int", "dot", "comma", "grouped")) != valid:
        return None
    return Inferred(FieldType.TEXT, nonnull=nonnull, notes=[CODE_NOTE if c["int"] == valid else CODE_NUMBERS_NOTE])


def _decide(name: str, h: dict[str, int]) -> Inferred:
    c = {key: h.get(key, 0) for key in CLASSES}
    nonnull = sum(v for k, v in c.items() if k != "null")
    valid = nonnull - c["token"] - c["error"]  # an error value is rejected in a typed column (load._field_reports)
    typed = dict(nonnull=nonnull, tokens=c["token"])

    def only(*classes: str) -> bool:
        return sum(c[k] for k in classes) == valid

    if valid <= 0 or c["text"] or c["lead0"]:
        notes = ["leading zeros: kept as text"] if c["lead0"] and not c["text"] else []
        return Inferred(FieldType.TEXT, nonnull=nonnull, notes=notes)
    if only("bool"):
        return Inferred(FieldType.BOOLEAN, **typed)
    code = _as_code(name, c, nonnull)
    if code is not None:
        return code
    if only("int"):
        return Inferred(FieldType.INT, **typed)
    if only("int", "dot", "comma", "grouped"):
        if c["dot"] and c["grouped"]:
            return Inferred(FieldType.TEXT, nonnull=nonnull, notes=["mixed number formats: kept as text"])
        variant = "grouped" if c["grouped"] else "comma" if c["comma"] else ""
        return Inferred(FieldType.DOUBLE, variant, **typed)
    if only("iso_date", "dmy_mdy", "dmy"):
        return Inferred(FieldType.DATE, "dmy" if c["dmy_mdy"] + c["dmy"] else "iso", **typed)
    if only("iso_date", "dmy_mdy", "mdy"):
        return Inferred(FieldType.DATE, "mdy", **typed, notes=["month-first dates (a day above 12 is in second place)"])
    if only("iso_dt", "dmy_dt", "iso_date") and c["iso_dt"] + c["dmy_dt"]:
        return Inferred(FieldType.DATETIME, **typed)
    if only("point"):
        return Inferred(FieldType.GEO_POINT_2D, **typed)
    if only("geojson"):
        return Inferred(FieldType.GEO_SHAPE, **typed)
    return Inferred(FieldType.TEXT, nonnull=nonnull, notes=["mixed kinds of values: kept as text"])


SAMPLE_ROWS = 50_000


def _per_column(template: str, column: str, tz: str = "UTC") -> str:
    """A template's SQL for one column, its placeholders replaced by the column's identifier
    and the timezone's literal, both written by sqlglot (quoted and escaped).

    The passes below apply a template of ~300 nodes to every column of every load: copying its
    parsed tree per column cost ~0.35 s per load, more than the engine's pass over a sample. The
    identifier and the literal are fresh and written once: ``sql()`` need not copy them first."""
    return template.replace(_I, exp.to_identifier(column, quoted=True).sql(dialect="duckdb", copy=False)) \
        .replace("__tz__", exp.Literal.string(tz).sql(dialect="duckdb", copy=False))


def _trimmed(source: exp.Expression, columns: list[str]) -> str:
    """``source``'s ``columns``, each trimmed once (empty as null), under its own name."""
    trimmed = ", ".join(f"{_per_column(_T, c)} AS {_per_column(_I, c)}" for c in columns)
    return f"SELECT {trimmed} FROM {source.sql(dialect='duckdb')}"


#: The columns one pass reads at most. A histogram per column keeps its state per thread: a file
#: of ~1,500 columns or more (INSEE's comparison bases have ~1,900) ran out of the load's memory
#: in one pass, and the file was refused for it. A wider file takes several passes.
COLUMNS_PER_PASS = 256
#: From this many columns, a pass applies each template once, to the columns' values unpivoted
#: into one column and counted per column name, instead of once per column: the engine plans an
#: expression for every column it is written for (~3 to 8 ms each for the classification, whatever
#: the row count: 16 s of a 2,500-column file's 200 rows, 3.5 s unpivoted), while reading the values
#: unpivoted adds a grouping by name (as fast as the columns apart at 128 columns x 100,000 rows,
#: ~20 % slower at 10 columns x 2 M rows, where planning costs nothing).
UNPIVOT_FROM = 64

_NAME, _VALUE = "__name__", "__value__"


def _unpivoted(con: duckdb.DuckDBPyConnection, source: exp.Expression, columns: list[str], template: str,
               tz: str) -> dict[str, dict[str, int]]:
    """The histogram of ``template`` over every value of ``columns``, by column: one expression
    however many columns. ``INCLUDE NULLS``: an empty value is a class too (the sample's size)."""
    value = exp.to_identifier(_VALUE, quoted=True).sql(dialect="duckdb")
    name = exp.to_identifier(_NAME, quoted=True).sql(dialect="duckdb")
    sql = (f"SELECT {name}, histogram({_per_column(template, _VALUE, tz)}) FROM ({_trimmed(source, columns)}) "
           f"UNPIVOT INCLUDE NULLS ({value} FOR {name} IN (COLUMNS(*))) GROUP BY {name}")
    return {column: dict(histogram or {}) for column, histogram in con.execute(sql).fetchall()}


def _apart(con: duckdb.DuckDBPyConnection, source: exp.Expression, columns: list[str],
           template: Callable[[str], str], tz: str) -> dict[str, dict[str, int]]:
    """The histogram of each column's ``template``, one aggregate per column in one pass."""
    selects = [f"histogram({_per_column(template(c), c, tz)}) AS h{i}" for i, c in enumerate(columns)]
    row = con.execute(f"SELECT {', '.join(selects)} FROM ({_trimmed(source, columns)}) AS t").fetchone()
    return {column: dict(histogram or {}) for column, histogram in zip(columns, row)}


def _per_pass(con: duckdb.DuckDBPyConnection, source: exp.Expression, columns: list[str],
              template: Callable[[str], str], tz: str = "UTC") -> list[dict[str, int]]:
    """The histogram of ``template(column)`` (a template over the trimmed value ``_I``) of every
    column over ``source``, in the columns' order, ``COLUMNS_PER_PASS`` columns a pass. From
    ``UNPIVOT_FROM`` columns, the columns sharing a template are counted unpivoted: the same
    counts, an expression planned once."""
    wide = len(columns) >= UNPIVOT_FROM
    groups: dict[str, list[str]] = {}
    for column in columns:
        groups.setdefault(template(column) if wide else "", []).append(column)
    found: dict[str, dict[str, int]] = {}
    for shared, group in groups.items():
        for start in range(0, len(group), COLUMNS_PER_PASS):
            part = group[start:start + COLUMNS_PER_PASS]
            found.update(_unpivoted(con, source, part, shared, tz) if wide else _apart(con, source, part, template, tz))
    return [found.get(column, {}) for column in columns]


def _histograms(con: duckdb.DuckDBPyConnection, source: exp.Expression, columns: list[str]) -> dict[str, dict[str, int]]:
    """Class histogram of each column, trimming each value once in a subquery."""
    classify = CLASSIFY.replace(_T, _I)
    row = _per_pass(con, source, columns, lambda c: classify)
    return dict(zip(columns, row))


_LEAD0 = f"CASE WHEN starts_with(ltrim({_T}, '+-'), '0') THEN regexp_full_match({_T}, '{_RE_LEAD0}') ELSE false END"


def _full_match(*patterns: str) -> str:
    return f"regexp_full_match({_T}, '{'|'.join(f'(?:{p})' for p in patterns)}')"


#: What a value must look like to fit a numeric or boolean decision: the classification's own
#: tests, for the classes that decision accepts (``_decide``). Their casts are laxer (they round
#: ``1.5`` to 2, read ``0x10``, ``1_000`` and ``1`` for true), so checking the rows past the
#: sample with them made a file's types depend on its size.
_FITS: dict[tuple[FieldType, str], str] = {
    (FieldType.INT, ""): _full_match(_RE_INT),
    (FieldType.DOUBLE, ""): _full_match(_RE_INT, _RE_DOT),
    (FieldType.DOUBLE, "comma"): _full_match(_RE_INT, _RE_DOT, _RE_COMMA),
    (FieldType.DOUBLE, "grouped"): _full_match(_RE_INT, _RE_COMMA, _RE_GROUPED),
    (FieldType.BOOLEAN, ""): _IS_BOOL,
    # Dates too: their casts read ``05/01/20`` as year 20 and ``2020-1-5``, which classify as text.
    # A value of the right shape that is no date (``31/02/2020``) fits, fails the cast and is
    # reported as rejected, as it is when the sample is the whole file.
    (FieldType.DATE, "iso"): _full_match(_RE_ISO_DATE),
    (FieldType.DATE, "dmy"): _full_match(_RE_ISO_DATE, _RE_DMY),
    (FieldType.DATE, "mdy"): _full_match(_RE_ISO_DATE, _RE_MDY),
    (FieldType.DATETIME, ""): _full_match(_RE_ISO_DATE, _RE_ISO_DT, _RE_FR_DT),
}


def _misfit(inferred: Inferred) -> str | None:
    """The condition, on a trimmed non-empty non-marker value, of *not* fitting what the sample
    decided: numbers, booleans and dates by the classification's patterns (an integer must not
    have a leading zero), other types by their cast (it fails only on misfits). None when only a full
    classification can tell (empty sample, text)."""
    if inferred.type == FieldType.TEXT:
        return None
    fits = _FITS.get((inferred.type, inferred.variant))
    if fits is None:
        return f"(({CASTS[(inferred.type, inferred.variant)]}) IS NULL)"
    if inferred.type in (FieldType.INT, FieldType.DOUBLE):
        return f"(NOT {fits} OR {_LEAD0})"
    return f"(NOT {fits})"


def _verify(con: duckdb.DuckDBPyConnection, source: exp.Expression, decided: dict[str, Inferred],
            timezone: str = "UTC") -> dict[str, bool]:
    """One pass over all rows: count values, markers and misfits of each sample decision.
    Updates the counts in place; returns which decisions held.

    The cast runs first; only values it rejects are compared with the "no value" markers,
    which keeps the pass close to the cost of scanning the column."""
    def verdict(column: str) -> str:
        sql = (f"CASE WHEN {_T} IS NULL THEN 'null' WHEN NOT {_misfit(decided[column])} THEN 'fit' "
               f"WHEN NOT {_NOT_TOKEN} THEN 'token' WHEN {_IS_ERROR} THEN 'error' ELSE 'misfit' END")
        return sql.replace(_T, _I)

    row = _per_pass(con, source, list(decided), verdict, timezone)
    held = {}
    for (column, inferred), counts in zip(decided.items(), row):
        inferred.tokens = counts.get("token", 0)
        inferred.nonnull = sum(counts.get(k, 0) for k in ("token", "error", "fit", "misfit"))
        held[column] = counts.get("misfit", 0) == 0 and counts.get("fit", 0) > 0
    return held


def infer_types(con: duckdb.DuckDBPyConnection, table: str, columns: list[str]) -> dict[str, Inferred]:
    """Infer every listed text column of a staged table over all of its rows.

    A first pass classifies a sample. Columns where it found free text are text, wherever
    that value sits. For the others, one cheap pass checks every row against the sample's
    decision; only a column that fails the check is classified in full, so the result is
    always what a full classification would give.
    """
    if not columns:
        return {}
    source = exp.to_table(table, quoted=True)
    sample = exp.select("*").from_(source).limit(SAMPLE_ROWS).subquery("s")
    first = _histograms(con, sample, columns)
    decided = {c: _decide(c, h) for c, h in first.items()}
    if sum(first[columns[0]].values()) < SAMPLE_ROWS:  # the sample was the whole table
        return _note_short_codes(con, source, decided)
    candidates = {c: d for c, d in decided.items() if not (first[c].get("text") or first[c].get("lead0"))}
    for column in decided.keys() - candidates.keys():
        decided[column].sampled = True
    checkable = {c: d for c, d in candidates.items() if _misfit(d) is not None}
    if any(d.type in GEO_TYPES for d in checkable.values()):
        ensure_spatial(con)  # a geometry's misfits are the rows its cast refuses (a build opens without it)
    held = _verify(con, source.copy(), checkable) if checkable else {}
    redo = [c for c in candidates if not held.get(c)]
    if redo:
        for column, histogram in _histograms(con, source.copy(), redo).items():
            decided[column] = _decide(column, histogram)
    # Columns settled as text on the sample keep the sample's counts: the report counts
    # their values on the stored records, where text is stored as read.
    return _note_short_codes(con, source.copy(), decided)


def count_values(con: duckdb.DuckDBPyConnection, table: str, inferred: dict[str, Inferred], columns: list[str]) -> None:
    """The whole table's values and "no value" markers of ``columns`` (``inferred`` updated in
    place), one pass for all: a column settled as text on the sample keeps the sample's counts
    (``infer_types``), and a publisher's type of another kind compared them with the whole
    file's values read: on a file of more rows than the sample, none of its values that became
    null was reported (a date column of 2 M rows, a third of them typos, "0 rejected")."""
    if not columns:
        return
    kind = f"CASE WHEN {_T} IS NULL THEN 'null' WHEN NOT {_NOT_TOKEN} THEN 'token' ELSE 'value' END".replace(_T, _I)
    row = _per_pass(con, exp.to_table(table, quoted=True), columns, lambda c: kind)
    for column, counts in zip(columns, row):
        found = inferred[column]
        found.tokens, found.sampled = counts.get("token", 0), False
        found.nonnull = found.tokens + counts.get("value", 0)


def _note_short_codes(con: duckdb.DuckDBPyConnection, source: exp.Expression,
                      decided: dict[str, Inferred]) -> dict[str, Inferred]:
    """``decided``, the note of each column of integers kept as a code saying how many values have
    fewer digits than the widest: a code's leading zero is lost in a JSON number (and in a CSV
    that went through a spreadsheet), and the dataset's publisher is the one who can restore it.
    Nothing is padded: a ``num_voie`` has no fixed width. One pass over those columns, if any."""
    codes = [column for column, inferred in decided.items() if CODE_NOTE in inferred.notes]
    if not codes:
        return decided
    digits = f"CASE WHEN regexp_full_match({_T}, '{_RE_INT}') THEN length(ltrim({_T}, '+-')) END".replace(_T, _I)
    row = _per_pass(con, source, codes, lambda c: digits)
    for column, lengths in zip(codes, row):
        widest = max(lengths, default=0)
        shorter = sum(count for length, count in lengths.items() if length < widest)
        if shorter:
            notes = decided[column].notes
            values = "1 value has" if shorter == 1 else f"{shorter:,} values have"
            notes[notes.index(CODE_NOTE)] = (f"{CODE_NOTE}; {values} fewer digits than the widest "
                                             "(leading zeros lost by the producer?)")
    return decided


def cast_expression(column: str, inferred: Inferred, timezone: str = "UTC") -> exp.Expression:
    return _template(CASTS[(inferred.type, inferred.variant)], column, timezone)


def override_cast(column: str, target: FieldType, timezone: str = "UTC", staged_as_text: bool = True) -> exp.Expression:
    """The cast for a type the publisher chose: the general text parser of that type (a typed
    staging column is first turned into text, so any type can be overridden into any other)."""
    variant = {FieldType.DATE: "dmy", FieldType.DOUBLE: "grouped"}.get(target, "")
    source: str | exp.Expression = column if staged_as_text else exp.cast(exp.column(column, quoted=True), "VARCHAR")
    return _template(CASTS[(target, variant)], source, timezone)


def declared_cast(column: str, declared: FieldType, timezone: str = "UTC", naive: bool = False) -> exp.Expression:
    """The cast of a column a reader staged typed; ``naive``: a datetime staged as a wall time
    (a TIMESTAMP without zone), read in ``timezone``."""
    if naive and declared == FieldType.DATETIME:
        return _template(_NAIVE_DATETIME, column, timezone)
    template = DECLARED_CASTS.get(declared)
    if template is None:
        return exp.cast(exp.column(column, quoted=True), DUCKDB_TYPES[declared], dialect="duckdb")
    return _template(template, column)


#: The columns one pass of ``rejected_values`` reads at most: the engine's planning of a query
#: grows with the square of its casts' number (each a large expression), 300 date or number
#: casts in one query took 30 s to plan before reading a row.
REJECTED_PER_PASS = 16


def rejected_values(con: duckdb.DuckDBPyConnection, table: str, casts: dict[str, exp.Expression],
                    limit: int = 3) -> dict[str, list[str]]:
    """A few values of each staged text column that its cast could not read (``31/02/2024``
    under a date), as written but trimmed, for the load's report: a count of values "that
    became null" left the publisher searching the file for them. "No value" markers are not
    failures (they are counted apart) and are left out; the smallest ones, so that a report is
    the same at every load of one file (the engine scans in parallel, in no set order). Up to
    ``REJECTED_PER_PASS`` columns a pass: a pass each re-read a CSV's view and cast it again
    (~8 s a field on 2 M rows, half the load of a file of six dates with a few typos), and all
    of them in one pass took 290 s on 300 fields of 200,000 rows (96 s a pass each; 23 s now)."""
    source = exp.to_table(table, quoted=True).sql(dialect="duckdb")
    items = list(casts.items())
    found: dict[str, list[str]] = {}
    for start in range(0, len(items), REJECTED_PER_PASS):
        part = items[start:start + REJECTED_PER_PASS]
        picked = [f"min(DISTINCT CASE WHEN {_per_column(_T, column)} IS NOT NULL AND {_per_column(_NOT_TOKEN, column)} "
                  f"AND ({cast.sql(dialect='duckdb')}) IS NULL THEN {_per_column(_T, column)} END, {int(limit)})"
                  for column, cast in part]
        row = con.execute(f"SELECT {', '.join(picked)} FROM {source}").fetchone()
        found.update((column, values) for (column, _), values in zip(part, row) if values)
    return found
