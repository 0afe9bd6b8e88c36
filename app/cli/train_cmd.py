"""``train``: fine-tune the face model on enrolled people or a photo folder, measured before and after."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from app.text import count

if TYPE_CHECKING:
    from app.context import AppContext


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="fine-tune the face model with triplet loss (measured before and after)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--enrolled", action="store_true", help="train on the enrolled people's stored photos (default)")
    src.add_argument("--data", metavar="DIR", help="a folder tree DIR/person/photo.jpg")
    src.add_argument("--tfrecords", metavar="GLOB", help="TFRecord shards of tf.train.Example (image/encoded + image/class/label)")
    p.add_argument("--base", default="facenet", help="facenet (pretrained, default) or resnet50 (from scratch)")
    p.add_argument("--background", metavar="DIR", help="folder tree of other people's faces mixed into every batch")
    p.add_argument("--mode", default="head", choices=("head", "full"), help="head: only the top trains (fast on a CPU)")
    p.add_argument("--epochs", type=int, default=10, metavar="N")
    p.add_argument("--margin", type=float, default=0.2, metavar="M", help="triplet margin (squared distance)")
    p.add_argument("--batch-size", type=int, metavar="N", help="photos per batch (P = N / K)")
    p.add_argument("--people", type=int, default=8, metavar="P", help="people per batch")
    p.add_argument("--per-person", type=int, default=4, metavar="K", help="photos of each person per batch")
    p.add_argument("--learning-rate", type=float, default=None, metavar="LR",
                   help="default 1e-3 (--arch deepface: 0.01 × batch / 128)")
    p.add_argument("--miner", default="semi-hard", choices=("semi-hard", "batch-hard"))
    p.add_argument("--detector", dest="train_detector", default="hog", choices=("hog", "cnn"),
                   help="face detector for --data photos")
    p.add_argument("--no-mirror", action="store_true",
                   help="head mode: skip the mirror images' features (half the feature extraction time)")
    p.add_argument("--mirror-all", action="store_true",
                   help="head mode: mirror features of every photo, also beyond 400 training photos (slower)")
    p.add_argument("--centre-fallback", action="store_true",
                   help="--data photos are centred face crops: where no face is found, use the centre box (counted)")
    p.add_argument("--check-detect", action="store_true", help="only report how many faces each --data photo has")
    p.add_argument("--holdout", type=float, default=0.2, metavar="FRACTION", help="share of each person's photos held out")
    p.add_argument("--guard-per-fold", type=int, default=30, metavar="N", help="lfw-dev guard pairs per fold")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", metavar="NAME", help="keep the tuned model as backend NAME (if it is not worse)")
    p.add_argument("--export", default="onnx", metavar="LIST", help="with --out: onnx,savedmodel,tflite,tflite-int8")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--resume", action="store_true",
                   help="continue the last interrupted run from its last finished epoch (same options and split)")
    p.add_argument("--clear-cache", action="store_true",
                   help="delete the train cache (general faces' crops and features) and interrupted runs, then exit")
    # ---- --arch deepface|siamese (issue 11; app/cli/train_nets.py) ----
    from app.cli.train_nets import HELP, NET_ARCHS, add_net_options

    p.add_argument("--arch", default=None, choices=NET_ARCHS, help=HELP)
    add_net_options(p)
    p.set_defaults(func=cmd_train)


def spec_from_args(args: argparse.Namespace) -> Any:
    """The :class:`TrainSpec` the flags describe."""
    from app.services.training import TrainSpec
    from common.errors import InvalidInput

    people = args.people
    if args.batch_size is not None:
        if args.batch_size < 2 * args.per_person:
            raise InvalidInput(f"--batch-size {args.batch_size} is too small; use at least {2 * args.per_person}")
        people = args.batch_size // args.per_person
    source, data = ("folder", args.data) if args.data else ("tfrecords", args.tfrecords) if args.tfrecords else ("enrolled", None)
    return TrainSpec(base=args.base, source=source, data=data, background=args.background, mode=args.mode,
                     epochs=args.epochs, margin=args.margin, people=people, per_person=args.per_person,
                     learning_rate=1e-3 if args.learning_rate is None else args.learning_rate, holdout=args.holdout, detector=args.train_detector,
                     seed=args.seed, out_name=args.out, miner=args.miner, guard_per_fold=args.guard_per_fold,
                     centre_fallback=args.centre_fallback, mirror=not args.no_mirror, mirror_all=args.mirror_all)


def cmd_train(args: argparse.Namespace, ctx: AppContext) -> int:
    from app.cli.models_cmds import StderrProgress
    from app.services import training

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ notices would bury the progress bar
    if getattr(args, "arch", None) in ("deepface", "siamese"):  # issue 11: app/cli/train_nets.py
        from app.cli.train_nets import cmd_train_net

        return cmd_train_net(args, ctx)
    if args.clear_cache:
        files, size = training.clear_cache(ctx.config)
        print(f"deleted {count(files, 'file')} ({size / 2**20:.1f} MB) of training cache and interrupted runs")
        return 0
    resume = _resumable(ctx) if args.resume else None
    spec = training.resumable_spec(resume) if resume else spec_from_args(args)
    if resume:
        args.out = args.out or spec.out_name
    if args.check_detect:
        return _check_detect(ctx, spec)
    plan = training.plan_training(ctx.config, spec)
    for warning in plan.warnings:
        sys.stderr.write(f"warning: {warning}\n")
    sys.stderr.write(f"training on {plan.device}: {plan.people} people, {plan.photos} photos, {spec.mode} mode\n")
    bar = StderrProgress()

    def on_epoch(e: training.EpochStats) -> None:
        bar.close()
        acc = "-" if e.heldout_accuracy is None else f"{100 * e.heldout_accuracy:.2f}%"
        sys.stderr.write(f"epoch {e.epoch}/{e.epochs}: loss {e.loss:.4f}, active triplets {100 * e.active_fraction:.1f}%, "
                         f"held-out accuracy {acc}, {e.seconds:.1f} s\n")

    try:
        outcome = training.run_training(ctx.config, spec, bar, lambda: False, on_epoch,
                                        None if resume is None else str(resume))
    finally:
        bar.close()
    kept = _keep(ctx, outcome, args)
    _report(outcome, kept, args.json)
    return 0


def _resumable(ctx: AppContext) -> Any:
    """The newest interrupted run's folder.

    Raises:
        InvalidInput: there is none.
    """
    from app.services import training
    from common.errors import InvalidInput

    runs = training.interrupted_runs(ctx.config)
    if not runs:
        raise InvalidInput("no interrupted training run to continue; start one with `python main.py train`")
    sys.stderr.write(f"continuing the run in {runs[0]} with its own options\n")
    return runs[0]


def _keep(ctx: AppContext, outcome: Any, args: argparse.Namespace) -> str | None:
    from app.services import training

    if not args.out or not outcome.can_use:
        training.discard_model(outcome)
        return None
    exports = tuple(x.strip() for x in args.export.split(",") if x.strip())
    try:
        return training.adopt_model(ctx.config, outcome, args.out, exports)
    finally:
        training.discard_model(outcome)


def _report(outcome: Any, kept: str | None, as_json: bool) -> None:
    from dataclasses import asdict

    if as_json:
        data = {k: v for k, v in asdict(outcome).items() if k != "work_dir"}
        data["kept_as"] = kept
        print(json.dumps(data, indent=2, default=str))
        return
    print(f"device {outcome.device}, {outcome.seconds:.1f} s, {count(len(outcome.epochs), 'epoch')}, kept epoch {outcome.best_epoch}"
          + (" (cancelled)" if outcome.cancelled else ""))
    for part in ("heldout", "guard"):
        b, a = outcome.before.get(part), outcome.after.get(part)
        if not b or not a:
            print(f"{part:8}: not measured")
            continue
        print(f"{part:8}: accuracy {100 * b['accuracy']:.2f}% → {100 * a['accuracy']:.2f}%, ROC AUC {b['auc']:.4f} → "
              f"{a['auc']:.4f}, TAR@FAR1e-3 {100 * b['tar_at_far']:.1f}% → {100 * a['tar_at_far']:.1f}% ({a['pairs']} pairs)")
    skipped = outcome.skipped or {}
    if any(skipped.values()):
        print(f"skipped photos: {skipped.get('no_face', 0)} without a face, {skipped.get('multiple_faces', 0)} with "
              f"several, {skipped.get('unreadable', 0)} unreadable; centre box used for {skipped.get('centre_box', 0)}")
    print(f"verdict: {outcome.verdict}")
    print(f"kept as backend {kept!r}: switch with `python main.py --backend {kept} reembed`" if kept else
          "not kept" + ("" if outcome.can_use else " (the held-out score did not stay as good)") +
          " — nothing was left behind")


def _check_detect(ctx: AppContext, spec: Any) -> int:
    from app.cli.models_cmds import StderrProgress
    from app.services.training import _engine
    from common.errors import InvalidInput
    from models.train.data import count_faces, folder_tree

    if spec.source != "folder":
        raise InvalidInput("--check-detect needs --data DIR")
    paths = [p for photos in folder_tree(spec.data).values() for p in photos]
    bar = StderrProgress()
    try:
        counts = count_faces(_engine(ctx.config, spec), paths, bar)
    finally:
        bar.close()
    for path, n in counts:
        print(f"{n if n >= 0 else 'unreadable'}\t{path}")
    usable = sum(1 for _, n in counts if n == 1)
    print(f"{usable} of {len(counts)} photos have exactly one face", file=sys.stderr)
    return 0
