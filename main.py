"""Rollcall — face-recognition attendance. The composition root.

``python main.py`` opens the window; ``python main.py COMMAND ...`` runs a job headless (``--help`` lists
them). This module parses the command line, builds one :class:`app.context.AppContext` and hands it down.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys
from pathlib import Path
from typing import Mapping, Sequence

from app.cli import COMMAND_MODULES

log = logging.getLogger("rollcall")

REQUIRED_MODULES = ("numpy", "cv2", "dlib", "sqlalchemy", "platformdirs", "PySide6")
"""Packages from requirements.txt without which nothing runs (looked up, not imported)."""
_REEXEC_MARK = "ROLLCALL_REEXEC"
NO_DISPLAY = "no display found: run it on a desktop, or use the command line — `python main.py --help`"


def missing_module() -> str | None:
    """The first of :data:`REQUIRED_MODULES` this Python cannot import, or ``None`` when all are there."""
    return next((name for name in REQUIRED_MODULES if importlib.util.find_spec(name) is None), None)


def ensure_dependencies(root: Path) -> None:
    """Make sure Rollcall runs on a Python that has its packages.

    Started with another Python (``python main.py`` outside the virtual environment), re-run the same command
    with ``root/.venv``'s Python when there is one; otherwise exit with one line saying what to run.
    """
    missing = missing_module()
    if missing is None:
        return
    venv_python = root / ".venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if venv_python.exists() and not os.environ.get(_REEXEC_MARK):
        os.environ[_REEXEC_MARK] = "1"  # the child must not re-run itself again if the venv is broken
        os.execv(str(venv_python), [str(venv_python), str(root / "main.py"), *sys.argv[1:]])
    sys.exit(
        f"error: this Python ({sys.executable}) lacks the package {missing!r} Rollcall needs; "
        "run `make run` (it sets up .venv) or `.venv/bin/python main.py`"
    )


def quiet_opencv(verbose: bool) -> None:
    """Keep OpenCV's own log lines (``[ WARN:0@0.6] ...``) out of the terminal unless ``--verbose``.

    Rollcall reports what failed in its own words; OpenCV reads ``OPENCV_LOG_LEVEL`` when it is first imported,
    so this runs before anything imports ``cv2`` (and adjusts an already imported one).
    """
    if verbose:
        return
    os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
    cv2 = sys.modules.get("cv2")
    if cv2 is not None:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


def display_problem(env: Mapping[str, str] | None = None, platform: str | None = None) -> str | None:
    """Why the window cannot open here (no X11/Wayland display on Linux), or ``None`` when it can.

    ``QT_QPA_PLATFORM`` set to a platform that needs no display (``offscreen``, ``vnc``, ``eglfs``...) counts as one.
    """
    env = os.environ if env is None else env
    if not (platform or sys.platform).startswith("linux"):
        return None
    wanted = [p.strip() for p in env.get("QT_QPA_PLATFORM", "").split(";") if p.strip()] or ["xcb", "wayland"]
    for name in wanted:
        if name.startswith("xcb"):
            if env.get("DISPLAY"):
                return None
        elif name.startswith("wayland"):
            if env.get("WAYLAND_DISPLAY"):
                return None
        else:
            return None
    return NO_DISPLAY


def startup_problem(args: argparse.Namespace) -> str | None:
    """A reason to stop before doing anything: no display for the window, or an unknown backend or detector."""
    from app.cli.common import engine_name_problem

    if args.command is None:
        problem = display_problem()
        if problem:
            return problem
    reembed_backend = getattr(args, "reembed_backend", None)  # `reembed --backend NAME`
    return engine_name_problem(args.backend, args.detector) or engine_name_problem(reembed_backend, None)


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
    quiet_opencv(args.verbose)
    problem = startup_problem(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    from app.config import build_config
    from app.context import AppContext
    from app.files import warn_if_shared
    from common.errors import RollcallError

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
    ensure_dependencies(Path(__file__).resolve().parent)
    sys.exit(run())
