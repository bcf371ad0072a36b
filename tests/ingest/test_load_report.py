"""The load report: what it counts as values that could not be read, loaded through the real
loader."""

from __future__ import annotations

from pathlib import Path

from portail.catalog import services
from portail.ingest.errors import IngestError
from portail.operations import load_file


def load(instance, path: Path, slug: str = "ds"):
    with instance.session() as session:
        services.create_dataset(session, slug, "Test")
    return load_file(instance, slug, path, publish=True).report


def test_no_value_markers_are_nulls_not_rejected_values(instance, tmp_path):
    """``-`` and ``N/A`` say the value is missing; an impossible date is a value lost."""
    path = tmp_path / "mesures.csv"
    path.write_text("station;mesure;date\nA;12;01/02/2024\nB;-;31/02/2024\nC;N/A;N/A\nD;7;03/02/2024\n",
                    encoding="utf-8")
    report = load(instance, path)
    fields = {f.name: f for f in report.fields}
    assert (fields["mesure"].type, fields["date"].type) == ("int", "date")
    assert report.rejected == {"date": 1}  # 31/02/2024 only
    assert fields["mesure"].notes == ["2 'no value' marker(s) (N/A, -, nd…) read as null"]
    assert fields["date"].notes == ["1 'no value' marker(s) (N/A, -, nd…) read as null"]


def test_rejected_values_are_counted_before_the_steps_that_drop_rows(instance, tmp_path):
    """With a pipeline, the values read were counted after its steps: a ``skip`` of four rows
    made three of the amounts "rejected", and the one real failure (``douze`` under the
    override to int) was lost among them. An override no value reads as is refused with or without steps."""
    from portail.ingest.load import IngestError
    from tests.conftest import semicolon_csv

    rows = [{"ville": v, "montant": m, "jour": d, "lot": f"L{i}"} for i, (v, m, d) in enumerate([
        ("Lyon", "10", "01/02/2024"), ("Lyon", "douze", "02/02/2024"), ("Paris", "7", "31/02/2024"),
        ("Paris", "8", "04/02/2024"), ("Paris", "9", "05/02/2024"), ("Nantes", "3", "06/02/2024")])]
    path = semicolon_csv(tmp_path / "montants.csv", rows)
    with instance.session() as session:
        dataset = services.create_dataset(session, "ds", "Test")
        services.set_pipeline(session, dataset, [{"processor": "skip", "where": 'ville = "Paris"'}])
        services.set_field_override(session, dataset, "montant", type="int")
    report = load_file(instance, "ds", path, publish=True).report
    assert report.rows == 3
    assert report.rejected == {"montant": 1, "jour": 1}
    assert {f.name: f.values for f in report.fields}["montant"] == 6  # the file's
    with instance.session() as session:
        services.set_field_override(session, services.get_dataset(session, "ds"), "lot", type="int")
    try:
        load_file(instance, "ds", path, publish=True)
    except IngestError as error:
        assert "field 'lot': none of its 6 values reads as int" in str(error)
    else:
        raise AssertionError("an override no value reads as was published")


def test_an_inferred_type_no_value_reads_as_names_no_override(instance, tmp_path):
    """Dates that are none (31/02) all fail the type their shape gave the column: the refusal
    said to check "the type its override gives it" where no override exists. With one, it says so."""
    import pytest

    from portail.ingest.load import IngestError

    path = tmp_path / "jours.csv"
    path.write_text("id;jour\n1;31/02/2024\n2;30/02/2024\n", encoding="utf-8")
    with pytest.raises(IngestError) as refused:
        load(instance, path)
    said = str(refused.value)
    assert "field 'jour': none of its 2 values reads as date" in said and refused.value.field == "jour"
    assert "override" not in said and "`portail dataset field`" in said
    with instance.session() as session:
        services.set_field_override(session, services.get_dataset(session, "ds"), "jour", type="int")
    with pytest.raises(IngestError, match=r"none of its 2 values reads as int \(e.g. .*\); check the type its override gives it"):
        load_file(instance, "ds", path, publish=True)


def test_rejected_values_are_shown_with_the_line_of_the_first(instance, tmp_path):
    """A count of values "that became null" left the publisher searching the file: the report
    gives a few of them and the line of the first (counted as the file's lines, a quoted value
    over two lines and a title line above the header included), the refusal of a field none of
    whose values reads names them and that line too."""
    path = tmp_path / "releves.csv"
    path.write_bytes("Relevés de 2024\n\ncommune;date;remarque\n01001;01/02/2024;\"sur deux\nlignes\"\n"
                     "01002; 30/02/2024 ;ok\n01003;03/02/2024;N/A\n01004;31/02/2024;ok\n01005;N/A;ok\n"
                     .encode("cp1252"))
    report = load(instance, path)
    date = {f.name: f for f in report.fields}["date"]
    assert (date.type, date.rejected) == ("date", 2)
    assert date.examples == ["30/02/2024", "31/02/2024"]  # sorted; the "N/A" marker is no failure
    assert date.example_line == 6
    refused = tmp_path / "refus.csv"
    refused.write_text("station;date\nA;31/02/2024\nB;30/02/2024\nC;-\n", encoding="utf-8")
    with instance.session() as session:
        services.create_dataset(session, "refus", "Test")
    try:
        load_file(instance, "refus", refused, publish=True)
    except IngestError as error:
        assert (error.line, error.field) == (3, "date")
        assert "none of its 2 values reads as date (e.g. '30/02/2024', '31/02/2024')" in error.message
    else:
        raise AssertionError("a field none of whose values reads as a date was published")


def test_the_command_line_names_file_line_and_field_of_a_rejected_value(tmp_path):
    """The guide's rule for bad input on the command line, for values that became null (the
    command run in process: what it says, on its standard output, is the subject, not a new process)."""
    from tests.cli import invoke

    path = tmp_path / "mesures.csv"
    path.write_text("station;mesure;date\nA;12;01/02/2024\nB;7;31/02/2024\n", encoding="utf-8")
    done = invoke(["dataset", "create", "mesures", "--title", "Mesures", "--from", str(path)],
                  {"PORTAIL_HOME": str(tmp_path / "home")})
    assert done.exit_code == 0, done.output
    assert ("mesures.csv, line 3, field 'date': 1 value could not be read as date and became null "
            "(e.g. '31/02/2024')") in " ".join(done.stdout.split())


def test_a_spreadsheet_names_the_row_of_a_rejected_value(instance, tmp_path):
    """A spreadsheet's rows are its lines: the report names the sheet's row number (a title
    and a blank row above the header counted), as the readers' errors do."""
    from tests.ingest.files import write_xlsx

    path = write_xlsx(tmp_path / "releves.xlsx", {"Relevés": [
        ["Relevés 2024"], [None], ["station", "date"], ["A", "01/02/2024"], ["B", "02/02/2024"], ["C", "31/02/2024"]]})
    date = {f.name: f for f in load(instance, path).fields}["date"]
    assert (date.type, date.rejected, date.examples, date.example_line) == ("date", 1, ["31/02/2024"], 6)


def test_a_file_of_1500_columns_is_typed_within_the_loads_memory(instance, tmp_path):
    """Type inference read every column in one pass, a histogram each: ~1,500 columns (INSEE's
    comparison bases have ~1,900) ran out of the load's 512 MB there, and the file was refused
    as an engine error. Its passes now read at most ``COLUMNS_PER_PASS`` columns."""
    from portail.ingest.infer import COLUMNS_PER_PASS

    width = 1500
    assert width > 4 * COLUMNS_PER_PASS
    header = ";".join(f"c{i}" for i in range(width))
    rows = [";".join(f"0{r % 9}" if i % 3 == 0 else str(r * i % 97) for i in range(width)) for r in range(60)]
    path = tmp_path / "large.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    report = load(instance, path)
    types = [f.type for f in report.fields]
    assert report.rows == 60 and types[:3] == ["text", "int", "int"] and types.count("text") == width // 3
