"""Margin-loss training benchmark (run with ``nice -n 10``, in the background; crops are cached in the model
cache, so a rerun skips face detection).

1. Identities split: the lfw-dev people with ≥ 4 photos, in a seeded order; the first ``--people`` are trained on
   (at most ``--per-person`` photos each, HOG detect → ArcFace 112×112 alignment through the app's own
   ``cached_tree``), 10 % of each person's photos held out for checkpoint choice.
2. Evaluation: lfw-dev pairs (``--pairs-per-fold`` same + different per fold) whose people were *not* trained on
   (the training service's guard set), accuracy (threshold from the other half), ROC AUC; chance is 50 %.
3. Training: ``--arch margin`` defaults (MobileNetV2, ArcFace m 0.5 s 64, 512-d, SGD 0.01, weight decay 5e-4)
   for a fixed wall-clock budget (``--minutes``); the best held-out checkpoint is kept.
4. Exports of the *last* epoch's weights (the kept best-held-out checkpoint may be the untrained epoch 0, whose
   outputs are ~1e-11 and say nothing about quantisation): TFLite float32 and full-integer int8 (calibrated on
   200 real training crops), each run with LiteRT on the evaluation crops (no mirror image): accuracy and ms per
   face (1 thread).

Usage: ``nice -n 10 python bench/bench_margin.py [--minutes 5] [--people 120] [--per-person 6]
[--pairs-per-fold 60]``; figures are printed and written to ``bench/out/bench_margin.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("ROLLCALL_SHARED", REPO.parent / "shared"))
OUT = REPO / "bench" / "out"

from app.config import build_config  # noqa: E402
from app.services import training  # noqa: E402

log = logging.getLogger("bench_margin")


def _quiet(done: int, total: int, text: str) -> None:
    pass


def split_people(people: int, per_person: int, seed: int = 0) -> dict[str, list[Path]]:
    """The training identities: ``people`` of lfw-dev's people with ≥ 4 photos (seeded choice)."""
    root = SHARED / "data" / "lfw-dev" / "images"
    pool = sorted(p.name for p in root.iterdir() if p.is_dir() and sum(1 for _ in p.iterdir()) >= 4)
    chosen = sorted(np.random.default_rng(seed).permutation(pool)[:people])
    return {name: sorted((root / name).iterdir())[:per_person] for name in chosen}


def measure(vectors: np.ndarray, pairs: tuple) -> dict:
    from models.train.metrics import verification

    first, second, same = pairs
    figures = verification(vectors, first, second, same)
    return {k: round(float(v), 4) for k, v in figures.items()}


def tflite_figures(path: Path, inputs: np.ndarray, pairs: tuple) -> dict:
    from models.train.export import run_tflite

    run_tflite(path, inputs[:2])  # warm-up
    t0 = time.perf_counter()
    vectors = run_tflite(path, inputs, threads=1)
    ms = 1000 * (time.perf_counter() - t0) / len(inputs)
    return {**measure(vectors, pairs), "ms_per_face": round(ms, 2), "bytes": path.stat().st_size}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--people", type=int, default=120)
    ap.add_argument("--per-person", type=int, default=6)
    ap.add_argument("--pairs-per-fold", type=int, default=60)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    from models.train.margin import build_job
    from models.train.networks import standardize
    from models.train.sampling import PKConfig
    from models.train.trainer import PairSet, TrainConfig, fit

    OUT.mkdir(parents=True, exist_ok=True)
    config = build_config(data_dir=str(OUT / "data"))
    spec = training.TrainSpec(arch="margin", source="folder", mode="full", guard_per_fold=args.pairs_per_fold)
    base = training.spec_base(spec)
    tree = split_people(args.people, args.per_person)
    t0 = time.perf_counter()
    faces = training.cached_tree(config, spec, tree, True, _quiet)
    keep = np.bincount(faces.labels, minlength=len(faces.names))[faces.labels] >= 2
    faces = faces.subset(keep)
    guard = training.guard_set(config, spec, set(tree), _quiet)
    assert guard is not None, "lfw-dev pairs not found"
    crops_s = time.perf_counter() - t0
    log.info("%d training crops of %d people, %d evaluation pairs (%.0f s of detection/alignment)", len(faces),
             len(np.unique(faces.labels)), len(guard[1][0]), crops_s)
    held = training.holdout_split(faces.labels, 0.1, 0)
    job = build_job(base, "mobilenetv2", "arc", int(faces.labels.max()) + 1, faces.crops)
    cfg = TrainConfig(epochs=1000, pk=PKConfig(8, 4), learning_rate=0.01, weight_decay=5e-4, patience=1000)
    deadline = time.perf_counter() + 60 * args.minutes
    work = OUT / "margin-work"
    work.mkdir(exist_ok=True)
    started = time.perf_counter()
    result = fit(job, faces.labels, held, None, PairSet(guard[0].crops, *guard[1]), cfg, work, _quiet,
                 lambda: time.perf_counter() > deadline, lambda e: log.info("%s", e))
    train_s = time.perf_counter() - started
    if result.epochs:
        job.load(work / f"epoch-{len(result.epochs):03d}.weights.h5")
    last = measure(job.embed(guard[0].crops), guard[1])
    real = standardize(base, faces.crops[np.flatnonzero(~held)[:200]])
    from models.train.export import export_tflite

    export_tflite(job.net, work / "margin_float32.tflite")
    export_tflite(job.net, work / "margin_int8.tflite", real)
    inputs = standardize(base, guard[0].crops)
    keras_plain = np.asarray(job.net.predict(inputs, batch_size=32, verbose=0))
    report = {
        "train_people": int(len(np.unique(faces.labels))), "train_crops": int(len(faces)),
        "eval_pairs": int(len(guard[1][0])), "budget_minutes": args.minutes, "train_seconds": round(train_s, 1),
        "epochs_finished": len(result.epochs), "best_epoch": result.best_epoch,
        "steps_per_epoch": int(np.ceil((~held).sum() / 32)),
        "images_per_second": round(len(result.epochs) * int((~held).sum()) / max(train_s, 1e-9), 2),
        "chance_accuracy": 0.5,
        "untrained_keras_mirror": {k: round(float(v), 4) for k, v in result.before["guard"].items()},
        "kept_keras_mirror": {k: round(float(v), 4) for k, v in result.after["guard"].items()},
        "last_epoch_keras_mirror": last,
        "last_epoch_keras_plain": measure(keras_plain, guard[1]),
        "tflite_float32": tflite_figures(work / "margin_float32.tflite", inputs, guard[1]),
        "tflite_int8": tflite_figures(work / "margin_int8.tflite", inputs, guard[1]),
        "epoch_stats": [{"epoch": e.epoch, "loss": round(e.loss, 3), "misclassified": round(e.active_fraction, 3),
                         "heldout_accuracy": e.heldout_accuracy, "seconds": e.seconds} for e in result.epochs],
    }
    (OUT / "bench_margin.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "epoch_stats"}, indent=2))


if __name__ == "__main__":
    main()
