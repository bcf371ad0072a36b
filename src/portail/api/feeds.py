"""Syndication feeds: RSS 2.0 and Atom 1.0 (RFC 4287), the one writer of both for the API (the
catalogue's RSS export and v1's catalogue search, v1's record search as RSS or Atom).

The feed is a list of entries already chosen and ordered by the caller's query; this module only
writes them. Text may be anything a publisher loaded: it is escaped, and the characters XML 1.0
cannot hold even escaped (most C0 controls, U+FFFE/U+FFFF, lone surrogates) become U+FFFD, so
that no record can make a feed unreadable to a strict parser. Dates are written in UTC: the
catalogue keeps instants without an offset, which RFC 822 would write as an unknown zone
(``-0000``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

from fastapi import Response

from portail.exports.xmltext import xml_attribute, xml_text

ATOM_NS = "http://www.w3.org/2005/Atom"


@dataclass(frozen=True)
class Feed:
    """The feed itself: RSS's channel, Atom's feed. ``link`` is the page the feed is of, and
    Atom's feed id (a stable IRI); ``author`` and ``updated`` are Atom's (it requires both)."""

    title: str
    link: str
    description: str
    author: str | None = None
    updated: datetime | None = None


@dataclass(frozen=True)
class Entry:
    """One item (RSS) or entry (Atom). ``id`` is stable across fetches (RSS's guid, Atom's id,
    an IRI there); ``description`` is HTML, as RSS readers take it and Atom's ``type="html"``
    says."""

    id: str
    title: str
    link: str
    description: str
    updated: datetime


def _utc(moment: datetime) -> datetime:
    """An instant in UTC; one without an offset is a UTC instant (the catalogue keeps them so)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def rss(feed: Feed, entries: Sequence[Entry]) -> str:
    """An RSS 2.0 channel, an item per entry in the order given."""
    items = "".join(
        f"<item><title>{xml_text(e.title)}</title><link>{xml_text(e.link)}</link>"
        f'<guid isPermaLink="false">{xml_text(e.id)}</guid><description>{xml_text(e.description)}</description>'
        f"<pubDate>{format_datetime(_utc(e.updated), usegmt=True)}</pubDate></item>" for e in entries)
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{xml_text(feed.title)}</title>'
            f"<link>{xml_text(feed.link)}</link><description>{xml_text(feed.description)}</description>"
            f"{items}</channel></rss>")


def atom(feed: Feed, entries: Sequence[Entry]) -> str:
    """An Atom 1.0 feed, an entry per entry in the order given; its ``updated`` the feed's, else
    its latest entry's (RFC 4287 requires one, and an author, given once for the feed)."""
    updated = feed.updated or max((e.updated for e in entries), default=None) or datetime.now(UTC)
    body = "".join(
        f"<entry><id>{xml_text(e.id)}</id><title>{xml_text(e.title)}</title>"
        f'<link rel="alternate" href={xml_attribute(e.link)}/><updated>{_utc(e.updated).isoformat()}</updated>'
        f'<content type="html">{xml_text(e.description)}</content></entry>' for e in entries)
    return (f'<?xml version="1.0" encoding="UTF-8"?><feed xmlns="{ATOM_NS}"><id>{xml_text(feed.link)}</id>'
            f"<title>{xml_text(feed.title)}</title><subtitle>{xml_text(feed.description)}</subtitle>"
            f'<link rel="alternate" href={xml_attribute(feed.link)}/><updated>{_utc(updated).isoformat()}</updated>'
            f"<author><name>{xml_text(feed.author or feed.title)}</name></author>{body}</feed>")


#: The feed formats: their writer and content type.
FEED_FORMATS = {"rss": (rss, "application/rss+xml"), "atom": (atom, "application/atom+xml")}


def feed_response(kind: str, feed: Feed, entries: Sequence[Entry]) -> Response:
    """The feed as ``kind`` (a key of ``FEED_FORMATS``) writes it, with its content type."""
    write, media_type = FEED_FORMATS[kind]
    return Response(write(feed, entries), media_type=media_type)
