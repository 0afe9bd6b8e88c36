"""Triplet loss with online mining, in TensorFlow (imported inside the functions).

Distances are squared Euclidean between the (L2-normalised) embeddings of one batch, as in FaceNet
(Schroff et al. 2015), so a margin of 0.2 means what it meant there.

* **semi-hard** (FaceNet sense): for every anchor–positive pair ``(a, p)`` the negative is the closest one that
  is still farther from the anchor than the positive (``d(a,n) > d(a,p)``); when no negative is farther, the
  hardest (closest) negative is used instead.
* **batch-hard** (Hermans et al. 2017): for every anchor, its farthest positive and its closest negative.

Both return the mean hinge ``max(d(a,p) − d(a,n) + margin, 0)`` over the valid triplets and the fraction of
those triplets that are active (non-zero loss). A batch without any valid triplet (one person, or K = 1) gives a
loss of 0 (still differentiable) and an active fraction of 0.
"""

from __future__ import annotations

from typing import Any

MINERS = ("semi-hard", "batch-hard")


def pairwise_sq_distances(embeddings: Any) -> Any:
    """``(B, B)`` squared Euclidean distances between the rows of ``(B, D)`` ``embeddings`` (float32, ≥ 0)."""
    import tensorflow as tf

    sq = tf.reduce_sum(tf.square(embeddings), axis=1)
    dots = tf.matmul(embeddings, embeddings, transpose_b=True)
    return tf.maximum(sq[:, None] - 2.0 * dots + sq[None, :], 0.0)


def triplet_loss(labels: Any, embeddings: Any, margin: float = 0.2, miner: str = "semi-hard") -> tuple[Any, Any]:
    """Triplet loss of one batch with online mining.

    Args:
        labels: ``(B,)`` integer identities.
        embeddings: ``(B, D)`` float embeddings (normalise them first for the FaceNet sense of the margin).
        margin: the hinge margin (in squared distance).
        miner: ``"semi-hard"`` or ``"batch-hard"``.

    Returns:
        ``(loss, active_fraction)``, two float32 scalars.

    Raises:
        ValueError: unknown ``miner``.
    """
    import tensorflow as tf

    if miner not in MINERS:
        raise ValueError(f"unknown triplet miner {miner!r}; use one of {', '.join(MINERS)}")
    emb = tf.cast(embeddings, tf.float32)
    labels = tf.reshape(labels, [-1])
    dist = pairwise_sq_distances(emb)
    same = tf.equal(labels[:, None], labels[None, :])
    eye = tf.eye(tf.shape(labels)[0], dtype=tf.bool)
    pos_mask = tf.logical_and(same, tf.logical_not(eye))
    neg_mask = tf.logical_not(same)
    if miner == "semi-hard":
        hinge, valid = _semi_hard(dist, pos_mask, neg_mask, margin)
    else:
        hinge, valid = _batch_hard(dist, pos_mask, neg_mask, margin)
    valid_f = tf.cast(valid, tf.float32)
    count = tf.reduce_sum(valid_f)
    loss = tf.reduce_sum(hinge * valid_f) / tf.maximum(count, 1.0)
    active = tf.reduce_sum(tf.cast(tf.logical_and(valid, hinge > 1e-12), tf.float32)) / tf.maximum(count, 1.0)
    return loss, active


def _semi_hard(dist: Any, pos_mask: Any, neg_mask: Any, margin: float) -> tuple[Any, Any]:
    """Hinge ``(B, B)`` for every (anchor, positive) and whether that pair has a negative at all."""
    import tensorflow as tf

    inf = tf.constant(float("inf"), tf.float32)
    d_ap = dist[:, :, None]  # (a, p, 1)
    d_an = dist[:, None, :]  # (a, 1, n)
    farther = tf.logical_and(neg_mask[:, None, :], d_an > d_ap)  # (a, p, n)
    semi = tf.reduce_min(tf.where(farther, tf.broadcast_to(d_an, tf.shape(farther)), inf), axis=2)
    hardest = tf.reduce_min(tf.where(neg_mask, dist, inf), axis=1)  # (a,)
    has_semi = tf.reduce_any(farther, axis=2)
    chosen = tf.where(has_semi, semi, tf.broadcast_to(hardest[:, None], tf.shape(semi)))
    has_neg = tf.reduce_any(neg_mask, axis=1)
    valid = tf.logical_and(pos_mask, has_neg[:, None])
    chosen = tf.where(valid, chosen, tf.zeros_like(chosen))  # keep inf out of the arithmetic
    return tf.maximum(dist - chosen + margin, 0.0), valid


def _batch_hard(dist: Any, pos_mask: Any, neg_mask: Any, margin: float) -> tuple[Any, Any]:
    """Hinge ``(B,)`` per anchor (farthest positive, closest negative) and whether the anchor has both."""
    import tensorflow as tf

    inf = tf.constant(float("inf"), tf.float32)
    hardest_pos = tf.reduce_max(tf.where(pos_mask, dist, tf.zeros_like(dist)), axis=1)
    hardest_neg = tf.reduce_min(tf.where(neg_mask, dist, inf), axis=1)
    valid = tf.logical_and(tf.reduce_any(pos_mask, axis=1), tf.reduce_any(neg_mask, axis=1))
    hardest_neg = tf.where(valid, hardest_neg, tf.zeros_like(hardest_neg))
    return tf.maximum(hardest_pos - hardest_neg + margin, 0.0), valid
