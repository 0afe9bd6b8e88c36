"""The training loop on tiny networks: loss falls, held-out figures, cancel keeps a loadable checkpoint, export
parity Keras vs ONNX."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from models.train.networks import build_head  # noqa: E402
from models.train.sampling import PKConfig  # noqa: E402
from models.train.trainer import BEST, HeadJob, Hooks, TrainConfig, TrainData, fit  # noqa: E402


def _features(seed: int = 0, people: int = 6, per: int = 8, dim: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """Clustered (N, 2, dim) "backbone features" whose identity lives in a few noisy directions."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(people), per)
    centres = rng.normal(size=(people, dim)) * 0.6
    x = centres[labels][:, None, :] + rng.normal(size=(len(labels), 2, dim))
    return x.astype(np.float32), labels


def _job(dim: int = 24) -> HeadJob:
    import keras

    keras.utils.set_random_seed(0)
    x, _ = _features(dim=dim)
    return HeadJob(build_head(dim, 8), x)


def test_loss_falls_and_held_out_score_is_measured(tmp_path: Path) -> None:
    job = _job()
    _, labels = _features()
    held = np.zeros(len(labels), bool)
    held[::4] = True
    seen = []
    res = fit(job, TrainData(labels, held), TrainConfig(epochs=8, margin=0.5, pk=PKConfig(4, 4), learning_rate=0.02, patience=8),
              tmp_path, Hooks(on_epoch=seen.append))
    assert len(res.epochs) == 8 and [e.epoch for e in seen] == list(range(1, 9))
    assert res.epochs[-1].loss < 0.7 * res.epochs[0].loss
    assert all(0.0 <= e.active_fraction <= 1.0 and e.heldout_accuracy is not None for e in res.epochs)
    assert res.after["heldout"]["auc"] > res.before["heldout"]["auc"]
    assert res.best_epoch >= 1 and (tmp_path / BEST).is_file() and (tmp_path / "epoch-001.weights.h5").is_file()


def test_cancel_mid_epoch_keeps_the_best_checkpoint_loadable(tmp_path: Path) -> None:
    job = _job()
    _, labels = _features()
    held = np.zeros(len(labels), bool)
    held[::4] = True
    calls = {"n": 0}

    def stop_in_epoch_three() -> bool:
        calls["n"] += 1
        return calls["n"] > 2 * 3 + 1  # 3 steps an epoch (36 training photos / 16): stop inside epoch 3

    res = fit(job, TrainData(labels, held), TrainConfig(epochs=10, margin=0.5, pk=PKConfig(4, 4), learning_rate=0.02),
              tmp_path, Hooks(should_stop=stop_in_epoch_three))
    assert res.cancelled and len(res.epochs) == 2 and res.best_epoch in (0, 1, 2)
    fresh = build_head(24, 8)
    fresh.load_weights(str(res.checkpoint))
    x = job.inputs[:5, 0]
    np.testing.assert_allclose(np.asarray(fresh(x, training=False)), np.asarray(job.model(x, training=False)), atol=1e-6)


def test_no_held_out_photos_keeps_the_last_epoch(tmp_path: Path) -> None:
    job = _job()
    _, labels = _features()
    res = fit(job, TrainData(labels, np.zeros(len(labels), bool)), TrainConfig(epochs=2, pk=PKConfig(4, 4)), tmp_path)
    assert res.before["heldout"] is None and res.best_epoch == 2
    assert all(e.heldout_accuracy is None for e in res.epochs)


def test_onnx_export_agrees_with_keras(tmp_path: Path) -> None:
    import keras

    from models.train.export import export_onnx_checked

    keras.utils.set_random_seed(1)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, use_bias=False)(inputs)
    x = keras.layers.BatchNormalization(scale=False)(x)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Activation("relu")(x))
    model = keras.Model(inputs, keras.layers.Dense(16)(x))
    sample = np.random.default_rng(0).normal(size=(3, 32, 32, 3)).astype(np.float32)
    diff = export_onnx_checked(model, tmp_path / "m.onnx", sample)
    assert (tmp_path / "m.onnx").stat().st_size > 1000 and diff <= 1e-4


def test_full_mode_trains_every_layer_but_keeps_batchnorm_statistics(tmp_path: Path) -> None:
    import keras

    from models.train.networks import BaseModel, freeze_batchnorm
    from models.train.trainer import FullJob

    keras.utils.set_random_seed(2)
    inputs = keras.Input((24, 24, 3))
    x = keras.layers.Conv2D(6, 3, strides=2, use_bias=False, name="conv")(inputs)
    x = keras.layers.BatchNormalization(scale=False, name="bn")(x)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Activation("relu")(x))
    model = keras.Model(inputs, keras.layers.Dense(8, name="emb")(x))
    assert freeze_batchnorm(model) == 1
    stats = [w.copy() for w in model.get_layer("bn").get_weights()]
    conv = model.get_layer("conv").get_weights()[0].copy()
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 4)
    crops = np.clip(rng.normal(120, 40, (16, 24, 24, 3)) + labels[:, None, None, None] * 20, 0, 255).astype(np.uint8)
    base = BaseModel("tiny", "box_margin_facenet", (24, 24), 8, "fixed", False, "")
    job = FullJob(model, base, crops)
    res = fit(job, TrainData(labels, np.zeros(16, bool)), TrainConfig(epochs=2, pk=PKConfig(4, 4), learning_rate=0.01),
              tmp_path)
    assert len(res.epochs) == 2 and np.isfinite(res.epochs[-1].loss)
    assert not np.allclose(model.get_layer("conv").get_weights()[0], conv), "the convolution trained"
    for before, after in zip(stats, model.get_layer("bn").get_weights()):
        np.testing.assert_array_equal(before, after)  # BatchNorm offset and statistics frozen
    assert job.embed(crops).shape == (16, 8)


def _head_weights(job: HeadJob) -> list[np.ndarray]:
    return [np.asarray(w) for w in job.model.get_weights()]


def test_a_cancelled_run_resumes_where_it_stopped_as_if_never_interrupted(tmp_path: Path) -> None:
    _, labels = _features()
    held = np.zeros(len(labels), bool)
    held[::4] = True
    cfg = TrainConfig(epochs=4, margin=0.5, pk=PKConfig(4, 4), learning_rate=0.02, patience=10)
    whole = _job()
    (tmp_path / "a").mkdir()
    straight = fit(whole, TrainData(labels, held), cfg, tmp_path / "a")

    calls = {"n": 0}

    def stop_in_epoch_three() -> bool:
        calls["n"] += 1
        return calls["n"] > 2 * 3 + 1  # 3 steps an epoch: stop inside epoch 3

    (tmp_path / "b").mkdir()
    first = fit(_job(), TrainData(labels, held), cfg, tmp_path / "b", Hooks(should_stop=stop_in_epoch_three))
    assert first.cancelled and [e.epoch for e in first.epochs] == [1, 2]
    seen = []
    resumed_job = _job()
    resumed = fit(resumed_job, TrainData(labels, held), cfg, tmp_path / "b", Hooks(on_epoch=seen.append), resume=True)
    assert not resumed.cancelled and [e.epoch for e in seen] == [3, 4]  # only the missing epochs ran
    assert [e.epoch for e in resumed.epochs] == [1, 2, 3, 4]
    np.testing.assert_allclose([e.loss for e in resumed.epochs], [e.loss for e in straight.epochs], rtol=1e-4)
    assert resumed.best_epoch == straight.best_epoch
    assert resumed.before["heldout"]["auc"] == pytest.approx(straight.before["heldout"]["auc"])
    for a, b in zip(_head_weights(resumed_job), _head_weights(whole)):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_resume_refuses_other_options_or_other_photos(tmp_path: Path) -> None:
    from common.errors import InvalidInput

    _, labels = _features()
    held = np.zeros(len(labels), bool)
    held[::4] = True
    cfg = TrainConfig(epochs=1, pk=PKConfig(4, 4))
    fit(_job(), TrainData(labels, held), cfg, tmp_path)
    with pytest.raises(InvalidInput, match="other training options"):
        fit(_job(), TrainData(labels, held), TrainConfig(epochs=2, pk=PKConfig(4, 4)), tmp_path, resume=True)
    other = held.copy()
    other[1] = True
    with pytest.raises(InvalidInput, match="photos differ"):
        fit(_job(), TrainData(labels, other), cfg, tmp_path, resume=True)


def test_resume_without_a_finished_epoch_starts_afresh(tmp_path: Path) -> None:
    _, labels = _features()
    res = fit(_job(), TrainData(labels, np.zeros(len(labels), bool)), TrainConfig(epochs=1, pk=PKConfig(4, 4)), tmp_path,
              resume=True)
    assert [e.epoch for e in res.epochs] == [1] and not res.cancelled
