"""The one error type ingest raises, so the CLI and the API can name file, line and field; and
the server's own storage faults (a full disk, a read-only catalogue), told apart from bad input
so that neither blames the client."""

from __future__ import annotations

import errno
import os
import re


class IngestError(Exception):
    """Bad input. Carries where it was found so the message can point a person at it."""

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None, field: str | None = None):
        self.message = message
        self.source = source
        self.line = line
        self.field = field
        super().__init__(self.describe())

    def describe(self) -> str:
        where = []
        if self.source:
            where.append(self.source)
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.field:
            where.append(f"field {self.field!r}")
        return f"{': '.join([', '.join(where), self.message]) if where else self.message}"

    def to_dict(self) -> dict:
        return {"message": self.message, "source": self.source, "line": self.line, "field": self.field}


class StorageFull(Exception):
    """The server's disk filled while a load wrote: the server's fault, never the file's. An
    ``IngestError`` blames the input (a 400 that no retry mends); this one is a 507, and the
    command line says "the disk is full" with the file it was writing when known."""

    def __init__(self, path: str | None = None):
        self.path = path
        super().__init__(self.describe())

    def describe(self) -> str:
        return f"the disk is full (writing {self.path})" if self.path else "the disk is full"


#: How each layer says its disk is full: the C library (ENOSPC's text, in DuckDB's "Could not
#: write file …: No space left on device" and PostgreSQL's "could not extend file"), SQLite, and
#: DuckDB's short write.
_FULL = ("no space left on device", "database or disk is full", "could not write all bytes", "disk quota exceeded")
#: How a catalogue refuses every write: SQLite on a read-only file or mount, PostgreSQL in recovery.
_READ_ONLY = ("attempt to write a readonly database", "read-only transaction", "read-only file system")


def _chain(error: BaseException | None) -> list[BaseException]:
    """The error and those it was raised from or while handling: a reader's ``IngestError``
    raised ``from None`` from the engine's still holds it as its context."""
    seen: list[BaseException] = []
    while error is not None and error not in seen:
        seen.append(error)
        error = error.__cause__ or getattr(error, "orig", None) or error.__context__  # SQLAlchemy's driver error
    return seen


def _says(error: BaseException | None, errnos: tuple[int, ...], texts: tuple[str, ...],
          names: tuple[str, ...] = ()) -> BaseException | None:
    """The error of the chain saying so: by its errno, or by the words of an error the server's
    own layers wrote (the engine's I/O errors, the catalogue driver's), outside its quoted
    names and the names of the files involved. Never by words anywhere in any message: a
    malformed line's error echoes the line, a file's name is the client's, and "No space left
    on device.csv" made a refused file a 507."""
    chain = _chain(error)
    involved = _involved(chain, names)
    for each in chain:
        if isinstance(each, OSError) and each.errno in errnos:
            return each
        if _server_worded(each) and any(t in _unnamed(_unquoted(str(each)), involved, texts) for t in texts):
            return each
    return None


def _unquoted(message: str) -> str:
    """A message without its double-quoted names (the engine quotes file names, the client's)."""
    return " ".join(message.split('"')[::2]).lower()


def _involved(chain: list[BaseException], names: tuple[str, ...]) -> set[str]:
    """The files an error may name, in the forms a message writes them (the path as given, its
    file name): those the caller knows (the source read) and those the chain names (an
    ``IngestError``'s source, an ``OSError``'s files). The engine names a file unquoted in some
    errors ("Input is not a GZIP stream: …/No space left on device.csv.gz")."""
    found = [*names]
    for each in chain:
        if isinstance(each, IngestError):
            found.append(each.source)
        elif isinstance(each, OSError):
            found += [each.filename, each.filename2]
    forms: set[str] = set()
    for name in filter(None, found):
        name = os.fsdecode(name).lower()
        forms |= {name, os.path.basename(name)}
    return forms - {""}


def _unnamed(message: str, names: set[str], texts: tuple[str, ...]) -> str:
    """A (lower-case) message without the names holding any of ``texts``, longest first: only
    such a name can pass for the words, and one shorter ("device"), cut out, could cut the
    real words."""
    for name in sorted((n for n in names if any(t in n for t in texts)), key=len, reverse=True):
        message = message.replace(name, " ")
    return message


def _server_worded(error: BaseException) -> bool:
    """An I/O or commit error of the engine, or an operational error of a catalogue driver
    (SQLite's "database or disk is full", PostgreSQL's): worded by the system, file names quoted."""
    import duckdb
    from sqlalchemy.exc import OperationalError

    module = type(error).__module__
    return isinstance(error, (duckdb.IOException, duckdb.TransactionException, OperationalError)) \
        or module.startswith(("sqlite3", "psycopg")) \
        and type(error).__name__ in ("OperationalError", "DiskFull", "ReadOnlySqlTransaction")


def storage_full(error: BaseException | None, *names: str) -> BaseException | None:
    """The error of this chain saying the server's disk is full, if one does; ``names``: the
    files involved (the source read), whose names are never taken for the words."""
    return _says(error, (errno.ENOSPC, errno.EDQUOT), _FULL, names)


def read_only(error: BaseException | None, *names: str) -> BaseException | None:
    """The error of this chain saying the server's storage refuses every write, if one does;
    ``names`` as for :func:`storage_full`."""
    return _says(error, (errno.EROFS,), _READ_ONLY, names)


def written_path(error: BaseException) -> str | None:
    """The file a full disk refused, when the error names it (``OSError.filename``, DuckDB's
    ``Could not write file "…"``)."""
    if isinstance(error, OSError) and error.filename:
        return str(error.filename)
    found = re.search(r'(?:write|writing|to) file "([^"]+)"', str(error))
    return found.group(1) if found else None
