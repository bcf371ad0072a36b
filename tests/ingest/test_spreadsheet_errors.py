"""Error cells (``#DIV/0!``, ``#N/A``: a formula failed) in .ods as in .xlsx: calamine reads them
as empty strings, so they were nulls nobody was told of, and a row holding only errors was an
empty row, dropped without a word. They are values that became null, reported with their sheet
row, and a row of errors is a row of nulls. Files written as LibreOffice (hand-built zips, see
``test_spreadsheet_zero_formats``) and Excel (xlsxwriter) write them, through the real loader."""

from __future__ import annotations

from pathlib import Path

import xlsxwriter

from portail.ingest.readers.ods_formats import error_cells
from tests.ingest.files import load, rows
from tests.ingest.ods_xml import EMPTY, error, number, row, table, text, write_ods


def report(result) -> dict[str, tuple]:
    return {f.name: (f.type, f.rejected, f.examples, f.example_line) for f in result.report.fields}


def test_ods_error_cells_are_reported_with_their_row_and_value(instance, tmp_path):
    path = write_ods(tmp_path / "ratios.ods", [table("Ratios", [
        row(text("Taux par commune")),
        row(repeated=2),
        row(text("commune"), text("taux"), text("rang"), text("note")),
        row(text("Paris"), number(1.5), number(1), text("ok")),
        row(text("Lyon"), error("1/0", "#DIV/0!"), number(2), error("NA()", "#N/A")),
        row(text("Nice"), number(2.25), error("A1+#REF!", "#REF!"), text("ok")),
    ])])
    assert error_cells(path, "Ratios") == {(5, 1): "#DIV/0!", (5, 3): "#N/A", (6, 2): "#REF!"}
    fields = report(load(instance, path))
    assert fields["taux"] == ("double", 1, ["#DIV/0!"], 6)  # sheet rows, the title's and blank ones counted
    assert fields["rang"] == ("int", 1, ["#REF!"], 7)
    assert fields["note"][:2] == ("text", 0)
    assert [(r["taux"], r["rang"], r["note"]) for r in rows(instance, order="ORDER BY commune")] == [
        (None, 2, "#N/A"), (2.25, None, "ok"), (1.5, 1, "ok")]


def test_ods_error_cells_of_another_sheet_and_repeated_ones_are_placed(tmp_path):
    """Cells have no reference in an ods: rows and cells repeated are counted to place them."""
    path = write_ods(tmp_path / "two.ods", [
        table("Autre", [row(error("1/0", "#DIV/0!"))]),
        table("Data", [row(text("a"), text("b"), text("c")), row(EMPTY, error("NA()", "#N/A"), repeated=2),
                       row(f'<table:table-cell table:number-columns-repeated="2"/>{error("1/0", "#DIV/0!")}')]),
    ])
    assert error_cells(path, "Data") == {(1, 1): "#N/A", (2, 1): "#N/A", (3, 2): "#DIV/0!"}
    assert error_cells(path, "Absente") == {}


def test_ods_error_cells_deep_in_a_long_sheet_are_placed(tmp_path):
    """The XML is read in chunks of 1 MB: rows (repeated ones among them) counted across chunks."""
    body = [row(text("a"), text("b"))]
    for block in range(300):
        body += [row(number(block), text("x" * 30)) for _ in range(99)] + [row(number(0), number(0), repeated=3)]
    body.append(row(number(1), error("1/0", "#DIV/0!")))
    path = write_ods(tmp_path / "long.ods", [table("Long", body)])
    assert error_cells(path, "Long") == {(1 + 300 * 102, 1): "#DIV/0!"}


def test_ods_without_error_cells_gives_none(tmp_path):
    path = write_ods(tmp_path / "plain.ods", [table("S", [row(text("a")), row(number(1))])])
    assert error_cells(path, "S") == {}


def _xlsx_with_a_row_of_errors(path: Path) -> Path:
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet("Ratios")
    sheet.write_row("A1", ["taux", "rang", "indice"])
    sheet.write_row("A2", [1.5, 1, 10])
    for column, (formula, value) in enumerate([("=1/0", "#DIV/0!"), ("=NA()", "#N/A"), ("=1/0", "#DIV/0!")]):
        sheet.write_formula(2, column, formula, None, value)
    sheet.write_row("A4", [2.25, 3, 30])
    book.close()
    return path


def test_a_row_of_only_errors_is_kept_as_nulls_and_reported_xlsx(instance, tmp_path):
    """The row between two records was skipped as empty: the dataset lost a row, the report said
    "1 empty row(s) dropped", and nothing told that three formulas had failed."""
    result = load(instance, _xlsx_with_a_row_of_errors(tmp_path / "erreurs.xlsx"))
    assert rows(instance) == [{"taux": 1.5, "rang": 1, "indice": 10}, {"taux": None, "rang": None, "indice": None},
                              {"taux": 2.25, "rang": 3, "indice": 30}]
    fields = report(result)
    assert fields["taux"] == ("double", 1, ["#DIV/0!"], 3)
    assert fields["rang"] == ("int", 1, ["#N/A"], 3)
    assert not any("empty row" in note for note in result.report.notes)


def test_a_row_of_only_errors_is_kept_as_nulls_and_reported_ods(instance, tmp_path):
    path = write_ods(tmp_path / "erreurs.ods", [table("S", [
        row(text("taux"), text("rang"), text("indice")),
        row(number(1.5), number(1), number(10)),
        row(error("1/0", "#DIV/0!"), error("NA()", "#N/A"), error("1/0", "#DIV/0!")),
        row(number(2.25), number(3), number(30)),
    ])])
    result = load(instance, path)
    assert rows(instance) == [{"taux": 1.5, "rang": 1, "indice": 10}, {"taux": None, "rang": None, "indice": None},
                              {"taux": 2.25, "rang": 3, "indice": 30}]
    assert report(result)["indice"] == ("int", 1, ["#DIV/0!"], 3)
