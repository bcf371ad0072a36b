"""Spreadsheets (xlsx, xlsm, xls, xlsb, ods), read with calamine.

A spreadsheet cell has a display type but no column type: the same column mixes numbers
typed as text (``"01"``), numbers, dates and notes. So every cell is staged as *text* and the
loader infers each column's type over the whole sheet, exactly as for CSV. Cells are written
the way a person would type them: ``1001`` (not ``1001.0``), ``0.1``, ``true``, ``2024-01-31``,
``2024-01-31T12:30:05``, ``12:30:05``; empty cells are nulls. Other numbers keep the 15
significant digits Excel itself works with, so a stored ``0.23200000000000004`` (a formula's
rounding noise) reads ``0.232`` as on screen.

Public files are laid out for print, not for machines, so the reader finds the table:

* **Sheet**: ``options.sheet`` (name, or 0-based index), else the first visible worksheet
  holding a value.
* **Header row**: ``options.header_row`` (0-based), else the first of the first 30 rows that
  (a) fills at least half as many cells as the fullest of those rows and (b) holds mostly
  words (at least 70 % of its filled cells are text that does not read as a number). Title,
  subtitle and blank rows above it are skipped; a sheet with no such row uses its first row
  filling half as many cells (a header of years below a title).
* **Two-row header**: a row of group labels spanning several columns (merged, or left blank
  after the label) above a fuller row of labels, ``Population`` over ``2019 | 2020 | 2021``,
  gives ``Population 2019``… (``population_2019``); a label over both rows stands alone. Both
  rows must read as labels, and the second as no data row (``_is_group_row``), so that a title
  above the header or a header with a blank label stays as it was.
* **End**: when the last row with two or more values (or a single non-text value) is followed
  by a blank row and then only one-cell text rows, those rows are footnotes ("Source : Insee")
  and are dropped.
* Fully empty rows, and columns with neither header nor value, are dropped.

Codes keep their leading zeros: in an xlsx, an ods or an xls, a column whose numbers mostly show
through a format made of zeros (``00000``: ``1001`` displays ``01001``) has its integers padded to
that width, on every row, and is declared text (``xlsx_formats``, ``ods_formats``, ``xls_formats``;
calamine does not report number formats, and those of the binary xlsb are not read).

Error cells (``#DIV/0!``, ``#N/A``: a formula failed), which calamine reads as empty, are staged
as their error value in an xlsx, an ods or an xls (``error_cells`` of ``xlsx_formats``,
``ods_formats``, ``xls_formats``), so that the load's report counts them among the values that
became null, with their row; a row of error cells is a row of the table (nulls), not an empty row
dropped. xlsb cells give no such value.

calamine holds the sheet's cells in compact native memory; rows are converted to Python only
one at a time, and staged as Arrow batches of ``BATCH_ROWS`` rows.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import pyarrow as pa
import python_calamine as calamine

from portail.ingest.errors import IngestError
from portail.ingest.readers._common import (BATCH_ROWS, HEADER_SCAN_ROWS, batch_stager, detect_header, first_line,
                                            is_empty as _is_empty, lines_holding, make_table)
from portail.ingest.readers import ods_formats, xls_formats, xlsx_formats
from portail.ingest.types import RawTable, ReadOptions, Stager
from portail.schema import FieldType, unique_names

EMPTY, NOTE, TABLE = 0, 1, 2  # kinds of rows


@dataclass
class Layout:
    """Where the table sits in the sheet. Row indices are 0-based sheet rows."""

    header: int
    end: int  # rows from this index on are not data (footnotes)
    kinds: bytearray  # EMPTY / NOTE / TABLE for every row of the sheet
    group: int | None = None  # the row of group labels above the header (``_find_group``)
    columns: list[int] = field(default_factory=list)  # positions of the kept columns
    footnotes: int = 0


def read_spreadsheet(path: Path, options: ReadOptions) -> RawTable:
    source = path.name
    workbook = _open_workbook(path, source)
    sheet_name, sheet = _choose_sheet(workbook, options.sheet, source)
    errors = _errors(path, sheet_name, sheet)
    layout = _find_table(sheet, options.header_row, source, errors)
    if options.header_row is None:
        _find_group(sheet, layout)
    labels = _labels(sheet, layout)
    notes = _describe(sheet_name, workbook.sheet_names, layout, sheet.width)
    padding = _padding(path, sheet_name, sheet, layout)
    converters = [_padder(padding[c]) if c in padding else cell_text for c in layout.columns]
    types = [FieldType.TEXT if c in padding else None for c in layout.columns]

    def stage_for(names: list[str]) -> Stager:
        schema = pa.schema([pa.field(name, pa.string()) for name in names])
        return batch_stager(schema, lambda: _batches(_data_rows(sheet, layout, errors), layout, schema, converters),
                            source)

    def locate_values(wanted: dict[str, str]) -> dict[str, int]:
        """Each wanted value's sheet row number (``_common.lines_holding``), its cells read
        through their converters as staged."""
        positions = {names.index(name): value for name, value in wanted.items()}

        def records() -> Iterator[tuple[int, list[str | None]]]:
            for index, row in _data_rows(sheet, layout, errors):
                cells: list[str | None] = [None] * len(layout.columns)
                for p in positions:
                    column = layout.columns[p]
                    cells[p] = converters[p](row[column]) if column < len(row) else None
                yield index + 1, cells

        return {names[p]: line for p, line in lines_holding(records(), positions).items()}

    names = unique_names(labels)
    return make_table(source, labels, types, stage_for, notes=notes, names=names, locate_values=locate_values)


# --- cells ---------------------------------------------------------------------------------

def cell_text(value: Any) -> str | None:
    """A cell as the text a person would have typed; ``None`` for an empty (or blank) cell."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds" if not value.microsecond else "milliseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat(timespec="seconds" if not value.microsecond else "milliseconds")
    if isinstance(value, dt.timedelta):
        return _duration_text(value)
    return str(value)


def _padder(width: int) -> Callable[[Any], str | None]:
    """``cell_text``, but integers written with at least ``width`` digits, as a format of
    ``width`` zeros shows them (``1001`` → ``01001``); other values are left as they are."""

    def padded(value: Any) -> str | None:
        if isinstance(value, float) and value.is_integer() and 0 <= value < 2**53:
            return str(int(value)).zfill(width)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return str(value).zfill(width)
        return cell_text(value)

    return padded


def _padding(path: Path, sheet_name: str, sheet: calamine.CalamineSheet, layout: Layout) -> dict[int, int]:
    """Padding width by kept column position (calamine's positions start at the sheet's first
    used column; its rows start at the sheet's first row)."""
    offset = sheet.start[1] if sheet.start else 0
    widths = (xlsx_formats.zero_padded_columns(path, sheet_name, layout.header + 1)
              or ods_formats.zero_padded_columns(path, sheet_name, layout.header + 1)
              or xls_formats.zero_padded_columns(path, sheet_name, layout.header + 1))
    return {c: widths[c + offset] for c in layout.columns if c + offset in widths}


def _float_text(value: float) -> str:
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    if math.isnan(value) or math.isinf(value):
        return "NaN" if math.isnan(value) else ("-Infinity" if value < 0 else "Infinity")
    return format(value, ".15g")  # Excel's own precision: 0.1 + 0.2 shows as 0.3, not 0.30000000000000004


def _duration_text(value: dt.timedelta) -> str:
    seconds = round(value.total_seconds())
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    return f"{sign}{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _row_kind(row: list[Any]) -> int:
    return _scan_row(row)[0]


def _scan_row(row: list[Any]) -> tuple[int, int]:
    """The row's kind and the position of its first filled cell (-1 when empty). Called once per
    row of the sheet, so it stops at the second filled cell, tests emptiness inline (as
    ``is_empty`` does) and settles a row of empty cells in C (``list.count``)."""
    if row.count("") == len(row):
        return EMPTY, -1
    first = -1
    for position, value in enumerate(row):
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if first >= 0:
            return TABLE, first
        first = position
    if first < 0:
        return EMPTY, -1
    return (NOTE if isinstance(row[first], str) else TABLE), first


# --- workbook and sheet --------------------------------------------------------------------

def _open_workbook(path: Path, source: str) -> calamine.CalamineWorkbook:
    try:
        return calamine.CalamineWorkbook.from_path(str(path))
    except calamine.PasswordError:
        raise IngestError("the spreadsheet is protected by a password", source=source) from None
    except Exception as error:  # calamine raises zip, XML and format errors of several kinds
        raise IngestError(f"corrupt, truncated or unsupported spreadsheet ({first_line(error)})",
                          source=source) from None


def _load_sheet(workbook: calamine.CalamineWorkbook, name: str, source: str) -> calamine.CalamineSheet:
    try:
        return workbook.get_sheet_by_name(name)
    except Exception as error:
        raise IngestError(f"cannot read sheet {name!r} ({first_line(error)})", source=source) from None


def _choose_sheet(workbook: calamine.CalamineWorkbook, wanted: str | int | None,
                  source: str) -> tuple[str, calamine.CalamineSheet]:
    names = workbook.sheet_names
    if wanted is not None:
        name = _sheet_name(names, wanted, source)
        return name, _load_sheet(workbook, name, source)
    worksheets = [m.name for m in workbook.sheets_metadata if m.typ == calamine.SheetTypeEnum.WorkSheet]
    visible = [m.name for m in workbook.sheets_metadata if m.visible == calamine.SheetVisibleEnum.Visible]
    for name in sorted(worksheets, key=lambda n: n not in visible):  # visible ones first, in order
        sheet = _load_sheet(workbook, name, source)
        if sheet.height and any(_row_kind(row) != EMPTY for row in sheet.iter_rows()):
            return name, sheet
    raise IngestError("the spreadsheet holds no data (every sheet is empty)", source=source)


def _sheet_name(names: list[str], wanted: str | int, source: str) -> str:
    if isinstance(wanted, str) and wanted in names:
        return wanted
    if isinstance(wanted, int) or wanted.strip().isdecimal():
        index = int(wanted)
        if 0 <= index < len(names):
            return names[index]
    raise IngestError(f"sheet {wanted!r} not found; sheets: {', '.join(map(repr, names))}", source=source)


# --- table layout --------------------------------------------------------------------------

def _find_table(sheet: calamine.CalamineSheet, header_row: int | None, source: str,
                errors: dict[int, dict[int, str]] | None = None) -> Layout:
    """Header, end of data and used columns, in one pass over the rows (no cell kept but the
    first rows, where the header is looked for).

    The header lies among the first ``window`` rows, so the used columns of the rows below them
    are gathered during the pass: a table row's cells are tested only in the columns not yet
    known to be used (none, soon, in a full table), a note row's single cell is set aside until
    a table row follows it (it then lies above the end of data whatever the footnote rule
    decides) and counted at the end only if no footnotes were cut. Error cells count as filled
    (``_with_errors``): a row of ``#N/A`` is a row of the table, kept as nulls and reported."""
    kinds = bytearray()
    head: list[list[Any]] = []
    window = max(HEADER_SCAN_ROWS, (header_row or 0) + 1)
    used: set[int] = set()  # columns holding a value in the rows from ``window`` on, up to the last table row
    unknown: list[int] = []  # the columns below ``checked`` not (yet) in ``used``
    checked = 0
    notes: list[int] = []  # positions of the note rows since the last table row (rows from ``window`` on)
    for index, row in _with_errors(enumerate(sheet.iter_rows()), errors or {}):
        kind, first = _scan_row(row)
        kinds.append(kind)
        if index < window:
            head.append(row)
        elif kind == TABLE:
            if notes:
                used.update(notes)
                notes.clear()
                unknown = [p for p in unknown if p not in used]
            if len(row) > checked:
                unknown.extend(p for p in range(checked, len(row)) if p not in used)
                checked = len(row)
            if unknown:
                found = [p for p in unknown if _filled_at(row, p)]
                if found:
                    used.update(found)
                    unknown = [p for p in unknown if p not in used]
        elif kind == NOTE:
            notes.append(first)
    if header_row is not None and not 0 <= header_row < len(kinds):
        raise IngestError(f"header row {header_row} is outside the sheet ({len(kinds)} rows)", source=source)
    header = header_row if header_row is not None else detect_header(head)
    if header is None:
        raise IngestError("the sheet holds no data", source=source)
    layout = Layout(header=header, end=len(kinds), kinds=kinds)
    _cut_footnotes(layout, wide=sum(not _is_empty(v) for v in head[header]) >= 2)
    if layout.end == len(kinds):
        used.update(notes)
    for row in head[header:layout.end]:
        used.update(position for position, value in enumerate(row) if not _is_empty(value))
    layout.columns = sorted(used)
    if not layout.columns:
        raise IngestError(f"row {header + 1} and the rows below it are empty", source=source, line=header + 1)
    return layout


def _filled_at(row: list[Any], position: int) -> bool:
    return position < len(row) and not _is_empty(row[position])


def _cut_footnotes(layout: Layout, wide: bool) -> None:
    """Drop one-cell text rows that follow the table after a blank row (see module docstring)."""
    kinds = layout.kinds
    last_table = max((i for i in range(layout.header, len(kinds)) if kinds[i] == TABLE), default=layout.header)
    tail = kinds[last_table + 1:]
    if wide and tail[:1] == bytes([EMPTY]) and NOTE in tail:
        layout.end = last_table + 1
        layout.footnotes = tail.count(NOTE)


def _describe(sheet_name: str, sheet_names: list[str], layout: Layout, width: int) -> list[str]:
    notes = [f"sheet {sheet_name!r}" + (f" (of {len(sheet_names)} sheets)" if len(sheet_names) > 1 else "")]
    first = layout.header if layout.group is None else layout.group
    notes.append(f"header on row {layout.header + 1}" if layout.group is None else
                 f"header on rows {layout.group + 1} and {layout.header + 1}, each label under a group label "
                 "prefixed with it")
    notes[-1] += f" ({first} row(s) above it skipped)" if first else ""
    if layout.footnotes:
        notes.append(f"{layout.footnotes} footnote row(s) below the table dropped")
    empty_rows = layout.kinds[layout.header + 1:layout.end].count(EMPTY)
    if empty_rows:
        notes.append(f"{empty_rows} empty row(s) dropped")
    if width > len(layout.columns):
        notes.append(f"{width - len(layout.columns)} empty column(s) dropped")
    return notes


# --- two-row headers -----------------------------------------------------------------------

#: Whole numbers a second header row may hold as labels: years (``Population`` over ``2019 | 2020``).
YEARS = range(1000, 3000)


def _merged_starts(sheet: calamine.CalamineSheet) -> set[tuple[int, int]]:
    """(row, position in calamine's rows) of the first cell of each merge across columns (xlsx and
    xls only: calamine reports none for ods)."""
    offset = sheet.start[1] if sheet.start else 0
    return {(first[0], first[1] - offset) for first, last in sheet.merged_cell_ranges or [] if last[1] > first[1]}


def _find_group(sheet: calamine.CalamineSheet, layout: Layout) -> None:
    """Where the detected header and the row next to it form a two-row header (``Population``
    spanning ``2019 | 2020 | 2021``, merged or left blank), make the second row the header and
    the first its ``group`` row. The detected row may be either: the group row fills fewer
    cells than the fill rule asks, or the second row holds years (no words)."""
    first = max(layout.header - 1, 0)
    rows = list(islice(sheet.iter_rows(), first, layout.header + 3))
    merged = _merged_starts(sheet)
    for top in (layout.header - 1, layout.header):
        at = top - first
        if top < first or at + 1 >= len(rows):
            continue
        after = rows[at + 2] if at + 2 < len(rows) else []
        if _is_group_row(rows[at], rows[at + 1], {c for r, c in merged if r == top}, after):
            layout.header, layout.group = top + 1, top
            return


def _is_group_row(top: list[Any], sub: list[Any], merged: set[int], after: list[Any] = ()) -> bool:
    """Are ``top`` and ``sub`` a two-row header? Both must read as labels: ``top`` texts, ``sub``
    texts or years, and fuller (a label of ``top`` over two rows counted in it). Each label of
    ``top`` either has nothing below it (merged down two rows) or spans: blank cells after it,
    labels below them all. And ``sub`` must be no data row under a header with a blank label
    (``Adresse, , Ville`` over ``12 rue X, Bât B, Paris``): a span is a merge, or ``sub`` holds
    only years under the spans, or, where the row ``after`` it does not hold text under the
    spans as ``sub`` does (records below records: ``Nom, , Ville`` over ``Dupont, Jean, `` and
    ``Martin, Paul, Lyon`` lost their first record to labels ``nom_dupont``, ``nom_jean``), a
    label of ``top`` has nothing below it or ``sub`` repeats a label (the same years under two
    groups). A single label in the first column is a title above the header, not a group."""
    width = max(len(top), len(sub))
    above = [cell_text(top[c]) if c < len(top) else None for c in range(width)]
    below = [cell_text(sub[c]) if c < len(sub) else None for c in range(width)]
    labels = [c for c in range(width) if above[c]]
    filled = [c for c in range(width) if below[c]]
    alone = [c for c in labels if not below[c]]  # labels over two rows (merged down, or blank below)
    if not labels or len(filled) + len(alone) <= len(labels) or not all(isinstance(top[c], str) for c in labels):
        return False
    if not all(_is_label(sub[c]) for c in filled) or (len(labels) == 1 and labels[0] <= min(filled)):
        return False
    spans = [_spanned(above, below, c) for c in labels if below[c]]
    if not spans or any(len(span) < 2 for span in spans):  # a label over a single one reads as a data row's
        return False
    texts = [below[c] for c in filled]
    if any(span[0] in merged for span in spans) or all(_is_year(sub[c]) for span in spans for c in span):
        return True
    return (bool(alone) or len(set(texts)) < len(texts)) and not _text_under(after, spans)


def _text_under(after: list[Any], spans: list[list[int]]) -> bool:
    """Does ``after`` hold text under the spans, as the labels of ``sub`` are? Then both read as records."""
    under = [after[c] for span in spans for c in span if c < len(after) and cell_text(after[c])]
    return bool(under) and all(isinstance(value, str) and not _is_year(value) for value in under)


def _spanned(above: list[str | None], below: list[str | None], start: int) -> list[int]:
    """The columns a group label at ``start`` spans: it and the blank ones after it with a label below."""
    end = start + 1
    while end < len(above) and not above[end] and below[end]:
        end += 1
    return list(range(start, end))


def _is_label(value: Any) -> bool:
    return isinstance(value, str) or _is_year(value)


def _is_year(value: Any) -> bool:
    """Years are the numbers a header row holds as labels (``2019``, typed as a number or as text)."""
    if isinstance(value, str):
        value = value.strip()
        return value.isdigit() and int(value) in YEARS
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer()
    return number and int(value) in YEARS


def _labels(sheet: calamine.CalamineSheet, layout: Layout) -> list[str]:
    """The kept columns' labels: the header's cells, each under a group label prefixed with it
    (``Population 2019``: ``population_2019``); a group label with nothing below it stands alone."""
    first = layout.header if layout.group is None else layout.group
    rows = list(islice(sheet.iter_rows(), first, layout.header + 1))
    header = rows[-1]
    below = [(cell_text(header[c]) if c < len(header) else None) or "" for c in layout.columns]
    if layout.group is None:
        return below
    top = rows[0]
    labels, group = [], ""
    for c, label in zip(layout.columns, below):
        above = (cell_text(top[c]) if c < len(top) else None) or ""
        if above:
            group = above if label else ""
        labels.append(f"{group} {label}".strip() if label else above)
    return labels


# --- staging -------------------------------------------------------------------------------

def _errors(path: Path, sheet_name: str, sheet: calamine.CalamineSheet) -> dict[int, dict[int, str]]:
    """The error values of the sheet's cells (``#DIV/0!``), by sheet row and position in calamine's
    rows (xlsx, ods and xls: ``xlsx_formats.error_cells``, ``ods_formats.error_cells``,
    ``xls_formats.error_cells``)."""
    offset = sheet.start[1] if sheet.start else 0
    by_row: dict[int, dict[int, str]] = {}
    found = (xlsx_formats.error_cells(path, sheet_name) or ods_formats.error_cells(path, sheet_name)
             or xls_formats.error_cells(path, sheet_name))
    for (row, column), value in found.items():
        by_row.setdefault(row, {})[column - offset] = value
    return by_row


def _data_rows(sheet: calamine.CalamineSheet, layout: Layout,
               errors: dict[int, dict[int, str]]) -> Iterator[tuple[int, list[Any]]]:
    """(sheet row index, cells) of the rows below the header to the end of data, each error cell
    holding its error value, which calamine reads as an empty string: staged as written, it
    becomes null in a typed column as a value that failed, and the report names it and its row."""
    rows = islice(sheet.iter_rows(), layout.header + 1, layout.end)
    return _with_errors(enumerate(rows, start=layout.header + 1), errors)


def _with_errors(rows: Iterator[tuple[int, list[Any]]],
                 errors: dict[int, dict[int, str]]) -> Iterator[tuple[int, list[Any]]]:
    """(sheet row index, cells), each error cell holding its error value in place of calamine's
    empty string; the rows themselves when the sheet holds no error (most sheets)."""
    if not errors:
        return rows
    return (_patched(index, row, errors.get(index)) for index, row in rows)


def _patched(index: int, row: list[Any], found: dict[int, str] | None) -> tuple[int, list[Any]]:
    for position, value in (found or {}).items():
        if 0 <= position < len(row):
            row[position] = value
    return index, row


def _batches(rows: Iterator[tuple[int, list[Any]]], layout: Layout, schema: pa.Schema,
             converters: list[Callable[[Any], str | None]]) -> Iterator[pa.RecordBatch]:
    """The kept cells as text, each column through its converter (``cell_text`` or a padder)."""
    columns: list[list[str | None]] = [[] for _ in layout.columns]
    kinds = layout.kinds
    for index, row in rows:
        if kinds[index] == EMPTY:
            continue
        width = len(row)
        for values, position, convert in zip(columns, layout.columns, converters):
            values.append(convert(row[position]) if position < width else None)
        if len(columns[0]) >= BATCH_ROWS:
            yield _batch(columns, schema)
            columns = [[] for _ in layout.columns]
    if columns and columns[0]:
        yield _batch(columns, schema)


def _batch(columns: list[list[str | None]], schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array(values, pa.string()) for values in columns], schema=schema)
