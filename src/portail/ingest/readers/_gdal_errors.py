"""GDAL's failures while a layer is read, collected in the thread that reads it.

GDAL does not stop on a feature it cannot read: a GeoJSON geometry whose coordinates are
strings comes out null, and the only trace is a message to GDAL's error handler (printed raw
on stderr from any thread but the main one, where pyogrio swallows it). pyogrio offers no way
to collect these messages while an Arrow stream is read, so the geographic reader pushes a
handler of its own through GDAL's C API (``CPLPushErrorHandler``; the handler stack is
per-thread in GDAL, so concurrent loads do not see each other's messages), on the library
pyogrio has loaded. Where that library cannot be found, nothing is collected and GDAL's
behaviour is unchanged.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyogrio

CE_WARNING, CE_FAILURE = 2, 3  # CPLErr: CE_None, CE_Debug, CE_Warning, CE_Failure, CE_Fatal
#: Warnings that say a feature lost data, which is a failure for the portal: GDAL gives a GeoJSON
#: geometry of an unknown type ({"type": "Blob"}, or none) a null geometry, and only warns.
DATA_LOST = ("Unsupported geometry type detected",)
_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_int, ctypes.c_char_p)
_FUNCTION_PREFIX = re.compile(r"^\w+\(\):\s*")


@functools.cache
def _library() -> ctypes.CDLL | None:
    """The GDAL library pyogrio uses: the one its wheel bundles, else the system's."""
    package = Path(pyogrio.__file__).parent
    bundled = sorted(package.parent.glob("pyogrio.libs/libgdal*")) + sorted(package.glob(".dylibs/libgdal*"))
    name = str(bundled[0]) if bundled else ctypes.util.find_library("gdal")
    if name is None:
        return None
    library = ctypes.CDLL(name)
    library.CPLPushErrorHandler.argtypes = [_HANDLER]
    library.CPLPushErrorHandler.restype = None
    library.CPLPopErrorHandler.argtypes = []
    library.CPLPopErrorHandler.restype = None
    return library


@contextmanager
def gdal_failures() -> Iterator[list[str]]:
    """The messages of the failures GDAL reports in this thread meanwhile, each without the name
    of the GDAL function that raised it. Warnings are dropped, but those that say data was lost
    (``DATA_LOST``)."""
    failures: list[str] = []
    library = _library()
    if library is None:
        yield failures
        return

    def collect(kind: int, _number: int, message: bytes | None) -> None:
        text = _FUNCTION_PREFIX.sub("", (message or b"").decode("utf-8", errors="replace"))
        if kind >= CE_FAILURE or (kind == CE_WARNING and text.startswith(DATA_LOST)):
            failures.append(text)

    handler = _HANDLER(collect)  # referenced until popped: GDAL keeps only the pointer
    library.CPLPushErrorHandler(handler)
    try:
        yield failures
    finally:
        library.CPLPopErrorHandler()
