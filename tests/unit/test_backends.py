"""Calibration arithmetic and applying a threshold (no weights: synthetic embeddings)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.config import Settings, build_config
from app.context import AppContext
from app.services.backends import Calibration, apply_calibration, rates, score_sets, threshold_at_far
from common.metric import Metric
from models.embedders.base import l2_normalise


def _people(seed: int = 0, people: int = 6, per_person: int = 5, spread: float = 0.25) -> dict[int, np.ndarray]:
    """Clusters of unit vectors: each person's samples scatter around their own random direction."""
    rng = np.random.default_rng(seed)
    out = {}
    for pid in range(1, people + 1):
        centre = l2_normalise(rng.normal(size=64))
        out[pid] = l2_normalise(centre + spread * rng.normal(size=(per_person, 64)) / 8)
    return out


@pytest.mark.parametrize("metric", list(Metric))
def test_the_proposed_threshold_lies_between_genuine_and_impostor_scores(metric: Metric) -> None:
    genuine, impostor = score_sets(_people(), metric)
    assert len(genuine) == 6 * 5 and len(impostor) == 6 * 5 * 5
    t = threshold_at_far(genuine, impostor, 0.001, metric)
    if metric.is_distance:
        assert genuine.max() < t < impostor.min()
    else:
        assert impostor.max() < t < genuine.min()
    assert rates(genuine, impostor, t, metric) == (1.0, 0.0)


def test_a_looser_far_accepts_the_allowed_share_of_impostors() -> None:
    genuine = np.array([0.3, 0.5, 0.9])
    impostor = np.linspace(0.6, 1.5, 100)
    t = threshold_at_far(genuine, impostor, 0.05, Metric.L2)
    tar, far = rates(genuine, impostor, t, Metric.L2)
    assert far == pytest.approx(0.05) and tar == pytest.approx(2 / 3)  # 0.9 is beyond the 5th impostor
    assert impostor[4] < t < impostor[5]


def test_leave_one_out_keeps_a_sample_from_matching_itself() -> None:
    # Two samples per person, orthogonal: leaving one out, each is compared with the other only.
    e = np.eye(4, dtype=np.float32)
    genuine, _ = score_sets({1: e[:2], 2: e[2:]}, Metric.COSINE)
    assert np.allclose(genuine, 0.0)


def test_a_person_with_one_photo_gives_impostor_scores_only() -> None:
    people = _people(people=3, per_person=1)
    genuine, impostor = score_sets(people, Metric.L2)
    assert len(genuine) == 0 and len(impostor) == 3 * 2


def test_apply_saves_the_threshold_for_that_backend_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    Settings(thresholds={"facenet": 0.9}).save(data)
    ctx = AppContext(build_config(data_dir=str(data), backend="dlib"))
    cal = Calibration("dlib", Metric.L2, 0.001, 0.43, 0.41234, 0.95, 0.01, 0.9, 0.001, 40, 400, 5, 45, 0.0025, 0.005)
    apply_calibration(ctx, cal)
    saved = Settings.load(data)
    assert saved.thresholds == {"facenet": 0.9, "dlib": 0.4123}
    assert ctx.engine.threshold == pytest.approx(0.4123)


def test_calibrate_command_refuses_an_empty_database(capsys: pytest.CaptureFixture[str]) -> None:
    from main import run

    assert run(["calibrate"]) == 1
    assert "at least two enrolled people" in capsys.readouterr().err


def test_calibrate_aims_at_the_share_of_strangers_named_for_this_gallery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With G people enrolled each comparison may accept only 1 − (1 − FPIR)^(1/G) of impostors: the proposal
    for 1 % of strangers is stricter than the 1 %-per-comparison threshold, and the CLI says so in words."""
    import numpy as np

    from app.services.backends import calibrate
    from models.operating_point import per_comparison_rate

    ctx = AppContext(build_config(data_dir=str(tmp_path / "data"), backend="dlib"))
    people = _people(people=8, per_person=4)
    monkeypatch.setattr(ctx.repo, "embeddings_by_person", lambda backend: people)
    monkeypatch.setattr("app.services.backends.ensure_embeddings", lambda *a, **k: None)
    cal = calibrate(ctx, 0.01)
    assert cal is not None and cal.people == 8
    assert cal.far_target == pytest.approx(per_comparison_rate(0.01, 8))
    genuine, impostor = score_sets(people, Metric.L2)
    loose = threshold_at_far(genuine, impostor, 0.01, Metric.L2)
    assert cal.proposed <= loose and cal.far_proposed <= cal.far_target
    assert cal.fpir(cal.far_proposed) <= 0.01 + 1e-12
    assert np.isfinite(cal.current)
