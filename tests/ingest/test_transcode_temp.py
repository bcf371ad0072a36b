"""A file that is not UTF-8 is read from a UTF-8 copy written in the home's tmp folder (on the
data disk, swept there after a killed load), not the system's: a killed load left its copy in
/tmp, and a full /tmp failed the load with a bare OSError naming no file."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest

from portail.catalog import services
from portail.ingest.errors import IngestError
from portail.ingest.readers.csv import read_csv, transcode_to_utf8
from portail.ingest.types import ReadOptions
from portail.operations import load_file


def cp1252_csv(path: Path, rows: int = 50) -> Path:
    path.write_bytes("commune;libellé\n".encode("cp1252")
                     + b"".join(f"{i};Évreux à côté n°{i}\n".encode("cp1252") for i in range(rows)))
    return path


def copies(folder: Path) -> list[Path]:
    return sorted(folder.glob("utf8-*.csv"))


def test_copy_lives_in_the_home_tmp_during_the_load_and_goes_after(instance, tmp_path):
    with instance.session() as session:
        services.create_dataset(session, "ds", "ds")
    tmp = instance.settings.tmp_dir
    during: list[list[int]] = []  # the sizes of the copies there as the load analyses the file

    def look(phase: str, done: float, rows: int | None) -> None:
        if phase == "analysing":
            during.append([copy.stat().st_size for copy in copies(tmp)])

    result = load_file(instance, "ds", cp1252_csv(tmp_path / "latin.csv"), publish=True, progress=look)
    assert "encoding cp1252" in result.report.notes
    assert len(during) == 1 and len(during[0]) == 1 and during[0][0] > 0
    assert not copies(tmp)
    with instance.session() as session:
        location = services.get_dataset(session, "ds").current.location
    assert instance.store.query(location, "SELECT libelle FROM records WHERE commune = 3").to_pylist() == \
        [{"libelle": "Évreux à côté n°3"}]


def test_copy_of_a_refused_file_goes(instance, tmp_path):
    """The reader refusing a file after its UTF-8 copy is made removes the copy. Read directly:
    a load refuses such a delimiter before it reads anything (``detect.check_options``)."""
    system = Path(tempfile.gettempdir())
    before = set(system.glob("*utf8-*.csv"))
    with pytest.raises(IngestError, match="invalid delimiter"):
        read_csv(cp1252_csv(tmp_path / "latin.csv"), ReadOptions(delimiter='"', tmp_dir=instance.settings.tmp_dir))
    assert not copies(instance.settings.tmp_dir) and set(system.glob("*utf8-*.csv")) <= before


def test_copy_that_cannot_be_written_names_the_file(instance, tmp_path):
    instance.settings.tmp_dir.parent.mkdir(parents=True, exist_ok=True)
    instance.settings.tmp_dir.write_text("a file where the tmp folder should be")
    with instance.session() as session:
        services.create_dataset(session, "ds", "ds")
    with pytest.raises(IngestError) as refused:
        load_file(instance, "ds", cp1252_csv(tmp_path / "latin.csv"))
    assert str(refused.value).startswith("latin.csv: its UTF-8 copy could not be written in ")
    assert str(instance.settings.tmp_dir) in str(refused.value)


def test_copy_and_the_folder_made_for_it_are_its_owners_alone(tmp_path):
    """The copy holds the upload's data (a restricted dataset's too): under the usual umask, 022,
    a plain ``open`` made it 0644 in a 0755 folder, readable by every local user."""
    previous = os.umask(0o022)
    try:
        copy = transcode_to_utf8(cp1252_csv(tmp_path / "latin.csv"), "cp1252", tmp_path / "home" / "tmp")
    finally:
        os.umask(previous)
    assert copy.read_text(encoding="utf-8").startswith("commune;libellé\n")
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert stat.S_IMODE(copy.parent.stat().st_mode) == 0o700
