"""Enrollment: photos or camera frames → checked face samples → a stored person with their centroid."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

from app.context import AppContext
from app.text import count
from common.errors import (
    BadImage,
    DuplicateError,
    InvalidInput,
    MultipleFaces,
    NoFaceFound,
    NotFound,
    RollcallError,
)
from common.progress import Progress, ShouldStop, never_stop, no_progress
from db.records import NewSample, PersonRecord
from models.engine import FaceEngine, make_canonical
from models.imageio import DEFAULT_MAX_PIXELS, decode_image, encode_jpeg, is_image_path, read_image_file
from models.quality import FaceQuality, assess
from models.types import Landmarks, RGBImage

log = logging.getLogger(__name__)

_PER_PERSON_ERRORS = (BadImage, NoFaceFound, MultipleFaces, InvalidInput, DuplicateError, NotFound)
"""What goes wrong with one person's folder in ``enroll-folder`` (reported; the others are still enrolled)."""


@dataclass(frozen=True)
class Candidate:
    """One photo or frame considered for enrollment.

    Attributes:
        source: file path or ``"camera"``. problem: why it cannot be used (``None`` = usable).
        crop: the canonical face crop to store and show (RGB), ``landmarks`` in its pixels.
        embedding: unit vector for the engine's backend. quality: size/sharpness/pose measures.
        sha256: of the photo file's bytes (``None`` for camera frames), to skip photos stored already.
    """

    source: str
    problem: str | None = None
    error: type[RollcallError] | None = field(default=None, repr=False)
    crop: RGBImage | None = field(default=None, repr=False)
    landmarks: Landmarks | None = None
    embedding: NDArray[np.float32] | None = field(default=None, repr=False)
    quality: FaceQuality | None = None
    sha256: str | None = None

    @property
    def usable(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class EnrollResult:
    """What an enrollment stored.

    Attributes:
        person: who the photos belong to (``None`` when nothing was stored and nobody was found).
        stored: how many new samples were stored.
        rejected: ``(source, problem)`` for each unusable photo.
        duplicates: ``(source, note)`` for each photo stored already (same file content), skipped.
    """

    person: PersonRecord | None
    stored: int
    rejected: tuple[tuple[str, str], ...] = ()
    duplicates: tuple[tuple[str, str], ...] = ()


def candidate_from_image(engine: FaceEngine, image: RGBImage, source: str) -> Candidate:
    """Check that ``image`` holds exactly one face and prepare it as a sample (never raises for bad faces)."""
    try:
        det = engine.single_face(image, source)
    except RollcallError as exc:
        return Candidate(source, problem=str(exc), error=type(exc))
    crop, landmarks = make_canonical(image, det)
    vector = engine.embed(image, [det.landmarks])[0]
    return Candidate(source, None, None, crop, landmarks, vector, assess(image, det))


def candidate_from_path(engine: FaceEngine, path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Candidate:
    """Like :func:`candidate_from_image` for a file; unreadable, too large or tiny files become a rejected
    candidate (never raises for a bad photo)."""
    try:
        data = read_image_file(path, max_pixels)
        image = decode_image(data, str(path), max_pixels)
    except BadImage as exc:
        return Candidate(str(path), problem=str(exc), error=type(exc))
    found = candidate_from_image(engine, image, str(path))
    return replace(found, sha256=hashlib.sha256(data).hexdigest())


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Image files named by ``paths``; a folder contributes the images directly inside it, sorted.

    Raises:
        BadImage: a path does not exist, or a folder holds no images.
    """
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and is_image_path(f))
            if not found:
                subs = sum(1 for f in p.iterdir() if f.is_dir())
                inside = f"; it has {subs} sub-folder{'s' if subs != 1 else ''}: name those instead" if subs else ""
                raise BadImage(f"{p}: the folder holds no images (JPEG, PNG, ...){inside}")
            out.extend(found)
        elif p.exists():
            out.append(p)
        else:
            raise BadImage(f"{p}: no such file or folder; check the path")
    return out


def analyze_paths(
    engine: FaceEngine,
    paths: Sequence[Path],
    progress: Progress = no_progress,
    should_stop: ShouldStop = never_stop,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> list[Candidate]:
    """A candidate per path (stops early, returning what is done, when ``should_stop()``)."""
    out = []
    for i, path in enumerate(paths):
        if should_stop():
            break
        progress(i, len(paths), f"checking {path.name}")
        out.append(candidate_from_path(engine, path, max_pixels))
    progress(len(out), len(paths), "checked")
    return out


def save_candidates(
    ctx: AppContext, name: str, external_id: str | None, candidates: Sequence[Candidate], person_id: int | None = None
) -> PersonRecord:
    """Store the usable candidates as one person's samples in one transaction.

    Adds to ``person_id`` when given, else to the person matching ``external_id`` or exactly one person named
    ``name``, else creates a new person.

    Raises:
        NoFaceFound: no usable candidate. InvalidInput: an empty name. DuplicateError: the id is taken.
    """
    name = name.strip()
    if not name and person_id is None:
        raise InvalidInput("the person's name is empty; give a name")
    usable = [c for c in candidates if c.usable]
    if not usable:
        raise NoFaceFound(f"no usable face among {count(len(candidates), 'photo')} for {name!r}; nothing was stored")
    samples = [
        NewSample(
            encode_jpeg(c.crop), [tuple(p) for p in c.landmarks.points], c.landmarks.scheme, c.source,
            c.quality.score, c.sha256,
        )  # fmt: skip
        for c in usable
    ]
    backend = ctx.engine.info.name
    vectors = {backend: np.stack([c.embedding for c in usable])}
    target = person_id if person_id is not None else _existing_person(ctx, name, external_id)
    if target is None:
        return ctx.repo.add_person(name, external_id, samples, vectors)
    ctx.repo.add_samples(target, samples, vectors)
    return ctx.repo.get_person(target)


def person_name(folder: str) -> str:
    """A display name from a folder name: underscores become spaces, all-lowercase names get capitals."""
    name = " ".join(folder.replace("_", " ").split())
    return name.title() if name == name.lower() else name


def _existing_person(ctx: AppContext, name: str, external_id: str | None) -> int | None:
    people = ctx.repo.list_people()
    if external_id:
        for p in people:
            if p.external_id == external_id:
                if p.name.casefold() != name.casefold():
                    raise InvalidInput(f"id {external_id!r} belongs to {p.name!r} (#{p.id}), not {name!r}")
                return p.id
        return None
    same = [p for p in people if p.name.casefold() == name.casefold()]
    return same[0].id if len(same) == 1 else None


def enroll_paths(
    ctx: AppContext,
    name: str,
    external_id: str | None,
    paths: Sequence[str | Path],
    progress: Progress = no_progress,
    should_stop: ShouldStop = never_stop,
    strict: bool = True,
) -> EnrollResult:
    """Enroll one person from photos.

    With ``strict`` (the ``enroll`` command) any rejected photo stores nothing and raises; otherwise the
    usable photos are stored and the rejected ones reported.

    Raises:
        BadImage/NoFaceFound/MultipleFaces: (strict) the first rejected photo, with the count of others.
    """
    files = expand_paths(paths)
    cands = analyze_paths(ctx.engine, files, progress, should_stop, ctx.config.max_pixels)
    rejected = tuple((c.source, c.problem) for c in cands if c.problem)
    if strict and rejected:
        first = next(c for c in cands if c.problem)
        more = f" (and {count(len(rejected) - 1, 'more rejected photo')})" if len(rejected) > 1 else ""
        raise (first.error or BadImage)(f"{first.problem}{more}; nothing was stored")
    fresh, duplicates, owners = split_duplicates(ctx, [c for c in cands if c.usable])
    if not fresh:
        owner = ctx.repo.get_person(owners.pop()) if len(owners) == 1 else None
        return EnrollResult(owner, 0, rejected, duplicates)
    person = save_candidates(ctx, name, external_id, fresh)
    return EnrollResult(person, len(fresh), rejected, duplicates)


def split_duplicates(
    ctx: AppContext, candidates: Sequence[Candidate]
) -> tuple[list[Candidate], tuple[tuple[str, str], ...], set[int]]:
    """Separate photos whose file content is stored already (or given twice) from new ones.

    Returns:
        The new candidates, ``(source, note)`` for each duplicate, and the ids of the people who own them.
    """
    stored = ctx.repo.owners_of_photos(c.sha256 for c in candidates if c.sha256)
    seen: dict[str, str] = {}
    fresh: list[Candidate] = []
    notes: list[tuple[str, str]] = []
    owners: set[int] = set()
    for c in candidates:
        if c.sha256 in stored:
            pid, who = stored[c.sha256]
            owners.add(pid)
            notes.append((c.source, f"{c.source} is already stored for {who} (#{pid}); skipped"))
        elif c.sha256 in seen:
            notes.append((c.source, f"{c.source} is the same photo as {seen[c.sha256]}; skipped"))
        else:
            if c.sha256:
                seen[c.sha256] = c.source
            fresh.append(c)
    return fresh, tuple(notes), owners


def enroll_folder(
    ctx: AppContext, root: str | Path, progress: Progress = no_progress, should_stop: ShouldStop = never_stop
) -> list[EnrollResult]:
    """Enroll one person per sub-folder of ``root`` (folder name = person name); bad photos are skipped.

    Raises:
        NotFound: ``root`` is not a folder or has no sub-folders.
    """
    base = Path(root)
    if not base.is_dir():
        raise NotFound(f"{base} is not a folder; give a folder with one sub-folder per person")
    people = sorted(d for d in base.iterdir() if d.is_dir())
    if not people:
        raise NotFound(f"{base} has no sub-folders; put each person's photos in a folder named after them")
    results = []
    for i, folder in enumerate(people):
        if should_stop():
            break
        progress(i, len(people), f"enrolling {folder.name}")
        try:
            results.append(enroll_paths(ctx, person_name(folder.name), None, [folder], strict=False))
        except _PER_PERSON_ERRORS as exc:  # one bad folder never aborts the batch
            results.append(EnrollResult(None, 0, ((str(folder), str(exc)),)))
    progress(len(results), len(people), "done")
    return results

