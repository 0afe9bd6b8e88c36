"""ArcFace-ResNet34 → TFLite (float32 and int8) with randomly initialised weights, and the ``arcface`` backend
on the result. The network keeps ResNet34's structure with fewer filters so the test stays fast."""

from __future__ import annotations

from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert")

import main  # noqa: E402
from common.errors import WeightsError  # noqa: E402
from models.convert import arcface_resnet  # noqa: E402
from models.embedders import tflite  # noqa: E402
from models.embedders.registry import EmbedderOptions, create_embedder  # noqa: E402
from tests.unit import keras2_h5  # noqa: E402

WIDTHS, DIM = (8, 8, 16, 16, 32), 32
# deepface leaves the head's first BatchNorm and its dense layer to Keras' automatic names.
AUTO_NAMES = {"head_bn": "batch_normalization", "head_dense": "dense"}


def _randomise_batchnorm(model) -> None:
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                               rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 1.5, var.shape)])


def save_keras2_h5(model, path: Path) -> None:
    """Weights in the Keras-2 ``save_weights`` layout with deepface's automatic layer names."""
    keras2_h5.save_keras2_h5(model, path, lambda i, layer: AUTO_NAMES.get(layer.name, layer.name))


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    import keras

    folder = tmp_path_factory.mktemp("arcface")
    keras.utils.set_random_seed(0)  # the same random network every run (int8 error depends on the weights)
    model = arcface_resnet.build_model(WIDTHS, DIM)
    _randomise_batchnorm(model)
    h5 = folder / "arcface_weights.h5"
    save_keras2_h5(model, h5)
    calib = folder / "calib"
    calib.mkdir()
    rng = np.random.default_rng(2)
    for i in range(16):
        cv2.imwrite(str(calib / f"{i}.png"), rng.integers(0, 256, (112, 112, 3), dtype=np.uint8))
    out, out8 = folder / "arcface.tflite", folder / "arcface_int8.tflite"
    assert main.run(["convert", "arcface", "--weights", str(h5), "--out", str(out)]) == 0
    assert main.run(["convert", "arcface", "--weights", str(h5), "--out", str(out8), "--int8", "--calibration", str(calib)]) == 0
    crops = rng.integers(0, 256, (4, 112, 112, 3), dtype=np.uint8)
    want = model((crops.astype(np.float32) - 127.5) / 128.0, training=False).numpy()
    return {"h5": h5, "float": out, "int8": out8, "crops": crops, "keras": want}


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_float_tflite_matches_keras(chain: dict) -> None:
    embedder = create_embedder("arcface", EmbedderOptions(model_path=chain["float"]))
    got = embedder.embed(chain["crops"])
    assert embedder.info.dim == DIM
    scale = np.abs(chain["keras"]).max()
    assert np.abs(got - chain["keras"]).max() < 1e-5 * max(scale, 1.0) + 1e-4
    assert _cosine(got, chain["keras"]).min() > 0.99999


def test_int8_tflite_stays_close_in_cosine(chain: dict) -> None:
    embedder = create_embedder("arcface", EmbedderOptions(model_path=chain["int8"]))
    got = embedder.embed(chain["crops"])
    assert chain["int8"].stat().st_size < chain["float"].stat().st_size / 2
    assert _cosine(got, chain["keras"]).min() > 0.98


def test_int8_without_calibration_is_refused(chain: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main.run(["convert", "arcface", "--weights", str(chain["h5"]), "--out", str(tmp_path / "a.tflite"), "--int8"])
    assert code == 1
    assert "--calibration" in capsys.readouterr().err


def test_vggface_weights_are_not_arcface(tmp_path: Path) -> None:
    h5 = tmp_path / "vgg.h5"
    with h5py.File(h5, "w") as f:
        f.create_group("conv2d_1").attrs["weight_names"] = [b"conv2d_1/kernel:0"]
        f["conv2d_1"].create_dataset("conv2d_1/kernel:0", data=np.zeros((3, 3, 3, 4), np.float32))
        f.attrs["layer_names"] = [b"conv2d_1"]
    with pytest.raises(WeightsError, match="not ArcFace-ResNet34"):
        arcface_resnet.convert(h5, tmp_path / "a.tflite")


def test_import_validator_accepts_tflite_and_h5(chain: dict) -> None:
    assert tflite.validate_import(chain["float"]) == "file"
    assert tflite.validate_import(chain["h5"]) == "weights"


def test_a_model_with_another_input_shape_is_a_clear_error(tmp_path: Path) -> None:
    import keras
    import tensorflow as tf

    inputs = keras.Input((64, 64, 3), batch_size=1)
    model = keras.Model(inputs, keras.layers.Dense(8)(keras.layers.GlobalAveragePooling2D()(inputs)))
    path = tmp_path / "small.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    with pytest.raises(WeightsError, match=r"input shape is 1×64×64×3.*needs 1×112×112×3"):
        create_embedder("arcface", EmbedderOptions(model_path=path))
