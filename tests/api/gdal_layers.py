"""An export read back as GDAL reads it, for the export tests of this folder (a shapefile's zip
unpacked first): its attributes by name and its geometries, through pyogrio's raw reader (no
data frame, whose own ``geometry`` column would hide an attribute of that name)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pyogrio.raw
import shapely


def read_layer(body: bytes, fmt: str, tmp_path: Path) -> tuple[dict[str, list], list]:
    """The export's attributes by field name, and its geometries (None for a feature without one)."""
    if fmt == "shp":
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            archive.extractall(tmp_path)
        path = next(tmp_path.glob("*.shp"))
    else:
        path = tmp_path / f"export.{fmt}"
        path.write_bytes(body)
    meta, _, geometries, values = pyogrio.raw.read(path)
    return dict(zip(meta["fields"], (list(v) for v in values))), [None if g is None else shapely.from_wkb(g)
                                                                   for g in geometries]
