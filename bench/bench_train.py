"""Fine-tuning benchmarks (run with ``nice -n 10``; crops and backbone features are cached under the model
cache, so a rerun is cheap).

1. ``yale``: FaceNet-128 head-mode fine-tune on half the people of ``yale-b-subset`` (yaleB01-05) through
   ``run_training`` (HOG detect → align; these are centred face crops, so where HOG finds no face the centre box is used and counted; 20 % of each person's photos held out, lfw-dev guard pairs); then
   verification on the *other* half (yaleB06-10, never trained on: every pair among their photos) before → after,
   and the guard (lfw-dev pairs, people not in training) before → after.
2. ``speed``: head mode on 1 000 lfw-dev photos × 10 epochs with the default options, timed from cropped faces:
   backbone feature extraction (computed afresh) + training. Face detection is timed apart. ``mirror_quality``:
   the held-out figures with and without the training photos' mirror features.
4. ``gpu``: full mode on the same 1 000 photos × 10 epochs, images per second (see ``bench/gpu_train.sh``).
3. ``celeb``: five-celebrity — enroll ``train`` with the facenet backend, ``train --enrolled --out``, switch to the
   tuned backend (re-embed), identify ``val``.

Usage: ``python bench/bench_train.py [yale[:EPOCHS:LR[:BACKGROUND_DIR]]|speed[:nomirror|:mirrorall][:keras]|celeb|gpu[:PHOTOS:EPOCHS] ...]`` (default: yale speed celeb); figures are printed and written to
``bench/out/bench_train.json``. ``ROLLCALL_CACHE`` must hold the FaceNet weights (``models fetch facenet``).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("ROLLCALL_SHARED", REPO.parent / "shared"))
OUT = REPO / "bench" / "out"

from app.config import build_config  # noqa: E402
from app.services import training  # noqa: E402
from models.train.data import folder_tree  # noqa: E402

log = logging.getLogger("bench_train")


def _quiet(done: int, total: int, text: str) -> None:
    pass


def yale(results: dict, epochs: int, background: str | None, learning_rate: float = 1e-3) -> None:
    root = SHARED / "data" / "yale-b-subset"
    people = sorted(p.name for p in root.iterdir() if p.is_dir())
    train_people, test_people = people[: len(people) // 2], people[len(people) // 2 :]
    link = OUT / "yale-train"
    link.mkdir(parents=True, exist_ok=True)
    for name in train_people:
        if not (link / name).exists():
            (link / name).symlink_to(root / name)
    config = build_config(data_dir=str(OUT / "data"))
    spec = training.TrainSpec(source="folder", data=str(link), epochs=epochs, guard_per_fold=100, background=background,
                              holdout=0.2, seed=0, centre_fallback=True,
                              learning_rate=learning_rate, patience=5)
    t0 = time.perf_counter()
    outcome = training.run_training(config, spec, _quiet, lambda: False, lambda e: log.info("%s", e))
    train_s = time.perf_counter() - t0
    unseen = _unseen(config, spec, {n: sorted(root.joinpath(n).glob("*.pgm")) for n in test_people}, Path(outcome.work_dir))
    results["yale"] = {"train_people": train_people, "test_people": test_people, "epochs_run": len(outcome.epochs),
                       "best_epoch": outcome.best_epoch, "skipped": outcome.skipped, "heldout_before": outcome.before["heldout"],
                       "heldout_after": outcome.after["heldout"], "guard_before": outcome.before["guard"],
                       "guard_after": outcome.after["guard"], "unseen": unseen, "seconds": round(train_s, 1),
                       "verdict": outcome.verdict, "background": background, "epochs": epochs,
                       "learning_rate": learning_rate, "epoch_stats": [asdict(e) for e in outcome.epochs]}
    training.discard_model(outcome)


def _unseen(config, spec, tree: dict, work: Path) -> dict:
    """Verification among never-trained people's photos with the base head and the tuned head."""
    from models.train.metrics import labelled_verification
    from models.train.backbone import head_parts
    from models.train.networks import base_model
    from models.train.trainer import BEST, HeadJob

    faces = training.cached_tree(config, spec, tree, False, _quiet, centre_fallback=True)
    base = base_model("facenet")
    backbone, head = head_parts(base, Path(config.cache_dir))
    cache = training.FeatureCache(Path(config.cache_dir) / "train-cache" / "features-facenet.npz")
    feats = cache.features(backbone, base, faces.crops, _quiet, lambda: False)
    cache.save()
    before = labelled_verification(HeadJob(head, feats).embed(feats), faces.labels)
    head.load_weights(str(work / BEST))
    after = labelled_verification(HeadJob(head, feats).embed(feats), faces.labels)
    return {"photos": len(faces), "no_face": faces.no_face, "multiple_faces": faces.multiple_faces,
            "centre_box": faces.centre_box,
            "before": before, "after": after}


def _thousand_photos(limit: int = 1000) -> dict[str, list[Path]]:
    """``limit`` (1 000) lfw-dev photos: the people with the most photos first (at least 4 each)."""
    tree = folder_tree(SHARED / "data" / "lfw-dev" / "images", 4)
    chosen, total = {}, 0
    for name in sorted(tree, key=lambda n: (-len(tree[n]), n)):
        take = tree[name][: min(len(tree[name]), limit - total)]
        if len(take) >= 2:
            chosen[name] = take
            total += len(take)
        if total >= limit:
            break
    return chosen


def speed(results: dict, mirror: str = "default", use_onnx: bool = True) -> None:
    """1 000 lfw-dev photos, head mode, 10 epochs, the default options (20 % of each person's photos held out and
    measured after every epoch), features computed afresh as ``run_training`` does. ``mirror``: ``default`` (mirror
    features of the held-out photos only, beyond 400 training photos), ``all`` (``--mirror-all``) or ``none``
    (``--no-mirror``); ``use_onnx=False``: the Keras backbone, as before onnxruntime. Wall and process CPU seconds
    (the machine is shared: CPU seconds vary less with the load)."""
    from models.train.backbone import head_parts
    from models.train.data import holdout_split
    from models.train.networks import base_model
    from models.train.trainer import HeadJob, TrainConfig, TrainData, fit

    load_start = os.getloadavg()
    chosen = _thousand_photos()
    config = build_config(data_dir=str(OUT / "data"))
    spec = training.TrainSpec(source="folder", mirror=mirror != "none", mirror_all=mirror == "all")
    t0 = time.perf_counter()
    faces = training.cached_tree(config, spec, chosen, True, _quiet)
    detect_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    base = base_model("facenet")
    backbone, head = head_parts(base, Path(config.cache_dir), use_onnx=use_onnx)
    build_s = time.perf_counter() - t1
    held = holdout_split(faces.labels, spec.holdout, spec.seed)
    rows = training.mirror_rows(spec, held)
    t2, c2 = time.perf_counter(), time.process_time()
    feats = training.user_features(backbone, base, faces.crops, rows, training.Hooks())
    feat_s, feat_cpu = time.perf_counter() - t2, time.process_time() - c2
    with tempfile.TemporaryDirectory() as tmp:
        t3, c3 = time.perf_counter(), time.process_time()
        res = fit(HeadJob(head, feats), TrainData(faces.labels, held), TrainConfig(epochs=10, patience=10), Path(tmp))
        fit_s, fit_cpu = time.perf_counter() - t3, time.process_time() - c3
    results["speed" + ("" if mirror == "default" else f"_{mirror}") + ("" if use_onnx else "_keras")] = {
        "mirror": mirror, "mirrored_photos": int(rows.sum()), "photos": len(faces), "people": len(chosen),
        "heldout": int(held.sum()), "epochs": len(res.epochs), "detect_align_s": round(detect_s, 1),
        "build_model_s": round(build_s, 1), "features_s": round(feat_s, 1), "train_s": round(fit_s, 1),
        "features_plus_train_s": round(feat_s + fit_s, 1), "features_cpu_s": round(feat_cpu, 1),
        "train_cpu_s": round(fit_cpu, 1), "build_features_train_s": round(build_s + feat_s + fit_s, 1),
        "backbone": type(backbone).__name__, "heldout_before": _short(res.before["heldout"]),
        "heldout_after": _short(res.after["heldout"]), "epoch_seconds": [e.seconds for e in res.epochs],
        "load_average_start": load_start, "load_average_end": os.getloadavg()}


def mirror_quality(results: dict, epochs: int = 10) -> None:
    """Does head mode need the mirror view of its *training* photos? The 1 000 lfw-dev photos, 20 % of each
    person's held out; the head trains once on both views of every photo and once on the original view only
    (held-out photos keep both views), each from the same start; both heads are measured on the held-out pairs
    with mirror-averaged embeddings (as the app embeds)."""
    from models.train.backbone import head_parts
    from models.train.data import holdout_split
    from models.train.networks import base_model
    from models.train.sampling import PKConfig
    from models.train.trainer import HeadJob, TrainConfig, TrainData, fit

    config = build_config(data_dir=str(OUT / "data"))
    faces = training.cached_tree(config, training.TrainSpec(source="folder"), _thousand_photos(), True, _quiet)
    base = base_model("facenet")
    backbone, head = head_parts(base, Path(config.cache_dir))
    cache = training.FeatureCache(OUT / "speed-features.npz")  # bench/out: outside the capped train cache
    full = cache.features(backbone, base, faces.crops, _quiet, lambda: False)
    cache.save()
    held = holdout_split(faces.labels, 0.2, 0)
    from models.train.metrics import labelled_verification

    start = [w.copy() for w in head.get_weights()]
    before = labelled_verification(HeadJob(head, full).embed(full), faces.labels, held)
    out = {"photos": len(faces), "heldout_photos": int(held.sum()), "epochs": epochs, "before": _short(before)}
    for name, feats in (("both_views", full), ("original_only", _original_view_for_training(full, held))):
        head.set_weights(start)
        with tempfile.TemporaryDirectory() as tmp:
            res = fit(HeadJob(head, feats), TrainData(faces.labels, held), TrainConfig(epochs=epochs, pk=PKConfig(8, 4)),
                      Path(tmp))
        figures = labelled_verification(HeadJob(head, full).embed(full), faces.labels, held)
        out[name] = {"best_epoch": res.best_epoch, "after": _short(figures),
                     "epoch_heldout_accuracy": [e.heldout_accuracy for e in res.epochs]}
    results["mirror_quality"] = out


def _original_view_for_training(feats: np.ndarray, held: np.ndarray) -> np.ndarray:
    """Features as if the mirror view were computed for the held-out photos only."""
    out = feats.copy()
    out[~held, 1] = out[~held, 0]
    return out


def _short(figures: dict) -> dict:
    return {k: round(float(figures[k]), 4) for k in ("accuracy", "auc", "tar_at_far")}


def gpu(results: dict, photos: int = 1000, epochs: int = 10) -> None:
    """Full mode (every layer, BatchNorm frozen, mixed precision + XLA on a GPU): 1 000 lfw-dev photos × 10 epochs,
    P×K = 16×4; training wall time and images per second (augmentation on the CPU included). Fewer ``photos``
    and ``epochs`` make a smoke check (``gpu:64:1``)."""
    from models.train.networks import base_model, build_full, freeze_batchnorm
    from models.train.sampling import PKConfig
    from models.train.trainer import FullJob, Hooks, TrainConfig, TrainData, fit

    config = build_config(data_dir=str(OUT / "data"))
    faces = training.cached_tree(config, training.TrainSpec(source="folder"), _thousand_photos(photos), True, _quiet)
    device, on_gpu = training._device_setup("full")
    model = build_full(base_model("facenet"), Path(config.cache_dir))
    freeze_batchnorm(model)
    job = FullJob(model, base_model("facenet"), faces.crops)
    pk = PKConfig(16, 4)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = fit(job, TrainData(faces.labels, np.zeros(len(faces), bool)),
                  TrainConfig(epochs=epochs, pk=pk, learning_rate=1e-4, jit=on_gpu), Path(tmp),
                  Hooks(on_epoch=lambda e: log.info("%s", e)))
        wall = time.perf_counter() - t0
    steps = sum(1 for _ in res.epochs) * int(np.ceil(len(faces) / (pk.people * pk.per_person)))
    images = steps * pk.people * pk.per_person
    results["gpu" if photos == 1000 and epochs == 10 else "gpu_smoke"] = {"device": device, "photos": len(faces), "epochs": len(res.epochs), "train_wall_s": round(wall, 1),
                      "images_per_s": round(images / wall, 1), "epoch_seconds": [e.seconds for e in res.epochs],
                      "losses": [round(e.loss, 4) for e in res.epochs]}


def celeb(results: dict) -> None:
    import main

    root = SHARED / "data" / "five-celebrity"
    with tempfile.TemporaryDirectory() as d:
        data = Path(d) / "celeb"

        def run(*args: str) -> str:
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                code = main.run(["--data-dir", str(data), *args])
            if code != 0:
                raise SystemExit(f"command failed: {args}")
            return out.getvalue()

        run("--backend", "facenet", "enroll-folder", str(root / "train"))
        val = sorted(str(p) for p in (root / "val").glob("*/*") if p.is_file())
        before = _identify(json.loads(run("--backend", "facenet", "identify", "--json", *val)))
        report = json.loads(run("--backend", "facenet", "train", "--enrolled", "--out", "bench-celeb", "--json"))
        try:
            if report["kept_as"]:
                run("--backend", "bench-celeb", "reembed")
                after = _identify(json.loads(run("--backend", "bench-celeb", "identify", "--json", *val)))
            else:
                after = None
        finally:
            if report["kept_as"]:
                run("models", "remove", "bench-celeb")
        results["celeb"] = {"val": len(val), "correct_before": before, "correct_after": after,
                            "verdict": report["verdict"], "heldout_before": report["before"]["heldout"],
                            "heldout_after": report["after"]["heldout"], "seconds": report["seconds"]}


def _identify(report: list) -> int:
    correct = 0
    for entry in report:
        truth = Path(entry["image"]).parent.name.replace("_", " ").title()
        named = {f["name"] for f in entry["faces"]} - {None}
        correct += named == {truth}
    return correct


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("tensorflow", "tf2onnx", "absl"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    which = sys.argv[1:] or ["yale", "speed", "celeb"]
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "bench_train.json"
    results = json.loads(path.read_text()) if path.is_file() else {}
    for part in which:
        name, _, arg = part.partition(":")
        if name == "yale":  # yale:EPOCHS:LR[:BACKGROUND_DIR]
            parts = arg.split(":") if arg else []
            yale(results, int(parts[0]) if parts else 10, parts[2] if len(parts) > 2 else None,
                 float(parts[1]) if len(parts) > 1 else 1e-3)
        elif name == "speed":
            mode = "none" if "nomirror" in arg else "all" if "mirrorall" in arg else "default"
            speed(results, mode, "keras" not in arg)
        elif name == "gpu":  # gpu[:PHOTOS:EPOCHS]
            parts = [int(v) for v in arg.split(":")] if arg else []
            gpu(results, *parts)
        else:
            {"celeb": celeb, "mirror_quality": mirror_quality}[name](results)
        path.write_text(json.dumps(results, indent=2, default=str))
        print(json.dumps({k: v for k, v in results.items() if k.startswith(name)}, indent=2, default=str), flush=True)
