"""The load report: what it counts as values that could not be read, loaded through the real
loader."""

from __future__ import annotations

from pathlib import Path

from portail.catalog import services
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
