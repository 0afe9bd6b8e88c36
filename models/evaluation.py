"""Verification accuracy on an LFW-style ``pairs.txt``, through the engine's own detect → align → embed path.

Protocol (LFW View 2): the file's first line is ``FOLDS<TAB>N``; then each fold has N same-person lines
``name i j`` followed by N different-person lines ``name1 i name2 j``; image ``i`` of ``name`` is
``<images>/<name>/<name>_<i:04d>.jpg``. For each fold, the threshold that maximises accuracy on the other
folds is applied to it; we report the mean and standard deviation of the per-fold accuracies, the mean
threshold, ROC AUC over all pairs, and TAR at FAR = 1e-3.

LFW's labelled person is the centred one, so the face used is a detected face whose box covers the image
centre (the nearest to it when several do). When no detected face covers the centre — nothing found, or only
someone beside the subject — the fallback detector (CNN, for photos) looks again; when it finds none either,
the documented fallback is used and counted: :meth:`FaceEngine.centre_face` assumes the face fills the central
44 % of the picture.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from common.errors import InvalidInput
from common.metric import Metric
from common.progress import Progress, ShouldStop, never_stop, no_progress
from models.engine import EngineConfig, FaceEngine
from models.imageio import load_image
from models.types import Detection, RGBImage

FAR_TARGET = 1e-3


@dataclass(frozen=True)
class Pair:
    """Two image paths, whether they show the same person, and the fold (0-based) the pair belongs to."""

    first: Path
    second: Path
    same: bool
    fold: int


@dataclass(frozen=True)
class EvalResult:
    """Verification figures (thresholds in the backend's ``metric``)."""

    backend: str
    detector: str
    metric: Metric
    accuracy: float
    accuracy_std: float
    threshold: float
    auc: float
    tar_at_far: float
    far: float
    pairs: int
    folds: int
    images: int
    no_face: int
    fallback: str
    seconds: float
    fold_accuracies: tuple[float, ...]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def read_pairs(pairs_file: str | Path, images: str | Path, per_fold: int | None = None) -> list[Pair]:
    """Parse ``pairs_file``; ``per_fold`` keeps only the first N same and N different pairs of each fold.

    Raises:
        InvalidInput: the file is missing or not in the LFW pairs format.
    """
    path, root = Path(pairs_file), Path(images)
    if not path.is_file():
        raise InvalidInput(f"{path}: no such pairs file")
    if not root.is_dir():
        raise InvalidInput(f"{root}: no such images folder")
    lines = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    try:
        folds, n = int(lines[0][0]), int(lines[0][1])
    except (IndexError, ValueError):
        raise InvalidInput(f"{path}: the first line must be 'FOLDS<TAB>PAIRS_PER_CLASS', e.g. '10\\t300'") from None
    body = lines[1:]
    if len(body) != folds * 2 * n:
        raise InvalidInput(f"{path}: expected {folds * 2 * n} pair lines for {folds} folds of {n}+{n}, found {len(body)}")
    keep = n if per_fold is None else min(per_fold, n)
    pairs = []
    for fold in range(folds):
        chunk = body[fold * 2 * n : (fold + 1) * 2 * n]
        for rows in (chunk[:n][:keep], chunk[n:][:keep]):
            pairs.extend(_pair(root, row, fold, path) for row in rows)
    return pairs


def _pair(root: Path, row: list[str], fold: int, path: Path) -> Pair:
    def img(name: str, i: str) -> Path:
        return root / name / f"{name}_{int(i):04d}.jpg"

    if len(row) == 3:
        return Pair(img(row[0], row[1]), img(row[0], row[2]), True, fold)
    if len(row) == 4:
        return Pair(img(row[0], row[1]), img(row[2], row[3]), False, fold)
    raise InvalidInput(f"{path}: malformed pair line {' '.join(row)!r}")


# ---- embedding (optionally in worker processes) -------------------------------------------------------

_worker_engine: FaceEngine | None = None


def _init_worker(config: EngineConfig) -> None:
    global _worker_engine
    _worker_engine = FaceEngine(config)


def _embed_one(path: Path) -> tuple[Path, NDArray[np.float32], bool]:
    assert _worker_engine is not None
    return (path, *embed_centred_face(_worker_engine, path))


def embed_centred_face(engine: FaceEngine, path: Path) -> tuple[NDArray[np.float32], bool]:
    """Embedding of the most central face of an image, and whether the centre-box fallback was used."""
    image = load_image(path)
    det, fell_back = centred_subject(engine, image)
    return engine.embed(image, [det.landmarks])[0], fell_back


def centred_subject(engine: FaceEngine, image: RGBImage) -> tuple[Detection, bool]:
    """The labelled person of a centred photo (see the module docstring), and whether the centre box was used."""
    dets = engine.detect(image)  # when HOG finds nothing, this already ran the fallback detector
    det = central_face(dets, image) or (central_face(engine.detect_again(image), image) if dets else None)
    if det is None:
        return engine.centre_face(image), True
    return det, False


def central_face(dets: list[Detection], image: RGBImage) -> Detection | None:
    """The face whose box covers the image centre (nearest the centre when several do), else ``None``."""
    cy, cx = image.shape[0] / 2.0, image.shape[1] / 2.0
    covering = [d for d in dets if d.box.x <= cx <= d.box.x + d.box.w and d.box.y <= cy <= d.box.y + d.box.h]
    if not covering:
        return None
    return min(covering, key=lambda d: (d.box.center[0] - cx) ** 2 + (d.box.center[1] - cy) ** 2)


def embed_paths(
    config: EngineConfig, paths: list[Path], workers: int = 1, progress: Progress = no_progress, should_stop: ShouldStop = never_stop
) -> tuple[dict[Path, NDArray[np.float32]], int]:
    """Embeddings of each image's central face, and how many needed the fallback."""
    out: dict[Path, NDArray[np.float32]] = {}
    no_face = 0
    if workers <= 1:
        _init_worker(config)
        results = map(_embed_one, paths)
        pool = None
    else:
        pool = mp.get_context("spawn").Pool(workers, _init_worker, (config,))
        results = pool.imap_unordered(_embed_one, paths, chunksize=8)
    try:
        for i, (path, vec, fell_back) in enumerate(results):
            out[path] = vec
            no_face += fell_back
            progress(i + 1, len(paths), path.name)
            if should_stop():
                break
    finally:
        if pool is not None:
            pool.terminate()
    return out, no_face


# ---- statistics -----------------------------------------------------------------------------------------

def best_threshold(scores: NDArray[np.float64], same: NDArray[np.bool_]) -> float:
    """The similarity threshold (accept if ≥) with the highest accuracy on these pairs (midpoint rule)."""
    order = np.argsort(scores)
    s, y = scores[order], same[order]
    # accepting everything from index k on: correct = same among [k:] + different among [:k]
    diff_below = np.concatenate([[0], np.cumsum(~y)])
    same_above = np.concatenate([np.cumsum(y[::-1])[::-1], [0]])
    correct = diff_below + same_above
    k = int(np.argmax(correct))
    if k == 0:
        return float(s[0] - 1e-6)
    if k == len(s):
        return float(s[-1] + 1e-6)
    return float((s[k - 1] + s[k]) / 2.0)


def roc_auc(scores: NDArray[np.float64], same: NDArray[np.bool_]) -> float:
    """Area under the ROC curve (probability a same pair scores above a different pair; ties count half)."""
    ranks = _average_ranks(scores)
    n_pos, n_neg = int(same.sum()), int((~same).sum())
    return float((ranks[same].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _average_ranks(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """1-based ranks with ties given their average rank."""
    order = np.argsort(values, kind="mergesort")
    sorted_vals = values[order]
    ranks = np.empty(len(values))
    start = 0
    for end in np.append(np.nonzero(np.diff(sorted_vals))[0] + 1, len(values)):
        ranks[order[start:end]] = (start + end + 1) / 2.0
        start = end
    return ranks


def tar_at_far(scores: NDArray[np.float64], same: NDArray[np.bool_], far: float = FAR_TARGET) -> float:
    """True-accept rate at the strictest threshold letting at most ``far`` of different pairs through."""
    impostor = np.sort(scores[~same])[::-1]
    allowed = int(np.floor(far * len(impostor)))
    thr = impostor[allowed] if allowed < len(impostor) else -np.inf
    return float((scores[same] > thr).mean())


def evaluate(
    config: EngineConfig,
    pairs: list[Pair],
    workers: int = 1,
    progress: Progress = no_progress,
    should_stop: ShouldStop = never_stop,
) -> EvalResult:
    """Run the protocol for ``pairs`` with the detector/backend of ``config``."""
    started = time.perf_counter()
    engine = FaceEngine(config)
    paths = sorted({p.first for p in pairs} | {p.second for p in pairs})
    vectors, no_face = embed_paths(config, paths, workers, progress, should_stop)
    pairs = [p for p in pairs if p.first in vectors and p.second in vectors]
    scores = np.array([float(vectors[p.first] @ vectors[p.second]) for p in pairs])
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    accs, thrs = [], []
    for fold in np.unique(folds):
        train, test = folds != fold, folds == fold
        thr = best_threshold(scores[train], same[train]) if train.any() else best_threshold(scores, same)
        accs.append(float(((scores[test] >= thr) == same[test]).mean()))
        thrs.append(thr)
    metric = engine.info.metric
    return EvalResult(
        backend=config.backend,
        detector=config.detector,
        metric=metric,
        accuracy=float(np.mean(accs)),
        accuracy_std=float(np.std(accs)),
        threshold=float(metric.score(float(np.mean(thrs)))),
        auc=roc_auc(scores, same),
        tar_at_far=tar_at_far(scores, same),
        far=FAR_TARGET,
        pairs=len(pairs),
        folds=len(accs),
        images=len(vectors),
        no_face=no_face,
        fallback="no detected face covers the image centre, even after the CNN looked again: centre box (central "
        "44% of the image) with the detector's landmarks",
        seconds=round(time.perf_counter() - started, 1),
        fold_accuracies=tuple(accs),
    )
