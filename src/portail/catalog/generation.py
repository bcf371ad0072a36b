"""A catalogue-wide change counter, and a cache keyed on it.

Why: every API call resolves its dataset and the caller's access from the catalogue (the
dataset, its versions, its grants and access rules): ~1.5 ms of ORM work per call on SQLite,
as much as the query itself on a small filter. These rows change a few times a day. Each
transaction that changes one of them bumps ``catalog_generation.value`` in the same
transaction; an API node reads that one integer per call (one indexed row, ~0.03 ms) and keeps
what it derived from the catalogue while the number stays the same. The counter lives in the
catalogue database, so every process and every node sees a change as soon as it is committed:
no TTL, no stale answer after a publish, a rollback or a revoked grant.

Tables that do not shape what a caller may see or do (sign-in sessions, login flows, the audit
log) and bookkeeping columns (a key's last use, a user's failed logins) do not bump it, so
signing in, using a key or writing the audit log does not empty the caches.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import Engine, event, inspect, text
from sqlalchemy.orm import Session, sessionmaker

#: Tables whose changes can alter a dataset, its versions, who may see what of it, or who a
#: caller is (API keys) and how many calls they may make (quotas).
WATCHED = frozenset({"dataset", "dataset_version", "attachment", "dataset_alias", "auth_user", "auth_group", "auth_membership",
                     "auth_dataset_grant", "auth_dataset_security", "auth_api_key", "auth_quota"})
#: Bookkeeping columns of watched tables: changing only these changes nobody's rights (a key's
#: last use is written once a minute per key: bumping on it would empty every cache each time).
BOOKKEEPING = {"auth_api_key": frozenset({"last_used_at"}),
               "auth_user": frozenset({"failed_logins", "locked_until", "last_login", "reset_token_hash",
                                       "reset_token_expires", "password_hash"})}

_BUMP = text("UPDATE catalog_generation SET value = value + 1 WHERE id = 1")
_READ = "SELECT value FROM catalog_generation WHERE id = 1"
_FLAG = "portail_generation_bumped"
_LOCK_ONLY = "portail_lock_only"
#: Execution options of an UPDATE that changes nothing and only takes a row's lock
#: (``services._locked``): no bump, or every load's prune emptied every cache once more.
LOCK_ONLY = {_LOCK_ONLY: True}


def _tables_of(objects, *, changed_only: bool = False) -> set[str]:
    """The tables of ``objects``; with ``changed_only``, leaving out objects whose only changes
    are bookkeeping columns."""
    names = set()
    for obj in objects:
        table = getattr(obj, "__table__", None)
        if table is None:
            continue
        if changed_only and table.name in BOOKKEEPING:
            changed = {a.key for a in inspect(obj).attrs if a.history.has_changes()}
            if changed <= BOOKKEEPING[table.name]:
                continue
        names.add(table.name)
    return names


def _bump_once(session: Session) -> None:
    """One bump per transaction is enough: readers compare numbers, they never count them."""
    if session.info.get(_FLAG) is session.get_transaction():
        return
    session.info[_FLAG] = session.get_transaction()
    session.execute(_BUMP)


def bump(session: Session) -> None:
    """Bump from a change the watched tables do not show: an OAuth2 token revoked (tokens are
    issued at every refresh, so their table is not watched, or each one would empty the caches)."""
    _bump_once(session)


def watch(factory: sessionmaker[Session]) -> None:
    """Bump the counter from every session of ``factory`` that changes a watched table, through
    the unit of work (added, changed or deleted objects) or a bulk ORM update/delete."""

    factory.portail_cache_token = uuid.uuid4().hex  # type: ignore[attr-defined]

    @event.listens_for(factory, "before_flush")
    def _before_flush(session: Session, _context, _instances) -> None:
        # group membership (an association table) changes through a user's or group's collection
        if (_tables_of(session.new) | _tables_of(session.dirty, changed_only=True) | _tables_of(session.deleted)) & WATCHED:
            _bump_once(session)

    @event.listens_for(factory, "do_orm_execute")
    def _bulk(state) -> None:
        if not (state.is_update or state.is_delete) or state.execution_options.get(_LOCK_ONLY):
            return
        table = getattr(state.statement, "table", None)
        name = getattr(table, "name", None)
        if name in WATCHED and not (state.is_update and _sets_only(state.statement, BOOKKEEPING.get(name, frozenset()))):
            _bump_once(state.session)


def _sets_only(statement, columns: frozenset[str]) -> bool:
    """Whether an UPDATE sets nothing but ``columns``: a sign-in failure counted in SQL
    (``failed_logins + 1``, atomic under parallel guesses) bumped the counter, so every wrong
    password emptied every cache of every process. Read from the statement's SET clause
    (SQLAlchemy's ``_values``; unknown shapes bump, the safe side)."""
    values = getattr(statement, "_values", None)
    if not values or not columns:
        return False
    return {getattr(key, "key", key) for key in values} <= columns


def token(factory: sessionmaker[Session]) -> str:
    """Names one catalogue in cache keys (an ``id()`` could be reused by a later catalogue)."""
    return factory.portail_cache_token  # type: ignore[attr-defined]


def stamp(factory: sessionmaker[Session]) -> tuple[str, int]:
    """The catalogue's identity and counter: what a cache entry derived from it is valid for."""
    return token(factory), current(factory.kw["bind"])


def current(engine: Engine) -> int:
    """Read on the pool's driver connection: it is read at every API call, and SQLAlchemy's
    ``Connection`` around it (events, result objects) costs 3x the read itself (~0.1 against
    ~0.03 ms on SQLite)."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            cursor.execute(_READ)
            return cursor.fetchone()[0]
        finally:
            cursor.close()
    finally:
        connection.close()


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class GenerationCache:
    """A bounded, thread-safe LRU map (API endpoints run in a thread pool) whose entries hold
    while the stamp they were computed under is unchanged.

    ``get(key, compute, stamp=...)`` returns the value cached under the same stamp — the
    catalogue's (:func:`stamp`) for what derives from the catalogue — or computes and keeps it.
    Values keyed on immutable data (a version file) take no stamp: they never go stale.
    Exceptions are not cached (a 404 stays a lookup), nor values ``keep`` refuses (a plan
    that read the clock)."""

    def __init__(self, size: int = 2048):
        self.size = size
        self._entries: OrderedDict[Hashable, tuple[Hashable, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, compute: Callable[[], V], stamp: Hashable = None,
            keep: Callable[[V], bool] | None = None) -> V:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == stamp:
                self._entries.move_to_end(key)
                return entry[1]
        value = compute()
        if keep is None or keep(value):
            self.put(key, value, stamp)
        return value

    def peek(self, key: Hashable, stamp: Hashable = None) -> Any:
        """The value kept under ``key`` and ``stamp``, or None; nothing computed (for callers
        that decide themselves when an entry still holds: ``auth.basic``)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != stamp:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: Hashable, value: Any, stamp: Hashable = None) -> None:
        with self._lock:
            self._entries[key] = (stamp, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def pop(self, key: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
