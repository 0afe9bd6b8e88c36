"""``train --arch deepface|siamese`` (dispatched from :mod:`app.cli.train_cmd`, which declares the options):
train DeepFace or the Siamese verifier from scratch (see :mod:`app.services.net_training`), report the figures
on held-out people, optionally keep it as a backend."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.context import AppContext


def spec_from_args(args: argparse.Namespace) -> Any:
    """The :class:`NetSpec` the flags of ``train --arch deepface|siamese`` describe (the options are
    :mod:`app.cli.train_cmd`'s; ``--embedding``, ``--image-size`` and ``--width`` are the networks' own).

    Raises:
        InvalidInput: an option the architecture does not take, or out-of-range numbers.
    """
    from app.cli.train_cmd import data_source, resolve_arch
    from app.services.net_training import NetSpec, check_spec

    arch = resolve_arch(args)
    source, data = data_source(args)
    return check_spec(NetSpec(
        arch=arch.name, source=source, data=data, detector=args.train_detector, centre_fallback=args.centre_fallback,
        epochs=args.epochs, batch=args.batch_size or 32, learning_rate=args.learning_rate, holdout=args.holdout,
        size=args.image_size, width=1.0 if args.width is None else args.width, embedding=args.embedding,
        seed=args.seed,
    ))  # fmt: skip


def cmd_train_net(args: argparse.Namespace, ctx: AppContext) -> int:
    """Train, report (text or ``--json``), keep as backend ``--out`` or discard."""
    from app.cli.models_cmds import StderrProgress
    from app.services import net_training as nt

    spec = spec_from_args(args)
    if args.out:
        from models.embedders.user_backend import check_name

        check_name(args.out)
    bar = StderrProgress()
    try:
        outcome = nt.run_net_training(ctx.config, spec, bar, lambda: False)
    finally:
        bar.close()
    try:
        kept = nt.adopt_net_model(ctx.config, outcome, args.out) if args.out else None
    finally:
        nt.discard_net_model(outcome)
    _report(outcome, kept, args.json)
    return 0


def _report(outcome: Any, kept: str | None, as_json: bool) -> None:
    from dataclasses import asdict

    if as_json:
        print(json.dumps({**{k: v for k, v in asdict(outcome).items() if k != "work_dir"}, "kept_as": kept},
                         indent=2, default=float))
        return
    losses = ", ".join(f"{x:.3f}" for x in outcome.losses)
    print(f"{outcome.arch} on {outcome.device}, {outcome.seconds:.1f} s; trained on {outcome.people_trained} people, "
          f"measured on {outcome.people_heldout} others; loss per epoch: {losses}")
    b, a = outcome.before, outcome.after
    print(f"held-out people: pair accuracy {100 * b['accuracy']:.2f}% (untrained) → {100 * a['accuracy']:.2f}% "
          f"(chance 50%), ROC AUC {b['auc']:.4f} → {a['auc']:.4f} ({a['pairs']} pairs)")
    print(f"kept as backend {kept!r}: `python main.py --backend {kept} verify A.jpg B.jpg`" if kept else
          "not kept (give --out NAME to keep it) — nothing was left behind")
    sys.stdout.flush()
