"""``db check`` and ``db upgrade``: where the database schema stands, and bringing it up to date.

Every other command migrates the database when it first opens it; these two let an administrator look first
(``check`` changes nothing) and migrate a site's PostgreSQL database once, before the stations start.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.context import AppContext
    from db import SchemaStatus


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("db", help="check or upgrade the database schema (SQLite file or PostgreSQL server)")
    actions = p.add_subparsers(dest="db_action", metavar="ACTION", required=True, parser_class=type(p))
    check = actions.add_parser("check", help="say which database is in use and whether its schema is current (exit 1 if not)")
    check.set_defaults(func=cmd_check)
    upgrade = actions.add_parser("upgrade", help="migrate the database to this Rollcall's schema (SQLite files are backed up first)")
    upgrade.set_defaults(func=cmd_upgrade)


def _describe(status: SchemaStatus) -> str:
    current = status.current or "empty (no Rollcall tables yet)"
    return f"{status.kind} database {status.label}: schema {current}, this Rollcall writes {status.head}"


def _newer(status: SchemaStatus) -> str:
    return (
        f"error: {status.label} has schema revision {status.current!r}, written by a newer Rollcall; "
        "upgrade Rollcall on this station (nothing was changed)"
    )


def cmd_check(args: argparse.Namespace, ctx: AppContext) -> int:
    """Print the database and its schema state; exit 0 only when it is current."""
    from db import schema_status

    status = schema_status(ctx.config.db_url)
    print(_describe(status))
    if not status.known:
        print(_newer(status), file=sys.stderr)
        return 1
    if not status.up_to_date:
        print("the schema is behind: run `python main.py db upgrade` (every command also upgrades it on first use)")
        return 1
    print(f"up to date; this station records attendance as {ctx.config.station!r}")
    return 0


def cmd_upgrade(args: argparse.Namespace, ctx: AppContext) -> int:
    """Migrate to head and say from which revision."""
    from db import schema_status

    before = schema_status(ctx.config.db_url)
    if not before.known:
        print(_newer(before), file=sys.stderr)
        return 1
    if before.up_to_date:
        print(f"{_describe(before)}: nothing to do")
        return 0
    ctx.database  # opening migrates (backing a SQLite file up first)
    after = schema_status(ctx.config.db_url)
    print(f"upgraded {after.kind} database {after.label} from {before.current or 'empty'} to {after.current}")
    return 0
