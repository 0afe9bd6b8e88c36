"""The frozen backbone of head mode and the features it computes.

Head mode trains only FaceNet's bottleneck, so the backbone (input → 1792-d average pool) runs once per crop.
It runs through onnxruntime: the installed ``facenet_128.onnx`` (made by ``models fetch facenet`` from the same
``facenet_keras.h5``) cut just before the bottleneck. On a CPU that is about twice as fast as the Keras model
(whose TensorFlow wheel is built without AVX2/FMA) and agrees with it to about 1e-6. Where the ONNX file is
missing, or its bottleneck weights differ from the h5 file's, the Keras backbone is used instead.

Every backbone is a callable ``(N, 160, 160, 3) float32 → (N, F) float32`` with a ``dim`` (F).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from common.errors import WeightsError
from common.progress import Progress, ShouldStop
from models.train.networks import HEAD_LAYERS, BaseModel, build_head, facenet_h5, standardize

log = logging.getLogger(__name__)

BOTTLENECK = HEAD_LAYERS[0]


class Backbone(Protocol):
    """Standardised crops ``(N, H, W, 3)`` in, features ``(N, dim)`` out."""

    dim: int

    def __call__(self, x: NDArray[np.float32]) -> NDArray[np.float32]: ...


class KerasBackbone:
    """A Keras feature model as a :class:`Backbone`."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.dim = int(model.output.shape[-1])

    def __call__(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        return np.asarray(self.model(x, training=False), np.float32)


class OnnxBackbone:
    """An ONNX feature model (serialized bytes) run by onnxruntime on the CPU."""

    def __init__(self, model: bytes, threads: int = 0) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        # Idle worker threads sleep instead of spinning: on a shared, loaded CPU spinning burns about 15 % more
        # CPU time for the same features.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self.dim = int(self._session.get_outputs()[0].shape[-1])

    def __call__(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        return np.asarray(self._session.run(None, {self._input: np.ascontiguousarray(x, np.float32)})[0])


def cut_before_bottleneck(path: Path) -> tuple[bytes, NDArray[np.float32]]:
    """FaceNet's ONNX graph cut at the bottleneck's input: ``(model bytes, bottleneck kernel (F, 128))``.

    Raises:
        WeightsError: the graph has no single ``Bottleneck`` MatMul (not FaceNet-128 from ``models fetch``).
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    matmuls = [n for n in graph.node if n.op_type == "MatMul" and BOTTLENECK in n.name]
    if len(matmuls) != 1:
        raise WeightsError(f"{path} has no {BOTTLENECK} layer: it is not the FaceNet-128 model of `models fetch`")
    features, kernel_name = matmuls[0].input[0], matmuls[0].input[1]
    kernel = next((numpy_helper.to_array(i) for i in graph.initializer if i.name == kernel_name), None)
    if kernel is None:
        raise WeightsError(f"{path}: the {BOTTLENECK} weights are not stored in the graph")
    needed, kept = {features}, []
    for node in reversed(list(graph.node)):
        if any(o in needed for o in node.output):
            kept.append(node)
            needed.update(node.input)
    kept.reverse()
    initializers = [i for i in graph.initializer if i.name in needed]
    del graph.node[:]
    graph.node.extend(kept)
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    del graph.output[:]
    graph.output.extend([onnx.helper.make_tensor_value_info(features, onnx.TensorProto.FLOAT, [None, kernel.shape[0]])])
    return model.SerializeToString(), kernel


def head_parts(base: BaseModel, cache_dir: Path, seed: int = 0, use_onnx: bool = True) -> tuple[Backbone, Any]:
    """``(backbone, head)`` for head mode on the pretrained FaceNet-128, without building the whole Keras model
    where the installed ONNX file matches the h5 weights (then only the small head is a Keras model).
    ``use_onnx=False`` (on a GPU, where Keras is the faster) always uses the Keras backbone.

    Raises:
        WeightsError: the FaceNet weights are not installed.
    """
    import keras

    from models.convert.facenet_keras import load_weights, read_h5_weights
    from models.weights import WeightStore

    keras.utils.set_random_seed(seed)
    h5 = facenet_h5(cache_dir)
    weights = read_h5_weights(h5)
    store = WeightStore(Path(cache_dir))
    onnx_path = store.folder(base.name) / store.spec(base.name).file
    backbone = _onnx_backbone(onnx_path, weights[BOTTLENECK]["kernel"]) if use_onnx else None
    if backbone is None:
        from models.train.networks import build_full, split_facenet

        keras_backbone, head = split_facenet(build_full(base, Path(cache_dir), seed))
        return KerasBackbone(keras_backbone), head
    head = build_head(backbone.dim, int(weights[BOTTLENECK]["kernel"].shape[1]))
    load_weights(head, {name: weights[name] for name in HEAD_LAYERS}, str(h5))
    return backbone, head


def _onnx_backbone(path: Path, h5_kernel: NDArray[np.float32]) -> OnnxBackbone | None:
    """The ONNX backbone, or None (logged) when the file is missing, unreadable or from other weights."""
    if not path.is_file():
        log.info("no %s: the Keras backbone computes the features (slower)", path)
        return None
    try:
        model, kernel = cut_before_bottleneck(path)
    except (WeightsError, OSError, ValueError) as exc:
        log.warning("cannot use %s for features (%s): the Keras backbone computes them", path, exc)
        return None
    if kernel.shape != h5_kernel.shape or not np.allclose(kernel, h5_kernel, atol=1e-6):
        log.warning("%s holds other weights than facenet_keras.h5: the Keras backbone computes the features", path)
        return None
    return OnnxBackbone(model)


def embed_features(backbone: Backbone, crops: NDArray[np.uint8], base: BaseModel, batch: int = 32,
                   should_stop: ShouldStop | None = None, progress: Progress | None = None,
                   mirror: bool = True) -> NDArray[np.float32] | None:
    """Backbone features ``(N, 2, F)`` of the crops and of their mirror images (None when stopped); without
    ``mirror`` the second view repeats the first (half the work)."""
    out = [np.zeros((0, 2, backbone.dim), np.float32)]
    for start in range(0, len(crops), batch):
        if should_stop is not None and should_stop():
            return None
        x = standardize(base, crops[start : start + batch])
        n = len(x)
        f = backbone(np.concatenate([x, x[:, :, ::-1]]) if mirror else x)
        out.append(np.stack([f[:n], f[n:] if mirror else f], axis=1))
        if progress is not None:
            progress(min(start + batch, len(crops)), len(crops), "computing backbone features")
    return np.concatenate(out).astype(np.float32)
