"""Verification figures on labelled embeddings: accuracy, ROC AUC and TAR at FAR 1e-3.

Pairs are scored by cosine similarity of unit vectors. Accuracy uses the threshold chosen on the *other* half of
the pairs (two folds, as the LFW protocol does with ten), so it is not tuned on the pairs it is measured on.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from models.embedders.base import l2_normalise
from models.evaluation import best_threshold, roc_auc, tar_at_far


def pair_indices(labels: NDArray[np.int64], mask: NDArray[np.bool_] | None = None, max_pairs: int = 20000,
                 seed: int = 0) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Balanced index pairs ``(i, j)``, ``i < j``, with at least one of them in ``mask`` (default: every photo).

    As many different-person pairs as same-person pairs (a seeded sample; at most ``max_pairs`` in all), as in
    the LFW protocol, so that accuracy is not won by answering "different" to everything.
    """
    n = len(labels)
    mask = np.ones(n, bool) if mask is None else np.asarray(mask, bool)
    i, j = np.triu_indices(n, 1)
    keep = mask[i] | mask[j]
    i, j = i[keep], j[keep]
    rng = np.random.default_rng(seed)
    same = labels[i] == labels[j]
    same_idx, diff_idx = np.flatnonzero(same), np.flatnonzero(~same)
    half = min(len(same_idx), len(diff_idx), max_pairs // 2)
    if half == 0:
        return i, j
    same_idx = rng.choice(same_idx, half, replace=False)
    diff_idx = rng.choice(diff_idx, half, replace=False)
    sel = np.sort(np.concatenate([same_idx, diff_idx]))
    return i[sel], j[sel]


def verification(vectors: NDArray[np.float32], first: NDArray[np.int64], second: NDArray[np.int64],
                 same: NDArray[np.bool_]) -> dict[str, float]:
    """``{"accuracy", "auc", "tar_at_far", "threshold", "pairs"}`` for pairs of rows of ``vectors``.

    ``threshold`` is the L2 distance between unit vectors (accept if ≤) that is best on all the pairs; it is
    what a registered backend uses. Accuracy is two-fold (threshold from the other half).
    """
    v = l2_normalise(vectors)
    scores = np.sum(v[first] * v[second], axis=1).astype(np.float64)
    same = np.asarray(same, bool)
    if len(scores) == 0 or same.all() or not same.any():
        return {"accuracy": float("nan"), "auc": float("nan"), "tar_at_far": float("nan"), "threshold": float("nan"),
                "pairs": int(len(scores))}
    halves = np.arange(len(scores)) % 2 == 0
    correct = 0
    for test in (halves, ~halves):
        train = ~test
        ok = train.any() and same[train].any() and (~same[train]).any()
        thr = best_threshold(scores[train], same[train]) if ok else best_threshold(scores, same)
        correct += int(((scores[test] >= thr) == same[test]).sum())
    cos = best_threshold(scores, same)
    return {
        "accuracy": correct / len(scores),
        "auc": roc_auc(scores, same),
        "tar_at_far": tar_at_far(scores, same),
        "threshold": float(np.sqrt(max(0.0, 2.0 - 2.0 * cos))),
        "pairs": int(len(scores)),
    }


def labelled_verification(vectors: NDArray[np.float32], labels: NDArray[np.int64],
                          mask: NDArray[np.bool_] | None = None) -> dict[str, float]:
    """:func:`verification` over the pairs of :func:`pair_indices` (same = same label)."""
    i, j = pair_indices(np.asarray(labels), mask)
    return verification(vectors, i, j, labels[i] == labels[j])
