"""LFW verification accuracy of an embedding backend through the app's own pipeline (FaceEngine).

The reference figure is ``python main.py --backend arcface eval ...`` (models/evaluation.py, which also has a
centre-box fallback for images without a detected face). This script adds what that command cannot do: a
detector with its own model file (``--detector yunet --detector-model FILE``), per-stage milliseconds, and a
per-image embedding cache. Measured (2-core dev machine, shared MobileFaceNet TFLite): YuNet 98.50 %,
threshold 0.25, 0 images without a face; HOG without fallback 98.30 % (20 images without a face count their
28 pairs as wrong), threshold 0.27.

Protocol (the standard LFW View-2 one, on the 5 folds of ``lfw-dev/pairs.txt``): every pair image goes
through ``FaceEngine`` (detect → landmarks → the backend's alignment → embed); for each fold the cosine
threshold that is most accurate on the other 4 folds is applied to it; the result is the mean (± std) of the
5 fold accuracies, and the default threshold is the mean of the 5 chosen thresholds. An image where no face is
found counts every pair it is in as wrong. Of several faces, the one nearest the image centre is used.

Example::

    python bench/bench_arcface_lfw.py --backend arcface \\
        --model ../shared/models/mobilefacenet_128d_float32.tflite --detector hog

Writes per-image embeddings to ``--cache`` (npz) so a rerun only repeats the scoring.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.detectors import DetectorOptions  # noqa: E402
from models.engine import EngineConfig, FaceEngine  # noqa: E402
from models.imageio import load_image  # noqa: E402

log = logging.getLogger("bench")


def read_pairs(path: Path) -> list[list[tuple[str, str, bool]]]:
    """Folds of ``(image1, image2, same)`` relative paths from an LFW ``pairs.txt``."""
    lines = path.read_text().splitlines()
    n_folds, n = (int(v) for v in lines[0].split())
    rows = [ln.split("\t") for ln in lines[1:] if ln.strip()]
    folds = []
    for f in range(n_folds):
        fold = []
        for r in rows[f * 2 * n : (f + 1) * 2 * n]:
            if len(r) == 3:
                fold.append((_img(r[0], r[1]), _img(r[0], r[2]), True))
            else:
                fold.append((_img(r[0], r[1]), _img(r[2], r[3]), False))
        folds.append(fold)
    return folds


def _img(name: str, index: str) -> str:
    return f"{name}/{name}_{int(index):04d}.jpg"


def embed_images(engine: FaceEngine, root: Path, names: list[str]) -> tuple[dict[str, NDArray[np.float32]], dict]:
    """Unit embedding of the central face of each image (missing where no face is found), and timings."""
    out: dict[str, NDArray[np.float32]] = {}
    t_det = t_emb = 0.0
    for i, name in enumerate(names):
        image = load_image(root / name)
        t0 = time.perf_counter()
        dets = engine.detect(image)
        t1 = time.perf_counter()
        t_det += t1 - t0
        if not dets:
            log.warning("no face in %s", name)
            continue
        h, w = image.shape[:2]
        best = min(dets, key=lambda d: (d.box.center[0] - w / 2) ** 2 + (d.box.center[1] - h / 2) ** 2)
        t2 = time.perf_counter()
        out[name] = engine.embed(image, [best.landmarks])[0]
        t_emb += time.perf_counter() - t2
        if (i + 1) % 250 == 0:
            log.info("%d/%d images, %.1f ms detect, %.1f ms embed per image", i + 1, len(names),
                     1e3 * t_det / (i + 1), 1e3 * t_emb / max(1, len(out)))
    timing = {"detect_ms": 1e3 * t_det / len(names), "embed_ms": 1e3 * t_emb / max(1, len(out))}
    return out, timing


def pair_scores(folds, vectors) -> list[tuple[NDArray[np.float64], NDArray[np.bool_]]]:
    """Per fold: cosine scores (NaN where an image has no face) and same/different labels."""
    result = []
    for fold in folds:
        s = [float(vectors[a] @ vectors[b]) if a in vectors and b in vectors else np.nan for a, b, _ in fold]
        result.append((np.array(s), np.array([same for _, _, same in fold])))
    return result


def accuracy(scores: NDArray[np.float64], same: NDArray[np.bool_], thr: float) -> float:
    """Share of pairs decided right at ``thr`` (a pair with a missing face is wrong)."""
    ok = np.where(np.isnan(scores), False, (scores >= thr) == same)
    return float(ok.mean())


def best_threshold(scores: NDArray[np.float64], same: NDArray[np.bool_]) -> float:
    """The cosine threshold with the best accuracy (midpoint between neighbouring sorted scores)."""
    s = np.sort(scores[~np.isnan(scores)])
    candidates = np.concatenate([[s[0] - 1e-3], (s[1:] + s[:-1]) / 2, [s[-1] + 1e-3]])
    accs = [accuracy(scores, same, t) for t in candidates]
    return float(candidates[int(np.argmax(accs))])


def cross_validate(per_fold) -> dict:
    """Threshold from the other folds, accuracy on each fold; mean/std and the mean threshold."""
    accs, thrs = [], []
    for k in range(len(per_fold)):
        train_s = np.concatenate([s for i, (s, _) in enumerate(per_fold) if i != k])
        train_y = np.concatenate([y for i, (_, y) in enumerate(per_fold) if i != k])
        thr = best_threshold(train_s, train_y)
        thrs.append(thr)
        accs.append(accuracy(*per_fold[k], thr))
    return {"accuracy": float(np.mean(accs)), "std": float(np.std(accs)), "folds": accs,
            "threshold": float(np.mean(thrs)), "thresholds": thrs}


def main(argv: list[str] | None = None) -> int:
    shared = Path(__file__).resolve().parents[2] / "shared"
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default="arcface")
    p.add_argument("--model", type=Path, help="explicit model file for the backend")
    p.add_argument("--detector", default="hog")
    p.add_argument("--detector-model", help="model file for the detector (yunet)")
    p.add_argument("--upsample", type=int, default=1)
    p.add_argument("--pairs", type=Path, default=shared / "data/lfw-dev/pairs.txt")
    p.add_argument("--images", type=Path, default=shared / "data/lfw-dev/images")
    p.add_argument("--limit", type=int, default=0, help="use only the first N pairs of each fold (quick check)")
    p.add_argument("--cache", type=Path, help="npz of per-image embeddings to reuse/write")
    p.add_argument("--json", type=Path, help="write the result here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    folds = read_pairs(args.pairs)
    if args.limit:
        folds = [f[: args.limit // 2] + f[len(f) // 2 : len(f) // 2 + args.limit // 2] for f in folds]
    names = sorted({n for f in folds for a, b, _ in f for n in (a, b)})
    config = EngineConfig(backend=args.backend, detector=args.detector, upsample=args.upsample, model_path=args.model)
    engine = FaceEngine(config)
    if args.detector_model:
        from models.detectors import create_detector

        engine._detector = create_detector(  # the bench's only way to pass a detector file
            args.detector, DetectorOptions(upsample=args.upsample, model_path=args.detector_model)
        )
    vectors, timing = {}, {}
    if args.cache and args.cache.is_file():
        data = np.load(args.cache)
        vectors = {k: data[k] for k in data.files}
    missing = [n for n in names if n not in vectors]
    if missing:
        new, timing = embed_images(engine, args.images, missing)
        vectors.update(new)
        if args.cache:
            np.savez(args.cache, **vectors)
    result = cross_validate(pair_scores(folds, vectors))
    result.update(timing, backend=args.backend, detector=args.detector, images=len(names),
                  no_face=len([n for n in names if n not in vectors]), pairs=sum(len(f) for f in folds))
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
