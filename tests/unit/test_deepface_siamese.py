"""DeepFace and the Siamese verifier, tiny: the loss falls, the exports agree with Keras, the result is a backend
(the Siamese one answers pairs through its SavedModel, the registry and ``verify``), bad ``train --arch`` input
is one line and exit 1."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import main
from models.train.data import FaceSet


def synthetic_faces(people: int, photos: int, size: int, seed: int = 0) -> FaceSet:
    """Each person a random picture; their photos that picture plus noise (learnable, and no two alike)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(people), photos)
    base = rng.integers(0, 255, (people, size, size, 3))
    crops = np.clip(base[labels] + rng.normal(0, 25, (len(labels), size, size, 3)), 0, 255).astype(np.uint8)
    return FaceSet(crops, labels.astype(np.int64), [f"p{k}" for k in range(people)])


def test_tiny_deepface_learns_exports_with_parity_and_becomes_a_backend(tmp_path: Path) -> None:
    from app.services import net_training as nt
    from models.embedders.registry import EmbedderOptions, backend_info, create_embedder
    from models.train import deepface as df

    config = SimpleNamespace(cache_dir=tmp_path)
    faces = synthetic_faces(6, 6, 80)
    spec = nt.NetSpec("deepface", epochs=6, batch=8, learning_rate=0.003, size=80, width=0.5, embedding=32, holdout=0.3)
    outcome = nt.run_net_training(config, spec, lambda *a: None, lambda: False, faces)
    assert (outcome.people_trained, outcome.people_heldout) == (4, 2)
    assert len(outcome.losses) == 6 and outcome.losses[-1] < 0.8 * outcome.losses[0], outcome.losses
    assert outcome.after["pairs"] > 0 and 0.0 <= outcome.after["accuracy"] <= 1.0

    nt.adopt_net_model(config, outcome, "tiny-deepface")
    folder = tmp_path / "user-backends" / "tiny-deepface"
    assert (folder / "model.onnx").is_file() and (folder / "model_float32.tflite").is_file()
    info = backend_info("tiny-deepface", tmp_path)
    assert (info.input_size, info.dim, info.metric) == ((80, 80), 32, "l2")
    embedder = create_embedder("tiny-deepface", EmbedderOptions(cache_dir=tmp_path))
    got = embedder.embed(faces.crops)
    got /= np.linalg.norm(got, axis=1, keepdims=True)
    clf, emb = df.build_deepface(4, df.DeepFaceConfig(80, 0.5, 32), 0)
    clf.load_weights(str(Path(outcome.work_dir) / nt.WEIGHTS))
    np.testing.assert_allclose(got, df.embed(emb, faces.crops), atol=1e-4)  # the backend is the trained F7
    sims, same = got @ got.T, faces.labels[:, None] == faces.labels[None, :]
    assert sims[same].mean() > sims[~same].mean()

def test_tiny_siamese_learns_and_answers_pairs_via_savedmodel_registry_and_server(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tensorflow as tf

    from app.server.tfserving import parse_pairs
    from app.services import net_training as nt
    from models.embedders.base import PairScorer
    from models.embedders.registry import EmbedderOptions, create_embedder

    config = SimpleNamespace(cache_dir=tmp_path)
    faces = synthetic_faces(8, 5, 32, seed=1)
    spec = nt.NetSpec("siamese", epochs=8, batch=16, learning_rate=3e-3, size=32, width=0.25, embedding=16, holdout=0.25)
    outcome = nt.run_net_training(config, spec, lambda *a: None, lambda: False, faces)
    assert np.mean(outcome.losses[-2:]) < outcome.losses[0], outcome.losses
    assert {"accuracy", "auc", "cutoff"} <= set(outcome.after)

    nt.adopt_net_model(config, outcome, "tiny-siamese")
    folder = tmp_path / "user-backends" / "tiny-siamese"
    served = tf.saved_model.load(str(folder / "tfserving" / "tiny-siamese" / "1")).signatures["serving_default"]
    a, b = faces.crops[:1].astype(np.float32), faces.crops[1:2].astype(np.float32)
    p = served(anchor=tf.constant(a), verification=tf.constant(b))["probability"].numpy()
    assert p.shape == (1, 1) and 0.0 <= p[0, 0] <= 1.0

    backend = create_embedder("tiny-siamese", EmbedderOptions(cache_dir=tmp_path))
    assert isinstance(backend, PairScorer) and 0.0 < backend.pair_cutoff < 1.0
    np.testing.assert_allclose(backend.pair_probability(faces.crops[:1], faces.crops[1:2]), p[:, 0], atol=1e-4)
    assert backend.embed(faces.crops[:2]).shape == (2, 16)

    body = {"instances": [{"anchor": faces.crops[0].tolist(), "verification": faces.crops[1].tolist()}]}
    assert parse_pairs({"instances": [faces.crops[0].tolist()]}, (32, 32), 10**6) is None
    np.testing.assert_allclose(_served(tmp_path, monkeypatch, body)["predictions"], p, atol=1e-4)


def _served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: dict) -> dict:
    """POST ``body`` to ``/v1/models/tiny-siamese:predict`` of the app's REST server using that backend."""
    from fastapi.testclient import TestClient

    from app.config import build_config
    from app.context import AppContext
    from app.server.api import create_app

    monkeypatch.setenv("ROLLCALL_CACHE", str(tmp_path))
    ctx = AppContext(build_config(data_dir=str(tmp_path / "data"), backend="tiny-siamese"))
    try:
        response = TestClient(create_app(ctx)).post("/v1/models/tiny-siamese:predict", json=body)
        assert response.status_code == 200, response.text
        return response.json()
    finally:
        ctx.close()


@pytest.mark.parametrize(("args", "words"), [
    (["--arch", "deepface", "--input-size", "40"], "at least 71"),
    (["--arch", "siamese", "--holdout", "0"], "share of people held out"),
    (["--arch", "facenet-x"], "invalid choice"),
])  # fmt: skip
def test_bad_train_arch_input_is_one_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     args: list[str], words: str) -> None:
    (tmp_path / "photos").mkdir()
    try:
        code = main.run(["--data-dir", str(tmp_path / "d"), "train", *args, "--data", str(tmp_path / "photos")])
    except SystemExit as exc:  # argparse's usage errors exit from the parser
        code = exc.code
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1 and lines[0].startswith("error:") and words in lines[0], err
    assert out == ""


def test_deepface_keeps_taigmans_layout_and_its_rate_warms_up_then_decays() -> None:
    """C1 32@11×11, M2, C3 16@9×9, L4–L6 locally connected (9, 7 stride 2, 5), F7, F8 over the people; the
    SGD rate rises to 0.01 × batch/128 and falls back to 0 by the last step."""
    from models.train import deepface as df

    clf, emb = df.build_deepface(5, df.DeepFaceConfig(152, 1.0, 64), 0)
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in clf.layers}
    assert shapes["C1"] == (142, 142, 32) and shapes["M2"] == (71, 71, 32) and shapes["C3"] == (63, 63, 16)
    assert (shapes["L4"], shapes["L5"], shapes["L6"]) == ((55, 55, 16), (25, 25, 16), (21, 21, 16))
    assert shapes["F7"] == (64,) and shapes["F8"] == (5,) and tuple(emb.output.shape[1:]) == (64,)
    schedule = df.SGDConfig(batch=64).schedule(100)
    rates = [float(schedule(k)) for k in (0, 5, 50, 100)]
    assert rates[0] < rates[1] <= 0.005 + 1e-9 and rates[2] > 0.002 and rates[3] < 1e-6
