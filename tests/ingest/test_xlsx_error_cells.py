"""Excel error cells (``#DIV/0!``, ``#N/A``…) found in the sheet's bytes, with or without a
namespace prefix on its elements, rather than by parsing every cell of the sheet as XML (27 s for
a sheet of 300,000 rows when one cell held ``#DIV/0!``): ``readers.xlsx_formats.error_cells``."""

from __future__ import annotations

import zipfile
from pathlib import Path
from xml.etree import ElementTree

from portail.ingest.readers.xlsx_formats import error_cells


def _xlsx_with_sheet_xml(path: Path, rows_xml: str, prefix: str = "") -> Path:
    """An xlsx whose one sheet's XML is ``rows_xml`` inside its sheetData (``prefix``: the
    namespace prefix its elements are written with, as some producers do: ``x:``)."""
    import xlsxwriter

    book = xlsxwriter.Workbook(path)
    book.add_worksheet("S").write("A1", "x")
    book.close()
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    namespace = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    declaration = f'xmlns:{prefix[:-1]}="{namespace}"' if prefix else f'xmlns="{namespace}"'
    body = f"<{prefix}sheetData>{rows_xml}</{prefix}sheetData>"
    parts["xl/worksheets/sheet1.xml"] = (f'<?xml version="1.0" encoding="UTF-8"?><{prefix}worksheet {declaration}>'
                                         f"{body}</{prefix}worksheet>").encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return path


def test_error_cells_are_found_in_the_sheet_bytes(tmp_path):
    cells = ('<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="e"/><c r="C1"><v>1</v></c></row>'
             '<row r="2"><c r="A2" t="e"><f>1/0</f><v>#DIV/0!</v></c><c r="AB2" t="e"><v>#N/A</v></c></row>'
             '<row r="7"><c r="C7" s="1" t="e" ><v> #REF! </v></c><c r="D7" t="str"><v>"e"</v></c></row>')
    expected = {(1, 0): "#DIV/0!", (1, 27): "#N/A", (6, 2): "#REF!"}
    assert error_cells(_xlsx_with_sheet_xml(tmp_path / "plain.xlsx", cells), "S") == expected
    prefixed = cells.replace("<row", "<x:row").replace("</row", "</x:row").replace("<c ", "<x:c ") \
        .replace("</c>", "</x:c>").replace("<v>", "<x:v>").replace("</v>", "</x:v>").replace("<f>", "<x:f>") \
        .replace("</f>", "</x:f>")
    assert error_cells(_xlsx_with_sheet_xml(tmp_path / "prefixed.xlsx", prefixed, "x:"), "S") == expected
    # cells without their reference follow on: placed by a parse of every cell
    unreferenced = '<row r="3"><c><v>1</v></c><c t="e"><v>#NUM!</v></c></row>'
    assert error_cells(_xlsx_with_sheet_xml(tmp_path / "bare.xlsx", unreferenced), "S") == {(2, 1): "#NUM!"}


def _cells_parsed(monkeypatch) -> list[str]:
    """The sheet cells parsed as XML from now on (the cells ``ElementTree.iterparse`` hands out):
    the scan parses none; the parse of every cell was the 27 s."""
    parsed: list[str] = []
    iterparse = ElementTree.iterparse

    def counted(source, *args, **kwargs):
        for event, element in iterparse(source, *args, **kwargs):
            if event == "end" and element.tag.rpartition("}")[2] == "c":
                parsed.append(element.get("r", ""))
            yield event, element

    monkeypatch.setattr(ElementTree, "iterparse", counted)
    return parsed


def test_error_cells_of_a_long_sheet_are_found_without_parsing_its_cells(tmp_path, monkeypatch):
    """A sheet of 20,000 rows and one error cell: the error is found by the byte scan, no cell
    parsed as XML; a sheet whose error cell has no reference falls back to the parse."""
    import xlsxwriter

    path = tmp_path / "long.xlsx"
    book = xlsxwriter.Workbook(path, {"constant_memory": True})
    sheet = book.add_worksheet("S")
    for row in range(20_000):
        sheet.write_row(row, 0, [row, row * 1.5, "t", row % 7, "x"])
    sheet.write_formula(20_000, 2, "=1/0", None, "#DIV/0!")
    book.close()
    parsed = _cells_parsed(monkeypatch)
    assert error_cells(path, "S") == {(20_000, 2): "#DIV/0!"}
    assert parsed == []
    unreferenced = '<row r="3"><c><v>1</v></c><c t="e"><v>#NUM!</v></c></row>'
    assert error_cells(_xlsx_with_sheet_xml(tmp_path / "bare.xlsx", unreferenced), "S") == {(2, 1): "#NUM!"}
    assert parsed == ["", ""]  # the spy sees the parse when it happens
