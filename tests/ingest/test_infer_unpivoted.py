"""Type inference of wide files counts their columns unpivoted (``infer.UNPIVOT_FROM``: one
expression planned for all columns, instead of one per column): both strategies must give the
same decisions, notes and counts, on every path of ``infer_types`` (the sample is the whole
table; a decision checked past the sample holds; it fails and the column is classified again)."""

from __future__ import annotations

import duckdb
import pytest

from portail.ingest import infer
from portail.schema import FieldType

SAMPLE = 40  # the sample's rows here (``infer.SAMPLE_ROWS``), so that the table can be small
ROWS = 60


def value(name: str, row: int) -> str:
    """A mixed file's value: every class of ``infer.CLASSIFY``, markers, errors, blanks, and
    values past the sample that overturn its decision."""
    late = row >= SAMPLE + 5
    return {
        "entier": f" {row} ",
        "virgule": f"{row},5",
        "point_tardif": "1.5" if late else str(row),
        "texte_tardif": "abc" if late else str(row),
        "jma": f"{row % 12 + 1:02d}/{row % 28 + 1:02d}/2024",
        "mja_tardif": "12/25/2024" if late else f"{row % 12 + 1:02d}/03/2024",
        "horodatage": f"2024-03-{row % 28 + 1:02d}T10:{row % 60:02d}:00+01:00",
        "booleen": "oui" if row % 2 else "non",
        "zeros": f"0{row % 9 + 1}",
        "code_commune": str(1000 + row * 997 % 90000),
        "siren": f"552 100 {row:03d}",
        "marqueurs": ["N/A", "s", "#DIV/0!", ""][row % 4] if row % 3 == 0 else str(row),
        "vide": " " if row % 2 else "",
        "position": f"48.{row:02d}, 2.35",
        "__value__": f"v{row % 3}",
        'guillemet"s': f"{row}.25",
    }[name]


NAMES = [
    "entier", "virgule", "point_tardif", "texte_tardif", "jma", "mja_tardif", "horodatage", "booleen", "zeros",
    "code_commune", "siren", "marqueurs", "vide", "position", "__value__", 'guillemet"s']


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    columns = ", ".join(f'"{name.replace(chr(34), chr(34) * 2)}" VARCHAR' for name in NAMES)
    con.execute(f"CREATE TABLE staging ({columns})")
    con.executemany(f"INSERT INTO staging VALUES ({', '.join('?' for _ in NAMES)})",
                    [[value(name, row) for name in NAMES] for row in range(ROWS)])
    con.execute(f"CREATE VIEW head AS SELECT * FROM staging LIMIT {SAMPLE - 10}")
    return con


def both(monkeypatch: pytest.MonkeyPatch, run):
    """``run()`` with every column counted apart, then unpivoted."""
    monkeypatch.setattr(infer, "UNPIVOT_FROM", 10 ** 9)
    apart = run()
    monkeypatch.setattr(infer, "UNPIVOT_FROM", 1)
    return apart, run()


def test_unpivoted_inference_decides_as_columns_apart(con, monkeypatch):
    monkeypatch.setattr(infer, "SAMPLE_ROWS", SAMPLE)
    for table in ("head", "staging"):  # the sample is the whole table, and checked past the sample
        apart, unpivoted = both(monkeypatch, lambda: infer.infer_types(con, table, NAMES))
        assert list(unpivoted) == NAMES
        for name in NAMES:
            assert unpivoted[name] == apart[name], (table, name)
    # The whole file's decisions, for the record: each path above was taken.
    assert apart["point_tardif"].type == FieldType.DOUBLE  # overturned past the sample, classified again
    assert apart["texte_tardif"].type == FieldType.TEXT
    assert (apart["mja_tardif"].type, apart["mja_tardif"].variant) == (FieldType.DATE, "mdy")
    assert apart["marqueurs"].tokens > 0 and apart["code_commune"].notes[0].startswith(infer.CODE_NOTE + ";")
    assert apart["position"].type == FieldType.GEO_POINT_2D and apart["vide"].nonnull == 0


def test_unpivoted_value_counts_as_columns_apart(con, monkeypatch):
    monkeypatch.setattr(infer, "SAMPLE_ROWS", SAMPLE)
    inferred = infer.infer_types(con, "staging", NAMES)
    counted = both(monkeypatch, lambda: [infer.count_values(con, "staging", inferred, NAMES),
                                         {name: (i.nonnull, i.tokens) for name, i in inferred.items()}][1])
    assert counted[0] == counted[1]
    assert counted[1]["marqueurs"] == (ROWS - 5, 10)  # of 20 rows: 5 empty, 10 markers, 5 errors (values)
