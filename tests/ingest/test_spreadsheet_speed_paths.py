"""The spreadsheet reader locates its table in one pass over the rows, testing only the cells it
must (``spreadsheet._find_table``): the columns it keeps and the rows it drops are those of the
plain definition (a column is kept when any row from the header to the end of data holds a
value in it), including the paths the shortcuts take: notes below the header window, footnotes
cut or kept, rows wider than the ones above them, a header given past the window."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import xlsxwriter

from portail.ingest.errors import IngestError
from portail.ingest.readers import spreadsheet
from portail.ingest.readers._common import HEADER_SCAN_ROWS, detect_header, is_empty
from portail.ingest.readers.spreadsheet import EMPTY, NOTE, TABLE, read_spreadsheet
from portail.ingest.types import ReadOptions


class Sheet:
    """What ``_find_table`` needs of a calamine sheet."""

    def __init__(self, rows: list[list]):
        self.rows = rows

    def iter_rows(self):
        return iter([list(row) for row in self.rows])


def plain_layout(rows: list[list], header_row: int | None):
    """The layout as the module docstring defines it, computed the slow, obvious way."""
    def kind(row):
        filled = [v for v in row if not is_empty(v)]
        if not filled:
            return EMPTY
        return NOTE if len(filled) == 1 and isinstance(filled[0], str) else TABLE

    kinds = [kind(row) for row in rows]
    if header_row is not None and not 0 <= header_row < len(rows):
        return "error"
    header = header_row if header_row is not None else detect_header(rows[:HEADER_SCAN_ROWS])
    if header is None:
        return "error"
    end, footnotes = len(rows), 0
    wide = sum(not is_empty(v) for v in rows[header]) >= 2
    last_table = max((i for i in range(header, len(rows)) if kinds[i] == TABLE), default=header)
    tail = kinds[last_table + 1:]
    if wide and tail[:1] == [EMPTY] and NOTE in tail:
        end, footnotes = last_table + 1, tail.count(NOTE)
    columns = sorted({p for row in rows[header:end] for p, v in enumerate(row) if not is_empty(v)})
    if not columns:
        return "error"
    return header, end, bytes(kinds), columns, footnotes


def found_layout(rows: list[list], header_row: int | None):
    try:
        layout = spreadsheet._find_table(Sheet(rows), header_row, "test")
    except IngestError:
        return "error"
    return layout.header, layout.end, bytes(layout.kinds), layout.columns, layout.footnotes


def test_one_pass_layout_matches_the_plain_definition_on_random_sheets():
    rng = random.Random(20251206)
    values = ["", "", "", " ", "\t", "x", "Source", "12", 1.0, 0, 0.0, False, True]
    for _ in range(3000):
        width, density = rng.randint(1, 7), rng.random()
        rows = []
        for _ in range(rng.choice([0, 1, 5, 29, 30, 31, 45, 80])):
            length = width if rng.random() < 0.9 else rng.randint(0, width + 3)
            style = rng.random()
            if style < 0.15:
                row = [""] * length
            elif style < 0.35 and length:
                row = [""] * length
                row[rng.randrange(length)] = rng.choice(["note", " ", 3.0])
            else:
                row = [rng.choice(values) if rng.random() < density else "" for _ in range(length)]
            rows.append(row)
        header_row = None if rng.random() < 0.7 else rng.randint(0, len(rows) + 1)
        assert found_layout(rows, header_row) == plain_layout(rows, header_row), (header_row, rows)


def write(path: Path, rows: list[list]) -> Path:
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet("S")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is not None:
                sheet.write(r, c, value)
    book.close()
    return path


def table_with_notes(cut: bool) -> list[list]:
    """A header, 100 rows in columns A:B, a one-cell note in column D past the header window, a
    wider row (columns I:J) further down, then two one-cell notes in columns E and F, after a
    blank row (footnotes) or not."""
    rows: list[list] = [["code", "nom"]]
    for i in range(100):
        rows.append([i, f"n{i}"])
        if i == 50:
            rows.append([None, None, None, "note au milieu"])
        if i == 80:
            rows.append([None] * 8 + [7, 8])
    ends = [[], [None] * 4 + ["Source : Insee"], [None] * 5 + ["Champ"]]
    return rows + (ends if cut else [ends[1], ends[0], ends[2]])


@pytest.mark.parametrize("cut", [True, False])
def test_notes_below_the_window_and_footnotes(tmp_path, cut):
    rows = table_with_notes(cut)
    assert 50 > HEADER_SCAN_ROWS
    raw = read_spreadsheet(write(tmp_path / "notes.xlsx", rows), ReadOptions())
    if cut:  # the mid-table note keeps column D; the footnotes' columns E and F are dropped
        assert raw.labels == ["code", "nom", "", "", ""]
        assert "2 footnote row(s) below the table dropped" in raw.notes
        assert "5 empty column(s) dropped" in raw.notes
    else:  # no blank row before the notes: they are rows of the table, their columns kept
        assert raw.labels == ["code", "nom", "", "", "", "", ""]
        assert not any("footnote" in note for note in raw.notes)
    assert found_layout(rows, None) == plain_layout(rows, None)


def test_header_row_given_past_the_window(tmp_path):
    rows = [[f"titre {i}"] for i in range(40)] + [["h1", "h2", "h3"]]
    rows += [[i, None, None] for i in range(50)] + [[None, None, "seul"], [1, None, None, None, 5]]
    path = write(tmp_path / "late.xlsx", rows)
    raw = read_spreadsheet(path, ReadOptions(header_row=40))
    assert raw.labels == ["h1", "h2", "h3", ""]  # h2 holds nothing but its header; E holds a 5
    assert "header on row 41 (40 row(s) above it skipped)" in raw.notes
    for header_row in (None, 0, 40, 60, 91, 92):
        assert found_layout(rows, header_row) == plain_layout(rows, header_row)


def test_a_header_of_years_below_a_title_is_the_header(tmp_path):
    """Its years are numbers, so no row holds mostly words: the title, the first row, was taken
    for the header, and the header loaded as a record (``2020`` among the populations)."""
    rows = [["Population par commune"], [], ["Commune", 2020, 2021, "Code"], ["Paris", 2100000, 2090000, "75056"],
            ["Lyon", 520000, 522000, "69123"]]
    raw = read_spreadsheet(write(tmp_path / "annees.xlsx", rows), ReadOptions())
    assert raw.labels == ["Commune", "2020", "2021", "Code"]
    assert "header on row 3 (2 row(s) above it skipped)" in raw.notes
