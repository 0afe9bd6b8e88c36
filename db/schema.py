"""Rollcall's tables, in SQLAlchemy 2.0 declarative style.

Times: every ``DateTime`` column uses :class:`UTCDateTime`. The database holds **naive UTC** values (SQLite has
no time zone type); Python code only ever sees **timezone-aware UTC** datetimes. Naive datetimes are refused
on the way in, so local wall-clock time can never be stored by mistake.

Vectors (embeddings, centroids) are stored as little-endian ``float32`` bytes with their length in ``dim``.

This module is the source of truth for the schema; ``db/migrations/versions`` must produce exactly the same
tables (a unit test compares them with Alembic's autogenerate).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Named constraints, so Alembic's batch mode can find and alter them on SQLite."""


class UTCDateTime(TypeDecorator[datetime]):
    """A ``DateTime`` stored as naive UTC and returned as aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: Optional[datetime], dialect: Dialect) -> Optional[datetime]:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: pass a timezone-aware datetime")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: Optional[datetime], dialect: Dialect) -> Optional[datetime]:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    """Declarative base holding Rollcall's metadata."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {datetime: UTCDateTime}


class Person(Base):
    """Someone who can be recognised. ``external_id`` (e.g. a student number) is unique when set."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    external_id: Mapped[Optional[str]] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime]


class FaceSample(Base):
    """One aligned face crop of a person (JPEG bytes) with its landmarks in the crop's pixels."""

    __tablename__ = "face_samples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    image: Mapped[bytes] = mapped_column(LargeBinary)
    landmarks: Mapped[list[list[float]]] = mapped_column(JSON)
    landmark_scheme: Mapped[str] = mapped_column(String(50))
    source: Mapped[str] = mapped_column(Text)
    quality: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime]
    content_sha256: Mapped[Optional[str]] = mapped_column(String(64), index=True)
    """sha256 of the photo file the crop was cut from (``None`` for camera frames and older samples)."""


class Embedding(Base):
    """A sample's embedding by one backend: ``dim`` float32 values."""

    __tablename__ = "embeddings"
    __table_args__ = (UniqueConstraint("sample_id", "backend", name="uq_embeddings_sample_id_backend"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("face_samples.id", ondelete="CASCADE"))
    backend: Mapped[str] = mapped_column(String(50), index=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    dim: Mapped[int] = mapped_column(Integer)


class Centroid(Base):
    """A person's unit-length mean embedding for one backend, kept in step with their samples."""

    __tablename__ = "centroids"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    backend: Mapped[str] = mapped_column(String(50), primary_key=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    dim: Mapped[int] = mapped_column(Integer)
    n_samples: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]


class AttendanceSession(Base):
    """A named class, lecture or meeting that attendance events belong to."""

    __tablename__ = "attendance_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    started_at: Mapped[datetime]
    ended_at: Mapped[Optional[datetime]]
    late_after: Mapped[Optional[datetime]]


class AttendanceEvent(Base):
    """Someone seen (or marked) present. Name and external id are snapshots that outlive the person row."""

    __tablename__ = "attendance_events"
    __table_args__ = (
        Index("ix_attendance_events_session_id_person_id", "session_id", "person_id"),
        Index("ix_attendance_events_time", "time"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[Optional[int]] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    person_name: Mapped[str] = mapped_column(String(200))
    external_id: Mapped[Optional[str]] = mapped_column(String(100))
    session_id: Mapped[int] = mapped_column(ForeignKey("attendance_sessions.id", ondelete="CASCADE"))
    time: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(50))
    score: Mapped[Optional[float]] = mapped_column(Float)
    backend: Mapped[Optional[str]] = mapped_column(String(50))
    station: Mapped[Optional[str]] = mapped_column(String(100))
    """The station (settings ``station``) that recorded the event; ``None`` for rows older than stations."""


class GalleryVersion(Base):
    """One row (``id`` 1) whose ``version`` rises with every change to people, samples or embeddings.

    Every station polls it (one primary-key read) and rebuilds its search index when it moved, so people
    enrolled or removed at another station are recognised or forgotten without a restart.
    """

    __tablename__ = "gallery_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger)
