"""DeepFace (Taigman et al., CVPR 2014): a classifier over identities whose F7 layer, L2-normalised, is the
face embedding. Keras; TensorFlow is imported inside the functions.

Layers (at the paper's 152×152×3 input): C1 32@11×11 → M2 max-pool 3×3 stride 2 → C3 16@9×9 → L4 16@9×9
locally connected → L5 16@7×7 stride 2 locally connected → L6 16@5×5 locally connected → F7 4096 (ReLU,
dropout) → F8 softmax over the training identities. Trained with SGD, momentum 0.9, learning rate 0.01 × batch/128.

Two changes from the paper make it learn in a small budget (the layout and sizes are the paper's): each of C1, C3
and L4–L6 is batch-normalised before its ReLU, with He initialisation (``batch_norm``, ``init``); and the softmax
targets are smoothed (0.1) with the rate warmed up over the first 5 % of the steps, then decayed along a half
cosine to 0. With the paper's recipe alone (Glorot, no normalisation, constant rate), 8 CPU minutes left the
full-size F7 no better than its random weights.

:class:`DeepFaceConfig` scales it: ``size`` (input side, at least 71), ``width`` (multiplies the filter counts)
and ``f7`` (embedding length), so tests build a tiny one. The input is ``(x − 127.5) / 128`` (``fixed``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from common.errors import InvalidInput
from common.progress import Progress, ShouldStop, never_stop, no_progress

log = logging.getLogger(__name__)

MIN_SIZE = 71
RATE = 0.01  # at batch 128; scaled with the batch
STANDARDIZE = "fixed"
ALIGNMENT = "box_margin_facenet"


@dataclass(frozen=True)
class DeepFaceConfig:
    """The network's size. ``size``: input side in pixels; ``width``: filter-count multiplier; ``f7``: embedding
    length; ``dropout`` on F7; ``batch_norm`` before each ReLU of C1–L6; ``init``: ``he`` or ``glorot``."""

    size: int = 152
    width: float = 1.0
    f7: int = 4096
    dropout: float = 0.5
    batch_norm: bool = True
    init: str = "he"

    def check(self) -> "DeepFaceConfig":
        """Raises InvalidInput for a size or width the layers cannot take."""
        if self.size < MIN_SIZE:
            raise InvalidInput(f"DeepFace needs an input of at least {MIN_SIZE}×{MIN_SIZE} pixels (got {self.size}); "
                               "the paper uses 152")
        bad_init = self.init not in ("he", "glorot")
        if not 0.0 < self.width <= 4.0 or self.f7 < 2 or not 0.0 <= self.dropout < 1.0 or bad_init:
            raise InvalidInput("DeepFace width must be in (0, 4], F7 at least 2, dropout in [0, 1), init he or glorot")
        return self


@dataclass(frozen=True)
class SGDConfig:
    """Training: epochs, batch size, learning rate (None: ``RATE`` × batch / 128), momentum, seed, label smoothing
    of the softmax targets, and ``warmup`` (the share of steps over which the rate rises linearly from 0; it then
    falls along a half cosine to 0 at the last step)."""

    epochs: int = 10
    batch: int = 32
    learning_rate: float | None = None
    momentum: float = 0.9
    seed: int = 0
    label_smoothing: float = 0.1
    warmup: float = 0.05

    def rate(self) -> float:
        return self.learning_rate if self.learning_rate is not None else RATE * self.batch / 128

    def schedule(self, total_steps: int) -> Any:
        """The learning-rate schedule over ``total_steps`` optimiser steps (a Keras schedule)."""
        import keras

        warm = max(1, int(round(self.warmup * total_steps)))
        return keras.optimizers.schedules.CosineDecay(0.0, max(1, total_steps - warm), alpha=0.0,
                                                      warmup_target=self.rate(), warmup_steps=warm)


def _filters(n: int, width: float) -> int:
    return max(1, int(round(n * width)))


def build_deepface(classes: int, cfg: DeepFaceConfig = DeepFaceConfig(), seed: int = 0) -> tuple[Any, Any]:
    """``(classifier, embedder)``: the classifier outputs F8 logits over ``classes`` identities; the embedder
    (sharing its layers) outputs the L2-normalised F7 vector.

    Raises:
        InvalidInput: fewer than two classes, or a bad config.
    """
    import keras

    from models.train.locally_connected import LocallyConnected2D

    cfg.check()
    if classes < 2:
        raise InvalidInput(f"DeepFace trains as a classifier over identities: it needs at least 2 people, got {classes}")
    keras.utils.set_random_seed(seed)
    w, L = cfg.width, keras.layers
    init = "he_uniform" if cfg.init == "he" else "glorot_uniform"
    inputs = keras.Input((cfg.size, cfg.size, 3), name="input")
    bias = not cfg.batch_norm  # a batch norm's offset replaces the bias
    x = _relu(cfg, "C1", L.Conv2D(_filters(32, w), 11, use_bias=bias, kernel_initializer=init, name="C1")(inputs))
    x = L.MaxPooling2D(3, 2, padding="same", name="M2")(x)
    x = _relu(cfg, "C3", L.Conv2D(_filters(16, w), 9, use_bias=bias, kernel_initializer=init, name="C3")(x))
    for k, (name, size, stride) in enumerate((("L4", 9, 1), ("L5", 7, 2), ("L6", 5, 1))):
        lc = LocallyConnected2D(_filters(16, w), size, stride, use_bias=bias, seed=seed + k, init=cfg.init, name=name)
        x = _relu(cfg, name, lc(x))
    f7 = L.Dense(cfg.f7, activation="relu", kernel_initializer=init, name="F7")(L.Flatten(name="flatten")(x))
    logits = L.Dense(classes, name="F8")(L.Dropout(cfg.dropout, name="F7_dropout")(f7))
    embedding = L.UnitNormalization(name="embedding")(f7)
    return keras.Model(inputs, logits, name="deepface"), keras.Model(inputs, embedding, name="deepface_embedding")


def _relu(cfg: DeepFaceConfig, name: str, x: Any) -> Any:
    """ReLU of ``x``, batch-normalised first when ``cfg.batch_norm``."""
    import keras

    if cfg.batch_norm:
        x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def standardize(crops: NDArray[np.uint8]) -> NDArray[np.float32]:
    """Network input of ``(N, S, S, 3)`` uint8 crops."""
    from models.embedders.facenet import STANDARDIZE as TABLE

    return TABLE[STANDARDIZE](crops)


def train_classifier(model: Any, crops: NDArray[np.uint8], labels: NDArray[np.int64], cfg: SGDConfig,
                     progress: Progress = no_progress, should_stop: ShouldStop = never_stop) -> list[float]:
    """Train ``model`` (logits out) with softmax cross-entropy and SGD + momentum on mirrored-at-random crops.

    Returns:
        The mean loss of each finished epoch (fewer when stopped).
    """
    import keras
    import tensorflow as tf

    rng = np.random.default_rng(cfg.seed)
    steps = max(1, int(np.ceil(len(crops) / cfg.batch)))
    opt = keras.optimizers.SGD(learning_rate=cfg.schedule(cfg.epochs * steps), momentum=cfg.momentum)
    loss_fn = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=cfg.label_smoothing)
    variables = model.trainable_variables
    classes = int(model.output.shape[-1])

    @tf.function(reduce_retracing=True)
    def step(x: Any, y: Any) -> Any:
        with tf.GradientTape() as tape:
            loss = loss_fn(tf.one_hot(y, classes), model(x, training=True))
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    history = []
    for epoch in range(cfg.epochs):
        order, losses = rng.permutation(len(crops)), []
        for k in range(steps):
            if should_stop():
                return history
            idx = order[k * cfg.batch : (k + 1) * cfg.batch]
            x = standardize(crops[idx])
            flip = rng.random(len(idx)) < 0.5
            x[flip] = x[flip, :, ::-1]
            losses.append(float(step(x, labels[idx])))
            progress(epoch * steps + k + 1, cfg.epochs * steps, f"epoch {epoch + 1}/{cfg.epochs}")
        history.append(float(np.mean(losses)))
        log.info("deepface epoch %d/%d: loss %.4f", epoch + 1, cfg.epochs, history[-1])
    return history


def embed(embedder: Any, crops: NDArray[np.uint8], batch: int = 64) -> NDArray[np.float32]:
    """Unit F7 embeddings ``(N, f7)`` of ``(N, S, S, 3)`` uint8 crops, averaged with their mirror images."""
    out = [np.zeros((0, int(embedder.output.shape[-1])), np.float32)]
    for s in range(0, len(crops), batch):
        x = standardize(crops[s : s + batch])
        v = np.asarray(embedder(x, training=False)) + np.asarray(embedder(x[:, :, ::-1], training=False))
        out.append(v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12))
    return np.concatenate(out).astype(np.float32)


def export_embedder(embedder: Any, folder: Path, parity_crops: NDArray[np.uint8]) -> dict[str, float]:
    """Write ``model.onnx`` and ``model_float32.tflite`` of the embedding network into ``folder``, each checked
    against Keras on ``parity_crops``.

    Returns:
        ``{"onnx_max_abs_diff", "tflite_max_abs_diff"}``.

    Raises:
        WeightsError: an export disagrees with Keras by more than the parity tolerance (1e-4).
    """
    from models.train.export import export_onnx_checked, export_tflite

    folder.mkdir(parents=True, exist_ok=True)
    inputs = standardize(parity_crops)
    onnx_diff = export_onnx_checked(embedder, folder / "model.onnx", inputs)
    tfl = export_tflite(embedder, folder / "model_float32.tflite")
    return {"onnx_max_abs_diff": onnx_diff, "tflite_max_abs_diff": tflite_parity(tfl, embedder, inputs)}


def tflite_parity(path: Path, model: Any, inputs: NDArray[np.float32]) -> float:
    """Largest absolute difference between a one-input TFLite file (batch 1) and ``model`` on ``inputs``.

    Raises:
        WeightsError: above the parity tolerance (the file is removed).
    """
    from ai_edge_litert.interpreter import Interpreter

    from common.errors import WeightsError
    from models.train.export import PARITY_TOLERANCE

    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    diff = 0.0
    for x in inputs:
        interp.set_tensor(inp["index"], x[None].astype(np.float32))
        interp.invoke()
        want = np.asarray(model(x[None], training=False))
        diff = max(diff, float(np.max(np.abs(interp.get_tensor(out["index"]) - want))))
    if diff > PARITY_TOLERANCE:
        path.unlink(missing_ok=True)
        raise WeightsError(f"the TFLite export differs from the Keras model by {diff:.2e} (> {PARITY_TOLERANCE}); not kept")
    return diff
