"""Attendance sessions and the events (people seen or marked present) recorded in them."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any, Optional

from sqlalchemy import Select, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from common.errors import InvalidInput, NotFound, StorageError
from db._common import RepositoryBase, clean_name, clean_text, person_row, require_utc, utcnow
from db.records import EventRecord, SessionRecord
from db.schema import AttendanceEvent, AttendanceSession

SESSIONS_HINT = "`python main.py sessions` lists them"


def _session_row(s: Session, session_id: int) -> AttendanceSession:
    row = s.get(AttendanceSession, session_id)
    if row is None:
        raise NotFound(f"no attendance session with id {session_id}; {SESSIONS_HINT}")
    return row


def _session_record(s: Session, row: AttendanceSession) -> SessionRecord:
    n = s.scalar(select(func.count(AttendanceEvent.id)).where(AttendanceEvent.session_id == row.id)) or 0
    return SessionRecord(row.id, row.name, row.started_at, row.ended_at, row.late_after, int(n))


def _events_query() -> Select[Any]:
    return select(AttendanceEvent, AttendanceSession.name).join(
        AttendanceSession, AttendanceSession.id == AttendanceEvent.session_id
    )


def _as_utc(value: datetime | str) -> datetime:
    """An aggregate over a time column comes back raw from SQLite (naive UTC, maybe text): make it aware."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _event_record(row: AttendanceEvent, session_name: str) -> EventRecord:
    return EventRecord(
        row.id, row.person_id, row.person_name, row.external_id, row.session_id, session_name,
        row.time, row.source, row.score, row.backend, row.station,
    )  # fmt: skip


class AttendanceRepository(RepositoryBase):
    """Stores attendance sessions and events; each method is one transaction."""

    def get_or_create_session(
        self, name: str, started_at: Optional[datetime] = None, late_after: Optional[datetime] = None
    ) -> SessionRecord:
        """The session called ``name``, created if it does not exist (an existing one is returned unchanged).

        Args:
            name: unique session name, e.g. ``"Maths 2026-11-25"``.
            started_at: aware start time; now when omitted.
            late_after: aware time after which arrivals count as late, or ``None``.

        Returns:
            The session.

        Raises:
            InvalidInput: blank name or naive datetimes.
        """
        checked = clean_name(name, "session name")
        start = require_utc(started_at, "start time") if started_at is not None else utcnow()
        late = require_utc(late_after, "late-after time") if late_after is not None else None
        for _ in range(2):  # a second try covers another process creating the same name concurrently
            try:
                with self._db.session() as s:
                    row = s.scalar(select(AttendanceSession).where(AttendanceSession.name == checked))
                    if row is None:
                        row = AttendanceSession(name=checked, started_at=start, late_after=late)
                        s.add(row)
                        s.flush()
                    return _session_record(s, row)
            except IntegrityError:
                continue
        raise StorageError(f"attendance session {checked!r} could not be created or read; try again")

    def list_sessions(self) -> list[SessionRecord]:
        """Every session, newest first."""
        with self._db.session(write=False) as s:
            rows = s.scalars(select(AttendanceSession).order_by(AttendanceSession.started_at.desc()))
            return [_session_record(s, row) for row in rows]

    def end_session(self, session_id: int, when: datetime) -> SessionRecord:
        """Mark a session as ended at ``when``.

        Raises:
            InvalidInput: ``when`` is naive or before the session started.
            NotFound: no such session.
        """
        end = require_utc(when, "end time")
        with self._db.session() as s:
            row = _session_row(s, session_id)
            if end < row.started_at:
                raise InvalidInput(
                    f"end time {end.isoformat()} is before session {row.name!r} started "
                    f"({row.started_at.isoformat()}); pass a later time"
                )
            row.ended_at = end
            s.flush()
            return _session_record(s, row)

    def add_event(
        self,
        person_id: Optional[int],
        session_id: int,
        time: datetime,
        source: str,
        score: Optional[float] = None,
        backend: Optional[str] = None,
        *,
        person_name: Optional[str] = None,
    ) -> EventRecord:
        """Record that someone attended, snapshotting their current name and external id.

        Args:
            person_id: who; ``None`` only for a manual entry of someone not stored, with ``person_name``.
            session_id: which session.
            time: aware time of the sighting or mark.
            source: ``"camera"``, ``"video"``, ``"manual"``, ...
            score: the match score for automatic recognitions.
            backend: the embedding backend that matched.
            person_name: the name to record when ``person_id`` is ``None``.

        Returns:
            The stored event.

        Raises:
            InvalidInput: no person given, naive time, blank source or a non-finite score.
            NotFound: no such person or session.
        """
        when = require_utc(time, "event time")
        clean_source = clean_text(source, "event source", 50)
        if score is not None and not math.isfinite(score):
            raise InvalidInput(f"score {score!r} must be a finite number")
        if person_id is None and not (person_name or "").strip():
            raise InvalidInput("an attendance event needs a person: pass a person id or, for manual entries, a name")
        with self._db.session() as s:
            return self._insert_event(s, person_id, session_id, when, clean_source, score, backend, person_name)

    def _insert_event(
        self,
        s: Session,
        person_id: Optional[int],
        session_id: int,
        when: datetime,
        source: str,
        score: Optional[float],
        backend: Optional[str],
        person_name: Optional[str] = None,
    ) -> EventRecord:
        """Insert one event inside the caller's transaction, snapshotting the person's name and external id."""
        if score is not None and not math.isfinite(score):
            raise InvalidInput(f"score {score!r} must be a finite number")
        session_row = _session_row(s, session_id)
        if person_id is not None:
            person = person_row(s, person_id)
            name, external = person.name, person.external_id
        else:
            name, external = clean_name(person_name or "", "person name"), None
        row = AttendanceEvent(
            person_id=person_id, person_name=name, external_id=external, session_id=session_id,
            time=when, source=source, score=score, backend=backend, station=self.station,
        )  # fmt: skip
        s.add(row)
        s.flush()
        return _event_record(row, session_row.name)

    def mark_if_due(
        self,
        person_id: int,
        session_id: int,
        time: datetime,
        source: str,
        cooldown_s: float = 0.0,
        score: Optional[float] = None,
        backend: Optional[str] = None,
    ) -> Optional[EventRecord]:
        """Record ``person_id`` in ``session_id`` unless they were already marked there, in one transaction.

        The check and the insert run inside one write transaction that first locks the session: ``BEGIN
        IMMEDIATE`` on SQLite takes the write lock, ``SELECT ... FOR UPDATE`` on the session's row does it on
        PostgreSQL (a second station waits there, then sees the first one's mark). So several processes or
        stations marking the same session never mark anyone twice.

        Args:
            person_id, session_id, time, source, score, backend: as for :meth:`add_event`.
            cooldown_s: 0 marks a person once per session; otherwise a new mark needs ``time`` to be at least
                this many seconds after their latest one.

        Returns:
            The stored event, or ``None`` when the person was already marked (within the cooldown).

        Raises:
            InvalidInput: naive time, blank source, non-finite score or cooldown.
            NotFound: no such person or session.
        """
        when = require_utc(time, "event time")
        if not math.isfinite(cooldown_s):
            raise InvalidInput(f"cooldown {cooldown_s!r} must be a finite number of seconds")
        with self._db.session() as s:
            if s.scalar(select(AttendanceSession.id).where(AttendanceSession.id == session_id).with_for_update()) is None:
                raise NotFound(f"no attendance session with id {session_id}; {SESSIONS_HINT}")
            last = s.scalar(
                select(func.max(AttendanceEvent.time)).where(
                    AttendanceEvent.person_id == person_id, AttendanceEvent.session_id == session_id
                )
            )
            if last is not None:
                last = _as_utc(last)
                if cooldown_s <= 0 or (when - last).total_seconds() < cooldown_s:
                    return None
            return self._insert_event(s, person_id, session_id, when, clean_text(source, "event source", 50), score, backend)

    def last_event_time(self, person_id: int, session_id: int) -> Optional[datetime]:
        """When ``person_id`` was last recorded in ``session_id``, or ``None`` (used to skip repeats)."""
        with self._db.session(write=False) as s:
            return s.scalar(
                select(AttendanceEvent.time)
                .where(AttendanceEvent.person_id == person_id, AttendanceEvent.session_id == session_id)
                .order_by(AttendanceEvent.time.desc())
                .limit(1)
            )

    def list_events(
        self,
        session_id: Optional[int] = None,
        person_id: Optional[int] = None,
        start: Optional[datetime] = None,
        end: Optional[datetime] = None,
    ) -> list[EventRecord]:
        """Attendance events, oldest first, filtered by any of session, person and time range.

        Args:
            session_id: only this session.
            person_id: only this person.
            start: only events at or after this aware time.
            end: only events before this aware time.

        Raises:
            InvalidInput: naive ``start`` or ``end``.
        """
        stmt = _events_query().order_by(AttendanceEvent.time, AttendanceEvent.id)
        if session_id is not None:
            stmt = stmt.where(AttendanceEvent.session_id == session_id)
        if person_id is not None:
            stmt = stmt.where(AttendanceEvent.person_id == person_id)
        if start is not None:
            stmt = stmt.where(AttendanceEvent.time >= require_utc(start, "start time"))
        if end is not None:
            stmt = stmt.where(AttendanceEvent.time < require_utc(end, "end time"))
        with self._db.session(write=False) as s:
            return [_event_record(row, name) for row, name in s.execute(stmt)]

    def remove_event(self, event_id: int) -> None:
        """Delete one attendance event (e.g. a false recognition).

        Raises:
            NotFound: no such event.
        """
        with self._db.session() as s:
            if s.get(AttendanceEvent, event_id) is None:
                raise NotFound(
                    f"no attendance event with id {event_id} (removed already?); the Attendance page lists the events"
                )
            s.execute(delete(AttendanceEvent).where(AttendanceEvent.id == event_id))
