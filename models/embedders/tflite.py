"""ArcFace-style TFLite embedders run with LiteRT (``ai-edge-litert``), registry key ``arcface``.

Any ``.tflite`` embedding model with one float32 (or int8-quantised) input of 1×112×112×3 (NHWC, RGB) works:
ArcFace 5-point alignment to the 112×112 template, ``(x − 127.5) / 128``. The default model is deepface's
ArcFace-ResNet34 converted by ``python main.py convert arcface`` (512-d); any other ArcFace-style model
(e.g. a 128-d MobileFaceNet) can be imported with ``python main.py models import arcface FILE.tflite`` or
given as ``EngineConfig.model_path``. ``info.dim`` of a loaded embedder is the model's real output length.

LiteRT is imported when the model is loaded, never at import time.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from common.errors import BackendUnavailable, WeightsError
from models.embedders.base import EmbedderInfo
from models.embedders.onnx_generic import arcface_normalise, resolve_model_file
from models.embedders.registry import BACKENDS, EmbedderOptions

log = logging.getLogger(__name__)


class TFLiteEmbedder:
    """A TFLite embedding model with a 1×H×W×3 input, run one crop at a time (the usual fixed batch of 1).

    int8-quantised inputs/outputs are (de)quantised with the tensor's own scale and zero point.

    Raises:
        BackendUnavailable: ai-edge-litert is not installed.
        WeightsError: the file is not a TFLite model, or its input is not 1×H×W×3 for ``info.input_size``.
    """

    def __init__(self, info: EmbedderInfo, path: Path, threads: int = 0) -> None:
        self._interp = _open_interpreter(path, threads)
        inp = self._interp.get_input_details()[0]
        out = self._interp.get_output_details()[0]
        w, h = info.input_size
        shape = [int(v) for v in inp["shape"]]
        if shape != [1, h, w, 3]:
            raise WeightsError(
                f"{path}: the model's input shape is {'×'.join(map(str, shape))}; backend {info.name!r} needs "
                f"1×{h}×{w}×3 (NHWC, RGB): use an ArcFace-style embedding model with a {w}×{h} input"
            )
        self._in, self._out = inp, out
        dim = int(np.prod(out["shape"][1:]))
        self.info = info if dim == info.dim else replace(info, dim=dim)
        self._lock = threading.Lock()

    def embed(self, crops: NDArray[np.uint8]) -> NDArray[np.float32]:
        if len(crops) == 0:
            return np.zeros((0, self.info.dim), dtype=np.float32)
        x = arcface_normalise(crops)
        rows = []
        with self._lock:
            for i in range(len(x)):
                self._interp.set_tensor(self._in["index"], _quantise(x[i : i + 1], self._in))
                self._interp.invoke()
                rows.append(_dequantise(self._interp.get_tensor(self._out["index"]), self._out))
        return np.concatenate(rows).reshape(len(crops), -1).astype(np.float32)


def _open_interpreter(path: Path, threads: int):  # -> ai_edge_litert.interpreter.Interpreter
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise BackendUnavailable("the arcface backend needs ai-edge-litert: run `pip install -r requirements.txt`") from exc
    try:
        interp = Interpreter(model_path=str(path), num_threads=threads if threads > 0 else None)
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise WeightsError(f"{path} is not a loadable TFLite model ({exc}); re-import or re-convert it") from exc
    return interp


def _quantise(x: NDArray[np.float32], detail: dict) -> NDArray:
    if detail["dtype"] == np.float32:
        return x
    scale, zero = detail["quantization"]
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(detail["dtype"])


def _dequantise(y: NDArray, detail: dict) -> NDArray[np.float32]:
    if detail["dtype"] == np.float32:
        return y
    scale, zero = detail["quantization"]
    return ((y.astype(np.float32) - zero) * scale).astype(np.float32)


def create(options: EmbedderOptions) -> TFLiteEmbedder:
    """Registry factory for ``"arcface"``."""
    path = resolve_model_file("arcface", options, (".tflite",))
    return TFLiteEmbedder(BACKENDS["arcface"].info, path, options.threads)


def validate_import(path: Path) -> str:
    """Manifest validator for ``models import arcface FILE`` with a file other than the published weights.

    Returns:
        ``"file"`` for a ``.tflite`` model with a 1×112×112×3 input (used as it is), ``"weights"`` for a Keras
        ``.h5`` file (converted to TFLite; the converter checks its layers).

    Raises:
        WeightsError: another kind of file, or a TFLite model with another input shape.
    """
    path = Path(path)
    if path.suffix.lower() == ".tflite":
        TFLiteEmbedder(BACKENDS["arcface"].info, path)
        return "file"
    if path.suffix.lower() == ".h5":
        return "weights"
    raise WeightsError(f"{path} is neither a .tflite model nor Keras .h5 weights; the arcface backend takes one of those")
