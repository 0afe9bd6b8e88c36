"""``--arch margin`` through the training service on real faces (five-celebrity, HOG detect → ArcFace alignment),
tiny: MobileNetV2 α 0.35 at 32×32, 128-d, one epoch. Then kept as a user backend with ONNX, TFLite float32 and
full-integer int8 exports (int8 calibrated on the job's real aligned crops), and used through the registry."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from app.config import build_config
from app.services import training
from models.embedders.registry import EmbedderOptions, create_embedder, known_backends
from tests.conftest import need_shared

pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert")

PEOPLE = ("ben_afflek", "madonna", "mindy_kaling")


def test_margin_job_exports_and_registers_a_user_backend(tmp_path: Path) -> None:
    root = need_shared("data", "five-celebrity", "train")
    tree = tmp_path / "faces"
    for person in PEOPLE:
        (tree / person).mkdir(parents=True)
        for photo in sorted((root / person).glob("*.jpg"))[:5]:
            (tree / person / photo.name).symlink_to(photo)
    config = build_config(data_dir=str(tmp_path / "data"))
    spec = training.TrainSpec(arch="margin", source="folder", data=str(tree), mode="full", epochs=1, people=3,
                              per_person=2, learning_rate=0.01, weight_decay=5e-4, holdout=0.2, guard_per_fold=0,
                              image_size=32, alpha=0.35, embedding=128, head="cos")
    outcome = training.run_training(config, spec, lambda *a: None, lambda: False, lambda e: None)
    assert len(outcome.epochs) == 1 and np.isfinite(outcome.epochs[0].loss)
    assert outcome.after["heldout"]["pairs"] > 0
    work = Path(outcome.work_dir)
    calibration = np.load(work / training.CALIBRATION)
    assert calibration.shape[1:] == (32, 32, 3) and len(calibration) >= 8  # real aligned training crops
    name = training.adopt_model(config, replace(outcome, can_use=True), "tiny-margin", ("onnx", "tflite", "tflite-int8"))
    try:
        [meta] = [m for m in training.list_user_backends(config) if m["name"] == name]
        folder = Path(meta["path"])
        assert {p.name for p in folder.iterdir()} >= {"model.onnx", "model_float32.tflite", "model_int8.tflite", "backend.json"}
        assert (meta["alignment"], meta["input_size"], meta["dim"], meta["standardize"]) == ("arcface", [32, 32], 128, "fixed")
        assert meta["training"]["tflite_float32_relative_diff"] <= 1e-4
        assert meta["base"] == "margin-mobilenetv2" and "trained" in meta["description"]
        assert name in known_backends(config.cache_dir)
        embedder = create_embedder(name, EmbedderOptions(cache_dir=config.cache_dir))
        vectors = embedder.embed(calibration[:2])
        assert vectors.shape == (2, 128) and np.isfinite(vectors).all() and (np.linalg.norm(vectors, axis=1) > 0).all()
        from models.train.export import run_tflite
        from models.train.networks import standardize

        int8 = run_tflite(folder / "model_int8.tflite", standardize(training.spec_base(spec), calibration[:2]))
        assert int8.shape == (2, 128) and np.isfinite(int8).all()
    finally:
        training.discard_model(outcome)
        training.remove_user_backend(config, name)
    assert not work.exists()
