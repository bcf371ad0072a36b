"""Catalogue tables: datasets, their versions and attachments.

Portable SQLAlchemy 2 types only (JSON, not JSONB; no SQLite-isms), so the same models run on
SQLite (the embedded default) and PostgreSQL (production). Every change of schema goes through
an Alembic migration in ``migrations/versions``.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (JSON, BigInteger, Date, DateTime, Dialect, ForeignKey, Integer, LargeBinary, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


#: How long a records cursor may keep walking a version after a newer one replaced it: a walk
#: of millions of rows takes minutes; a day covers a nightly job started before a reload.
CURSOR_GRACE = timedelta(hours=24)


def _aware(moment: datetime) -> datetime:
    """SQLite hands datetimes back without their zone: they were written in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


#: The attributes of a catalogue engine's dialect naming the store's folder and the instance's
#: home (``db.open_catalog``).
STORE_ROOT = "portail_store_root"
HOME_ROOT = "portail_home"


def stored_location(path: str | None, root: str | None) -> str | None:
    """What the catalogue holds for a version file: its path relative to the store's folder
    (``root``, absolute) when it lies there, so that the home can move (a backup restored
    elsewhere, another mount point on each API node); a file elsewhere keeps its path."""
    if path is None or root is None:
        return path
    absolute = os.path.abspath(path)
    return absolute[len(root) + 1:] if absolute.startswith(root + os.sep) else path


def resolved_location(location: str | None, root: str | None) -> str | None:
    """The path of a version file the catalogue names: a relative location under the store's
    folder, an absolute one (a file outside it, or written before migration 0010) as it is."""
    if location is None or root is None or os.path.isabs(location):
        return location
    return os.path.join(root, location)


class StoreLocation(TypeDecorator):
    """A version file's location, written relative to the store's folder and read back as an
    absolute path: the rest of the code opens, keys and compares absolute paths only. The
    folder is the engine's (set on its dialect, the one object these conversions are handed),
    so each process resolves against its own mount of the same catalogue; an engine without
    one reads and writes locations as they are."""

    impl = Text
    cache_ok = True
    root_attribute = STORE_ROOT  # the dialect's attribute naming the folder paths are relative to

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return stored_location(value, getattr(dialect, self.root_attribute, None))

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return resolved_location(value, getattr(dialect, self.root_attribute, None))


class HomeFile(StoreLocation):
    """A file the instance keeps in its home (an attachment), named relative to the home in the
    table for the same reason (migration 0011)."""

    root_attribute = HOME_ROOT


class UTCDateTime(TypeDecorator):
    """An instant of the catalogue, stored as ``DateTime(timezone=True)`` (``TIMESTAMP WITH TIME
    ZONE`` on PostgreSQL, text on SQLite: no migration) and always in UTC. A value bound (written,
    or compared with, as an audit query's ``since``) is converted to UTC first, a naive one read as
    UTC (what the code writes: ``datetime.now(UTC)``); a value read back is an aware UTC datetime
    on both backends. Without it SQLite kept an offset value's local clock text (``10:00+02:00``
    stored and compared as ``10:00``) and handed back naive datetimes, and PostgreSQL handed back
    instants in its session's time zone and read naive parameters in it."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type:
        return datetime

    def process_bind_param(self, value: datetime | date | str | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # ISO text, as a raw comparison may hand it
            value = datetime.fromisoformat(value)
        if not isinstance(value, datetime):  # a day: its midnight, UTC
            value = datetime.combine(value, time())
        moment = _aware(value).astimezone(UTC)
        # SQLite's DATETIME text has no offset: written (and compared) as the UTC clock, naive.
        return moment.replace(tzinfo=None) if dialect.name == "sqlite" else moment

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else _aware(value).astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: UTCDateTime()}


class Dataset(Base):
    __tablename__ = "dataset"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True, index=True)

    # Metadata: Opendatasoft's "default" template plus what DCAT needs.
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)  # Markdown
    themes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    keywords: Mapped[list[Any]] = mapped_column(JSON, default=list)
    license: Mapped[str | None] = mapped_column(String(200))
    license_url: Mapped[str | None] = mapped_column(String(500))
    publisher: Mapped[str | None] = mapped_column(String(300))
    owner: Mapped[str | None] = mapped_column(String(300))  # the data owner, a person
    contact_name: Mapped[str | None] = mapped_column(String(300))
    contact_email: Mapped[str | None] = mapped_column(String(300))
    language: Mapped[str | None] = mapped_column(String(16))
    update_frequency: Mapped[str | None] = mapped_column(String(50))
    temporal_start: Mapped[date | None] = mapped_column(Date)
    temporal_end: Mapped[date | None] = mapped_column(Date)
    spatial_coverage: Mapped[str | None] = mapped_column(String(300))
    portals: Mapped[list[Any]] = mapped_column(JSON, default=list)
    extra_metas: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    # Source and schema.
    source: Mapped[str | None] = mapped_column(Text)  # last file or URL loaded, for reloads
    read_options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    field_overrides: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # name -> {type,label,…}
    pipeline: Mapped[list[Any]] = mapped_column(JSON, default=list)

    # State.
    current_version: Mapped[int | None] = mapped_column(Integer)
    records_count: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    modified: Mapped[datetime] = mapped_column(UTCDateTime())
    data_processed: Mapped[datetime | None] = mapped_column(UTCDateTime())
    metadata_processed: Mapped[datetime | None] = mapped_column(UTCDateTime())

    versions: Mapped[list["DatasetVersion"]] = relationship(
        back_populates="dataset", cascade="all, delete-orphan", order_by="DatasetVersion.number"
    )
    attachments: Mapped[list["Attachment"]] = relationship(
        back_populates="dataset", cascade="all, delete-orphan", order_by="Attachment.id"
    )
    aliases: Mapped[list["DatasetAlias"]] = relationship(cascade="all, delete-orphan", order_by="DatasetAlias.slug")

    def version(self, number: int | None) -> "DatasetVersion | None":
        return next((v for v in self.versions if v.number == number), None)

    def walkable(self, number: int, now: datetime) -> bool:
        """May a records cursor read version ``number``? The current one, or one replaced less
        than ``CURSOR_GRACE`` ago by a newer publication (a walk begun on it goes on); never a
        draft, a version withdrawn by going back to an older one, nor one replaced long ago (a
        publisher replacing a version to take data off the portal takes it off for good)."""
        version = self.version(number)
        if version is None or version.status != "ready" or self.current_version is None:
            return False
        if number == self.current_version:
            return True
        if version.published_at is None or number > self.current_version:
            return False
        replaced = [_aware(v.published_at) for v in self.versions if v.number > number and v.published_at is not None]
        return bool(replaced) and min(replaced) > now - CURSOR_GRACE

    @property
    def current(self) -> "DatasetVersion | None":
        return self.version(self.current_version)

    @property
    def timezone(self) -> str:
        """The zone its dates are read in at load and its instants shown in: its ``timezone``
        metadata, Europe/Paris by default (a French portal's)."""
        return (self.extra_metas or {}).get("timezone") or "Europe/Paris"


class DatasetVersion(Base):
    __tablename__ = "dataset_version"
    __table_args__ = (UniqueConstraint("dataset_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))  # building | ready | failed | pruned
    #: The version's DuckDB file (``StoreLocation``: relative to the store's folder in the table).
    location: Mapped[str | None] = mapped_column(StoreLocation)
    source_name: Mapped[str | None] = mapped_column(Text)
    #: The read options forced for its file (format, encoding, delimiter…; ``operations.REMEMBERED_OPTIONS``):
    #: a reload of its source after a rollback reads it as it was read, not with the newest
    #: load's (migration 0012). None for versions older than that but the one then published:
    #: their files are detected afresh.
    read_options: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    row_count: Mapped[int | None] = mapped_column(BigInteger)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    fields: Mapped[list[Any]] = mapped_column(JSON, default=list)
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: When it was last published; cleared when publishing an older version withdraws it
    #: (migration 0009). A records cursor walks only versions published and not withdrawn.
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The key that seals its records cursors (``api.cursors``), random, never shown: a cursor
    #: then tells nothing of the rows a caller's rights hide (migration 0013).
    cursor_key: Mapped[bytes | None] = mapped_column(LargeBinary(16), default=lambda: os.urandom(16))

    dataset: Mapped[Dataset] = relationship(back_populates="versions")



class Attachment(Base):
    __tablename__ = "attachment"
    __table_args__ = (UniqueConstraint("dataset_id", "attachment_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id", ondelete="CASCADE"), index=True)
    attachment_id: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(500))
    mimetype: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(HomeFile)  # relative to the home (HomeFile)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    filename: Mapped[str | None] = mapped_column(String(500))  # as uploaded (migration 0008); null before

    dataset: Mapped[Dataset] = relationship(back_populates="attachments")

    @property
    def url(self) -> str:
        """The dataset object's ``odsfile://`` URL, which names the file as Opendatasoft's does."""
        return f"odsfile://{self.filename or self.attachment_id}"


class DatasetAlias(Base):
    """A former dataset_id of a renamed dataset (migration 0007): applications, widgets and
    bookmarks built on it keep reading the dataset; a new dataset created under that id takes
    it back."""

    __tablename__ = "dataset_alias"

    slug: Mapped[str] = mapped_column(String(200), primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RetiredUid(Base):
    """Uids of deleted datasets: a uid appears in URIs and DCAT, so it is never handed out again."""

    __tablename__ = "retired_uid"

    uid: Mapped[str] = mapped_column(String(32), primary_key=True)
    slug: Mapped[str] = mapped_column(String(200))
    retired_at: Mapped[datetime] = mapped_column(UTCDateTime())
