"""The TensorFlow triplet miners against a brute-force NumPy reference, including degenerate batches."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from models.train.losses import triplet_loss  # noqa: E402


def _reference(labels: np.ndarray, emb: np.ndarray, margin: float, miner: str) -> tuple[float, float]:
    """Loop over every triplet the way the FaceNet paper / Hermans et al. describe it."""
    n = len(labels)
    d = ((emb[:, None, :].astype(np.float64) - emb[None, :, :]) ** 2).sum(-1)
    hinges = []
    if miner == "semi-hard":
        for a in range(n):
            negs = [j for j in range(n) if labels[j] != labels[a]]
            if not negs:
                continue
            for p in range(n):
                if p == a or labels[p] != labels[a]:
                    continue
                farther = [d[a, j] for j in negs if d[a, j] > d[a, p]]
                neg = min(farther) if farther else min(d[a, j] for j in negs)
                hinges.append(max(d[a, p] - neg + margin, 0.0))
    else:
        for a in range(n):
            pos = [d[a, j] for j in range(n) if j != a and labels[j] == labels[a]]
            negs = [d[a, j] for j in range(n) if labels[j] != labels[a]]
            if pos and negs:
                hinges.append(max(max(pos) - min(negs) + margin, 0.0))
    if not hinges:
        return 0.0, 0.0
    h = np.array(hinges)
    return float(h.mean()), float((h > 1e-12).mean())


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.parametrize("miner", ["semi-hard", "batch-hard"])
@pytest.mark.parametrize("seed", range(6))
def test_miner_matches_brute_force_on_random_batches(miner: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    people, per = int(rng.integers(2, 6)), int(rng.integers(2, 5))
    labels = np.repeat(np.arange(people), per)
    rng.shuffle(labels)
    emb = _unit(rng, len(labels), 8)
    margin = float(rng.choice([0.2, 0.5, 1.0]))
    loss, active = triplet_loss(tf.constant(labels), tf.constant(emb), margin, miner)
    ref_loss, ref_active = _reference(labels, emb, margin, miner)
    assert float(loss) == pytest.approx(ref_loss, abs=1e-5)
    assert float(active) == pytest.approx(ref_active, abs=1e-6)


@pytest.mark.parametrize("miner", ["semi-hard", "batch-hard"])
def test_unequal_group_sizes_and_singletons(miner: str) -> None:
    rng = np.random.default_rng(42)
    labels = np.array([0, 0, 0, 1, 2, 2, 3, 4, 4, 4, 4])  # people 1 and 3 have a single photo: negatives only
    emb = _unit(rng, len(labels), 4)
    loss, active = triplet_loss(tf.constant(labels), tf.constant(emb), 0.3, miner)
    ref = _reference(labels, emb, 0.3, miner)
    assert (float(loss), float(active)) == pytest.approx(ref, abs=1e-5)


@pytest.mark.parametrize("miner", ["semi-hard", "batch-hard"])
@pytest.mark.parametrize("labels", [[7, 7, 7, 7], [0, 1, 2, 3]], ids=["one-person", "K=1"])
def test_batches_without_a_valid_triplet_give_zero_and_a_finite_gradient(miner: str, labels: list[int]) -> None:
    emb = tf.Variable(_unit(np.random.default_rng(1), len(labels), 5))
    with tf.GradientTape() as tape:
        loss, active = triplet_loss(tf.constant(labels), emb, 0.2, miner)
    grad = tape.gradient(loss, emb)
    assert float(loss) == 0.0 and float(active) == 0.0
    assert grad is None or np.all(np.isfinite(grad.numpy()))


def test_semi_hard_falls_back_to_the_hardest_negative() -> None:
    # Anchor 0 and its positive 1 are far apart; both negatives are nearer than the positive, so no negative is
    # semi-hard: the hardest (nearest) one, at squared distance 0.01, must be used.
    emb = np.array([[0.0, 0.0], [2.0, 0.0], [0.1, 0.0], [0.0, 0.5]], np.float32)
    labels = np.array([0, 0, 1, 1])
    loss, _ = triplet_loss(tf.constant(labels), tf.constant(emb), 0.2, "semi-hard")
    assert float(loss) == pytest.approx(_reference(labels, emb, 0.2, "semi-hard")[0], abs=1e-5)
    d_ap, d_hardest = 4.0, 0.01
    # the anchor-0 triplet alone contributes (4 - 0.01 + 0.2); the mean is over the 4 anchor-positive pairs
    assert float(loss) >= (d_ap - d_hardest + 0.2) / 4 - 1e-5


def test_training_with_the_loss_separates_people() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 4)
    x = tf.constant(rng.normal(size=(16, 6)).astype(np.float32) + labels[:, None].astype(np.float32) * 0.3)
    dense = tf.keras.layers.Dense(4)
    opt = tf.keras.optimizers.Adam(0.05)
    first = None
    for _ in range(60):
        with tf.GradientTape() as tape:
            emb = tf.math.l2_normalize(dense(x), axis=1)
            loss, _ = triplet_loss(tf.constant(labels), emb, 0.2)
        opt.apply_gradients(zip(tape.gradient(loss, dense.trainable_variables), dense.trainable_variables))
        first = float(loss) if first is None else first
    assert float(loss) < 0.5 * first
