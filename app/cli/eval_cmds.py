"""``eval``: verification accuracy on an LFW-style pairs file."""

from __future__ import annotations

import argparse
import os

from app.cli.common import print_json, stderr_progress
from app.text import count
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.context import AppContext


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="verification accuracy on an LFW-style pairs.txt (k folds)")
    p.add_argument("--pairs", required=True, metavar="PAIRS.txt")
    p.add_argument("--images", required=True, metavar="DIR", help="folder of <name>/<name>_NNNN.jpg")
    p.add_argument("--per-fold", type=int, metavar="N", help="use only the first N same and N different pairs per fold")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="processes (default: up to 2)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace, ctx: AppContext) -> int:
    from models.evaluation import evaluate, read_pairs

    pairs = read_pairs(args.pairs, args.images, args.per_fold)
    result = evaluate(ctx.config.engine, pairs, args.workers, stderr_progress)
    if args.json:
        print_json(result.as_dict())
        return 0
    cmp = result.metric.symbol
    print(
        f"{result.backend}/{result.detector}: accuracy {100 * result.accuracy:.2f}% ± {100 * result.accuracy_std:.2f} "
        f"over {result.folds} folds ({result.pairs} pairs, {result.images} images)\n"
        f"threshold: same if {result.metric} {cmp} {result.threshold:.4f}; ROC AUC {result.auc:.4f}; "
        f"TAR {100 * result.tar_at_far:.2f}% at FAR {result.far:g}\n"
        f"no face detected in {count(result.no_face, 'image')} (fallback: {result.fallback}); {result.seconds:.0f} s"
    )
    return 0
