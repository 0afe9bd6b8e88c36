"""Choose FaceNet's crop around dlib's 68 landmarks by measuring lfw-dev accuracy for a few crops.

    python bench/tune_facenet_crop.py [--model facenet|facenet512] [--per-fold N] [--crop SCALE:SHIFT ...]

Same protocol as ``python main.py eval`` (central face, centre-box fallback, 5 folds, threshold chosen on the
other folds), but faces are detected once and cached in ``bench/out/lfw_landmarks.npz``, and each crop is an
upright square of SCALE × the landmarks' extent, centred on them and moved down by SHIFT × its side
(negative = up). Embeddings are mirror-averaged as in the backend.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.config import default_cache_dir  # noqa: E402
from models.align import _square_crop  # noqa: E402
from models.embedders.facenet import STANDARDIZE, prewhiten  # noqa: E402
from models.engine import EngineConfig, FaceEngine  # noqa: E402
from models.evaluation import best_threshold, read_pairs, roc_auc  # noqa: E402
from models.imageio import load_image  # noqa: E402
from models.weights import WeightStore  # noqa: E402

SHARED = REPO.parent / "shared" / "data" / "lfw-dev"
_engine: FaceEngine | None = None


def _landmarks(path: Path) -> np.ndarray:
    global _engine
    if _engine is None:
        _engine = FaceEngine(EngineConfig(backend="dlib"))
    image = load_image(path)
    dets = _engine.detect(image)
    if dets:
        cy, cx = image.shape[0] / 2.0, image.shape[1] / 2.0
        det = min(dets, key=lambda d: (d.box.center[0] - cx) ** 2 + (d.box.center[1] - cy) ** 2)
    else:
        det = _engine.centre_face(image)
    return det.landmarks.array()


def cached_landmarks(paths: list[Path]) -> dict[Path, np.ndarray]:
    cache = REPO / "bench" / "out" / "lfw_landmarks.npz"
    known: dict[str, np.ndarray] = dict(np.load(cache)) if cache.exists() else {}
    todo = [p for p in paths if str(p) not in known]
    if todo:
        with mp.get_context("spawn").Pool(2) as pool:
            for path, pts in zip(todo, pool.map(_landmarks, todo, chunksize=16)):
                known[str(path)] = pts
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **known)
    return {p: known[str(p)] for p in paths}


def crop(image: np.ndarray, pts: np.ndarray, scale: float, shift: float) -> np.ndarray:
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    side = scale * max(x1 - x0, y1 - y0)
    return _square_crop(image, (x0 + x1) / 2.0, (y0 + y1) / 2.0 + shift * side, side, 160)[0]


def embed(session, crops: np.ndarray, standardize=prewhiten) -> np.ndarray:
    out = []
    for i in range(0, len(crops), 64):
        batch = standardize(crops[i : i + 64])
        a, b = (session.run(None, {"input": np.ascontiguousarray(x)})[0] for x in (batch, batch[:, :, ::-1]))
        v = a / np.linalg.norm(a, axis=1, keepdims=True) + b / np.linalg.norm(b, axis=1, keepdims=True)
        out.append(v / np.linalg.norm(v, axis=1, keepdims=True))
    return np.concatenate(out)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-fold", type=int)
    parser.add_argument("--crop", action="append", default=None)
    parser.add_argument("--model", default="facenet", help="weights name: facenet or facenet512")
    parser.add_argument("--standardize", default="prewhiten", choices=sorted(STANDARDIZE))
    args = parser.parse_args()
    import onnxruntime as ort

    pairs = read_pairs(SHARED / "pairs.txt", SHARED / "images", args.per_fold)
    paths = sorted({p.first for p in pairs} | {p.second for p in pairs})
    marks = cached_landmarks(paths)
    session = ort.InferenceSession(str(WeightStore(default_cache_dir()).path(args.model)), providers=["CPUExecutionProvider"])
    images = {p: load_image(p) for p in paths}
    index = {p: i for i, p in enumerate(paths)}
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    for spec in args.crop or ["1.3:0", "1.4:0", "1.4:-0.05", "1.5:-0.05"]:
        scale, shift = (float(v) for v in spec.split(":"))
        crops = np.stack([crop(images[p], marks[p], scale, shift) for p in paths])
        vectors = embed(session, crops, STANDARDIZE[args.standardize])
        scores = np.array([vectors[index[p.first]] @ vectors[index[p.second]] for p in pairs])
        accs, thrs = [], []
        for fold in np.unique(folds):
            thr = best_threshold(scores[folds != fold], same[folds != fold])
            accs.append(((scores[folds == fold] >= thr) == same[folds == fold]).mean())
            thrs.append(thr)
        l2 = np.sqrt(max(0.0, 2 - 2 * float(np.mean(thrs))))
        print(f"{args.model} ({args.standardize}): scale {scale:.2f} shift {shift:+.2f}: accuracy {100 * np.mean(accs):.2f}% ± {100 * np.std(accs):.2f}, "
              f"AUC {roc_auc(scores, same):.4f}, l2 threshold {l2:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
