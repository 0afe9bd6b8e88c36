"""The metric type: stored and printed by name, and the two metrics agree on which pairs match."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from common.errors import InvalidInput
from common.metric import Metric
from models.embedders.base import EmbedderInfo, l2_normalise
from models.embedders.user_backend import read_user_info, user_backends_dir


def _cosines(n: int = 400, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a, b = l2_normalise(rng.normal(size=(n, 16))), l2_normalise(rng.normal(size=(n, 16)))
    return np.sum(a * b, axis=1)


def test_a_metric_is_stored_and_printed_by_its_name() -> None:
    assert json.dumps({"metric": Metric.L2}) == '{"metric": "l2"}'
    assert f"same if {Metric.COSINE} {Metric.COSINE.symbol} 0.4" == "same if cosine >= 0.4"
    assert Metric.named("l2") is Metric.L2 and Metric.named(Metric.COSINE) is Metric.COSINE
    assert EmbedderInfo("x", (112, 112), 8, "dlib_chip", "cosine", 0.3).metric is Metric.COSINE


def test_an_unknown_metric_is_refused_with_the_known_names() -> None:
    with pytest.raises(InvalidInput, match="unknown metric 'manhattan'; use one of cosine, l2"):
        Metric.named("manhattan")
    with pytest.raises(InvalidInput, match="unknown metric 'euclid'"):  # e.g. a user backend's manifest
        EmbedderInfo("mine", (160, 160), 128, "box_margin_facenet", "euclid", 1.0)


def test_a_cosine_threshold_and_its_distance_name_the_same_pairs() -> None:
    cos = _cosines()
    for t_cos in (-0.2, 0.0, 0.3, 0.6):
        t_l2 = Metric.L2.score(t_cos)
        assert Metric.L2.cosine(t_l2) == pytest.approx(t_cos, abs=1e-6)
        same_cos = Metric.COSINE.accepts(cos, t_cos)
        same_l2 = Metric.L2.accepts(Metric.L2.score(cos), t_l2)
        assert 0 < same_cos.sum() < len(cos) and np.array_equal(same_cos, same_l2)


@pytest.mark.parametrize("metric", list(Metric))
def test_a_stricter_threshold_is_better_and_names_fewer_pairs(metric: Metric) -> None:
    cos = _cosines()
    scores = metric.score(cos)
    low, high = metric.threshold_range
    assert low <= scores.min() and scores.max() <= high and metric.score(-1.0) == metric.worst
    assert np.argmin(metric.sign * scores) == np.argmax(cos)  # sign × score: lower is closer
    threshold = float(np.median(scores))
    strict = metric.stricter(threshold, 0.05)
    assert metric.better(strict, threshold) and not metric.better(threshold, strict)
    assert metric.accepts(scores, strict).sum() < metric.accepts(scores, threshold).sum()


def test_a_user_backend_with_an_unknown_metric_is_ignored_not_a_crash(tmp_path: Path) -> None:
    folder = user_backends_dir(tmp_path) / "mine"
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(b"not used here")
    meta = {"name": "mine", "base": "facenet", "alignment": "box_margin_facenet", "input_size": [160, 160],
            "dim": 128, "metric": "euclid", "threshold": 0.9}
    (folder / "backend.json").write_text(json.dumps(meta))
    assert read_user_info(tmp_path, "mine") is None
    (folder / "backend.json").write_text(json.dumps({**meta, "metric": "l2"}))
    assert read_user_info(tmp_path, "mine").metric is Metric.L2
