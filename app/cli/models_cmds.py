"""``models list | fetch | import | remove | export``: the weights cache from the command line.

Also home of :class:`StderrProgress`, the text progress bar other commands use for long jobs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TextIO

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.context import AppContext


class StderrProgress:
    """A ``progress(done, total, text)`` callable drawing one updating line on a terminal stream.

    Byte counts over 1 MiB are shown in MB. Redraws at most ten times a second, and always on completion.
    """

    def __init__(self, stream: TextIO | None = None, width: int = 30, unit: str = "") -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.unit = unit
        self._last = 0.0
        self._open = False

    def __call__(self, done: int, total: int, text: str) -> None:
        now = time.monotonic()
        finished = total > 0 and done >= total
        if not finished and now - self._last < 0.1:
            return
        self._last = now
        if total > 0:
            filled = int(self.width * min(done, total) / total)
            bar = "#" * filled + "-" * (self.width - filled)
            line = f"{text} [{bar}] {100 * done / total:5.1f}% {self._amount(done)}/{self._amount(total)}"
        else:
            line = f"{text} ..."
        self.stream.write("\r" + line.ljust(79))
        self._open = True
        if finished:
            self.close()
        self.stream.flush()

    def _amount(self, n: int) -> str:
        return f"{n / 1e6:.1f} MB" if self.unit == "bytes" else str(n)

    def close(self) -> None:
        """End the line (call once the job is over)."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list, download, import or remove model weights")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    ls = msub.add_parser("list", help="every known model, installed or not")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=cmd_list)
    fetch = msub.add_parser("fetch", help="download, verify (sha256) and install a model")
    fetch.add_argument("name", metavar="NAME")
    fetch.add_argument("--force", action="store_true", help="download again even when installed")
    fetch.set_defaults(func=cmd_fetch)
    imp = msub.add_parser("import", help="install a model from a file downloaded elsewhere (verified by sha256)")
    imp.add_argument("name", metavar="NAME")
    imp.add_argument("file", metavar="FILE", type=Path)
    imp.set_defaults(func=cmd_import)
    rm = msub.add_parser("remove", help="delete a model from the cache")
    rm.add_argument("name", metavar="NAME")
    rm.set_defaults(func=cmd_remove)
    ex = msub.add_parser(
        "export", help="write a backend as a SavedModel for TensorFlow Serving (DIR/NAME/VERSION/)",
        description="Write backend NAME as a TensorFlow SavedModel in TF Serving's layout DIR/NAME/VERSION/, with a "
        "serving_default signature taking aligned uint8 crops and giving unit embeddings; then run TensorFlow "
        "Serving on DIR and start stations with --backend remote --remote-url http://HOST:8501/v1/models/NAME. "
        "Possible for facenet, facenet512 and fine-tuned models (with a SavedModel); dlib, arcface and ONNX-only "
        "backends are served with `python main.py serve` instead.",
    )
    ex.add_argument("name", metavar="NAME")
    ex.add_argument("--savedmodel", required=True, metavar="DIR", type=Path, help="TF Serving's model base folder")
    ex.add_argument("--version", type=int, metavar="N", help="version folder (default: one more than the highest)")
    ex.set_defaults(func=cmd_export)


def _store(ctx: AppContext):  # -> WeightStore; imported here so `--help` stays light
    from models.weights import WeightStore

    return WeightStore(ctx.config.cache_dir)


def cmd_list(args: argparse.Namespace, ctx: AppContext) -> int:
    from app.services.training import list_user_backends

    rows = _store(ctx).list()
    tuned = list_user_backends(ctx.config)
    if args.json:
        out = [
            {"name": r.name, "backend": r.backend, "version": r.version, "licence": r.licence, "installed": r.installed,
             "verified": r.verified, "size": r.size, "path": str(r.path), "description": r.description}
            for r in rows
        ]
        out += [{"name": t["name"], "backend": t["name"], "user": True, "installed": True, "path": t["path"],
                 "description": t.get("description", ""), "threshold": t.get("threshold"), "created": t.get("created")}
                for t in tuned]
        print(json.dumps(out, indent=2))
        return 0
    for t in tuned:
        print(f"{t['name']:12} {'tuned (user backend)':24} {'':>7}  {'yours':15} {t.get('description', '')}")
        print(f"{'':12} {t['path']}")
    for r in rows:
        state = ("installed" if r.verified else "installed (custom file)") if r.installed else "not installed"
        size = f"{r.size / 1e6:.0f} MB" if r.size else "? MB"
        print(f"{r.name:12} {state:24} {size:>7}  {r.licence:15} {r.description}")
        if r.installed:
            print(f"{'':12} {r.path}")
    return 0


def cmd_fetch(args: argparse.Namespace, ctx: AppContext) -> int:
    bar = StderrProgress(unit="bytes")
    try:
        path = _store(ctx).fetch(args.name, bar, force=args.force)
    finally:
        bar.close()
    if path is None:
        print("cancelled; nothing was installed (fetch again to resume the download)", file=sys.stderr)
        return 1
    print(path)
    return 0


def cmd_import(args: argparse.Namespace, ctx: AppContext) -> int:
    bar = StderrProgress(unit="bytes")
    try:
        path = _store(ctx).import_file(args.name, args.file, bar)
    finally:
        bar.close()
    print(path)
    return 0


def cmd_remove(args: argparse.Namespace, ctx: AppContext) -> int:
    from app.services.training import list_user_backends, remove_user_backend

    if any(t["name"] == args.name for t in list_user_backends(ctx.config)):
        remove_user_backend(ctx.config, args.name)
        print(f"removed tuned model {args.name}")
        return 0
    if _store(ctx).remove(args.name):
        print(f"removed {args.name}")
    else:
        print(f"{args.name} was not installed")
    return 0


def cmd_export(args: argparse.Namespace, ctx: AppContext) -> int:
    from models.convert.savedmodel import export_backend

    flip = bool(ctx.config.engine.embed_options.get("flip", True))
    bar = StderrProgress()
    try:
        target = export_backend(args.name, ctx.config.cache_dir, args.savedmodel, args.version, flip, bar)
    finally:
        bar.close()
    root = target.parent.parent.resolve()
    print(target)
    print(
        f"serve it with: docker run -p 8501:8501 -v {root}:/models -e MODEL_NAME={args.name} tensorflow/serving\n"
        f"then: python main.py --backend remote --remote-url http://HOST:8501/v1/models/{args.name} ...",
        file=sys.stderr,
    )
    return 0
