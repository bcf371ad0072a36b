"""Zero-padding number formats and error cells of a legacy Excel sheet (.xls, BIFF8), which
calamine does not report: the xls counterpart of ``xlsx_formats`` and ``ods_formats``.

French public bodies still publish .xls files whose codes are numbers shown through a format of
zeros (``00000``: ``1001`` displays ``01001``), and calamine reads neither a cell's format nor an
error cell's value (``#DIV/0!`` is an empty string to it). xlrd reads both: with
``formatting_info`` a cell's XF record leads to its format string, and an error cell (a BOOLERR
record, or a formula whose cached result is an error) is ``XL_CELL_ERROR`` with Excel's code.

xlrd has no streaming: it loads a whole sheet into lists. A BIFF8 sheet holds at most 65,536 rows
by 256 columns, so that is bounded (about 1 s for a full sheet of 14 columns); the workbook is
opened ``on_demand`` (its globals only) and the sheet released once read. Padding looks at the
sheet only when the workbook defines a format of zeros (most hold none: the globals suffice), and
counts ``SAMPLE_ROWS`` rows as ``xlsx_formats`` does; error cells are looked for over the whole
sheet, read only where a scan of the workbook's bytes finds an error cell's record (most hold none).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import xlrd

from portail.ingest.readers.xlsx_formats import SAMPLE_ROWS, majority_widths, zero_width

#: The first bytes of an OLE2 compound file, the container of a .xls (a .xlsx or .ods is a zip).
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_NUMERIC = {xlrd.XL_CELL_NUMBER, xlrd.XL_CELL_DATE}  # dates are numbers too, as in ``xlsx_formats``


class _Unheard:
    """xlrd's ``logfile``: it prints its diagnostics (``WARNING *** file size (5732) not 512 +
    multiple of sector size``, common in files from web exporters) to the ``sys.stdout`` it found
    on import, outside any logging: a CLI load's output and a server's log got them, twice per
    file. calamine has read the file; what xlrd thinks of its container is nobody's concern."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def zero_padded_columns(path: Path, sheet_name: str, first_row: int) -> dict[int, int]:
    """Width to pad each column's integers to, by 0-based sheet column, for the columns whose
    numeric cells among ``SAMPLE_ROWS`` rows from ``first_row`` (0-based) mostly use a format of
    zeros. Empty when the file is not an xls or cannot be read: calamine has read the values
    already, the formats only refine them."""
    with _workbook(path, formatting_info=True) as book:
        widths = _xf_widths(book) if book is not None else {}
        with _sheet(book if widths else None, sheet_name) as sheet:  # no format of zeros: no sheet read
            if sheet is None:
                return {}
            numeric: Counter[int] = Counter()
            formatted: defaultdict[int, Counter[int]] = defaultdict(Counter)
            for row in range(first_row, min(first_row + SAMPLE_ROWS, sheet.nrows)):
                for column, kind in enumerate(sheet.row_types(row)):
                    if kind in _NUMERIC:
                        numeric[column] += 1
                        width = widths.get(sheet.cell_xf_index(row, column))
                        if width:
                            formatted[column][width] += 1
            return majority_widths(numeric, formatted)


def error_cells(path: Path, sheet_name: str) -> dict[tuple[int, int], str]:
    """The error values of the sheet's cells (``#DIV/0!``), by 0-based (sheet row, sheet column);
    empty when the file is not an xls, holds no error cell, or cannot be read."""
    with _workbook(path, formatting_info=False) as book, \
            _sheet(book if _may_hold_errors(book) else None, sheet_name) as sheet:
        found: dict[tuple[int, int], str] = {}
        for row in range(sheet.nrows if sheet is not None else 0):
            types = sheet.row_types(row)
            if xlrd.XL_CELL_ERROR not in types:  # tested in C: most rows hold none
                continue
            values = sheet.row_values(row)
            for column, kind in enumerate(types):
                shown = xlrd.error_text_from_code.get(values[column]) if kind == xlrd.XL_CELL_ERROR else None
                if shown:
                    found[row, column] = shown
        return found


#: The records an error cell is, in the workbook's bytes: a BOOLERR (id 0x0205, 8 bytes) whose
#: error flag is set, or a FORMULA (id 0x0006) whose cached result is an error (``02``, its code,
#: ``FF FF`` in the result's last two bytes). Cell records are never split, so every error cell
#: matches; a match elsewhere only costs the sheet's read.
_ERROR_RECORD = re.compile(rb"\x05\x02\x08\x00.{7}\x01|\x06\x00.{8}\x02.{5}\xff\xff", re.S)


def _may_hold_errors(book: xlrd.Book | None) -> bool:
    """Do the workbook's bytes hold an error cell's record? Most hold none, and reading a sheet
    with xlrd costs ten times calamine's whole read (1 s against 0.1 s for 65,535 rows of 14
    columns), so the sheet is read only where this scan of its bytes (in C) finds one. Where xlrd
    keeps no bytes (``mem``, set while sheets load on demand), the sheet is read."""
    if book is None:
        return False
    data = getattr(book, "mem", None)
    return data is None or _ERROR_RECORD.search(data) is not None


def _xf_widths(book: xlrd.Book) -> dict[int, int]:
    """Padding width by XF (cell style) index, for the XFs whose number format is made of zeros."""
    padded = {key: width for key, fmt in book.format_map.items() if (width := zero_width(fmt.format_str or ""))}
    return {index: padded[xf.format_key] for index, xf in enumerate(book.xf_list) if xf.format_key in padded}


@contextmanager
def _workbook(path: Path, formatting_info: bool) -> Iterator[xlrd.Book | None]:
    """The workbook's globals (its sheets are loaded on demand), released on leaving; None when the
    file is no xls, checked on its first bytes so that an xlsx or an ods costs no parse."""
    try:
        with open(path, "rb") as stream:
            is_xls = stream.read(len(_OLE2)) == _OLE2
        book = xlrd.open_workbook(str(path), formatting_info=formatting_info, on_demand=True,
                                  logfile=_Unheard()) if is_xls else None
    except Exception:  # xlrd raises format, struct and index errors of several kinds on a damaged file
        book = None
    if book is None:
        yield None
        return
    with book:
        yield book


@contextmanager
def _sheet(book: xlrd.Book | None, sheet_name: str) -> Iterator[xlrd.sheet.Sheet | None]:
    """The sheet, loaded whole (at most 65,536 rows) and unloaded on leaving; None when the book is
    None, lacks the sheet, or xlrd cannot read it (calamine, which read it, is then the only word)."""
    sheet = None
    if book is not None and sheet_name in book.sheet_names():
        try:
            sheet = book.sheet_by_name(sheet_name)
        except Exception:  # as in ``_workbook``
            sheet = None
    try:
        yield sheet
    finally:
        if sheet is not None:
            book.unload_sheet(sheet_name)
