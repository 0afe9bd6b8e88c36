"""How two face embeddings are compared: a cosine similarity or an L2 distance, with the behaviour on the type.

Every vector Rollcall compares is L2-normalised, so both metrics are functions of the cosine ``c`` of two
vectors: ``cosine`` scores ``c`` itself (higher is closer), ``l2`` scores ``sqrt(2 - 2c)`` (lower is closer).
A :class:`Metric` is a ``str`` whose value is the name settings, model manifests and the database store
(``"cosine"``, ``"l2"``), so it prints, compares and serialises as that name.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from common.errors import InvalidInput

Scores = TypeVar("Scores", float, NDArray[np.floating])


class Metric(StrEnum):
    """A backend's metric: ``COSINE`` (similarity, higher is closer) or ``L2`` (distance, lower is closer)."""

    COSINE = "cosine"
    L2 = "l2"

    @classmethod
    def named(cls, name: Metric | str) -> Metric:
        """The metric called ``name``.

        Raises:
            InvalidInput: ``name`` is neither ``cosine`` nor ``l2``.
        """
        try:
            return cls(name)
        except ValueError:
            raise InvalidInput(f"unknown metric {name!r}; use one of {', '.join(m.value for m in cls)}") from None

    @property
    def is_distance(self) -> bool:
        """Whether lower scores are closer (``l2``) rather than higher ones (``cosine``)."""
        return self is Metric.L2

    @property
    def symbol(self) -> str:
        """How a score must compare with the threshold to match: ``"<="`` for a distance, ``">="`` otherwise."""
        return "<=" if self.is_distance else ">="

    @property
    def sign(self) -> float:
        """``+1`` for a distance, ``-1`` for a similarity: ``sign * score`` is always "lower is closer"."""
        return 1.0 if self.is_distance else -1.0

    @property
    def worst(self) -> float:
        """The score of the farthest possible pair (opposite unit vectors): -1 cosine, 2 L2."""
        return 2.0 if self.is_distance else -1.0

    @property
    def threshold_range(self) -> tuple[float, float]:
        """Every score two unit vectors can have, so every threshold that makes sense: ``(low, high)``."""
        return (0.0, 2.0) if self.is_distance else (-1.0, 1.0)

    def score(self, cos: Scores) -> Scores:
        """The cosine similarity ``cos`` of unit vectors (a number or an array) expressed in this metric.

        An array comes back as float32 for ``l2`` and unchanged for ``cosine``.
        """
        if not self.is_distance:
            return cos
        distance = np.sqrt(np.maximum(0.0, 2.0 - 2.0 * np.asarray(cos, dtype=np.float32)))
        return distance if np.ndim(cos) else float(distance)  # type: ignore[return-value]

    def cosine(self, score: float) -> float:
        """The cosine similarity of unit vectors whose score in this metric is ``score`` (inverse of :meth:`score`)."""
        return 1.0 - score**2 / 2.0 if self.is_distance else score

    def accepts(self, score: Scores, threshold: float) -> bool | NDArray[np.bool_]:
        """Whether ``score`` passes ``threshold`` (distance ≤ threshold, similarity ≥ threshold); arrays elementwise."""
        return score <= threshold if self.is_distance else score >= threshold

    def better(self, a: float, b: float) -> bool:
        """Whether score ``a`` is strictly closer than ``b`` (so, for thresholds, ``a`` is the stricter one)."""
        return a < b if self.is_distance else a > b

    def stricter(self, threshold: float, by: float) -> float:
        """``threshold`` moved ``by`` towards closer scores (a stricter threshold when ``by`` > 0)."""
        return threshold - by if self.is_distance else threshold + by
