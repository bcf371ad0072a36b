"""Plain-Python versions of what ODSQL means, written independently of the compiler, to
check what DuckDB returns for the compiled queries."""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from tests.odsql.conftest import ROWS, Row

TEXT_FIELDS = ("name", "city", "tags", "secret")


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return bare.replace("œ", "oe").replace("æ", "ae").replace("ß", "ss")  # ligatures spelled out


def words(text: str) -> list[str]:
    return [w for w in re.findall(r"\w+", fold(text)) if w.strip("_")]  # "_" a word character; alone, no word


def fulltext(row: Row, text: str, fields=TEXT_FIELDS) -> bool:
    """A bare string (reference §5.4): every word of ``text`` is a whole word of one of
    ``fields`` (each may be in another); a term written ``word*`` ends with a prefix."""
    return every_word_in({w for f in fields if getattr(row, f) is not None for w in words(getattr(row, f))}, text)


def like(value: str | None, pattern: str) -> bool:
    if value is None:
        return False
    return every_word_in(set(words(value)), pattern)  # every word of the pattern, anywhere


def every_word_in(have: set[str], text: str) -> bool:
    """Is every word of ``text`` one of ``have``, a term written ``word*`` ending with a prefix?"""
    for token in text.split():
        wanted = words(token)
        for i, w in enumerate(wanted):
            prefix = token.endswith("*") and i == len(wanted) - 1
            if not any(h.startswith(w) if prefix else h == w for h in have):
                return False
    return True


def haversine(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle metres between two (lon, lat) points (DuckDB's earth radius)."""
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371000 * math.asin(math.sqrt(h))


def local(moment: datetime | None, tz: str) -> datetime | None:
    return moment.astimezone(ZoneInfo(tz)) if moment is not None else None


def as_moment(day: date, tz: str = "UTC") -> datetime:
    return datetime.combine(day, time(), ZoneInfo(tz))


def quantile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (what quantile_cont computes)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def non_null(field: str) -> list:
    return [getattr(r, field) for r in ROWS if getattr(r, field) is not None]
