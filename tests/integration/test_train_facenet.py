"""Fine-tuning the real FaceNet-128 on enrolled people (head mode, a few epochs), then keeping the result as a
user backend: ONNX export checked against Keras, the gallery re-embedded, identification still right, removal.

Needs the FaceNet weights (fetched into the test model cache on first use, as tests/integration/test_facenet.py)
and ../shared five-celebrity + lfw-dev."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.config import build_config
from app.context import AppContext
from app.services import training
from app.services.backends import reembed
from app.services.enrollment import enroll_paths
from app.services.recognition import identify_image
from models.embedders.registry import known_backends
from models.imageio import load_image
from models.weights import WeightStore
from tests import conftest
from tests.conftest import need_shared

pytest.importorskip("tensorflow")

PEOPLE = ("ben_afflek", "madonna", "mindy_kaling")


@pytest.fixture(scope="module")
def test_cache() -> object:
    """Module-scoped fixtures run before the per-test environment: point ROLLCALL_CACHE at the test cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ROLLCALL_CACHE", str(conftest.test_cache_dir()))
        yield


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory: pytest.TempPathFactory, test_cache: object) -> Path:
    """A data folder with three five-celebrity people enrolled (seven photos each)."""
    store = WeightStore(conftest.test_cache_dir())
    if not store.is_installed("facenet"):
        store.fetch("facenet")
    root = need_shared("data", "five-celebrity", "train")
    data = tmp_path_factory.mktemp("train") / "data"
    ctx = AppContext(build_config(data_dir=str(data), backend="facenet"))
    for name in PEOPLE:
        enroll_paths(ctx, name.replace("_", " ").title(), None, sorted((root / name).glob("*.jpg"))[:7], strict=False)
    ctx.close()
    return data


def _config(data: Path, backend: str = "facenet"):
    return build_config(data_dir=str(data), backend=backend)


@pytest.fixture(scope="module")
def outcome(enrolled: Path) -> training.TrainOutcome:
    spec = training.TrainSpec(source="enrolled", epochs=4, margin=1.0, learning_rate=0.01, people=3, per_person=4,
                              holdout=0.3, guard_per_fold=2, patience=4)
    epochs: list[training.EpochStats] = []
    out = training.run_training(_config(enrolled), spec, lambda *a: None, lambda: False, epochs.append)
    assert [e.epoch for e in epochs] == [e.epoch for e in out.epochs]
    return out


def test_a_short_fine_tune_lowers_the_loss_and_measures_before_and_after(outcome: training.TrainOutcome) -> None:
    assert not outcome.cancelled and len(outcome.epochs) == 4 and outcome.device == "CPU"
    assert outcome.epochs[-1].loss < outcome.epochs[0].loss
    for when in (outcome.before, outcome.after):
        held, guard = when["heldout"], when["guard"]
        assert held["pairs"] > 20 and 0.5 <= held["accuracy"] <= 1.0 and 0.5 <= held["auc"] <= 1.0
        assert guard["pairs"] >= 15 and np.isfinite(guard["accuracy"])
    # the kept checkpoint is never worse on the held-out photos than the model it started from
    assert outcome.after["heldout"]["auc"] >= outcome.before["heldout"]["auc"] - 1e-9
    assert outcome.can_use and "for your people" in outcome.verdict


def test_adopt_switch_identify_and_remove(enrolled: Path, outcome: training.TrainOutcome) -> None:
    config = _config(enrolled)
    name = training.adopt_model(config, outcome, "test-tuned", ("onnx", "savedmodel"))
    try:
        [meta] = [m for m in training.list_user_backends(config) if m["name"] == name]
        folder = Path(meta["path"])
        assert (folder / "model.onnx").is_file() and (folder / "savedmodel" / "1" / "saved_model.pb").is_file()
        assert meta["training"]["onnx_max_abs_diff"] <= 1e-4 and 0.3 < meta["threshold"] < 1.6
        assert name in known_backends(config.cache_dir)

        ctx = AppContext(_config(enrolled, backend=name))
        done = reembed(ctx)
        assert done.remaining == 0 and done.embedded == ctx.repo.embedding_count("facenet")
        val = need_shared("data", "five-celebrity", "val")
        right = total = 0
        for person in PEOPLE:
            for path in sorted((val / person).glob("*.jpg")):
                faces = identify_image(ctx, load_image(path))
                if faces:
                    total += 1
                    right += faces[0].match.name == person.replace("_", " ").title()
        ctx.close()
        assert total >= 12 and right >= total - 1
    finally:
        training.remove_user_backend(config, name)
    assert name not in known_backends(config.cache_dir)


def test_discard_leaves_nothing_behind(outcome: training.TrainOutcome) -> None:
    assert Path(outcome.work_dir).is_dir()
    training.discard_model(outcome)
    assert not Path(outcome.work_dir).exists()


def test_an_interrupted_run_resumes_from_its_last_finished_epoch(enrolled: Path) -> None:
    config = _config(enrolled)
    spec = training.TrainSpec(source="enrolled", epochs=3, margin=1.0, learning_rate=0.01, people=3, per_person=4,
                              holdout=0.3, guard_per_fold=0, patience=4)

    def ctrl_c_after_epoch_one(stats: training.EpochStats) -> None:
        if stats.epoch == 1:
            raise KeyboardInterrupt

    earlier = set(training.interrupted_runs(config))
    with pytest.raises(KeyboardInterrupt):
        training.run_training(config, spec, lambda *a: None, lambda: False, ctrl_c_after_epoch_one)
    runs = [r for r in training.interrupted_runs(config) if r not in earlier]
    assert len(runs) == 1 and training.resumable_spec(runs[0]) == spec
    seen: list[training.EpochStats] = []
    out = training.run_training(config, spec, lambda *a: None, lambda: False, seen.append, str(runs[0]))
    try:
        assert [e.epoch for e in seen] == [2, 3] and [e.epoch for e in out.epochs] == [1, 2, 3]
        assert out.work_dir == str(runs[0]) and runs[0] not in training.interrupted_runs(config)
        assert out.before["heldout"]["pairs"] > 20 and out.after["heldout"]["auc"] >= out.before["heldout"]["auc"] - 1e-9
    finally:
        training.discard_model(out)
