"""Spreadsheet headers of two rows: a group label over sub-labels with numbers below prefixes
them (``population_hommes``), merged or not, but records under a header with blank labels are no
second header row (the first record's blank cell, or a repeated value, made it a row of
sub-labels, ``nom_dupont``, and the record was lost)."""

from __future__ import annotations

from portail.ingest.readers.spreadsheet import read_spreadsheet
from portail.ingest.types import ReadOptions
from tests.ingest.test_geojson_values_beside_gdal import staged
from tests.ingest.test_readers_formats import write_ods, write_xlsx


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
