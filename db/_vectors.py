"""Embedding vectors: validation, float32 byte encoding and the centroid rule."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from common.errors import InvalidInput, StorageError


def to_bytes(vector: NDArray[np.float32]) -> bytes:
    """Little-endian float32 bytes of a 1-D vector."""
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def from_bytes(data: bytes, dim: int, what: str) -> NDArray[np.float32]:
    """The float32 vector stored in ``data``.

    Raises:
        StorageError: the byte count does not match ``dim`` (a damaged row).
    """
    if len(data) != 4 * dim:
        raise StorageError(
            f"{what} holds {len(data)} bytes but should hold {dim} float32 values; "
            "re-embed the samples (`python main.py reembed`) to rebuild it"
        )
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


def check_matrix(values: ArrayLike, rows: int, backend: str) -> NDArray[np.float32]:
    """Validate embeddings for ``rows`` samples: shape ``(rows, D)``, finite, no zero rows.

    Args:
        values: the embeddings, one row per sample.
        rows: how many samples they belong to.
        backend: the backend's name, for messages.

    Returns:
        The embeddings as a float32 array of shape ``(rows, D)``.

    Raises:
        InvalidInput: wrong shape, NaN/inf or an all-zero row.
    """
    matrix = np.asarray(values, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] != rows or matrix.shape[1] == 0:
        raise InvalidInput(
            f"embeddings for backend {backend!r} have shape {matrix.shape} but {rows} samples were given; "
            f"pass one row per sample, shape ({rows}, D)"
        )
    if not np.all(np.isfinite(matrix)):
        raise InvalidInput(f"embeddings for backend {backend!r} contain NaN or infinity; re-run the embedder")
    if np.any(np.linalg.norm(matrix, axis=1) == 0):
        raise InvalidInput(f"embeddings for backend {backend!r} contain an all-zero vector; re-run the embedder")
    return matrix


def centroid(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
    """The centroid rule: mean of the L2-normalised rows, renormalised to unit length.

    Args:
        vectors: shape ``(N, D)``, N >= 1, no zero rows.

    Returns:
        Shape ``(D,)`` float32, unit length (all zeros only if the rows cancel out exactly).
    """
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    mean = unit.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return (mean / norm if norm > 0 else mean).astype(np.float32)
