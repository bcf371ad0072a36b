"""TomTom's OV2 read back (its layout as TomTom's SDK documents it), for the tests that check
what an OV2 export holds (the waypoint exports, the leak matrix's decoded bodies): kept here
rather than in one test file, so that a test file imports no other test file."""

from __future__ import annotations

import struct


def read_ov2(content: bytes) -> list[tuple[float, float, str]]:
    """(lon, lat, name) of each POI record (type 2) of an OV2 file; other record types are
    skipped by their length, as devices do."""
    records, at = [], 0
    while at < len(content):
        kind, length = struct.unpack_from("<Bi", content, at)
        assert length >= 13 and at + length <= len(content), f"a record at byte {at} runs past the file"
        if kind == 2:
            lon, lat = struct.unpack_from("<ii", content, at + 5)
            name = content[at + 13:at + length]
            assert name.endswith(b"\0") and b"\0" not in name[:-1]
            records.append((lon / 100_000, lat / 100_000, name[:-1].decode("cp1252")))
        at += length
    return records
