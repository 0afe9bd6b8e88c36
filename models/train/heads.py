"""Margin-loss classification heads (ArcFace, CosFace, SphereFace) as Keras layers.

Each head holds the class-weight matrix ``W`` ``(D, C)`` and turns embeddings ``(B, D)`` into logits ``(B, C)``:
``cos θ_j = x̂ · ŵ_j`` (both L2-normalised, clipped into ``[-1 + ε, 1 − ε]``), the target class's cosine
replaced by a margin version, everything times the scale ``s``. Without labels (inference) the logits are
``s · cos θ``.

* **ArcFace** (Deng et al. 2019), additive angular margin: ``cos(θ + m)``. Where ``θ + m`` would pass π
  (``cos θ ≤ cos(π − m)``) the logit would stop decreasing, so insightface's threshold case uses
  ``cos θ − m · sin(π − m)`` there; ``easy_margin`` instead keeps ``cos θ`` wherever ``cos θ ≤ 0``.
* **CosFace** (Wang et al. 2018), additive cosine margin: ``cos θ − m``.
* **SphereFace** (Liu et al. 2017), multiplicative angular margin ``cos(m θ)`` on normalised features, with
  A-Softmax's monotonic extension ``ψ(θ) = (−1)^k cos(m θ) − 2k``, ``k = ⌊m θ / π⌋`` (continuous, decreasing
  on ``[0, π]`` for any ``m ≥ 1``, non-integer ``m`` included).

Defaults (the JHFace / arcface-tf2 recipe): ArcFace m 0.5 s 64, CosFace m 0.35 s 64, SphereFace m 1.35 s 30.

Keras (and with it TensorFlow) is imported only when a head class is first used: ``from models.train.heads import
ArcHead`` resolves the class lazily through the module's ``__getattr__``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

from common.errors import InvalidInput

EPS = 1e-7
"""Cosines are clipped into ``[-1 + EPS, 1 − EPS]`` before ``acos``/``sqrt`` (their gradients are infinite at ±1)."""


@dataclass(frozen=True)
class HeadKind:
    """A head's name, class name and default margin and scale."""

    name: str
    class_name: str
    margin: float
    scale: float
    description: str


HEADS: dict[str, HeadKind] = {
    "arc": HeadKind("arc", "ArcHead", 0.5, 64.0, "ArcFace, additive angular margin cos(θ + m)"),
    "cos": HeadKind("cos", "CosHead", 0.35, 64.0, "CosFace, additive cosine margin cos θ − m"),
    "sphere": HeadKind("sphere", "SphereHead", 1.35, 30.0, "SphereFace, multiplicative angular margin cos(m θ)"),
}


def head_kind(name: str) -> HeadKind:
    """The head called ``name``.

    Raises:
        InvalidInput: unknown name (the message lists the known ones).
    """
    try:
        return HEADS[name]
    except KeyError:
        raise InvalidInput(f"unknown margin head {name!r}; use one of {', '.join(HEADS)}") from None


def make_head(kind_name: str, classes: int, margin: float | None = None, scale: float | None = None, **kwargs: Any) -> Any:
    """A head layer of kind ``kind_name`` over ``classes`` identities (``None``: the kind's default margin/scale;
    ``kwargs`` go to the layer, e.g. ``name``)."""
    kind = head_kind(kind_name)
    cls = _classes()[kind.class_name]
    return cls(classes, kind.margin if margin is None else margin, kind.scale if scale is None else scale, **kwargs)


def __getattr__(name: str) -> Any:
    if name in {k.class_name for k in HEADS.values()} or name == "MarginHead":
        return _classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@cache
def _classes() -> dict[str, type]:
    """Define the Keras layer classes (imports Keras; once per process)."""
    import keras
    import tensorflow as tf

    @keras.saving.register_keras_serializable(package="rollcall")
    class MarginHead(keras.layers.Layer):
        """Base head: class weights, cosines, and the target-logit margin of the subclass."""

        default_margin = 0.0
        default_scale = 64.0

        def __init__(self, classes: int, margin: float | None = None, scale: float | None = None,
                     weight_decay: float = 0.0, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            if classes < 2:
                raise InvalidInput(f"a margin head needs at least 2 identities; got {classes}")
            self.classes = int(classes)
            self.margin = float(self.default_margin if margin is None else margin)
            self.scale = float(self.default_scale if scale is None else scale)
            self.weight_decay = float(weight_decay)

        def build(self, embeddings_shape: Any, labels_shape: Any = None) -> None:
            reg = keras.regularizers.L2(self.weight_decay) if self.weight_decay else None
            self.kernel = self.add_weight(name="kernel", shape=(int(embeddings_shape[-1]), self.classes),
                                          initializer="glorot_uniform", regularizer=reg)

        def cosines(self, embeddings: Any) -> Any:
            """``(B, C)`` clipped cosines between the embeddings and the class weights."""
            x = tf.math.l2_normalize(tf.cast(embeddings, tf.float32), axis=1)
            w = tf.math.l2_normalize(tf.cast(self.kernel, tf.float32), axis=0)
            return tf.clip_by_value(tf.matmul(x, w), -1.0 + EPS, 1.0 - EPS)

        def target(self, cos: Any) -> Any:
            """The margin version of the cosines (used for the target class only)."""
            raise NotImplementedError

        def call(self, embeddings: Any, labels: Any = None) -> Any:
            cos = self.cosines(embeddings)
            if labels is None:
                return self.scale * cos
            onehot = tf.one_hot(tf.cast(tf.reshape(labels, [-1]), tf.int32), self.classes, dtype=tf.float32)
            return self.scale * (onehot * self.target(cos) + (1.0 - onehot) * cos)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "classes": self.classes, "margin": self.margin, "scale": self.scale,
                    "weight_decay": self.weight_decay}

    @keras.saving.register_keras_serializable(package="rollcall")
    class ArcHead(MarginHead):
        """ArcFace: ``cos(θ + m)``; threshold case ``cos θ − m sin(π − m)`` (or ``easy_margin``)."""

        default_margin, default_scale = 0.5, 64.0

        def __init__(self, classes: int, margin: float | None = None, scale: float | None = None,
                     easy_margin: bool = False, **kwargs: Any) -> None:
            super().__init__(classes, margin, scale, **kwargs)
            self.easy_margin = bool(easy_margin)

        def target(self, cos: Any) -> Any:
            m = self.margin
            sin = tf.sqrt(tf.maximum(1.0 - tf.square(cos), 0.0))
            phi = cos * math.cos(m) - sin * math.sin(m)
            if self.easy_margin:
                return tf.where(cos > 0.0, phi, cos)
            return tf.where(cos > math.cos(math.pi - m), phi, cos - math.sin(math.pi - m) * m)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "easy_margin": self.easy_margin}

    @keras.saving.register_keras_serializable(package="rollcall")
    class CosHead(MarginHead):
        """CosFace: ``cos θ − m``."""

        default_margin, default_scale = 0.35, 64.0

        def target(self, cos: Any) -> Any:
            return cos - self.margin

    @keras.saving.register_keras_serializable(package="rollcall")
    class SphereHead(MarginHead):
        """SphereFace: ``(−1)^k cos(m θ) − 2k``, ``k = ⌊m θ / π⌋``."""

        default_margin, default_scale = 1.35, 30.0

        def target(self, cos: Any) -> Any:
            theta = tf.acos(cos)
            k = tf.floor(self.margin * theta / math.pi)
            sign = 1.0 - 2.0 * tf.math.floormod(k, 2.0)
            return sign * tf.cos(self.margin * theta) - 2.0 * k

    return {"MarginHead": MarginHead, "ArcHead": ArcHead, "CosHead": CosHead, "SphereHead": SphereHead}
