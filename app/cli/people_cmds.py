"""``enroll``, ``enroll-folder``, ``people`` and ``remove``."""

from __future__ import annotations

import argparse
import sys

from app.cli.common import print_json, printable, stderr_progress, table_lines
from app.text import count
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.context import AppContext
    from app.services.enrollment import EnrollResult


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("enroll", help="enroll one person from photos (one face per photo)")
    p.add_argument("--name", required=True, help="the person's display name")
    p.add_argument("--id", dest="external_id", help="optional external id, e.g. a student number (unique)")
    p.add_argument("paths", nargs="+", metavar="IMAGE_OR_DIR")
    p.set_defaults(func=cmd_enroll)

    p = sub.add_parser("enroll-folder", help="enroll everyone in DIR: one sub-folder per person, named after them")
    p.add_argument("folder", metavar="DIR")
    p.set_defaults(func=cmd_enroll_folder)

    p = sub.add_parser("people", help="list enrolled people")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_people)

    p = sub.add_parser("remove", help="remove a person with all their photos and vectors")
    p.add_argument("person", metavar="NAME_OR_ID")
    p.set_defaults(func=cmd_remove)


def cmd_enroll(args: argparse.Namespace, ctx: AppContext) -> int:
    from app.services.enrollment import enroll_paths

    result = enroll_paths(ctx, args.name, args.external_id, args.paths, stderr_progress, strict=True)
    _print_notes(result)
    person = result.person
    if result.stored == 0:
        print("nothing new was stored: every photo is stored already")
        return 0
    print(f"enrolled {printable(person.name)} (#{person.id}) with {count(result.stored, 'new photo')}; {person.sample_count} in all")
    return 0


def cmd_enroll_folder(args: argparse.Namespace, ctx: AppContext) -> int:
    from app.services.enrollment import enroll_folder

    results = enroll_folder(ctx, args.folder, stderr_progress)
    failed = 0
    for r in results:
        if r.person is not None:
            print(f"enrolled {printable(r.person.name)} (#{r.person.id}) with {count(r.stored, 'new photo')}")
        else:
            failed += 1
        for source, problem in r.rejected:
            print(f"skipped: {printable(problem, 300)}", file=sys.stderr)
        _print_notes(r)
    if failed:
        folders = "1 person folder has" if failed == 1 else f"{failed} person folders have"
        print(f"error: {folders} no usable photo; nothing was stored for them", file=sys.stderr)
        return 1
    return 0


def _print_notes(result: EnrollResult) -> None:
    """One stderr line per photo skipped because it is stored already."""
    for _, note in result.duplicates:
        print(f"note: {printable(note, 300)}", file=sys.stderr)


def cmd_people(args: argparse.Namespace, ctx: AppContext) -> int:
    people = ctx.repo.list_people()
    if args.json:
        print_json(
            [
                {
                    "id": p.id,
                    "name": p.name,
                    "external_id": p.external_id,
                    "samples": p.sample_count,
                    "created_at": p.created_at.isoformat(),
                    "last_seen": p.last_seen.isoformat() if p.last_seen else None,
                }
                for p in people
            ]
        )
        return 0
    if not people:
        print("nobody is enrolled yet: `python main.py enroll --name NAME PHOTO...`")
        return 0
    rows = [
        (f"#{p.id}", printable(p.name), printable(p.external_id or ""), str(p.sample_count),
         p.last_seen.astimezone().strftime("%Y-%m-%d %H:%M") if p.last_seen else "never")  # fmt: skip
        for p in people
    ]
    for line in table_lines(("#", "Name", "Id", "Photos", "Last seen"), rows, right={0, 3}):
        print(line)
    return 0


def cmd_remove(args: argparse.Namespace, ctx: AppContext) -> int:
    person = ctx.repo.find_person(args.person)
    ctx.repo.remove_person(person.id)
    print(f"removed {printable(person.name)} (#{person.id}) with their {count(person.sample_count, 'photo')} and vectors")
    return 0
