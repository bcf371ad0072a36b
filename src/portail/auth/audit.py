"""The audit trail: one ``AuditEvent`` row per security-relevant change or attempt.

Written in the same transaction as the change it records, so an event exists exactly when the
change does. Events never carry a secret (no password, key or token; a key's id and prefix
at most). Reading is for administrators: ``recent`` lists the newest first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portail.auth.models import AuditEvent


def _fit(text: str | None, column) -> str | None:
    """``text`` as ``column`` can always hold it: a NUL written ``\\x00``, cut to the column's
    length (ending ``…``). The target of a failed sign-in names the login tried, which an
    anonymous client chooses (300 characters, a NUL over HTTP Basic or the form): on PostgreSQL
    its row failed, and the refusal with it (a 500). ``detail`` is JSON, of any length, a NUL
    escaped in it: kept whole (a ruleset's filters)."""
    if text is None:
        return None
    text = text.replace("\x00", "\\x00")
    limit = column.type.length
    return text if len(text) <= limit else text[:limit - 1] + "…"


def record(session: Session, action: str, *, actor: str | None = None, target: str | None = None,
           detail: dict[str, Any] | None = None, ip: str | None = None, at: datetime | None = None) -> AuditEvent:
    event = AuditEvent(at=at or datetime.now(UTC), actor=_fit(actor, AuditEvent.actor), action=action,
                       target=_fit(target, AuditEvent.target), detail=detail or {}, ip=_fit(ip, AuditEvent.ip))
    session.add(event)
    return event


def recent(session: Session, *, action: str | None = None, target: str | None = None,
           limit: int = 100) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if target is not None:
        query = query.where(AuditEvent.target == target)
    return list(session.scalars(query))


def query(session: Session, *, action: str | None = None, actor: str | None = None, target: str | None = None,
          since: datetime | None = None, until: datetime | None = None, limit: int = 100,
          offset: int = 0) -> tuple[int, list[AuditEvent]]:
    """Events matching every given filter (``action`` ending in ``.`` or ``*`` matches a family, e.g.
    ``login.``; ``since`` inclusive, ``until`` exclusive), newest first: ``(total, page)``."""
    from sqlalchemy import func

    if any("\x00" in text for text in (action, actor, target) if text):  # no event names one (``_fit``)
        return 0, []
    conditions = []
    if action:
        family = action.rstrip("*")
        conditions.append(AuditEvent.action.startswith(family, autoescape=True) if family != action or family.endswith(".")
                          else AuditEvent.action == action)
    if actor:
        conditions.append(AuditEvent.actor == actor)
    if target:
        conditions.append(AuditEvent.target == target)
    if since:
        conditions.append(AuditEvent.at >= since)
    if until:
        conditions.append(AuditEvent.at < until)
    total = session.scalar(select(func.count()).select_from(AuditEvent).where(*conditions)) or 0
    page = session.scalars(select(AuditEvent).where(*conditions).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                           .limit(limit).offset(offset))
    return total, list(page)
