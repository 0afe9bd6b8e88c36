"""Live recognition and marking, with a fake engine (scripted boxes and vectors) and in-memory SQLite."""

from __future__ import annotations

import threading
import time
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

    def frame(
        self, index: int, faces: list[tuple[BBox, NDArray[np.float32]]], scene: NDArray[np.uint8] | None = None
    ) -> Frame:
        """Frame ``index`` showing ``faces`` (on the picture ``scene``, default a tiny uniform one)."""
        key = index % 256
        self.script[key] = faces
        image = np.full((4, 4, 3), key, dtype=np.uint8) if scene is None else scene.copy()
        image[0, 0] = key
        return Frame(index, index / FPS, image)

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


def _scene(seed: int) -> NDArray[np.uint8]:
    """A 360×640 'shot': smooth random colour blobs."""
    coarse = np.random.default_rng(seed).integers(0, 256, (9, 16, 3)).astype(np.uint8)
    return np.kron(coarse, np.ones((40, 40, 1), np.uint8))


def test_a_name_never_crosses_a_scene_cut(ctx: AppContext) -> None:
    rec, engine = _recognizer(ctx)
    before, after = _scene(1), _scene(2)
    # Ada in the first shot; at frame 30 the video cuts to a stranger's face at exactly the same place.
    frames = [engine.frame(i, [(BOX, ADA if i < 30 else STRANGER)], before if i < 30 else after) for i in range(45)]
    updates = [rec.process(f) for f in frames]
    assert updates[29].tracks[0].name == "Ada"
    old_ids = {v.track_id for u in updates[:30] for v in u.tracks}
    for u in updates[30:]:
        assert all(v.track_id not in old_ids and v.name != "Ada" for v in u.tracks), f"frame {u.frame_index}"
    assert updates[30].tracks, "the new shot's face gets its box on the cut frame itself"
    assert _events(updates) == ["Ada"]


def test_a_face_that_changes_within_a_track_loses_the_name(ctx: AppContext) -> None:
    rec, engine = _recognizer(ctx)
    # No cut (the picture stays), but after 3 s another face is at Ada's place: re-checked at the next look.
    updates = _play(rec, engine, lambda i: [(BOX, ADA if i < 90 else BOB)], range(180))
    assert updates[89].tracks[0].name == "Ada"
    last = updates[-1].tracks[0]
    assert last.name == "Bob" and last.track_id != updates[89].tracks[0].track_id
    assert _events(updates) == ["Ada", "Bob"]


class _Recorder:
    """Wraps ``ctx.gallery`` to note the thread of each call."""

    def __init__(self, ctx: AppContext) -> None:
        self.threads: list[str] = []
        self._real = ctx.gallery

    def __call__(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN204
        self.threads.append(threading.current_thread().name)
        return self._real(*args, **kwargs)


def _enroll_cy(ctx: AppContext) -> None:
    sample = NewSample(b"\xff\xd8fake", [(1.0, 2.0)], "dlib68", "test", 0.9)
    ctx.repo.add_person("Cy", None, [sample], {"dlib": STRANGER[None, :]})


def test_a_gallery_reload_requested_from_another_thread_is_applied_between_frames(ctx: AppContext) -> None:
    rec, engine = _recognizer(ctx)
    recorder = _Recorder(ctx)
    ctx.gallery = recorder  # type: ignore[method-assign]
    frames = [engine.frame(i, [(BOX, STRANGER), (BBox(300, 80, 90, 90), ADA)]) for i in range(240)]
    updates: list[LiveUpdate] = []
    errors: list[BaseException] = []

    def recognise() -> None:
        try:
            for frame in frames:
                updates.append(rec.process(frame))
                time.sleep(0.001)
        except BaseException as exc:  # noqa: BLE001 (reported by the assertion below)
            errors.append(exc)

    worker = threading.Thread(target=recognise, name="recognition")
    worker.start()
    while len(updates) < 60:
        time.sleep(0.001)
    _enroll_cy(ctx)
    for _ in range(50):  # the window may ask many times, while frames are being processed
        rec.reload_gallery()
        time.sleep(0.0005)
    worker.join(30)
    assert not errors and len(updates) == 240
    assert recorder.threads and set(recorder.threads) == {"recognition"}, "the gallery is only read there"
    names = {v.name for v in updates[-1].tracks}
    assert names == {"Cy", "Ada"}
    assert sorted(_events(updates)) == ["Ada", "Cy"]


def test_the_frame_after_a_reload_request_uses_the_new_gallery(ctx: AppContext) -> None:
    rec, engine = _recognizer(ctx)
    _play(rec, engine, lambda i: [(BOX, STRANGER)], range(10))
    _enroll_cy(ctx)
    done = threading.Event()
    threading.Thread(target=lambda: (rec.reload_gallery(), done.set())).start()
    assert done.wait(5)
    assert len(rec.gallery) == 2, "nothing changes until the recognition thread takes the next frame"
    rec.process(engine.frame(10, [(BOX, STRANGER)]))
    assert len(rec.gallery) == 3
