"""Data helpers shared by the DeepFace and Siamese trainers: resized crops, a split by person, balanced pairs.

Both networks are measured on people they never saw in training (a split by identity), with as many
same-person as different-person pairs, so that chance is 50 %.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from common.errors import InvalidInput


def resize_crops(crops: NDArray[np.uint8], size: int) -> NDArray[np.uint8]:
    """``(N, H, W, 3)`` uint8 crops resized to ``(N, size, size, 3)`` (area interpolation; unchanged if equal)."""
    import cv2

    if len(crops) and crops.shape[1:3] == (size, size):
        return crops
    out = np.zeros((len(crops), size, size, 3), np.uint8)
    for k, crop in enumerate(crops):
        out[k] = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    return out


def people_split(labels: NDArray[np.int64], fraction: float, seed: int = 0) -> NDArray[np.bool_]:
    """A held-out mask that holds out whole people: about ``fraction`` of them (at least two, so different-person
    pairs exist; at least two stay for training).

    Raises:
        InvalidInput: fewer than four people, or ``fraction`` outside (0, 0.9].
    """
    if not 0.0 < fraction <= 0.9:
        raise InvalidInput(f"held-out fraction {fraction} is out of range; use a value above 0 and at most 0.9, e.g. 0.2")
    people = np.unique(labels)
    if len(people) < 4:
        raise InvalidInput(f"these networks are measured on people they were not trained on: give at least 4 people "
                           f"with two or more photos (found {len(people)})")
    n = min(max(2, int(round(fraction * len(people)))), len(people) - 2)
    held_people = np.random.default_rng(seed).choice(people, n, replace=False)
    return np.isin(labels, held_people)


def relabel(labels: NDArray[np.int64]) -> tuple[NDArray[np.int64], int]:
    """Labels renumbered 0..K-1 (order kept) and K."""
    uniq, inverse = np.unique(labels, return_inverse=True)
    return inverse.astype(np.int64), int(len(uniq))


def sample_pairs(labels: NDArray[np.int64], count: int, rng: np.random.Generator) -> tuple[NDArray[np.int64], ...]:
    """``count`` index pairs ``(i, j, same)``, half of the same person (two different photos) and half of two
    different people, in random order.

    Raises:
        InvalidInput: nobody has two photos, or there is only one person.
    """
    by_person = [np.flatnonzero(labels == p) for p in np.unique(labels)]
    twice = [idx for idx in by_person if len(idx) >= 2]
    if not twice or len(by_person) < 2:
        raise InvalidInput("pairs need at least two people and someone with two photos")
    n_same = count // 2
    first, second = np.zeros(count, np.int64), np.zeros(count, np.int64)
    for k in range(n_same):
        a, b = rng.choice(twice[rng.integers(len(twice))], 2, replace=False)
        first[k], second[k] = a, b
    for k in range(n_same, count):
        p, q = rng.choice(len(by_person), 2, replace=False)
        first[k], second[k] = rng.choice(by_person[p]), rng.choice(by_person[q])
    same = np.arange(count) < n_same
    order = rng.permutation(count)
    return first[order], second[order], same[order]
