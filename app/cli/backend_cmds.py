"""``reembed`` (embed stored faces for a backend) and ``calibrate`` (a threshold from the enrolled people)."""

from __future__ import annotations

import argparse
import json
import sys

from app.cli.models_cmds import StderrProgress
from app.text import count
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.context import AppContext


def register(sub: argparse._SubParsersAction) -> None:
    re = sub.add_parser(
        "reembed", help="embed the stored face crops for a backend (after switching; resumable, Ctrl-C to stop)"
    )
    re.add_argument("--backend", dest="reembed_backend", metavar="NAME",
                    help="backend to embed for (default: the current one, see the global --backend)")
    re.set_defaults(func=cmd_reembed)
    cal = sub.add_parser("calibrate", help="propose a match threshold from the enrolled people")
    cal.add_argument("--fpir", type=float, default=0.01, metavar="SHARE",
                     help="share of strangers that may be named as someone enrolled, with this many people "
                          "enrolled (default 0.01: about 1 stranger in 100)")
    cal.add_argument("--apply", action="store_true", help="save the proposed threshold for this backend")
    cal.add_argument("--json", action="store_true", help="machine-readable output")
    cal.set_defaults(func=cmd_calibrate)


def cmd_reembed(args: argparse.Namespace, ctx: AppContext) -> int:
    from app.services.backends import reembed

    bar = StderrProgress()
    try:
        result = reembed(ctx, args.reembed_backend, bar)
    finally:
        bar.close()
    print(f"{result.backend}: embedded {count(result.embedded, 'face')}; {result.remaining} still without an embedding")
    for sample_id, reason in result.failed:
        print(f"  sample {sample_id}: {reason}", file=sys.stderr)
    return 0 if result.remaining == 0 else 1


def cmd_calibrate(args: argparse.Namespace, ctx: AppContext) -> int:
    from app.services.backends import apply_calibration, calibrate

    bar = StderrProgress()
    try:
        cal = calibrate(ctx, args.fpir, bar)
    finally:
        bar.close()
    assert cal is not None  # nothing asks it to stop here (Ctrl-C raises KeyboardInterrupt)
    if args.apply:
        apply_calibration(ctx, cal)
    if args.json:
        print(json.dumps({**cal.as_dict(), "applied": bool(args.apply)}, indent=2))
        return 0
    cmp = cal.metric.symbol
    print(f"{cal.backend}: {cal.people} people, {cal.samples} photos; {cal.genuine} genuine and {cal.impostor} "
          f"impostor comparisons (same person if {cal.metric} {cmp} threshold)")
    print(f"  target: about {100 * cal.fpir_target:g}% of strangers named with {cal.people} people enrolled, "
          f"i.e. a false-accept rate of {cal.far_target:.2g} per comparison")
    print(f"  current  threshold {cal.current:.4f}: accepts {100 * cal.tar_current:.1f}% of genuine, "
          f"{100 * cal.far_current:.2f}% of impostor comparisons (strangers named: about {100 * cal.fpir(cal.far_current):.1f}%)")
    print(f"  proposed threshold {cal.proposed:.4f}: accepts {100 * cal.tar_proposed:.1f}% of genuine, "
          f"{100 * cal.far_proposed:.2f}% of impostor comparisons (strangers named: about {100 * cal.fpir(cal.far_proposed):.1f}%)")
    if cal.builtin is not None:
        print(f"  built-in calibration for this target and gallery size (measured on LFW people): {cal.builtin:.4f}")
    if cal.far_target < cal.min_far:
        print(f"  note: {cal.impostor} impostor comparisons measure a FAR down to {cal.min_far:.2g} only; "
              "enroll more people for a finer estimate")
    print("  applied: saved for this backend" if args.apply else "  not applied: run again with --apply to use it")
    return 0
