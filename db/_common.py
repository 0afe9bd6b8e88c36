"""Helpers shared by the repositories: validation, row-to-record conversion and centroid upkeep.

Functions taking a ``Session`` run inside the caller's unit of work and never commit.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Optional

import numpy as np
from numpy.typing import ArrayLike
from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.orm import Session

from common.errors import InvalidInput, NotFound
from db import _vectors
from db.database import Database
from db.records import NewSample, PersonRecord, SampleRecord
from db.schema import AttendanceEvent, Centroid, Embedding, FaceSample, GalleryVersion, Person

PEOPLE_HINT = "`python main.py people` lists them"


class RepositoryBase:
    """Holds the :class:`Database` and this station's name; each public method opens its own unit of work."""

    def __init__(self, database: Database, station: Optional[str] = None) -> None:
        """Args:
            database: the open database.
            station: the name recorded with every attendance event this repository writes (``None``: none).

        Raises:
            InvalidInput: the station name is blank, too long or holds control characters.
        """
        self._db = database
        self.station = clean_name(station, "station name", 100) if station is not None else None

    def gallery_version(self) -> int:
        """The change counter of the enrolled people: it rises with every enrollment, removal, rename or
        re-embedding, at any station. One primary-key read, cheap enough to poll every second."""
        with self._db.session(write=False) as s:
            return int(s.scalar(select(GalleryVersion.version).where(GalleryVersion.id == 1)) or 0)


def bump_gallery(s: Session) -> None:
    """Raise the change counter inside the caller's transaction (it commits or rolls back with the change)."""
    result = s.execute(update(GalleryVersion).where(GalleryVersion.id == 1).values(version=GalleryVersion.version + 1))
    if result.rowcount == 0:  # the row was deleted by hand: start again
        s.add(GalleryVersion(id=1, version=1))


def utcnow() -> datetime:
    """Now, as an aware UTC datetime."""
    return datetime.now(timezone.utc)


def require_utc(value: datetime, what: str) -> datetime:
    """``value`` converted to aware UTC.

    Raises:
        InvalidInput: ``value`` is naive (its time zone is unknown, so storing it could be off by hours).
    """
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(
            f"{what} {value!r} has no time zone; pass an aware datetime such as datetime.now(timezone.utc)"
        )
    return value.astimezone(timezone.utc)


def shorten(value: object, limit: int = 80) -> str:
    """``value`` as text cut to ``limit`` characters with "…" appended, so messages never echo huge input."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def clean_text(value: str, what: str, max_len: int = 200) -> str:
    """``value`` stripped; it must be non-empty and at most ``max_len`` characters.

    Raises:
        InvalidInput: empty or too long (the message quotes at most 80 characters of it).
    """
    text = (value or "").strip() if isinstance(value, str) else ""
    if not text or len(text) > max_len:
        raise InvalidInput(
            f"{what} {shorten(value)!r} must be 1 to {max_len} characters long (it has {len(text)})"
        )
    return text


def clean_name(value: str, what: str, max_len: int = 200) -> str:
    """A name shown to people (person, session, external id): :func:`clean_text` without control characters.

    Raises:
        InvalidInput: empty, too long, or holding control characters (newlines, tabs, terminal escape codes).
    """
    text = clean_text(value, what, max_len)
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in text):
        raise InvalidInput(
            f"{what} {shorten(text)!r} contains control characters (newlines, tabs or escape codes); "
            "use letters, digits, spaces and punctuation only"
        )
    return text


def clean_external_id(value: Optional[str]) -> Optional[str]:
    """An external id stripped, or ``None`` when blank."""
    if value is None or not value.strip():
        return None
    return clean_name(value, "external id", 100)


def person_row(s: Session, person_id: int) -> Person:
    """The person row with ``person_id``.

    Raises:
        NotFound: no such person.
    """
    row = s.get(Person, person_id)
    if row is None:
        raise NotFound(f"no person with id {person_id}; {PEOPLE_HINT}")
    return row


def person_records(s: Session, where: Optional[ColumnElement[bool]] = None) -> list[PersonRecord]:
    """People (optionally filtered) with their sample count and last attendance time, by id."""
    counts = (
        select(FaceSample.person_id, func.count(FaceSample.id).label("n"))
        .group_by(FaceSample.person_id)
        .subquery()
    )
    seen = (
        select(AttendanceEvent.person_id, func.max(AttendanceEvent.time).label("last"))
        .group_by(AttendanceEvent.person_id)
        .subquery()
    )
    stmt = (
        select(Person, func.coalesce(counts.c.n, 0), seen.c.last)
        .outerjoin(counts, counts.c.person_id == Person.id)
        .outerjoin(seen, seen.c.person_id == Person.id)
        .order_by(Person.id)
    )
    if where is not None:
        stmt = stmt.where(where)
    return [_person_record(p, n, last) for p, n, last in s.execute(stmt)]


def _person_record(row: Person, n_samples: int, last: Optional[datetime]) -> PersonRecord:
    # max() over a TypeDecorator column comes back raw (naive UTC) from SQLite
    if isinstance(last, str):
        last = datetime.fromisoformat(last)
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=timezone.utc)
    return PersonRecord(row.id, row.name, row.external_id, row.created_at, int(n_samples), last)


def one_person_record(s: Session, person_id: int) -> PersonRecord:
    """The record of one person.

    Raises:
        NotFound: no such person.
    """
    records = person_records(s, Person.id == person_id)
    if not records:
        raise NotFound(f"no person with id {person_id}; {PEOPLE_HINT}")
    return records[0]


def sample_record(row: FaceSample) -> SampleRecord:
    """A plain copy of a sample row."""
    landmarks = [(float(x), float(y)) for x, y in row.landmarks]
    return SampleRecord(
        row.id, row.person_id, row.image, landmarks, row.landmark_scheme, row.source, row.quality, row.created_at
    )


def check_sample(sample: NewSample, index: int) -> list[list[float]]:
    """Validate one new sample and return its landmarks as JSON-ready ``[[x, y], ...]``.

    Raises:
        InvalidInput: empty image, malformed landmarks, blank scheme/source or a non-finite quality.
    """
    where = f"sample #{index + 1}"
    if not isinstance(sample.image, (bytes, bytearray)) or not sample.image:
        raise InvalidInput(f"{where} has no image bytes; pass the JPEG-encoded aligned crop")
    try:
        points = [[float(x), float(y)] for x, y in sample.landmarks]
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{where} has malformed landmarks ({exc}); pass a list of (x, y) pairs") from exc
    if not all(math.isfinite(v) for p in points for v in p):
        raise InvalidInput(f"{where} has NaN or infinite landmarks; re-run the landmark detector")
    clean_text(sample.landmark_scheme, f"{where}'s landmark scheme", 50)
    clean_text(sample.source, f"{where}'s source", 10_000)
    sha = sample.content_sha256
    if sha is not None and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha)):
        raise InvalidInput(f"{where} has content hash {shorten(sha)!r}; pass a lowercase hex sha256 or None")
    if not math.isfinite(float(sample.quality)):
        raise InvalidInput(f"{where} has quality {sample.quality!r}; pass a finite number")
    return points


def check_embeddings(
    embeddings: Mapping[str, ArrayLike], rows: int
) -> dict[str, np.ndarray[Any, np.dtype[np.float32]]]:
    """Validate ``{backend: (rows, D) array}``; see :func:`db._vectors.check_matrix`.

    Raises:
        InvalidInput: a blank backend name or a malformed matrix.
    """
    return {
        clean_text(backend, "backend name", 50): _vectors.check_matrix(values, rows, backend)
        for backend, values in embeddings.items()
    }


def check_backend_dim(s: Session, backend: str, dim: int) -> None:
    """Refuse vectors whose length differs from what ``backend`` already stores.

    Raises:
        InvalidInput: the stored vectors have another length.
    """
    stored = s.scalar(select(Embedding.dim).where(Embedding.backend == backend).limit(1))
    if stored is not None and stored != dim:
        raise InvalidInput(
            f"backend {backend!r} stores {stored}-dimensional vectors but {dim} values were given; "
            "use the same model, or store it under another backend name"
        )


def insert_samples(
    s: Session, person_id: int, samples: Sequence[NewSample], embeddings: Mapping[str, ArrayLike]
) -> list[FaceSample]:
    """Add samples and their embeddings for a person, then recompute that person's centroids.

    Raises:
        InvalidInput: a malformed sample or embedding matrix.
    """
    matrices = check_embeddings(embeddings, len(samples))
    now = utcnow()
    rows = [
        FaceSample(
            person_id=person_id,
            image=bytes(sample.image),
            landmarks=check_sample(sample, i),
            landmark_scheme=sample.landmark_scheme.strip(),
            source=sample.source.strip(),
            quality=float(sample.quality),
            created_at=now,
            content_sha256=sample.content_sha256,
        )
        for i, sample in enumerate(samples)
    ]
    s.add_all(rows)
    s.flush()
    for backend, matrix in matrices.items():
        check_backend_dim(s, backend, matrix.shape[1])
        s.add_all(
            Embedding(sample_id=row.id, backend=backend, vector=_vectors.to_bytes(vec), dim=matrix.shape[1])
            for row, vec in zip(rows, matrix)
        )
    s.flush()
    recompute_centroids(s, [person_id])
    return rows


def recompute_centroids(s: Session, person_ids: Iterable[int]) -> None:
    """Rebuild every centroid of ``person_ids`` from their stored embeddings (no embeddings, no centroid)."""
    ids = sorted(set(person_ids))
    if not ids:
        return
    bump_gallery(s)
    s.execute(delete(Centroid).where(Centroid.person_id.in_(ids)))
    stmt = (
        select(FaceSample.person_id, Embedding.backend, Embedding.vector, Embedding.dim, Embedding.id)
        .join(FaceSample, FaceSample.id == Embedding.sample_id)
        .where(FaceSample.person_id.in_(ids))
        .order_by(FaceSample.person_id, Embedding.backend, Embedding.id)
    )
    groups: dict[tuple[int, str], list[np.ndarray[Any, np.dtype[np.float32]]]] = {}
    for person_id, backend, vector, dim, emb_id in s.execute(stmt):
        groups.setdefault((person_id, backend), []).append(
            _vectors.from_bytes(vector, dim, f"embedding {emb_id}")
        )
    now = utcnow()
    for (person_id, backend), vectors in groups.items():
        mean = _vectors.centroid(np.stack(vectors))
        s.add(
            Centroid(
                person_id=person_id,
                backend=backend,
                vector=_vectors.to_bytes(mean),
                dim=mean.shape[0],
                n_samples=len(vectors),
                updated_at=now,
            )
        )
    s.flush()
