"""Spreadsheet cells loaded as Excel shows them, through the real loader: codes stored as numbers
under a grouped format of zeros (``000 000 000``) keep their leading zeros, and Excel error cells
(``#DIV/0!``, ``#N/A``, ``#REF!``) are reported with their sheet row and value."""

from __future__ import annotations

import xlsxwriter

from tests.ingest.files import load, rows, types


# --- xlsx: codes shown through a grouped format of zeros ----------------------------------

def test_grouped_zero_formats_keep_the_leading_zeros_of_siren_and_nir(instance, tmp_path):
    """A SIREN stored as the number 1234567 under ``000 000 000`` shows ``001 234 567``; it was
    loaded as ``1234567``. The code is its digits, padded to the format's zeros."""
    path = tmp_path / "etablissements.xlsx"
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet("Etablissements")
    siren, escaped = book.add_format({"num_format": "000 000 000"}), book.add_format({"num_format": r"000\ 000\ 000"})
    nir = book.add_format({"num_format": '0" "00" "00" "00" "000" "000" "00'})
    sheet.write_row(0, 0, ["siren", "siren_groupe", "nir", "effectif"])
    written = [(1234567, 5678, 123456789012345, 12), (552100554, 210100012, 269059913116514, 3)]
    for row, (a, b, c, d) in enumerate(written, start=1):
        sheet.write_number(row, 0, a, siren)
        sheet.write_number(row, 1, b, escaped)
        sheet.write_number(row, 2, c, nir)
        sheet.write_number(row, 3, d)
    book.close()
    result = load(instance, path)
    assert types(result) == {"siren": "text", "siren_groupe": "text", "nir": "text", "effectif": "int"}
    assert rows(instance) == [{"siren": f"{a:09d}", "siren_groupe": f"{b:09d}", "nir": f"{c:015d}", "effectif": d}
                              for a, b, c, d in written]


# --- spreadsheets: error cells ------------------------------------------------------------

def test_excel_error_cells_are_reported_with_their_row_and_value(instance, tmp_path):
    """``#DIV/0!``, ``#N/A``, ``#REF!`` were empty cells for calamine: nulls nobody was told of.
    In a typed column they are values that became null, named with their sheet row; in a text
    column they are kept as the sheet shows them, as in a CSV written from it, where they are
    rejected values too (they were "no value" markers: nothing said a formula had failed)."""
    import xlsxwriter

    path = tmp_path / "ratios.xlsx"
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet("Ratios")
    sheet.write("A1", "Taux par commune")
    sheet.write_row("A3", ["commune", "taux", "rang", "note"])
    sheet.write_row("A4", ["Paris", 1.5, 1, "ok"])
    sheet.write_row("A5", ["Lyon", None, 2, None])
    sheet.write_formula("B5", "=1/0", None, "#DIV/0!")
    sheet.write_formula("D5", "=NA()", None, "#N/A")
    sheet.write_row("A6", ["Nice", 2.25, None, "ok"])
    sheet.write_formula("C6", "=A1+#REF!", None, "#REF!")
    book.close()
    report = {f.name: f for f in load(instance, path).report.fields}
    assert (report["taux"].type, report["taux"].rejected, report["taux"].examples, report["taux"].example_line) == \
        ("double", 1, ["#DIV/0!"], 5)
    assert (report["rang"].type, report["rang"].rejected, report["rang"].examples, report["rang"].example_line) == \
        ("int", 1, ["#REF!"], 6)
    assert (report["note"].type, report["note"].rejected) == ("text", 0)
    assert [(r["taux"], r["rang"], r["note"]) for r in rows(instance, order="ORDER BY commune")] == [
        (None, 2, "#N/A"), (2.25, None, "ok"), (1.5, 1, "ok")]

    csv = tmp_path / "ratios.csv"
    csv.write_text("commune;taux\nParis;1,5\nLyon;#DIV/0!\nNice;#N/A\n")
    taux = {f.name: f for f in load(instance, csv, slug="csv").report.fields}["taux"]
    assert (taux.type, taux.rejected, taux.examples, taux.example_line) == ("double", 2, ["#DIV/0!", "#N/A"], 3)
