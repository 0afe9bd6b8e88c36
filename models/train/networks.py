"""The networks a training job tunes (Keras; TensorFlow is imported inside the functions).

* ``facenet`` — the pretrained FaceNet-128 (Inception-ResNet-v1 of :mod:`models.convert.facenet_keras`, weights
  from ``facenet_keras.h5``), split into the *backbone* (input → 1792-d average pool) and the *head* (the
  128-unit bottleneck and its BatchNorm). Input: 160×160 RGB, prewhitened per image.
* ``resnet50`` — ``keras.applications.ResNet50`` with ``weights=None`` and a 128-unit embedding layer: trained
  from scratch, as in the FaceNet-in-TF2 recipe. It needs a large data set (hundreds of thousands of photos of
  thousands of people); on a class's worth of photos it cannot beat the pretrained model. Input: 160×160 RGB,
  ``(x − 127.5) / 128``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from common.errors import InvalidInput, WeightsError
from models.embedders.facenet import STANDARDIZE

FEATURE_LAYER = "AvgPool"
HEAD_LAYERS = ("Bottleneck", "Bottleneck_BatchNorm")


@dataclass(frozen=True)
class BaseModel:
    """What a base model is for the rest of the app: alignment, input, standardisation, pretrained or not."""

    name: str
    alignment: str
    input_size: tuple[int, int]
    dim: int
    standardize: str
    pretrained: bool
    description: str


BASES: dict[str, BaseModel] = {
    "facenet": BaseModel("facenet", "box_margin_facenet", (160, 160), 128, "prewhiten", True,
                         "FaceNet-128 (Inception-ResNet-v1), pretrained"),
    "resnet50": BaseModel("resnet50", "box_margin_facenet", (160, 160), 128, "fixed", False,
                          "ResNet50 → 128-d from scratch (needs a large data set)"),
}


def base_model(name: str) -> BaseModel:
    """The base model called ``name``.

    Raises:
        InvalidInput: unknown name (the message lists the known ones).
    """
    try:
        return BASES[name]
    except KeyError:
        raise InvalidInput(f"unknown base model {name!r}; use one of {', '.join(BASES)}") from None


def standardize(base: BaseModel, crops: NDArray[np.uint8]) -> NDArray[np.float32]:
    """Network input for ``(N, 160, 160, 3)`` uint8 crops."""
    return STANDARDIZE[base.standardize](crops)


def facenet_h5(cache_dir: Path) -> Path:
    """The cached ``facenet_keras.h5`` (installed by ``models fetch facenet``).

    Raises:
        WeightsError: not installed.
    """
    from models.weights import WeightStore

    store = WeightStore(Path(cache_dir))
    path = store.folder("facenet") / "facenet_keras.h5"
    if not path.is_file():
        raise WeightsError(f"the FaceNet weights are not in {cache_dir}: run `python main.py models fetch facenet`")
    return path


def build_full(base: BaseModel, cache_dir: Path | None, seed: int = 0) -> Any:
    """The whole embedding network (crops in, 128-d out), pretrained where the base is."""
    import keras

    keras.utils.set_random_seed(seed)
    if base.name == "facenet":
        from models.convert.facenet_keras import build_model, load_weights, read_h5_weights

        model = build_model()
        if cache_dir is not None:
            path = facenet_h5(cache_dir)
            load_weights(model, read_h5_weights(path), str(path))
        return model
    w, h = base.input_size
    inputs = keras.Input((h, w, 3), name="input_1")
    trunk = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(h, w, 3), pooling="avg")
    x = keras.layers.Dense(base.dim, name="Bottleneck")(trunk(inputs))
    return keras.Model(inputs, x, name="resnet50_128")


def split_facenet(model: Any) -> tuple[Any, Any]:
    """``(backbone, head)`` of the FaceNet model: crops → 1792 features, features → 128 (weights shared/copied)."""
    import keras

    backbone = keras.Model(model.input, model.get_layer(FEATURE_LAYER).output, name="facenet_backbone")
    head = build_head(int(backbone.output.shape[-1]), model.get_layer(HEAD_LAYERS[0]).units)
    for name in HEAD_LAYERS:
        head.get_layer(name).set_weights(model.get_layer(name).get_weights())
    return backbone, head


def build_head(features: int, dim: int) -> Any:
    """The trainable top: bias-free Dense to ``dim`` and a BatchNorm without scale (FaceNet's bottleneck)."""
    import keras

    inputs = keras.Input((features,), name="features")
    x = keras.layers.Dense(dim, use_bias=False, name=HEAD_LAYERS[0])(inputs)
    x = keras.layers.BatchNormalization(momentum=0.995, epsilon=0.001, scale=False, name=HEAD_LAYERS[1])(x)
    return keras.Model(inputs, x, name="facenet_head")


def merge_head(model: Any, head: Any) -> Any:
    """Copy a trained head's weights into the full FaceNet model (in place) and return the model."""
    for name in HEAD_LAYERS:
        model.get_layer(name).set_weights(head.get_layer(name).get_weights())
    return model


def freeze_batchnorm(model: Any) -> int:
    """Make every BatchNorm layer of ``model`` non-trainable (Keras 3 then runs it in inference mode: the
    statistics stay those of the pretrained model, which small batches would spoil). Returns how many."""
    import keras

    count = 0
    for layer in _all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
            count += 1
    return count


def _all_layers(model: Any) -> list[Any]:
    out = []
    for layer in model.layers:
        out.append(layer)
        if hasattr(layer, "layers"):
            out.extend(_all_layers(layer))
    return out


def device_name() -> str:
    """The device training will run on: the first GPU's name, else ``"CPU"``."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    details = tf.config.experimental.get_device_details(gpus[0])
    return str(details.get("device_name", "GPU"))
