"""Small helpers shared by the CLI commands: progress on stderr, JSON output, date parsing."""

from __future__ import annotations

import json
import sys
import unicodedata
from datetime import date, datetime, time, timezone
from typing import Any, Collection, Sequence

from common.errors import InvalidInput


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


def engine_name_problem(backend: str | None, detector: str | None) -> str | None:
    """What is wrong with ``--backend``/``--detector`` (an unknown name, with the known ones, fine-tuned backends
    in the model cache included), or ``None``."""
    from app.config import default_cache_dir
    from models.detectors import known_detectors
    from models.embedders.registry import known_backends

    names = known_backends(default_cache_dir())
    # "remote" means the backend named in --remote-url; build_config checks that URL.
    if backend is not None and backend != "remote" and backend not in names:
        return f"unknown backend {backend!r} (--backend); known backends: {', '.join(names)}"
    if detector is not None and detector not in known_detectors():
        return f"unknown detector {detector!r} (--detector); known detectors: {', '.join(known_detectors())}"
    return None


def table_lines(header: Sequence[str], rows: Sequence[Sequence[str]], right: Collection[int] = ()) -> list[str]:
    """``rows`` under ``header`` as aligned text columns (two spaces apart; columns in ``right`` right-aligned)."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = []
    for row in (header, *rows):
        cells = [str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
    return lines


def printable(text: str, limit: int = 200) -> str:
    """``text`` safe to print on a terminal: control characters and escape codes shown as ``\\x1b``-style
    escapes (names stored before they were refused), cut to ``limit`` characters with "…"."""
    safe = "".join(c if unicodedata.category(c)[0] != "C" else ascii(c)[1:-1] for c in text)
    return safe if len(safe) <= limit else safe[:limit] + "…"
