"""Spreadsheets written as LibreOffice writes an .ods (no library in the environment writes one):
styles in ``content.xml`` (automatic) and ``styles.xml`` (named), number formats of zeros,
repeated rows and cells, error cells; shared by the ods reader tests of this folder."""

from __future__ import annotations

import zipfile
from pathlib import Path

NAMESPACES = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "style": "urn:oasis:names:tc:opendocument:xmlns:style:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "number": "urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0",
    "of": "urn:oasis:names:tc:opendocument:xmlns:of:1.2",
    "calcext": "urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0",
}.items())
#: LibreOffice's formats ``00000`` (N1), ``000000000`` (N2), and ``0`` (N3, pads nothing).
NUMBER_STYLES = "".join(
    f'<number:number-style style:name="{name}"><number:number number:decimal-places="0" '
    f'number:min-decimal-places="0" number:min-integer-digits="{digits}"/></number:number-style>'
    for name, digits in (("N1", 5), ("N2", 9), ("N3", 1)))
CELL_STYLES = ('<style:style style:name="ce1" style:family="table-cell" style:parent-style-name="Default" '
               'style:data-style-name="N1"/>'
               '<style:style style:name="ce2" style:family="table-cell" style:parent-style-name="Default" '
               'style:data-style-name="N3"/>'
               # a cell style inheriting its format from a named style of styles.xml ("Code SIREN")
               '<style:style style:name="ce3" style:family="table-cell" style:parent-style-name="Code_20_SIREN"/>')
NAMED_STYLES = ('<office:styles><style:style style:name="Code_20_SIREN" style:family="table-cell" '
                'style:data-style-name="N2"/></office:styles>')


def write_ods(path: Path, tables: list[str], named_styles: str = NAMED_STYLES) -> Path:
    content = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {NAMESPACES} office:version="1.3">'
               f'<office:automatic-styles>{NUMBER_STYLES}{CELL_STYLES}</office:automatic-styles>'
               f'<office:body><office:spreadsheet>{"".join(tables)}</office:spreadsheet></office:body>'
               '</office:document-content>')
    styles = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-styles {NAMESPACES} office:version="1.3">'
              f'<office:styles/><office:automatic-styles>{NUMBER_STYLES}</office:automatic-styles>'
              f'{named_styles}</office:document-styles>')
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
                'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.3">'
                '<manifest:file-entry manifest:full-path="/" '
                'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
                '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
                '<manifest:file-entry manifest:full-path="styles.xml" manifest:media-type="text/xml"/>'
                '</manifest:manifest>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet",
                         compress_type=zipfile.ZIP_STORED)
        archive.writestr("META-INF/manifest.xml", manifest)
        archive.writestr("content.xml", content)
        archive.writestr("styles.xml", styles)
    return path


def number(value: float, style: str | None = None, shown: str | None = None) -> str:
    styled = f' table:style-name="{style}"' if style else ""
    return (f'<table:table-cell{styled} office:value-type="float" office:value="{value}" '
            f'calcext:value-type="float"><text:p>{shown or value}</text:p></table:table-cell>')


def text(value: str) -> str:
    return (f'<table:table-cell office:value-type="string" calcext:value-type="string"><text:p>{value}</text:p>'
            '</table:table-cell>')


def error(formula: str, shown: str) -> str:
    """An error cell as LibreOffice writes it: a string value left empty, ``calcext`` saying error."""
    return (f'<table:table-cell table:formula="of:={formula}" office:value-type="string" office:string-value="" '
            f'calcext:value-type="error"><text:p>{shown}</text:p></table:table-cell>')


EMPTY = "<table:table-cell/>"
#: What LibreOffice writes below the last row: one empty row repeated to the sheet's end.
SHEET_END = ('<table:table-row table:number-rows-repeated="1048570"><table:table-cell '
             'table:number-columns-repeated="1024"/></table:table-row>')


def row(*cells: str, repeated: int = 1) -> str:
    times = f' table:number-rows-repeated="{repeated}"' if repeated > 1 else ""
    return f"<table:table-row{times}>{''.join(cells)}</table:table-row>"


def table(name: str, rows: list[str], columns: str = '<table:table-column table:number-columns-repeated="6"/>') -> str:
    return f'<table:table table:name="{name}">{columns}{"".join(rows)}{SHEET_END}</table:table>'
