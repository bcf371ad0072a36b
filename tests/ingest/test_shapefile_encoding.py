"""A Shapefile's ``.cpg`` is a hint, the DBF's bytes decide: Windows-1252 text under a ``.cpg``
GDAL cannot use (ArcGIS's ``ANSI 1252``, ``UTF-8``, ``LDID/87``) or under one saying ISO-8859-1
still gives its accents (Œ, –, €), loaded through the real loader or read through the reader;
every stored cell compared with the DBF's own bytes."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyogrio
import pytest
import shapely

from portail.ingest.readers.geo import read_geo
from portail.ingest.types import ReadOptions
from tests.ingest.files import load, rows, staged

NOMS = ["Ambérieu-en-Bugey", "Œuvre – 5 €", "Saint-Étienne"]


def _cp1252_shapefile(folder: Path, cpg: str) -> Path:
    """Three Lambert-93 points whose DBF is Windows-1252 (Œ, –, € are no Latin-1), under ``cpg``."""
    folder.mkdir(parents=True, exist_ok=True)
    shp = folder / "communes.shp"
    table = pa.table({"nom": NOMS, "population": pa.array([14204, 1, 171057], pa.int64()),
                      "geometry": pa.array(shapely.to_wkb(shapely.points(
                          [[870000, 6540000], [700000, 6600000], [808000, 6485000]])), pa.binary())})
    pyogrio.write_arrow(table, shp, geometry_name="geometry", geometry_type="Point", crs="EPSG:2154",
                        encoding="cp1252")
    (folder / "communes.cpg").write_text(cpg)
    return shp


def _dbf_texts(shp: Path) -> list[str]:
    """The ``nom`` column read from the DBF's bytes: the first field, after the deletion flag."""
    data = shp.with_suffix(".dbf").read_bytes()
    header, record = int.from_bytes(data[8:10], "little"), int.from_bytes(data[10:12], "little")
    width = data[32 + 16]  # the first field descriptor's length
    count = int.from_bytes(data[4:8], "little")
    return [data[header + i * record + 1:header + i * record + 1 + width].decode("cp1252").rstrip()
            for i in range(count)]


@pytest.mark.parametrize("cpg, note", [
    ("ANSI 1252", "DBF encoding 'ANSI 1252' (from .cpg)"),  # ArcGIS's spelling, unknown to GDAL
    ("1252", "DBF encoding '1252' (from .cpg)"),
    ("UTF-8", "DBF encoding CP1252 (detected: the .cpg's 'UTF-8' does not decode its text)"),
    ("65001", "DBF encoding CP1252 (detected: the .cpg's '65001' does not decode its text)"),
    ("LDID/87", "DBF encoding CP1252 (detected: the .cpg's 'LDID/87' is no known encoding)"),
])
def test_a_shapefile_cpg_that_gdal_cannot_use_still_gives_the_accents(instance, tmp_path, cpg, note):
    """'ANSI 1252' and a UTF-8 .cpg over a Windows-1252 DBF failed the load with the engine's
    "Invalid unicode (byte sequence mismatch) detected in segment statistics update"."""
    shp = _cp1252_shapefile(tmp_path / "src", cpg)
    result = load(instance, shp)
    assert note in result.report.notes
    assert [r["nom"] for r in rows(instance, order="ORDER BY population DESC")] == \
        [_dbf_texts(shp)[i] for i in (2, 0, 1)] == [NOMS[i] for i in (2, 0, 1)]


# --- Shapefile: ISO-8859-1 declared, Windows-1252 written ----------------------------------

@pytest.mark.parametrize("cpg", ["ISO-8859-1", "88591", "ISO 88591"])
def test_a_latin1_cpg_over_windows_1252_text_reads_it_as_windows_1252(tmp_path, cpg):
    """Œ, – and € (0x8C, 0x96, 0x80) came out as control characters: the .cpg was believed."""
    raw = read_geo(_cp1252_shapefile(tmp_path / "src", cpg), ReadOptions())
    assert f"DBF encoding {cpg!r} (from .cpg)" in raw.notes
    assert [row[0] for row in staged(raw, "SELECT nom FROM s")] == NOMS


def test_a_latin1_cpg_over_bytes_windows_1252_leaves_undefined_stays_latin1(tmp_path):
    """0x81 has no character in Windows-1252: such a DBF is read as the Latin-1 it declares."""
    shp = _cp1252_shapefile(tmp_path / "src", "ISO-8859-1")
    dbf = shp.with_suffix(".dbf")
    dbf.write_bytes(dbf.read_bytes().replace("Œ".encode("cp1252"), b"\x81"))
    raw = read_geo(shp, ReadOptions())
    assert "DBF encoding 'ISO-8859-1' (from .cpg)" in raw.notes
    assert staged(raw, "SELECT nom FROM s")[1] == ("\x81uvre \x96 5 \x80",)
