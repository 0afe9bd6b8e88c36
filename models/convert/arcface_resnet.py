"""ArcFace-ResNet34 from deepface's ``arcface_weights.h5`` to TFLite (float32, or int8 with calibration).

Architecture, as deepface builds it (input 112×112×3 RGB scaled ``(x − 127.5) / 128``):

* stem: 1-pixel zero padding, 3×3 convolution (64, no bias), BatchNorm, PReLU (shared over H, W);
* four stacks of pre-activation residual blocks (64, 128, 256, 512 filters; 3, 4, 6, 3 blocks), the first
  block of each stack strided 2 with a 1×1 convolution + BatchNorm shortcut. A block is
  BN → pad → 3×3 conv → BN → PReLU → pad → 3×3 conv (stride) → BN, added to the shortcut;
* head: BatchNorm, dropout 0.4, flatten (7×7×512), dense 512, BatchNorm named ``embedding``.

Layer names follow deepface's (``conv1_conv``, ``conv2_block1_0_conv``, ...). Weights are matched by name
where the file has the name, and the remaining layers (deepface leaves the head's first BatchNorm and the
dense layer to Keras' automatic names) in file order, every shape checked. Widths are read from the file, so a
narrower network of the same shape (the tests' random one) converts too.

TensorFlow, Keras and h5py are imported inside the functions.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from numpy.typing import NDArray

from common.errors import BackendUnavailable, InvalidInput, WeightsError
from models.convert.vggface import Layer, read_h5_layers, write_atomically

log = logging.getLogger(__name__)

INPUT_SIZE = 112
STACKS = (3, 4, 6, 3)
"""Residual blocks per stack."""
STANDARD_WIDTHS = (64, 64, 128, 256, 512)
"""Filters of the stem and of the four stacks."""
EMBEDDING_DIM = 512
BN_EPS = 2e-5
CALIBRATION_IMAGES = 200
"""At most this many calibration images feed the int8 converter."""


def build_model(widths: tuple[int, ...] = STANDARD_WIDTHS, embedding: int = EMBEDDING_DIM) -> Any:
    """The ArcFace-ResNet34 Keras model with random weights: (N, 112, 112, 3) → (N, ``embedding``)."""
    keras = _keras()
    L = keras.layers
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="input")
    x = L.ZeroPadding2D(1, name="conv1_pad")(inputs)
    x = L.Conv2D(widths[0], 3, use_bias=False, name="conv1_conv")(x)
    x = L.BatchNormalization(epsilon=BN_EPS, momentum=0.9, name="conv1_bn")(x)
    x = L.PReLU(shared_axes=[1, 2], name="conv1_prelu")(x)
    for s, (blocks, width) in enumerate(zip(STACKS, widths[1:]), start=2):
        x = _block(L, x, width, 2, True, f"conv{s}_block1")
        for b in range(2, blocks + 1):
            x = _block(L, x, width, 1, False, f"conv{s}_block{b}")
    x = L.BatchNormalization(epsilon=BN_EPS, momentum=0.9, name="head_bn")(x)
    x = L.Dropout(0.4, name="head_dropout")(x)
    x = L.Flatten(name="head_flatten")(x)
    x = L.Dense(embedding, name="head_dense")(x)
    out = L.BatchNormalization(epsilon=BN_EPS, momentum=0.9, name="embedding")(x)
    return keras.Model(inputs, out, name="ResNet34")


def _block(L: Any, x: Any, filters: int, stride: int, conv_shortcut: bool, name: str) -> Any:
    """One pre-activation residual block (deepface's ``block1``)."""
    if conv_shortcut:
        shortcut = L.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{name}_0_conv")(x)
        shortcut = L.BatchNormalization(epsilon=BN_EPS, momentum=0.9, name=f"{name}_0_bn")(shortcut)
    else:
        shortcut = x
    x = L.BatchNormalization(epsilon=BN_EPS, momentum=0.9, name=f"{name}_1_bn")(x)
    x = L.ZeroPadding2D(1, name=f"{name}_1_pad")(x)
    x = L.Conv2D(filters, 3, use_bias=False, name=f"{name}_1_conv")(x)
    x = L.BatchNormalization(epsilon=BN_EPS, momentum=0.9, name=f"{name}_2_bn")(x)
    x = L.PReLU(shared_axes=[1, 2], name=f"{name}_1_prelu")(x)
    x = L.ZeroPadding2D(1, name=f"{name}_2_pad")(x)
    x = L.Conv2D(filters, 3, strides=stride, use_bias=False, name=f"{name}_2_conv")(x)
    x = L.BatchNormalization(epsilon=BN_EPS, momentum=0.9, name=f"{name}_3_bn")(x)
    return L.Add(name=f"{name}_add")([shortcut, x])


def widths_in(layers: list[Layer], source: str) -> tuple[tuple[int, ...], int]:
    """(stem and stack widths, embedding length) of the network stored in ``layers``.

    Raises:
        WeightsError: the file lacks ArcFace-ResNet's named convolutions.
    """
    by_name = dict(layers)
    names = ["conv1_conv"] + [f"conv{s}_block1_0_conv" for s in range(2, 6)]
    missing = [n for n in names if n not in by_name]
    if missing:
        raise WeightsError(f"{source} has no layer {missing[0]!r}: it is not ArcFace-ResNet34 weights (arcface_weights.h5)")
    widths = tuple(int(by_name[n][0].shape[-1]) for n in names)
    return widths, int(layers[-1][1][0].shape[-1])


def assign_weights(model: Any, layers: list[Layer], source: str) -> None:
    """Copy ``layers`` into ``model``: by name where the file has it, the rest in file order.

    Raises:
        WeightsError: layers left unmatched, or a weight of the wrong shape (names the layer).
    """
    by_name = dict(layers)
    weighted = [layer for layer in model.layers if layer.weights]
    unnamed = [layer for layer in weighted if layer.name not in by_name]
    names = {layer.name for layer in weighted}
    leftovers = [arrays for name, arrays in layers if name not in names]
    if len(unnamed) != len(leftovers):
        raise WeightsError(
            f"{source} has {len(layers)} layers with weights, the ArcFace-ResNet34 network {len(weighted)}: "
            "it is not arcface_weights.h5"
        )
    pairs = [(layer, by_name[layer.name]) for layer in weighted if layer.name in by_name]
    for layer, arrays in pairs + list(zip(unnamed, leftovers)):
        expected = [tuple(w.shape) for w in layer.weights]
        if [a.shape for a in arrays] != expected:
            raise WeightsError(
                f"{source}: layer {layer.name!r} holds weights of shapes {[a.shape for a in arrays]}, "
                f"expected {expected}: it is not arcface_weights.h5"
            )
        layer.set_weights(arrays)


def keras_from_h5(path: Path) -> Any:
    """The ArcFace-ResNet34 Keras model with the weights of ``path`` (widths taken from the file)."""
    layers = read_h5_layers(Path(path), "arcface_weights.h5")
    widths, dim = widths_in(layers, str(path))
    if (widths, dim) != (STANDARD_WIDTHS, EMBEDDING_DIM):
        log.warning("%s: widths %s, %d-d embedding differ from ArcFace-ResNet34's published ones", path, widths, dim)
    model = build_model(widths, dim)
    assign_weights(model, layers, str(path))
    return model


def calibration_batches(folder: Path, limit: int = CALIBRATION_IMAGES) -> Callable[[], Iterator[list[NDArray[np.float32]]]]:
    """A representative dataset for int8 calibration: images of ``folder`` (recursively), resized to 112×112,
    ``(x − 127.5) / 128``, one (1, 112, 112, 3) batch each. Best: ArcFace-aligned face crops.

    Raises:
        InvalidInput: the folder does not exist or holds no readable image.
    """
    import cv2

    from models.imageio import is_image_path, load_image

    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidInput(f"calibration folder {folder} does not exist; give a folder of (aligned) face images")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and is_image_path(p))[:limit]
    if not files:
        raise InvalidInput(f"calibration folder {folder} holds no images; give a folder of (aligned) face images")

    def batches() -> Iterator[list[NDArray[np.float32]]]:
        for p in files:
            img = cv2.resize(load_image(p), (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
            yield [((img.astype(np.float32) - 127.5) / 128.0)[None]]

    return batches


def export_tflite(model: Any, dst: Path, int8_calibration: Path | None = None) -> None:
    """Write ``model`` as TFLite with a fixed 1×112×112×3 float32 input, atomically.

    With ``int8_calibration`` (a folder of face images) weights and activations are quantised to int8;
    input and output stay float32, so the backend runs both kinds the same way.
    """
    import tempfile

    import tensorflow as tf

    spec = tf.TensorSpec((1, INPUT_SIZE, INPUT_SIZE, 3), tf.float32, name="input")
    with tempfile.TemporaryDirectory(prefix="rollcall-arcface-") as tmp:
        # Through a SavedModel, whose variables the converter freezes (also for int8 calibration).
        model.export(tmp, format="tf_saved_model", input_signature=[spec], verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        _configure(converter, int8_calibration)
        data = converter.convert()
    write_atomically(Path(dst), data)


def _configure(converter: Any, int8_calibration: Path | None) -> None:
    import tensorflow as tf

    if int8_calibration is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = calibration_batches(int8_calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]


def convert(src: Path, dst: Path, int8_calibration: Path | None = None) -> None:
    """Manifest converter: ``arcface_weights.h5`` → TFLite at ``dst`` (int8 when a calibration folder is given).

    Raises:
        WeightsError: ``src`` is missing, not an h5 file, or not ArcFace-ResNet34 weights.
        InvalidInput: the calibration folder is missing or empty.
        BackendUnavailable: TensorFlow is missing.
    """
    if int8_calibration is not None:
        calibration_batches(int8_calibration)  # fail on a bad folder before the slow part
    export_tflite(keras_from_h5(Path(src)), Path(dst), int8_calibration)
    log.info("wrote %s (ArcFace-ResNet34, %s)", dst, "int8" if int8_calibration else "float32")


def _keras() -> Any:
    try:
        import keras
        import tensorflow  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailable(f"converting Keras weights needs {exc.name}: run `pip install -r requirements.txt`") from exc
    return keras
