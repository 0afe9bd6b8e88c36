"""FaceNet (Inception-ResNet-v1, 128-d) from ``facenet_keras.h5`` to ONNX.

The h5 file is a Keras-2 model (davidsandberg's 20170512-110547 weights ported to Keras) whose residual
"ScaleSum" layers are ``Lambda`` layers, which Keras 3 cannot load. So the network is written out here, with
the same layer names, and the weights are read by layer name with h5py.

Architecture (input 160×160×3 prewhitened RGB): stem convolutions, 5 × Block35 (residual scale 0.17),
Reduction-A (``Mixed_6a``), 10 × Block17 (0.1), Reduction-B (``Mixed_7a``), 5 × Block8 (0.2) and a final
Block8 without activation (scale 1.0), global average pooling, dropout, a 128-unit bottleneck without bias and
a BatchNorm without scale. Every convolution is bias-free and followed by BatchNorm (no scale, ε = 0.001) and
ReLU, except the 1×1 "up" convolutions of the residual blocks, which have a bias and no BatchNorm.

TensorFlow, Keras, h5py and tf2onnx are imported inside the functions.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from common.errors import BackendUnavailable, WeightsError
from models.convert.keras_onnx import INPUT_NAME, OPSET, OUTPUT_NAME, export_onnx  # noqa: F401 - re-exported

log = logging.getLogger(__name__)

INPUT_SIZE = 160
EMBEDDING_DIM = 128


def build_model() -> Any:
    """The Inception-ResNet-v1 Keras model with randomly initialised weights and the h5 file's layer names.

    Returns:
        A ``keras.Model`` taking ``(N, 160, 160, 3)`` float32 and returning ``(N, 128)`` float32.
    """
    keras = _keras()
    layers = keras.layers
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="input_1")
    x = _conv(inputs, 32, 3, "Conv2d_1a_3x3", strides=2, padding="valid")
    x = _conv(x, 32, 3, "Conv2d_2a_3x3", padding="valid")
    x = _conv(x, 64, 3, "Conv2d_2b_3x3")
    x = layers.MaxPooling2D(3, strides=2, name="MaxPool_3a_3x3")(x)
    x = _conv(x, 80, 1, "Conv2d_3b_1x1", padding="valid")
    x = _conv(x, 192, 3, "Conv2d_4a_3x3", padding="valid")
    x = _conv(x, 256, 3, "Conv2d_4b_3x3", strides=2, padding="valid")
    for i in range(1, 6):
        x = _block35(x, f"Block35_{i}")
    x = _reduction_a(x)
    for i in range(1, 11):
        x = _block17(x, f"Block17_{i}")
    x = _reduction_b(x)
    for i in range(1, 6):
        x = _block8(x, f"Block8_{i}", scale=0.2, activate=True)
    x = _block8(x, "Block8_6", scale=1.0, activate=False)
    x = layers.GlobalAveragePooling2D(name="AvgPool")(x)
    x = layers.Dropout(0.2, name="Dropout")(x)
    x = layers.Dense(EMBEDDING_DIM, use_bias=False, name="Bottleneck")(x)
    x = layers.BatchNormalization(momentum=0.995, epsilon=0.001, scale=False, name="Bottleneck_BatchNorm")(x)
    return keras.Model(inputs, x, name="inception_resnet_v1")


def _keras() -> Any:
    try:
        import keras
    except ImportError as exc:
        raise BackendUnavailable(
            "converting FaceNet weights needs TensorFlow/Keras: run `pip install -r requirements.txt`"
        ) from exc
    return keras


def _conv(x: Any, filters: int, kernel: int | tuple[int, int], name: str, strides: int = 1, padding: str = "same") -> Any:
    """Conv (no bias) → BatchNorm (no scale) → ReLU, named ``name``, ``name_BatchNorm``, ``name_Activation``."""
    layers = _keras().layers
    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False, name=name)(x)
    x = layers.BatchNormalization(axis=3, momentum=0.995, epsilon=0.001, scale=False, name=f"{name}_BatchNorm")(x)
    return layers.Activation("relu", name=f"{name}_Activation")(x)


def _residual(x: Any, branches: list[Any], channels: int, name: str, scale: float, activate: bool = True) -> Any:
    """Concatenate the branches, 1×1 conv (with bias) back to ``channels``, ``x + scale · up``, ReLU."""
    layers = _keras().layers
    mixed = layers.Concatenate(axis=3, name=f"{name}_Concatenate")(branches)
    up = layers.Conv2D(channels, 1, padding="same", use_bias=True, name=f"{name}_Conv2d_1x1")(mixed)
    if scale != 1.0:
        up = layers.Rescaling(scale, name=f"{name}_Scale")(up)
    x = layers.Add(name=f"{name}_ScaleSum")([x, up])
    return layers.Activation("relu", name=f"{name}_Activation")(x) if activate else x


def _block35(x: Any, name: str) -> Any:
    b0 = _conv(x, 32, 1, f"{name}_Branch_0_Conv2d_1x1")
    b1 = _conv(x, 32, 1, f"{name}_Branch_1_Conv2d_0a_1x1")
    b1 = _conv(b1, 32, 3, f"{name}_Branch_1_Conv2d_0b_3x3")
    b2 = _conv(x, 32, 1, f"{name}_Branch_2_Conv2d_0a_1x1")
    b2 = _conv(b2, 32, 3, f"{name}_Branch_2_Conv2d_0b_3x3")
    b2 = _conv(b2, 32, 3, f"{name}_Branch_2_Conv2d_0c_3x3")
    return _residual(x, [b0, b1, b2], 256, name, 0.17)


def _block17(x: Any, name: str) -> Any:
    b0 = _conv(x, 128, 1, f"{name}_Branch_0_Conv2d_1x1")
    b1 = _conv(x, 128, 1, f"{name}_Branch_1_Conv2d_0a_1x1")
    b1 = _conv(b1, 128, (1, 7), f"{name}_Branch_1_Conv2d_0b_1x7")
    b1 = _conv(b1, 128, (7, 1), f"{name}_Branch_1_Conv2d_0c_7x1")
    return _residual(x, [b0, b1], 896, name, 0.1)


def _block8(x: Any, name: str, scale: float, activate: bool) -> Any:
    b0 = _conv(x, 192, 1, f"{name}_Branch_0_Conv2d_1x1")
    b1 = _conv(x, 192, 1, f"{name}_Branch_1_Conv2d_0a_1x1")
    b1 = _conv(b1, 192, (1, 3), f"{name}_Branch_1_Conv2d_0b_1x3")
    b1 = _conv(b1, 192, (3, 1), f"{name}_Branch_1_Conv2d_0c_3x1")
    return _residual(x, [b0, b1], 1792, name, scale, activate)


def _reduction_a(x: Any) -> Any:
    layers = _keras().layers
    b0 = _conv(x, 384, 3, "Mixed_6a_Branch_0_Conv2d_1a_3x3", strides=2, padding="valid")
    b1 = _conv(x, 192, 1, "Mixed_6a_Branch_1_Conv2d_0a_1x1")
    b1 = _conv(b1, 192, 3, "Mixed_6a_Branch_1_Conv2d_0b_3x3")
    b1 = _conv(b1, 256, 3, "Mixed_6a_Branch_1_Conv2d_1a_3x3", strides=2, padding="valid")
    b2 = layers.MaxPooling2D(3, strides=2, padding="valid", name="Mixed_6a_Branch_2_MaxPool_1a_3x3")(x)
    return layers.Concatenate(axis=3, name="Mixed_6a")([b0, b1, b2])


def _reduction_b(x: Any) -> Any:
    layers = _keras().layers
    b0 = _conv(x, 256, 1, "Mixed_7a_Branch_0_Conv2d_0a_1x1")
    b0 = _conv(b0, 384, 3, "Mixed_7a_Branch_0_Conv2d_1a_3x3", strides=2, padding="valid")
    b1 = _conv(x, 256, 1, "Mixed_7a_Branch_1_Conv2d_0a_1x1")
    b1 = _conv(b1, 256, 3, "Mixed_7a_Branch_1_Conv2d_1a_3x3", strides=2, padding="valid")
    b2 = _conv(x, 256, 1, "Mixed_7a_Branch_2_Conv2d_0a_1x1")
    b2 = _conv(b2, 256, 3, "Mixed_7a_Branch_2_Conv2d_0b_3x3")
    b2 = _conv(b2, 256, 3, "Mixed_7a_Branch_2_Conv2d_1a_3x3", strides=2, padding="valid")
    b3 = layers.MaxPooling2D(3, strides=2, padding="valid", name="Mixed_7a_Branch_3_MaxPool_1a_3x3")(x)
    return layers.Concatenate(axis=3, name="Mixed_7a")([b0, b1, b2, b3])


def read_h5_weights(path: Path) -> dict[str, dict[str, NDArray[np.float32]]]:
    """Every layer's weights in a Keras-2 h5 file: ``{layer: {"kernel": array, "beta": array, ...}}``.

    Raises:
        WeightsError: the file is not an HDF5 Keras weights file.
    """
    import h5py

    try:
        with h5py.File(path, "r") as f:
            group = f["model_weights"] if "model_weights" in f else f
            out: dict[str, dict[str, NDArray[np.float32]]] = {}
            for layer in _names(group.attrs.get("layer_names", [])):
                lg = group[layer]
                weights = {}
                for wname in _names(lg.attrs.get("weight_names", [])):
                    short = wname.rsplit("/", 1)[-1].split(":", 1)[0]
                    weights[short] = np.asarray(lg[wname], dtype=np.float32)
                if weights:
                    out[layer] = weights
            return out
    except (OSError, KeyError) as exc:
        raise WeightsError(f"{path} is not a Keras h5 weights file ({exc}); use facenet_keras.h5") from exc


def _names(raw: Any) -> list[str]:
    return [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in raw]


def load_weights(model: Any, weights: dict[str, dict[str, NDArray[np.float32]]], source: str = "the h5 file") -> int:
    """Copy weights into ``model`` by layer name and weight name (``kernel``, ``bias``, ``beta``, ...).

    Returns:
        How many layers received weights.

    Raises:
        WeightsError: a layer of the model has no weights in the file, or their shapes differ.
    """
    loaded = 0
    for layer in model.layers:
        if not layer.weights:
            continue
        stored = weights.get(layer.name)
        if stored is None:
            raise WeightsError(f"{source} has no weights for layer {layer.name!r}: it is not facenet_keras.h5")
        values = []
        for var in layer.weights:
            short = var.path.rsplit("/", 1)[-1].split(":", 1)[0]
            value = stored.get(short)
            if value is None or tuple(value.shape) != tuple(var.shape):
                got = None if value is None else value.shape
                raise WeightsError(f"{source}: weight {layer.name}/{short} is {got}, expected {tuple(var.shape)}")
            values.append(value)
        layer.set_weights(values)
        loaded += 1
    return loaded


def keras_from_h5(path: Path) -> Any:
    """The Keras model with the weights of ``facenet_keras.h5`` (or any h5 with the same layer names)."""
    model = build_model()
    n = load_weights(model, read_h5_weights(path), str(path))
    log.info("loaded weights of %d layers from %s", n, path)
    return model


def convert(src: Path, dst: Path) -> None:
    """Manifest converter: ``facenet_keras.h5`` → ONNX at ``dst``.

    Raises:
        WeightsError: ``src`` is not a FaceNet Keras weights file.
        BackendUnavailable: TensorFlow, Keras or tf2onnx is missing.
    """
    try:
        import tf2onnx  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailable("converting FaceNet to ONNX needs tf2onnx: run `pip install -r requirements.txt`") from exc
    export_onnx(keras_from_h5(Path(src)), Path(dst))
