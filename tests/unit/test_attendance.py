import csv
from datetime import datetime, timedelta, timezone

import pytest

from app.services.attendance import AttendanceMarker, neutralise, write_csv
from common.errors import StorageError
from db.database import open_database
from db.repositories import Repository


@pytest.fixture
def repo():
    db = open_database("sqlite://")
    yield Repository(db)
    db.close()


def test_spreadsheet_formulas_are_neutralised():
    assert neutralise("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    assert neutralise("+1") == "'+1" and neutralise("-2") == "'-2" and neutralise("@A1") == "'@A1"
    assert neutralise("Ada Lovelace") == "Ada Lovelace" and neutralise(None) == ""


def test_a_person_is_marked_once_per_session(repo):
    ada = repo.add_person("Ada")
    session = repo.get_or_create_session("Maths")
    marker = AttendanceMarker(repo, session)
    t0 = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
    assert marker.mark(ada.id, t0, score=0.3) is not None
    assert marker.mark(ada.id, t0 + timedelta(minutes=30)) is None
    # a new marker for the same session (app restarted) still knows
    assert AttendanceMarker(repo, session).mark(ada.id, t0 + timedelta(hours=1)) is None
    assert len(repo.list_events(session_id=session.id)) == 1


def test_cooldown_allows_a_new_mark_after_it_passes(repo):
    ada = repo.add_person("Ada")
    marker = AttendanceMarker(repo, repo.get_or_create_session("Lab"), cooldown_s=600)
    t0 = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
    assert marker.mark(ada.id, t0)
    assert marker.mark(ada.id, t0 + timedelta(minutes=5)) is None
    assert marker.mark(ada.id, t0 + timedelta(minutes=11))


def test_csv_has_a_header_iso_times_and_neutralised_names(repo, tmp_path):
    evil = repo.add_person("=cmd|'/C calc'!A0", external_id="S-1")
    session = repo.get_or_create_session("Maths")
    repo.add_event(evil.id, session.id, datetime(2026, 11, 25, 9, 2, tzinfo=timezone.utc), "camera", 0.31, "dlib")
    out = tmp_path / "a.csv"
    assert write_csv(out, repo.list_events()) == 1
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["time", "name", "external_id", "session", "source", "score", "backend", "station"]
    assert rows[1][1].startswith("'=") and rows[1][2] == "S-1" and rows[1][3] == "Maths"
    assert datetime.fromisoformat(rows[1][0]) == datetime(2026, 11, 25, 9, 2, tzinfo=timezone.utc)


def test_unwritable_csv_path_is_a_clear_error(repo, tmp_path):
    with pytest.raises(StorageError, match="cannot write"):
        write_csv(tmp_path / "no" / "such" / "dir.csv", [])


def test_csv_names_the_station_that_recorded_each_mark(tmp_path):
    db = open_database("sqlite://")
    door1, door2, old = Repository(db, station="Front door"), Repository(db, station="=Back door"), Repository(db)
    session = door1.get_or_create_session("Maths")
    t0 = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
    for i, repo in enumerate((door1, door2, old)):
        person = repo.add_person(f"P{i}")
        assert repo.mark_if_due(person.id, session.id, t0 + timedelta(minutes=i), "camera") is not None
    out = tmp_path / "a.csv"
    write_csv(out, door1.list_events())
    rows = list(csv.DictReader(out.open()))
    db.close()
    assert {r["name"]: r["station"] for r in rows} == {"P0": "Front door", "P1": "'=Back door", "P2": ""}
