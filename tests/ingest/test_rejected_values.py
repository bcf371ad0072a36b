"""The load report's rejected values (the values of a field that became null when cast to its
type): every field's examples read in one pass over the staged file, and in passes of a few
fields (one query's planning grows with the square of the casts in it: 150 fields took 19 s,
300 fields 290 s on 200,000 rows); a type given by its publisher to a column inferred as text
counts the whole file's rejected values, not the inference sample's."""

from __future__ import annotations

import duckdb

from portail.catalog import services
from portail.ingest.infer import (REJECTED_PER_PASS, SAMPLE_ROWS, Inferred, cast_expression, override_cast,
                                  rejected_values)
from portail.operations import load_file
from portail.schema import FieldType
from tests.conftest import make_instance


class _Counted:
    """A DuckDB connection that counts the queries it runs (the engine's, not Portail's)."""

    def __init__(self, con):
        self.con, self.queries = con, 0

    def execute(self, *args):
        self.queries += 1
        return self.con.execute(*args)


def test_rejected_values_of_every_field_come_from_one_pass():
    """The load report's examples of values that became null, for each field with some, read
    in one pass over the staged file (a pass a field cost ~8 s each on 2 M rows: a file of six
    date columns with a few typos loaded twice as slowly): the same examples as before, sorted,
    trimmed, distinct, "no value" markers and blanks left out, at most ``limit`` a field."""
    con = duckdb.connect()
    con.execute("CREATE TABLE staging AS SELECT * FROM (VALUES ('01/02/2024', '1', 'x'), (' 31/02/2024 ', 'un', 'y'),"
                " ('N/A', 'deux', 'z'), ('', '3', 'w'), (NULL, 'un', 'v'), ('hier', 'trois', 'u'),"
                " ('31/02/2024', 'quatre', 't')) AS t(d, n, s)")
    casts = {"d": override_cast("d", FieldType.DATE), "n": override_cast("n", FieldType.INT)}
    counted = _Counted(con)
    assert rejected_values(counted, "staging", casts) == {"d": ["31/02/2024", "hier"],
                                                          "n": ["deux", "quatre", "trois"]}
    assert counted.queries == 1
    assert rejected_values(counted, "staging", {"n": casts["n"]}, limit=1) == {"n": ["deux"]}
    assert rejected_values(counted, "staging", {}) == {}


def test_a_type_given_to_a_column_of_words_counts_the_whole_files_rejected_values(tmp_path):
    """A column kept as text on the inference's sample, then given a date by its publisher: the
    report compared the sample's values (50,000) with the whole file's read as dates (34,000
    of 51,000), and said none was rejected; the 17,000 that became null are counted, with
    examples."""
    rows = 51_000
    assert rows > SAMPLE_ROWS
    path = tmp_path / "jours.csv"
    path.write_text("id;jour\n" + "".join(f"{i};{'hier' if i % 3 == 0 else f'2024-01-{i % 28 + 1:02d}'}\n"
                                          for i in range(rows)), encoding="utf-8")
    instance = make_instance(tmp_path / "home")
    with instance.session() as s:
        services.set_field_override(s, services.create_dataset(s, "jours", "Jours"), "jour", type="date")
    report = {f.name: f for f in load_file(instance, "jours", path).report.fields}["jour"]
    assert (report.type, report.values, report.rejected, report.examples) == ("date", rows, rows // 3, ["hier"])
    instance.store.close()


def test_rejected_values_of_many_fields_with_odd_names():
    names = ['a"b', "c'd", "é x", "f", "v", "r0", "select", "1"] + [f"c{i}" for i in range(142)]
    con = duckdb.connect()
    values = ", ".join(f"""CASE WHEN i = {k % 5} THEN 'x{k}' WHEN i = 9 THEN 'nd' WHEN i = 8 THEN '#N/A'
                              WHEN i = 7 THEN 'b{k}' ELSE i::VARCHAR END AS "{n.replace('"', '""')}" """
                       for k, n in enumerate(names))
    con.execute(f"CREATE TABLE s AS SELECT {values}, i::VARCHAR AS clean FROM range(12) t(i)")
    casts = {n: cast_expression(n, Inferred(FieldType.INT)) for n in [*names, "clean"]}
    counted = _Counted(con)
    found = rejected_values(counted, "s", casts, limit=2)
    # the smallest two, markers ("nd") left out, error values ("#N/A") kept
    assert found == {n: ["#N/A", f"b{k}"] for k, n in enumerate(names)}
    assert rejected_values(con, "s", {}) == {}
    # in passes of a few fields: 19 s in one query of 151 casts (its planning), 0.7 s in passes of 16
    assert len(casts) > REJECTED_PER_PASS and counted.queries == -(-len(casts) // REJECTED_PER_PASS)
