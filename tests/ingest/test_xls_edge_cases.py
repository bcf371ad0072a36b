""".xls files as they come from the web, read through ``readers.xls_formats`` (xlrd) beside
calamine: what xlrd thinks of a file's container stays out of the command's output."""

from __future__ import annotations

import subprocess
from pathlib import Path

import xlwt

from tests.cli import PORTAIL


def write_codes(path: Path) -> Path:
    """Commune codes through a format of zeros (xlrd opens the file twice: formats and errors),
    the file then padded as some web exporters leave it: its size no whole number of OLE2
    sectors, which Excel and calamine read and xlrd warns about."""
    book = xlwt.Workbook()
    sheet = book.add_sheet("Communes")
    sheet.write(0, 0, "code_insee")
    sheet.write(0, 1, "nom")
    for row, (code, name) in enumerate([(1001, "L'Abergement-Clémenciat"), (1002, "L'Abergement-de-Varey")], start=1):
        sheet.write(row, 0, code, xlwt.easyxf(num_format_str="00000"))
        sheet.write(row, 1, name)
    book.save(str(path))
    path.write_bytes(path.read_bytes() + b"\x00" * 100)
    return path


def test_xlrds_warnings_stay_out_of_the_cli_output(tmp_path):
    """xlrd prints ``WARNING *** file size (…) not 512 + multiple of sector size`` to the stdout
    it found on import, whatever captures it since: a subprocess sees the real output."""
    source = write_codes(tmp_path / "communes.xls")
    done = subprocess.run([str(PORTAIL), "dataset", "create", "communes", "--title", "Communes", "--from", str(source)],
                          capture_output=True, text=True, env={"PORTAIL_HOME": str(tmp_path / "home"), "COLUMNS": "400",
                                                               "PATH": "/usr/bin:/bin"}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "2 records" in done.stdout  # calamine read it, xlrd's formats too
    assert "WARNING" not in done.stdout + done.stderr and "sector" not in done.stdout + done.stderr
