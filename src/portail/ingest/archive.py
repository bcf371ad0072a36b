"""Unpacking an uploaded zip without trusting it.

A zip comes from a stranger: it may hold a member that expands a thousandfold (a "zip bomb"),
more bytes than the disk can take, or a name such as ``../../etc/cron.d/x`` or ``/tmp/x`` that
escapes the destination. Every member is checked *before* anything is written, and the sizes
the archive declares are enforced again while copying, because a crafted header can lie.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from portail.ingest.errors import IngestError
from portail.ingest.types import ReadOptions

COPY_CHUNK = 1 << 20


def safe_extract(zip_path: Path, dest: Path, options: ReadOptions) -> list[Path]:
    """Extract every file of ``zip_path`` under ``dest`` (which must exist); return their paths.

    Raises ``IngestError`` naming the archive and the offending member when the archive is
    corrupt, a member's name leaves ``dest`` or is a link, a member's compression ratio is above
    ``options.max_zip_ratio``, or the total uncompressed size is above
    ``options.max_unzipped_bytes``.
    """
    source = zip_path.name
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            targets = [_check_member(m, dest, source) for m in members]
            _check_sizes(members, options, source)
            budget = options.max_unzipped_bytes
            for member, target in zip(members, targets):
                budget -= _copy_member(archive, member, target, budget, source)
            return targets
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, RuntimeError) as error:
        raise IngestError(f"corrupt, truncated or unsupported zip archive ({error})", source=source) from None


def _check_member(member: zipfile.ZipInfo, dest: Path, source: str) -> Path:
    """The path a member would be written to, or an error when it would leave ``dest``."""
    name = member.filename.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if not parts or name.startswith("/") or ":" in parts[0] or ".." in parts:
        raise IngestError(f"archive member {member.filename!r} points outside the archive (path traversal)",
                          source=source)
    if stat.S_ISLNK(member.external_attr >> 16):
        raise IngestError(f"archive member {member.filename!r} is a symbolic link", source=source)
    target = dest.joinpath(*parts)
    if not target.resolve().is_relative_to(dest.resolve()):
        raise IngestError(f"archive member {member.filename!r} points outside the archive (path traversal)",
                          source=source)
    return target


def _check_sizes(members: list[zipfile.ZipInfo], options: ReadOptions, source: str) -> None:
    total = 0
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if ratio > options.max_zip_ratio:
            raise IngestError(f"archive member {member.filename!r} expands {ratio:.0f} times (limit "
                              f"{options.max_zip_ratio}): refused as a possible zip bomb", source=source)
        total += member.file_size
    if total > options.max_unzipped_bytes:
        raise IngestError(f"archive expands to {total} bytes (limit {options.max_unzipped_bytes})", source=source)


def _copy_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, budget: int, source: str) -> int:
    """Copy one member, stopping as soon as it writes more than it declared or than the budget."""
    limit = min(member.file_size, budget)
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with archive.open(member) as reader, open(target, "wb") as writer:
        while chunk := reader.read(COPY_CHUNK):
            written += len(chunk)
            if written > limit:
                raise IngestError(f"archive member {member.filename!r} expands beyond its declared size",
                                  source=source)
            writer.write(chunk)
    return written


def remove_tree(path: Path) -> None:
    """Delete a temporary extraction folder, ignoring what is already gone."""
    shutil.rmtree(path, ignore_errors=True)
