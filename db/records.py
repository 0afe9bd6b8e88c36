"""Plain, frozen values that repositories hand to callers (never ORM objects).

Every datetime here is timezone-aware UTC. Vectors are ``float32``. Landmarks are ``(x, y)`` pixels in the
aligned crop they belong to, ``x`` to the right and ``y`` down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Optional

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class PersonRecord:
    """A person as stored.

    Attributes:
        id: database id (stable; what the CLI accepts when names are ambiguous).
        name: display name (not unique).
        external_id: e.g. a student number; unique when set.
        created_at: when the person was added (aware UTC).
        sample_count: how many face samples are stored.
        last_seen: time of their latest attendance event, or ``None``.
    """

    id: int
    name: str
    external_id: Optional[str]
    created_at: datetime
    sample_count: int
    last_seen: Optional[datetime]


@dataclass(frozen=True)
class NewSample:
    """A face sample to store.

    Attributes:
        image: JPEG bytes of the aligned face crop.
        landmarks: ``(x, y)`` pixel positions in the crop.
        landmark_scheme: which landmark layout, e.g. ``"dlib68"``.
        source: where it came from: a file path, ``"camera"``, ...
        quality: a detector/sharpness score; higher is better.
        content_sha256: hex sha256 of the photo file it came from (``None`` for camera frames); a photo whose
            hash is already stored is a duplicate (see ``SampleRepository.owners_of_photos``).
    """

    image: bytes
    landmarks: Sequence[tuple[float, float]]
    landmark_scheme: str
    source: str
    quality: float
    content_sha256: Optional[str] = None


@dataclass(frozen=True)
class SampleRecord:
    """A stored face sample (see :class:`NewSample`); ``created_at`` is aware UTC."""

    id: int
    person_id: int
    image: bytes
    landmarks: list[tuple[float, float]]
    landmark_scheme: str
    source: str
    quality: float
    created_at: datetime


@dataclass(frozen=True)
class SessionRecord:
    """An attendance session; times aware UTC, ``n_events`` counts its attendance events."""

    id: int
    name: str
    started_at: datetime
    ended_at: Optional[datetime]
    late_after: Optional[datetime]
    n_events: int


@dataclass(frozen=True)
class EventRecord:
    """One attendance mark.

    ``person_id`` is ``None`` once the person was removed; ``person_name`` and ``external_id`` are the values at
    the time of the event. ``score`` and ``backend`` are set for automatic recognitions; ``station`` is the
    name of the station that recorded it (``None`` for rows older than stations or written without one).
    """

    id: int
    person_id: Optional[int]
    person_name: str
    external_id: Optional[str]
    session_id: int
    session_name: str
    time: datetime
    source: str
    score: Optional[float]
    backend: Optional[str]
    station: Optional[str] = None


def _empty_matrix() -> NDArray[np.float32]:
    return np.zeros((0, 0), dtype=np.float32)


@dataclass(frozen=True)
class CentroidSet:
    """Everyone's centroid for one backend, ready for matching.

    Attributes:
        backend: the embedding backend's registry key.
        person_ids: row ``i`` of ``matrix`` belongs to ``person_ids[i]``.
        names: display names, aligned with ``person_ids``.
        matrix: shape ``(N, D)`` float32, unit-length rows; ``(0, 0)`` when nobody has a centroid.
    """

    backend: str
    person_ids: tuple[int, ...] = ()
    names: tuple[str, ...] = ()
    matrix: NDArray[np.float32] = field(default_factory=_empty_matrix)

    def __len__(self) -> int:
        return len(self.person_ids)
