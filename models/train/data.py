"""Face sets for training: aligned crops with identities, from folder trees through the app's detect → align.

A :class:`FaceSet` holds crops already aligned the way the base backend needs (FaceNet: 160×160 box-margin
crops), one integer label per crop and the names behind the labels. Photos that yield no face or more than one
face are skipped and counted (a background tree of centred photos such as LFW may take the central face).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from common.errors import BadImage, InvalidInput
from common.progress import Progress, ShouldStop, never_stop, no_progress
from models.align import align_batch
from models.engine import FaceEngine
from models.imageio import is_image_path, load_image

log = logging.getLogger(__name__)


@dataclass
class FaceSet:
    """Aligned face crops and who they show.

    Attributes:
        crops: ``(N, H, W, 3)`` uint8 RGB, aligned for the base backend.
        labels: ``(N,)`` int64 index into ``names``.
        names: one name per identity. sources: one label per crop (file path or sample id), for reports.
        no_face, multiple_faces, unreadable: photos skipped for that reason. centre_box: photos where no face was
            found and the centre-box fallback was used instead (see :func:`load_tree`).
    """

    crops: NDArray[np.uint8]
    labels: NDArray[np.int64]
    names: list[str]
    sources: list[str] = field(default_factory=list)
    no_face: int = 0
    multiple_faces: int = 0
    unreadable: int = 0
    centre_box: int = 0

    def __len__(self) -> int:
        return len(self.labels)

    def counts(self) -> dict[str, int]:
        """Photos per person."""
        return {name: int(np.sum(self.labels == i)) for i, name in enumerate(self.names)}

    def subset(self, mask: NDArray[np.bool_]) -> "FaceSet":
        """The crops where ``mask`` is true (labels and names unchanged)."""
        idx = np.flatnonzero(mask)
        return FaceSet(self.crops[idx], self.labels[idx], self.names, [self.sources[i] for i in idx] if self.sources else [])


def empty_set(size: tuple[int, int]) -> FaceSet:
    """A set without photos, for crops of ``size`` = (width, height)."""
    return FaceSet(np.zeros((0, size[1], size[0], 3), np.uint8), np.zeros(0, np.int64), [])


def folder_tree(root: str | Path, min_photos: int = 1) -> dict[str, list[Path]]:
    """``{person: [photo, ...]}`` of a ``person/photo.jpg`` tree, people sorted, photos sorted.

    Raises:
        InvalidInput: ``root`` is not a folder or holds no person folder with at least ``min_photos`` images.
    """
    base = Path(root).expanduser()
    if not base.is_dir():
        raise InvalidInput(f"{base} is not a folder; give a folder with one sub-folder of photos per person")
    tree = {}
    for person in sorted(p for p in base.iterdir() if p.is_dir()):
        photos = sorted(p for p in person.iterdir() if p.is_file() and is_image_path(p))
        if len(photos) >= min_photos:
            tree[person.name] = photos
    if not tree:
        raise InvalidInput(f"{base} has no person folders with photos; lay it out as {base}/NAME/photo.jpg")
    return tree


def count_faces(engine: FaceEngine, paths: list[Path], progress: Progress = no_progress) -> list[tuple[Path, int]]:
    """How many faces the engine's detector finds in each photo (``-1``: unreadable), for ``--check-detect``."""
    out = []
    for k, path in enumerate(paths):
        try:
            out.append((path, len(engine.detect(load_image(path)))))
        except BadImage:
            out.append((path, -1))
        progress(k + 1, len(paths), path.name)
    return out


def load_tree(
    engine: FaceEngine,
    tree: dict[str, list[Path]],
    centred: bool = False,
    progress: Progress = no_progress,
    should_stop: ShouldStop = never_stop,
    centre_fallback: bool = False,
) -> FaceSet:
    """Detect, align and label every photo of ``tree`` (see :func:`folder_tree`).

    Args:
        engine: detector and the base backend's alignment (``engine.info``).
        tree: photos per person.
        centred: photos are centred on their person (LFW): with several faces, take the central one instead of
            skipping the photo.
        centre_fallback: photos are centred face crops (Extended Yale B): when the detector finds no face, use
            :meth:`FaceEngine.centre_face` (the central box with the landmark model's points); counted in
            ``FaceSet.centre_box`` instead of skipped.
    """
    from models.evaluation import central_face

    info = engine.info
    crops, labels, sources = [], [], []
    skipped = {"no_face": 0, "multiple_faces": 0, "unreadable": 0, "centre_box": 0}
    total, done = sum(len(v) for v in tree.values()), 0
    names = list(tree)
    for label, name in enumerate(names):
        for path in tree[name]:
            if should_stop():
                break
            done += 1
            progress(done, total, f"finding faces: {name}")
            try:
                image = load_image(path)
            except BadImage as exc:
                log.warning("skipping %s", exc)
                skipped["unreadable"] += 1
                continue
            dets = engine.detect(image)
            det = (central_face(dets, image) if centred else None) or (dets[0] if len(dets) == 1 else None)
            if det is None and not dets and centre_fallback:
                det = engine.centre_face(image)
                skipped["centre_box"] += 1
            if det is None:
                skipped["no_face" if not dets else "multiple_faces"] += 1
                continue
            crops.append(align_batch(image, [det.landmarks], info.alignment, info.input_size)[0])
            labels.append(label)
            sources.append(str(path))
    arr = np.stack(crops) if crops else empty_set(info.input_size).crops
    return FaceSet(arr, np.asarray(labels, np.int64), names, sources, **skipped)


def holdout_split(labels: NDArray[np.int64], fraction: float, seed: int = 0) -> NDArray[np.bool_]:
    """A per-person held-out mask: about ``fraction`` of each person's photos, at least one for anyone with three
    or more photos, and never a person's last two (they are needed to train with a positive pair).

    Raises:
        InvalidInput: ``fraction`` outside [0, 0.9].
    """
    if not 0.0 <= fraction <= 0.9:
        raise InvalidInput(f"held-out fraction {fraction} is out of range; use a value from 0 to 0.9, e.g. 0.2")
    rng = np.random.default_rng(seed)
    held = np.zeros(len(labels), bool)
    if fraction == 0.0:
        return held
    for lab in np.unique(labels):
        idx = np.flatnonzero(labels == lab)
        n = int(round(fraction * len(idx)))
        n = min(max(n, 1 if len(idx) >= 3 else 0), len(idx) - 2)
        if n > 0:
            held[rng.choice(idx, n, replace=False)] = True
    return held


def load_encoded(engine: FaceEngine, images: dict[str, list[bytes]], progress: Progress = no_progress,
                 should_stop: ShouldStop = never_stop) -> FaceSet:
    """:func:`load_tree` for encoded images held in memory (TFRecord shards)."""
    from models.imageio import decode_image

    info = engine.info
    crops, labels, sources = [], [], []
    skipped = {"no_face": 0, "multiple_faces": 0, "unreadable": 0}
    names = sorted(images, key=lambda s: (len(s), s))
    total, done = sum(len(v) for v in images.values()), 0
    for label, name in enumerate(names):
        for k, data in enumerate(images[name]):
            if should_stop():
                break
            done += 1
            progress(done, total, f"finding faces: label {name}")
            try:
                image = decode_image(data, f"record {k} of label {name}")
            except BadImage:
                skipped["unreadable"] += 1
                continue
            dets = engine.detect(image)
            if len(dets) != 1:
                skipped["no_face" if not dets else "multiple_faces"] += 1
                continue
            crops.append(align_batch(image, [dets[0].landmarks], info.alignment, info.input_size)[0])
            labels.append(label)
            sources.append(f"label {name} #{k}")
    arr = np.stack(crops) if crops else empty_set(info.input_size).crops
    return FaceSet(arr, np.asarray(labels, np.int64), names, sources, **skipped)
