"""XLSX written as it streams: the first bytes leave with the first rows, memory stays a few
thousand rows deep, no temporary file.

xlsxwriter wrote the whole workbook to a temporary file before its first byte: a two-million-row
export sent nothing for over a minute, which a proxy (nginx waits 60 s) took for a dead upstream.
An XLSX is a zip of XML parts (Office Open XML SpreadsheetML), and a zip can be written to a
stream: each entry's sizes follow its data (a data descriptor), and readers find the entries by
the central directory at the end, in any order. So each sheet is one deflated entry grown row by
row, and what depends on the whole (the workbook's list of sheets, the content types, a sheet's
comments) is written after the sheets. Text is written in its cell (``inlineStr``): a
shared-strings table would hold every distinct text until the end.

Values are written as xlsxwriter wrote them: numbers, booleans, dates and datetimes (the
request's local time: Excel has no zones) as Excel serial numbers with a date format, except
where Excel would change them: a date or datetime before 1900-01-01 (Excel has no earlier day)
as ISO 8601 text, as ``/records`` writes it, and an integer of 10**15
or more in magnitude (Excel keeps 15 significant digits) as text of its digits; points as
``lat,lon`` text, text a spreadsheet would run as a formula with Excel's hidden quote prefix,
control characters with Excel's ``_xHHHH_`` escape. A cell holds 32,767 characters: a longer
value (a detailed shape's GeoJSON) is left out, its cell empty with a comment giving its length,
never cut into invalid text.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from portail.exports import isotext
from portail.exports.xmltext import xml_attribute, xml_text
from portail.schema import Field, FieldType

#: Characters (UTF-16 units, as Excel counts them) an Excel cell holds.
CELL_CHARS = 32_767
#: Rows formatted at a time: their bytes leave before the next rows are read, whatever the size
#: of the engine's batches.
ROWS_AT_ONCE = 2_048
#: Compressed bytes gathered before they are handed on: fewer, larger chunks for the server.
CHUNK = 1 << 16

#: A cell as written after its reference (``<c r="B7"``): its XML, an over-long text's length
#: (the cell then empty, with a comment), or None for an empty cell.
Cell = str | int | None

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE = "http://schemas.openxmlformats.org/package/2006"
_SPREADSHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
#: The cell formats of ``styles.xml`` (a cell's ``s``): dates, datetimes, and text kept as text by
#: the quote prefix, which a spreadsheet never runs as a formula, edited or saved as CSV, without
#: the visible "'" that CSV needs (the value stays the data).
_DATE, _DATETIME, _LITERAL = 1, 2, 3
_STYLES = (_DECLARATION + f'<styleSheet xmlns="{_MAIN}">'
           '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/>'
           '<numFmt numFmtId="165" formatCode="yyyy-mm-dd hh:mm:ss"/></numFmts>'
           '<fonts count="1"><font><sz val="11"/><color theme="1"/><name val="Calibri"/><family val="2"/>'
           '<scheme val="minor"/></font></fonts>'
           '<fills count="2"><fill><patternFill patternType="none"/></fill>'
           '<fill><patternFill patternType="gray125"/></fill></fills>'
           '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
           '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
           '<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
           '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
           '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
           '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" quotePrefix="1"/></cellXfs>'
           '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
           '</styleSheet>')
_PACKAGE_RELS = (_DECLARATION + f'<Relationships xmlns="{_PACKAGE}/relationships"><Relationship Id="rId1" '
                 f'Type="{_RELATIONSHIPS}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
_SHEET_HEAD = (_DECLARATION + f'<worksheet xmlns="{_MAIN}" xmlns:r="{_RELATIONSHIPS}"><sheetData>').encode()
#: Excel's escape of a character XML cannot hold (``_x0001_``); a text that looks like one has its
#: underscore escaped (``_x005F_``), else Excel would read it as that character.
_EXCEL_ESCAPED = re.compile("_(?=x[0-9a-fA-F]{4}_)|[\x00-\x08\x0b-\x1f\ufffe\uffff]")
#: Excel's serial number of 1970-01-01. Excel takes 1900 for a leap year: its day 60 is a
#: 29 February that never was, and the days before 1900-03-01 count one less. It has no day
#: before 1900-01-01 (its serial 1; a negative serial shows as ####, and readers took 1850-06-01,
#: written -18110, for 1850-05-31): a date or datetime before 1900-01-01 is ISO 8601 text.
_UNIX_EPOCH = 25_569
_FIRST_MARCH_1900 = 61
_FIRST_DAY = 2 - _UNIX_EPOCH  # 1900-01-01 (serial 1, one less than its count), in days since 1970-01-01
_END_DAY = 2_932_897  # 10000-01-01 in days since 1970-01-01: Excel's dates end with 9999, later wall times are text
#: Excel keeps 15 significant digits of a number: an integer from 10**15 on (in magnitude) is
#: written as text, its digits whole.
_EXACT = 10 ** 15


def write_xlsx(header: list[str], fields: list[Field], batches: Iterator[pa.RecordBatch], *, timezone: str,
               sheet_rows: int, formula: re.Pattern[str]) -> Iterator[bytes]:
    """The workbook's bytes as its rows are written: a sheet ("export", "export (2)", …) every
    ``sheet_rows`` rows, header included; ``formula`` matches the text given the quote prefix.
    Closed early (the client hung up), it closes ``batches``, releasing the engine's cursor."""
    sink = Drain()
    archive = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED)
    try:
        _add(archive, "_rels/.rels", _PACKAGE_RELS)
        _add(archive, "xl/styles.xml", _STYLES)
        book = _Book(archive, [_text_cell(title, formula) for title in header], sheet_rows)
        for batch in batches:
            for start in range(0, batch.num_rows, ROWS_AT_ONCE):
                book.add(_columns(fields, batch.slice(start, ROWS_AT_ONCE), timezone, formula))
                if sink.held >= CHUNK:
                    yield sink.take()
        book.close()
        archive.close()
        yield sink.take()
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()


def column_letters(index: int) -> str:
    """A column's name in cell references: A…Z, AA…ZZ, AAA… (``index`` from 0)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


class Drain:
    """A file written to as it streams, its bytes taken out as they come (``take``): the
    workbook's zip here, the Parquet export's file (``exports.formats``). It cannot seek, so
    zipfile writes each entry's sizes after its data; its position counts every byte written,
    taken or not, as the zip's central directory and the Parquet footer record offsets from
    it. One sink for both writers, here because ``exports.formats`` imports this module."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._written = 0
        #: bytes written and not yet taken
        self.held = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))  # no copy of bytes; a buffer its writer reuses is copied
        self._written += len(data)
        self.held += len(data)
        return len(data)

    def tell(self) -> int:
        return self._written

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        self.held = 0
        return data


def _entry(name: str) -> zipfile.ZipInfo:
    """An entry dated as xlsxwriter dates them (1980-01-01): the same records, the same file."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _add(archive: zipfile.ZipFile, name: str, xml: str) -> None:
    archive.writestr(_entry(name), xml.encode())


@dataclass
class _Sheet:
    """A sheet being written: its zip entry, and its over-long cells (reference, row, column,
    length), few, which its comments list once the sheet is written."""
    number: int
    entry: IO[bytes]
    notes: list[tuple[str, int, int, int]] = field(default_factory=list)
    comments: int = 0  # the number of its comments part, 0 for none

    @property
    def name(self) -> str:
        return "export" if self.number == 1 else f"export ({self.number})"


class _Book:
    """The sheets, written a chunk of rows at a time, each beginning with the header."""

    def __init__(self, archive: zipfile.ZipFile, header: list[Cell], sheet_rows: int) -> None:
        self.archive, self.header, self.sheet_rows = archive, header, sheet_rows
        self.letters = [column_letters(i) for i in range(len(header))]
        self.sheets: list[_Sheet] = []
        self.row = sheet_rows  # "full": the first record opens the first sheet
        self.commented = 0  # sheets with comments so far
        self.shape_blocks = 1  # the next free block of 1,024 comment shape ids (VML's idmap)

    def add(self, columns: list[list[Cell]]) -> None:
        """Rows given as their columns' cells, written to the sheet, and the next sheet when
        one is full (Excel's limit: the records go on rather than being lost)."""
        lines: list[str] = []
        for cells in zip(*columns) if columns else ():
            if self.row == self.sheet_rows:
                self._write(lines)
                self._next_sheet()
            self.row += 1
            lines.append(self._row(self.row, cells))
        self._write(lines)

    def close(self) -> None:
        """The last sheet ended (the first written if no record came: the header alone), then
        the parts that list the sheets."""
        if not self.sheets:
            self._next_sheet()
        self._end_sheet()
        _add(self.archive, "xl/workbook.xml", _workbook(self.sheets))
        _add(self.archive, "xl/_rels/workbook.xml.rels", _workbook_relationships(self.sheets))
        _add(self.archive, "[Content_Types].xml", _content_types(self.sheets))

    def _next_sheet(self) -> None:
        if self.sheets:
            self._end_sheet()
        number = len(self.sheets) + 1
        sheet = _Sheet(number, self.archive.open(_entry(f"xl/worksheets/sheet{number}.xml"), "w"))
        self.sheets.append(sheet)
        sheet.entry.write(_SHEET_HEAD)
        self.row = 1
        self._write([self._row(1, self.header)])

    def _write(self, lines: list[str]) -> None:
        if lines:
            self.sheets[-1].entry.write("".join(lines).encode())
            lines.clear()

    def _row(self, number: int, cells: Sequence[Cell]) -> str:
        row = f'<row r="{number}">'
        for column, (letter, cell) in enumerate(zip(self.letters, cells)):
            if cell is None:
                continue
            if cell.__class__ is int:
                self.sheets[-1].notes.append((f"{letter}{number}", number - 1, column, cell))
            else:
                row += f'<c r="{letter}{number}"{cell}'
        return row + "</row>"

    def _end_sheet(self) -> None:
        """The sheet's end, and its comments with their drawing (Excel shows a comment by its
        VML shape) and the relationships that tie them to it."""
        sheet = self.sheets[-1]
        if not sheet.notes:
            sheet.entry.write(b"</sheetData></worksheet>")
            sheet.entry.close()
            return
        sheet.entry.write(b'</sheetData><legacyDrawing r:id="rId2"/></worksheet>')
        sheet.entry.close()
        self.commented += 1
        sheet.comments, first_shape = self.commented, 1024 * self.shape_blocks
        self.shape_blocks += len(sheet.notes) // 1024 + 1
        _add(self.archive, f"xl/comments{sheet.comments}.xml", _comments(sheet.notes))
        _add(self.archive, f"xl/drawings/vmlDrawing{sheet.comments}.vml", _drawing(sheet.notes, first_shape))
        _add(self.archive, f"xl/worksheets/_rels/sheet{sheet.number}.xml.rels",
             _DECLARATION + f'<Relationships xmlns="{_PACKAGE}/relationships">'
             f'<Relationship Id="rId1" Type="{_RELATIONSHIPS}/comments" Target="../comments{sheet.comments}.xml"/>'
             f'<Relationship Id="rId2" Type="{_RELATIONSHIPS}/vmlDrawing" '
             f'Target="../drawings/vmlDrawing{sheet.comments}.vml"/></Relationships>')
        sheet.notes.clear()


def _too_long(length: int) -> str:
    return (f"Value not written: {length:,} characters, beyond the {CELL_CHARS:,} an Excel cell holds. "
            "The csv, json and geojson exports hold it whole.")


def _comments(notes: list[tuple[str, int, int, int]]) -> str:
    items = "".join(f'<comment ref="{ref}" authorId="0"><text><r><t>{xml_text(_too_long(length))}</t></r></text>'
                    "</comment>" for ref, _, _, length in notes)
    return (_DECLARATION + f'<comments xmlns="{_MAIN}"><authors><author></author></authors>'
            f"<commentList>{items}</commentList></comments>")


def _drawing(notes: list[tuple[str, int, int, int]], first_shape: int) -> str:
    """The comments' hidden note shapes, anchored by their cells, as Excel draws them."""
    blocks = ",".join(str(first_shape // 1024 + i) for i in range(len(notes) // 1024 + 1))
    shapes = "".join(
        f'<v:shape id="_x0000_s{first_shape + 1 + i}" type="#_x0000_t202" style="position:absolute;'
        'margin-left:107.25pt;margin-top:7.5pt;width:96pt;height:55.5pt;z-index:1;visibility:hidden" '
        'fillcolor="#ffffe1" o:insetmode="auto"><v:fill color2="#ffffe1"/>'
        '<v:shadow on="t" color="black" obscured="t"/><v:path o:connecttype="none"/>'
        '<v:textbox style="mso-direction-alt:auto"><div style="text-align:left"></div></v:textbox>'
        f'<x:ClientData ObjectType="Note"><x:MoveWithCells/><x:SizeWithCells/>'
        f"<x:Anchor>{column + 1}, 15, {max(row - 1, 0)}, 10, {column + 3}, 15, {row + 3}, 4</x:Anchor>"
        f"<x:AutoFill>False</x:AutoFill><x:Row>{row}</x:Row><x:Column>{column}</x:Column></x:ClientData>"
        "</v:shape>" for i, (_, row, column, _) in enumerate(notes))
    return ('<xml xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
            'xmlns:x="urn:schemas-microsoft-com:office:excel">'
            f'<o:shapelayout v:ext="edit"><o:idmap v:ext="edit" data="{blocks}"/></o:shapelayout>'
            '<v:shapetype id="_x0000_t202" coordsize="21600,21600" o:spt="202" path="m,l,21600r21600,l21600,xe">'
            '<v:stroke joinstyle="miter"/><v:path gradientshapeok="t" o:connecttype="rect"/></v:shapetype>'
            f"{shapes}</xml>")


def _workbook(sheets: list[_Sheet]) -> str:
    listed = "".join(f'<sheet name={xml_attribute(s.name)} sheetId="{s.number}" r:id="rId{s.number}"/>'
                     for s in sheets)
    return (_DECLARATION + f'<workbook xmlns="{_MAIN}" xmlns:r="{_RELATIONSHIPS}"><bookViews><workbookView/>'
            f"</bookViews><sheets>{listed}</sheets></workbook>")


def _workbook_relationships(sheets: list[_Sheet]) -> str:
    listed = "".join(f'<Relationship Id="rId{s.number}" Type="{_RELATIONSHIPS}/worksheet" '
                     f'Target="worksheets/sheet{s.number}.xml"/>' for s in sheets)
    return (_DECLARATION + f'<Relationships xmlns="{_PACKAGE}/relationships">{listed}'
            f'<Relationship Id="rId{len(sheets) + 1}" Type="{_RELATIONSHIPS}/styles" Target="styles.xml"/>'
            "</Relationships>")


def _content_types(sheets: list[_Sheet]) -> str:
    parts = [("/xl/workbook.xml", f"{_SPREADSHEET}.sheet.main+xml"), ("/xl/styles.xml", f"{_SPREADSHEET}.styles+xml")]
    parts += [(f"/xl/worksheets/sheet{s.number}.xml", f"{_SPREADSHEET}.worksheet+xml") for s in sheets]
    parts += [(f"/xl/comments{s.comments}.xml", f"{_SPREADSHEET}.comments+xml") for s in sheets if s.comments]
    overrides = "".join(f'<Override PartName="{name}" ContentType="{kind}"/>' for name, kind in parts)
    return (_DECLARATION + f'<Types xmlns="{_PACKAGE}/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Default Extension="vml" ContentType="application/vnd.openxmlformats-officedocument.vmlDrawing"/>'
            f"{overrides}</Types>")


# -- cells ----------------------------------------------------------------------------------------
def _columns(fields: list[Field], batch: pa.RecordBatch, timezone: str, formula: re.Pattern[str]) -> list[list[Cell]]:
    return [_column(f, batch.column(i), timezone, formula) for i, f in enumerate(fields)]


def _column(f: Field, array: pa.Array, timezone: str, formula: re.Pattern[str]) -> list[Cell]:
    """A column's cells: numbers, booleans, dates and datetimes computed by Arrow a column at a
    time; points as ``lat,lon`` text; any other value as its text."""
    kind = array.type
    if f.type == FieldType.GEO_POINT_2D and pa.types.is_struct(kind):
        return [None if p is None else _text_cell(f"{p['lat']},{p['lon']}", None) for p in array.to_pylist()]
    if pa.types.is_boolean(kind):
        return _wrapped(pc.if_else(array, "1", "0"), ' t="b"><v>')
    if pa.types.is_integer(kind):
        cells = _wrapped(pc.cast(array, pa.string()), "><v>")
        return _as_text(cells, pc.or_(pc.greater_equal(array, _EXACT), pc.less_equal(array, -_EXACT)),
                        lambda: pc.cast(array, pa.string()), formula)
    if pa.types.is_floating(kind):
        return _numbers(pc.cast(array, pa.float64()))
    if pa.types.is_date(kind):
        days = pc.cast(pc.cast(array, pa.date32()), pa.int32()).cast(pa.float64())
        cells = _wrapped(pc.cast(_serial(days), pa.string()), f' s="{_DATE}"><v>')
        return _as_text(cells, pc.less(days, _FIRST_DAY), lambda: pc.cast(pc.cast(array, pa.date32()), pa.string()))
    if pa.types.is_timestamp(kind):
        days = _local_days(array, timezone)
        cells = _wrapped(pc.cast(_serial(days), pa.string()), f' s="{_DATETIME}"><v>')
        outside = pc.or_(pc.less(days, _FIRST_DAY), pc.greater_equal(days, _END_DAY))
        return _as_text(cells, outside, lambda: _instants(array, timezone))
    texts = array.to_pylist() if pa.types.is_string(kind) or pa.types.is_large_string(kind) else \
        [None if v is None else str(v) for v in array.to_pylist()]
    return [None if text is None else _text_cell(text, formula) for text in texts]


def _wrapped(text: pa.Array, opening: str) -> list[Cell]:
    return pc.binary_join_element_wise(opening, text, "</v></c>", "").to_pylist()


def _numbers(array: pa.Array) -> list[Cell]:
    """Numbers, NaN and infinities as Excel's error cells (Excel has no such numbers;
    xlsxwriter refused them, mid-export)."""
    cells = _wrapped(pc.cast(array, pa.string()), "><v>")
    finite = pc.is_finite(array)
    if pc.all(finite).as_py() is not False:
        return cells
    return [' t="e"><v>#NUM!</v></c>' if ok is False else cell for cell, ok in zip(cells, finite.to_pylist())]


def _local_days(array: pa.Array, timezone: str) -> pa.Array:
    """Instants as days since 1970-01-01 in the request's local time (Excel has no zones), the
    wall time ``/records`` writes (``isotext.wall_times``); a timestamp without a zone as it is."""
    array = array if array.type.unit == "ns" else isotext.wall_times(array, ZoneInfo(timezone))
    if array.type.tz is not None:  # nanoseconds: as pyarrow's zone data has them
        array = pc.local_timestamp(array.cast(pa.timestamp(array.type.unit, tz=timezone)))
    per_day = {"s": 86_400, "ms": 86_400e3, "us": 86_400e6, "ns": 86_400e9}[array.type.unit]
    # unsafe: beyond 2**53 µs (before 1685, after 2255) the double rounds, by far less than the
    # precision of the serial number Excel keeps (a double of days)
    ticks = pc.cast(pc.cast(array, pa.timestamp(array.type.unit)), pa.int64())
    return pc.divide(pc.cast(ticks, pa.float64(), safe=False), per_day)


def _serial(days: pa.Array) -> pa.Array:
    """Days since 1970-01-01 as Excel's serial numbers, one less before 1900-03-01 (days before
    1900-01-01 are text)."""
    serial = pc.add(days, _UNIX_EPOCH)
    return pc.if_else(pc.less(serial, _FIRST_MARCH_1900), pc.subtract(serial, 1), serial)


def _as_text(cells: list[Cell], which: pa.Array, texts, formula: re.Pattern[str] | None = None) -> list[Cell]:
    """``cells`` with those ``which`` marks replaced by text cells of ``texts()`` (computed only
    when some are: rare)."""
    if not pc.any(which).as_py():
        return cells
    replaced = texts().to_pylist()
    return [_text_cell(text, formula) if marked else cell
            for cell, marked, text in zip(cells, which.to_pylist(), replaced)]


def _instants(array: pa.Array, timezone: str) -> pa.Array:
    """Instants as ISO 8601 text, as ``/records`` writes them (in the request's zone)."""
    return isotext.instants(array, ZoneInfo(timezone))


def _text_cell(text: str, formula: re.Pattern[str] | None) -> Cell:
    """A text cell; with the quote prefix when ``formula`` matches it; its length when Excel
    cannot hold it (counted as Excel counts, in UTF-16 units)."""
    if len(text) > CELL_CHARS // 2 and len(text.encode("utf-16-le", "surrogatepass")) // 2 > CELL_CHARS:
        return len(text)
    style = f' s="{_LITERAL}"' if formula is not None and formula.match(text) else ""
    escaped = xml_text(_EXCEL_ESCAPED.sub(_excel_escape, text))
    return f'{style} t="inlineStr"><is><t xml:space="preserve">{escaped}</t></is></c>'


def _excel_escape(match: re.Match[str]) -> str:
    character = match.group()
    return "_x005F_" if character == "_" else f"_x{ord(character):04X}_"
