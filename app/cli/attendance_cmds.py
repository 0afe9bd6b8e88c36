"""``export`` (attendance as CSV) and ``sessions``."""

from __future__ import annotations

import argparse

from app.cli.common import parse_date
from app.text import count
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.context import AppContext



def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write attendance events to a CSV file")
    p.add_argument("--out", required=True, metavar="FILE.csv")
    p.add_argument("--session", metavar="NAME", help="only this session")
    p.add_argument("--from", dest="start", metavar="DATE", help="from this date (YYYY-MM-DD, local time)")
    p.add_argument("--to", dest="end", metavar="DATE", help="up to and including this date")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("sessions", help="list attendance sessions")
    p.set_defaults(func=cmd_sessions)


def cmd_export(args: argparse.Namespace, ctx: AppContext) -> int:
    from app.services.attendance import write_csv
    from common.errors import NotFound

    start, end = parse_date(args.start), parse_date(args.end, end=True)
    session_id = None
    if args.session:
        match = [s for s in ctx.repo.list_sessions() if s.name == args.session]
        if not match:
            raise NotFound(f"no session named {args.session!r}; `python main.py sessions` lists them")
        session_id = match[0].id
    events = ctx.repo.list_events(session_id=session_id, start=start, end=end)
    n = write_csv(args.out, events)
    print(f"wrote {count(n, 'attendance row')} to {args.out}")
    return 0


def cmd_sessions(args: argparse.Namespace, ctx: AppContext) -> int:
    sessions = ctx.repo.list_sessions()
    if not sessions:
        print("no sessions yet: `python main.py watch --source 0` starts one")
    for s in sessions:
        print(f"{s.name}: started {s.started_at.astimezone():%Y-%m-%d %H:%M}, {count(s.n_events, 'mark')}")
    return 0
