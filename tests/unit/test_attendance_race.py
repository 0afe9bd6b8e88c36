"""Several processes marking one session never mark anyone twice: the rule lives in the database.

Two processes (two ``watch`` stations) see the same person in each of many sessions at the same moment
(a barrier lines them up before every mark); every session must end with exactly one mark. It runs on a
SQLite file and on a throw-away PostgreSQL server (two stations on one site database).
"""

from __future__ import annotations

import multiprocessing
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from db import Repository, open_database

ROUNDS = 150


def _station(url: str, person_id: int, session_ids: list[int], barrier: object, offset_ms: int, out: object) -> None:
    """One watch process: a new marker per session (as a fresh ``watch`` would have), marking at the barrier."""
    from app.services.attendance import AttendanceMarker

    database = open_database(url)
    repo = Repository(database, station=f"door {offset_ms}")
    sessions = {s.id: s for s in repo.list_sessions()}
    marked = 0
    t0 = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)
    for sid in session_ids:
        marker = AttendanceMarker(repo, sessions[sid], 0.0)
        barrier.wait()  # type: ignore[attr-defined]
        if marker.mark(person_id, t0 + timedelta(milliseconds=offset_ms), "camera", 0.3, "dlib") is not None:
            marked += 1
    database.close()
    out.put(marked)  # type: ignore[attr-defined]


@pytest.fixture(params=["sqlite", "postgresql"])
def station_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database two processes can share: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'rollcall.db'}"
    return str(request.getfixturevalue("pg_url"))


def test_two_processes_on_one_session_never_double_mark(station_url: str) -> None:
    url = station_url
    database = open_database(url)
    repo = Repository(database)
    person = repo.add_person("Ada")
    session_ids = [repo.get_or_create_session(f"class {i}").id for i in range(ROUNDS)]
    database.close()
    context = multiprocessing.get_context("spawn")
    barrier, out = context.Barrier(2), context.Queue()
    stations = [
        context.Process(target=_station, args=(url, person.id, session_ids, barrier, k * 70, out)) for k in range(2)
    ]
    for station in stations:
        station.start()
    marked = [out.get(timeout=300) for _ in stations]
    for station in stations:
        station.join(timeout=30)
        assert station.exitcode == 0
    database = open_database(url)
    events = Repository(database).list_events()
    database.close()
    per_session: dict[int, int] = {}
    for e in events:
        per_session[e.session_id] = per_session.get(e.session_id, 0) + 1
    doubles = sum(1 for n in per_session.values() if n > 1)
    assert doubles == 0, f"{doubles} of {ROUNDS} sessions marked twice"
    assert sum(marked) == ROUNDS and len(per_session) == ROUNDS  # each session marked once, by one of the two
    assert {e.station for e in events} <= {"door 0", "door 70"}
