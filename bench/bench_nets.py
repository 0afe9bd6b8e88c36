"""DeepFace and the Siamese verifier trained from scratch for a fixed number of epochs, tested on unseen people.

Data (through the app's pipeline: HOG detection, dlib landmarks, FaceNet's box-margin crop, resized to the
network's input): the lfw-dev people with at least 4 photos, *except* everyone who appears in the first
``PER_FOLD`` same + different pairs of each fold of ``lfw-dev/pairs.txt``; those pairs (both people unseen) are
the test. ``run_net_training`` also holds out 10 % of the training people and reports balanced pairs of them.
Each network trains for a fixed number of epochs (``--epochs``; an epoch is ``photos / batch`` optimiser steps),
so the result does not depend on how loaded the machine is; wall time, images per second and the load average
are reported beside it. Each is measured before (random weights, same seed) and after:

* DeepFace: cosine similarity of L2-normalised F7 (mirror-averaged); accuracy two-fold (threshold chosen on the
  other half of the pairs), ROC AUC.
* Siamese: the pair network's probability; accuracy at p ≥ 0.5 (nothing tuned on the test), ROC AUC.

Chance is 50 % (the test pairs are half same, half different). Crops are cached under the model cache
(``train-cache/``) and in ``bench/out/bench_nets_crops.npz``, so a rerun skips detection. Results: ``bench/out/bench_nets.json``.

Usage: ``nice -n 10 python bench/bench_nets.py [deepface|siamese ...] [--epochs N] [--input-size PX] [--width W]
[--embedding N] [--learning-rate R] [--batch B]`` (default both, with the CPU recipe of ``CPU``; every result is
stored under a key naming its settings).
"""

from __future__ import annotations

import argparse
import hashlib
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
LFW = SHARED / "data" / "lfw-dev"
CROPS = OUT / "bench_nets_crops.npz"
PER_FOLD = 60
# The CPU recipe: the layouts at a reduced input, width and F7 (measured on 2 shared cores: DeepFace 829 s at load 6.9,
# Siamese 388 s at load 4.5; DeepFace after 6 epochs had barely moved, so it gets 10).
CPU = {"deepface": {"epochs": 10, "size": 80, "width": 0.5, "embedding": 256, "learning_rate": 0.1},
       "siamese": {"epochs": 12, "size": 80, "width": 0.5, "embedding": 128, "learning_rate": None}}

from app.config import build_config  # noqa: E402
from app.services import net_training as nt  # noqa: E402
from app.services.training import TrainSpec, cached_tree  # noqa: E402
from models.evaluation import read_pairs  # noqa: E402
from models.train.data import FaceSet, folder_tree  # noqa: E402
from models.train.net_data import resize_crops  # noqa: E402

log = logging.getLogger("bench_nets")


def _quiet(done: int, total: int, text: str) -> None:
    pass


def load_data(config: object) -> tuple[FaceSet, FaceSet, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(training faces, test faces, (first, second, same) test pairs)`` at FaceNet's 160×160 crop, kept in
    ``bench/out/bench_nets_crops.npz`` as well (the model cache's ``train-cache/`` is shared and pruned at 256 MB)."""
    pairs = read_pairs(LFW / "pairs.txt", LFW / "images", PER_FOLD)
    test_people = {p.first.parent.name for p in pairs} | {p.second.parent.name for p in pairs}
    tree = {k: v for k, v in folder_tree(LFW / "images", 4).items() if k not in test_people}
    images = sorted({p.first for p in pairs} | {p.second for p in pairs})
    key = hashlib.sha1(json.dumps([sorted((k, [str(p) for p in v]) for k, v in tree.items()),
                                   [str(p) for p in images]]).encode()).hexdigest()
    cached = _cached_data(key)
    if cached is None:
        spec = TrainSpec(source="folder", detector="hog")
        train = cached_tree(config, spec, tree, True, _quiet)
        test = cached_tree(config, spec, {str(p): [p] for p in images}, True, _quiet)
        _keep_data(key, train, test)
    else:
        train, test = cached
    index = {Path(s): i for i, s in enumerate(test.sources)}
    kept = [p for p in pairs if p.first in index and p.second in index]
    arrays = (np.array([index[p.first] for p in kept]), np.array([index[p.second] for p in kept]),
              np.array([p.same for p in kept], bool))
    log.info("training: %d people, %d photos; test: %d pairs of %d unseen people", len(tree), len(train),
             len(kept), len(test_people))
    return train, test, arrays


def _cached_data(key: str) -> tuple[FaceSet, FaceSet] | None:
    """The training and test crops kept by :func:`_keep_data` under ``key`` (None: none, or other photos)."""
    if not CROPS.is_file():
        return None
    with np.load(CROPS, allow_pickle=False) as z:
        if str(z["key"]) != key:
            return None
        return (FaceSet(z["train_crops"], z["train_labels"], z["train_names"].tolist(), z["train_sources"].tolist()),
                FaceSet(z["test_crops"], z["test_labels"], z["test_names"].tolist(), z["test_sources"].tolist()))


def _keep_data(key: str, train: FaceSet, test: FaceSet) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    arrays = {f"{name}_{field}": np.asarray(getattr(faces, field), dtype=str if field in ("names", "sources") else None)
              for name, faces in (("train", train), ("test", test)) for field in ("crops", "labels", "names", "sources")}
    tmp = CROPS.with_name(f"{CROPS.stem}.tmp.npz")
    np.savez(tmp, key=np.array(key), **arrays)
    os.replace(tmp, CROPS)


def test_figures(arch: str, nets: tuple, crops: np.ndarray, pairs: tuple) -> dict:
    """Verification of the test pairs with the networks ``nets``."""
    first, second, same = pairs
    if arch == "deepface":
        from models.train.deepface import embed
        from models.train.metrics import verification

        fig = verification(embed(nets[1], crops), first, second, same)
        return {k: fig[k] for k in ("accuracy", "auc", "pairs")}
    from models.train.siamese import pair_figures, probabilities

    fig = pair_figures(probabilities(nets[0], crops[first], crops[second]), same)
    return {k: fig[k] for k in ("accuracy", "auc", "pairs")}


def untrained(arch: str, classes: int, spec: nt.NetSpec) -> tuple:
    """The networks with their initial weights (the same seed as the trained ones)."""
    if arch == "deepface":
        from models.train.deepface import build_deepface

        return build_deepface(classes, nt._config(spec), spec.seed)
    from models.train.siamese import build_siamese

    return build_siamese(nt._config(spec), spec.seed)


def run_arch(arch: str, settings: dict, config: object, data: tuple) -> dict:
    """Train ``arch`` for ``settings["epochs"]`` epochs; figures before and after on the test pairs."""
    train, test, pairs = data
    spec = nt.NetSpec(arch, source="folder", epochs=settings["epochs"], batch=settings["batch"], holdout=0.1, seed=0,
                      size=settings["size"], width=settings["width"], embedding=settings["embedding"],
                      learning_rate=settings["learning_rate"])
    size = spec.input_size()
    faces = FaceSet(resize_crops(train.crops, size), train.labels, train.names, train.sources)
    crops = resize_crops(test.crops, size)
    steps: dict = {"done": 0, "started": 0.0, "load": []}

    def progress(done: int, total: int, text: str) -> None:
        steps["started"] = steps["started"] or time.perf_counter()
        steps["done"] = done
        if done % 20 == 0:
            steps["load"].append(os.getloadavg()[0])

    outcome = nt.run_net_training(config, spec, progress, lambda: False, faces)
    train_seconds = time.perf_counter() - steps["started"]
    per_item = 2 if arch == "siamese" else 1  # a Siamese batch is ``batch`` pairs: twice as many images
    _, _, nets = nt.trained_networks(Path(outcome.work_dir))
    after = test_figures(arch, nets, crops, pairs)
    before_nets = untrained(arch, max(2, outcome.people_trained), spec)
    before = test_figures(arch, before_nets, crops, pairs)
    nt.discard_net_model(outcome)
    return {"arch": arch, "input": size, "width": spec.width, "embedding": spec.embedding_size(),
            "learning_rate": spec.learning_rate, "batch": spec.batch, "epochs": len(outcome.losses),
            "steps": steps["done"], "train_seconds": round(train_seconds, 1),
            "images_per_s": round(steps["done"] * spec.batch * per_item / max(train_seconds, 1e-9), 2),
            "load_average": round(float(np.mean(steps["load"] or [os.getloadavg()[0]])), 2),
            "losses": [round(x, 4) for x in outcome.losses], "test_before": before, "test_after": after,
            "heldout_before": outcome.before, "heldout_after": outcome.after, "people_trained": outcome.people_trained,
            "photos": outcome.photos, "device": outcome.device, "chance": 0.5}


def settings_of(arch: str, args: argparse.Namespace) -> dict:
    """The CPU recipe of ``arch`` with the command line's overrides."""
    given = {"epochs": args.epochs, "size": args.input_size, "width": args.width, "embedding": args.embedding,
             "learning_rate": args.learning_rate}
    return {**CPU[arch], **{k: v for k, v in given.items() if v is not None}, "batch": args.batch}


def key_of(arch: str, s: dict) -> str:
    """The results key naming ``arch`` and its settings."""
    return (f"{arch}-{s['size']}px-w{s['width']:g}-e{s['embedding']}-lr{s['learning_rate'] or 'default'}"
            f"-b{s['batch']}-{s['epochs']}ep")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archs", nargs="*", help="deepface and/or siamese (default both)")
    parser.add_argument("--epochs", type=int, help="training epochs (default: the CPU recipe's, 10 deepface, 12 siamese)")
    parser.add_argument("--input-size", type=int, help="input side (default 80; the papers use 152 / 112)")
    parser.add_argument("--width", type=float, help="filter-count multiplier (default 0.5)")
    parser.add_argument("--embedding", type=int, help="F7 / branch embedding length (default 256 / 128)")
    parser.add_argument("--learning-rate", type=float, help="default 0.1 (deepface, SGD) / 1e-3 (siamese, Adam)")
    parser.add_argument("--batch", type=int, default=32, help="batch size (default 32)")
    args = parser.parse_args()
    if set(args.archs) - set(nt.ARCHS):
        parser.error(f"unknown architecture; use {' or '.join(nt.ARCHS)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    config = build_config(data_dir=str(OUT / "data"))
    data = load_data(config)
    path = OUT / "bench_nets.json"
    results = json.loads(path.read_text()) if path.is_file() else {}
    for arch in args.archs or ["deepface", "siamese"]:
        settings = settings_of(arch, args)
        key = key_of(arch, settings)
        results[key] = run_arch(arch, settings, config, data)
        log.info("%s: %s", key, json.dumps(results[key], default=float))
        OUT.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
