"""VGG-Face → truncated ONNX: the whole chain with randomly initialised weights saved as a Keras-2 h5 file.

The network is narrower than the real one (same structure, 224×224 input) so the test stays fast; the
converter reads the widths from the file.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")

import main  # noqa: E402
from common.errors import WeightsError  # noqa: E402
from models.convert import vggface  # noqa: E402
from models.embedders.registry import EmbedderOptions, create_embedder  # noqa: E402
from tests.unit import keras2_h5  # noqa: E402

SMALL = ((4, 8, 8, 16, 16), 24, 10)


def save_keras2_h5(model, path: Path) -> None:
    """Weights in the Keras-2 ``save_weights`` layout with automatic Sequential names, as in deepface's file."""
    keras2_h5.save_keras2_h5(model, path, lambda i, layer: f"{type(layer).__name__.lower()}_{i}")


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path, Path]:
    """(Keras embedding model, h5 file, ONNX file made by the CLI)."""
    folder = tmp_path_factory.mktemp("vgg")
    full = vggface.build_model(*SMALL)
    h5 = folder / "vgg_face_weights.h5"
    save_keras2_h5(full, h5)
    out = folder / "vgg_face.onnx"
    assert main.run(["convert", "vgg-face", "--weights", str(h5), "--out", str(out)]) == 0
    return vggface.embedding_model(full), h5, out


def test_onnx_matches_keras_to_1e4(converted: tuple[object, Path, Path]) -> None:
    import onnxruntime as ort

    keras_model, _, onnx_file = converted
    x = np.random.default_rng(0).uniform(-130, 130, (3, 224, 224, 3)).astype(np.float32)
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x})[0]
    want = keras_model(x, training=False).numpy()
    assert got.shape == (3, SMALL[1])  # truncated at fc7: fc width, not the classes
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


def test_onnx_is_opset_13_with_named_output(converted: tuple[object, Path, Path]) -> None:
    import onnx

    proto = onnx.load(str(converted[2]))
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [13]
    assert [o.name for o in proto.graph.output] == ["embedding"]


def test_vggface_backend_runs_the_converted_file(converted: tuple[object, Path, Path]) -> None:
    keras_model, _, onnx_file = converted
    embedder = create_embedder("vgg-face", EmbedderOptions(model_path=onnx_file))
    crops = np.random.default_rng(1).integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)
    got = embedder.embed(crops)
    bgr = crops[..., ::-1].astype(np.float32) - np.array([93.5940, 104.7624, 129.1863], np.float32)
    np.testing.assert_allclose(got, keras_model(bgr, training=False).numpy(), atol=1e-4, rtol=1e-4)
    assert embedder.info.dim == SMALL[1]


def test_missing_file_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main.run(["convert", "vgg-face", "--weights", str(tmp_path / "nope.h5"), "--out", str(tmp_path / "o.onnx")])
    assert code == 1
    assert "nope.h5 does not exist" in capsys.readouterr().err


def test_a_file_that_is_not_h5_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "vgg_face_weights.h5"
    fake.write_bytes(b"<html>404</html>")
    with pytest.raises(WeightsError, match="not an HDF5"):
        vggface.convert(fake, tmp_path / "o.onnx")
    assert not (tmp_path / "o.onnx").exists()


def test_wrong_layers_are_named(tmp_path: Path) -> None:
    h5 = tmp_path / "other.h5"
    with h5py.File(h5, "w") as f:  # a "VGG" whose second convolution takes 5 channels instead of 4
        names = []
        for i in range(16):
            name = f"conv2d_{i + 1}"
            names.append(name.encode())
            cin = 3 if i == 0 else (5 if i == 1 else 4)
            g = f.create_group(name)
            g.attrs["weight_names"] = [f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()]
            g.create_dataset(f"{name}/kernel:0", data=np.zeros((3, 3, cin, 4), np.float32))
            g.create_dataset(f"{name}/bias:0", data=np.zeros(4, np.float32))
        f.attrs["layer_names"] = names
    with pytest.raises(WeightsError, match=r"layer 2 \('conv2d_2'\).*\(3, 3, 4, N\)"):
        vggface.convert(h5, tmp_path / "o.onnx")
