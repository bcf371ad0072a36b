"""Codes stored as numbers in an .ods and shown through a format of zeros (LibreOffice's
``00000``: a ``number:number-style`` with ``number:min-integer-digits="5"``) keep their leading
zeros, as in an xlsx (``test_xlsx_zero_formats``). No library in the environment writes .ods, so
the files are zips built here as LibreOffice writes them: styles in ``content.xml`` (automatic)
and ``styles.xml`` (named), a column's usual style on the column, repeated rows and cells."""

from __future__ import annotations

from pathlib import Path

from portail.ingest.readers.ods_formats import zero_padded_columns
from portail.ingest.readers.xlsx_formats import SAMPLE_ROWS
from portail.ingest.types import ReadOptions
from portail.schema import FieldType
from tests.ingest.files import load, rows
from tests.ingest.ods_xml import EMPTY, number, row, table, text, write_ods

def write_communes(path: Path) -> Path:
    """A title row, blank rows (repeated), then a table starting at column B: calamine numbers
    columns from B. code_postal is formatted through its column's default style (LibreOffice
    writes no style on such cells); siren through a named style of styles.xml."""
    columns = ('<table:table-column table:number-columns-repeated="4"/>'
               '<table:table-column table:default-cell-style-name="ce1"/>'
               '<table:table-column table:number-columns-repeated="2"/>')
    return write_ods(path, [table("Communes", [
        row(EMPTY, text("Communes (source : Insee)")),
        row(repeated=2),
        row(EMPTY, text("code_insee"), text("siren"), text("population"), text("code_postal"), text("rang")),
        row(EMPTY, number(1001, "ce1", "01001"), number(210100012, "ce3"), number(776), number(1400, None, "01400"),
            number(1, "ce1", "00001")),
        row(EMPTY, text("2A004"), number(200040582, "ce3"), number(8650), number(20000), number(2)),
        row(EMPTY, number(75056, "ce1"), number(217500016, "ce3"), number(2_133_111), number(75001), number(3)),
        row(EMPTY, number(1004, "ce1"), number(1234567, "ce3", "001234567"), number(14_204),
            number(1500.5, "ce2"), number(4, "ce2")),
    ], columns)])


def test_ods_zero_formats_pad_codes_and_type_them_as_text(instance, tmp_path):
    result = load(instance, write_communes(tmp_path / "communes.ods"))
    assert {f.name: f.type for f in result.report.fields} == {
        "code_insee": FieldType.TEXT, "siren": FieldType.TEXT, "population": FieldType.INT,
        "code_postal": FieldType.TEXT, "rang": FieldType.INT}
    assert rows(instance) == [
        {"code_insee": "01001", "siren": "210100012", "population": 776, "code_postal": "01400", "rang": 1},
        {"code_insee": "2A004", "siren": "200040582", "population": 8650, "code_postal": "20000", "rang": 2},
        {"code_insee": "75056", "siren": "217500016", "population": 2_133_111, "code_postal": "75001", "rang": 3},
        {"code_insee": "01004", "siren": "001234567", "population": 14_204, "code_postal": "1500.5", "rang": 4},
    ]


def test_ods_padding_reaches_rows_past_the_sample_and_repeated_rows(instance, tmp_path):
    """Formats are read on the first rows only (a repeated row counts as many); every row is padded."""
    body = [row(text("code"), text("valeur"))]
    body += [row(number(1000 + r, "ce1"), number(r)) for r in range(1, SAMPLE_ROWS // 2)]
    body.append(row(number(1, "ce1", "00001"), number(0), repeated=SAMPLE_ROWS))  # one element, 500 rows
    body += [row(number(5000 + r), number(r)) for r in range(1, 2 * SAMPLE_ROWS)]
    path = write_ods(tmp_path / "long.ods", [table("Feuille1", body)])
    assert zero_padded_columns(path, "Feuille1", 1) == {0: 5}
    result = load(instance, path)
    assert {f.name: f.type for f in result.report.fields} == {"code": FieldType.TEXT, "valeur": FieldType.INT}
    loaded = rows(instance)
    assert len(loaded) == SAMPLE_ROWS // 2 - 1 + SAMPLE_ROWS + 2 * SAMPLE_ROWS - 1
    assert loaded[0]["code"] == "01001" and loaded[SAMPLE_ROWS]["code"] == "00001"
    assert loaded[-1] == {"code": f"0{5000 + 2 * SAMPLE_ROWS - 1}", "valeur": 2 * SAMPLE_ROWS - 1}


def test_ods_formats_of_another_sheet_do_not_apply(instance, tmp_path):
    """The sheet read is found by name: a padded column of the first sheet pads nothing in the second."""
    path = write_ods(tmp_path / "two.ods", [
        table("Notes", [row(text("code"), text("n")), row(number(1001, "ce1"), number(1))]),
        table("Data", [row(text("code"), text("n")), row(number(1001), number(1))]),
    ])
    assert zero_padded_columns(path, "Notes", 1) == {0: 5}
    assert zero_padded_columns(path, "Data", 1) == {}
    load(instance, path, options=ReadOptions(sheet="Data"))
    assert rows(instance) == [{"code": "1001", "n": 1}]  # a code column: text, but not padded
