"""Embedding backends as TensorFlow SavedModels in TF Serving's layout, for a real TensorFlow Serving that
Rollcall stations then use with ``--backend remote --remote-url http://HOST:8501/v1/models/NAME``.

:func:`export_backend` writes ``ROOT/NAME/VERSION/`` with one signature, ``serving_default``:

* input ``image``: ``(N, H, W, 3)`` uint8 aligned RGB crops of the backend's input size, exactly what
  :class:`~models.embedders.remote.RemoteEmbedder` sends as ``{"instances": [...]}``;
* output ``embedding``: ``(N, D)`` float32 unit vectors, the local backend's (its standardisation and the
  mirror-averaging are inside the graph), as ``python main.py serve`` answers them.

Possible where the backend's network exists as TensorFlow: ``facenet`` (the Keras code of
:mod:`models.convert.facenet_keras` with the kept ``facenet_keras.h5``), ``facenet512`` (the kept frozen graph)
and fine-tuned user backends adopted with a SavedModel export. Not possible for ``dlib`` (a dlib C++ network),
``arcface`` (a TFLite file) and the ONNX-only backends (no ONNX-to-TensorFlow converter is installed): the error
says so and points to ``python main.py serve``, which speaks the same protocol. TensorFlow is imported inside
the functions.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from common.errors import BackendUnavailable, InvalidInput, WeightsError
from common.progress import Progress, no_progress

log = logging.getLogger(__name__)

SIGNATURE = "serving_default"
INPUT_NAME = "image"
OUTPUT_NAME = "embedding"
NOT_TENSORFLOW = {
    "dlib": "its network is dlib's C++ ResNet, not a TensorFlow model",
    "arcface": "its network is a TFLite file, which cannot be turned back into a SavedModel",
    "onnx-arcface": "its network is an ONNX file and no ONNX-to-TensorFlow converter is installed",
    "vgg-face": "its network is an ONNX file and no ONNX-to-TensorFlow converter is installed",
}


@dataclass(frozen=True)
class ServingSpec:
    """What the exported graph does around the network.

    Attributes:
        size: ``(width, height)`` of the crops. standardize: ``"prewhiten"`` or ``"fixed"`` (see
            :data:`models.embedders.facenet.STANDARDIZE`). flip: add the mirrored crop's embedding, as the local
            backend does by default.
    """

    size: tuple[int, int]
    standardize: str
    flip: bool = True


Network = Callable[[Any], Any]
"""A TensorFlow callable: standardised float32 crops ``(N, H, W, 3)`` → embeddings ``(N, D)``."""


def export_backend(
    name: str,
    cache_dir: Path,
    root: Path,
    version: int | None = None,
    flip: bool = True,
    progress: Progress = no_progress,
) -> Path:
    """Write backend ``name`` as a SavedModel at ``root/name/VERSION`` (TF Serving's layout).

    Args:
        cache_dir: the model cache holding the backend's weights (and the user backends).
        version: the version folder; by default one more than the highest there (1 for the first).
        flip: mirror-average as the local backend does (its default); pass ``False`` to match ``flip`` off.
        progress: told ``(0, 0, text)`` before each slow step (loading, saving).

    Returns:
        The version folder written.

    Raises:
        BackendUnavailable: the backend cannot be exported (the message says why and what to do instead).
        WeightsError: its weights are not installed. InvalidInput: the version folder exists or is not positive.
    """
    from models.embedders.registry import backend_info

    info = backend_info(name, cache_dir)  # an unknown name: the error lists the known ones
    folder = Path(root).expanduser() / name
    target = folder / str(version if version is not None else next_version(folder))
    if version is not None and version < 1:
        raise InvalidInput(f"--version {version} must be a positive number (TF Serving's version folders)")
    if target.exists():
        raise InvalidInput(f"{target} exists already; choose another --version or remove that folder")
    check_exportable(name, Path(cache_dir))
    progress(0, 0, f"loading {name} into TensorFlow")
    owner, network, standardize = _network(name, Path(cache_dir))
    spec = ServingSpec(info.input_size, standardize, flip)
    folder.mkdir(parents=True, exist_ok=True)
    staged = folder / f".{target.name}.partial"  # TF Serving ignores folders that are not numbers
    shutil.rmtree(staged, ignore_errors=True)
    try:
        progress(0, 0, f"saving {target}")
        save_serving(owner, network, spec, staged)
        os.replace(staged, target)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    log.info("exported %s as a SavedModel at %s", name, target)
    return target


def next_version(folder: Path) -> int:
    """One more than the highest numbered folder in ``folder`` (1 when there is none)."""
    numbers = [int(p.name) for p in folder.glob("*") if p.is_dir() and p.name.isdigit()] if folder.is_dir() else []
    return max(numbers, default=0) + 1


def check_exportable(name: str, cache_dir: Path) -> None:
    """Cheaply check that backend ``name`` has a TensorFlow network to export (nothing is loaded).

    Raises:
        BackendUnavailable: it has none; the message says why and what to do instead.
    """
    from models.embedders.user_backend import read_meta, user_backends_dir

    if name in ("facenet", "facenet512"):
        return
    if read_meta(cache_dir, name) is not None:
        if not (user_backends_dir(cache_dir) / name / "savedmodel" / "1").is_dir():
            raise BackendUnavailable(
                f"the tuned model {name!r} was kept as ONNX only, without a SavedModel; fine-tune again with "
                "`python main.py train ... --export onnx,savedmodel`, or serve it with `python main.py serve`"
            )
        return
    why = NOT_TENSORFLOW.get(name, "its network is not a TensorFlow model")
    raise BackendUnavailable(
        f"{name} cannot be exported as a SavedModel: {why}. Serve it with `python main.py serve` instead (it speaks "
        "TF Serving's REST protocol); facenet, facenet512 and fine-tuned models can be exported"
    )


def _network(name: str, cache_dir: Path) -> tuple[Any, Network, str]:
    """``(object owning the weights, network callable, standardisation)`` of an exportable backend ``name``.

    Raises:
        WeightsError: weights not installed.
    """
    from models.embedders.user_backend import read_meta, user_backends_dir

    if name == "facenet":
        return _facenet_keras(cache_dir)
    if name == "facenet512":
        return _facenet_graph(cache_dir)
    meta = read_meta(cache_dir, name) or {}
    saved = user_backends_dir(cache_dir) / name / "savedmodel" / "1"
    return _user_savedmodel(saved, str(meta.get("standardize", "prewhiten")))


def _kept_weights(name: str, cache_dir: Path) -> Path:
    """The published weights file kept beside an installed, converted model."""
    from models.weights import WeightStore

    store = WeightStore(cache_dir)
    store.path(name)  # raises WeightsError (with the fetch command) when not installed
    kept = store.folder(name) / store.spec(name).weights_file
    if not kept.is_file():
        raise WeightsError(f"{kept} is missing; run `python main.py models fetch {name} --force` to get it again")
    return kept


def _facenet_keras(cache_dir: Path) -> tuple[Any, Network, str]:
    from models.convert.facenet_keras import keras_from_h5

    model = keras_from_h5(_kept_weights("facenet", cache_dir))
    return model, lambda x: model(x, training=False), "prewhiten"


def _facenet_graph(cache_dir: Path) -> tuple[Any, Network, str]:
    import tensorflow as tf

    from models.convert.facenet_graph import INPUT, OUTPUT, read_graph

    graph = read_graph(_kept_weights("facenet512", cache_dir))
    wrapped = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph, name=""), [])
    pruned = wrapped.prune(wrapped.graph.as_graph_element(f"{INPUT}:0"), wrapped.graph.as_graph_element(f"{OUTPUT}:0"))
    return pruned, pruned, "fixed"


def _user_savedmodel(folder: Path, standardize: str) -> tuple[Any, Network, str]:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(folder))
    signature = loaded.signatures[SIGNATURE]
    key = next(iter(signature.structured_input_signature[1]))
    output = next(iter(signature.structured_outputs))
    return loaded, lambda x: signature(**{key: x})[output], standardize


def save_serving(owner: Any, network: Network, spec: ServingSpec, target: Path) -> None:
    """Save ``network`` wrapped in crops-in, unit-vectors-out serving code as a SavedModel at ``target``.

    Args:
        owner: the object holding the network's weights (a Keras model, a loaded SavedModel), saved with it.
        network: standardised float32 crops → embeddings. spec: the wrapping (see :class:`ServingSpec`).
    """
    import tensorflow as tf

    width, height = spec.size
    module = tf.Module()
    module.owner = owner

    def unit(v: Any) -> Any:
        return v / tf.maximum(tf.norm(v, axis=-1, keepdims=True), 1e-12)

    @tf.function(input_signature=[tf.TensorSpec((None, height, width, 3), tf.uint8, name=INPUT_NAME)])
    def serve(image: Any) -> Any:
        x = standardize_tf(tf.cast(image, tf.float32), spec.standardize)
        vectors = unit(network(x))
        if spec.flip:
            vectors = vectors + unit(network(tf.reverse(x, axis=[2])))
        return {OUTPUT_NAME: unit(vectors)}

    module.serve = serve
    tf.saved_model.save(module, str(target), signatures={SIGNATURE: serve})


def standardize_tf(x: Any, how: str) -> Any:
    """TensorFlow twin of :data:`models.embedders.facenet.STANDARDIZE` for float32 ``(N, H, W, 3)`` crops."""
    import tensorflow as tf

    if how == "fixed":
        return (x - 127.5) / 128.0
    if how != "prewhiten":
        raise BackendUnavailable(f"unknown standardisation {how!r}; use prewhiten or fixed")
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    std = tf.sqrt(tf.reduce_mean(tf.square(x - mean), axis=[1, 2, 3], keepdims=True))
    n = tf.cast(tf.reduce_prod(tf.shape(x)[1:]), tf.float32)
    return (x - mean) / tf.maximum(std, 1.0 / tf.sqrt(n))
