"""Spreadsheet headers of two rows, read through the spreadsheet reader: a group label merged
(or left blank after it, in an ods) over a second row of labels prefixes each of them
(``population_2019``, ``population_hommes``); one row of labels (a title above, a row of units,
a label over a single value) stays one, and records under a header with blank labels are no
second header row (the first record's blank cell, or a repeated value, made it a row of
sub-labels, ``nom_dupont``, and the record was lost)."""

from __future__ import annotations

from portail.ingest.readers.spreadsheet import read_spreadsheet
from portail.ingest.types import ReadOptions
from tests.ingest.files import staged, write_ods, write_xlsx


def test_a_group_label_over_a_second_header_row_prefixes_its_labels(tmp_path):
    """``Population`` merged over ``2019 | 2020 | 2021`` gave the columns ``population``,
    ``field_3``, ``field_4`` and a first record of years; the same years under two groups left
    blank after their label (an ods: calamine reports no merges there) gave ``2019_2``."""
    import xlsxwriter

    merged = tmp_path / "merged.xlsx"
    book = xlsxwriter.Workbook(merged)
    sheet = book.add_worksheet("Communes")
    sheet.write("A1", "Population des communes")  # a title and a blank row above
    sheet.merge_range("A3:A4", "Commune")
    sheet.merge_range("B3:D3", "Population")
    sheet.merge_range("E3:E4", "Superficie (km²)")
    sheet.write_row("B4", [2019, 2020, 2021])  # years as numbers
    sheet.write_row("A5", ["Paris", 2_165_423, 2_145_906, 2_133_111, 105.4])
    sheet.write_row("A6", ["Lyon", 518_635, 522_250, 522_228, 47.87])
    book.close()
    raw = read_spreadsheet(merged, ReadOptions())
    assert raw.names == ["commune", "population_2019", "population_2020", "population_2021", "superficie_km2"]
    assert raw.labels[1] == "Population 2019"
    assert "header on rows 3 and 4, each label under a group label prefixed with it (2 row(s) above it skipped)" \
        in raw.notes
    assert staged(raw, "SELECT * FROM s") == [("Paris", "2165423", "2145906", "2133111", "105.4"),
                                             ("Lyon", "518635", "522250", "522228", "47.87")]

    groups = write_ods(tmp_path / "menages.ods", [
        [None, "Population", None, "Ménages", None], ["Commune", "2019", "2020", "2019", "2020"],
        ["Paris", 10, 11, 3, 4]])
    raw = read_spreadsheet(groups, ReadOptions())
    assert raw.names == ["commune", "population_2019", "population_2020", "menages_2019", "menages_2020"]
    assert staged(raw, "SELECT * FROM s") == [("Paris", "10", "11", "3", "4")]

    # one row of labels stays one: a blank label above text records, a title, a row of units,
    # a label over a single value (a record, not a sub-label)
    ordinary = {
        "adresse": [["Adresse", None, "Ville"], ["12 rue X", "Bât B", "Paris"], ["3 rue Y", "Esc 2", "Lyon"]],
        "titre": [["Population des communes"], [None], ["Commune", "2019", "2020"], ["Paris", 10, 11]],
        "unites": [["Commune", "Population", "Surface"], [None, "(hab.)", "(km²)"], ["Paris", 10, 105.4]],
        "effectifs": [["Département", "Effectifs", None], ["01", 2019, 2020], ["02", 2019, 2021]],
    }
    names = {name: read_spreadsheet(write_xlsx(tmp_path / f"{name}.xlsx", {"S": rows}), ReadOptions()).names
             for name, rows in ordinary.items()}
    assert names == {"adresse": ["adresse", "field_2", "ville"], "titre": ["commune", "2019", "2020"],
                     "unites": ["commune", "population", "surface"],
                     "effectifs": ["departement", "effectifs", "field_3"]}


def test_records_under_a_header_with_blank_labels_are_no_second_header_row(tmp_path):
    """A header with unlabelled columns over text records: the first record's blank cell (a
    label "with nothing below") or repeated value (a label "repeated") made it a row of
    sub-labels (``nom_dupont``, ``nom_jean``) and the record was lost."""
    sheets = {
        "sparse": [["Nom", None, "Ville"], ["Dupont", "Jean", None], ["Martin", "Paul", "Lyon"]],
        "repeated": [["Nom", None, "Statut", None], ["Dupont", "Dupont", "Actif", "Actif"],
                     ["Martin", "Paul", "Inactif", "Non"]],
    }
    for name, rows in sheets.items():
        raw = read_spreadsheet(write_xlsx(tmp_path / f"{name}.xlsx", {"S": rows}), ReadOptions())
        assert "header on row 1" in raw.notes, name
        assert len(staged(raw, "SELECT * FROM s")) == 2, name
    # a group label over sub-labels with numbers below still prefixes them, merged or not
    grouped = write_ods(tmp_path / "menages.ods", [["Commune", "Population", None], [None, "Hommes", "Femmes"],
                                                    ["Paris", 10, 11], ["Lyon", 5, 6]])
    raw = read_spreadsheet(grouped, ReadOptions())
    assert raw.names == ["commune", "population_hommes", "population_femmes"]
    assert staged(raw, "SELECT * FROM s") == [("Paris", "10", "11"), ("Lyon", "5", "6")]
