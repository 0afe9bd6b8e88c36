"""P×K batches with a fixed seed, and augmentation suited to faces (NumPy/OpenCV, no TensorFlow).

A batch holds P people × K photos of each, so every batch contains positives and negatives for online triplet
mining. People with fewer than K photos are sampled with replacement; with a background set, each batch also
gets photos of background people (negatives only for the user's people, and hard negatives among themselves).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class PKConfig:
    """``people`` (P) × ``per_person`` (K) per batch; ``background_people`` extra people from the background."""

    people: int = 8
    per_person: int = 4
    background_people: int = 0


def steps_per_epoch(n_photos: int, config: PKConfig) -> int:
    """Batches in one epoch: enough to show about every training photo once (at least one)."""
    return max(1, int(np.ceil(n_photos / (config.people * config.per_person))))


def pk_batches(
    labels: NDArray[np.int64], config: PKConfig, steps: int, rng: np.random.Generator, background: NDArray[np.int64] | None = None
) -> list[NDArray[np.int64]]:
    """Index arrays of ``steps`` P×K batches.

    Args:
        labels: ``(N,)`` identity of each training photo.
        config: P, K and background people per batch.
        steps: how many batches.
        rng: the seeded generator (same seed, same batches).
        background: ``(M,)`` identities of background photos; their indices are returned offset by ``N``.

    Returns:
        ``steps`` arrays of photo indices (into ``labels``, then ``background`` offset by ``len(labels)``).
    """
    groups = _groups(labels)
    bg_groups = [g + len(labels) for g in _groups(background)] if background is not None and len(background) else []
    order: list[int] = []
    out = []
    for _ in range(steps):
        chosen, taken = [], set()
        for _ in range(min(config.people, len(groups))):
            if not order:  # a new round; people already in this batch are drawn last
                perm = [int(g) for g in rng.permutation(len(groups))]
                order = [g for g in perm if g in taken] + [g for g in perm if g not in taken]
            person = order.pop()
            taken.add(person)
            chosen.append(_pick(groups[person], config.per_person, rng))
        if bg_groups and config.background_people:
            for g in rng.choice(len(bg_groups), min(config.background_people, len(bg_groups)), replace=False):
                chosen.append(_pick(bg_groups[g], config.per_person, rng))
        out.append(np.concatenate(chosen))
    return out


def _groups(labels: NDArray[np.int64] | None) -> list[NDArray[np.int64]]:
    if labels is None or len(labels) == 0:
        return []
    labels = np.asarray(labels)
    return [np.flatnonzero(labels == lab) for lab in np.unique(labels)]


def _pick(indices: NDArray[np.int64], k: int, rng: np.random.Generator) -> NDArray[np.int64]:
    return rng.choice(indices, k, replace=len(indices) < k)


def augment(crops: NDArray[np.uint8], rng: np.random.Generator, strength: float = 1.0) -> NDArray[np.uint8]:
    """Randomly mirrored, slightly shifted/scaled and re-lit copies of ``(N, H, W, 3)`` uint8 RGB face crops.

    Geometry: mirror with probability ½, scale ×[0.95, 1.05], shift ±4 % of the side, so the alignment the
    backend expects is kept. Light (classroom lighting): brightness ±20 %, contrast ×[0.8, 1.2], gamma
    [0.8, 1.25]. ``strength`` scales every range (0 = unchanged copies, not mirrored).
    """
    import cv2

    out = np.empty_like(crops)
    h, w = crops.shape[1:3]
    for i, crop in enumerate(crops):
        img = crop[:, ::-1] if strength > 0 and rng.random() < 0.5 else crop
        scale = 1.0 + strength * rng.uniform(-0.05, 0.05)
        dx, dy = strength * rng.uniform(-0.04, 0.04, size=2) * (w, h)
        m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), 0.0, scale)
        m[:, 2] += (dx, dy)
        img = cv2.warpAffine(np.ascontiguousarray(img), m, (w, h), borderMode=cv2.BORDER_REFLECT)
        out[i] = _relight(img, rng, strength)
    return out


def _relight(img: NDArray[np.uint8], rng: np.random.Generator, strength: float) -> NDArray[np.uint8]:
    x = img.astype(np.float32) / 255.0
    gamma = float(np.exp(strength * rng.uniform(np.log(0.8), np.log(1.25))))
    x = x**gamma
    mean = x.mean()
    x = (x - mean) * (1.0 + strength * rng.uniform(-0.2, 0.2)) + mean
    x = x * (1.0 + strength * rng.uniform(-0.2, 0.2))
    return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)
