"""Small helpers shared by the CLI commands: progress on stderr, JSON output, date parsing."""

from __future__ import annotations

import json
import sys
import unicodedata
from datetime import date, datetime, time, timezone
from typing import Any

from models.errors import InvalidInput


def stderr_progress(done: int, total: int, text: str) -> None:
    """A one-line text progress bar on stderr (overwritten in place)."""
    if not sys.stderr.isatty():
        return
    width = 30
    filled = int(width * done / total) if total else width
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {text[:40]:<40}")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def print_json(value: Any) -> None:
    """Print ``value`` as JSON on stdout."""
    print(json.dumps(value, ensure_ascii=False))


def parse_date(text: str | None, end: bool = False) -> datetime | None:
    """A ``YYYY-MM-DD`` or ISO date-time as an aware UTC datetime (local time when no offset is given).

    With ``end`` a bare date means the end of that day (the next midnight).

    Raises:
        InvalidInput: not a date.
    """
    if not text:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day, time.min)
            if end:
                moment = datetime.fromordinal(day.toordinal() + 1)
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # interpret as local time
    return moment.astimezone(timezone.utc)


def printable(text: str, limit: int = 200) -> str:
    """``text`` safe to print on a terminal: control characters and escape codes shown as ``\\x1b``-style
    escapes (names stored before they were refused), cut to ``limit`` characters with "…"."""
    safe = "".join(c if unicodedata.category(c)[0] != "C" else ascii(c)[1:-1] for c in text)
    return safe if len(safe) <= limit else safe[:limit] + "…"
