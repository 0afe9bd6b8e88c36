"""The Siamese verifier: one shared convolutional network embeds an anchor and a verification image (112×112×3),
the absolute difference of the two embeddings goes through a dense layer and a dense sigmoid that gives the
probability that both show the same person. Adam and binary cross-entropy on balanced pairs. Keras; TensorFlow
is imported inside the functions.

:class:`SiameseConfig` scales it (``size``, ``width``), so tests build a tiny one. The Keras networks take
``(x − 127.5) / 128``; the exports (SavedModel for TF Serving, ``pair.onnx``) take RGB pixel values 0–255 and
standardise inside, so a client sends plain pixels.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from common.errors import InvalidInput, WeightsError
from common.progress import Progress, ShouldStop, never_stop, no_progress
from models.train.net_data import sample_pairs

log = logging.getLogger(__name__)

STANDARDIZE = "fixed"
ALIGNMENT = "box_margin_facenet"
INPUTS = ("anchor", "verification")
OUTPUT = "probability"
PAIR_ONNX = "pair.onnx"
SERVING_DIR = "tfserving"


@dataclass(frozen=True)
class SiameseConfig:
    """The network's size: ``size`` input side (at least 32), ``width`` multiplies the filters (32, 64, 128,
    128), ``embedding`` length, ``dense`` units before the sigmoid."""

    size: int = 112
    width: float = 1.0
    embedding: int = 128
    dense: int = 64

    def check(self) -> "SiameseConfig":
        """Raises InvalidInput for sizes the network cannot take."""
        if self.size < 32 or not 0.0 < self.width <= 4.0 or self.embedding < 2 or self.dense < 1:
            raise InvalidInput(f"Siamese input must be at least 32 pixels (got {self.size}), width in (0, 4], "
                               "embedding at least 2 and dense at least 1")
        return self


@dataclass(frozen=True)
class AdamConfig:
    """Training: epochs (each ``len(train photos) / batch`` steps of balanced pairs), pairs per batch, rate."""

    epochs: int = 10
    batch: int = 32
    learning_rate: float = 1e-3
    seed: int = 0


def build_siamese(cfg: SiameseConfig = SiameseConfig(), seed: int = 0) -> tuple[Any, Any]:
    """``(pair_model, branch)``: the pair model maps ``[anchor, verification]`` to ``(N, 1)`` probabilities;
    ``branch`` is the shared embedding network (one image → ``(N, embedding)``)."""
    import keras

    cfg.check()
    keras.utils.set_random_seed(seed)
    L = keras.layers
    image = keras.Input((cfg.size, cfg.size, 3), name="image")
    x = image
    for k, filters in enumerate((32, 64, 128, 128)):
        x = L.Conv2D(max(1, int(round(filters * cfg.width))), 3, padding="same", use_bias=False, name=f"conv{k + 1}")(x)
        x = L.BatchNormalization(name=f"bn{k + 1}")(x)
        x = L.ReLU(name=f"relu{k + 1}")(x)
        x = L.MaxPooling2D(2, name=f"pool{k + 1}")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    branch = keras.Model(image, L.Dense(cfg.embedding, name="embedding")(x), name="siamese_branch")
    anchor = keras.Input((cfg.size, cfg.size, 3), name=INPUTS[0])
    other = keras.Input((cfg.size, cfg.size, 3), name=INPUTS[1])
    diff = keras.ops.abs(L.Subtract(name="difference")([branch(anchor), branch(other)]))
    hidden = L.Dense(cfg.dense, activation="relu", name="dense")(diff)
    p = L.Dense(1, activation="sigmoid", name="same")(hidden)
    return keras.Model([anchor, other], p, name="siamese"), branch


def standardize(crops: NDArray[np.uint8]) -> NDArray[np.float32]:
    """Network input of ``(N, S, S, 3)`` uint8 crops."""
    from models.embedders.facenet import STANDARDIZE as TABLE

    return TABLE[STANDARDIZE](crops)


def train_pairs(model: Any, crops: NDArray[np.uint8], labels: NDArray[np.int64], cfg: AdamConfig,
                progress: Progress = no_progress, should_stop: ShouldStop = never_stop) -> list[float]:
    """Train the pair model with Adam and binary cross-entropy on balanced random pairs of ``crops`` (mirrored
    at random).

    Returns:
        The mean loss of each finished epoch (fewer when stopped).

    Raises:
        InvalidInput: no same-person pair can be drawn (see :func:`sample_pairs`).
    """
    import keras
    import tensorflow as tf

    opt = keras.optimizers.Adam(cfg.learning_rate)
    loss_fn = keras.losses.BinaryCrossentropy()
    variables = model.trainable_variables

    @tf.function(reduce_retracing=True)
    def step(a: Any, b: Any, y: Any) -> Any:
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model([a, b], training=True))
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    rng = np.random.default_rng(cfg.seed)
    steps = max(1, int(np.ceil(len(crops) / cfg.batch)))
    history = []
    for epoch in range(cfg.epochs):
        losses = []
        for k in range(steps):
            if should_stop():
                return history
            i, j, same = sample_pairs(labels, cfg.batch, rng)
            losses.append(float(step(_augment(crops[i], rng), _augment(crops[j], rng), same[:, None].astype(np.float32))))
            progress(epoch * steps + k + 1, cfg.epochs * steps, f"epoch {epoch + 1}/{cfg.epochs}")
        history.append(float(np.mean(losses)))
        log.info("siamese epoch %d/%d: loss %.4f", epoch + 1, cfg.epochs, history[-1])
    return history


def _augment(crops: NDArray[np.uint8], rng: np.random.Generator) -> NDArray[np.float32]:
    x = standardize(crops)
    flip = rng.random(len(x)) < 0.5
    x[flip] = x[flip, :, ::-1]
    return x


def probabilities(model: Any, first: NDArray[np.uint8], second: NDArray[np.uint8], batch: int = 64) -> NDArray[np.float64]:
    """``(N,)`` probabilities that ``first[k]`` and ``second[k]`` (uint8 crops) show the same person."""
    out = [np.zeros(0)]
    for s in range(0, len(first), batch):
        p = model([standardize(first[s : s + batch]), standardize(second[s : s + batch])], training=False)
        out.append(np.asarray(p, np.float64)[:, 0])
    return np.concatenate(out)


def pair_figures(p: NDArray[np.float64], same: NDArray[np.bool_]) -> dict[str, float]:
    """``{"accuracy" (at p ≥ 0.5), "auc", "cutoff" (best on these pairs), "accuracy_at_cutoff", "pairs"}``."""
    from models.evaluation import best_threshold, roc_auc

    same = np.asarray(same, bool)
    if len(p) == 0 or same.all() or not same.any():
        nan = float("nan")
        return {"accuracy": nan, "auc": nan, "cutoff": 0.5, "accuracy_at_cutoff": nan, "pairs": int(len(p))}
    cut = float(np.clip(best_threshold(p, same), 0.0, 1.0))
    return {"accuracy": float(np.mean((p >= 0.5) == same)), "auc": roc_auc(p, same), "cutoff": cut,
            "accuracy_at_cutoff": float(np.mean((p >= cut) == same)), "pairs": int(len(p))}


def export_pair_onnx(model: Any, dst: Path, size: int) -> None:
    """``model`` as ONNX with inputs ``anchor`` and ``verification`` (``(N, S, S, 3)`` float32 pixels 0–255)
    and output ``probability`` ``(N, 1)``."""
    import tensorflow as tf
    import tf2onnx

    from models.convert.keras_onnx import write_atomically

    spec = tuple(tf.TensorSpec((None, size, size, 3), tf.float32, name=n) for n in INPUTS)

    @tf.function(input_signature=spec)
    def infer(a: Any, b: Any) -> Any:
        return tf.identity(model([(a - 127.5) / 128.0, (b - 127.5) / 128.0], training=False), name=OUTPUT)

    proto, _ = tf2onnx.convert.from_function(infer, input_signature=spec, opset=13)
    old = proto.graph.output[0].name
    if old != OUTPUT:
        for node in proto.graph.node:
            node.output[:] = [OUTPUT if o == old else o for o in node.output]
        proto.graph.output[0].name = OUTPUT
    write_atomically(dst, proto.SerializeToString())


def export_pair_savedmodel(model: Any, root: Path, name: str, version: int = 1) -> Path:
    """A SavedModel in TF Serving's layout ``root/name/version/``; its ``serving_default`` signature takes
    ``anchor`` and ``verification`` (``(N, S, S, 3)`` float32 pixels 0–255) and returns ``probability``
    ``(N, 1)``. Returns the version folder."""
    import tensorflow as tf

    size = int(model.inputs[0].shape[1])
    target = root / name / str(version)
    if target.exists():
        shutil.rmtree(target)
    spec = [tf.TensorSpec((None, size, size, 3), tf.float32, name=n) for n in INPUTS]

    class Serving(tf.Module):
        def __init__(self, net: Any) -> None:
            super().__init__()
            self.net = net

        @tf.function(input_signature=spec)
        def serve(self, anchor: Any, verification: Any) -> Any:
            p = self.net([(anchor - 127.5) / 128.0, (verification - 127.5) / 128.0], training=False)
            return {OUTPUT: p}

    module = Serving(model)
    tf.saved_model.save(module, str(target), signatures={"serving_default": module.serve})
    return target


def check_pair_exports(model: Any, onnx_path: Path, saved: Path, first: NDArray[np.uint8],
                       second: NDArray[np.uint8]) -> dict[str, float]:
    """Largest absolute differences of ``pair.onnx`` and the SavedModel from Keras on the given crops.

    Raises:
        WeightsError: either differs by more than 1e-4.
    """
    import onnxruntime as ort
    import tensorflow as tf

    from models.train.export import PARITY_TOLERANCE

    want = probabilities(model, first, second)
    a, b = first.astype(np.float32), second.astype(np.float32)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got_onnx = session.run([OUTPUT], {INPUTS[0]: a, INPUTS[1]: b})[0][:, 0]
    served = tf.saved_model.load(str(saved)).signatures["serving_default"]
    got_saved = served(anchor=tf.constant(a), verification=tf.constant(b))[OUTPUT].numpy()[:, 0]
    diffs = {"onnx_max_abs_diff": float(np.max(np.abs(got_onnx - want))),
             "savedmodel_max_abs_diff": float(np.max(np.abs(got_saved - want)))}
    for key, diff in diffs.items():
        if diff > PARITY_TOLERANCE:
            raise WeightsError(f"the Siamese export differs from the Keras model ({key} {diff:.2e} > {PARITY_TOLERANCE})")
    return diffs
