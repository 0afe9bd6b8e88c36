"""Margin heads against a direct NumPy computation of their logits, their defaults, and numerical safety at the
edges (cosines of ±1, angles past π − m)."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from common.errors import InvalidInput  # noqa: E402
from models.train.heads import HEADS, make_head  # noqa: E402


def _cos(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    wn = w / np.linalg.norm(w, axis=0, keepdims=True)
    return np.clip(xn @ wn, -1 + 1e-7, 1 - 1e-7)


def _arc(c: np.ndarray, m: float, easy: bool = False) -> np.ndarray:
    out = np.empty_like(c)
    for idx, v in np.ndenumerate(c):
        theta = math.acos(v)
        if easy:
            out[idx] = math.cos(theta + m) if v > 0 else v
        elif theta + m < math.pi:  # same as cos θ > cos(π − m)
            out[idx] = math.cos(theta + m)
        else:
            out[idx] = v - m * math.sin(math.pi - m)
    return out


def _sphere(c: np.ndarray, m: float) -> np.ndarray:
    out = np.empty_like(c)
    for idx, v in np.ndenumerate(c):
        theta = math.acos(v)
        k = math.floor(m * theta / math.pi)
        out[idx] = (-1) ** k * math.cos(m * theta) - 2 * k
    return out


REFERENCE = {"arc": _arc, "cos": lambda c, m: c - m, "sphere": _sphere}


def _logits_numpy(kind: str, x: np.ndarray, w: np.ndarray, labels: np.ndarray, m: float, s: float,
                  **kw: bool) -> np.ndarray:
    c = _cos(x, w).astype(np.float64)
    target = REFERENCE[kind](c, m, **kw)
    onehot = np.eye(w.shape[1])[labels]
    return s * (onehot * target + (1 - onehot) * c)


def _data(seed: int = 0, n: int = 16, d: int = 8, classes: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    w = rng.normal(size=(d, classes)).astype(np.float32)
    x[0] = w[:, 2] * 3.0  # cos θ = 1 with its own class: the clipped edge
    x[1] = -w[:, 4]  # cos θ = −1 with its own class: θ + m past π (ArcFace's threshold case)
    labels = rng.integers(0, classes, n)
    labels[0], labels[1] = 2, 4
    return x, w, labels


@pytest.mark.parametrize("kind", ["arc", "cos", "sphere"])
def test_logits_match_numpy_with_the_default_margin_and_scale(kind: str) -> None:
    x, w, labels = _data()
    head = make_head(kind, w.shape[1])
    head.build(x.shape)
    head.kernel.assign(w)
    got = np.asarray(head(x, labels))
    spec = HEADS[kind]
    want = _logits_numpy(kind, x, w, labels, spec.margin, spec.scale)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-3 * spec.scale / 64)
    assert np.isfinite(got).all()


def test_defaults_are_the_recipe_values() -> None:
    assert [(HEADS[k].margin, HEADS[k].scale) for k in ("arc", "cos", "sphere")] == [(0.5, 64.0), (0.35, 64.0), (1.35, 30.0)]
    from models.train.heads import ArcHead, CosHead, SphereHead

    assert (ArcHead(3).margin, CosHead(3).margin, SphereHead(3).scale) == (0.5, 0.35, 30.0)


def test_arcface_easy_margin_matches_numpy() -> None:
    from models.train.heads import ArcHead

    x, w, labels = _data(1)
    head = ArcHead(w.shape[1], easy_margin=True)
    head.build(x.shape)
    head.kernel.assign(w)
    np.testing.assert_allclose(np.asarray(head(x, labels)), _logits_numpy("arc", x, w, labels, 0.5, 64, easy=True),
                               rtol=1e-4, atol=2e-3)


@pytest.mark.parametrize("kind", ["arc", "cos", "sphere"])
def test_margin_lowers_only_the_target_logit_and_gradients_stay_finite(kind: str) -> None:
    import tensorflow as tf

    x, w, labels = _data(2)
    head = make_head(kind, w.shape[1])
    head.build(x.shape)
    head.kernel.assign(w)
    plain = np.asarray(head(x))
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        logits = head(xt, labels)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
    grads = [tape.gradient(loss, xt)]
    got = np.asarray(logits)
    rows = np.arange(len(labels))
    assert (got[rows, labels] < plain[rows, labels]).all()  # the margin makes the own class harder
    other = np.ones_like(got, bool)
    other[rows, labels] = False
    np.testing.assert_allclose(got[other], plain[other], rtol=1e-6, atol=1e-5)
    assert all(np.isfinite(np.asarray(g)).all() for g in grads)


def test_bad_head_name_and_too_few_classes_are_refused() -> None:
    with pytest.raises(InvalidInput, match="arc, cos, sphere"):
        make_head("triplet", 5)
    with pytest.raises(InvalidInput, match="at least 2"):
        make_head("arc", 1)
