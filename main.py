"""Rollcall — face-recognition attendance. The composition root.

``python main.py`` opens the window; ``python main.py COMMAND ...`` runs a job headless (``--help`` lists
them). This module parses the command line, builds one :class:`app.context.AppContext` and hands it down.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import Sequence

from app.cli import COMMAND_MODULES

log = logging.getLogger("rollcall")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr and exit code 1."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(1, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (global options + every sub-command)."""
    parser = _Parser(
        prog="python main.py",
        description="Rollcall: face-recognition attendance. Without a command, opens the window.",
    )
    parser.add_argument("--data-dir", metavar="DIR", help="where the database, settings and log live (env ROLLCALL_DATA)")
    parser.add_argument("--db", metavar="URL", help="SQLAlchemy database URL (default: SQLite in the data folder)")
    parser.add_argument("--backend", metavar="NAME", help="embedding backend (see `models list`); default dlib")
    parser.add_argument("--remote-url", metavar="URL", help="embed on a TF Serving-style model server, "
                        "http://HOST:PORT/v1/models/NAME (`--backend remote` = that NAME; env ROLLCALL_REMOTE_URL)")
    parser.add_argument("--detector", metavar="NAME", help="face detector: hog (fast), cnn (slow on a CPU), ...")
    parser.add_argument("--threshold", type=float, metavar="X", help="match threshold in the backend's metric")
    parser.add_argument("--source", metavar="SRC", help="window: start the live view on this camera index, file or URL")
    parser.add_argument("-v", "--verbose", action="store_true", help="log diagnostics to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    os.umask(0o077)  # the data folder holds faces and names: what Rollcall creates is its owner's only
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.verbose:
        logging.getLogger("app").setLevel(logging.DEBUG)  # names of people appear in the log only with -v
    from app.config import build_config
    from app.context import AppContext
    from app.files import warn_if_shared
    from models.errors import RollcallError

    ctx = None
    try:
        config = build_config(args.data_dir, args.db, args.backend, args.detector, args.threshold, args.remote_url)
        warn_if_shared(config.data_dir)
        ctx = AppContext(config)
        if args.command is None:
            from app.ui.launch import launch_window

            return launch_window(ctx, source=args.source)
        return int(args.func(args, ctx))
    except RollcallError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if ctx is not None:
            ctx.close()


if __name__ == "__main__":
    sys.exit(run())
