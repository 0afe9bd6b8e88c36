"""Live recognition and marking, with a fake engine (scripted boxes and vectors) and in-memory SQLite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from app.config import AppConfig
from app.context import AppContext
from app.services.attendance import AttendanceMarker
from app.services.live import LiveConfig, LiveRecognizer, LiveUpdate
from db.records import NewSample
from models.engine import EngineConfig
from models.sources import Frame
from models.tracking import TrackState
from models.types import BBox, Detection, Landmarks

DIM = 128
FPS = 30.0


def _axis(i: int, noise: float = 0.0, seed: int = 0) -> NDArray[np.float32]:
    v = np.zeros(DIM, dtype=np.float32)
    v[i] = 1.0
    v += np.random.default_rng(seed).normal(0, noise, DIM).astype(np.float32)
    return v / np.linalg.norm(v)


ADA, BOB, STRANGER = _axis(0), _axis(1), _axis(2)


class FakeEngine:
    """Each frame's image carries its script key in pixel (0, 0); the script lists (box, vector) per face."""

    def __init__(self) -> None:
        self.script: dict[int, list[tuple[BBox, NDArray[np.float32]]]] = {}
        self.embedded = 0

    def frame(self, index: int, faces: list[tuple[BBox, NDArray[np.float32]]]) -> Frame:
        key = index % 256
        self.script[key] = faces
        return Frame(index, index / FPS, np.full((4, 4, 3), key, dtype=np.uint8))

    def detect(self, image: np.ndarray) -> list[Detection]:
        faces = self.script[int(image[0, 0, 0])]
        key = float(image[0, 0, 0])
        return [Detection(box, 1.0, Landmarks(((key, float(i)),), "fake")) for i, (box, _) in enumerate(faces)]

    def embed(self, image: np.ndarray, landmarks: list[Landmarks]) -> NDArray[np.float32]:
        self.embedded += len(landmarks)
        rows = [self.script[int(lm.points[0][0])][int(lm.points[0][1])][1] for lm in landmarks]
        return np.stack(rows) if rows else np.zeros((0, DIM), np.float32)


@pytest.fixture
def ctx(tmp_path: Path) -> AppContext:
    config = AppConfig(tmp_path, "sqlite://", tmp_path, EngineConfig(backend="dlib"))
    context = AppContext(config)
    for name, vec in (("Ada", ADA), ("Bob", BOB)):
        sample = NewSample(b"\xff\xd8fake", [(1.0, 2.0)], "dlib68", "test", 0.9)
        context.repo.add_person(name, None, [sample], {"dlib": vec[None, :]})
    yield context
    context.close()


def _recognizer(ctx: AppContext, cooldown_s: float = 0.0, session: str = "s") -> tuple[LiveRecognizer, FakeEngine]:
    engine = FakeEngine()
    marker = AttendanceMarker(ctx.repo, ctx.repo.get_or_create_session(session), cooldown_s)
    return LiveRecognizer(ctx, marker, LiveConfig(detect_every=1), engine=engine), engine


def _play(rec: LiveRecognizer, engine: FakeEngine, faces_at: callable, frames: range) -> list[LiveUpdate]:
    return [rec.process(engine.frame(i, faces_at(i))) for i in frames]


BOX = BBox(100, 80, 90, 90)


def _events(updates: list[LiveUpdate]) -> list[str]:
    return [e.person_name for u in updates for e in u.events]


def test_two_agreeing_looks_name_and_mark_once(ctx: AppContext) -> None:
    rec, engine = _recognizer(ctx)
    updates = _play(rec, engine, lambda i: [(BOX, _axis(0, 0.02, i))], range(90))
    assert _events(updates) == ["Ada"]
    view = updates[-1].tracks[0]
    assert (view.state, view.name) == (TrackState.KNOWN, "Ada")
    assert view.named_at_s - view.first_seen_s <= 0.3
    assert engine.embedded < 10  # a few looks, not one per frame
    assert [e.person_name for e in ctx.repo.list_events()] == ["Ada"]


def test_one_blurry_wrong_frame_neither_names_nor_marks(ctx: AppContext) -> None:
    rec, engine = _recognizer(ctx)
    # Bob's look on the first frame only, then the face is gone before a second look.
    updates = _play(rec, engine, lambda i: [(BOX, BOB)] if i < 2 else [], range(40))
    assert _events(updates) == []
    assert all(v.state is not TrackState.KNOWN for u in updates for v in u.tracks)
    assert ctx.repo.list_events() == []


def test_a_wrong_first_look_is_outvoted_by_the_following_ones(ctx: AppContext) -> None:
    rec, engine = _recognizer(ctx)
    updates = _play(rec, engine, lambda i: [(BOX, BOB if i == 0 else ADA)], range(30))
    assert _events(updates) == ["Ada"]


def test_an_unknown_face_stays_unknown_and_is_not_marked(ctx: AppContext) -> None:
    rec, engine = _recognizer(ctx)
    updates = _play(rec, engine, lambda i: [(BOX, STRANGER)], range(120))
    assert _events(updates) == []
    assert {v.state for v in updates[-1].tracks} == {TrackState.UNKNOWN}
    assert updates[-1].tracks[0].name is None


def test_a_person_who_leaves_and_returns_is_marked_once_per_session(ctx: AppContext) -> None:
    rec, engine = _recognizer(ctx)
    present = lambda i: [(BOX, ADA)] if i < 20 or i >= 60 else []  # noqa: E731
    updates = _play(rec, engine, present, range(90))
    track_ids = {v.track_id for u in updates for v in u.tracks}
    assert len(track_ids) == 2  # the return is a new track...
    assert _events(updates) == ["Ada"]  # ...but not a second mark


def test_after_the_cooldown_a_returning_person_is_marked_again(ctx: AppContext) -> None:
    rec, engine = _recognizer(ctx, cooldown_s=2.0)
    # Ada at 0-0.6 s, back at 1.3 s (inside the cooldown), back again at 3.3 s (after it).
    present = lambda i: [(BOX, ADA)] if i % 60 < 20 else []  # noqa: E731
    updates = _play(rec, engine, present, range(120))
    assert _events(updates) == ["Ada", "Ada"]
    times = [e.time for u in updates for e in u.events]
    assert (times[1] - times[0]).total_seconds() >= 2.0


def test_two_people_at_once_are_each_marked(ctx: AppContext) -> None:
    rec, engine = _recognizer(ctx)
    other = BBox(300, 80, 90, 90)
    updates = _play(rec, engine, lambda i: [(BOX, ADA), (other, BOB)], range(30))
    assert sorted(_events(updates)) == ["Ada", "Bob"]


def test_without_a_marker_names_are_shown_but_nothing_is_stored(ctx: AppContext) -> None:
    engine = FakeEngine()
    rec = LiveRecognizer(ctx, None, LiveConfig(detect_every=1), engine=engine)
    updates = _play(rec, engine, lambda i: [(BOX, ADA)], range(30))
    assert updates[-1].tracks[0].name == "Ada"
    assert _events(updates) == [] and ctx.repo.list_events() == []


def test_reload_gallery_picks_up_a_newly_enrolled_person(ctx: AppContext) -> None:
    rec, engine = _recognizer(ctx)
    updates = _play(rec, engine, lambda i: [(BOX, STRANGER)], range(30))
    assert updates[-1].tracks[0].state is TrackState.UNKNOWN
    sample = NewSample(b"\xff\xd8fake", [(1.0, 2.0)], "dlib68", "test", 0.9)
    ctx.repo.add_person("Cy", None, [sample], {"dlib": STRANGER[None, :]})
    rec.reload_gallery()
    updates = _play(rec, engine, lambda i: [(BOX, STRANGER)], range(30, 60))
    assert updates[-1].tracks[0].name == "Cy"
    assert _events(updates) == ["Cy"]


def test_detecting_every_other_frame_keeps_boxes_and_reports_stage_timings(ctx: AppContext) -> None:
    engine = FakeEngine()
    rec = LiveRecognizer(ctx, None, LiveConfig(detect_every=2), engine=engine)
    updates = _play(rec, engine, lambda i: [(BBox(100 + i, 80, 90, 90), ADA)], range(4))
    assert [u.tracks[0].box.x for u in updates] == [100, 100, 102, 102]
    assert set(updates[0].timings_ms) >= {"detect", "embed", "match", "mark", "total"}
