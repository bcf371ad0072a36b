"""Zero-padding number formats and error cells of an xlsx sheet, which calamine does not report.

French administrative spreadsheets often store codes as numbers shown through a format made of
zeros: the INSEE code ``1001`` with the format ``00000`` displays ``01001`` ("Special > Zip
code" is that same custom format). calamine returns ``1001``, and the code would lose its
leading zero. This module reads the formats from the file itself, which is a zip:
``xl/workbook.xml`` and its relationships lead to the sheet's XML, ``xl/styles.xml`` maps a
cell's style index (``s``) to a number format.

Only the first ``SAMPLE_ROWS`` data rows are looked at, streamed and discarded as they are
parsed, so the cost does not grow with the sheet. (Expat ≥ 2.4 bounds entity expansion, so a
hostile DTD cannot blow up the parse.) Other formats give no widths (ods: ``ods_formats``).

Error cells (``#DIV/0!``, ``#N/A``: a formula failed) are empty strings for calamine, so they
became nulls that no report told of; ``error_cells`` finds them in the sheet's XML (``t="e"``),
whole sheet, where a first scan of its bytes finds any (most sheets hold none).
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections import Counter, defaultdict
from pathlib import Path
from xml.etree import ElementTree as ET
from xml.sax.saxutils import unescape

SAMPLE_ROWS = 500
_ZEROS = re.compile(r"0{2,}")  # "00000": integers padded to 5 digits; "0" alone pads nothing
#: What a format shows as it is, between its digits: quoted text, an escaped character, a space, a dash.
_LITERALS = re.compile(r'"[^"]*"|\\.|[ \u00a0\u202f-]')
_CELL_REF = re.compile(r"([A-Z]+)(\d*)")
_NUMERIC = {None, "n"}  # a cell's ``t``: absent or "n" for a number (dates are numbers too)


def zero_padded_columns(path: Path, sheet_name: str, first_row: int) -> dict[int, int]:
    """Width to pad each column's integers to, by 0-based sheet column, for the columns whose
    numeric cells among ``SAMPLE_ROWS`` rows from ``first_row`` (0-based) mostly use a
    zero-padding format. Empty when the file is not an xlsx/xlsm or its XML cannot be read:
    calamine has read the values already, the formats only refine them."""
    try:
        with zipfile.ZipFile(path) as archive:
            if "xl/workbook.xml" not in archive.namelist():
                return {}
            widths = _style_widths(archive)
            if not widths:
                return {}
            sheet = _sheet_path(archive, sheet_name)
            if sheet is None:
                return {}
            with archive.open(sheet) as stream:
                return _column_widths(stream, widths, first_row)
    except (zipfile.BadZipFile, KeyError, ET.ParseError, OSError, ValueError, EOFError):
        return {}


#: An error cell, up to its end (``<c r="B5" t="e"><f>1/0</f><v>#DIV/0!</v></c>``, any namespace
#: prefix): its attributes and content. The engine skips every other cell itself.
_ERROR_CELL = re.compile(rb'<(?:[\w.-]+:)?c\s(?=[^>]*\bt\s*=\s*["\']e["\'])([^>]*)(?<!/)>(.*?)</(?:[\w.-]+:)?c>', re.S)
_REFERENCE = re.compile(rb'\br\s*=\s*["\']([A-Z]+)([0-9]+)["\']')
_VALUE = re.compile(rb'<(?:[\w.-]+:)?v>([^<]*)</')
#: The end of a row (``</row>``): a chunk of the sheet cut there holds whole cells.
_ROW_END = b"row>"


def error_cells(path: Path, sheet_name: str) -> dict[tuple[int, int], str]:
    """The error values of the sheet's cells (``#DIV/0!``), by 0-based (sheet row, sheet column);
    empty when the file is not an xlsx/xlsm or its XML cannot be read."""
    try:
        with zipfile.ZipFile(path) as archive:
            if "xl/workbook.xml" not in archive.namelist():
                return {}
            sheet = _sheet_path(archive, sheet_name)
            if sheet is None:
                return {}
            with archive.open(sheet) as stream:
                found = _scanned_errors(stream)
            if found is None:  # an error cell without its reference: placed by a parse of every cell
                with archive.open(sheet) as stream:
                    found = _errors(stream)
            return found
    except (zipfile.BadZipFile, KeyError, ET.ParseError, OSError, ValueError, EOFError):
        return {}


def _scanned_errors(stream) -> dict[tuple[int, int], str] | None:
    """The error cells found in the sheet's bytes, row chunk by row chunk, each placed by its
    reference (``r="B5"``, which Excel, LibreOffice and the libraries write); None where one has
    none. Parsing every cell as XML took 27 s on a sheet of 300,000 rows, 9 times calamine's
    whole read; the scan costs about what decompressing does, a pattern looked for only in the
    chunks holding an error type's value."""
    found: dict[tuple[int, int], str] = {}
    rest = b""
    while True:
        chunk = stream.read(1 << 20)
        text = rest + chunk
        cut = len(text) if not chunk else text.rfind(_ROW_END) + len(_ROW_END)
        if cut < len(_ROW_END):  # no row ends in it yet: read on
            rest = text
            continue
        held = b'"e"' in text or b"'e'" in text  # found fast: most chunks hold no error cell
        for cell in _ERROR_CELL.finditer(text, 0, cut) if held else ():
            reference, value = _REFERENCE.search(cell.group(1)), _VALUE.search(cell.group(2))
            if reference is None:
                return None
            shown = unescape(value.group(1).decode("utf-8", "replace"), _QUOTES).strip() if value else ""
            if shown:
                found[int(reference.group(2)) - 1, _column_index(reference.group(1).decode())] = shown
        if not chunk:
            return found
        rest = text[cut:]


#: XML's predefined entities beyond ``unescape``'s own three.
_QUOTES = {"&quot;": '"', "&apos;": "'"}


def _errors(stream) -> dict[tuple[int, int], str]:
    found: dict[tuple[int, int], str] = {}
    row, column = -1, -1
    for event, element in ET.iterparse(stream, events=("start", "end")):
        tag = _local(element.tag)
        if event == "start":
            if tag == "row":
                row = int(element.get("r", row + 2)) - 1
                column = -1
            continue
        if tag == "c":
            column = _cell_column(element.get("r"), column)
            if element.get("t") == "e":
                value = next(((child.text or "").strip() for child in element if _local(child.tag) == "v"), "")
                if value:
                    found[row, column] = value
            element.clear()
        elif tag == "row":
            element.clear()
    return found


def _local(tag: str) -> str:
    """A tag or attribute name without its namespace (transitional and strict OOXML differ)."""
    return tag.rsplit("}", 1)[-1]


def _style_widths(archive: zipfile.ZipFile) -> dict[int, int]:
    """Padding width by cell style index, for the styles whose number format is only zeros.
    Excel's built-in formats (ids below 164) hold no such format, so only custom ones count."""
    if "xl/styles.xml" not in archive.namelist():
        return {}
    root = ET.fromstring(archive.read("xl/styles.xml"))
    padded: dict[str, int] = {}
    cell_xfs: list[ET.Element] = []
    for element in root:
        if _local(element.tag) == "numFmts":
            for fmt in element:
                width = zero_width(fmt.get("formatCode", ""))
                if width:
                    padded[fmt.get("numFmtId", "")] = width
        elif _local(element.tag) == "cellXfs":
            cell_xfs = [xf for xf in element if _local(xf.tag) == "xf"]
    return {index: padded[xf.get("numFmtId", "0")] for index, xf in enumerate(cell_xfs)
            if xf.get("numFmtId", "0") in padded}


def zero_width(code: str) -> int | None:
    """The digits a format made of zeros pads integers to, its literals aside: ``00000`` (INSEE
    code, postcode: 5), and the grouped formats of French codes, ``000 000 000`` or
    ``000\\ 000\\ 000`` (SIREN: 9, ``1234567`` shows ``001 234 567``), ``0" "00" "00" "00" "000"
    "000" "00`` (Excel's "social security number": 15); None for any other format. The grouping
    is display only: the code is its digits (``001234567``)."""
    digits = _LITERALS.sub("", code)
    return len(digits) if _ZEROS.fullmatch(digits) else None


def _sheet_path(archive: zipfile.ZipFile, sheet_name: str) -> str | None:
    """The zip member holding the sheet called ``sheet_name``."""
    workbook = ET.fromstring(archive.read("xl/workbook.xml"))
    rel_id = next((_attribute(sheet, "id") for sheet in workbook.iter() if _local(sheet.tag) == "sheet"
                   and sheet.get("name") == sheet_name), None)
    rels = ET.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    target = next((rel.get("Target", "") for rel in rels if rel.get("Id") == rel_id), None)
    if not target:
        return None
    return target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))


def _attribute(element: ET.Element, local_name: str) -> str | None:
    return next((value for key, value in element.attrib.items() if _local(key) == local_name), None)


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - ord("A") + 1
    return index - 1


def _column_widths(stream, style_widths: dict[int, int], first_row: int) -> dict[int, int]:
    """Stream the sheet's rows ``first_row`` to ``first_row + SAMPLE_ROWS`` (0-based) and keep,
    per column, the padding width most of its numeric cells use, if most do."""
    numeric: Counter[int] = Counter()
    formatted: defaultdict[int, Counter[int]] = defaultdict(Counter)
    row, column = -1, -1
    for event, element in ET.iterparse(stream, events=("start", "end")):
        tag = _local(element.tag)
        if event == "start":
            if tag == "row":
                row = int(element.get("r", row + 2)) - 1  # ``r`` is optional: rows then follow on
                column = -1
                if row >= first_row + SAMPLE_ROWS:
                    break
            continue
        if tag == "c":
            column = _cell_column(element.get("r"), column)
            if row >= first_row and element.get("t") in _NUMERIC and _has_value(element):
                numeric[column] += 1
                width = style_widths.get(int(element.get("s", 0)))
                if width:
                    formatted[column][width] += 1
            element.clear()
        elif tag == "row":
            element.clear()
    return majority_widths(numeric, formatted)


def majority_widths(numeric: Counter[int], formatted: dict[int, Counter[int]]) -> dict[int, int]:
    """The padding width of each column where one width is used by most of its numeric cells
    (one stray formatted cell among plain numbers pads nothing)."""
    result = {}
    for position, widths in formatted.items():
        width, count = widths.most_common(1)[0]
        if 2 * count > numeric[position]:
            result[position] = width
    return result


def _cell_column(ref: str | None, previous: int) -> int:
    """The 0-based column of a cell from its reference (``C4``); cells without one follow on."""
    match = _CELL_REF.match(ref or "")
    return _column_index(match.group(1)) if match else previous + 1


def _has_value(cell: ET.Element) -> bool:
    return any(_local(child.tag) == "v" and (child.text or "").strip() for child in cell)
