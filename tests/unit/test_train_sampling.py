"""P×K batches, face augmentation, held-out splits, verification figures and user-backend folders (no TF)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from common.errors import BackendUnavailable, InvalidInput, NotFound
from models.embedders.registry import backend_info, known_backends
from models.embedders.user_backend import check_name, remove_backend, user_backends_dir
from models.train.data import holdout_split
from models.train.metrics import labelled_verification
from models.train.sampling import PKConfig, augment, pk_batches, steps_per_epoch


def test_pk_batches_hold_p_people_times_k_photos_and_repeat_with_the_seed() -> None:
    labels = np.repeat(np.arange(10), 6)
    cfg = PKConfig(people=4, per_person=3)
    a = pk_batches(labels, cfg, 5, np.random.default_rng(7))
    b = pk_batches(labels, cfg, 5, np.random.default_rng(7))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    for batch in a:
        assert len(batch) == 12
        people, counts = np.unique(labels[batch], return_counts=True)
        assert len(people) == 4 and set(counts) == {3}
    # over 5 batches of 4 people, all 10 people are seen (people are drawn without replacement per round)
    assert len(np.unique(labels[np.concatenate(a)])) == 10
    assert steps_per_epoch(60, cfg) == 5


def test_a_person_with_fewer_photos_than_k_is_sampled_with_replacement() -> None:
    labels = np.array([0, 0, 1, 1, 1, 1])
    [batch] = pk_batches(labels, PKConfig(2, 4), 1, np.random.default_rng(0))
    assert sorted(set(batch[labels[batch] == 0])) == [0, 1] and np.sum(labels[batch] == 0) == 4


def test_background_people_are_added_with_offset_indices() -> None:
    labels = np.repeat(np.arange(3), 4)
    background = np.repeat(np.arange(20), 2)
    for batch in pk_batches(labels, PKConfig(3, 2, background_people=2), 4, np.random.default_rng(1), background):
        bg = batch[batch >= len(labels)] - len(labels)
        assert len(bg) == 4 and len(np.unique(background[bg])) == 2
        assert len(np.unique(labels[batch[batch < len(labels)]])) == 3


def test_augmentation_changes_photos_but_keeps_shape_and_strength_zero_is_identity() -> None:
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (4, 40, 32, 3), dtype=np.uint8)
    out = augment(crops, np.random.default_rng(1))
    assert out.shape == crops.shape and out.dtype == np.uint8
    assert all(not np.array_equal(o, c) for o, c in zip(out, crops))
    assert np.array_equal(augment(crops, np.random.default_rng(1), strength=0.0), crops)
    again = augment(crops, np.random.default_rng(1))
    assert np.array_equal(out, again)


def test_holdout_is_per_person_and_keeps_two_photos_to_train_on() -> None:
    labels = np.array([0] * 10 + [1] * 3 + [2] * 2)
    held = holdout_split(labels, 0.2, seed=3)
    assert held[labels == 0].sum() == 2 and held[labels == 1].sum() == 1 and held[labels == 2].sum() == 0
    assert np.array_equal(held, holdout_split(labels, 0.2, seed=3))
    with pytest.raises(InvalidInput, match="held-out fraction"):
        holdout_split(labels, 1.5)


def test_verification_figures_separate_clusters() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 16))
    labels = np.repeat(np.arange(5), 6)
    good = centres[labels] + 0.1 * rng.normal(size=(30, 16))
    noise = rng.normal(size=(30, 16))
    a, b = labelled_verification(good.astype(np.float32), labels), labelled_verification(noise.astype(np.float32), labels)
    assert a["accuracy"] > 0.99 and a["auc"] > 0.99 and a["tar_at_far"] > 0.9
    assert b["auc"] < 0.75 and a["pairs"] == 2 * 5 * (6 * 5 // 2)  # every same pair and as many different ones
    assert 0.0 < a["threshold"] < 2.0


def _fake_user_backend(cache: Path, name: str) -> Path:
    folder = user_backends_dir(cache) / name
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(b"not used here")
    meta = {"name": name, "base": "facenet", "alignment": "box_margin_facenet", "input_size": [160, 160], "dim": 128,
            "metric": "l2", "threshold": 0.9, "standardize": "prewhiten", "description": "tuned"}
    (folder / "backend.json").write_text(json.dumps(meta))
    return folder


def test_registry_resolves_user_backends_and_lists_them_when_a_name_is_unknown(tmp_path: Path) -> None:
    _fake_user_backend(tmp_path, "class-7b")
    assert "class-7b" in known_backends(tmp_path) and "class-7b" not in known_backends()
    info = backend_info("class-7b", tmp_path)
    assert (info.dim, info.metric, info.threshold, info.alignment) == (128, "l2", 0.9, "box_margin_facenet")
    with pytest.raises(BackendUnavailable, match="class-7b") as err:
        backend_info("nope", tmp_path)
    assert "dlib" in str(err.value) and "facenet" in str(err.value)
    remove_backend(tmp_path, "class-7b")
    with pytest.raises(BackendUnavailable):
        backend_info("class-7b", tmp_path)
    with pytest.raises(NotFound, match="class-7b"):
        remove_backend(tmp_path, "class-7b")


def test_user_backend_names_are_checked() -> None:
    assert check_name("class-7b") == "class-7b"
    for bad in ("", "Has Space", "../x", "dlib"):
        with pytest.raises(InvalidInput):
            check_name(bad)
