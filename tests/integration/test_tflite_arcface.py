"""The ``arcface`` (TFLite/LiteRT) and ``onnx-arcface`` backends with the shared MobileFaceNet on real faces.

The MobileFaceNet files are test models only (../shared; never shipped or downloaded by the product).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.engine import EngineConfig, FaceEngine
from models.imageio import load_image
from tests.conftest import need_shared

PEOPLE = ("ben_afflek", "elton_john", "jerry_seinfeld", "madonna", "mindy_kaling")


def _engine(backend: str, model: Path) -> FaceEngine:
    return FaceEngine(EngineConfig(backend=backend, detector="hog", model_path=model))


def _embed_folder(engine: FaceEngine, folder: Path, per_person: int) -> tuple[np.ndarray, list[str]]:
    """Unit embeddings of the first ``per_person`` photos (with exactly one face) of each person."""
    vectors, labels = [], []
    for person in PEOPLE:
        taken = 0
        for path in sorted((folder / person).iterdir()):
            image = load_image(path)
            dets = engine.detect(image)
            if len(dets) != 1:
                continue
            vectors.append(engine.embed(image, [dets[0].landmarks])[0])
            labels.append(person)
            taken += 1
            if taken == per_person:
                break
    return np.stack(vectors), labels


@pytest.fixture(scope="module")
def celebrity_vectors() -> tuple[np.ndarray, list[str]]:
    model = need_shared("models", "mobilefacenet_128d_float32.tflite")
    folder = need_shared("data", "five-celebrity", "train")
    return _embed_folder(_engine("arcface", model), folder, per_person=6)


def test_same_person_is_closer_than_different_people(celebrity_vectors: tuple[np.ndarray, list[str]]) -> None:
    vectors, labels = celebrity_vectors
    sims = vectors @ vectors.T
    same = np.equal.outer(labels, labels)
    off_diagonal = ~np.eye(len(labels), dtype=bool)
    genuine, impostor = sims[same & off_diagonal], sims[~same]
    assert genuine.mean() > impostor.mean() + 0.3
    # Every photo's nearest other photo shows the same person.
    nearest = np.where(off_diagonal, sims, -2).argmax(axis=1)
    assert all(labels[i] == labels[j] for i, j in enumerate(nearest))


def test_identification_of_validation_photos(celebrity_vectors: tuple[np.ndarray, list[str]]) -> None:
    vectors, labels = celebrity_vectors
    engine = _engine("arcface", need_shared("models", "mobilefacenet_128d_float32.tflite"))
    centroids = np.stack([vectors[[lab == p for lab in labels]].mean(axis=0) for p in PEOPLE])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    queries, truth = _embed_folder(engine, need_shared("data", "five-celebrity", "val"), per_person=3)
    predicted = [PEOPLE[i] for i in (queries @ centroids.T).argmax(axis=1)]
    correct = sum(p == t for p, t in zip(predicted, truth))
    assert correct >= len(truth) - 1, list(zip(truth, predicted))
    # The default threshold accepts most genuine matches.
    best = (queries @ centroids.T).max(axis=1)
    assert (best >= engine.threshold).mean() >= 0.8


def test_loaded_embedder_reports_the_models_length() -> None:
    engine = _engine("arcface", need_shared("models", "mobilefacenet_128d_float32.tflite"))
    assert engine.embedder.info.dim == 128
    assert engine.embedder.info.input_size == (112, 112)


def test_onnx_arcface_agrees_with_tflite() -> None:
    tfl = _engine("arcface", need_shared("models", "mobilefacenet_128d_float32.tflite"))
    onnx = _engine("onnx-arcface", need_shared("models", "mobilefacenet_128d.onnx"))
    image = load_image(need_shared("data", "face-recognition-examples", "examples", "two_people.jpg"))
    dets = tfl.detect(image)
    assert len(dets) == 2
    a = tfl.embed(image, [d.landmarks for d in dets])
    b = onnx.embed(image, [d.landmarks for d in dets])
    assert a.shape == b.shape == (2, 128)
    np.testing.assert_allclose(a, b, atol=1e-4)
    assert float(a[0] @ a[1]) < tfl.threshold  # two different people stay apart
