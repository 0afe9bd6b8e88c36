"""The train cache (general faces' crops and features) stays under its size cap, least recently used files first;
``train --clear-cache`` empties it; ``train --resume`` without an interrupted run is one line. No TensorFlow."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

import main
from app.config import build_config
from app.services import training
from models.train.backbone import embed_features
from models.train.networks import BaseModel

MB = 1 << 20
TINY = BaseModel("tiny", "box_margin_facenet", (8, 8), 4, "fixed", False, "")


class FakeBackbone:
    """Features = per-channel means of the left half of the image (so the mirror view differs)."""

    dim = 3

    def __init__(self) -> None:
        self.images = 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.images += len(x)
        return x[:, :, : x.shape[2] // 2].mean(axis=(1, 2)).astype(np.float32)


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A model cache of this test's own (never the shared test cache, which --clear-cache would empty)."""
    path = tmp_path / "cache"
    monkeypatch.setenv("ROLLCALL_CACHE", str(path))
    return path


def _old_file(path: Path, size: int, age_s: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))
    return path


def test_prune_deletes_least_recently_used_first_and_keeps_the_new_file(tmp_path: Path) -> None:
    oldest = _old_file(tmp_path / "crops-a.npz", MB, 300)
    middle = _old_file(tmp_path / "crops-b.npz", MB, 200)
    recent = _old_file(tmp_path / "crops-c.npz", MB, 100)
    writing = _old_file(tmp_path / "features-x.123.tmp.npz", MB, 400)  # another job's file in progress
    new = _old_file(tmp_path / "features-facenet.npz", 2 * MB, 0)
    deleted = training.prune_cache(tmp_path, 3 * MB, keep=new)
    assert deleted == [oldest, middle]
    assert recent.is_file() and new.is_file() and writing.is_file()
    assert training.prune_cache(tmp_path, 1 * MB, keep=new) == [recent] and new.is_file()


def test_feature_cache_save_caps_the_folder_and_reuses_features(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = build_config(data_dir=str(cache_dir.parent / "data"))
    root = training._cache_root(config)
    stale = [_old_file(root / f"crops-{k}.npz", MB, 1000 - k) for k in range(3)]
    monkeypatch.setattr(training, "CACHE_LIMIT_MB", 2)
    crops = np.random.default_rng(0).integers(0, 255, (5, 8, 8, 3), dtype=np.uint8)
    backbone = FakeBackbone()
    cache = training.FeatureCache(root / "features-tiny.npz")
    first = cache.features(backbone, TINY, crops, lambda *a: None, lambda: False)
    cache.save()
    assert backbone.images == 10  # five crops and their mirrors
    assert sum(p.stat().st_size for p in root.glob("*.npz")) <= 2 * MB
    assert not stale[0].exists() and not stale[1].exists() and stale[2].exists()
    again = training.FeatureCache(root / "features-tiny.npz").features(backbone, TINY, crops, lambda *a: None, lambda: False)
    assert backbone.images == 10 and np.array_equal(first, again)  # read back, not recomputed
    assert not np.allclose(first[:, 0], first[:, 1])  # the mirror view is its own


def test_reading_a_cache_file_marks_it_recently_used(cache_dir: Path) -> None:
    config = build_config(data_dir=str(cache_dir.parent / "data"))
    root = training._cache_root(config)
    path = root / "features-tiny.npz"
    root.mkdir(parents=True)
    np.savez(path, keys=np.array(["k"]), values=np.zeros((1, 2, 3), np.float32))
    os.utime(path, (time.time() - 1000, time.time() - 1000))
    training.FeatureCache(path)
    assert time.time() - path.stat().st_mtime < 60


def test_embed_features_without_mirror_repeats_the_view_and_does_half_the_work() -> None:
    crops = np.random.default_rng(1).integers(0, 255, (3, 8, 8, 3), dtype=np.uint8)
    backbone = FakeBackbone()
    feats = embed_features(backbone, crops, TINY, mirror=False)
    assert feats.shape == (3, 2, 3) and backbone.images == 3 and np.array_equal(feats[:, 0], feats[:, 1])


def test_clear_cache_command_empties_the_train_cache(cache_dir: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    root = cache_dir / "train-cache"
    _old_file(root / "crops-a.npz", MB, 10)
    _old_file(root / "features-facenet.npz", MB // 2, 10)
    run = cache_dir / "training" / "20260101-000000-000000"  # an interrupted run
    for name in ("state.json", "spec.json", "epoch-001.weights.h5"):
        _old_file(run / name, 100, 10)
    finished = cache_dir / "training" / "20260102-000000-000000"
    for name in ("state.json", "spec.json", "summary.json"):
        _old_file(finished / name, 100, 10)
    code = main.run(["--data-dir", str(tmp_path / "data"), "train", "--clear-cache"])
    out, _ = capsys.readouterr()
    assert code == 0 and "deleted 5 files (1.5 MB)" in out
    assert not root.exists() and not run.exists() and finished.is_dir()


def test_resume_without_an_interrupted_run_is_one_line(cache_dir: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    code = main.run(["--data-dir", str(tmp_path / "data"), "train", "--resume"])
    _, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1 and "no interrupted training run" in lines[0]


def test_mirror_features_of_every_photo_for_small_sets_and_of_held_out_photos_for_large_ones() -> None:
    small = np.zeros(50, bool)
    small[::5] = True
    large = np.zeros(1000, bool)
    large[::5] = True
    spec = training.TrainSpec()
    assert training.mirror_rows(spec, small).all()
    assert np.array_equal(training.mirror_rows(spec, large), large)  # 800 training photos: held-out ones only
    assert training.mirror_rows(training.TrainSpec(mirror_all=True), large).all()
    assert not training.mirror_rows(training.TrainSpec(mirror=False), small).any()


def test_user_features_compute_the_mirror_view_only_where_asked() -> None:
    crops = np.random.default_rng(2).integers(0, 255, (6, 8, 8, 3), dtype=np.uint8)
    rows = np.array([True, False, False, True, False, False])
    backbone = FakeBackbone()
    feats = training.user_features(backbone, TINY, crops, rows, training.Hooks())
    assert feats.shape == (6, 2, 3) and backbone.images == 2 * 2 + 4
    both = embed_features(FakeBackbone(), crops, TINY)
    np.testing.assert_allclose(feats[:, 0], both[:, 0], rtol=1e-6)  # the original view is the same either way
    np.testing.assert_allclose(feats[rows, 1], both[rows, 1], rtol=1e-6)
    np.testing.assert_array_equal(feats[~rows, 1], feats[~rows, 0])
