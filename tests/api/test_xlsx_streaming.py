"""The XLSX export streamed as its rows are written (``exports.xlsx``): bytes before the last
record is read, the engine's cursor released when the client hangs up, a zip whose every part
its readers find, and the values the former writer (xlsxwriter) wrote, read back with calamine."""

from __future__ import annotations

import io
import re
import tracemalloc
import uuid
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import PurePosixPath

import pyarrow as pa
import pytest
from python_calamine import CalamineWorkbook

from portail.exports import formats
from portail.exports.xlsx import CELL_CHARS, column_letters
from portail.schema import Field, FieldType

TEXT = [Field("t", "Texte", FieldType.TEXT)]


def workbook(fields: list[Field], batches: list[pa.RecordBatch], **options) -> bytes:
    return b"".join(formats.write_xlsx(fields, iter(batches), formats.ExportOptions(**options)))


def sheets(data: bytes) -> dict[str, list[list]]:
    book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    return {name: book.get_sheet_by_name(name).to_python() for name in book.sheet_names}


def texts(values: list[str | None]) -> pa.RecordBatch:
    return pa.record_batch([pa.array(values, pa.string())], names=["t"])


class Source:
    """Batches of random text (deflate cannot shrink them to nothing), counting those read and
    knowing whether it was closed, as the engine's cursor is."""

    def __init__(self, batches: int, rows: int = 2048) -> None:
        self.batches, self.rows, self.read, self.closed = batches, rows, 0, False

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        try:
            for _ in range(self.batches):
                self.read += 1
                yield texts([uuid.uuid4().hex for _ in range(self.rows)])
        finally:
            self.closed = True


def test_the_first_bytes_leave_before_the_last_records_are_read():
    """xlsxwriter wrote the whole file before its first byte: a big export sent nothing for a
    minute, and a proxy cut it."""
    source = Source(batches=50)
    chunks = formats.write_xlsx(TEXT, iter(source), formats.ExportOptions())
    first = next(chunks)
    assert first.startswith(b"PK\x03\x04") and source.read <= 3
    data = first + b"".join(chunks)
    assert source.read == 50 and len(sheets(data)["export"]) == 1 + 50 * 2048


def test_a_download_closed_early_releases_its_records():
    """The client hung up: the batches are closed (the engine's cursor with them) at once, the
    rest never read."""
    source = Source(batches=50)
    chunks = formats.write_xlsx(TEXT, iter(source), formats.ExportOptions())
    next(chunks)
    chunks.close()
    assert source.closed and source.read < 50


def test_memory_does_not_grow_with_the_rows():
    """Text in its cell, not in a shared-strings table that holds every distinct text to the end."""

    def peak(batches: int) -> int:
        tracemalloc.start()
        try:
            for _ in formats.write_xlsx(TEXT, iter(Source(batches, rows=1024)), formats.ExportOptions()):
                pass
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    # ~4,000 and ~33,000 distinct texts: ~0.9 and ~1.0 MB of peak when each text leaves with its
    # row; a table keeping every text (~80 bytes or more each) fails the ratio past ~15 bytes a text
    small, large = peak(4), peak(32)
    assert large < 1.5 * small, (small, large)


def test_every_part_is_in_the_zip_and_declared():
    """Sheets are written first, the parts listing them after, as a stream writes them (each
    entry's sizes in a data descriptor): every part a relationship names is in the zip, with its
    content type declared, whatever the order."""
    long_text = "x" * (CELL_CHARS + 1)
    data = workbook(TEXT, [texts(["a", long_text, "b", "c", long_text])], xlsx_sheet_rows=3)
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    assert all(info.flag_bits & 0x08 and info.compress_type == zipfile.ZIP_DEFLATED for info in archive.infolist())
    names = set(archive.namelist())
    types = archive.read("[Content_Types].xml").decode()
    for rels in (n for n in names if n.endswith(".rels")):
        base = PurePosixPath(rels).parent.parent
        for target in re.findall(r'Target="([^"]+)"', archive.read(rels).decode()):
            part = str(PurePosixPath(*(base / target).parts))  # resolve "../"
            while "/../" in part:
                part = re.sub(r"[^/]+/\.\./", "", part, count=1)
            assert part in names, (rels, target)
            assert part.endswith((".vml", ".rels")) or f'PartName="/{part}"' in types, part
    # sheets of 2 records: the first's second and the third's first are too long; the second has no comment
    assert "xl/worksheets/_rels/sheet2.xml.rels" not in names
    assert "../comments2.xml" in archive.read("xl/worksheets/_rels/sheet3.xml.rels").decode()
    assert 'ref="A3"' in archive.read("xl/comments1.xml").decode()
    assert 'ref="A2"' in archive.read("xl/comments2.xml").decode()  # the third sheet's own row 2
    assert list(sheets(data)) == ["export", "export (2)", "export (3)"]


def test_text_is_kept_as_written():
    """Leading spaces, XML's special characters, control characters (Excel's ``_x0001_``
    escape, and a text looking like one escaped in turn), a text shaped like xlsxwriter's rich
    strings, which it wrote as raw XML, and a label's lone surrogate (no XML holds it: U+FFFD;
    Arrow's text cannot hold one)."""
    values = ["  lead & <b> trail ", "a\x01b\r\nc", "_x0041_", "<r>raw</r>"]
    fields = [Field("t", "lone \ud800", FieldType.TEXT)]
    rows = sheets(workbook(fields, [texts(values)], use_labels=True))["export"]
    assert [row[0] for row in rows] == ["lone \ufffd", *values]


def test_a_text_beyond_the_cell_limit_in_utf16_units_is_not_cut():
    """Excel counts UTF-16 units: 20,000 emoji are 40,000 of them, which xlsxwriter cut."""
    rows = sheets(workbook(TEXT, [texts(["\U0001f600" * 20_000, "\U0001f600" * 16_000])]))["export"]
    assert rows[1] == [""] and rows[2] == ["\U0001f600" * 16_000]


def test_values_and_their_formats():
    """Numbers, booleans, dates and datetimes (the request's local time: Excel has no zones,
    summer time included; Excel's first day, which xlsxwriter wrote as a time), points as
    ``lat,lon``, NaN (xlsxwriter refused it mid-export) as an error cell, read empty; an integer
    of 16 digits or more as text (Excel keeps 15: 2**53 read 9007199254740990)."""
    fields = [Field("n", "N", FieldType.INT), Field("x", "X", FieldType.DOUBLE), Field("b", "B", FieldType.BOOLEAN),
              Field("d", "D", FieldType.DATE), Field("m", "M", FieldType.DATETIME),
              Field("p", "P", FieldType.GEO_POINT_2D)]
    batch = pa.record_batch([
        pa.array([-3, 2**53, None]), pa.array([0.1, float("nan"), -2.5]), pa.array([True, False, None]),
        pa.array([date(1900, 1, 1), date(1900, 3, 1), date(2024, 2, 29)]),
        pa.array([datetime(2024, 7, 1, 10, 30), datetime(2024, 1, 1, 10, 30, 15), None], pa.timestamp("us", tz="UTC")),
        pa.array([{"lon": 2.35, "lat": 48.85}, None, {"lon": 5.0, "lat": -5.0}])], names=[f.name for f in fields])
    rows = sheets(workbook(fields, [batch], timezone="Europe/Paris"))["export"]
    assert rows == [["n", "x", "b", "d", "m", "p"],
                    [-3, 0.1, True, date(1900, 1, 1), datetime(2024, 7, 1, 12, 30), "48.85,2.35"],
                    [str(2**53), "", False, date(1900, 3, 1), datetime(2024, 1, 1, 11, 30, 15), ""],
                    ["", -2.5, "", date(2024, 2, 29), "", "-5.0,5.0"]]
    sheet = zipfile.ZipFile(io.BytesIO(workbook(fields, [batch]))).read("xl/worksheets/sheet1.xml").decode()
    assert '<c r="B3" t="e"><v>#NUM!</v></c>' in sheet


def test_labels_formulas_and_columns_beyond_z():
    """Labels as the header, neutralised like the cells (Excel's quote prefix, a cell format),
    and references past column Z (AA, AB…)."""
    fields = [Field(f"c{i}", f"=C{i}" if i == 0 else f"Colonne {i}", FieldType.TEXT) for i in range(30)]
    batch = pa.record_batch([pa.array([f"@{i}" if i == 29 else f"v{i}"]) for i in range(30)],
                            names=[f.name for f in fields])
    data = workbook(fields, [batch], use_labels=True)
    rows = sheets(data)["export"]
    assert rows[0][0] == "=C0" and rows[0][29] == "Colonne 29" and rows[1][27:] == ["v27", "v28", "@29"]
    archive = zipfile.ZipFile(io.BytesIO(data))
    formats_ = re.search(r"<cellXfs[^>]*>(.*)</cellXfs>", archive.read("xl/styles.xml").decode()).group(1)
    quoted = {str(i) for i, xf in enumerate(re.findall(r"<xf [^>]*>", formats_)) if 'quotePrefix="1"' in xf}
    styled = re.findall(r'<c r="(\w+)" s="(\d+)"', archive.read("xl/worksheets/sheet1.xml").decode())
    assert [ref for ref, style in styled if style in quoted] == ["A1", "AD2"]


@pytest.mark.parametrize("fields,batches", [(TEXT, []), (TEXT, [texts([])]), ([], []),
                                            ([], [pa.record_batch([], names=[])])])
def test_empty_exports_are_a_sheet_with_the_header(fields, batches):
    assert sheets(workbook(fields, batches)) == {"export": [["t"]] if fields else []}


def test_column_letters():
    assert [column_letters(i) for i in (0, 25, 26, 51, 52, 701, 702, 16_383)] == \
        ["A", "Z", "AA", "AZ", "BA", "ZZ", "AAA", "XFD"]
