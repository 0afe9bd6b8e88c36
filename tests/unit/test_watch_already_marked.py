"""``watch`` says who it saw that was already marked in the session (what the live recognizer reported)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from app.cli.watch_cmd import AlreadyMarked
from app.config import AppConfig
from app.context import AppContext
from app.services.attendance import AttendanceMarker
from app.services.live import LiveConfig, LiveRecognizer
from db.records import NewSample
from models.engine import EngineConfig
from models.sources import Frame
from models.types import BBox, Detection, Landmarks

DIM = 128
ADA, BOB = np.eye(DIM, dtype=np.float32)[0], np.eye(DIM, dtype=np.float32)[1]


class OneFaceEngine:
    """Always one face in the same place, whose vector is whatever :attr:`vector` says."""

    def __init__(self, vector: NDArray[np.float32]) -> None:
        self.vector = vector

    def detect(self, image: np.ndarray) -> list[Detection]:
        return [Detection(BBox(100, 80, 90, 90), 1.0, Landmarks(((0.0, 0.0),), "fake"))]

    def embed(self, image: np.ndarray, landmarks: list[Landmarks]) -> NDArray[np.float32]:
        return np.stack([self.vector] * len(landmarks))


@pytest.fixture
def ctx(tmp_path: Path) -> AppContext:
    context = AppContext(AppConfig(tmp_path, "sqlite://", tmp_path, EngineConfig(backend="dlib")))
    for name, vec in (("Ada", ADA), ("Bob", BOB)):
        sample = NewSample(b"\xff\xd8fake", [(1.0, 2.0)], "dlib68", "test", 0.9)
        context.repo.add_person(name, None, [sample], {"dlib": vec[None, :]})
    yield context
    context.close()


def _watch(ctx: AppContext, who: NDArray[np.float32], frames: int = 60) -> tuple[list[str], list[str]]:
    """Play ``frames`` frames of one person to a recognizer on session "Maths"; (events' names, lines said)."""
    marker = AttendanceMarker(ctx.repo, ctx.repo.get_or_create_session("Maths"))
    recognizer = LiveRecognizer(ctx, marker, LiveConfig(detect_every=1), engine=OneFaceEngine(who))
    said: list[str] = []
    already = AlreadyMarked("Maths", said.append)
    marked = []
    for i in range(frames):
        update = recognizer.process(Frame(i, i / 30.0, np.zeros((4, 4, 3), np.uint8)))
        marked += [e.person_name for e in update.events]
        already.on_update(update)
    return marked, said


def test_a_person_marked_before_this_run_is_reported_once_with_how_to_start_anew(ctx: AppContext) -> None:
    session = ctx.repo.get_or_create_session("Maths")
    ada = next(p for p in ctx.repo.list_people() if p.name == "Ada")
    ctx.repo.add_event(ada.id, session.id, datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc), "camera")

    marked, said = _watch(ctx, ADA)

    assert marked == []
    assert len(said) == 1, said
    assert "Ada" in said[0] and "already marked" in said[0] and "'Maths'" in said[0] and "--session NAME" in said[0]


def test_a_person_marked_in_this_run_is_not_called_already_marked(ctx: AppContext) -> None:
    marked, said = _watch(ctx, BOB)
    assert marked == ["Bob"] and said == []

    marked_again, said_again = _watch(ctx, BOB)  # a second run in the same session
    assert marked_again == [] and len(said_again) == 1 and "Bob" in said_again[0]
