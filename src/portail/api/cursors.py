"""Records cursors (``after=``), opaque to whoever holds them.

A cursor resumes a walk in storage order after the last row it returned, so it must carry
that row's position in the version file. Written in clear (it was base64 JSON), that position
told a caller whose rights filter rows how many hidden rows lie between the ones they see, and
where (the gaps between successive cursors; their largest a floor on the file's size), and a
hand-made cursor could start anywhere. The position is now sealed with the version's own key
(``DatasetVersion.cursor_key``, 16 random bytes in the catalogue, which every API node reads):
AES over one block holding the position and a fixed tag, so a cursor reveals nothing and one
not made by the API opens to a wrong tag (a 400). The version number stays readable: it names
the version whose key opens the rest, and says nothing a caller cannot see.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from portail.catalog.db import transaction
from portail.catalog.models import DatasetVersion

from portail.api.errors import invalid_parameter

_TAG = b"portail\x01"  # the block's second half: a cursor not sealed with the key opens to another


def _cipher(key: bytes) -> Cipher:
    # One 16-byte block: AES itself is the keyed permutation wanted (no chaining mode to choose).
    return Cipher(algorithms.AES(key), modes.ECB())


def _refused() -> Exception:
    return invalid_parameter("Invalid value for after API parameter: not a cursor returned by this API.")


def seal(version: int, key: bytes, rowid: int) -> str:
    """The cursor after row ``rowid`` of ``version``."""
    encryptor = _cipher(key).encryptor()
    block = encryptor.update(struct.pack(">q", rowid) + _TAG) + encryptor.finalize()
    return f"{version}.{base64.urlsafe_b64encode(block).decode().rstrip('=')}"


def version_key(catalog: sessionmaker[Session], version: DatasetVersion) -> bytes:
    """The key of ``version``'s cursors: its own, or, for a version written without one, a key
    made now and kept. Migration 0013 gave one to every version then in the catalogue, but a
    process of an older release still serving beside the upgraded ones (a rolling upgrade)
    writes versions without it, whose every ``after=`` was a 500. The first node to ask makes
    it (only where it is still missing: concurrent nodes keep the first one written), and all
    read it back."""
    if version.cursor_key is not None:
        return version.cursor_key
    with transaction(catalog) as session:
        session.execute(update(DatasetVersion).where(DatasetVersion.id == version.id, DatasetVersion.cursor_key.is_(None))
                        .values(cursor_key=os.urandom(16)))
        return session.scalar(select(DatasetVersion.cursor_key).where(DatasetVersion.id == version.id))


def cursor_version(cursor: str) -> int:
    """The version a cursor walks (a 400 when ``cursor`` is not shaped as one)."""
    number, dot, _ = cursor.partition(".")
    if not dot or not number.isdecimal() or len(number) > 9:
        raise _refused()
    return int(number)


def open_cursor(cursor: str, key: bytes | None) -> int:
    """The last row a cursor returned, opened with its version's ``key`` (a 400 when the API did
    not make it for that version)."""
    sealed = cursor.partition(".")[2]
    try:
        block = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
    except (binascii.Error, ValueError):
        raise _refused() from None
    if key is None or len(block) != 16:
        raise _refused()
    decryptor = _cipher(key).decryptor()
    plain = decryptor.update(block) + decryptor.finalize()
    if plain[8:] != _TAG:
        raise _refused()
    return struct.unpack(">q", plain[:8])[0]
