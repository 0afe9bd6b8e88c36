"""Which dlib test-time views help, judged on lfw-dev images that ``pairs.txt`` never uses (a tuning set).

For every image of the tuning set (and, with ``--test``, of the 3 000 test pairs) the app's detector picks the
face, then dlib's ResNet embeds 12 chips: the 68-point and 5-point chips at dlib's padding 0.25 and at 0.35, each
with its mirror image, and both chips turned by ±3°. The chips are combined into candidate
view sets, and each set is scored by its balanced error (the best (miss rate + false-accept rate) / 2 over
thresholds), its ROC AUC and its TAR at FAR 1e-3. The tuning set uses every person with two or more unused
images (up to 12 images and 30 same-person pairs each), as many one-image people, and 20 times as many
different-person pairs. A bootstrap over people
gives a 95 % interval for each set's difference from the shipped 4-view set.

Usage: ``python bench/bench_dlib_views.py [--limit N] [--test]``. The full tuning set takes ~25 min on 2 cores.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing as mp
import os
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("ROLLCALL_SHARED", REPO.parent / "shared"))

from models.evaluation import best_threshold, centred_subject, read_pairs, roc_auc, tar_at_far  # noqa: E402

VIEWS = ("68", "68m", "5", "5m", "68p35", "68p35m", "5p35", "5p35m", "68r+", "68r-", "5r+", "5r-")
SHIPPED = ("68", "68m", "5", "5m")
PAD35 = ("68p35", "68p35m", "5p35", "5p35m")
TURNED = ("68r+", "68r-", "5r+", "5r-")
CANDIDATES: dict[str, dict[str, float]] = {
    "68 chip": {"68": 1},
    "68 chip + mirror": {"68": 1, "68m": 1},
    "shipped (68 + 5 chips, mirrored)": dict.fromkeys(SHIPPED, 1.0),
    "padding 0.35 chips": dict.fromkeys(PAD35, 1.0),
    "shipped + padding 0.35": dict.fromkeys(SHIPPED + PAD35, 1.0),
    "shipped + 0.5 × padding 0.35": {**dict.fromkeys(SHIPPED, 1.0), **dict.fromkeys(PAD35, 0.5)},
    "shipped + ±3° turned": dict.fromkeys(SHIPPED + TURNED, 1.0),
    "all 12": dict.fromkeys(VIEWS, 1.0),
}

_engine = None
_model = None


def _init() -> None:
    global _engine, _model
    import dlib

    from models.dlib_files import dlib_model_path
    from models.engine import EngineConfig, FaceEngine

    _engine = FaceEngine(EngineConfig())
    _model = dlib.face_recognition_model_v1(str(dlib_model_path("resnet")))


def _chips(path: str) -> tuple[str, np.ndarray]:
    """The 12 unit descriptors of the image's central face."""
    import dlib

    from models.align import _dlib_shape
    from models.imageio import load_image

    assert _engine is not None and _model is not None
    image = np.ascontiguousarray(load_image(path))
    det, _ = centred_subject(_engine, image)
    pts = det.landmarks.array()
    shapes = (_dlib_shape(pts[:68]), _dlib_shape(pts[68:73]) if len(pts) >= 73 else _dlib_shape(pts[:68]))
    chips = []
    for padding in (0.25, 0.35):
        for shape in shapes:
            chip = np.ascontiguousarray(dlib.get_face_chip(image, shape, size=150, padding=padding))
            chips += [chip, np.ascontiguousarray(chip[:, ::-1])]
    for shape in shapes:
        details = dlib.get_face_chip_details(shape, size=150, padding=0.25)
        for degrees in (3.0, -3.0):
            turned = dlib.chip_details(details.rect, dlib.chip_dims(150, 150), details.angle + np.deg2rad(degrees))
            chips.append(np.ascontiguousarray(dlib.extract_image_chip(image, turned)))
    vectors = np.asarray(_model.compute_face_descriptor(chips), dtype=np.float32)
    return path, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _combine(per_view: np.ndarray, weights: dict[str, float]) -> np.ndarray:
    w = np.array([weights.get(v, 0.0) for v in VIEWS], dtype=np.float32)
    out = np.tensordot(per_view, w, axes=([1], [0]))
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def balanced_error(scores: np.ndarray, same: np.ndarray) -> float:
    order = np.argsort(-scores)
    s = same[order]
    tar = np.cumsum(s) / s.sum()
    far = np.cumsum(~s) / (~s).sum()
    return float(np.min(((1 - tar) + far) / 2))


def tuning_pairs(paths: list[str], rng: random.Random) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(first, second, same, person of the first) index arrays over ``paths``."""
    by: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(paths):
        by[Path(p).parent.name].append(i)
    same = []
    for name in sorted(by):
        combos = list(itertools.combinations(by[name], 2))
        rng.shuffle(combos)
        same += combos[:30]
    names = sorted(by)
    diff: set[tuple[int, int]] = set()
    wanted = min(20 * len(same), len(paths) ** 2 // 4)  # a quick --limit run has few images to pair
    for _ in range(100 * wanted):
        if len(diff) >= wanted or len(names) < 2:
            break
        a, b = rng.sample(names, 2)
        diff.add((rng.choice(by[a]), rng.choice(by[b])))
    both = same + sorted(diff)
    first = np.array([a for a, _ in both])
    second = np.array([b for _, b in both])
    label = np.r_[np.ones(len(same), bool), np.zeros(len(diff), bool)]
    person = np.array([Path(paths[a]).parent.name for a in first])
    return first, second, label, person


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="only the first N people with unused images (a quick check)")
    parser.add_argument("--test", action="store_true", help="also score the 3 000 test pairs (for reference only)")
    args = parser.parse_args()
    lfw = SHARED / "data" / "lfw-dev"
    pairs = read_pairs(lfw / "pairs.txt", lfw / "images")
    used = {str(p.first) for p in pairs} | {str(p.second) for p in pairs}
    by: dict[str, list[str]] = defaultdict(list)
    for p in sorted((lfw / "images").glob("*/*.jpg")):
        if str(p) not in used:
            by[p.parent.name].append(str(p))
    people = [n for n in sorted(by) if len(by[n]) >= 2]
    if args.limit:
        people = people[: args.limit]
    # At most 12 images per person (George W Bush alone has hundreds), plus as many one-image people as
    # impostors.
    singles = sorted(n for n in by if len(by[n]) == 1)[: len(people)]
    tune = sorted(p for n in people + singles for p in by[n][:12])
    todo = tune + (sorted(used) if args.test else [])
    started = time.perf_counter()
    with mp.get_context("spawn").Pool(2, _init) as pool:
        vectors = dict(pool.imap_unordered(_chips, todo, chunksize=8))
    print(f"{len(todo)} images embedded in 12 views in {time.perf_counter() - started:.0f} s")

    per_view = np.stack([vectors[p] for p in tune])
    first, second, label, person = tuning_pairs(tune, random.Random(7))
    print(f"tuning set: {label.sum()} same-person pairs ({len(people)} people), {(~label).sum()} different-person pairs")
    scores = {}
    for name, weights in CANDIDATES.items():
        e = _combine(per_view, weights)
        scores[name] = s = (e[first] * e[second]).sum(1)
        print(f"  {name:34s} balanced error {100 * balanced_error(s, label):.3f} %  AUC {roc_auc(s, label):.5f}  "
              f"TAR@1e-3 {100 * tar_at_far(s, label):.2f} %")
    shipped = "shipped (68 + 5 chips, mirrored)"
    groups = {n: np.where(person == n)[0] for n in np.unique(person)}
    names = list(groups)
    rs = np.random.RandomState(0)
    draws = [np.concatenate([groups[n] for n in rs.choice(names, len(names))]) for _ in range(200)]
    for name in CANDIDATES:
        if name == shipped:
            continue
        d = np.array([balanced_error(scores[name][i], label[i]) - balanced_error(scores[shipped][i], label[i])
                      for i in draws]) * 100
        print(f"  {name:34s} minus shipped: {d.mean():+.3f} points, 95 % [{np.percentile(d, 2.5):+.3f}, "
              f"{np.percentile(d, 97.5):+.3f}]")
    if args.test:
        index = {p: vectors[p] for p in used}
        same = np.array([p.same for p in pairs])
        folds = np.array([p.fold for p in pairs])
        print("test pairs (reference only; not used to choose):")
        for name, weights in CANDIDATES.items():
            e = {p: _combine(v[None], weights)[0] for p, v in index.items()}
            s = np.array([e[str(p.first)] @ e[str(p.second)] for p in pairs])
            accs = []
            for k in np.unique(folds):
                thr = best_threshold(s[folds != k], same[folds != k])
                accs.append(((s[folds == k] >= thr) == same[folds == k]).mean())
            print(f"  {name:34s} {100 * np.mean(accs):.2f} % ± {100 * np.std(accs):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
