"""``watch``: headless live recognition on a camera, video file, stream or image folder, marking attendance."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import TYPE_CHECKING, Callable

from app.cli.common import print_json
from app.text import count

if TYPE_CHECKING:
    from app.context import AppContext
    from app.services.live import LiveUpdate
    from db.records import EventRecord


EXIT_SOURCE_FAILED = 3
"""Exit code of ``watch`` when a live source stopped delivering frames (a normal end exits 0)."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "watch",
        help="recognize faces on a camera/video/stream and mark attendance",
        description="Recognize faces live and mark each person present once per session (see the cooldown "
        "setting). Video files are processed as fast as possible. Ctrl-C stops and prints the summary. Exit code: "
        "0 at the end of the source, 1 for bad input, 3 when a camera or stream stops delivering frames.",
    )
    p.add_argument("--source", required=True, metavar="SRC", help="camera index (0), video file, image folder or rtsp:// URL")
    p.add_argument("--session", metavar="NAME", help="attendance session (default: today's date)")
    p.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames")
    p.add_argument("--json", action="store_true", help="print one JSON object per attendance event")
    p.add_argument(
        "--liveness", action="store_true",
        help="mark a face only after it blinks and moves its head (against a photo held up to the camera; "
        "also on when the liveness setting is)",
    )
    p.set_defaults(func=cmd_watch)


def event_json(event: EventRecord) -> dict[str, object]:
    """The stable ``watch --json`` line: name, person_id, time (ISO 8601 with offset), score."""
    score = None if event.score is None else round(event.score, 4)
    return {"name": event.person_name, "person_id": event.person_id, "time": event.time.isoformat(), "score": score}


def event_line(event: EventRecord) -> str:
    """A human line for one attendance event, in local time."""
    local = event.time.astimezone().strftime("%H:%M:%S")
    score = "" if event.score is None else f" (score {event.score:.3f})"
    return f"✓ {event.person_name} present at {local}{score} in {event.session_name}"


def already_marked_line(name: str, session: str) -> str:
    """What ``watch`` says when it recognises someone who was marked in ``session`` before this run."""
    return (
        f"· {name} seen, already marked present in session {session!r} "
        "(to mark people again, start a new session: --session NAME)"
    )


class AlreadyMarked:
    """Notices the people the recognizer names but the marker did not mark: they were marked before.

    Feed it every :class:`LiveUpdate` (:meth:`on_update`); it calls ``say`` once per such person.
    """

    def __init__(self, session: str, say: Callable[[str], None]) -> None:
        self.session = session
        self.say = say
        self.marked: set[int] = set()
        self.names: dict[int, str] = {}

    def on_update(self, update: LiveUpdate) -> None:
        from models.tracking import TrackState

        self.marked.update(e.person_id for e in update.events)
        for view in update.tracks:
            pid = view.person_id
            if view.state is not TrackState.KNOWN or pid is None or pid in self.marked or pid in self.names:
                continue
            self.names[pid] = view.name or f"#{pid}"
            self.say(already_marked_line(self.names[pid], self.session))


def cmd_watch(args: argparse.Namespace, ctx: AppContext) -> int:
    from app.services.attendance import default_session_name
    from app.services.live import live_config, run_watch
    from common.errors import InvalidInput, NotFound

    if args.max_frames is not None and args.max_frames <= 0:
        raise InvalidInput(f"--max-frames {args.max_frames} must be a positive number of frames")
    from app.cli.common import stderr_progress
    from app.services.backends import ensure_embeddings

    ensure_embeddings(ctx, stderr_progress)  # after a backend switch: embed the stored crops first
    if len(ctx.gallery()) == 0:
        raise NotFound(
            f"nobody is enrolled for the {ctx.config.engine.backend} backend; enroll people first "
            "(python main.py enroll --name NAME PHOTO...)"
        )
    session = args.session or default_session_name()

    def on_event(event: EventRecord) -> None:
        print_json(event_json(event)) if args.json else print(event_line(event))
        sys.stdout.flush()

    def say(line: str) -> None:  # --json keeps stdout for attendance events only
        print(line, file=sys.stderr if args.json else sys.stdout, flush=True)

    already = AlreadyMarked(session, say)
    stop = threading.Event()
    with _stop_on_ctrl_c(stop):
        summary = run_watch(
            ctx, args.source, session, args.max_frames, on_event, stop.is_set,
            config=live_config(ctx, True if args.liveness else None), on_update=already.on_update,
        )
    stages = ", ".join(f"{k} {v:.1f}" for k, v in summary.stage_ms.items())
    before = f" ({count(len(already.names), 'person')} seen had been marked already)" if already.names else ""
    print(
        f"watched {summary.frames} frames in {summary.seconds:.1f} s ({summary.fps:.1f} frames/s); "
        f"{len(summary.events)} marked in session {session!r}{before}; ms per frame: {stages}",
        file=sys.stderr,
    )
    if summary.failure:  # exit code 3: the stream stalled or the camera dropped (0: a normal end)
        print(f"error: {summary.failure}", file=sys.stderr)
        return EXIT_SOURCE_FAILED
    return 0


class _stop_on_ctrl_c:
    """While active, Ctrl-C sets ``stop`` (the loop ends and the summary is printed) instead of aborting."""

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        self._previous: object = None

    def __enter__(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, lambda *_: self._stop.set())

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)  # type: ignore[arg-type]
