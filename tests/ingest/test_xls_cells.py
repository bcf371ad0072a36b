"""Legacy Excel files (.xls, BIFF8), as French public bodies still publish them: codes stored as
numbers shown through a format of zeros keep their zeros, and error cells (``#DIV/0!``, ``#N/A``)
are reported values that became null rather than silent nulls, as in an xlsx or an ods
(``readers.xls_formats``: calamine reads neither). The files are written by xlwt, a real BIFF8
writer, and loaded through the real loader."""

from __future__ import annotations

import struct
from pathlib import Path

import xlwt

from portail.ingest.readers.xls_formats import error_cells, zero_padded_columns
from portail.ingest.readers.xlsx_formats import SAMPLE_ROWS
from portail.ingest.types import ReadOptions
from portail.schema import FieldType
from tests.ingest.files import load, rows, types

INSEE = xlwt.easyxf(num_format_str="00000")
DEPARTEMENT = xlwt.easyxf(num_format_str="00")
SIREN = xlwt.easyxf(num_format_str="000\\ 000\\ 000")  # grouped as Excel shows a SIREN: 001 234 567
#: BIFF8 error codes (``xlrd.error_text_from_code``).
DIV0, NA, REF = 0x07, 0x2A, 0x17


def report(result) -> dict[str, tuple]:
    return {f.name: (f.type, f.rejected, f.examples, f.example_line) for f in result.report.fields}


def write_communes(path: Path) -> Path:
    """A title row, then a table starting at column B: calamine numbers columns from B, xlrd
    from A."""
    book = xlwt.Workbook()
    sheet = book.add_sheet("Communes")
    sheet.write(0, 1, "Communes (source : Insee)")
    for column, label in enumerate(["code_insee", "dep", "siren", "population", "code_postal", "rang"], start=1):
        sheet.write(2, column, label)
    records = [  # the format applies to the codes
        (1001, 1, 210100012, 776, 1400, 1),
        ("2A004", "2A", 200040582, 8650, 20000, 2),  # text cells in padded columns stay as typed
        (75056, 75, 217500016, 2_133_111, 75001, 3),
        (1004, 1, 1234567, 14_204, 1500.5, 4),  # a non-integer in a padded column stays as it is
    ]
    for offset, (code, dep, siren, population, postal, rank) in enumerate(records):
        row = 3 + offset
        sheet.write(row, 1, code, INSEE)
        sheet.write(row, 2, dep, DEPARTEMENT)
        sheet.write(row, 3, siren, SIREN)
        sheet.write(row, 4, population)
        # code_postal: formatted on the first rows only (the last one was appended later)
        sheet.write(row, 5, postal, INSEE if offset < 3 else xlwt.Style.default_style)
        # rang: one stray formatted cell among plain numbers pads nothing
        sheet.write(row, 6, rank, INSEE if offset == 0 else xlwt.Style.default_style)
    book.save(str(path))
    return path


def test_xls_zero_formats_pad_codes_and_type_them_as_text(instance, tmp_path):
    path = write_communes(tmp_path / "communes.xls")
    assert zero_padded_columns(path, "Communes", 3) == {1: 5, 2: 2, 3: 9, 5: 5}  # sheet columns, from A
    result = load(instance, path)
    assert types(result) == {"code_insee": FieldType.TEXT, "dep": FieldType.TEXT, "siren": FieldType.TEXT,
                             "population": FieldType.INT, "code_postal": FieldType.TEXT, "rang": FieldType.INT}
    assert rows(instance) == [
        {"code_insee": "01001", "dep": "01", "siren": "210100012", "population": 776, "code_postal": "01400",
         "rang": 1},
        {"code_insee": "2A004", "dep": "2A", "siren": "200040582", "population": 8650, "code_postal": "20000",
         "rang": 2},
        {"code_insee": "75056", "dep": "75", "siren": "217500016", "population": 2_133_111, "code_postal": "75001",
         "rang": 3},
        {"code_insee": "01004", "dep": "01", "siren": "001234567", "population": 14_204, "code_postal": "1500.5",
         "rang": 4},
    ]


def test_xls_padding_reaches_rows_past_the_sample(instance, tmp_path):
    """Formats are read on the first rows only; every row of the column is padded."""
    path = tmp_path / "long.xls"
    book = xlwt.Workbook()
    sheet = book.add_sheet("S")
    sheet.write(0, 0, "code")
    sheet.write(0, 1, "valeur")
    for row in range(1, 3 * SAMPLE_ROWS):
        sheet.write(row, 0, 1000 + row, INSEE if row <= SAMPLE_ROWS else xlwt.Style.default_style)
        sheet.write(row, 1, row)
    book.save(str(path))
    assert zero_padded_columns(path, "S", 1) == {0: 5}
    assert zero_padded_columns(path, "S", SAMPLE_ROWS + 1) == {}  # rows past the sample are not looked at
    result = load(instance, path)
    assert types(result) == {"code": FieldType.TEXT, "valeur": FieldType.INT}
    assert rows(instance)[-1] == {"code": f"0{1000 + 3 * SAMPLE_ROWS - 1}", "valeur": 3 * SAMPLE_ROWS - 1}


def _ratios(path: Path) -> Path:
    """Error cells as Excel stores a failed formula's constant (BOOLERR records), on another sheet
    too, and a whole row of them between two records."""
    book = xlwt.Workbook()
    book.add_sheet("Autre").row(0).set_cell_error(0, DIV0)
    sheet = book.add_sheet("Ratios")
    sheet.write(0, 0, "Taux par commune")
    for column, label in enumerate(["commune", "taux", "rang", "note"]):
        sheet.write(3, column, label)
    sheet.write(4, 0, "Paris"), sheet.write(4, 1, 1.5), sheet.write(4, 2, 1), sheet.write(4, 3, "ok")
    sheet.write(5, 0, "Lyon"), sheet.row(5).set_cell_error(1, DIV0), sheet.write(5, 2, 2)
    sheet.row(5).set_cell_error(3, NA)
    for column in range(4):  # a row of only errors
        sheet.row(6).set_cell_error(column, REF)
    sheet.write(7, 0, "Nice"), sheet.write(7, 1, 2.25), sheet.write(7, 2, 3), sheet.write(7, 3, "ok")
    book.save(str(path))
    return path


def test_xls_error_cells_are_reported_with_their_row_and_value(instance, tmp_path):
    path = _ratios(tmp_path / "ratios.xls")
    assert error_cells(path, "Ratios") == {(5, 1): "#DIV/0!", (5, 3): "#N/A", (6, 0): "#REF!", (6, 1): "#REF!",
                                           (6, 2): "#REF!", (6, 3): "#REF!"}
    assert error_cells(path, "Autre") == {(0, 0): "#DIV/0!"}
    assert error_cells(path, "Absente") == {}
    result = load(instance, path, options=ReadOptions(sheet="Ratios"))
    fields = report(result)
    assert fields["taux"] == ("double", 2, ["#DIV/0!", "#REF!"], 6)  # sheet rows, the title's and blank ones counted
    assert fields["rang"] == ("int", 1, ["#REF!"], 7)
    assert fields["note"][:2] == ("text", 0)
    assert [(r["commune"], r["taux"], r["rang"], r["note"]) for r in rows(instance)] == [
        ("Paris", 1.5, 1, "ok"), ("Lyon", None, 2, "#N/A"), ("#REF!", None, None, "#REF!"), ("Nice", 2.25, 3, "ok")]
    assert not any("empty row" in note for note in result.report.notes)


def test_xls_formula_with_a_cached_error_is_reported(instance, tmp_path):
    """A formula whose result is an error, as Excel saves it: the FORMULA record's cached result
    holds the error (xlwt writes an empty text result, set here to ``#DIV/0!`` in the file's bytes)."""
    book = xlwt.Workbook()
    sheet = book.add_sheet("S")
    sheet.write(0, 0, "population"), sheet.write(0, 1, "part")
    sheet.write(1, 0, 776), sheet.write(1, 1, 0.5)
    sheet.write(2, 0, 0), sheet.write(2, 1, xlwt.Formula("A3/0"))
    path = tmp_path / "formule.xls"
    book.save(str(path))
    empty_text, div0 = struct.pack("<Q", 0xFFFF_0000_0000_0003), struct.pack("<Q", 0xFFFF_0000_0007_0002)
    data = path.read_bytes()
    assert data.count(empty_text) == 1
    path.write_bytes(data.replace(empty_text, div0))
    assert error_cells(path, "S") == {(2, 1): "#DIV/0!"}
    assert report(load(instance, path))["part"] == ("double", 1, ["#DIV/0!"], 3)
    assert rows(instance) == [{"population": 776, "part": 0.5}, {"population": 0, "part": None}]


def test_files_without_formats_or_errors_give_none(refdata, tmp_path):
    """The real INSEE .xls holds neither (its load is checked in ``test_readers_formats``); an xlsx
    is no xls (told from its first bytes, not parsed)."""
    insee = refdata / "excel/insee_fe_dod_struct_pop.xls"
    assert zero_padded_columns(insee, "Structure population", 4) == {}
    assert error_cells(insee, "Structure population") == {}
    book = xlwt.Workbook()
    book.add_sheet("S").write(0, 0, 1001, xlwt.easyxf(num_format_str="0.00"))
    book.save(str(tmp_path / "plain.xls"))
    assert zero_padded_columns(tmp_path / "plain.xls", "S", 0) == {}
    assert error_cells(tmp_path / "plain.xls", "S") == {}
    assert error_cells(refdata / "excel/dgcl_epcicom_2025.xlsx", "Epcicom2025") == {}
