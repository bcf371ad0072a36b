"""Zero-padding number formats and error cells of an OpenDocument sheet (.ods), which calamine
does not report: the ods counterpart of ``xlsx_formats``.

An ods is a zip: ``content.xml`` holds the automatic styles, then every sheet (``table:table``);
``styles.xml`` the named styles a cell style may inherit from. A cell's style is its own
``table:style-name``, else its row's or its column's ``table:default-cell-style-name``
(LibreOffice writes a column's usual style once, on the column). A style leads, through
``style:data-style-name`` (its own or a parent's), to a ``number:number-style``; one showing
integers with ``number:min-integer-digits`` of 2 or more, no decimals and no grouping is a format
of zeros (``00000``: ``1001`` displays ``01001``).

Rows and cells are compressed: ``table:number-rows-repeated`` and
``table:number-columns-repeated`` (a million empty rows after the table) are counted, never
expanded. Padding reads ``SAMPLE_ROWS`` rows from the header on, streamed and discarded.

Error cells (``#DIV/0!``, ``#N/A``) are written by LibreOffice as ``calcext:value-type="error"``
with the error shown in the cell's paragraph; calamine reads them as empty strings. A cell has
no reference to place it by, so they are placed by counting rows and cells in the XML's bytes
(``_errors``), done only where a first scan finds the marker (most files hold none). Files written by other
producers without that marker give no error cells.
"""

from __future__ import annotations

import re
import zipfile
from collections import Counter, defaultdict
from itertools import islice
from pathlib import Path
from xml.etree import ElementTree as ET
from xml.sax.saxutils import unescape

from portail.ingest.readers.xlsx_formats import SAMPLE_ROWS, majority_widths

_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_STYLE = "urn:oasis:names:tc:opendocument:xmlns:style:1.0"
_NUMBER = "urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0"
_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_CALCEXT = "urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0"
_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"
#: What a cell's value type is when it holds a number shown through a number style.
_NUMERIC = {"float", "percentage", "currency"}
_ERROR_MARKERS = (b'value-type="error"', b"value-type='error'")
#: Error cells placed at most: a repeated error cell (``number-rows-repeated``) is counted, not expanded beyond it.
MAX_ERRORS = 100_000
#: LibreOffice's and Excel's widest sheet: columns repeated beyond it are not counted one by one.
MAX_COLUMNS = 1 << 14
_CELLS = {f"{{{_TABLE}}}table-cell", f"{{{_TABLE}}}covered-table-cell"}


def _is_ods(archive: zipfile.ZipFile) -> bool:
    names = archive.namelist()
    return "content.xml" in names and "mimetype" in names and archive.read("mimetype").strip() == _MIMETYPE


def zero_padded_columns(path: Path, sheet_name: str, first_row: int) -> dict[int, int]:
    """Width to pad each column's integers to, by 0-based sheet column, for the columns whose
    numeric cells among ``SAMPLE_ROWS`` rows from ``first_row`` (0-based) mostly use a format of
    zeros. Empty when the file is not an ods or its XML cannot be read."""
    try:
        with zipfile.ZipFile(path) as archive:
            if not _is_ods(archive):
                return {}
            data_styles, cell_styles = _named_styles(archive)
            with archive.open("content.xml") as stream:
                return _column_widths(stream, sheet_name, first_row, data_styles, cell_styles)
    except (zipfile.BadZipFile, KeyError, ET.ParseError, OSError, ValueError, EOFError):
        return {}


def error_cells(path: Path, sheet_name: str) -> dict[tuple[int, int], str]:
    """The error values of the sheet's cells (``#DIV/0!``), by 0-based (sheet row, sheet column);
    empty when the file is not an ods, holds no error cell, or its XML cannot be read."""
    try:
        with zipfile.ZipFile(path) as archive:
            if not _is_ods(archive):
                return {}
            with archive.open("content.xml") as stream:
                if not _holds_error(stream):
                    return {}
            with archive.open("content.xml") as stream:
                return _errors(stream, sheet_name)
    except (zipfile.BadZipFile, KeyError, ET.ParseError, OSError, ValueError, EOFError):
        return {}


def _holds_error(stream) -> bool:
    """Does the XML hold an error cell's marker? Read in chunks, overlapping by a marker's length."""
    rest = b""
    while chunk := stream.read(1 << 20):
        text = rest + chunk
        if any(marker in text for marker in _ERROR_MARKERS):
            return True
        rest = text[-len(_ERROR_MARKERS[0]):]
    return False


# --- styles --------------------------------------------------------------------------------

def number_style_width(style: ET.Element) -> int | None:
    """The digits a ``number:number-style`` pads integers to: its ``number:number`` shows at least
    two integer digits, no decimals and no grouping (``number:text`` literals aside, as
    ``xlsx_formats.zero_width`` sets quoted text aside); None for any other style."""
    numbers = [child for child in style if child.tag == f"{{{_NUMBER}}}number"]
    others = [child for child in style if child.tag not in (f"{{{_NUMBER}}}number", f"{{{_NUMBER}}}text",
                                                            f"{{{_STYLE}}}text-properties", f"{{{_STYLE}}}map")]
    if len(numbers) != 1 or others:
        return None
    number = numbers[0]
    digits = number.get(f"{{{_NUMBER}}}min-integer-digits", "1")
    if number.get(f"{{{_NUMBER}}}decimal-places", "0") != "0" or number.get(f"{{{_NUMBER}}}grouping") == "true":
        return None
    return int(digits) if digits.isdecimal() and int(digits) >= 2 else None


class _Styles:
    """Number styles' widths and cell styles' (data style, parent), gathered from ``styles.xml``
    and ``content.xml``'s automatic styles, resolved to a width by cell style name."""

    def __init__(self, data_styles: dict[str, int], cell_styles: dict[str, tuple[str | None, str | None]]):
        self.data_styles, self.cell_styles = data_styles, cell_styles
        self._widths: dict[str, int | None] = {}

    def add(self, element: ET.Element) -> None:
        _add_style(element, self.data_styles, self.cell_styles)

    def width(self, name: str | None) -> int | None:
        if name is None:
            return None
        if name not in self._widths:
            seen: set[str] = set()
            current: str | None = name
            width = None
            while current is not None and current not in seen:  # a parent chain, cycles guarded
                seen.add(current)
                data, parent = self.cell_styles.get(current, (None, None))
                if data is not None:
                    width = self.data_styles.get(data)
                    break
                current = parent
            self._widths[name] = width
        return self._widths[name]


def _add_style(element: ET.Element, data_styles: dict[str, int],
               cell_styles: dict[str, tuple[str | None, str | None]]) -> None:
    name = element.get(f"{{{_STYLE}}}name")
    if name is None:
        return
    if element.tag == f"{{{_NUMBER}}}number-style":
        width = number_style_width(element)
        if width:
            data_styles[name] = width
    elif element.tag == f"{{{_STYLE}}}style" and element.get(f"{{{_STYLE}}}family") == "table-cell":
        cell_styles[name] = (element.get(f"{{{_STYLE}}}data-style-name"), element.get(f"{{{_STYLE}}}parent-style-name"))


def _named_styles(archive: zipfile.ZipFile) -> tuple[dict[str, int], dict[str, tuple[str | None, str | None]]]:
    """The styles of ``styles.xml`` (small: no cells), which ``content.xml``'s styles inherit from."""
    data_styles: dict[str, int] = {}
    cell_styles: dict[str, tuple[str | None, str | None]] = {}
    if "styles.xml" in archive.namelist():
        for element in ET.fromstring(archive.read("styles.xml")).iter():
            _add_style(element, data_styles, cell_styles)
    return data_styles, cell_styles


# --- the sheet -----------------------------------------------------------------------------

def _repeated(element: ET.Element, what: str) -> int:
    value = element.get(f"{{{_TABLE}}}number-{what}-repeated", "1")
    return max(int(value), 1) if value.isdecimal() else 1


def _column_widths(stream, sheet_name: str, first_row: int, data_styles: dict[str, int],
                   cell_styles: dict[str, tuple[str | None, str | None]]) -> dict[int, int]:
    """Stream ``content.xml`` to the sheet's rows ``first_row`` to ``first_row + SAMPLE_ROWS`` and
    keep, per column, the padding width most of its numeric cells use, if most do."""
    styles = _Styles(data_styles, cell_styles)
    numeric: Counter[int] = Counter()
    formatted: defaultdict[int, Counter[int]] = defaultdict(Counter)
    in_sheet, in_styles = False, True
    column_styles: list[str | None] = []  # default cell style of each column, in order
    row, column, row_style, repeat = 0, 0, None, 1
    sheet: ET.Element | None = None  # the sheet being read, whose emptied rows are dropped as they end
    for event, element in ET.iterparse(stream, events=("start", "end")):
        tag = element.tag
        if event == "start":
            if tag == f"{{{_OFFICE}}}body":
                in_styles = False
            elif tag == f"{{{_TABLE}}}table":
                in_sheet, sheet = element.get(f"{{{_TABLE}}}name") == sheet_name, element
            elif in_sheet and tag == f"{{{_TABLE}}}table-row":
                column, row_style, repeat = 0, element.get(f"{{{_TABLE}}}default-cell-style-name"), \
                    _repeated(element, "rows")
                if row >= first_row + SAMPLE_ROWS:
                    break
            continue
        if in_styles:
            if tag in (f"{{{_NUMBER}}}number-style", f"{{{_STYLE}}}style"):
                styles.add(element)
                element.clear()
            continue
        if not in_sheet:  # another sheet's: kept whole until its end, 100,000 rows before the sheet took 300 MB
            element.clear()
            if tag == f"{{{_TABLE}}}table-row" and sheet is not None:
                sheet.clear()  # its rows, emptied but still its children
            continue
        if tag == f"{{{_TABLE}}}table-column":
            style = element.get(f"{{{_TABLE}}}default-cell-style-name")
            # at most MAX_COLUMNS in all: 2,000 elements of 16,384 columns (a zip of 2 kB) made a list of 277 MB
            column_styles.extend([style] * min(_repeated(element, "columns"), MAX_COLUMNS - len(column_styles)))
        elif tag in _CELLS:
            count = _repeated(element, "columns")
            if row + repeat > first_row and element.get(f"{{{_OFFICE}}}value-type") in _NUMERIC:
                rows = min(row + repeat, first_row + SAMPLE_ROWS) - max(row, first_row)
                style = element.get(f"{{{_TABLE}}}style-name") or row_style
                for position in range(column, min(column + count, MAX_COLUMNS)):
                    name = style or (column_styles[position] if position < len(column_styles) else None)
                    numeric[position] += rows
                    width = styles.width(name) if element.get(f"{{{_OFFICE}}}value-type") == "float" else None
                    if width:
                        formatted[position][width] += rows
            column += count
            element.clear()
        elif tag == f"{{{_TABLE}}}table-row":
            row += repeat
            element.clear()
        elif tag == f"{{{_TABLE}}}table":
            break
    return majority_widths(numeric, formatted)


#: The prefix the file binds to the table namespace (``table``, as every producer writes it).
_TABLE_PREFIX = re.compile(rb'xmlns:([\w.-]+)\s*=\s*["\']urn:oasis:names:tc:opendocument:xmlns:table:1\.0["\']')
_ROWS_REPEATED = re.compile(rb':number-rows-repeated\s*=\s*["\'](\d+)["\']')
_COLUMNS_REPEATED = re.compile(rb':number-columns-repeated\s*=\s*["\'](\d+)["\']')
_TABLE_NAME = re.compile(rb':name\s*=\s*(["\'])(.*?)\1', re.S)
_MARKUP = re.compile(rb"<[^>]*>")
#: A tag's attributes, up to its ``>``: XML lets an attribute's value hold a ``>`` unescaped (a
#: formula's ``[.A2]>0``), so quoted values are passed whole.
_ATTRIBUTES = rb"((?:[^>\"']|\"[^\"]*\"|'[^']*')*?)"


def _count(pattern: re.Pattern[bytes], attributes: bytes) -> int:
    found = pattern.search(attributes)
    return max(int(found.group(1)), 1) if found else 1


def _errors(stream, sheet_name: str) -> dict[tuple[int, int], str]:
    """The sheet's error cells, placed by counting its rows and cells in the XML's bytes, chunk
    by chunk, each cut after a row's end. A chunk holding neither an error nor a sheet's start or
    end only has its rows counted (two searches in C); the rows holding an error have their cells
    counted. Parsing every cell as XML took 6 s on a sheet of 100,000 rows (40 MB of XML), 8 times
    calamine's whole read; the scan takes 0.5 s, of which decompressing 0.1 s."""
    head = stream.read(1 << 20)
    bound = _TABLE_PREFIX.search(head)
    if bound is None:
        return {}
    prefix = re.escape(bound.group(1))
    tokens = re.compile(rb"<(/?)" + prefix + rb":(table|table-row)(?=[\s/>])" + _ATTRIBUTES + rb"(/?)>")
    boundary = re.compile(rb"</?" + prefix + rb":table(?=[\s/>])")
    row_start = re.compile(rb"<" + prefix + rb":table-row(?=[\s/>])")
    cells = re.compile(rb"<" + prefix + rb":(?:covered-)?table-cell(?=[\s/>])" + _ATTRIBUTES + rb"(/?)>")
    cell_end = re.compile(rb"</" + prefix + rb":(?:covered-)?table-cell>")
    row_end = b"</" + bound.group(1) + b":table-row>"
    found: dict[tuple[int, int], str] = {}
    in_sheet, row = False, 0
    rest, chunk = b"", head
    while True:
        text = rest + chunk
        cut = len(text) if not chunk else text.rfind(row_end) + len(row_end)
        if chunk and cut < len(row_end):  # no row ends in it yet: read on (at the end, the rest is the last segment)
            rest, chunk = text, stream.read(1 << 20)
            continue
        segment = memoryview(text)[:cut].tobytes() if cut < len(text) else text
        if not _holds_marker(segment) and boundary.search(segment) is None:
            if in_sheet:
                row += len(row_start.findall(segment)) + sum(int(n) - 1 for n in _ROWS_REPEATED.findall(segment)
                                                               if int(n) > 1)
        else:
            opened, repeat = 0, 1
            for token in tokens.finditer(segment):
                closing, tag, attributes, empty = token.groups()
                if tag == b"table":
                    if closing and in_sheet:
                        return found
                    if not closing:
                        name = _TABLE_NAME.search(attributes)
                        in_sheet = name is not None and _unescaped(name.group(2)) == sheet_name
                elif not in_sheet:
                    continue
                elif not closing:
                    repeat = _count(_ROWS_REPEATED, attributes)
                    opened = token.end()
                    if empty:
                        row += repeat
                else:
                    if _holds_marker(segment[opened:token.start()]):
                        _place_errors(segment[opened:token.start()], row, repeat, cells, cell_end, found)
                    row += repeat
        if not chunk:
            return found
        rest, chunk = text[cut:], stream.read(1 << 20)


def _holds_marker(data: bytes) -> bool:
    return any(marker in data for marker in _ERROR_MARKERS)


def _unescaped(data: bytes) -> str:
    return unescape(data.decode("utf-8", "replace"), _QUOTES)


#: XML's predefined entities beyond ``unescape``'s own three.
_QUOTES = {"&quot;": '"', "&apos;": "'"}


def _place_errors(row_xml: bytes, row: int, repeat: int, cells: re.Pattern[bytes], cell_end: re.Pattern[bytes],
                  found: dict[tuple[int, int], str]) -> None:
    """The error cells of one row (``repeat`` times over), each the text its paragraphs show."""
    column = 0
    for cell in cells.finditer(row_xml):
        attributes, empty = cell.groups()
        count = _count(_COLUMNS_REPEATED, attributes)
        if _holds_marker(attributes) and not empty:
            end = cell_end.search(row_xml, cell.end())
            shown = _unescaped(_MARKUP.sub(b"", row_xml[cell.end():end.start() if end else len(row_xml)])).strip()
            places = ((at, position) for at in range(row, row + repeat) for position in range(column, column + count))
            for place in islice(places, MAX_ERRORS - len(found)) if shown else ():
                found[place] = shown
        column += count
