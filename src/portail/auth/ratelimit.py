"""API call quotas: who is counted (bucket), how many calls they get per window, and the counters.

- Bucket: an API key counts on its own (``key:<id>``), a signed-in user on theirs
  (``user:<id>``), an anonymous caller per client IP (``ip:<address>``).
- Quota (calls per window): the key's own quota, else the user's override, else the largest
  quota of the user's groups, else ``Settings.ratelimit_default``; anonymous callers get
  ``Settings.ratelimit_anonymous``. 0 means no limit. Quotas are ``Quota`` rows, changed by
  ``set_quota``.
- Window: fixed, aligned on UTC (second, minute, hour or day, Opendatasoft's
  ``limit_time_unit``); the reset time is the end of the current window.
- Counters: ``MemoryCounter`` (one process; the default) or ``RedisCounter`` (INCR + EXPIRE in
  one round trip, shared by every process and node) when ``Settings.redis_url`` is set.

No HTTP here: ``api.guard`` asks ``decide`` and writes the headers or the 429.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from portail.auth.audit import record
from portail.auth.errors import bad_request
from portail.auth.models import QUOTA_KINDS, Quota
from portail.auth.principal import Principal

WINDOWS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Decision:
    """The outcome of one call: allowed or not, and what the X-RateLimit headers say."""

    allowed: bool
    limit: int  # 0: no limit (no headers)
    remaining: int
    reset: int  # epoch seconds of the window's end
    window: str
    anonymous: bool


def window_bounds(window: str, at: float) -> tuple[int, int]:
    """``(start, end)`` epoch seconds of the fixed window holding ``at``."""
    size = WINDOWS[window]
    start = int(at // size) * size
    return start, start + size


def bucket_of(principal: Principal, client_ip: str | None, own_key_quota: bool = False) -> str:
    """Whose calls a call counts among: a key's own, when the key has a quota of its own;
    else its user's, every key, session and HTTP Basic call of theirs together (a user's quota
    of 30 with three keys was 30 calls per key, found by a multi-node hunt); else the address's."""
    if principal.key_id is not None and own_key_quota:
        return f"key:{principal.key_id}"
    if principal.user_id is not None:
        return f"user:{principal.user_id}"
    return f"ip:{client_ip or 'unknown'}"


# -- quotas ---------------------------------------------------------------------------------
def quota_for(session: Session, principal: Principal, *, default: int, anonymous: int) -> int:
    """Calls per window for this caller: key > user override > max of groups > default."""
    return quota_and_source(session, principal, default=default, anonymous=anonymous)[0]


def quota_and_source(session: Session, principal: Principal, *, default: int, anonymous: int) -> tuple[int, str]:
    """``quota_for`` and where it comes from (``apikey``, ``user``, ``group``, ``default`` or
    ``anonymous``): a key's own quota counts its calls apart (``bucket_of``)."""
    if not principal.is_authenticated:
        return anonymous, "anonymous"
    wanted = [(Quota.principal_kind == "user") & (Quota.principal_name == principal.login)]
    if principal.groups:
        wanted.append((Quota.principal_kind == "group") & Quota.principal_name.in_(sorted(principal.groups)))
    if principal.key_id is not None:
        wanted.append((Quota.principal_kind == "apikey") & (Quota.principal_name == principal.key_id))
    rows = session.execute(select(Quota.principal_kind, Quota.calls).where(or_(*wanted))).all()
    by_kind: dict[str, list[int]] = {}
    for kind, calls in rows:
        by_kind.setdefault(kind, []).append(calls)
    for kind in ("apikey", "user"):
        if kind in by_kind:
            return by_kind[kind][0], kind
    if "group" in by_kind:
        values = by_kind["group"]
        return (0 if 0 in values else max(values)), "group"  # a group without limit is the most generous
    return default, "default"


#: The largest quota (``Quota.calls``, a 32-bit integer on PostgreSQL).
MAX_CALLS = 2**31 - 1


def drop_quotas(session: Session, kind: str, names: list[str], *, actor: str | None = None,
                ip: str | None = None) -> None:
    """Remove the quotas of deleted principals (``kind``, ``names``). A quota names its user or
    group, not its row: kept, it went to the next account or group made under that name (an
    unlimited quota, 0, to whoever came next: hunt of 7 December)."""
    rows = list(session.scalars(select(Quota).where(Quota.principal_kind == kind, Quota.principal_name.in_(names)))) \
        if names else []
    for row in rows:
        record(session, "quota.set", actor=actor, target=f"{kind}:{row.principal_name}",
               detail={"calls": None, "why": f"{kind} deleted"}, ip=ip)
        session.delete(row)


def set_quota(session: Session, kind: str, name: str, calls: int | None, *, actor: str | None = None,
              ip: str | None = None) -> Quota | None:
    """Give a user (login), group (name) or API key (id) ``calls`` per window; ``None`` removes the
    override. The named principal must exist."""
    from portail.auth import keys, services  # services imports nothing of this module; avoid a cycle anyway

    if kind not in QUOTA_KINDS:
        raise bad_request(f"A quota is for a user, a group or an apikey, not {kind!r}")
    if calls is not None and not 0 <= calls <= MAX_CALLS:
        raise bad_request(f"A quota is a number of calls ≥ 0 (0: no limit) and at most {MAX_CALLS:,}")
    name = {"user": lambda: services.get_user(session, name).login,
            "group": lambda: services.get_group(session, name).name,
            "apikey": lambda: keys.get_key(session, name).id}[kind]()
    row = session.scalar(select(Quota).where(Quota.principal_kind == kind, Quota.principal_name == name))
    if calls is None:
        if row is not None:
            session.delete(row)
        row = None
    else:
        if row is None:
            row = Quota(principal_kind=kind, principal_name=name, calls=calls, modified=datetime.now(UTC))
            session.add(row)
        row.calls, row.modified = calls, datetime.now(UTC)
    session.flush()
    record(session, "quota.set", actor=actor, target=f"{kind}:{name}", detail={"calls": calls}, ip=ip)
    return row


def list_quotas(session: Session) -> list[Quota]:
    return list(session.scalars(select(Quota).order_by(Quota.principal_kind, Quota.principal_name)))


def forget_quotas(session: Session, kind: str, names: Iterable[str]) -> None:
    session.execute(delete(Quota).where(Quota.principal_kind == kind, Quota.principal_name.in_(list(names))))


# -- counters -------------------------------------------------------------------------------
class Counter(Protocol):
    async def hit(self, bucket: str, window_start: int, ttl: int) -> int:
        """Count one call in ``bucket`` for the window starting at ``window_start``; the new count."""


class MemoryCounter:
    """Counters of this process only (one server process; tests). Old windows are dropped."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, int]] = {}  # bucket -> (window_start, count)
        self._lock = threading.Lock()

    async def hit(self, bucket: str, window_start: int, ttl: int) -> int:
        with self._lock:
            start, count = self._counts.get(bucket, (window_start, 0))
            count = count + 1 if start == window_start else 1
            self._counts[bucket] = (window_start, count)
            return count


class RedisCounter:
    """Counters in Redis, shared by every process: one INCR and one EXPIRE per call, pipelined."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis.asyncio as redis

        self.url, self.prefix = url, prefix
        self._clients: dict[int, object] = {}  # one client per event loop (a client is bound to its loop)
        self._redis = redis

    def _client(self):
        loop = id(asyncio.get_running_loop())
        if loop not in self._clients:
            self._clients[loop] = self._redis.from_url(self.url)
        return self._clients[loop]

    async def hit(self, bucket: str, window_start: int, ttl: int) -> int:
        key = f"{self.prefix}{bucket}:{window_start}"
        async with self._client().pipeline(transaction=True) as pipe:
            count, _ = await pipe.incr(key).expire(key, ttl + 5).execute()
        return int(count)


def make_counter(redis_url: str | None, prefix: str) -> Counter:
    return RedisCounter(redis_url, prefix) if redis_url else MemoryCounter()


async def decide(counter: Counter, bucket: str, limit: int, window: str, at: float, *, anonymous: bool) -> Decision:
    """Count this call and say whether it is within ``limit`` (0: always, and not counted)."""
    start, end = window_bounds(window, at)
    if limit <= 0:
        return Decision(True, 0, 0, end, window, anonymous)
    count = await counter.hit(bucket, start, end - start)
    return Decision(count <= limit, limit, max(0, limit - count), end, window, anonymous)
