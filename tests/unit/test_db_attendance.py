"""Attendance sessions and events as a user of the repository sees them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from common.errors import InvalidInput, NotFound
from db import Repository, open_database

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
PARIS = timezone(timedelta(hours=1))


@pytest.fixture
def repo(db_url: str) -> Repository:
    """A repository on in-memory SQLite and on a fresh PostgreSQL database (the same tests run on both)."""
    database = open_database(db_url)
    yield Repository(database)
    database.close()


def test_get_or_create_session_returns_the_same_session(repo: Repository) -> None:
    created = repo.get_or_create_session("Maths", started_at=T0, late_after=T0 + timedelta(minutes=10))
    again = repo.get_or_create_session(" Maths ", started_at=T0 + timedelta(days=1))
    assert again == created
    assert created.late_after == T0 + timedelta(minutes=10)
    assert [s.name for s in repo.list_sessions()] == ["Maths"]


def test_times_are_stored_as_utc_and_returned_aware(repo: Repository) -> None:
    local = datetime(2026, 3, 2, 9, 30, tzinfo=PARIS)
    session = repo.get_or_create_session("Maths", started_at=local)
    assert session.started_at == local
    assert session.started_at.tzinfo == timezone.utc and session.started_at.hour == 8


def test_naive_times_are_refused(repo: Repository) -> None:
    session = repo.get_or_create_session("Maths", started_at=T0)
    person = repo.add_person("Ada")
    with pytest.raises(InvalidInput, match="no time zone"):
        repo.add_event(person.id, session.id, datetime(2026, 3, 2, 9, 0), "camera")
    assert repo.list_events() == []


def test_events_snapshot_person_and_are_ordered_by_time(repo: Repository) -> None:
    maths = repo.get_or_create_session("Maths", started_at=T0)
    art = repo.get_or_create_session("Art", started_at=T0)
    ada = repo.add_person("Ada", "S-1")
    bob = repo.add_person("Bob")
    repo.add_event(bob.id, maths.id, T0 + timedelta(minutes=5), "camera", 0.61, "dlib")
    repo.add_event(ada.id, maths.id, T0 + timedelta(minutes=2), "video")
    repo.add_event(ada.id, art.id, T0 + timedelta(minutes=9), "manual")
    repo.rename_person(ada.id, "Ada L.")

    events = repo.list_events(session_id=maths.id)
    assert [(e.person_name, e.session_name) for e in events] == [("Ada", "Maths"), ("Bob", "Maths")]
    assert events[1].score == pytest.approx(0.61) and events[1].backend == "dlib"
    assert [e.session_name for e in repo.list_events(person_id=ada.id)] == ["Maths", "Art"]
    window = repo.list_events(start=T0 + timedelta(minutes=3), end=T0 + timedelta(minutes=9))
    assert [e.person_name for e in window] == ["Bob"]
    assert repo.get_person(ada.id).last_seen == T0 + timedelta(minutes=9)
    assert [s.n_events for s in repo.list_sessions() if s.name == "Maths"] == [2]


def test_last_event_time(repo: Repository) -> None:
    session = repo.get_or_create_session("Maths", started_at=T0)
    ada = repo.add_person("Ada")
    assert repo.last_event_time(ada.id, session.id) is None
    repo.add_event(ada.id, session.id, T0 + timedelta(minutes=7), "camera")
    repo.add_event(ada.id, session.id, T0 + timedelta(minutes=3), "camera")
    assert repo.last_event_time(ada.id, session.id) == T0 + timedelta(minutes=7)


def test_manual_event_needs_a_person(repo: Repository) -> None:
    session = repo.get_or_create_session("Maths", started_at=T0)
    with pytest.raises(InvalidInput, match="needs a person"):
        repo.add_event(None, session.id, T0, "manual")
    event = repo.add_event(None, session.id, T0, "manual", person_name="Visitor")
    assert (event.person_id, event.person_name) == (None, "Visitor")


def test_event_for_unknown_person_or_session_is_not_found(repo: Repository) -> None:
    session = repo.get_or_create_session("Maths", started_at=T0)
    with pytest.raises(NotFound, match="no person with id 42"):
        repo.add_event(42, session.id, T0, "camera")
    with pytest.raises(NotFound, match="no attendance session with id 42"):
        repo.add_event(repo.add_person("Ada").id, 42, T0, "camera")
    assert repo.list_events() == []


def test_end_session_and_remove_event(repo: Repository) -> None:
    session = repo.get_or_create_session("Maths", started_at=T0)
    with pytest.raises(InvalidInput, match="before session 'Maths' started"):
        repo.end_session(session.id, T0 - timedelta(hours=1))
    assert repo.end_session(session.id, T0 + timedelta(hours=1)).ended_at == T0 + timedelta(hours=1)
    event = repo.add_event(repo.add_person("Ada").id, session.id, T0, "camera")
    repo.remove_event(event.id)
    assert repo.list_events() == []
    with pytest.raises(NotFound):
        repo.remove_event(event.id)
