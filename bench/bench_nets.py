"""DeepFace and the Siamese verifier trained from scratch for a fixed CPU budget, measured on people never trained on.

Data (through the app's pipeline: HOG detection, dlib landmarks, FaceNet's box-margin crop, resized to the
network's input): the lfw-dev people with at least 4 photos, *except* everyone who appears in the first
``PER_FOLD`` same + different pairs of each fold of ``lfw-dev/pairs.txt``; those pairs (both people unseen) are
the test. ``run_net_training`` also holds out 10 % of the training people and reports balanced pairs of them.
Each network trains until ``BUDGET`` seconds of wall time have passed (finished epochs are reported), then is
measured before (random weights, same seed) and after:

* DeepFace: cosine similarity of L2-normalised F7 (mirror-averaged); accuracy two-fold (threshold chosen on the
  other half of the pairs), ROC AUC.
* Siamese: the pair network's probability; accuracy at p ≥ 0.5 (nothing tuned on the test), ROC AUC.

Chance is 50 % (the test pairs are half same, half different). Crops are cached under the model cache
(``train-cache/``), so a rerun skips detection. Results: ``bench/out/bench_nets.json``.

Usage: ``nice -n 10 python bench/bench_nets.py [deepface|siamese ...] [--budget SECONDS] [--width W]
[--embedding N]`` (default both, 600 s each, the paper's sizes; other sizes are stored under their own key).
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
LFW = SHARED / "data" / "lfw-dev"
PER_FOLD = 60

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
    """``(training faces, test faces, (first, second, same) test pairs)`` at FaceNet's 160×160 crop."""
    pairs = read_pairs(LFW / "pairs.txt", LFW / "images", PER_FOLD)
    test_people = {p.first.parent.name for p in pairs} | {p.second.parent.name for p in pairs}
    tree = {k: v for k, v in folder_tree(LFW / "images", 4).items() if k not in test_people}
    spec = TrainSpec(source="folder", detector="hog")
    train = cached_tree(config, spec, tree, True, _quiet)
    images = sorted({p.first for p in pairs} | {p.second for p in pairs})
    test = cached_tree(config, spec, {str(p): [p] for p in images}, True, _quiet)
    index = {Path(s): i for i, s in enumerate(test.sources)}
    kept = [p for p in pairs if p.first in index and p.second in index]
    arrays = (np.array([index[p.first] for p in kept]), np.array([index[p.second] for p in kept]),
              np.array([p.same for p in kept], bool))
    log.info("training: %d people, %d photos; test: %d pairs of %d unseen people", len(tree), len(train),
             len(kept), len(test_people))
    return train, test, arrays


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


def run_arch(arch: str, budget: float, config: object, data: tuple, width: float = 1.0,
             embedding: int | None = None) -> dict:
    """Train ``arch`` for ``budget`` seconds; figures before and after on the test pairs."""
    train, test, pairs = data
    spec = nt.NetSpec(arch, source="folder", epochs=10_000, batch=32, holdout=0.1, seed=0, width=width,
                      embedding=embedding)
    size = spec.input_size()
    faces = FaceSet(resize_crops(train.crops, size), train.labels, train.names, train.sources)
    crops = resize_crops(test.crops, size)
    steps = {"done": 0, "started": 0.0}

    def progress(done: int, total: int, text: str) -> None:
        steps["started"] = steps["started"] or time.perf_counter()
        steps["done"] = done

    def out_of_time() -> bool:  # first asked before the first training step: the budget starts there
        steps["clock"] = steps.get("clock") or time.perf_counter()
        return time.perf_counter() - steps["clock"] > budget

    outcome = nt.run_net_training(config, spec, progress, out_of_time, faces)
    train_seconds = time.perf_counter() - steps["started"]
    _, _, nets = nt.trained_networks(Path(outcome.work_dir))
    after = test_figures(arch, nets, crops, pairs)
    before_nets = untrained(arch, max(2, outcome.people_trained), spec)
    before = test_figures(arch, before_nets, crops, pairs)
    nt.discard_net_model(outcome)
    return {"arch": arch, "input": size, "width": width, "embedding": spec.embedding_size(), "budget_s": budget, "epochs_finished": len(outcome.losses),
            "steps": steps["done"], "images_per_s": round(steps["done"] * spec.batch / max(train_seconds, 1e-9), 2),
            "losses": [round(x, 4) for x in outcome.losses], "test_before": before, "test_after": after,
            "heldout_before": outcome.before, "heldout_after": outcome.after, "people_trained": outcome.people_trained,
            "photos": outcome.photos, "device": outcome.device, "chance": 0.5}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archs", nargs="*", help="deepface and/or siamese (default both)")
    parser.add_argument("--budget", type=float, default=600.0, help="training seconds per architecture")
    parser.add_argument("--width", type=float, default=1.0, help="filter-count multiplier (default 1: the paper's)")
    parser.add_argument("--embedding", type=int, help="F7 / branch embedding length (default 4096 / 128)")
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
        key = arch if args.width == 1.0 and args.embedding is None else f"{arch}-w{args.width:g}-e{args.embedding}"
        results[key] = run_arch(arch, args.budget, config, data, args.width, args.embedding)
        log.info("%s: %s", key, json.dumps(results[key], default=float))
        OUT.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
