"""VGG-Face (Parkhi et al. 2015) from deepface's ``vgg_face_weights.h5`` to a truncated ONNX embedding model.

Architecture, as deepface builds it (a Keras ``Sequential``, input 224×224×3, BGR minus the VGG-Face channel
means): five blocks of 3×3 convolutions with ReLU and "same" zero padding (64, 128, 256, 512, 512 filters; 2, 2,
3, 3, 3 convolutions), each followed by 2×2 max-pooling; then the fully connected part written as convolutions:
``fc6`` 4096 7×7 + ReLU, dropout 0.5, ``fc7`` 4096 1×1 + ReLU, dropout 0.5, ``fc8`` 2622 1×1, flatten, softmax.

**Truncation: the 4096-d output of fc7 after its ReLU** (what deepface returns, ``layers[-5]``). fc8's 2622
values are pre-softmax logits of a classifier over the 2622 training identities: they describe how much a face
looks like each of those people, not the face itself; fc7 is the general face descriptor the VGG-Face paper
uses, and deepface measured it 6-14 % more accurate on verification than the 2622-d layer.

Loading: the file was saved from a ``Sequential`` whose layer names are Keras' automatic ones, so, as Keras
itself does for such files, the 16 layers that hold weights are matched **in order**, each shape checked
(13 convolutions, fc6, fc7, fc8; fc layers stored as ``Dense`` kernels are reshaped to their convolution
form). Widths are read from the file, so a smaller network of the same shape (the tests' random one)
converts too. TensorFlow, Keras, h5py and tf2onnx are imported inside the functions.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from common.errors import BackendUnavailable, WeightsError
from models.convert.keras_onnx import INPUT_NAME, OPSET, OUTPUT_NAME, export_onnx, write_atomically  # noqa: F401 - re-exported

log = logging.getLogger(__name__)

INPUT_SIZE = 224
BLOCKS = (2, 2, 3, 3, 3)
"""Convolutions per block."""
STANDARD_WIDTHS = ((64, 128, 256, 512, 512), 4096, 2622)
"""(block filters, fc width, classes) of the published network."""
EMBEDDING_DIM = 4096

Layer = tuple[str, list[NDArray[np.float32]]]


def read_h5_layers(path: Path, expected: str) -> list[Layer]:
    """The layers of a Keras h5 weights file that hold weights, in file order: ``(name, [arrays...])``.

    Handles both ``save_weights`` files and full-model files (weights under ``model_weights``).

    Args:
        path: the h5 file. expected: what the file should be, for messages (e.g. ``"vgg_face_weights.h5"``).

    Raises:
        WeightsError: missing file, not HDF5, or not a Keras weights file.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist; download {expected} or give its path")
    if not h5py.is_hdf5(path):
        raise WeightsError(f"{path} is not an HDF5 (.h5) file; expected Keras weights such as {expected}")
    try:
        with h5py.File(path, "r") as f:
            group = f["model_weights"] if "model_weights" in f else f
            if "layer_names" not in group.attrs:
                raise WeightsError(f"{path} is HDF5 but not a Keras weights file (no layer_names); expected {expected}")
            layers = []
            for name in _names(group.attrs["layer_names"]):
                arrays = [np.asarray(group[name][w], dtype=np.float32) for w in _names(group[name].attrs.get("weight_names", []))]
                if arrays:
                    layers.append((name, arrays))
            return layers
    except (OSError, KeyError) as exc:
        raise WeightsError(f"{path} cannot be read as Keras weights ({exc}); expected {expected}") from exc


def _names(raw: Any) -> list[str]:
    return [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in raw]


def vgg_weights(layers: list[Layer], source: str) -> list[list[NDArray[np.float32]]]:
    """The 16 ``[kernel, bias]`` pairs in convolution form, after checking the VGG-Face structure.

    Raises:
        WeightsError: wrong number of layers, or a kernel of the wrong shape (names the layer).
    """
    n_conv = sum(BLOCKS)
    if len(layers) != n_conv + 3:
        raise WeightsError(
            f"{source} has {len(layers)} layers with weights; VGG-Face has {n_conv + 3} "
            f"(13 convolutions, fc6, fc7, fc8): it is not vgg_face_weights.h5"
        )
    out, channels = [], 3
    for i, (name, arrays) in enumerate(layers):
        if len(arrays) != 2:
            raise WeightsError(f"{source}: layer {name!r} has {len(arrays)} weight arrays, expected a kernel and a bias")
        kernel, bias = arrays
        k = 3 if i < n_conv else (7 if i == n_conv else 1)
        if kernel.ndim == 2 and kernel.shape[0] == k * k * channels:  # Dense after Flatten: same maths
            kernel = kernel.reshape(k, k, channels, kernel.shape[1])
        if kernel.ndim != 4 or kernel.shape[:3] != (k, k, channels) or bias.shape != (kernel.shape[3],):
            raise WeightsError(
                f"{source}: layer {i + 1} ({name!r}) has a kernel of shape {kernel.shape}; VGG-Face needs "
                f"({k}, {k}, {channels}, N) there: it is not vgg_face_weights.h5"
            )
        channels = kernel.shape[3]
        out.append([kernel, bias])
    return out


def build_model(filters: tuple[int, ...] = STANDARD_WIDTHS[0], fc: int = 4096, classes: int = 2622) -> Any:
    """The full VGG-Face Keras model (up to the softmax), randomly initialised.

    Args:
        filters: filters of the five blocks. fc: width of fc6/fc7. classes: outputs of fc8.

    Returns:
        A ``keras.Model`` (N, 224, 224, 3) float32 → (N, classes) softmax; layer ``fc7_relu`` is the embedding.
    """
    keras = _keras()
    L = keras.layers
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name=INPUT_NAME)
    x = inputs
    for b, (n, width) in enumerate(zip(BLOCKS, filters), start=1):
        for c in range(1, n + 1):
            x = L.ZeroPadding2D(1, name=f"pad{b}_{c}")(x)
            x = L.Conv2D(width, 3, activation="relu", name=f"conv{b}_{c}")(x)
        x = L.MaxPooling2D(2, strides=2, name=f"pool{b}")(x)
    x = L.Conv2D(fc, 7, activation="relu", name="fc6")(x)
    x = L.Dropout(0.5, name="fc6_dropout")(x)
    x = L.Conv2D(fc, 1, activation="relu", name="fc7_relu")(x)
    x = L.Dropout(0.5, name="fc7_dropout")(x)
    x = L.Conv2D(classes, 1, name="fc8")(x)
    x = L.Flatten(name="flatten")(x)
    outputs = L.Activation("softmax", name="softmax")(x)
    return keras.Model(inputs, outputs, name="vgg_face")


def embedding_model(full: Any) -> Any:
    """``full`` truncated to the 4096-d fc7 output (after ReLU), flattened: (N, 224, 224, 3) → (N, fc)."""
    keras = _keras()
    out = keras.layers.Flatten(name=OUTPUT_NAME)(full.get_layer("fc7_relu").output)
    return keras.Model(full.input, out, name="vgg_face_embedding")


def keras_from_h5(path: Path) -> Any:
    """The full VGG-Face Keras model with the weights of ``path`` (widths taken from the file).

    Raises:
        WeightsError: see :func:`read_h5_layers` and :func:`vgg_weights`.
    """
    weights = vgg_weights(read_h5_layers(path, "vgg_face_weights.h5"), str(path))
    filters, starts = [], 0
    for n in BLOCKS:
        filters.append(weights[starts][0].shape[3])
        starts += n
    fc, classes = weights[-2][0].shape[3], weights[-1][0].shape[3]
    if (tuple(filters), fc, classes) != STANDARD_WIDTHS:
        log.warning("%s: widths %s, fc %d, %d classes differ from VGG-Face's published ones", path, filters, fc, classes)
    model = build_model(tuple(filters), fc, classes)
    weighted = [layer for layer in model.layers if layer.weights]
    for layer, values in zip(weighted, weights):
        layer.set_weights(values)
    return model


def convert(src: Path, dst: Path) -> None:
    """Manifest converter: ``vgg_face_weights.h5`` → the truncated (fc7, 4096-d) ONNX model at ``dst``.

    Raises:
        WeightsError: ``src`` is missing, not an h5 file, or not VGG-Face weights.
        BackendUnavailable: TensorFlow/Keras or tf2onnx is missing.
    """
    model = keras_from_h5(Path(src))
    export_onnx(embedding_model(model), Path(dst))
    log.info("wrote %s (VGG-Face fc7 embedding, opset %d)", dst, OPSET)


def _keras() -> Any:
    try:
        import keras
        import tf2onnx  # noqa: F401  (checked here so a missing converter fails before any work)
    except ImportError as exc:
        raise BackendUnavailable(
            f"converting Keras weights needs {exc.name}: run `pip install -r requirements.txt`"
        ) from exc
    return keras
