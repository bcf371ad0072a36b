"""Helpers shared by the ingest tests: files written by hand (CSV text, minimal xlsx and ods
workbooks), a file loaded through the real loader and its published rows read back, a reader's
output staged into DuckDB. Kept here rather than in one test file, so that a test file imports
no other test file."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import duckdb

from portail.catalog import services
from portail.exports.xlsx import column_letters
from portail.operations import load_file

#: A point in Paris, the geometry a GeoJSON feature is given when it is not what a test is about.
POINT = {"type": "Point", "coordinates": [2.35, 48.85]}


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def load(instance, path: Path, slug: str = "ds", **kwargs):
    with instance.session() as session:
        try:
            services.get_dataset(session, slug)
        except services.NotFound:
            services.create_dataset(session, slug, "Test")
    return load_file(instance, slug, path, publish=True, **kwargs)



def geojson(path: Path, features: list[tuple[dict, dict | None]]) -> Path:
    """A FeatureCollection of (properties, geometry) pairs."""
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": properties, "geometry": geometry} for properties, geometry in features]}))
    return path


def rows(instance, slug: str = "ds", order: str = "") -> list[dict]:
    with instance.session() as session:
        location = services.get_dataset(session, slug).current.location
    return instance.store.query(location, f"SELECT * FROM records {order}").to_pylist()


def types(result) -> dict[str, str]:
    return {f.name: f.type for f in result.report.fields}


def staged(raw, query: str) -> list[tuple]:
    """The rows ``query`` reads from what ``raw`` stages as table ``s``."""
    con = duckdb.connect()
    raw.stage(con, "s")
    return con.execute(query).fetchall()


_XML = '<?xml version="1.0" encoding="UTF-8"?>'
_SML = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006"
_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"
#: Cell styles: 0 general, 1 date (built-in format 14), 2 date and time.
_STYLES = (f'{_XML}<styleSheet xmlns="{_SML}"><numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm:ss"/>'
           '</numFmts><fonts count="1"><font/></fonts><fills count="1"><fill/></fills><borders count="1"><border/></borders>'
           '<cellStyleXfs count="1"><xf/></cellStyleXfs><cellXfs count="3"><xf numFmtId="0"/>'
           '<xf numFmtId="14" applyNumberFormat="1"/><xf numFmtId="164" applyNumberFormat="1"/></cellXfs></styleSheet>')


def _xlsx_cell(ref: str, value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, (int, float)):
        return f'<c r="{ref}"><v>{value!r}</v></c>'
    if isinstance(value, dt.datetime):
        serial = (value - dt.datetime(1899, 12, 30)).total_seconds() / 86400
        return f'<c r="{ref}" s="2"><v>{serial!r}</v></c>'
    if isinstance(value, dt.date):
        return f'<c r="{ref}" s="1"><v>{(value - dt.date(1899, 12, 30)).days}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t>{escape(value)}</t></is></c>'


def _xlsx_sheet(rows: list[list]) -> str:
    body = "".join(f'<row r="{r + 1}">' + "".join(_xlsx_cell(f"{column_letters(c)}{r + 1}", v)
                                                 for c, v in enumerate(row)) + "</row>"
                   for r, row in enumerate(rows) if any(v is not None for v in row))
    return f'{_XML}<worksheet xmlns="{_SML}"><sheetData>{body}</sheetData></worksheet>'


def write_xlsx(path: Path, sheets: dict[str, list[list]]) -> Path:
    """A minimal but valid xlsx: inline strings, and date and datetime cell styles."""
    numbers = range(1, len(sheets) + 1)
    types = (f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
             '<Default Extension="xml" ContentType="application/xml"/>'
             f'<Override PartName="/xl/workbook.xml" ContentType="{_CT}.sheet.main+xml"/>'
             f'<Override PartName="/xl/styles.xml" ContentType="{_CT}.styles+xml"/>'
             + "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{_CT}.worksheet+xml"/>'
                       for i in numbers))
    workbook = "".join(f'<sheet name="{escape(name)}" sheetId="{i}" r:id="rId{i}"/>' for i, name in zip(numbers, sheets))
    links = "".join(f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
                    for i in numbers)
    links += f'<Relationship Id="rId{len(sheets) + 1}" Type="{_REL}/styles" Target="styles.xml"/>'
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", f'{_XML}<Types xmlns="{_PKG}/content-types">{types}</Types>')
        z.writestr("_rels/.rels", f'{_XML}<Relationships xmlns="{_PKG}/relationships">'
                   f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
        z.writestr("xl/workbook.xml", f'{_XML}<workbook xmlns="{_SML}" xmlns:r="{_REL}"><sheets>{workbook}</sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels", f'{_XML}<Relationships xmlns="{_PKG}/relationships">{links}</Relationships>')
        z.writestr("xl/styles.xml", _STYLES)
        for i, rows in zip(numbers, sheets.values()):
            z.writestr(f"xl/worksheets/sheet{i}.xml", _xlsx_sheet(rows))
    return path


_ODF = "urn:oasis:names:tc:opendocument:xmlns"
_ODS_TYPE = "application/vnd.oasis.opendocument.spreadsheet"


def _ods_cell(value) -> str:
    if value is None:
        return "<table:table-cell/>"
    if isinstance(value, bool):
        kind, attribute = "boolean", f'office:boolean-value="{str(value).lower()}"'
    elif isinstance(value, (int, float)):
        kind, attribute = "float", f'office:value="{value!r}"'
    elif isinstance(value, dt.date):
        kind, attribute = "date", f'office:date-value="{value.isoformat()}"'
    else:
        kind, attribute = "string", ""
    return f'<table:table-cell office:value-type="{kind}" {attribute}><text:p>{escape(str(value))}</text:p></table:table-cell>'


def write_ods(path: Path, rows: list[list], name: str = "Feuille1") -> Path:
    body = "".join("<table:table-row>" + "".join(_ods_cell(v) for v in row) + "</table:table-row>" for row in rows)
    manifest = (f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{_ODS_TYPE}"/>'
                '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>')
    content = (f'<office:document-content xmlns:office="{_ODF}:office:1.0" xmlns:table="{_ODF}:table:1.0" '
               f'xmlns:text="{_ODF}:text:1.0" office:version="1.2"><office:body><office:spreadsheet>'
               f'<table:table table:name="{escape(name)}">{body}</table:table>'
               "</office:spreadsheet></office:body></office:document-content>")
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", _ODS_TYPE, compress_type=zipfile.ZIP_STORED)
        z.writestr("META-INF/manifest.xml", f'{_XML}<manifest:manifest xmlns:manifest="{_ODF}:manifest:1.0">'
                   f"{manifest}</manifest:manifest>")
        z.writestr("content.xml", _XML + content)
    return path
