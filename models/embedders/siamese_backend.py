"""A trained Siamese verifier as a backend: its shared branch embeds faces (identification, the gallery) like
any user backend, and :meth:`SiameseBackend.pair_probability` runs the whole pair network (``pair.onnx``, the
same network as the TF Serving SavedModel) so that ``verify`` answers with the probability of "same person".
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from models.embedders.base import EmbedderInfo
from common.errors import BackendUnavailable, WeightsError

PAIR_ONNX = "pair.onnx"
INPUTS = ("anchor", "verification")


class SiameseBackend:
    """Embedder + :class:`models.embedders.base.PairScorer`. ``branch``: the embedding network's backend;
    ``pair_path``: ``pair.onnx`` (inputs ``anchor``, ``verification``: ``(N, S, S, 3)`` float32 pixels 0–255;
    output ``(N, 1)``); ``cutoff``: probability at or above which a pair is the same person."""

    def __init__(self, info: EmbedderInfo, branch: Any, pair_path: Path, cutoff: float, threads: int = 0) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise BackendUnavailable("the Siamese backend needs onnxruntime: run `pip install -r requirements.txt`") from exc
        self.info = info
        self.pair_cutoff = float(cutoff)
        self._branch = branch
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        try:
            self._session = ort.InferenceSession(str(pair_path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise WeightsError(f"{pair_path} is not a usable pair model ({exc}); train the Siamese model again") from exc
        self._lock = threading.Lock()

    def embed(self, crops: NDArray[np.uint8]) -> NDArray[np.float32]:
        """The shared branch's embeddings ``(N, D)``."""
        return self._branch.embed(crops)

    def pair_probability(self, first: NDArray[np.uint8], second: NDArray[np.uint8]) -> NDArray[np.float32]:
        """``(N,)`` probabilities of "same person" for aligned crop pairs."""
        if len(first) != len(second):
            raise ValueError(f"{len(first)} anchor crops but {len(second)} verification crops")
        if len(first) == 0:
            return np.zeros(0, np.float32)
        feed = {INPUTS[0]: np.asarray(first, np.float32), INPUTS[1]: np.asarray(second, np.float32)}
        with self._lock:
            p = self._session.run(None, feed)[0]
        return np.asarray(p, np.float32).reshape(-1)
