"""Margin-loss training (the JHFace / arcface-tf2 recipe): a ``keras.applications`` backbone with the arcface-tf2
output block, trained as a classifier over identities through an ArcFace, CosFace or SphereFace head
(:mod:`models.train.heads`). The embedding network without the head is what is exported and used.

Network: input ``(S, S, 3)`` float32, ``(x − 127.5) / 128`` (the ``fixed`` standardisation; EfficientNet gets
its 0–255 range back with a Rescaling layer), S = 112 by default, ArcFace 5-point alignment → backbone
(``include_top=False``) → BatchNorm → Dropout(0.5) → Flatten → Dense(embedding) → BatchNorm → ``(N, D)``;
BatchNorm momentum 0.9 (see :data:`BN_MOMENTUM`).

Training: SGD with Nesterov momentum 0.9 at 0.01 (arcface-tf2's base learning rate; here warm-up + cosine),
weight decay 5e-4 as an L2 penalty on every kernel, softmax cross-entropy over the head's logits. The backbone
starts from random weights (``weights=None``) unless the user's Keras cache already holds its ImageNet weights.
TensorFlow is imported inside the functions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from common.errors import InvalidInput
from models.train.networks import BaseModel
from models.train.trainer import FullJob, TrainConfig

DEFAULT_SIZE = 112
EMBEDDINGS = (128, 512)
DEFAULT_EMBEDDING = 512
WEIGHT_DECAY = 5e-4
LEARNING_RATE = 0.01
DROPOUT = 0.5
BN_MOMENTUM = 0.9
"""BatchNorm momentum of the output block (arcface-tf2's) and, when the backbone starts from random weights, of
the backbone too: Keras' MobileNetV2 uses 0.999, whose moving statistics need thousands of steps to leave their
initial values, so a short run would be evaluated (and exported) with statistics that fit nothing."""
ALIGNMENT = "arcface"
STANDARDIZE = "fixed"


@dataclass(frozen=True)
class Backbone:
    """A ``keras.applications`` backbone: its constructor's name and the file Keras caches its ImageNet weights in."""

    name: str
    application: str
    imagenet_file: str
    raw_input: bool  # the network rescales 0–255 input itself (EfficientNet)


BACKBONES: dict[str, Backbone] = {
    "mobilenetv2": Backbone("mobilenetv2", "MobileNetV2",
                            "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5", False),
    "resnet50": Backbone("resnet50", "ResNet50", "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", False),
    "efficientnetb0": Backbone("efficientnetb0", "EfficientNetB0", "efficientnetb0_notop.h5", True),
}


def backbone(name: str) -> Backbone:
    """The backbone called ``name``.

    Raises:
        InvalidInput: unknown name (the message lists the known ones).
    """
    try:
        return BACKBONES[name]
    except KeyError:
        raise InvalidInput(f"unknown backbone {name!r}; use one of {', '.join(BACKBONES)}") from None


def margin_base(backbone_name: str = "mobilenetv2", embedding: int = DEFAULT_EMBEDDING, size: int = DEFAULT_SIZE) -> BaseModel:
    """The :class:`BaseModel` (alignment, input, standardisation) of a margin network.

    Raises:
        InvalidInput: unknown backbone, an embedding size other than 128/512, or an image side under 32.
    """
    bb = backbone(backbone_name)
    if embedding not in EMBEDDINGS:
        raise InvalidInput(f"--embedding {embedding} is not offered; use 128 or 512")
    if size < 32:
        raise InvalidInput(f"image side {size} is too small for {bb.application}; use at least 32 (default {DEFAULT_SIZE})")
    return BaseModel(f"margin-{bb.name}", ALIGNMENT, (size, size), embedding, STANDARDIZE, False,
                     f"{bb.application} → {embedding}-d, margin-loss trained")


def cached_imagenet(bb: Backbone) -> str | None:
    """``"imagenet"`` when the user's Keras cache already holds the backbone's ImageNet weights, else None
    (nothing is downloaded)."""
    home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    return "imagenet" if (home / "models" / bb.imagenet_file).is_file() else None


def build_network(base: BaseModel, backbone_name: str, seed: int = 0, alpha: float = 1.0) -> Any:
    """The embedding network (standardised crops in, ``(N, embedding)`` out).

    Args:
        alpha: MobileNetV2's width multiplier (tests use 0.35; ImageNet weights are only looked for at 1.0).
    """
    import keras

    keras.utils.set_random_seed(seed)
    bb = backbone(backbone_name)
    w, h = base.input_size
    weights = cached_imagenet(bb) if alpha == 1.0 else None
    kwargs: dict[str, Any] = {"include_top": False, "weights": weights, "input_shape": (h, w, 3)}
    if bb.name == "mobilenetv2":
        kwargs["alpha"] = alpha
    trunk = getattr(keras.applications, bb.application)(**kwargs)
    if weights is None:
        for layer in trunk.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = BN_MOMENTUM
    inputs = keras.Input((h, w, 3), name="input_1")
    x = keras.layers.Rescaling(128.0, offset=127.5, name="to_0_255")(inputs) if bb.raw_input else inputs
    x = trunk(x)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name="out_bn1")(x)
    x = keras.layers.Dropout(DROPOUT, name="out_dropout")(x)
    x = keras.layers.Flatten(name="out_flatten")(x)
    x = keras.layers.Dense(base.dim, name="embedding")(x)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name="out_bn2")(x)
    return keras.Model(inputs, x, name=f"margin_{bb.name}_{base.dim}")


class MarginJob(FullJob):
    """Full-mode training of a margin network: classifier loss through the head; embeddings from the network.

    ``inputs``: ``(N, H, W, 3)`` uint8 crops (the user's people, then background). ``model`` (what is
    checkpointed) is the training graph ``[crops, labels] → logits``, holding the network and the head.
    """

    def __init__(self, net: Any, head: Any, base: BaseModel, inputs: NDArray[np.uint8],
                 weight_decay: float = WEIGHT_DECAY) -> None:
        super().__init__(training_model(net, head), base, inputs, augment_crops=True)
        self.net, self.head, self.weight_decay = net, head, weight_decay

    def forward(self, x: Any, training: bool) -> Any:
        import tensorflow as tf

        return tf.math.l2_normalize(tf.cast(self.net(x, training=training), tf.float32), axis=1)

    def embed(self, inputs: NDArray[np.uint8], batch: int = 32) -> NDArray[np.float32]:
        """Unit embeddings ``(N, D)``, each the mean of the crop's and its mirror image's (as the backends do)."""
        from models.train.networks import standardize

        out = [np.zeros((0, self.base.dim), np.float32)]
        for s in range(0, len(inputs), batch):
            x = standardize(self.base, inputs[s : s + batch])
            v = np.asarray(self.forward(x, False)) + np.asarray(self.forward(x[:, :, ::-1], False))
            out.append((v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)).astype(np.float32))
        return np.concatenate(out)

    def loss(self, x: Any, y: Any, cfg: TrainConfig) -> tuple[Any, Any]:
        """``(softmax cross-entropy over the head's logits, share of the batch the head still misclassifies)``;
        weight decay is the optimiser's (see :meth:`optimizer`)."""
        import tensorflow as tf

        y = tf.cast(tf.reshape(y, [-1]), tf.int32)
        logits = tf.cast(self.head(self.net(x, training=True), y), tf.float32)
        ce = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        wrong = tf.reduce_mean(tf.cast(tf.not_equal(tf.argmax(logits, axis=1, output_type=tf.int32), y), tf.float32))
        return ce, wrong

    def optimizer(self, schedule: Any, cfg: TrainConfig) -> Any:
        """SGD, Nesterov momentum 0.9; the L2 penalty ``wd·‖w‖²`` on kernels (arcface-tf2's regulariser) applied
        as its gradient ``2·wd·w``, decoupled from the loss so that the reported loss is the classifier's."""
        import keras

        opt = keras.optimizers.SGD(learning_rate=schedule, momentum=0.9, nesterov=True,
                                   weight_decay=2.0 * self.weight_decay)
        opt.exclude_from_weight_decay(var_names=["gamma", "beta", "bias", "moving_mean", "moving_variance"])
        return opt


def training_model(net: Any, head: Any) -> Any:
    """The graph ``[crops, labels] → logits`` (what checkpoints hold: network and head weights)."""
    import keras

    crops = keras.Input(net.input.shape[1:], name="crops")
    labels = keras.Input((), dtype="int32", name="labels")
    return keras.Model([crops, labels], head(net(crops), labels), name="margin_trainer")


def build_job(base: BaseModel, backbone_name: str, head_name: str, classes: int, inputs: NDArray[np.uint8],
              seed: int = 0, alpha: float = 1.0, margin: float | None = None, scale: float | None = None) -> MarginJob:
    """A fresh :class:`MarginJob` over ``classes`` identities (``margin``/``scale``: ``None`` = the head's defaults)."""
    from models.train.heads import make_head

    net = build_network(base, backbone_name, seed, alpha)
    return MarginJob(net, make_head(head_name, classes, margin, scale, name="margin_head"), base, inputs)


def load_network(base: BaseModel, backbone_name: str, head_name: str, classes: int, checkpoint: Path,
                 seed: int = 0, alpha: float = 1.0) -> Any:
    """The trained embedding network (without its head) from a job's checkpoint."""
    job = build_job(base, backbone_name, head_name, classes, np.zeros((0, *base.input_size[::-1], 3), np.uint8),
                    seed, alpha)
    job.load(checkpoint)
    return job.net
