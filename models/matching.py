"""Open-set 1:N matching of embeddings against per-person centroids.

All vectors are L2-normalised, so one matrix product gives cosine similarities; the gallery's
:class:`~common.metric.Metric` turns them into scores (for ``l2``, Euclidean distances ``d = sqrt(2 - 2 cos)``).

Large galleries (``FAST_MIN_ROWS`` people or more) are searched in two steps: an int8 copy of the centroids
picks the ``FAST_CANDIDATES`` most similar rows (one int8 matrix-vector product in onnxruntime, a quarter
of the memory traffic of float32, and small enough to stay in cache), then those candidates are ranked
exactly. Every returned score, on either path, is the cosine of the float32 query and centroid computed in
float64 and rounded once to float32, so a candidate's score does not depend on the gallery size, on its row,
on batching or on BLAS threads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from common.errors import InvalidInput
from common.metric import Metric
from models.embedders.base import l2_normalise
from models.operating_point import CohortRule
from models.types import Match

FAST_MIN_ROWS = 20_000
"""Galleries with at least this many rows are prefiltered with int8 (smaller ones: one float32 product)."""

FAST_CANDIDATES = 32
"""Rows the int8 prefilter hands to the exact ranking. On 100 000 random 128-d centroids the true best two
were always within the first 5 by int8 score (4 000 queries, noisy copies and strangers alike), so 32
leaves a wide margin; ``bench/bench_search.py`` re-measures the agreement."""

FAST_THREADS = 1
"""onnxruntime threads for the prefilter: one was faster than two on the 2-core target, idle or loaded."""

_QUERY_LEVELS = 64
"""Queries are quantised to [-64, 64] and stored as uint8 with zero point 64, centroids to [-127, 127]:
a pair of uint8×int8 products then stays below 2**15, so the AVX2 kernels (vpmaddubsw) cannot saturate."""

_ROW_LEVELS = 127
_FAST_CHUNK = 64  # queries per prefilter run, to bound the (Q, N) int32 intermediate


def exact_cosines(matrix: NDArray[np.float32], query: NDArray[np.float32], rows: NDArray[np.intp]) -> NDArray[np.float64]:
    """Cosines of ``query`` with ``matrix[rows]``: float64 products summed per row (a fixed order, so the
    value of one row never depends on which other rows are asked for). Round to float32 for a score."""
    return (matrix[rows].astype(np.float64) * query.astype(np.float64)).sum(axis=1)


def _error_bound(dim: int) -> float:
    """Twice a bound on |float32 BLAS dot − exact dot| for unit vectors of length ``dim`` (γ_D ≈ D·2⁻²⁴),
    with room for norms that are 1 only to float32 precision."""
    return max(1e-6, dim * 2.0**-21)


class _Int8Prefilter:
    """Int8 copy of a gallery's centroids and the onnxruntime session that returns each query's top rows.

    Graph: ``MatMulInteger(q uint8 (Q, D), zero point 64; B int8 (D, N)) → Cast → Mul(row scale) → TopK``.
    ``B`` is an initializer so onnxruntime pre-packs it (and its column sums for the zero point) once.
    """

    def __init__(self, matrix: NDArray[np.float32], k: int, threads: int = FAST_THREADS) -> None:
        import onnxruntime as ort  # only large galleries need it
        from onnx import TensorProto, helper, numpy_helper

        n, dim = matrix.shape
        self.k = min(k, n)
        peak = np.abs(matrix).max(axis=1)
        scale = np.where(peak > 0, peak / _ROW_LEVELS, 1.0).astype(np.float32)
        quantised = np.clip(np.rint(matrix / scale[:, None]), -_ROW_LEVELS, _ROW_LEVELS).astype(np.int8)
        inits = [
            numpy_helper.from_array(np.ascontiguousarray(quantised.T), "B"),
            numpy_helper.from_array(np.array(_QUERY_LEVELS, np.uint8), "zq"),
            numpy_helper.from_array(scale, "scale"),
            numpy_helper.from_array(np.array([self.k], np.int64), "k"),
        ]
        nodes = [
            helper.make_node("MatMulInteger", ["q", "B", "zq"], ["acc"]),
            helper.make_node("Cast", ["acc"], ["acc_f"], to=TensorProto.FLOAT),
            helper.make_node("Mul", ["acc_f", "scale"], ["approx"]),
            helper.make_node("TopK", ["approx", "k"], ["top_values", "top_rows"], axis=-1, largest=1, sorted=0),
        ]
        graph = helper.make_graph(
            nodes,
            "rollcall_int8_prefilter",
            [helper.make_tensor_value_info("q", TensorProto.UINT8, [None, dim])],
            [helper.make_tensor_value_info("top_rows", TensorProto.INT64, [None, self.k])],
            inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        self._session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

    def candidates(self, queries: NDArray[np.float32]) -> NDArray[np.int64]:
        """(Q, k) rows with the highest approximate cosine for each finite, non-zero query of (Q, D)."""
        peak = np.abs(queries).max(axis=1, keepdims=True)
        q = np.rint(queries * (_QUERY_LEVELS / peak)) + _QUERY_LEVELS
        q = np.clip(q, 0, 2 * _QUERY_LEVELS).astype(np.uint8)
        if len(q) <= _FAST_CHUNK:
            return self._session.run(None, {"q": q})[0]
        parts = [self._session.run(None, {"q": q[i : i + _FAST_CHUNK]})[0] for i in range(0, len(q), _FAST_CHUNK)]
        return np.concatenate(parts)


@dataclass(frozen=True)
class Gallery:
    """The enrolled people of one backend, ready to search.

    Attributes:
        person_ids: (N,) ids; ``names``: (N,) display names; ``matrix``: (N, D) unit-length centroids.
        metric: how scores compare with ``threshold`` (a name such as ``"l2"`` is turned into a :class:`Metric`).
        min_margin: a best match that passes the threshold is still Unknown when the runner-up is closer than
            this (in the metric's units): two enrolled people fit about equally well (see
            :mod:`models.operating_point`).
        cohort: a second rule on the best score and the runner-up's (:class:`models.operating_point.CohortRule`);
            ``None``: the threshold and margin alone decide.
    """

    person_ids: tuple[int, ...]
    names: tuple[str, ...]
    matrix: NDArray[np.float32]
    metric: Metric
    threshold: float
    min_margin: float = 0.0
    cohort: CohortRule | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "metric", Metric.named(self.metric))

    @classmethod
    def build(
        cls,
        person_ids: tuple[int, ...],
        names: tuple[str, ...],
        matrix: NDArray[np.floating],
        metric: Metric | str,
        threshold: float,
        min_margin: float = 0.0,
        cohort: CohortRule | None = None,
    ) -> "Gallery":
        """A gallery with the centroids normalised and stored contiguously as float32.

        The int8 index of a large gallery is built on its first search (or by :meth:`prepare`).
        """
        m = np.ascontiguousarray(l2_normalise(matrix)) if len(person_ids) else np.zeros((0, 0), np.float32)
        return cls(tuple(person_ids), tuple(names), m, Metric.named(metric), threshold, min_margin, cohort)

    def __len__(self) -> int:
        return len(self.person_ids)

    def __getstate__(self) -> dict[str, Any]:
        # The prefilter (an onnxruntime session) is a cache: copies and pickles rebuild it when needed.
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_fast")}

    @property
    def uses_prefilter(self) -> bool:
        """Whether searches go through the int8 prefilter (large, finite galleries)."""
        return len(self) >= FAST_MIN_ROWS and self.matrix.ndim == 2 and bool(self.__dict__.get("_fast_ok", True))

    def prepare(self) -> "Gallery":
        """Builds the int8 index of a large gallery now (about 0.1 s per 100 000 rows) instead of on the
        first search; returns the gallery. Does nothing for small galleries."""
        if self.uses_prefilter:
            self._prefilter()
        return self

    def _prefilter(self) -> _Int8Prefilter | None:
        fast = self.__dict__.get("_fast")
        if fast is not None or not self.uses_prefilter:
            return fast
        with _BUILD_LOCK:
            fast = self.__dict__.get("_fast")
            if fast is None:
                try:
                    if not np.isfinite(self.matrix).all():
                        raise ValueError("non-finite centroids")
                    fast = _Int8Prefilter(self.matrix, FAST_CANDIDATES)
                except Exception:  # no onnxruntime, odd data: the exact path still answers
                    object.__setattr__(self, "_fast_ok", False)
                    return None
                object.__setattr__(self, "_fast", fast)
        return fast

    def search(self, vectors: NDArray[np.floating], *, exact: bool = False) -> list[Match]:
        """Best match of each query vector.

        Args:
            vectors: (Q, D) embeddings (normalised here).
            exact: rank every row with one float32 product even in a large gallery (for reference and
                benchmarks; the prefilter's answers agree with it, see ``FAST_CANDIDATES``).

        Returns:
            One :class:`Match` per query; Unknown (``person_id is None``) when the gallery is empty or
            the best score fails the threshold.
        """
        queries = l2_normalise(np.atleast_2d(vectors))
        if len(self) == 0:
            return [Match(None, None, self.metric.worst, 0.0, None) for _ in range(len(queries))]
        if queries.shape[1] != self.matrix.shape[1]:
            raise InvalidInput(
                f"embedding length {queries.shape[1]} does not match the gallery's {self.matrix.shape[1]}: "
                "vectors of different backends cannot be compared"
            )
        # A zero or non-finite query has no meaningful ranking: it keeps the plain path (first row wins ties).
        regular = np.isfinite(queries).all(axis=1) & (np.abs(queries).max(axis=1) > 0)
        fast = None if exact else self._prefilter()
        results: list[Match | None] = [None] * len(queries)
        if fast is not None and regular.any():
            rows = np.flatnonzero(regular)
            for i, cand in zip(rows, fast.candidates(queries[rows])):
                results[i] = self._ranked(queries[i], cand)
            rest = np.flatnonzero(~regular)
        else:
            rest = np.arange(len(queries))
        if len(rest):
            sims = queries[rest] @ self.matrix.T
            tol = _error_bound(self.matrix.shape[1])
            for i, row in zip(rest, sims):
                results[i] = self._refined(queries[i], row, tol) if regular[i] else self._best(row)
        return results  # type: ignore[return-value]

    def _refined(self, query: NDArray[np.float32], sims: NDArray[np.float32], tol: float) -> Match:
        """Exact best two from float32 similarities: every row within float32 error of the runner-up is
        re-scored with :func:`exact_cosines`, so rounding in the big product cannot swap or alter them."""
        if len(sims) < 2:
            return self._ranked(query, np.zeros(1, np.intp))
        first = int(np.argmax(sims))
        best = sims[first]
        sims[first] = -np.inf
        runner_up = float(sims[int(np.argmax(sims))])
        sims[first] = best
        if not (np.isfinite(best) and np.isfinite(runner_up)):  # non-finite centroids: plain ranking
            return self._best(sims)
        return self._ranked(query, np.flatnonzero(sims >= runner_up - tol))

    def _ranked(self, query: NDArray[np.float32], rows: NDArray[np.integer]) -> Match:
        """Match from candidate ``rows`` ranked by exact cosine (ties: the lower row, as ``argmax``)."""
        rows = np.asarray(rows, dtype=np.intp)
        cos = exact_cosines(self.matrix, query, rows)
        order = np.lexsort((rows, -cos))
        first = int(rows[order[0]])
        best_cos = float(np.float32(cos[order[0]]))
        runner_up = float(np.float32(cos[order[1]])) if len(rows) >= 2 else None
        return self._match(first, best_cos, runner_up)

    def _best(self, sims: NDArray[np.float32]) -> Match:
        if len(sims) >= 2:
            # Two argmax passes: ~100× faster than argpartition over 100 000 rows (no negated copy, no partition).
            first = int(np.argmax(sims))
            best = sims[first]
            sims[first] = -np.inf
            runner_up = float(sims[int(np.argmax(sims))])
            sims[first] = best
        else:
            first, runner_up = 0, None
        return self._match(first, float(sims[first]), runner_up)

    def _match(self, first: int, best_cos: float, runner_up: float | None) -> Match:
        score = float(self.metric.score(best_cos))
        second = None if runner_up is None else float(self.metric.score(runner_up))
        margin = float("inf") if second is None else abs(score - second)
        pid = self.person_ids[first]
        cohort_ok = self.cohort is None or self.cohort.accepts(score, second)
        if self.metric.accepts(score, self.threshold) and margin >= self.min_margin and cohort_ok:
            return Match(pid, self.names[first], score, margin, pid)
        return Match(None, None, score, margin, pid)


_BUILD_LOCK = threading.Lock()
