"""CSV and TSV, with the quirks of French public files.

Encoding is decided over the *whole* file, not a sample: a Windows-1252 "é" on line 900,000
must not turn into mojibake or a crash. UTF-8 (with or without BOM) is kept as is; anything
else is transcoded once, streaming, to a UTF-8 temporary file (Windows-1252 when its bytes
allow it, else Latin-1), so that DuckDB's parallel CSV scanner reads every file the same way.

A title, a subtitle and blank lines above the header are skipped, by the rule spreadsheets use
(``_common.detect_header``), when they fill fewer cells than the header; the report says so.

The delimiter is sniffed on the first lines by parsing them with each candidate and keeping
the one that gives the most consistent, widest rows (``;`` wins ties: French files use it so
that decimal commas need no quoting). Values are staged as text, and types are inferred by
``ingest.infer`` over the whole table. Quoted empty strings stay empty strings; unquoted empty
fields are nulls.

Every record must have the header's number of fields: a short row is refused like a long
one (padding it with nulls would hide a shifted or truncated line). This also keeps DuckDB's
parallel scanner on every file, big ones included: it cannot pad short rows in a file whose
quoted fields hold line breaks.

DuckDB reads no record, without an error, below a header that is malformed CSV for the
delimiter (a forced ``,`` on a ``;`` file with quoted labels): a file with data lines from which
no record was read is refused, naming its first malformed line.

When DuckDB rejects a file, the file is re-read with Python's ``csv`` module to find the
exact line and reason, so the error points a person at the problem.
"""

from __future__ import annotations

import codecs
import csv
import errno
import io
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import duckdb

from portail.ingest.detect import delimiter_misfit, encoding_misfit
from portail.ingest.errors import IngestError
from portail.ingest.readers._common import HEADER_SCAN_ROWS, detect_header, lines_holding
from portail.ingest.types import RawTable, ReadOptions
from portail.schema import unique_names
from portail.store.duckdb_store import scratch_name

CHUNK = 1 << 20
SAMPLE_BYTES = 1 << 20
DELIMITERS = (";", ",", "\t", "|")
_CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")
#: French text in UTF-8: accented letters, a non-breaking space, « » °, œ, ’ € …. Read as
#: Windows-1252 these are mojibake ("Ã©", "Â«", "Å“", "â€™") that no French file holds; not any
#: valid sequence: an uppercase accent before a non-breaking space ("É\xa0") is one.
_FRENCH_UTF8 = re.compile(rb"[\xc2\xc3\xc5][\x80-\xbf]|\xe2[\x80-\xbf]{2}")


def detect_encoding(path: Path) -> str:
    """``utf-8-sig``, ``utf-8``, ``utf-16``, ``cp1252`` or ``latin-1``, decided on every byte.

    A file that is not UTF-8 but holds UTF-8 French text, or starts with a UTF-8 BOM, mixes
    encodings (lines appended by another program): it is refused at its first line that is not
    UTF-8, since any single encoding would turn part of it into mojibake."""
    with open(path, "rb") as handle:
        head = handle.read(4)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        handle.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        cp1252_possible = True
        utf8 = True
        utf8_text = head.startswith(codecs.BOM_UTF8)  # the BOM says UTF-8, as French text in UTF-8 does
        offset = 0
        while chunk := handle.read(CHUNK):
            if b"\x00" in chunk:
                raise IngestError("binary content (NUL bytes): this is not a text CSV file", source=path.name,
                                  line=_line_at(path, offset + chunk.index(b"\x00")))
            if utf8:
                try:
                    decoder.decode(chunk)
                    # evidence is French text in UTF-8, not any byte a cp1252 file may hold
                    # (É before a no-break space decodes as UTF-8; so may a chunk's last byte)
                    utf8_text = utf8_text or _holds_french_utf8(chunk)
                except UnicodeDecodeError:
                    utf8 = False
            if not utf8 and cp1252_possible and not _CP1252_UNDEFINED.isdisjoint(chunk):
                cp1252_possible = False
            if not utf8 and not utf8_text:
                utf8_text = _holds_french_utf8(chunk)
            offset += len(chunk)
        if utf8:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8 = False
    if utf8:
        return "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
    if utf8_text:
        raise IngestError("the file mixes encodings: it holds UTF-8 text, but this line is not UTF-8 (save the "
                          "file in one encoding, or force one with --encoding)", source=path.name,
                          line=_first_undecodable_line(path, "utf-8"))
    return "cp1252" if cp1252_possible else "latin-1"


def _garbled_utf8(path: Path, encoding: str) -> str | None:
    """The note for a forced single-byte encoding (latin-1, cp1252…) on a file that is valid
    UTF-8 holding non-ASCII text, whose accented letters it turns into mojibake. The forced
    encoding is applied (the publisher may know better), but not silently. Reading stops at the
    first byte that is not UTF-8: a file really in that encoding is rarely read far."""
    if codecs.lookup(encoding).name in ("utf-8", "utf-8-sig") or len("é".encode().decode(encoding, "replace")) != 2:
        return None  # not a single-byte encoding
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    example = None
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                text = decoder.decode(chunk)
                if example is None and not text.isascii():
                    example = next(c for c in text if not c.isascii())
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return None
    if example is None:
        return None
    garbled = example.encode("utf-8").decode(encoding, errors="replace")
    return (f"encoding forced to {encoding}, but the file is valid UTF-8: its non-ASCII letters read wrongly, "
            f"{example!r} as {garbled!r} (force utf-8, or let the encoding be detected)")


def _holds_french_utf8(chunk: bytes) -> bool:
    """Whether bytes that are not all UTF-8 hold some French UTF-8 text: the valid sequences
    are kept by a lenient decode (fast), and only when some remain the pattern looks at them."""
    return not chunk.decode("utf-8", errors="ignore").isascii() and _FRENCH_UTF8.search(chunk) is not None


def _line_at(path: Path, offset: int) -> int:
    with open(path, "rb") as handle:
        return handle.read(offset).count(b"\n") + 1


def transcode_to_utf8(path: Path, encoding: str, directory: Path | None) -> Path:
    """A UTF-8 copy of the file in ``directory`` (the home's tmp folder, on the data disk; None:
    the system's), named for the sweep of what killed loads leave there (``scratch_name``).
    A copy that cannot be written is an ``IngestError`` naming the file and the folder."""
    folder = Path(directory) if directory else Path(tempfile.gettempdir())
    target = folder / scratch_name("utf8", ".csv")
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(path, encoding=encoding, newline="") as src, _private_file(target) as dst:
            while chunk := src.read(CHUNK):
                dst.write(chunk)
    except BaseException as error:
        if target.is_file():  # not when the folder could not be made
            target.unlink()
        if isinstance(error, OSError):
            raise _not_copied(folder, error, path.name) from None
        raise
    return target


def _private_file(target: Path) -> io.TextIOWrapper:
    """A new UTF-8 text file only its owner reads: the copy holds an upload's data, a restricted
    dataset's included, and the tmp folder is often readable by every local user (``open``'s
    0644 let them read it)."""
    return os.fdopen(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600), "w", encoding="utf-8", newline="")


def _not_copied(folder: Path, error: OSError, source: str) -> IngestError:
    """The error for a UTF-8 copy that could not be written: a bare ``OSError`` named no file,
    and said nothing of which disk was full."""
    reason = "the disk is full" if error.errno == errno.ENOSPC else (error.strerror or str(error))
    return IngestError(f"its UTF-8 copy could not be written in {folder}: {reason}", source=source)


def _first_undecodable_line(path: Path, encoding: str) -> int | None:
    """The first line of a file that ``encoding`` cannot decode (for the error), read line by line."""
    decoder = codecs.getincrementaldecoder(encoding)()
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                decoder.decode(line)
            except UnicodeError:
                return number
    return None


def not_in_encoding(path: Path, encoding: str) -> IngestError:
    """The error for a file that a forced ``encoding`` cannot decode: its first such line, and
    the encoding detection finds (read on the error path only, where a full scan is cheap)."""
    try:
        detected = detect_encoding(path)
    except IngestError:  # mixed encodings, binary: no single encoding to suggest
        detected = None
    hint = f"it looks like {detected}: give that encoding, or none" if detected else "give another encoding, or none"
    return IngestError(f"the file is not {encoding} text: this line holds bytes that are not valid {encoding} "
                       f"({hint}: it is detected)", source=path.name, line=_first_undecodable_line(path, encoding))


def sniff_delimiter(sample: str) -> str:
    lines = sample.splitlines(keepends=True)
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample may cut the last line short
    text = "".join(lines[:200])
    best, best_score = ";", (-1.0, 0)
    for delimiter in DELIMITERS:
        try:
            rows = list(csv.reader(io.StringIO(text), delimiter=delimiter, quotechar='"'))
        except csv.Error:
            continue
        rows = [r for r in rows if r]
        if not rows:
            continue
        # The width most lines share, not the first line's: a title above the header ("Population
        # légale 2021, communes") made ',' the only delimiter giving two cells there, and ';' a
        # width of 1, never considered.
        width, count = _shared_width(rows)
        if width < 2:
            continue
        consistent = count / len(rows)
        score = (consistent, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _read_sample(path: Path) -> str:
    with open(path, "rb") as handle:
        data = handle.read(SAMPLE_BYTES)
    return data.decode("utf-8", errors="ignore").lstrip("\ufeff")


def _header(sample: str, delimiter: str, source: str) -> tuple[list[str], int, int]:
    """The header's labels, its first line and its last line (1-based; a quoted label may hold
    a line break). Title and blank lines above it are skipped by
    the spreadsheets' rule (``detect_header``): a line filling fewer than half the cells of the
    widest of the first lines, or holding mostly numbers, is not the header."""
    rows: list[list[str]] = []
    ends: list[int] = []  # the physical line each row ends on (a quoted field may hold line breaks)
    # newline="": lines end at \n, \r\n or a lone \r (old Mac files), as DuckDB reads them
    reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter, quotechar='"')
    try:
        for row in islice(reader, HEADER_SCAN_ROWS):
            rows.append(row)
            ends.append(reader.line_num)
    except csv.Error:
        pass  # a malformed line is reported with its number by the load itself
    if not rows:
        raise IngestError("the file is empty (no header line)", source=source, line=1)
    found = detect_header(rows)
    if found is None:
        raise IngestError("the header line is empty", source=source, line=1)
    filled = [sum(bool(cell.strip()) for cell in row) for row in rows]
    found = _below_title(rows, filled, found)
    if any(filled[above] >= filled[found] for above in range(found)):  # as full as the header: a record, not a title
        found = next(index for index, count in enumerate(filled) if count)
    return [h.strip() for h in rows[found]], (ends[found - 1] + 1 if found else 1), ends[found]


def _shared_width(rows: list[list[str]]) -> tuple[int, int]:
    """The number of cells most rows share (the widest, on a tie), and how many rows share it."""
    return max(Counter(len(row) for row in rows).items(), key=lambda item: (item[1], item[0]))


def _below_title(rows: list[list[str]], filled: list[int], found: int) -> int:
    """The header below a one-cell title line that the fill rule took for it: in a table of two
    columns a title fills half the widest line ("Population légale 2021" above ``code;nom``),
    and every record then had more cells than the header and was refused. Taken only where the
    lines below share more cells than it and one of them reads as a header (``detect_header``)."""
    shared, _ = _shared_width([row for row, count in zip(rows, filled) if count])
    if filled[found] != 1 or len(rows[found]) >= shared:
        return found
    below = detect_header(rows[found + 1:])
    if below is None or len(rows[found + 1 + below]) != shared:
        return found
    return found + 1 + below


def locate_error(path: Path, delimiter: str, width: int, max_line_bytes: int, header_line: int = 1) \
        -> tuple[int, str] | None:
    """Re-read the file with Python's csv module to find the first malformed record below the
    header (on ``header_line``: the lines above it are a title, not records)."""
    csv.field_size_limit(max(max_line_bytes, 1 << 20))
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter, quotechar='"', strict=True)
        record_end = 0
        try:
            for row in reader:
                if reader.line_num > header_line and row and len(row) != width:  # DuckDB skips blank lines
                    return reader.line_num, f"{len(row)} fields where the header has {width}"
                record_end = reader.line_num
        except csv.Error as error:
            if "unexpected end of data" in str(error):
                return record_end + 1, "a quoted field opened here is never closed"
            return reader.line_num, f"malformed CSV ({error})"
    return None


def _shown(delimiter: str) -> str:
    return {"\t": "tab"}.get(delimiter, repr(delimiter))


def _looks_separated_by(sample: str, delimiter: str) -> str | None:
    """Another delimiter the sniffer finds in the first lines, splitting them in several fields."""
    sniffed = sniff_delimiter(sample)
    if sniffed == delimiter:
        return None
    first = next((line for line in sample.splitlines() if line.strip()), "")
    try:
        fields = next(csv.reader([first], delimiter=sniffed, quotechar='"'), [])
    except csv.Error:
        return None
    return sniffed if len(fields) > 1 else None


def _first_data_line(path: Path, delimiter: str, header_end: int, max_line_bytes: int) -> int | None:
    """The first line below the header (ending on ``header_end``) that holds a record."""
    csv.field_size_limit(max(max_line_bytes, 1 << 20))
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter, quotechar='"')
        start = 0
        try:
            for row in reader:
                if start >= header_end and any(cell.strip() for cell in row):
                    return start + 1
                start = reader.line_num
        except csv.Error:
            return start + 1
    return None


def lines_of(path: Path, delimiter: str, header_end: int, wanted: dict[int, str], max_line_bytes: int) -> dict[int, int]:
    """For each field position of ``wanted``, the line where the first record below the header
    (ending on ``header_end``) holding its value starts (``_common.lines_holding``): where a
    value that could not be read is. A malformed line ends the search with what was found."""
    csv.field_size_limit(max(max_line_bytes, 1 << 20))

    def records() -> Iterator[tuple[int, list[str]]]:
        reader = csv.reader(handle, delimiter=delimiter, quotechar='"')
        start = 0
        try:
            for row in reader:
                if start >= header_end:
                    yield start + 1, row
                start = reader.line_num
        except csv.Error:
            return

    with open(path, encoding="utf-8-sig", newline="") as handle:
        return lines_holding(records(), wanted)


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _duckdb_reason(error: Exception) -> str:
    """The engine's reason, without what the IngestError already says (the line) or cannot use
    (the echoed line, the reader's options, the fixes in DuckDB's own terms): its first line is
    often only "CSV Error on Line: N", the reason being on the next."""
    lines = [line.strip() for line in str(error).strip().splitlines()]
    if "Possible fixes:" in lines:
        lines = lines[:lines.index("Possible fixes:")]
    for line in lines:
        reason = re.sub(r"^(Invalid Input Error: )?CSV Error on Line: \d+", "", line).strip()
        if reason and not reason.startswith(("Original Line:", "file =")):
            return reason[:300]
    return lines[0][:300]


def read_csv(path: Path, options: ReadOptions) -> RawTable:
    source = path.name
    if path.stat().st_size == 0:
        raise IngestError("the file is empty", source=source)
    encoding = (options.encoding or detect_encoding(path)).lower()
    notes = [f"encoding {encoding}"]
    cleanup: list[Path] = []
    utf8_path = path
    if (misfit := encoding_misfit(encoding)) is not None:  # a load checked it before its version: a direct read
        raise IngestError(misfit, source=source)
    if encoding not in ("utf-8", "utf-8-sig", "utf8"):
        if options.encoding and (note := _garbled_utf8(path, encoding)):
            notes.append(note)
        try:
            utf8_path = transcode_to_utf8(path, encoding, options.tmp_dir)
        except UnicodeError:
            raise not_in_encoding(path, encoding) from None
        cleanup.append(utf8_path)
    try:  # the loader removes the copy of a table it was handed (``RawTable.cleanup``), not of a refused file
        sample = _read_sample(utf8_path)
        delimiter = options.delimiter or ("\t" if options.format == "tsv" else sniff_delimiter(sample))
        if (misfit := delimiter_misfit(delimiter)) is not None:
            raise IngestError(misfit, source=source)
        notes.append("delimiter " + _shown(delimiter))
        labels, header_line, header_end = _header(sample, delimiter, source)
    except BaseException:
        for leftover in cleanup:
            leftover.unlink(missing_ok=True)
        raise
    if options.delimiter and len(labels) == 1 and (looks := _looks_separated_by(sample, delimiter)):
        notes.append(f"the forced delimiter {_shown(delimiter)} is not in the header: one column per line "
                     f"(the file looks {_shown(looks)}-separated)")
    if header_line > 1:
        notes.append(f"header on line {header_line} ({header_line - 1} line(s) above it skipped)")
    names = unique_names(labels)

    def stage(con: duckdb.DuckDBPyConnection, table: str) -> None:
        # A view, not a table: the file is parsed as it is scanned, so memory stays flat
        # whatever its size; the loader's passes (sample, check, write) each scan it.
        columns = "{" + ", ".join(f"{_sql_string(n)}: 'VARCHAR'" for n in names) + "}"
        con.execute(
            f'CREATE TEMP VIEW "{table}" AS SELECT * FROM read_csv({_sql_string(str(utf8_path))}, '
            f"delim={_sql_string(delimiter)}, quote='\"', escape='\"', header=true, skip={header_line - 1}, "
            f"auto_detect=false, columns={columns}, allow_quoted_nulls=false, null_padding=false, "
            f"max_line_size={int(options.max_line_bytes)}, buffer_size={max(2 * int(options.max_line_bytes), 32 << 20)}, "
            f"parallel=true)"
        )
        # DuckDB reads no record at all, and says nothing, when the header line is malformed CSV
        # for the delimiter (a forced ',' on a ';' file with quoted labels): a file with data
        # lines must never load empty without an error.
        if con.execute(f'SELECT 1 FROM "{table}" LIMIT 1').fetchone() is None:
            if (error := nothing_read()) is not None:
                raise error

    def nothing_read() -> IngestError | None:
        """The error for a file whose records all vanished: its first malformed line, else its
        first data line; None when the file holds no data line (a header alone is no error)."""
        hint = ""
        if options.delimiter and (looks := _looks_separated_by(sample, delimiter)):
            hint = f"; the file looks {_shown(looks)}-separated, but the delimiter was forced to {_shown(delimiter)}"
        try:
            found = locate_error(utf8_path, delimiter, len(names), options.max_line_bytes, header_end)
        except UnicodeError:
            return not_in_encoding(path, encoding)
        if found:
            return IngestError(f"no record could be read: {found[1]}{hint}", source=source, line=found[0])
        first = _first_data_line(utf8_path, delimiter, header_end, options.max_line_bytes)
        if first is None:
            return None
        return IngestError(f"no record could be read from this line on{hint}", source=source, line=first)

    def diagnose(error: Exception) -> IngestError:
        if "Maximum line size" in str(error):
            return IngestError(f"a line is longer than the {options.max_line_bytes:,} bytes allowed", source=source)
        try:
            found = locate_error(utf8_path, delimiter, len(names), options.max_line_bytes, header_line)
        except UnicodeError:  # only a file forced as UTF-8 is read untranscoded without being checked
            return not_in_encoding(path, encoding)
        if found:
            return IngestError(found[1], source=source, line=found[0])
        match = re.search(r"Line: (\d+)", str(error))
        return IngestError(_duckdb_reason(error), source=source, line=int(match.group(1)) if match else None)

    def locate_values(wanted: dict[str, str]) -> dict[str, int]:
        lines = lines_of(utf8_path, delimiter, header_end, {names.index(n): v for n, v in wanted.items()},
                         options.max_line_bytes)
        return {names[position]: line for position, line in lines.items()}

    return RawTable(source=source, labels=labels, names=names, stage=stage, notes=notes, cleanup=cleanup,
                    diagnose=diagnose, locate_values=locate_values)
