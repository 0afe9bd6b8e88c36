"""ONNX embedding backends run with onnxruntime, and what the file-based backends share.

* :class:`OnnxEmbedder` runs any single-input ONNX embedding model on aligned crops, NCHW or NHWC, with a
  preprocessing function chosen by the backend (``onnx-arcface``: ArcFace-style ``(x − 127.5) / 128`` on
  112×112 RGB; ``vgg-face``: see :mod:`models.embedders.vggface`).
* :func:`resolve_model_file` finds a backend's model file: the explicit ``model_path`` first, then the
  weights manager's cache.

onnxruntime is imported when a model is loaded, never at import time.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from common.errors import BackendUnavailable, WeightsError
from models.embedders.base import EmbedderInfo
from models.embedders.registry import BACKENDS, EmbedderOptions

log = logging.getLogger(__name__)

Preprocess = Callable[[NDArray[np.uint8]], NDArray[np.float32]]
"""(N, H, W, 3) uint8 RGB crops → (N, H, W, 3) float32 NHWC network input."""


def arcface_normalise(crops: NDArray[np.uint8]) -> NDArray[np.float32]:
    """ArcFace/insightface input scaling: RGB, ``(x − 127.5) / 128``, NHWC float32."""
    return ((np.asarray(crops, dtype=np.float32) - 127.5) / 128.0).astype(np.float32)


def resolve_model_file(name: str, options: EmbedderOptions, suffixes: Sequence[str]) -> Path:
    """The model file backend ``name`` should load.

    ``options.model_path`` wins; otherwise the weights manager's cached (downloaded, imported or
    converted) file for ``name``, checked against the sha256 recorded when it was installed.

    Raises:
        WeightsError: the explicit file is missing or has the wrong suffix, the model is not installed (the
            message says how to fetch or import it) or its cached file changed.
    """
    if options.model_path is not None:
        path = Path(options.model_path).expanduser()
        if not path.is_file():
            raise WeightsError(f"model file {path} for backend {name!r} does not exist")
        if path.suffix.lower() not in suffixes:
            raise WeightsError(
                f"model file {path} for backend {name!r} is a {path.suffix or 'suffix-less'} file; "
                f"expected {' or '.join(suffixes)}"
            )
        return path
    return _cached_model_file(name, options)


def _cached_model_file(name: str, options: EmbedderOptions) -> Path:
    from models.weights import WeightStore
    from models.weights_manifest import load_manifest

    if name not in load_manifest():
        raise WeightsError(
            f"backend {name!r} has no downloadable model: give an ArcFace-style model file as the engine's "
            "model_path (`--model FILE`)"
        )
    if options.cache_dir is None:
        raise WeightsError(f"no model cache folder is configured for the {name} backend; set ROLLCALL_CACHE")
    return WeightStore(Path(options.cache_dir)).path(name)


class OnnxEmbedder:
    """An ONNX embedding model on aligned crops.

    ``self.info.dim`` is the model's real output length (it may differ from the registry's default for
    backends that accept any model of a family, e.g. a 128-d MobileFaceNet as ``onnx-arcface``).

    Args:
        info: the backend's static info (input size, default dim).
        path: the ``.onnx`` file.
        preprocess: crops → NHWC float32 input.
        threads: intra-op threads (0 = onnxruntime's default).

    Raises:
        BackendUnavailable: onnxruntime is not installed.
        WeightsError: the file is not a loadable ONNX model, or its input shape does not fit ``info``.
    """

    def __init__(self, info: EmbedderInfo, path: Path, preprocess: Preprocess, threads: int = 0) -> None:
        self.info = info
        self._preprocess = preprocess
        self._session = _open_session(path, threads)
        inp = self._session.get_inputs()[0]
        self._input_name = inp.name
        self._nchw = _layout(inp.shape, info, path)
        self._fixed_batch = isinstance(inp.shape[0], int) and inp.shape[0] == 1
        out_dim = self._session.get_outputs()[0].shape[-1]
        if isinstance(out_dim, int) and out_dim != info.dim:
            # A backend that accepts any model of its family (onnx-arcface) reports the file's real length.
            self.info = replace(info, dim=out_dim)
        self._lock = threading.Lock()

    def embed(self, crops: NDArray[np.uint8]) -> NDArray[np.float32]:
        if len(crops) == 0:
            return np.zeros((0, self.info.dim), dtype=np.float32)
        x = self._preprocess(crops)
        if self._nchw:
            x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        with self._lock:
            if self._fixed_batch:
                rows = [self._session.run(None, {self._input_name: x[i : i + 1]})[0] for i in range(len(x))]
                out = np.concatenate(rows)
            else:
                out = self._session.run(None, {self._input_name: x})[0]
        return np.asarray(out, dtype=np.float32).reshape(len(crops), -1)


def _open_session(path: Path, threads: int):  # -> onnxruntime.InferenceSession
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise BackendUnavailable("ONNX backends need onnxruntime: run `pip install -r requirements.txt`") from exc
    so = ort.SessionOptions()
    if threads > 0:
        so.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
        raise WeightsError(f"{path} is not a loadable ONNX model ({exc}); re-import or re-convert it") from exc


def _layout(shape: Sequence[object], info: EmbedderInfo, path: Path) -> bool:
    """True when the model's input is NCHW, False for NHWC; a shape that fits neither is an error."""
    w, h = info.input_size
    dims = list(shape[1:]) if len(shape) == 4 else []
    if dims == [3, h, w]:
        return True
    if dims == [h, w, 3]:
        return False
    raise WeightsError(
        f"{path}: the model's input shape is {list(shape)}; backend {info.name!r} needs "
        f"1×{h}×{w}×3 (NHWC) or 1×3×{h}×{w} (NCHW) float32"
    )


def create_arcface(options: EmbedderOptions) -> OnnxEmbedder:
    """Registry factory for ``"onnx-arcface"``: any ArcFace-style ONNX model (112×112 RGB, (x−127.5)/128)."""
    info = BACKENDS["onnx-arcface"].info
    path = resolve_model_file("onnx-arcface", options, (".onnx",))
    return OnnxEmbedder(info, path, arcface_normalise, options.threads)


VGGFACE_MEAN_BGR = np.array([93.5940, 104.7624, 129.1863], dtype=np.float32)
"""VGG-Face's per-channel training means (B, G, R): the network was converted from Caffe and takes BGR."""


def vggface_preprocess(crops: NDArray[np.uint8]) -> NDArray[np.float32]:
    """VGG-Face input: RGB crops → BGR, minus the channel means, NHWC float32 (no scaling)."""
    return (np.asarray(crops, dtype=np.float32)[..., ::-1] - VGGFACE_MEAN_BGR).astype(np.float32)


def create_vggface(options: EmbedderOptions) -> OnnxEmbedder:
    """Registry factory for ``"vgg-face"``: the ONNX file made by ``python main.py convert vgg-face``."""
    info = BACKENDS["vgg-face"].info
    path = resolve_model_file("vgg-face", options, (".onnx",))
    embedder = OnnxEmbedder(info, path, vggface_preprocess, options.threads)
    if embedder.info.dim != info.dim:
        log.warning("%s gives %d-d embeddings, not VGG-Face's %d: is it a converted VGG-Face model?", path, embedder.info.dim, info.dim)
    return embedder


def validate_vggface_import(path: Path) -> str:
    """Manifest validator for ``models import vgg-face FILE`` with a file other than the published weights.

    Returns:
        ``"file"`` for an ONNX model with a 224×224×3 input (e.g. made by ``convert vgg-face``), ``"weights"``
        for a Keras ``.h5`` file (converted; the converter checks its layers).

    Raises:
        WeightsError: another kind of file, or an ONNX model with another input shape.
    """
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        OnnxEmbedder(BACKENDS["vgg-face"].info, path, vggface_preprocess)
        return "file"
    if path.suffix.lower() == ".h5":
        return "weights"
    raise WeightsError(f"{path} is neither an .onnx model nor Keras .h5 weights; the vgg-face backend takes one of those")
