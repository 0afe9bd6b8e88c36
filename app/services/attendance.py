"""Attendance: marking people present (once per session, or again after a cooldown) and CSV export."""

from __future__ import annotations

import csv
import errno
import io
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

from app.files import atomic_write
from common.errors import StorageError
from db.records import EventRecord, SessionRecord
from db.repositories import Repository

log = logging.getLogger(__name__)

CSV_HEADER = ("time", "name", "external_id", "session", "source", "score", "backend", "station")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def default_session_name(now: datetime | None = None) -> str:
    """A session name for today, e.g. ``"2026-11-25"``."""
    return (now or datetime.now()).strftime("%Y-%m-%d")


class AttendanceMarker:
    """Marks people present in one session, at most once (``cooldown_s == 0``) or once per cooldown.

    The rule is enforced by the database (:meth:`~db.attendance.AttendanceRepository.mark_if_due` checks and
    inserts in one write transaction), so several processes or stations on one session never mark anyone
    twice. The last mark time per person is also kept in memory, so the live loop does not query the database
    per frame for someone it marked itself.
    """

    def __init__(self, repo: Repository, session: SessionRecord, cooldown_s: float = 0.0) -> None:
        self.repo = repo
        self.session = session
        self.cooldown = timedelta(seconds=cooldown_s)
        self._last: dict[int, datetime] = {}

    def mark(
        self, person_id: int, when: datetime | None = None, source: str = "camera", score: float | None = None, backend: str | None = None
    ) -> EventRecord | None:
        """Record ``person_id`` as present; ``None`` when already marked (within the cooldown)."""
        when = when or datetime.now(timezone.utc)
        last = self._last.get(person_id)
        if last is not None and (self.cooldown.total_seconds() <= 0 or when - last < self.cooldown):
            return None
        event = self.repo.mark_if_due(
            person_id, self.session.id, when, source, self.cooldown.total_seconds(), score, backend
        )
        if event is None:  # marked already (maybe by another process): remember, so we do not ask again
            self._last[person_id] = self.repo.last_event_time(person_id, self.session.id) or when
            return None
        self._last[person_id] = when
        log.info("marked person #%d present in session #%d", person_id, self.session.id)
        log.debug("marked %s present in %s", event.person_name, self.session.name)  # names only with -v
        return event


def neutralise(value: object) -> str:
    """A CSV cell a spreadsheet will not run as a formula (``=``, ``+``, ``-``, ``@`` get a leading ``'``)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def event_row(event: EventRecord) -> list[str]:
    """One CSV row: local ISO-8601 time with offset, then the event's fields (neutralised)."""
    score = "" if event.score is None else f"{event.score:.4f}"
    local = event.time.astimezone().isoformat(timespec="seconds")
    values = (local, event.person_name, event.external_id, event.session_name, event.source, score, event.backend,
              event.station)  # fmt: skip
    return [neutralise(v) for v in values]


def write_csv(path: str | Path, events: list[EventRecord]) -> int:
    """Write ``events`` to ``path`` as UTF-8 CSV with a header row; returns the number of rows.

    The file is replaced atomically (temporary file, ``fsync``, rename): if writing fails (a full disk), an
    existing file at ``path`` is left as it was.

    Raises:
        StorageError: the file cannot be written.
    """
    target = Path(path)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    writer.writerows(event_row(e) for e in events)
    try:
        if target.is_dir():
            raise IsADirectoryError(errno.EISDIR, "it is a folder", str(target))
        atomic_write(target, buffer.getvalue().encode("utf-8"))
    except OSError as exc:
        raise StorageError(
            f"cannot write {target} ({exc.strerror or exc}); nothing was changed: free some space or choose another file"
        ) from exc
    return len(events)

