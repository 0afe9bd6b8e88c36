"""Two stations on one database (a SQLite file, and a throw-away PostgreSQL): a person enrolled or removed at
one is named or forgotten by the other's running recognizer within a few seconds, without a restart."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from app.config import AppConfig
from app.context import AppContext
from app.services.attendance import AttendanceMarker
from app.services.live import LiveConfig, LiveRecognizer, LiveUpdate
from db.records import NewSample
from models.engine import EngineConfig
from models.tracking import TrackState
from models.types import BBox
from tests.unit.test_live import FakeEngine, _axis

ADA, CY = _axis(0), _axis(3)
BOX = BBox(100, 80, 90, 90)
FEW_SECONDS = 4.0
"""The default poll is every 2 s; a change must show within this many seconds of wall-clock time."""


@pytest.fixture(params=["sqlite-file", "postgresql"])
def site_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """One database for two stations: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite-file":
        return f"sqlite:///{tmp_path / 'site.db'}"
    return str(request.getfixturevalue("pg_url"))


def _station(tmp_path: Path, url: str, name: str) -> AppContext:
    folder = tmp_path / name
    return AppContext(AppConfig(folder, url, folder, EngineConfig(backend="dlib")))


@pytest.fixture
def stations(tmp_path: Path, site_url: str) -> Iterator[tuple[AppContext, AppContext]]:
    door1, door2 = _station(tmp_path, site_url, "door1"), _station(tmp_path, site_url, "door2")
    _enroll(door1, "Ada", ADA)
    yield door1, door2
    door1.close()
    door2.close()


def _enroll(ctx: AppContext, name: str, vector) -> int:
    sample = NewSample(b"\xff\xd8fake", [(1.0, 2.0)], "dlib68", "test", 0.9)
    return ctx.repo.add_person(name, None, [sample], {"dlib": vector[None, :]}).id


def _watch_until(
    rec: LiveRecognizer, engine: FakeEngine, vector, done: Callable[[LiveUpdate], bool], limit_s: float
) -> float | None:
    """Feed frames showing ``vector`` at about 30 frames/s until ``done(update)``; seconds taken, or ``None``."""
    start = time.monotonic()
    index = 0
    while time.monotonic() - start < limit_s:
        update = rec.process(engine.frame(index, [(BOX, vector)]))
        if done(update):
            return time.monotonic() - start
        index += 1
        time.sleep(1 / 30)
    return None


def _named(name: str) -> Callable[[LiveUpdate], bool]:
    return lambda u: any(v.state is TrackState.KNOWN and v.name == name for v in u.tracks)


def test_a_person_enrolled_at_another_station_is_named_and_marked_within_seconds(stations) -> None:
    door1, door2 = stations
    engine = FakeEngine()
    marker = AttendanceMarker(door1.repo, door1.repo.get_or_create_session("morning"), 0.0)
    rec = LiveRecognizer(door1, marker, LiveConfig(detect_every=1), engine=engine)
    assert _watch_until(rec, engine, CY, _named("Cy"), 1.0) is None, "Cy is a stranger before being enrolled"

    cy = _enroll(door2, "Cy", CY)
    seconds = _watch_until(rec, engine, CY, _named("Cy"), 10.0)
    assert seconds is not None and seconds <= FEW_SECONDS, f"named after {seconds} s"
    assert len(rec.gallery) == 2
    assert [e.person_id for e in door2.repo.list_events()] == [cy], "door2 sees door1's mark of Cy"


def test_a_person_removed_at_another_station_is_no_longer_named(stations) -> None:
    door1, door2 = stations
    engine = FakeEngine()
    rec = LiveRecognizer(door1, None, LiveConfig(detect_every=1), engine=engine)
    assert _watch_until(rec, engine, ADA, _named("Ada"), 3.0) is not None

    (ada,) = door2.repo.list_people()
    door2.repo.remove_person(ada.id)
    seconds = _watch_until(rec, engine, ADA, lambda u: u.reloaded, 10.0)
    assert seconds is not None and seconds <= FEW_SECONDS
    assert _watch_until(rec, engine, ADA, _named("Ada"), 1.0) is None, "Ada is forgotten"
    assert len(rec.gallery) == 0


def test_polling_off_keeps_the_people_it_started_with(stations) -> None:
    door1, door2 = stations
    engine = FakeEngine()
    rec = LiveRecognizer(door1, None, LiveConfig(detect_every=1, gallery_poll_s=0), engine=engine)
    _enroll(door2, "Cy", CY)
    assert _watch_until(rec, engine, CY, _named("Cy"), 2.5) is None
    rec.reload_gallery()  # what the window does after enrolling here
    assert _watch_until(rec, engine, CY, _named("Cy"), 2.0) is not None
