"""Codes stored as numbers in an xlsx and shown through a format of zeros (``00000``: ``1001``
displays ``01001``) keep their leading zeros: files written by xlsxwriter, as Excel writes
them, loaded through the real loader."""

from __future__ import annotations

from pathlib import Path

import xlsxwriter

from portail.catalog import services
from portail.ingest.readers.xlsx_formats import SAMPLE_ROWS, zero_padded_columns
from portail.operations import load_file
from portail.schema import FieldType


def load(instance, path: Path, slug: str = "ds"):
    with instance.session() as session:
        services.create_dataset(session, slug, "Test")
    result = load_file(instance, slug, path, publish=True)
    with instance.session() as session:
        location = services.get_dataset(session, slug).current.location
    records = instance.store.query(location, "SELECT * FROM records").to_pylist()
    return {f.name: f.type for f in result.report.fields}, records


def write_communes(path: Path) -> Path:
    """A title row, then a table starting at column B: calamine numbers columns from B, the
    file's cell references from A."""
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet("Communes")
    insee, siren = book.add_format({"num_format": "00000"}), book.add_format({"num_format": "000000000"})
    sheet.write("B1", "Communes (source : Insee)")
    sheet.write_row("B3", ["code_insee", "siren", "population", "code_postal", "rang"])
    rows = [  # (code_insee, siren, population, code_postal, rang); the format applies to the codes
        (1001, 210100012, 776, 1400, 1),
        ("2A004", 200040582, 8650, 20000, 2),  # a text cell in the padded column stays as typed
        (75056, 217500016, 2_133_111, 75001, 3),
        (1004, 1234567, 14_204, 1500.5, 4),  # a non-integer in a padded column stays as it is
    ]
    for offset, (code, number, population, postal, rank) in enumerate(rows):
        row = 3 + offset
        sheet.write(row, 1, code, insee)
        sheet.write_number(row, 2, number, siren)
        sheet.write_number(row, 3, population)
        # code_postal: formatted on the first rows only (the last one was appended later)
        sheet.write_number(row, 4, postal, insee if offset < 3 else None)
        # rang: one stray formatted cell among plain numbers pads nothing
        sheet.write_number(row, 5, rank, insee if offset == 0 else None)
    book.close()
    return path


def test_zero_formats_pad_codes_and_type_them_as_text(instance, tmp_path):
    types, records = load(instance, write_communes(tmp_path / "communes.xlsx"))
    assert types == {"code_insee": FieldType.TEXT, "siren": FieldType.TEXT, "population": FieldType.INT,
                     "code_postal": FieldType.TEXT, "rang": FieldType.INT}
    assert records == [
        {"code_insee": "01001", "siren": "210100012", "population": 776, "code_postal": "01400", "rang": 1},
        {"code_insee": "2A004", "siren": "200040582", "population": 8650, "code_postal": "20000", "rang": 2},
        {"code_insee": "75056", "siren": "217500016", "population": 2_133_111, "code_postal": "75001", "rang": 3},
        {"code_insee": "01004", "siren": "001234567", "population": 14_204, "code_postal": "1500.5", "rang": 4},
    ]


def test_padding_reaches_rows_past_the_sample(instance, tmp_path):
    """Formats are read on the first rows only; every row of the column is padded."""
    path = tmp_path / "long.xlsx"
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet()
    code = book.add_format({"num_format": "00000"})
    sheet.write_row(0, 0, ["code", "valeur"])
    for row in range(1, 3 * SAMPLE_ROWS):
        sheet.write_number(row, 0, 1000 + row, code if row <= SAMPLE_ROWS else None)
        sheet.write_number(row, 1, row)
    book.close()
    assert zero_padded_columns(path, "Sheet1", 1) == {0: 5}
    types, records = load(instance, path)
    assert types == {"code": FieldType.TEXT, "valeur": FieldType.INT}
    assert records[-1] == {"code": f"0{1000 + 3 * SAMPLE_ROWS - 1}", "valeur": 3 * SAMPLE_ROWS - 1}


def test_a_file_without_zero_formats_is_unchanged(instance, tmp_path):
    path = tmp_path / "plain.xlsx"
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["habitants", "montant"])
    sheet.write_row(1, 0, [1001, 12.5], book.add_format({"num_format": "0.00"}))
    book.close()
    assert zero_padded_columns(path, "Sheet1", 1) == {}
    types, records = load(instance, path)
    assert types == {"habitants": FieldType.INT, "montant": FieldType.DOUBLE}
    assert records == [{"habitants": 1001, "montant": 12.5}]
