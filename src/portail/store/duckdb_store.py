"""Record storage in DuckDB: one immutable database file per dataset version.

Layout: ``<root>/<dataset_uid>/v<number>.duckdb``. A version is written under a
``.building`` name by one process holding the dataset's lock, checkpointed, fsynced and
renamed into place: a reader never sees a half-written file, and a killed build leaves only a
``.building`` file that the next build sweeps away. Data derived from a version (a
reference's geo index, its index and page files) lives beside it as ``v<number>.duckdb.<kind>``
and goes with it; so does the file it was loaded from when nothing else keeps it (an upload), in
the folder ``v<number>.duckdb.source``, for reloads. The catalogue names a version by its path
relative to ``<root>``, so a home can move (``catalog.models.StoreLocation``); this store is
handed absolute paths.
Which version is *current* is not decided here: the catalogue holds that pointer (one
transactional source of truth, shared by every API node), so publishing and rolling back never
touch these files.

Readers attach version files read-only into one in-memory DuckDB per process; since a file
never changes once renamed, an attachment never needs invalidating.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import stat
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import sqlglot
from sqlglot import exp

from portail.store import abandon, fulltext, keys, pages, postings, record_ids
from portail.store.base import Prepared
from portail.store.engine import ResourceExhausted, Sharing, connect, ensure_spatial, exhausted, uses_spatial

RECORDS = "records"
META = "portail_version"
_BUILD_ALIAS = "build"
#: The block size of a wide version's file (``begin_version(narrow=True)``), the engine's
#: smallest. Writing a table, and scanning one not yet checkpointed, holds a block of each
#: column in memory (256 KB by default): 2,000 columns of a few thousand rows held the whole
#: 512 MB of a load. Ordinary tables keep the default: small blocks make a file ~20% larger.
NARROW_BLOCK_SIZE = 16_384
_SCRATCH_ALIAS = "scratch"
#: Rows per row group in a version's index file. The engine skips data a row group at a time
#: (zone maps) and an index read wants a few rows of a sorted table: groups of 16,384 rows
#: instead of the default 122,880 make the reads 2-4x faster on 2 M records (a SIRET's key rows
#: 2.5 -> 0.9 ms, a five-digit prefix over three key fields 4.1 -> 0.9 ms, its postings 1.7 ->
#: 0.75 ms), for a file 16 % larger (84 -> 97 MB) built 0.6 s slower (7.2 -> 7.8 s).
INDEX_ROW_GROUP = 16_384
_UID = re.compile(r"^[A-Za-z0-9_\-]+$")
#: A version's file (``v000002.duckdb``) or one derived from it (``….index``, ``….pages``…); not a
#: build's leftover (``….building``, which ``_sweep`` removes).
_VERSION_FILE = re.compile(r"^(v(\d+)\.duckdb)(?!.*\.building)(?:\..+)?$")
#: A call of one of the spatial extension's functions in SQL (``DuckDBStore._with_spatial``).
_SPATIAL_CALL = re.compile(r"\bST_\w+\s*\(", re.IGNORECASE)
#: The suffix of the folder beside a version's file holding its kept source (``keep_source``).
SOURCE_FOLDER = ".source"
log = logging.getLogger(__name__)


class _KeyLocks:
    """A lock per key (a version's file), made when first asked for and dropped once nobody
    holds it or waits for it: callers of one key take turns, other keys' callers never wait."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        #: Each key's lock with the number of callers holding it or waiting for it.
        self._locks: dict[Hashable, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, key: Hashable) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)


@dataclass(frozen=True)
class VersionInfo:
    location: str
    row_count: int
    size_bytes: int


def fsync_path(path: Path) -> None:
    """Flush a file (or a directory's entries) to disk, so that a rename publishes complete data."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class Workspace:
    """A finished build's workspace, emptied (``VersionBuild.finish(keep=True)``), for its
    version's index build (``DuckDBStore.build_indexes``), which closes it: a second workspace
    cost its opening and, for a version with geometry, a second load of the spatial extension
    (~0.3 s of CPU each, ~0.6 s on a busy host: the engine checks the 80 MB file's signature),
    most of a small geo dataset's load. Its holder closes it whatever happens (``close``, which
    a second call leaves as it is)."""

    con: duckdb.DuckDBPyConnection
    spill: Path

    def close(self) -> None:
        close_build(self.con, self.spill)


class VersionBuild:
    """A version being written. Use ``con`` (a workspace with the new file attached as
    ``build``) to stage and transform, then ``create_records`` or ``append``, then ``finish``.
    Anything but ``finish`` leaves no file behind."""

    def __init__(self, path: Path, con: duckdb.DuckDBPyConnection, spill: Path, block_size: int | None = None):
        self.final_path = path
        self.building_path = path.with_name(path.name + ".building")
        self.con = con
        self.spill = spill  # the workspace's own spill folder, removed with it (``close_build``)
        self._has_records = False
        self._scratch = False
        #: The workspace ``finish(keep=True)`` handed over, emptied; its taker closes it.
        self.workspace: Workspace | None = None
        options = f" (BLOCK_SIZE {int(block_size)})" if block_size else ""
        self.con.execute(f"ATTACH '{self.building_path}' AS {_BUILD_ALIAS}{options}")

    def scratch(self) -> str:
        """The alias of a database of narrow blocks (``NARROW_BLOCK_SIZE``) in the workspace's
        spill folder, removed with it: for intermediate tables too wide for the workspace's own
        blocks, which tables dropped from the version's file would have left there as free space."""
        if not self._scratch:
            location = self.spill / "scratch.duckdb"
            self.con.execute(f"ATTACH '{location}' AS {_SCRATCH_ALIAS} (BLOCK_SIZE {NARROW_BLOCK_SIZE})")
            self._scratch = True
        return _SCRATCH_ALIAS

    def use_spatial(self) -> None:
        """The spatial extension in a workspace opened without it (``engine.ensure_spatial``): a
        build that meets no geometry never pays its ~0.25 s of CPU (most loads; most of a test run's)."""
        ensure_spatial(self.con)

    def create_records(self, select: exp.Expression, sort_by: Sequence[str] = ()) -> None:
        """Materialize the records table from a query over the workspace (the fast path)."""
        query = select.copy()
        if sort_by:
            query = exp.select("*").from_(query.subquery("q")).order_by(*[exp.column(c, quoted=True) for c in sort_by])
        target = exp.Table(this=exp.to_identifier(RECORDS), db=exp.to_identifier(_BUILD_ALIAS))
        ddl = exp.Create(this=target, kind="TABLE", expression=query)
        self.con.execute(ddl.sql(dialect="duckdb"))
        self._has_records = True

    def append(self, batches: pa.RecordBatchReader) -> None:
        """Append Arrow batches (the path for processors and non-DuckDB sources)."""
        self.con.register("__portail_batches", batches)
        try:
            if self._has_records:
                self.con.execute(f"INSERT INTO {_BUILD_ALIAS}.{RECORDS} SELECT * FROM __portail_batches")
            else:
                self.con.execute(f"CREATE TABLE {_BUILD_ALIAS}.{RECORDS} AS SELECT * FROM __portail_batches")
                self._has_records = True
        finally:
            self.con.unregister("__portail_batches")

    def finish(self, meta: dict[str, Any], keep: bool = False) -> VersionInfo:
        """Write the version's file and rename it into place; ``keep``: its workspace is not
        closed but emptied and handed over (``workspace``), for the version's index build."""
        if not self._has_records:
            raise RuntimeError("a version needs its records before it can be finished")
        rows = self.con.execute(f"SELECT count(*) FROM {_BUILD_ALIAS}.{RECORDS}").fetchone()[0]
        self.con.execute(f"CREATE TABLE {_BUILD_ALIAS}.{META} (meta JSON)")
        self.con.execute(f"INSERT INTO {_BUILD_ALIAS}.{META} VALUES (?)", [json.dumps(meta, default=str)])
        self.con.execute(f"CHECKPOINT {_BUILD_ALIAS}")
        self.con.execute(f"DETACH {_BUILD_ALIAS}")
        if keep:
            try:
                self._empty()
                self.workspace = Workspace(self.con, self.spill)
            except duckdb.Error:  # the version is written: its index build opens a workspace of its own
                log.warning("build workspace of %s not emptied: closed", self.final_path, exc_info=True)
                close_build(self.con, self.spill)
        else:
            close_build(self.con, self.spill)
        fsync_path(self.building_path)
        os.replace(self.building_path, self.final_path)
        fsync_path(self.final_path.parent)
        return VersionInfo(str(self.final_path), rows, self.final_path.stat().st_size)

    def _empty(self) -> None:
        """Drop what the build left in its workspace: its staged values (temporary tables, spilled
        perhaps), its views, the databases it attached (references, its scratch, whose file goes),
        so that the index build runs with the memory and spill space a workspace of its own had."""
        left = self.con.execute(
            "SELECT 'TABLE', database_name, schema_name, table_name FROM duckdb_tables() WHERE database_name IN "
            "('memory', 'temp') UNION ALL SELECT 'VIEW', database_name, schema_name, view_name FROM duckdb_views() "
            "WHERE NOT internal AND database_name IN ('memory', 'temp')").fetchall()
        for kind, *name in left:
            self.con.execute(f"DROP {kind} IF EXISTS " + ".".join('"' + part.replace('"', '""') + '"' for part in name))
        attached = self.con.execute("SELECT database_name FROM duckdb_databases() WHERE NOT internal "
                                    "AND database_name <> 'memory'").fetchall()
        for (name,) in attached:
            self.con.execute('DETACH "' + name.replace('"', '""') + '"')
        if self._scratch:
            for leftover in self.spill.glob("scratch.duckdb*"):
                remove_leftover(leftover)

    def abort(self) -> None:
        try:
            close_build(self.con, self.spill)
        finally:
            for leftover in self.final_path.parent.glob(self.building_path.name + "*"):
                remove_leftover(leftover)


class DuckDBStore:
    """The default store. Thread-safe for readers; one builder per dataset at a time."""

    def __init__(self, root: Path, *, memory_limit: str = "1GB", threads: int = 0, tmp_dir: Path | None = None,
                 query_memory_limit: str | None = None, fulltext_resolve: int = fulltext.RESOLVE):
        self.root = Path(root).absolute()  # what the catalogue's locations are relative to
        private_root(self.root)
        self.memory_limit = memory_limit
        self.query_memory_limit = query_memory_limit
        self.threads = threads
        #: Full-text matches in at most this many rows become constants when bound (0: never).
        self.fulltext_resolve = fulltext_resolve
        self.tmp_dir = Path(tmp_dir) if tmp_dir else self.root / ".tmp"
        self._reader: duckdb.DuckDBPyConnection | None = None
        #: Whether the reader has the spatial extension loaded (``_with_spatial``).
        self._spatial = False
        #: The reader's spill folder, held while it is open (``_held_folder``).
        self._reader_spill: HeldFolder | None = None
        self._attached: dict[str, str] = {}
        #: Versions' indexes with the alias they are read under (once found).
        self._fulltext: dict[str, tuple[fulltext.Index | None, str]] = {}
        #: Versions without indexes inside their file (whose index file is looked for at each call).
        self._bare: set[str] = set()
        #: Versions whose records have a column named ``rowid`` (``_shadows_rowid``): their
        #: index and page files are never read. A property of the immutable file: kept for good.
        self._shadowed: set[str] = set()
        #: Versions whose index file is of an older folding of words, with that file's stamp: not
        #: read (scans answer) until a reindex replaces the file (``_index``).
        self._stale: dict[str, tuple[int, int]] = {}
        self._lookups = fulltext.LookupMemo()
        #: Versions' page files once opened (one not written yet is looked for again at each page).
        self._pages: dict[str, pages.PageFile] = {}
        #: Versions whose postings file failed to open for a passing reason (``_passing``), with
        #: the token it must bear: opened again at their next call (``_index``).
        self._postings_due: dict[str, str] = {}
        #: Files that failed to open for a passing reason (``_passing``) and were logged with
        #: their traceback (``_say_passing``): tried again at each call, they are said again at
        #: debug only, until one opens (or its version is let go).
        self._said: set[Path] = set()
        #: Bumped by ``close``: a first read (``_alias``, ``_read_index``) begun before remembers
        #: nothing: what it attached went with the closed reader, and remembered for the next
        #: one, an alias attached nowhere failed every call of its version ("Catalog … does not
        #: exist"), an index file whose read the close broke was taken for stale (scans answered
        #: its searches), until a restart. The call itself may fail: its reader was closed.
        self._generation = 0
        #: Calls reading each version now (``_using``): ``release`` leaves those attached …
        self._busy: Counter[str] = Counter()
        #: … and marks them here, detached when their last call ends.
        self._doomed: set[str] = set()
        #: Guards the dictionaries above for a moment: nothing slow runs under it (a file's first
        #: read does not: ``_first_reads``).
        self._lock = threading.Lock()
        #: A version's first reads of its files (attaching it, its index file; opening its postings
        #: and page files), one at a time per version and file: on a cold cache or network storage
        #: such a read takes seconds, and under the store's ``_lock`` every other dataset's call
        #: waited for it.
        self._first_reads = _KeyLocks()
        #: Held by a statement that may list the reader's databases and by a ``DETACH``: a
        #: version detached and attached again under its alias between two listings of one
        #: statement (``duckdb_tables()`` then ``duckdb_views()``, as ``fulltext.read_index``
        #: once asked) is two databases of one name in one transaction, which DuckDB 1.5 takes
        #: for an internal error and invalidates the whole reader ("database has been
        #: invalidated"; every later call failed until a restart, or the process crashed).
        #: ``fulltext.read_index`` now looks its tables up by name (a missing name's error still
        #: lists them: that probe alone holds it) and reads rows without it: held for a whole
        #: index read, a slow one held every release and reindex. Under ``_lock`` the two never
        #: met; a first read now runs outside it. Never taken before ``_lock``: ``_forget``
        #: takes it under ``_lock``.
        self._detaching = threading.Lock()
        self._opening = threading.Lock()
        #: The reader's queries, which share its memory limit (``_reading``).
        self._sharing = Sharing()

    # -- writing ---------------------------------------------------------------------------
    def dataset_dir(self, uid: str) -> Path:
        if not _UID.match(uid):
            raise ValueError(f"invalid dataset uid {uid!r}")
        return self.root / uid

    def version_path(self, uid: str, number: int) -> Path:
        return self.dataset_dir(uid) / f"v{number:06d}.duckdb"

    @contextmanager
    def lock(self, uid: str) -> Iterator[None]:
        """Exclusive, process-crash-safe lock on a dataset's builds (the OS drops it on kill)."""
        directory = self.dataset_dir(uid)
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                self._sweep(directory)
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def loading(self, uid: str) -> bool:
        """Whether a load holds the dataset's lock now (``lock``), in any process sharing the home."""
        return bool(_locked(self.dataset_dir(uid) / ".lock"))

    @staticmethod
    def _sweep(directory: Path) -> None:
        """Remove what a killed build left. Safe: the caller holds the dataset lock."""
        for leftover in directory.glob("*.building*"):
            remove_leftover(leftover)

    def sweep_versions(self, uid: str, counted: Mapping[int, str | None]) -> list[str]:
        """Remove a dataset's version files (with what was derived from them) that no version the
        catalogue still counts uses: the file of a load that failed after its rename (the
        catalogue's commit refused on a full disk, a kill before it), of a prune killed before
        deleting, of a version the catalogue never recorded. ``counted``: the versions building or
        ready, with their files. The caller holds the dataset's lock and has had the catalogue
        mark dead builds failed: on nodes sharing the home, a file goes only when the shared
        catalogue says its version failed, was pruned or does not exist, and no counted version
        names it. Only files and kept-source folders go: anything else at such a name was not
        written by a build.
        Returns the versions whose files were removed."""
        used = {Path(location).resolve() for location in counted.values() if location}
        stray: dict[str, list[Path]] = {}
        for path in self.dataset_dir(uid).glob("v*.duckdb*"):
            match = _VERSION_FILE.match(path.name)
            if match is None or int(match[2]) in counted:
                continue
            if not (path.is_file() or (path.is_dir() and path.name == match[1] + SOURCE_FOLDER)):
                continue
            version = path.with_name(match[1])
            if version.resolve() not in used:
                stray.setdefault(str(version), []).append(path)
        for location, paths in sorted(stray.items()):
            self._detach(location)
            for path in paths:
                remove_leftover(path)
        return sorted(stray)

    def begin_version(self, uid: str, number: int, spatial: bool = True, narrow: bool = False) -> VersionBuild:
        """A build of version ``number``; without ``spatial``, its workspace has no ``ST_*``
        functions until the builder asks for them (``VersionBuild.use_spatial``); ``narrow``:
        a file of small blocks, for a table of thousands of columns (``NARROW_BLOCK_SIZE``)."""
        path = self.version_path(uid, number)
        if path.exists():
            raise FileExistsError(f"version {number} of {uid} already exists")
        path.parent.mkdir(parents=True, exist_ok=True)
        con, spill = self._build_connection(spatial)
        try:
            # Parallel writes without holding rows back to keep the input order: memory stays flat
            # and no checkpoint rewrite is needed. Records have no intrinsic order (as on
            # Opendatasoft, the order is unspecified without order_by); versions sort on facet keys.
            con.execute("SET preserve_insertion_order = false")
            return VersionBuild(path, con, spill, NARROW_BLOCK_SIZE if narrow else None)
        except BaseException:
            close_build(con, spill)
            raise

    def _build_connection(self, spatial: bool) -> tuple[duckdb.DuckDBPyConnection, Path]:
        """A build's workspace and the spill folder of its own it was given (``scratch_name``),
        which the caller removes with it (``close_build``). The engine names its spill files
        alike in every database (``duckdb_temp_storage_S128K-0.tmp``): two builds spilling into
        one folder, in two processes or two threads, overwrote each other's blocks (a loader
        crashed, another's index build failed). What killed builds left is swept first."""
        _private_folder(self.tmp_dir)  # spilled records: its owner's alone
        sweep_scratch(self.tmp_dir)
        spill = self.tmp_dir / scratch_name("build")
        spill.mkdir(mode=0o700)
        try:
            con = connect(memory_limit=self.memory_limit, threads=self.threads, temp_directory=str(spill),
                          spatial=spatial)
        except BaseException:
            remove_leftover(spill)
            raise
        return con, spill

    def drop_version(self, location: str) -> None:
        """Remove a version's file with what was derived from it (its ``.wal``, files named
        ``<version file>.<kind>`` such as a reference's geo index). A file outside this store's
        folder is let go of, never deleted: a catalogue copied from another instance (a restored
        backup, a staging clone) names that instance's files, and pruning there deleted them."""
        self._detach(location)
        if not Path(location).resolve().is_relative_to(self.root.resolve()):
            log.warning("not deleting %s: outside this instance's data folder %s", location, self.root)
            return
        path = Path(location)
        path.unlink(missing_ok=True)
        for derived in path.parent.glob(path.name + ".*"):
            remove_leftover(derived)  # a file, or the folder of its kept source

    def source_folder(self, uid: str, number: int) -> Path:
        """Where a version's kept source lives (``keep_source``): beside its file, going with it."""
        return self.version_path(uid, number).with_name(f"v{number:06d}.duckdb{SOURCE_FOLDER}")

    def keep_source(self, uid: str, number: int, path: Path, *, move: bool) -> Path:
        """Keep ``path``, the file version ``number`` was loaded from, for reloads: an upload is
        deleted after its load, so without this a dataset uploaded through the API could never be
        reloaded (to apply a field override or a pipeline changed since). ``move`` (an upload,
        which nothing else needs) moves it; otherwise (the kept source of an earlier version, read
        again) it is hard-linked, so versions sharing one file cost its size once, or copied
        across file systems. Written under a ``.building`` name then renamed: a killed load leaves
        nothing the next build does not sweep. The caller holds the dataset's lock."""
        final = self.source_folder(uid, number)
        building = final.with_name(final.name + ".building")
        remove_leftover(building)
        building.mkdir(parents=True)
        target = building / path.name
        try:
            if move:
                shutil.move(path, target)
            else:
                try:
                    os.link(path, target)
                except OSError:  # another file system, or one without hard links
                    shutil.copyfile(path, target)
            remove_leftover(final)  # a stray of a version numbered alike, whose catalogue entry is gone
            os.replace(building, final)
        except BaseException:
            remove_leftover(building)
            raise
        fsync_path(final.parent)
        return final / path.name

    def kept_source(self, uid: str, number: int) -> Path | None:
        """The source kept for version ``number`` (``keep_source``), if any."""
        folder = self.source_folder(uid, number)
        files = [entry for entry in folder.iterdir() if entry.is_file()] if folder.is_dir() else []
        return files[0] if len(files) == 1 else None

    def holds_source(self, path: Path) -> bool:
        """Whether ``path`` is a source this store keeps (``keep_source``), which a reload reads."""
        folder = Path(path).absolute().parent
        return (folder.name.endswith(".duckdb" + SOURCE_FOLDER) and _UID.match(folder.parent.name) is not None
                and folder.parent.parent == self.root)

    def build_indexes(self, location: str, text_fields: Sequence[str], single_valued: Sequence[str],
                      page_columns: Sequence[exp.Expression] = (), workspace: Workspace | None = None,
                      id_expression: exp.Expression | None = None) -> None:
        """Write the full-text and key indexes of a version into its index file (``index_path``),
        aside then renamed, like the version; then, given the outputs a page shows
        (``page_columns``, aliased expressions over ``records``), its page file
        (``store.pages``). Run after the version is published: its records are served meanwhile
        (full text by scanning, keys as plain conditions, pages from the records), and readers
        use each file as soon as it appears. The caller holds the dataset's lock.

        One connection builds both, with the spatial extension only if a page shows geometry:
        opening one with it costs ~0.2 s, as much as a small dataset's whole index. It is the
        version's build's ``workspace`` when handed one (a load: ``VersionBuild.finish``), closed
        here like a workspace of its own. Given the version's own record id (``id_expression``),
        the index file holds its id table too (``store.record_ids``: big versions only)."""
        spatial = uses_spatial(page_columns)
        if workspace is None:
            con, spill = self._build_connection(spatial)
        else:
            con, spill = workspace.con, workspace.spill
        try:
            if workspace is not None and spatial:
                ensure_spatial(con)  # loaded already when the build met geometry
            con.execute(f"ATTACH '{location}' AS src (READ_ONLY)")
            self._build_index_file(con, location, text_fields, single_valued, id_expression)
            if page_columns:
                self._build_page_file(con, location, page_columns)
            else:  # none wanted (turned off): one written before goes (open readers keep their map)
                pages.page_path(location).unlink(missing_ok=True)
        finally:
            close_build(con, spill)

    @staticmethod
    def _build_page_file(con: duckdb.DuckDBPyConnection, location: str, page_columns: Sequence[exp.Expression]) -> None:
        final = pages.page_path(location)
        building = final.with_name(final.name + ".building")
        try:
            written = pages.write(con, exp.table_(RECORDS, db="main", catalog="src"), page_columns, building)
        except BaseException:
            remove_leftover(building)
            raise
        if not written:
            remove_leftover(building)
            return
        fsync_path(building)
        os.replace(building, final)
        fsync_path(final.parent)

    @staticmethod
    def _build_index_file(con: duckdb.DuckDBPyConnection, location: str, text_fields: Sequence[str],
                          single_valued: Sequence[str], id_expression: exp.Expression | None = None) -> None:
        final = index_path(location)
        building = final.with_name(final.name + ".building")
        building.unlink(missing_ok=True)
        spread_path = postings.postings_path(location)
        spread = spread_path.with_name(spread_path.name + ".building")  # the postings file, written aside too
        try:
            con.execute("SET preserve_insertion_order = false")
            con.execute(f"ATTACH '{building}' AS {_BUILD_ALIAS} (ROW_GROUP_SIZE {INDEX_ROW_GROUP})")
            source = exp.table_(RECORDS, db="main", catalog="src")
            keyed, one_word = keys.choose(con, source, single_valued)
            keys.build(con, _BUILD_ALIAS, keyed, source)
            if id_expression is not None:
                record_ids.build(con, _BUILD_ALIAS, id_expression, source)
            fulltext.build(con, _BUILD_ALIAS, text_fields, one_word, source)
            token = uuid.uuid4().hex
            con.execute(f"CREATE TABLE {_BUILD_ALIAS}.main.{postings.TOKEN_TABLE} AS SELECT ? AS token", [token])
            con.execute(f"CHECKPOINT {_BUILD_ALIAS}")
            spread_written = _write_postings(con, f'"{_BUILD_ALIAS}".main.{fulltext.POSTINGS}', spread, token)
            con.execute(f"DETACH {_BUILD_ALIAS}")
        except BaseException:
            con.close()  # the half-built file is closed before it is removed
            for leftover in [*final.parent.glob(building.name + "*"), spread]:
                remove_leftover(leftover)
            raise
        renames = [(building, final)]
        if spread_written:  # first: a reader that finds the index file finds its postings file
            renames.insert(0, (spread, spread_path))
        else:  # one of an earlier build would never be read again (another token)
            spread_path.unlink(missing_ok=True)
        for done, path in renames:
            fsync_path(done)
            os.replace(done, path)
        fsync_path(final.parent)

    def drop_dataset(self, uid: str) -> None:
        directory = self.dataset_dir(uid)
        for path in directory.glob("*.duckdb"):
            self._detach(str(path))
        shutil.rmtree(directory, ignore_errors=True)

    # -- reading ---------------------------------------------------------------------------
    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._reader is None:
            with self._opening:
                if self._reader is None:
                    # Its own spill folder: DuckDB's temporary file names are not unique across processes.
                    spill = _held_folder(self.tmp_dir, "reader")
                    try:
                        reader = connect(threads=self.threads, memory_limit=self.query_memory_limit,
                                         temp_directory=str(spill.path), spatial=False)
                    except BaseException:
                        spill.release()
                        raise
                    self._reader_spill = spill
                    # DuckDB 1.5.5 with spatial loaded fails (an INTERNAL error) on a negated
                    # row-id list, ``NOT (rowid IN (…))``, which a negated full-text search
                    # resolved by the index becomes: the spatial extension's optimizer rule with
                    # the filter pushdown. That rule rewrites spatial joins, which no records
                    # query makes (processors join on their own connections).
                    reader.execute("SET GLOBAL disabled_optimizers = 'extension'")
                    self._reader = reader
        return self._reader

    def _with_spatial(self, sql: str | None = None) -> None:
        """Load the spatial extension into the reader once a query calls its ``ST_*`` functions
        (``sql``), or now (no ``sql``: a server starting, ``warm``; a caller's raw cursor). The
        reader opens without it: loading it costs ~0.4 s of CPU (the engine checks the 80 MB
        file's signature), paid once by a server's worker but by every store a process opens
        (a test suite's thousands), and most queries never meet a ``ST_*`` function; a
        GEOMETRY column reads without it (the type is the engine's own). Loading it while other
        queries run is what the engine's own autoloading does."""
        if self._spatial or (sql is not None and not _SPATIAL_CALL.search(sql)):
            return
        reader = self._connection()
        with self._opening:
            if not self._spatial:
                with reader.cursor() as cur:  # its own: others run ATTACH on the reader meanwhile
                    ensure_spatial(cur)
                with self._lock:  # a close() meanwhile: the next reader has not loaded it
                    if self._reader is reader:
                        self._spatial = True

    def _alias(self, location: str) -> str:
        """The alias a version is attached under, attaching it at its first call: outside the
        store's ``_lock`` (other versions' calls go on meanwhile), once (its other callers wait
        for it, then find it attached). The caller reads the version (``_using``), so that no
        ``release`` detaches it before it is remembered."""
        with self._lock:
            alias = self._attached.get(location)
        if alias is not None:
            return alias
        with self._first_reads.hold(("version", location)):
            with self._lock:
                alias = self._attached.get(location)
                generation = self._generation
            if alias is not None:  # attached by the call this one waited for
                return alias
            if not Path(location).exists():
                raise FileNotFoundError(location)
            # Named after the file, so SQL prepared for a version stays valid for the life
            # of the process, even across a detach and a re-attach.
            alias = "v_" + hashlib.sha1(location.encode()).hexdigest()[:16]
            with self._reading() as cur:  # out of memory opening it: refused like any query
                _attach(cur, location, alias, self._detaching)
                shadowed = _shadows_rowid(cur, alias)
            with self._lock:
                if shadowed:
                    self._shadowed.add(location)
                if self._generation == generation:  # the reader it went to is still open (``close``)
                    self._attached[location] = alias
            return alias

    def _attach_all(self, location: str) -> None:
        """Attach a version again with its index file, as SQL from ``prepare`` may read both:
        a plan kept by a caller (``explore_service``) outlives a ``release`` between the call's
        ``has_index`` and its run, and the version alone came back (its index's catalog
        missing, the query failed: DuckDB read the name as a Python variable)."""
        self._index(location, self._alias(location))

    def _detach(self, location: str) -> None:
        """Detach a version now or, while a call still reads it (an export being downloaded
        from a version just deleted), when the last such call ends: its open file keeps
        answering them until then."""
        with self._lock:
            self._forget_when_idle(location)

    def _forget_when_idle(self, location: str) -> None:
        """Detach a version now, or once the calls reading it end (the caller holds ``_lock``)."""
        if self._busy[location]:
            self._doomed.add(location)
        else:
            self._doomed.discard(location)
            self._forget(location)

    def _forget(self, location: str) -> None:
        """Detach a version and drop what is held for it (the caller holds ``_lock``)."""
        alias = self._attached.pop(location, None)
        found = self._fulltext.pop(location, None)
        self._bare.discard(location)
        self._stale.pop(location, None)
        self._pages.pop(location, None)
        self._postings_due.pop(location, None)
        self._said.difference_update((index_path(location), postings.postings_path(location)))
        self._lookups.forget(location)
        if self._reader is not None:
            with self._detaching:
                if found is not None and found[1] != alias:
                    self._reader.execute(f"DETACH {found[1]}")
                if alias:
                    self._reader.execute(f"DETACH {alias}")

    @contextmanager
    def _using(self, location: str) -> Iterator[None]:
        """Mark a version read for the length of a call, so that ``release`` leaves it attached."""
        with self._lock:
            self._busy[location] += 1
        try:
            yield
        finally:
            with self._lock:
                self._busy[location] -= 1
                if not self._busy[location]:
                    del self._busy[location]
                    if location in self._doomed:
                        self._forget_when_idle(location)

    def release(self, keep: Collection[str]) -> list[str]:
        """Detach every version but ``keep`` (the published ones), with its indexes, page file
        and kept lookups: now, or when the last call reading it ends. A server attaches each
        version it serves; a reload's predecessor stayed attached for the life of the process,
        holding its memory and, once pruned, its deleted files' disk space. A version asked for
        again is attached again. Returns the versions let go.

        A version being read (``_busy``) counts even if nothing of it is remembered yet: its
        first attach runs outside ``_lock`` (``_alias``), and one held up on slow storage while
        its version was superseded stayed attached until the catalogue changed again."""
        with self._lock:
            held = set(self._attached) | set(self._fulltext) | set(self._pages) | set(self._busy)
            let_go = sorted(held - set(keep))
            for location in let_go:
                self._forget_when_idle(location)
        return let_go

    def _index(self, location: str, alias: str) -> tuple[fulltext.Index | None, str]:
        """A version's indexes and the alias they are read under: its index file once written
        (looked for again at every call until then: it appears after publication), or the
        version file itself (versions built before index files held their indexes inside). An
        index file of an older folding of words (``fulltext.read_index``) is no index: its file
        is stat'ed at each call, and read again once a reindex has replaced it.

        Read outside the store's ``_lock``, once per version at a time (``_first_reads``): a
        big index file read cold held every other dataset's calls. The caller reads the version
        (``_using``)."""
        with self._lock:
            found = self._fulltext.get(location)
            due = location in self._postings_due
            if location in self._shadowed:
                return None, alias
        if found is not None and not due:
            return found
        with self._first_reads.hold(("index", location)):
            return self._read_index(location, alias)

    def _read_index(self, location: str, alias: str) -> tuple[fulltext.Index | None, str]:
        """``_index`` for the one caller reading the version's index now (holding its
        ``_first_reads``), which may find it read by the caller it waited for.

        All or nothing: an index file whose reading fails (out of memory, under the reader's
        limit) is detached before the error goes on, and nothing is remembered of it. It stayed
        attached, unremembered: every later call failed attaching it again ("already exists")
        until the process restarted."""
        with self._lock:
            found = self._fulltext.get(location)
            token = self._postings_due.get(location)
            stale, bare = self._stale.get(location), location in self._bare
            generation = self._generation
        if found is not None:
            return found if token is None else self._postings_again(location, found, token, generation)
        path = index_path(location)
        stamp = _stamp(path)
        if stamp is not None and stale == stamp:
            return None, alias
        if stamp is None:  # what else lies at that name is no index (nor attachable)
            if bare:
                return None, alias
            with self._reading() as cur:
                found = (fulltext.read_index(cur, alias, self._detaching), alias)
            with self._lock:
                if self._generation == generation:  # read from the reader still open (``close``)
                    if found[0] is None:  # nothing inside: the index file may still come
                        self._bare.add(location)
                    else:
                        self._fulltext[location] = found
            return found
        index_alias = alias + "_ix"
        token = None
        with self._reading() as cur:  # out of memory reading it: refused like any query
            try:
                _attach(cur, path, index_alias, self._detaching)
                index = fulltext.read_index(cur, index_alias, self._detaching)
                if index is not None:
                    token = _postings_token(cur, index_alias, location)
            except duckdb.Error as error:
                _detach_quietly(cur, index_alias, self._detaching)
                if not _unreadable(error):
                    raise
                if _passing(error):  # the file is not at fault: read again at the next call
                    self._say_passing(path, "index file %s unreadable for now: %s served without it until it opens",
                                      path, location)
                    return None, alias
                log.warning("index file %s unreadable: %s served without it", path, location, exc_info=True)
                index = None
            except BaseException:
                _detach_quietly(cur, index_alias, self._detaching)
                raise
            if index is None:  # an older folding (or no index): nothing read it, let go now
                _detach_quietly(cur, index_alias, self._detaching)
                with self._lock:
                    if self._generation == generation:  # not a failure of a reader closed since
                        self._stale[location] = stamp
                return None, alias
        found = (index, index_alias)
        with self._lock:
            if self._generation == generation:  # attached to the reader still open (``close``)
                self._said.discard(path)
                self._fulltext[location] = found
                if token is not None:
                    self._postings_due[location] = token
        return found if token is None else self._postings_again(location, found, token, generation)

    def _postings_again(self, location: str, found: tuple[fulltext.Index, str],
                        token: str, generation: int) -> tuple[fulltext.Index, str]:
        """The version's index with its postings file once that opens (``_open_postings``):
        until then (too many files open, memory) the index is read through the engine and the
        file tried again at each call. It was remembered as absent until a ``release``."""
        path = postings.postings_path(location)
        try:
            opened = _open_postings(location, token)
        except OSError:
            self._say_passing(path, "postings file %s not opened: %s searched without it until it opens",
                              path, location)
            return found
        if opened is not None:
            found = (dataclasses.replace(found[0], postings=opened), found[1])
        with self._lock:
            if self._generation == generation and self._postings_due.pop(location, None) is not None:
                self._said.discard(path)  # not let go, nor the reader closed, meanwhile
                self._fulltext[location] = found
        return found

    def _say_passing(self, path: Path, message: str, *args: Any) -> None:
        """Log that ``path`` failed to open for a passing reason (``_passing``), with the
        traceback the first time only: it is tried again at each call, and a burst of calls
        (too many files open under a burst of downloads) logged a traceback each. Said again
        (the caller's ``message``) once it has opened, or its version been let go, in between."""
        with self._lock:
            first = path not in self._said
            self._said.add(path)
        if first:
            log.warning(message, *args, exc_info=True)
        else:
            log.debug(message, *args)

    def warm(self, locations: Iterable[str]) -> list[str]:
        """Open the reader and attach ``locations`` with their index files now (when a server
        starts), so that no caller pays them: the engine with its spatial extension costs
        ~0.2 s, a version a few milliseconds; their page files are opened and read ahead into
        the operating system's cache. Returns the versions attached; one that cannot be
        attached is left to its first call, which says why."""
        self._with_spatial()
        attached = []
        for location in locations:
            try:
                self.has_index(location)  # attaches the version, then its index file if written
                if self._page_file(location) is not None:
                    pages.prefetch(pages.page_path(location))
            except (OSError, duckdb.Error, ResourceExhausted):
                continue
            attached.append(location)
        return attached

    def has_index(self, location: str) -> bool:
        """Whether queries on a version are bound to its indexes (plans made before its index
        file appeared are not: callers that keep plans key them on this too)."""
        with self._using(location):
            return self._index(location, self._alias(location))[0] is not None

    def resolved_fields(self, location: str) -> frozenset[str]:
        """The fields whose conditions against constants a query bound to this version reads
        from its indexes (key fields: ``field = 'code'`` becomes the code's rows). A condition on
        any other field binds alike whatever its constant: a caller may keep its SQL with a
        placeholder and run it with each value."""
        with self._using(location):
            index = self._index(location, self._alias(location))[0]
        return index.keys if index is not None else frozenset()

    def _page_file(self, location: str) -> pages.PageFile | None:
        """A version's page file, opened once it is written (looked for again until then):
        outside the store's ``_lock``, once (``_first_reads``), as the version's other files."""
        if location in self._shadowed:
            return None
        found = self._pages.get(location)
        if found is None and pages.page_path(location).is_file():
            with self._first_reads.hold(("pages", location)):
                found = self._pages.get(location) or pages.PageFile.open(pages.page_path(location))
                with self._lock:
                    self._pages[location] = found
        return found

    def _bind(self, location: str, query: exp.Expression, owned: bool = False) -> Prepared:
        """Point every unqualified ``records`` table of the query at the version's file, and let
        full-text matches use the version's index when it has one (``store.fulltext``); on
        ``query`` itself when the caller hands it over (``owned``), else on a copy. A count the
        index answered carries its row; a page of rows it listed, or an unordered page without
        condition, read from the page file when that holds every output, carries their row ids."""
        if not self._spatial and uses_spatial([query]):  # before the index reads, which re-test conditions
            self._with_spatial()
        alias = self._alias(location)
        index, index_alias = self._index(location, alias)
        if index is not None:
            def read_sql(q: exp.Select) -> str:
                """An index read's SQL, repointed in place (``q`` is built for this read)."""
                return fulltext.with_scans(_repoint(q, alias, index_alias, copy=False)).sql(dialect="duckdb", copy=False)

            def lookup(q: exp.Select) -> list[tuple]:
                sql = read_sql(q)

                def run() -> list[tuple]:
                    with self._reading() as cur:
                        return cur.execute(sql).fetchall()
                return self._lookups.get(location, sql, run)

            def ids(q: exp.Select) -> Iterator[np.ndarray]:
                with self._reading() as cur:
                    reader = cur.execute(read_sql(q)).to_arrow_reader(1 << 20)
                    for batch in reader:
                        yield batch.column(0).to_numpy()

            def memo(key: Hashable, compute: Callable[[], Any]) -> Any:
                return self._lookups.get(location, key, compute, size=fulltext.weight)

            resolving = self.fulltext_resolve > 0
            query = fulltext.use_index(query, RECORDS, index, lookup if resolving else None, self.fulltext_resolve,
                                       ids if resolving else None, memo if resolving else None, copy=not owned)
            owned = True  # ``use_index`` hands back a tree of its own
        known, listed, span = fulltext.known_rows(query), fulltext.page_rows(query), fulltext.page_span(query)
        total = fulltext.page_total(query)
        # Repointed and generated in place when the tree is ours (each copy of a page's tree
        # costs ~0.4 ms, as much as the query it carries).
        query = fulltext.with_scans(_repoint(query, alias, index_alias, copy=not owned))
        sql = query.sql(dialect="duckdb", copy=False)
        found = self._page_file(location) if listed is not None or span is not None else None
        columns = found.columns_of(query.expressions, sql) if found is not None else None
        if columns is not None and span is not None:  # rows offset.. of the table (row ids are dense)
            listed = tuple(range(span[0], min(span[0] + span[1], found.rows)))
        if columns is not None:
            return Prepared(sql, rowids=listed, columns=columns, total=total)
        return Prepared(sql, known=known, total=total)

    def record_rows(self, location: str, id_expression: exp.Expression, record_id: str) -> list[int] | None:
        """The rows that may hold the record ``record_id`` under ``id_expression``, from the
        version's id table (``store.record_ids``): to be re-tested with the full id condition.
        ``None`` when the table cannot say (none written, or another id expression: a caller
        with hidden fields, or another time zone): the caller scans."""
        with self._using(location):
            alias = self._alias(location)
            _, index_alias = self._index(location, alias)
            if index_alias == alias:  # no index file (yet): no id table
                return None
            with self._reading() as cur:
                indexed = self._lookups.get(location, ("record_ids", index_alias),
                                            lambda: record_ids.read_key(cur, index_alias), size=lambda _: 1)
                if indexed is None or indexed != record_ids.key_of(cur, id_expression):
                    return None
                return record_ids.candidates(cur, index_alias, record_id)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A raw cursor of the reader, for SQL of the caller's own (spatial functions loaded)."""
        self._with_spatial()
        return self._connection().cursor()

    @contextmanager
    def _reading(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of the reader for one query, the way every query of the store runs: counted
        among the queries sharing the reader's memory, so that running out of it (or of spill
        space) is a ``ResourceExhausted`` saying whether it ran alone, not an engine error; and
        interrupted if the call it runs for is abandoned (``abandon``). The query's SQL has been
        through ``_with_spatial``."""
        with self._sharing.query(), self._connection().cursor() as cur, abandon.watched(cur):
            yield cur

    def prepare(self, location: str, query: exp.Expression, *, owned: bool = False) -> Prepared:
        """``query`` bound to a version: callers that run the same query again keep it and call
        ``rows`` or ``run``, skipping SQL generation (as costly as a small query). With
        ``owned``, the caller hands ``query`` over (built for this call, never used again): it
        is bound in place instead of on a copy."""
        with self._using(location):
            return self._bind(location, query, owned)

    def run(self, location: str, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run SQL from ``prepare`` for the same version (attaching it again if it was detached)."""
        self._with_spatial(sql)  # SQL of the caller's own, maybe
        with self._using(location):
            self._attach_all(location)  # first: an attach inside the query's own count would crowd it
            with self._reading() as cur:
                return cur.execute(sql, params or []).to_arrow_table()

    def rows(self, location: str, prepared: Prepared, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        """Run a query from ``prepare`` and return its rows as dicts: for pages of records, where
        building an Arrow table first costs more than a selective query itself (~0.9 ms). A
        count answered from the index when it was bound is not run again; a page of listed rows
        is read from the page file (~0.3 ms where the records cost 2-5 ms)."""
        if prepared.known is not None:
            return [dict(row) for row in prepared.known]
        with self._using(location):
            if prepared.rowids is not None:
                found = self._page_file(location)
                if found is not None:
                    return found.fetch(prepared.rowids, prepared.columns)
            self._attach_all(location)
            self._with_spatial(prepared.sql)  # prepared maybe before this reader opened (a plan kept)
            with self._reading() as cur:
                cur.execute(prepared.sql, params or [])
                names = [column[0] for column in cur.description]
                return [dict(zip(names, row)) for row in cur.fetchall()]

    def query(self, location: str, query: exp.Expression | str, params: Sequence[Any] | None = None) -> pa.Table:
        expression = sqlglot.parse_one(query, dialect="duckdb") if isinstance(query, str) else query
        return self.run(location, self.prepare(location, expression).sql, params)

    def stream(self, location: str, query: exp.Expression, params: Sequence[Any] | None = None,
               batch_size: int = 65536) -> Iterator[pa.RecordBatch]:
        """Batches of a query's result, for exports: memory stays one batch deep. The version
        stays attached until the last batch is read (a slow client's download included)."""
        with self._using(location):
            sql = self._bind(location, query).sql
            with self._reading() as cur:
                yield from cur.execute(sql, params or []).to_arrow_reader(batch_size)

    def version_meta(self, location: str) -> dict[str, Any]:
        table = self.query(location, exp.select("meta").from_(META))
        return json.loads(table.column("meta")[0].as_py())

    def close(self) -> None:
        with self._lock:
            self._generation += 1  # first reads under way remember nothing of this reader
            if self._reader is not None:
                self._reader.close()
            self._reader = None
            self._spatial = False
            if self._reader_spill is not None:
                self._reader_spill.release()
                self._reader_spill = None
            self._attached.clear()
            self._doomed.clear()
            self._fulltext.clear()
            self._bare.clear()
            self._stale.clear()
            self._pages.clear()
            self._postings_due.clear()
            self._said.clear()
            self._lookups.forget()


def close_build(con: duckdb.DuckDBPyConnection, spill: Path) -> None:
    """Close a build's workspace, then remove its spill folder whatever the close did: the
    engine deletes its own files there, not the folder, nor a file of a crashed close."""
    try:
        con.close()
    finally:
        remove_leftover(spill)


def scratch_name(kind: str, suffix: str = "") -> str:
    """The name of a temporary file or folder of this process in a home's tmp folder
    (``kind``: a word without dashes): ``<kind>-<host>-<pid>-<random>``, unique to one build, and
    telling ``sweep_scratch`` whose it is, so that one a killed process left goes."""
    return f"{kind}-{_host()}-{os.getpid()}-{uuid.uuid4().hex[:16]}{suffix}"


#: A scratch entry (``scratch_name``) of a process that no longer runs goes once this old: a
#: host name and a process id do not tell processes apart everywhere (containers sharing a
#: hostname and a home, each with its own pid 7), and no build runs untouched this long.
STALE_SCRATCH_SECONDS = 6 * 3600
#: Past this, it goes whoever's it seems (a container's restarted process may hold its pid).
ABANDONED_SCRATCH_SECONDS = 7 * 24 * 3600


def sweep_scratch(directory: Path, now: float | None = None) -> None:
    """Remove what killed loads and readers left in ``directory`` (named by ``scratch_name``): a
    spill folder or a UTF-8 copy, gigabytes maybe. A folder its process holds
    (``_held_folder``: a reader's, open for weeks) stays while held, and goes once released and
    ``RELEASED_SCRATCH_SECONDS`` old. Otherwise an entry of this host whose process no longer
    runs goes once ``STALE_SCRATCH_SECONDS`` old (its last change: the engine writes spill files
    as it goes); any entry past ``ABANDONED_SCRATCH_SECONDS``. Another host's younger ones stay:
    a process id means nothing here."""
    now = time.time() if now is None else now
    pattern = re.compile(r"^[a-z0-9]+-(.+)-(\d+)-[0-9a-f]{16}(\.[a-z0-9]+)?$")
    try:
        entries = list(directory.iterdir())
    except FileNotFoundError:
        return
    for entry in entries:
        found = pattern.match(entry.name)
        if found is None:
            continue
        held = _held(entry)
        if held:
            continue
        age = now - _last_change(entry)
        dead = found.group(1) == _host() and not _running(int(found.group(2)))
        if (held is False and age > RELEASED_SCRATCH_SECONDS) or age > ABANDONED_SCRATCH_SECONDS \
                or (dead and age > STALE_SCRATCH_SECONDS):
            remove_leftover(entry)


#: The file a process holds locked in a scratch folder of its own while it uses it (``_held_folder``).
HELD = ".held"
#: A released folder (its process gone without removing it) this old goes: one just made is
#: held a moment after its creation.
RELEASED_SCRATCH_SECONDS = 60


@dataclass
class HeldFolder:
    """A scratch folder this process holds (``_held_folder``); ``handle`` None: not held (the
    folder could not be made: a read-only home), the engine makes it if it ever spills."""

    path: Path
    handle: Any = None

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None
            remove_leftover(self.path)


def _held_folder(directory: Path, kind: str) -> HeldFolder:
    """A scratch folder for a long-lived user (a reader's spill folder), held with a lock on its
    ``HELD`` file until released: ``sweep_scratch`` removes it once its process is gone however
    long it lived, never while it runs (a pid and an age tell neither for a server's worker).
    Before, a killed worker's ``reader-<pid>`` folder, spill files in it, stayed for good."""
    folder = directory / scratch_name(kind)
    try:
        _private_folder(directory)
        sweep_scratch(directory)
        folder.mkdir(mode=0o700)
        handle = open(folder / HELD, "w")
        fcntl.flock(handle, fcntl.LOCK_EX)
    except OSError:  # a read-only or full home still serves reads
        log.debug("spill folder %s not made", folder, exc_info=True)
        return HeldFolder(folder)
    return HeldFolder(folder, handle)


def _private_folder(directory: Path) -> None:
    """Make ``directory`` (a home's tmp folder) its owner's alone, an existing one too: spill
    files hold records, a restricted dataset's included (a home made before kept 0755)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    found = directory.stat()
    if found.st_mode & 0o077 and found.st_uid == os.getuid():
        directory.chmod(0o700)


def private_root(root: Path) -> None:
    """Make a folder of the home's data its owner's (0700 when made): the store's (the version
    files, their indexes and the uploads kept beside them hold every dataset's records, a
    restricted dataset's and its hidden columns included) and the attachments' (a restricted
    dataset's notices) were readable by every account of the machine (a 0755 folder of 0644
    files). An existing folder loses the others' access only: a group an operator gave it (a
    backup account's) keeps its own; one another account owns (a read-only mount on an API
    node) is left as it is."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    found = root.stat()
    if found.st_mode & 0o007 and found.st_uid == os.getuid():
        try:
            root.chmod(found.st_mode & ~0o007)
        except OSError:  # a read-only file system: its mount decides
            log.debug("store folder %s left as it is", root, exc_info=True)


def _held(entry: Path) -> bool | None:
    """Whether a process holds this scratch folder (``_held_folder``); None: not a held kind."""
    return _locked(entry / HELD)


def _locked(path: Path) -> bool | None:
    """Whether a process (this one included, through another open) holds an exclusive lock on
    the file at ``path``; None when there is no such file."""
    try:
        handle = open(path, "r")
    except OSError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def _last_change(entry: Path) -> float:
    """The newest modification time of ``entry`` and, for a folder, of what it holds."""
    try:
        times = [entry.lstat().st_mtime] + ([child.lstat().st_mtime for child in entry.iterdir()]
                                            if entry.is_dir() and not entry.is_symlink() else [])
    except FileNotFoundError:
        return time.time()  # gone meanwhile (its build ended): nothing to remove
    return max(times)


def _host() -> str:
    """This host's name as it can stand in a file name between dashes (``scratch_name``)."""
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "_"


def _running(pid: int) -> bool:
    """Whether a process of that id runs on this host (one of another user's included)."""
    if pid <= 0:
        return True  # not a process id: nothing to tell, nothing to remove
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftover(path: Path) -> None:
    """Remove what a build left at a ``.building`` name, a file or a directory (the engine's or
    anything else's): an unlink that fails on a directory would fail every later build of the
    dataset, since each starts by sweeping."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _write_postings(con: duckdb.DuckDBPyConnection, source: str, target: Path, token: str) -> bool:
    """Write the postings file of an index being built; it only accelerates the index, so a
    failure (memory, disk) is logged and leaves the index without it (searches read the index
    tables through the engine, as before postings files)."""
    try:
        postings.write(con, source, target, token)
        return True
    except (duckdb.Error, OSError, pa.ArrowException):
        logging.getLogger(__name__).exception("postings file %s not written; searches read the index file", target)
        remove_leftover(target)
        return False


def _shadows_rowid(con: duckdb.DuckDBPyConnection, alias: str) -> bool:
    """Whether the version attached as ``alias`` has a column named ``rowid`` (loaded before
    ``schema.RESERVED_NAMES`` renamed it): it shadows the engine's row id, on which its index
    and page files were built, so they list wrong rows. Its queries scan (right answers,
    slower) until the dataset is loaded again (``operations.index_version`` says so).

    The columns are those of an empty read of the table itself (``alias`` is the store's own
    name): listing ``duckdb_columns()`` cost 6-13 ms of each version's first call."""
    con.execute(f'SELECT * FROM "{alias}".main.{RECORDS} LIMIT 0')
    return any(column[0].lower() == "rowid" for column in con.description)


def _attach(con: duckdb.DuckDBPyConnection, path: str | Path, alias: str,
            detaching: AbstractContextManager = nullcontext()) -> None:
    """Attach a version's file (or one derived from it) read-only as ``alias``, which the caller
    (holding that file's ``_first_reads`` lock) remembers no attachment under: one found there was left by a
    call that failed and could not detach it (``_detach_quietly``), and would refuse this attach
    ("already exists") until the process restarted. Not ``ATTACH IF NOT EXISTS``: a leftover
    may hold the file an index's reindex has since replaced at that path. ``detaching``: the
    reader's ``DuckDBStore._detaching``, held for the detach (not the attach: opening a file
    on slow storage holds nobody else)."""
    with detaching:
        con.execute(f"DETACH DATABASE IF EXISTS {alias}")
    con.execute(f"ATTACH '{path}' AS {alias} (READ_ONLY)")


def _unreadable(error: duckdb.Error) -> bool:
    """Whether an index file failed as a file (not a DuckDB database, tables missing, damaged),
    rather than for want of memory or for a call abandoned: it is then as an older folding's
    index, none (``_index``), until a reindex replaces it. Derived from the version, it is no
    reason to refuse the version: every call to the dataset, full text or not, answered 500."""
    if exhausted(error) or abandon.interrupted(error):
        return False
    return isinstance(error, (duckdb.IOException, duckdb.CatalogException, duckdb.SerializationException,
                              duckdb.InvalidInputException, duckdb.InternalException))


#: What opening a file meets that is no fault of the file's (too many files open under a burst
#: of downloads, memory, a permission being fixed): DuckDB names the system's error in its message.
_PASSING = tuple(os.strerror(code) for code in (errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.EAGAIN, errno.EINTR,
                                                errno.EACCES, errno.EPERM, errno.ETIMEDOUT, errno.ESTALE))


def _passing(error: Exception) -> bool:
    """Whether an unreadable index or postings file failed for a passing reason: remembered as
    damaged (an index file's stamp), it was served by scans, ``has_index`` false, until a
    reindex or a restart (a postings file's, until a ``release``)."""
    return any(reason in str(error) for reason in _PASSING)


def _detach_quietly(con: duckdb.DuckDBPyConnection, alias: str,
                    detaching: AbstractContextManager = nullcontext()) -> None:
    """Undo an attach whose call is failing, keeping that call's own error: one of this detach
    is logged, and the leftover goes at the next attach (``_attach``)."""
    try:
        with detaching:  # ``_attach``
            con.execute(f"DETACH DATABASE IF EXISTS {alias}")
    except duckdb.Error:
        log.warning("could not detach %s after a failed read", alias, exc_info=True)


def _postings_token(con: duckdb.DuckDBPyConnection, catalog: str, location: str) -> str | None:
    """The token of the postings file written with the index attached as ``catalog``, when
    such a file lies beside the version (``_open_postings``); ``None`` otherwise: index files
    written before postings files existed have none, their postings are read through the engine."""
    if not postings.postings_path(location).is_file():
        return None
    try:
        (token,) = con.execute(f'SELECT token FROM "{catalog}".main.{postings.TOKEN_TABLE}').fetchone()
    except duckdb.CatalogException:
        return None
    return token


def _open_postings(location: str, token: str) -> postings.PostingsFile | None:
    """The version's postings file if it is the one written with its index (``token``): one of
    another build, or damaged, is none (its postings are read through the engine). One that
    fails to open for a passing reason (``_passing``: too many files open) raises its
    ``OSError``, for the caller to try again later."""
    path = postings.postings_path(location)
    try:
        found = postings.PostingsFile.open(path)
    except (OSError, pa.ArrowException) as error:
        if isinstance(error, OSError) and _passing(error):
            raise
        log.warning("postings file %s unreadable: %s searched without it", path, location, exc_info=True)
        return None
    return found if found.token == token else None


def _stamp(path: Path) -> tuple[int, int] | None:
    """A file's identity (inode, modification time), or ``None`` when no file lies there: a
    reindex renames a new file into place, which changes it."""
    try:
        found = path.stat()
    except OSError:
        return None
    return (found.st_ino, found.st_mtime_ns) if stat.S_ISREG(found.st_mode) else None


#: ``index_foldings``' answer for a version whose own file cannot be read as a database (damaged,
#: or no DuckDB file): no reindex can write its index, so it is no index left to write.
UNREADABLE_VERSION = "unreadable"


def index_foldings(locations: Iterable[str]) -> dict[str, int | str | None]:
    """The folding of words each version's index was written with (``fulltext.written_with``):
    its index file's, else its own file's (versions built before index files held their index
    inside); ``None`` for none, or an index file unreadable as such (``_unreadable``), which a
    reindex writes again alike; ``UNREADABLE_VERSION`` when, without an index file, the version's
    own file is unreadable. Each file's catalogue and folding table are read, never its records,
    on a connection of its own: the store's reader and its locks are not involved."""
    con = connect(threads=1, spatial=False)
    try:
        foldings: dict[str, int | str | None] = {}
        for location in locations:
            path = index_path(location)
            indexed = path.is_file()
            try:
                _attach(con, path if indexed else location, "folding")
                foldings[location] = fulltext.written_with(con, "folding")
            except duckdb.Error as error:
                if not _unreadable(error):
                    raise
                foldings[location] = None if indexed else UNREADABLE_VERSION
            finally:
                _detach_quietly(con, "folding")
        return foldings
    finally:
        con.close()


def index_path(location: str) -> Path:
    """A version's index file: beside it, named after it (``drop_version`` removes it with it)."""
    return Path(location + ".index")


def _repoint(query: exp.Expression, alias: str, index_alias: str | None = None, *, copy: bool = True) -> exp.Expression:
    """Every unqualified table of a version read from the file attached as ``alias`` (records,
    meta), or from its index file attached as ``index_alias`` (full-text and key tables); in
    ``query`` itself with ``copy=False``, for a tree the caller owns."""
    indexes = (*fulltext.ALL_TABLES, keys.TABLE)

    def repoint(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and not node.args.get("db") and node.name in (RECORDS, META, *indexes):
            catalog = index_alias if index_alias and node.name in indexes else alias
            return exp.Table(this=exp.to_identifier(node.name), db=exp.to_identifier("main"),
                             catalog=exp.to_identifier(catalog), alias=node.args.get("alias"))
        return node

    return query.transform(repoint, copy=copy)
