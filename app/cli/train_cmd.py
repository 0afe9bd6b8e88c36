"""``train``: fine-tune the face model, or train another architecture (``--arch``), on enrolled people, a photo
folder or TFRecord shards, measured before and after; ``make-tfrecords``: write shards from a folder tree."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from app.text import count

if TYPE_CHECKING:
    from app.context import AppContext


ARCH_OPTIONS = {"backbone": ("margin",), "head": ("margin",), "head_margin": ("margin",), "head_scale": ("margin",),
                "embedding": ("margin", "net"),
                "image_size": ("margin", "net"), "width": ("margin", "net")}
"""Options that only some architecture families take (the triplet architectures take none of them)."""


def register(sub: argparse._SubParsersAction) -> None:
    from models.train.archs import ARCHS, help_text

    p = sub.add_parser("train", help="fine-tune the face model or train another architecture (measured before and after)",
                       epilog=f"architectures and their defaults:\n{help_text()}",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", metavar="NAME", choices=tuple(ARCHS),
                   help=f"{'|'.join(ARCHS)} (default: facenet, or the one of --base); defaults of each below")
    p.add_argument("--backbone", metavar="NAME", help="margin: mobilenetv2 (default), resnet50 or efficientnetb0")
    p.add_argument("--head", metavar="NAME", help="margin: arc (default; m 0.5, s 64), cos (0.35, 64) or sphere (1.35, 30)")
    p.add_argument("--head-margin", type=float, metavar="M", help="margin: the head's margin instead of its default")
    p.add_argument("--head-scale", type=float, metavar="S", help="margin: the head's scale instead of its default "
                   "(on a small set from scratch: --head cos --head-margin 0.2 --head-scale 30 --learning-rate 0.1)")
    p.add_argument("--embedding", "--net-embedding", dest="embedding", type=int, metavar="N",
                   help="embedding size: margin 128 or 512 (default); deepface F7 (default 4096); siamese 128")
    p.add_argument("--image-size", "--input-size", dest="image_size", type=int, metavar="PX",
                   help="input side in pixels: margin 112, deepface 152, siamese 112 (defaults)")
    p.add_argument("--width", type=float, metavar="W",
                   help="width multiplier: margin's MobileNetV2 alpha, deepface/siamese filter counts (default 1)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--enrolled", action="store_true", help="train on the enrolled people's stored photos (default)")
    src.add_argument("--data", metavar="DIR", help="a folder tree DIR/person/photo.jpg")
    src.add_argument("--tfrecords", metavar="GLOB", help="TFRecord shards of tf.train.Example (image/encoded + image/class/label)")
    p.add_argument("--base", help="triplet architectures: facenet (pretrained, default) or resnet50 (from scratch)")
    p.add_argument("--background", metavar="DIR", help="folder tree of other people's faces mixed into every batch")
    p.add_argument("--mode", choices=("head", "full"), help="head: only the top trains (fast on a CPU); default: the "
                   "architecture's (head for facenet, full otherwise)")
    p.add_argument("--epochs", type=int, default=10, metavar="N")
    p.add_argument("--margin", type=float, default=0.2, metavar="M", help="triplet margin (squared distance)")
    p.add_argument("--batch-size", type=int, metavar="N", help="photos per batch (P = N / K; deepface/siamese: 32)")
    p.add_argument("--people", type=int, default=8, metavar="P", help="people per batch")
    p.add_argument("--per-person", type=int, default=4, metavar="K", help="photos of each person per batch")
    p.add_argument("--learning-rate", type=float, metavar="LR",
                   help="default: the architecture's (1e-3; margin 0.01; deepface peak 0.01 × batch / 128, "
                   "warm-up then cosine)")
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
    p.add_argument("--holdout", type=float, default=0.2, metavar="FRACTION",
                   help="share of each person's photos held out (deepface/siamese: share of the people)")
    p.add_argument("--guard-per-fold", type=int, default=30, metavar="N", help="lfw-dev guard pairs per fold")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", metavar="NAME", help="keep the tuned model as backend NAME (if it is not worse)")
    p.add_argument("--export", metavar="LIST", help="with --out: onnx,savedmodel,tflite,tflite-int8 (default onnx; "
                   "margin: onnx,tflite,tflite-int8)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--resume", action="store_true",
                   help="continue the last interrupted run from its last finished epoch (same options and split)")
    p.add_argument("--clear-cache", action="store_true",
                   help="delete the train cache (general faces' crops and features) and interrupted runs, then exit")
    p.set_defaults(func=cmd_train)
    m = sub.add_parser("make-tfrecords", help="write TFRecord shards (encoded JPEG + integer label) from a folder tree")
    m.add_argument("folder", metavar="DIR", help="a folder tree DIR/person/photo.jpg")
    m.add_argument("--out", required=True, metavar="PREFIX", help="shards are written as PREFIX-00000-of-0000N.tfrecord")
    m.add_argument("--per-shard", type=int, default=1000, metavar="N", help="records per shard (default 1000)")
    m.set_defaults(func=cmd_make_tfrecords)


def cmd_make_tfrecords(args: argparse.Namespace, ctx: AppContext) -> int:
    from models.train.tfrecords import write_shards

    report = write_shards(args.folder, args.out, args.per_shard)
    print(f"wrote {count(report.records, 'record')} of {count(report.people, 'person')} in "
          f"{count(len(report.shards), 'shard')} ({report.shards[0]} …); labels in {report.labels_file}")
    if report.skipped:
        print(f"skipped {count(report.skipped, 'unreadable photo')}", file=sys.stderr)
    return 0


def resolve_arch(args: argparse.Namespace) -> Any:
    """The architecture the flags ask for (``--arch``, else the one of ``--base``).

    Raises:
        InvalidInput: a ``--base`` that does not go with ``--arch``, an unknown base, or an option the
            architecture does not take.
    """
    from common.errors import InvalidInput
    from models.train.archs import arch_for_base, get_arch

    arch = get_arch(args.arch) if args.arch else arch_for_base(args.base or "facenet")
    if args.arch and args.base and arch.base != args.base:
        raise InvalidInput(f"--base {args.base} does not go with --arch {arch.name}; leave out --base")
    for key, families in ARCH_OPTIONS.items():
        if getattr(args, key) is not None and arch.family not in families:
            takers = ", ".join(a for a in ("margin", "deepface", "siamese") if get_arch(a).family in families)
            raise InvalidInput(f"--{key.replace('_', '-')} only applies to --arch {takers} (this is --arch {arch.name})")
    return arch


def spec_from_args(args: argparse.Namespace) -> Any:
    """The :class:`TrainSpec` the flags describe (triplet and margin architectures)."""
    from app.services.training import TrainSpec
    from common.errors import InvalidInput

    arch = resolve_arch(args)
    people = args.people
    if args.batch_size is not None:
        if args.batch_size < 2 * args.per_person:
            raise InvalidInput(f"--batch-size {args.batch_size} is too small; use at least {2 * args.per_person}")
        people = args.batch_size // args.per_person
    source, data = data_source(args)
    keys = ("backbone", "head", "embedding", "image_size", "head_margin", "head_scale")
    margin = {k: getattr(args, k) for k in keys if getattr(args, k) is not None}
    if args.width is not None:
        margin["alpha"] = args.width
    return TrainSpec(base=arch.base or "facenet", source=source, data=data, background=args.background,
                     mode=args.mode or arch.mode, epochs=args.epochs, margin=args.margin, people=people,
                     per_person=args.per_person,
                     learning_rate=arch.learning_rate if args.learning_rate is None else args.learning_rate,
                     holdout=args.holdout, detector=args.train_detector, seed=args.seed, out_name=args.out,
                     miner=args.miner, guard_per_fold=args.guard_per_fold, centre_fallback=args.centre_fallback,
                     mirror=not args.no_mirror, mirror_all=args.mirror_all, arch=arch.name,
                     weight_decay=arch.weight_decay, **margin)


def data_source(args: argparse.Namespace) -> tuple[str, str | None]:
    """``(source, data)`` of the flags: ``folder`` (``--data``), ``tfrecords`` (``--tfrecords``) or ``enrolled``."""
    if args.data:
        return "folder", args.data
    if args.tfrecords:
        return "tfrecords", args.tfrecords
    return "enrolled", None


def cmd_train(args: argparse.Namespace, ctx: AppContext) -> int:
    from app.cli.models_cmds import StderrProgress
    from app.services import training

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ notices would bury the progress bar
    if args.arch and not (args.resume or args.clear_cache) and resolve_arch(args).family == "net":
        from app.cli.train_nets import cmd_train_net  # DeepFace and the Siamese verifier

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
        share = "misclassified" if spec.arch == "margin" else "active triplets"
        sys.stderr.write(f"epoch {e.epoch}/{e.epochs}: loss {e.loss:.4f}, {share} {100 * e.active_fraction:.1f}%, "
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
    default = "onnx,tflite,tflite-int8" if outcome_arch(outcome) == "margin" else "onnx"
    exports = tuple(x.strip() for x in (args.export or default).split(",") if x.strip())
    try:
        return training.adopt_model(ctx.config, outcome, args.out, exports)
    finally:
        training.discard_model(outcome)


def outcome_arch(outcome: Any) -> str:
    """The architecture a finished job trained (from its summary)."""
    from pathlib import Path

    from app.services.training import SUMMARY

    try:
        return str(json.loads((Path(outcome.work_dir) / SUMMARY).read_text(encoding="utf-8"))["spec"]["arch"])
    except (OSError, ValueError, KeyError):
        return ""


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
