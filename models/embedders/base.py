"""The contract every embedding backend fulfils."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from common.metric import Metric


@dataclass(frozen=True)
class EmbedderInfo:
    """What the rest of Rollcall needs to know about a backend.

    Attributes:
        name: registry key, e.g. ``"dlib"``.
        input_size: ``(width, height)`` of the aligned face crop the backend takes.
        dim: length of one embedding vector.
        alignment: key of the aligner in :data:`models.align.ALIGNERS` that makes its crops.
        metric: :attr:`Metric.COSINE` (similarity, higher is closer) or :attr:`Metric.L2` (distance between
            L2-normalised vectors, lower is closer); a name (``"cosine"``, ``"l2"``) is turned into one.
        threshold: default open-set threshold in that metric; how it was measured is documented where the
            backend is registered.
        description: one line for ``models list`` and the settings page.
    """

    name: str
    input_size: tuple[int, int]
    dim: int
    alignment: str
    metric: Metric
    threshold: float
    description: str = ""

    def __post_init__(self) -> None:
        """Raises InvalidInput for an unknown metric (e.g. in a user backend's manifest)."""
        object.__setattr__(self, "metric", Metric.named(self.metric))


@runtime_checkable
class Embedder(Protocol):
    """An embedding backend: aligned RGB crops in, one float32 vector per crop out."""

    info: EmbedderInfo

    def embed(self, crops: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Embed a batch of aligned crops.

        Args:
            crops: ``(N, H, W, 3)`` uint8 RGB, ``(W, H) == info.input_size``, as made by the backend's aligner.

        Returns:
            ``(N, info.dim)`` float32, not necessarily normalised (matching normalises).
        """
        ...


def l2_normalise(vectors: NDArray[np.floating]) -> NDArray[np.float32]:
    """Rows of ``vectors`` ((N, D) or (D,)) scaled to unit length; zero rows stay zero."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return (v / np.maximum(norms, 1e-12)).astype(np.float32)


@runtime_checkable
class PairScorer(Protocol):
    """A backend that also scores a pair of faces directly (a Siamese verifier): ``verify`` uses this
    probability, compared with ``pair_cutoff``, instead of the distance between the two embeddings."""

    info: EmbedderInfo
    pair_cutoff: float

    def pair_probability(self, first: NDArray[np.uint8], second: NDArray[np.uint8]) -> NDArray[np.float32]:
        """``(N,)`` probabilities that ``first[k]`` and ``second[k]`` (aligned crops as for :meth:`embed`) show
        the same person."""
        ...
