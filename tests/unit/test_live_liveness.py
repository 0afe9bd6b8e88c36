"""Liveness in live recognition (fake engine, in-memory SQLite): a photo stays "Checking…", a person is marked."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from numpy.typing import NDArray

from app.config import AppConfig, Settings
from app.context import AppContext
from app.services.attendance import AttendanceMarker
from app.services.live import LiveConfig, LiveRecognizer, LiveUpdate, check_liveness_detector, live_config
from db.records import NewSample
from models.engine import EngineConfig
from common.errors import InvalidInput
from models.liveness import LivenessConfig
from models.sources import Frame
from models.tracking import TrackState
from models.types import BBox, Detection, Landmarks
from tests.unit.face68 import affine, face_points

DIM = 128
FPS = 30.0
ADA = np.eye(DIM, dtype=np.float32)[0]


class PointsEngine:
    """Detects one face whose 68 landmarks are ``face_at(t)`` (t = frame index / FPS); every look is Ada's."""

    def __init__(self, face_at: Callable[[float], NDArray[np.float64]]) -> None:
        self.face_at = face_at

    def detect(self, image: np.ndarray) -> list[Detection]:
        t = int(image[0, 0, 0]) / FPS
        points = self.face_at(t) + np.random.default_rng(int(image[0, 0, 0])).normal(0, 0.3, (68, 2))
        x0, y0 = points.min(axis=0)
        x1, y1 = points.max(axis=0)
        box = BBox(int(x0), int(y0), int(x1 - x0), int(y1 - y0))
        return [Detection(box, 1.0, Landmarks(tuple(map(tuple, points.tolist())), "dlib68"))]

    def embed(self, image: np.ndarray, landmarks: list[Landmarks]) -> NDArray[np.float32]:
        return np.stack([ADA] * len(landmarks)) if landmarks else np.zeros((0, DIM), np.float32)


def _photo(t: float) -> NDArray[np.float64]:
    return affine(face_points(), scale=40 * (1 + 0.2 * math.sin(t)), angle_deg=8 * math.sin(t * 1.3),
                  shift=(320 + 80 * math.sin(t * 0.8), 180))  # fmt: skip


def _person(t: float) -> NDArray[np.float64]:
    eyes = 0.15 if 1.5 <= t < 1.63 else 1.0  # one blink at 1.5 s
    return affine(face_points(15 * math.sin(t * 2.5), 0, eyes), scale=40)


@pytest.fixture
def ctx(tmp_path: Path) -> AppContext:
    context = AppContext(AppConfig(tmp_path, "sqlite://", tmp_path, EngineConfig(backend="dlib")))
    sample = NewSample(b"\xff\xd8fake", [(1.0, 2.0)], "dlib68", "test", 0.9)
    context.repo.add_person("Ada", None, [sample], {"dlib": ADA[None, :]})
    yield context
    context.close()


def _watch(ctx: AppContext, face_at: Callable[[float], NDArray[np.float64]], liveness: bool, seconds: float) -> list[LiveUpdate]:
    """Every update of ``seconds`` of video of ``face_at``, marking into a session of its own."""
    marker = AttendanceMarker(ctx.repo, ctx.repo.get_or_create_session(f"s-{liveness}"), 0.0)
    config = LiveConfig(liveness=LivenessConfig() if liveness else None)
    rec = LiveRecognizer(ctx, marker, config, engine=PointsEngine(face_at))
    frames = (Frame(i, i / FPS, np.full((4, 4, 3), i, np.uint8)) for i in range(int(seconds * FPS)))
    return [rec.process(frame) for frame in frames]


def _marked(updates: list[LiveUpdate]) -> list[str]:
    return [e.person_name for u in updates for e in u.events]


def test_a_photo_is_marked_without_liveness_but_stays_checking_with_it(ctx: AppContext) -> None:
    assert _marked(_watch(ctx, _photo, liveness=False, seconds=2.0)) == ["Ada"]
    updates = _watch(ctx, _photo, liveness=True, seconds=8.0)
    assert _marked(updates) == [] and [e.session_name for e in ctx.repo.list_events()] == ["s-False"]
    shown = [v for u in updates for v in u.tracks]
    assert shown and all(v.state is TrackState.PENDING and v.name is None and v.person_id is None for v in shown)


def test_a_person_who_blinks_and_turns_is_marked_once_after_the_blink(ctx: AppContext) -> None:
    updates = _watch(ctx, _person, liveness=True, seconds=4.0)
    assert _marked(updates) == ["Ada"]
    marked_at = next(u.time_s for u in updates if u.events)
    assert 1.6 <= marked_at <= 2.0
    before = [v for u in updates if u.time_s < 1.5 for v in u.tracks]
    assert before and all(v.state is TrackState.PENDING and v.name is None for v in before)
    after = updates[-1].tracks[0]
    assert (after.state, after.name) == (TrackState.KNOWN, "Ada")
    assert after.named_at_s - after.first_seen_s == pytest.approx(marked_at, abs=0.05)


def test_without_68_landmarks_a_face_stays_checking(ctx: AppContext) -> None:
    class FivePoints(PointsEngine):
        def detect(self, image: np.ndarray) -> list[Detection]:
            d = super().detect(image)[0]
            return [Detection(d.box, d.score, Landmarks(tuple(map(tuple, d.landmarks.five().tolist())), "five"))]

    marker = AttendanceMarker(ctx.repo, ctx.repo.get_or_create_session("s"), 0.0)
    rec = LiveRecognizer(ctx, marker, LiveConfig(liveness=LivenessConfig()), engine=FivePoints(_person))
    updates = [rec.process(Frame(i, i / FPS, np.full((4, 4, 3), i, np.uint8))) for i in range(120)]
    assert _marked(updates) == [] and all(v.state is TrackState.PENDING for u in updates for v in u.tracks)


def test_the_liveness_setting_is_off_by_default_and_validated(caplog: pytest.LogCaptureFixture) -> None:
    assert Settings().liveness is False
    assert Settings.from_dict({"liveness": True}).liveness is True
    with caplog.at_level(logging.WARNING):
        assert Settings.from_dict({"liveness": "yes"}).liveness is False
    assert "'liveness'" in caplog.text and "not true or false" in caplog.text


def test_live_config_follows_the_setting_unless_told(ctx: AppContext) -> None:
    assert live_config(ctx).liveness is None
    assert live_config(ctx, True).liveness == LivenessConfig()
    ctx.config = AppConfig(ctx.config.data_dir, "sqlite://", ctx.config.cache_dir, ctx.config.engine,
                           settings=Settings(liveness=True))  # fmt: skip
    assert live_config(ctx).liveness is not None


def test_liveness_with_a_detector_without_68_landmarks_is_one_clear_error(tmp_path: Path) -> None:
    ctx = AppContext(AppConfig(tmp_path, "sqlite://", tmp_path, EngineConfig(backend="dlib", detector="yunet")))
    try:
        check_liveness_detector(ctx, LiveConfig())  # liveness off: any detector
        with pytest.raises(InvalidInput, match="liveness.*yunet.*--detector hog or cnn"):
            check_liveness_detector(ctx, LiveConfig(liveness=LivenessConfig()))
    finally:
        ctx.close()
