"""Fine-tuning the face model on the user's photos, measuring it honestly, and keeping it as a user backend.

Qt-free and process-safe: :func:`run_training` takes only the :class:`AppConfig` and a plain :class:`TrainSpec`,
opens its own database and engine, and may run in a spawned worker process. TensorFlow loads inside it.

The job: gather aligned crops (enrolled people's stored crops, or a ``person/photo`` folder tree through the
app's detect → align), hold out part of each person's photos, measure the base model on the held-out photos and
on a guard set of general faces (lfw-dev pairs whose people are not in training), train, measure again with the
best checkpoint. :func:`adopt_model` exports the result to ONNX and registers it as a user backend;
:func:`discard_model` deletes everything the job wrote.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from app.config import AppConfig
from app.text import count
from common.errors import InvalidInput
from common.progress import Progress, ShouldStop
from models.train.data import FaceSet, folder_tree, holdout_split, load_tree
from models.train.archs import Arch, arch_for_base, get_arch
from models.train.networks import BaseModel, base_model
from models.train.trainer import STATE, EpochStats, Hooks

log = logging.getLogger(__name__)

__all__ = ["TrainSpec", "EpochStats", "TrainPlan", "TrainOutcome", "plan_training", "run_training", "adopt_model",
           "discard_model", "list_user_backends", "remove_user_backend", "interrupted_runs", "resumable_spec",
           "clear_cache"]

MODES = ("head", "full")
SOURCES = ("enrolled", "folder", "tfrecords")
EXPORTS = ("onnx", "savedmodel", "tflite")
MIN_PEOPLE, MIN_PHOTOS = 2, 4
MIN_CALIBRATION_PAIRS = 30
"""Fewer held-out pairs than this: the tuned backend keeps the base model's threshold instead of a calibrated one."""


@dataclass(frozen=True)
class TrainSpec:
    """What to train (plain and picklable, so it crosses into a worker process).

    Attributes:
        base: ``facenet`` (pretrained, default) or ``resnet50`` (from scratch; needs a large data set, full mode).
        source: ``enrolled`` (stored crops), ``folder`` (``data`` is a ``person/photo`` tree) or ``tfrecords``.
        person_ids: enrolled people to use (None = everyone). background: optional ``person/photo`` tree of
            general faces mixed into every batch (``background_people`` of them, at most ``background_limit``).
        mode: ``head`` (cached backbone features, only the bottleneck trains) or ``full`` (every layer).
        holdout: share of each person's photos never trained on. guard_pairs: LFW-style pairs file of the
            guard set (None: lfw-dev from the shared data when present); guard_per_fold: pairs per fold used
            (0: no guard set).
        miner: ``semi-hard`` or ``batch-hard``. out_name: suggested name of the tuned model.
        mirror_all: with ``mirror``, compute the mirror view of every photo even when many train (see
            :data:`MIRROR_ALL_UP_TO`).
        mirror: head mode also extracts the mirror image's features (training sees both, evaluation averages
            them as the app's backends do); off halves feature extraction.
        centre_fallback: folder photos are centred face crops (e.g. Extended Yale B): where no face is found, use the
            centre box with the landmark model's points (counted) instead of skipping the photo.
        arch: architecture of :mod:`models.train.archs` (empty: the triplet architecture of ``base``).
        backbone, head, embedding, image_size, alpha: the ``margin`` architecture's backbone, margin head,
            embedding size, crop side (0: 112) and MobileNetV2 width multiplier.
        head_margin, head_scale: the margin head's margin and scale (``None``: the head's defaults).
    """

    base: str = "facenet"
    source: str = "enrolled"
    data: str | None = None
    person_ids: tuple[int, ...] | None = None
    background: str | None = None
    mode: str = "head"
    epochs: int = 10
    margin: float = 0.2
    people: int = 8
    per_person: int = 4
    learning_rate: float = 1e-3
    holdout: float = 0.2
    detector: str = "hog"
    seed: int = 0
    out_name: str | None = None
    weight_decay: float = 1e-4
    miner: str = "semi-hard"
    patience: int = 3
    background_people: int = 4
    background_limit: int = 100
    guard_pairs: str | None = None
    guard_per_fold: int = 30
    mirror: bool = True
    centre_fallback: bool = False
    mirror_all: bool = False
    arch: str = ""
    backbone: str = "mobilenetv2"
    head: str = "arc"
    embedding: int = 512
    image_size: int = 0
    alpha: float = 1.0
    head_margin: float | None = None
    head_scale: float | None = None


@dataclass(frozen=True)
class TrainPlan:
    """What a job would do: people and photos found, warnings in plain words, recommended mode, a time estimate
    (seconds) and the device (GPU name or ``"CPU"``)."""

    people: int
    photos: int
    warnings: tuple[str, ...]
    recommended_mode: str
    estimated_seconds: float
    device: str


@dataclass(frozen=True)
class TrainOutcome:
    """A finished (or cancelled) job. ``before``/``after``: ``{"heldout": {...}, "guard": {...}}`` with
    ``accuracy``, ``auc``, ``tar_at_far``, ``threshold``, ``pairs`` (``None`` where there was nothing to
    measure). ``can_use``: the held-out score did not get worse. ``work_dir`` holds the checkpoints."""

    work_dir: str
    before: dict
    after: dict
    verdict: str
    can_use: bool
    epochs: tuple[EpochStats, ...]
    cancelled: bool
    device: str
    seconds: float
    skipped: dict | None = None
    best_epoch: int = 0


# ---- planning ---------------------------------------------------------------------------------------------


def gpu_name() -> str:
    """The NVIDIA GPU's name from the driver (no TensorFlow import), else ``"CPU"``."""
    root = Path("/proc/driver/nvidia/gpus")
    try:
        for info in sorted(root.glob("*/information")):
            for line in info.read_text().splitlines():
                if line.startswith("Model:"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "CPU"


def _counts(config: AppConfig, spec: TrainSpec) -> dict[str, int]:
    """Photos per person of the spec's source (folder: files found, before face detection)."""
    if spec.source == "enrolled":
        from app.context import AppContext

        ctx = AppContext(config)
        try:
            wanted = None if spec.person_ids is None else set(spec.person_ids)
            return {f"{p.name} #{p.id}": p.sample_count for p in ctx.repo.list_people()
                    if wanted is None or p.id in wanted}
        finally:
            ctx.close()
    if spec.source == "folder":
        return {k: len(v) for k, v in folder_tree(_need_data(spec)).items()}
    import glob

    if not glob.glob(str(Path(_need_data(spec)).expanduser())):
        raise InvalidInput(f"no TFRecord files match {spec.data!r}; give a glob such as shards/train-*.tfrecord")
    return {}  # counted when read


def _need_data(spec: TrainSpec) -> str:
    if not spec.data:
        raise InvalidInput(f"--{spec.source} needs a folder (or glob) of photos")
    return spec.data


def plan_training(config: AppConfig, spec: TrainSpec) -> TrainPlan:
    """Check the spec and data cheaply (no TensorFlow, no face detection) and say what training would do.

    Raises:
        InvalidInput: unknown base, mode or source, or a folder that holds no photos.
    """
    base = _check_spec(spec)
    counts = _counts(config, spec)
    device = gpu_name()
    warnings = []
    usable = {k: v for k, v in counts.items() if v >= 2}
    if len(usable) < MIN_PEOPLE and spec.source != "tfrecords":
        warnings.append(f"only {count(len(usable), 'person')} with two or more photos: training needs at least {MIN_PEOPLE}; "
                        "enroll more people or add a background folder of other faces")
    few = [k for k, v in counts.items() if v < MIN_PHOTOS]
    if few:
        warnings.append(f"{count(len(few), 'person')} with fewer than {MIN_PHOTOS} photos ({', '.join(few[:5])}): add photos "
                        "of them for a fair held-out measurement")
    if not base.pretrained:
        warnings.append(f"{base.name} trains from scratch: it needs a large data set (many thousands of people) and "
                        "full mode; on a class's photos it will not beat the pretrained FaceNet")
    photos = sum(counts.values())
    recommended = "full" if (not base.pretrained or (device != "CPU" and photos >= 500)) else "head"
    return TrainPlan(len(counts), photos, tuple(warnings), recommended, estimate_seconds(photos, spec, device), device)


def estimate_seconds(photos: int, spec: TrainSpec, device: str) -> float:
    """A rough duration: head mode is dominated by feature extraction (≈ 0.025 s an image on an idle 2-core CPU
    through onnxruntime; a photo and, see :func:`mirror_rows`, maybe its mirror image), full mode by the epochs
    (≈ 0.5 s a photo-epoch on a CPU, 5 ms on a GPU)."""
    per_image = 0.025 if device == "CPU" else 0.002
    if spec.mode == "head":
        training_photos = round(photos * (1 - spec.holdout))
        mirrored = 0 if not spec.mirror else photos if spec.mirror_all or training_photos <= MIRROR_ALL_UP_TO \
            else photos - training_photos
        return round((photos + mirrored) * per_image + spec.epochs * photos * 0.0005 + 20.0, 1)
    per_step = 0.5 if device == "CPU" else 0.005
    return round(spec.epochs * photos * per_step + 30.0, 1)


def spec_arch(spec: TrainSpec) -> Arch:
    """The spec's architecture (``--arch``, else the triplet architecture of ``--base``).

    Raises:
        InvalidInput: unknown or unavailable architecture, or unknown base.
    """
    return get_arch(spec.arch) if spec.arch else arch_for_base(spec.base)


def spec_base(spec: TrainSpec) -> BaseModel:
    """Alignment, input size, embedding size and standardisation of the network the spec trains."""
    arch = spec_arch(spec)
    if arch.family == "margin":
        from models.train.margin import DEFAULT_SIZE, margin_base

        return margin_base(spec.backbone, spec.embedding, spec.image_size or DEFAULT_SIZE)
    return base_model(arch.base or spec.base)


def _check_spec(spec: TrainSpec) -> Any:
    arch = spec_arch(spec)
    base = spec_base(spec)
    if arch.family == "margin":
        from models.train.heads import head_kind

        head_kind(spec.head)
        if spec.head_scale is not None and not 0.0 < spec.head_scale <= 128.0:
            raise InvalidInput(f"--head-scale {spec.head_scale} is out of range; use a value in (0, 128], e.g. 30")
        if spec.head_margin is not None and not 0.0 <= spec.head_margin <= 4.0:
            raise InvalidInput(f"--head-margin {spec.head_margin} is out of range; use a value in [0, 4], e.g. 0.2")
        if not 0.0 < spec.alpha <= 1.4:
            raise InvalidInput(f"MobileNetV2 width {spec.alpha} is out of range; use a value in (0, 1.4], e.g. 1.0")
        if spec.alpha != 1.0 and spec.backbone != "mobilenetv2":
            raise InvalidInput(f"--width (MobileNetV2's width multiplier) does not apply to --backbone {spec.backbone}; "
                               "leave it out")
    if spec.mode not in MODES:
        raise InvalidInput(f"unknown mode {spec.mode!r}; use head or full")
    if spec.source not in SOURCES:
        raise InvalidInput(f"unknown data source {spec.source!r}; use enrolled, folder or tfrecords")
    if spec.mode == "head" and not base.pretrained:
        raise InvalidInput(f"{base.name} starts from random weights, so head mode cannot work: use --mode full")
    if spec.epochs < 1 or spec.people < 2 or spec.per_person < 2:
        raise InvalidInput("epochs must be at least 1, and --people and --per-person at least 2")
    if spec.margin <= 0 or spec.learning_rate <= 0:
        raise InvalidInput("--margin and --learning-rate must be positive")
    return base


# ---- data -------------------------------------------------------------------------------------------------


def _engine(config: AppConfig, spec: TrainSpec) -> Any:
    """An engine that detects with the spec's detector and aligns for the base (no embedding is loaded)."""
    from models.engine import FaceEngine

    engine = FaceEngine(replace(config.engine, backend="facenet", detector=spec.detector, fallback_detector=None,
                                threshold=None))
    base = spec_base(spec)
    engine.info = replace(engine.info, alignment=base.alignment, input_size=base.input_size)  # crops for the base
    return engine


def enrolled_set(config: AppConfig, spec: TrainSpec, progress: Progress) -> FaceSet:
    """The enrolled people's stored canonical crops, aligned for the base model."""
    from app.context import AppContext
    from models.align import align_batch
    from models.imageio import decode_image
    from models.types import Landmarks

    base = spec_base(spec)
    ctx = AppContext(config)
    crops, labels, names, sources = [], [], [], []
    try:
        people = [p for p in ctx.repo.list_people() if spec.person_ids is None or p.id in spec.person_ids]
        for k, person in enumerate(people):
            progress(k, len(people), f"reading {person.name}'s photos")
            for rec in ctx.repo.list_samples(person.id):
                crop = decode_image(rec.image, f"stored face sample {rec.id}")
                marks = Landmarks(tuple((float(x), float(y)) for x, y in rec.landmarks), rec.landmark_scheme)
                crops.append(align_batch(crop, [marks], base.alignment, base.input_size)[0])
                labels.append(len(names))
                sources.append(f"sample {rec.id}")
            names.append(person.name)
    finally:
        ctx.close()
    w, h = base.input_size
    arr = np.stack(crops) if crops else np.zeros((0, h, w, 3), np.uint8)
    return FaceSet(arr, np.asarray(labels, np.int64), names, sources)


def user_set(config: AppConfig, spec: TrainSpec, progress: Progress, should_stop: ShouldStop) -> FaceSet:
    """The people to train on, with people left without two photos dropped.

    Raises:
        InvalidInput: fewer than two people with two or more usable photos.
    """
    if spec.source == "enrolled":
        faces = enrolled_set(config, spec, progress)
    elif spec.source == "folder":
        faces = load_tree(_engine(config, spec), folder_tree(_need_data(spec)), False, progress, should_stop,
                          spec.centre_fallback)
    else:
        from models.train.data import load_encoded
        from models.train.tfrecords import read_records

        records = read_records(_need_data(spec))
        faces = load_encoded(_engine(config, spec), records.images, progress, should_stop)
        faces.unreadable += records.skipped
    counts = np.bincount(faces.labels, minlength=len(faces.names)) if len(faces) else np.zeros(0, int)
    keep_people = np.flatnonzero(counts >= 2)
    if len(keep_people) < MIN_PEOPLE:
        raise InvalidInput(
            f"training needs at least {MIN_PEOPLE} people with two or more photos in which one face was found; "
            f"found {len(keep_people)} ({count(faces.no_face, 'photo')} without a face, {faces.multiple_faces} with several)"
        )
    remap = -np.ones(len(faces.names), np.int64)
    remap[keep_people] = np.arange(len(keep_people))
    mask = remap[faces.labels] >= 0
    kept = FaceSet(faces.crops[mask], remap[faces.labels[mask]], [faces.names[i] for i in keep_people],
                   [s for s, m in zip(faces.sources, mask) if m], faces.no_face, faces.multiple_faces, faces.unreadable,
                   faces.centre_box)
    return kept


def background_set(config: AppConfig, spec: TrainSpec, exclude: set[str], progress: Progress,
                   should_stop: ShouldStop) -> FaceSet | None:
    """Up to ``background_limit`` people (two to four photos each, seeded choice) of the background tree."""
    if not spec.background:
        return None
    tree = {k: v for k, v in folder_tree(spec.background, 2).items() if k not in exclude}
    rng = np.random.default_rng(spec.seed)
    names = sorted(tree)
    chosen = sorted(rng.choice(len(names), min(spec.background_limit, len(names)), replace=False)) if names else []
    small = {names[i]: tree[names[i]][:4] for i in chosen}
    faces = cached_tree(config, spec, small, True, progress, should_stop)
    return faces if len(faces) else None


def default_guard_pairs() -> Path | None:
    """lfw-dev's pairs file from the shared data folder (``ROLLCALL_SHARED`` or ``../shared``), if present."""
    root = Path(os.environ.get("ROLLCALL_SHARED") or Path(__file__).resolve().parents[3] / "shared")
    path = root / "data" / "lfw-dev" / "pairs.txt"
    return path if path.is_file() else None


def guard_set(config: AppConfig, spec: TrainSpec, exclude: set[str], progress: Progress) -> tuple[FaceSet, Any] | None:
    """The guard pairs (people in training excluded) as crops plus index pairs, or None without a pairs file."""
    from models.evaluation import read_pairs

    if spec.guard_per_fold <= 0:
        return None
    path = Path(spec.guard_pairs) if spec.guard_pairs else default_guard_pairs()
    if path is None:
        log.warning("no guard set: lfw-dev pairs not found; only the held-out photos are measured")
        return None
    pairs = [p for p in read_pairs(path, path.parent / "images", spec.guard_per_fold)
             if p.first.parent.name not in exclude and p.second.parent.name not in exclude]
    paths = sorted({p.first for p in pairs} | {p.second for p in pairs})
    tree = {str(p): [p] for p in paths}
    faces = cached_tree(config, spec, tree, True, progress)
    index = {Path(source): i for i, source in enumerate(faces.sources)}
    pairs = [p for p in pairs if p.first in index and p.second in index]
    first = np.array([index[p.first] for p in pairs], np.int64)
    second = np.array([index[p.second] for p in pairs], np.int64)
    return faces, (first, second, np.array([p.same for p in pairs], bool))


CACHE_LIMIT_MB = 256
"""Most the train cache (``<model cache>/train-cache``: crops and backbone features of the general faces of the
guard and background sets) may hold; beyond it the least recently used files are deleted."""


def _cache_root(config: AppConfig) -> Path:
    return Path(config.cache_dir) / "train-cache"


def prune_cache(root: Path, limit_bytes: int, keep: Path | None = None) -> list[Path]:
    """Delete the least recently used ``.npz`` files of ``root`` until it holds at most ``limit_bytes``
    (``keep``, the file just written, stays even when it alone is larger). Returns the deleted files."""
    entries = []
    for path in root.glob("*.npz"):
        if ".tmp." in path.name:  # another job is writing it
            continue
        try:
            entries.append((path.stat().st_mtime, path.stat().st_size, path))
        except OSError:  # deleted meanwhile by another job
            continue
    total = sum(size for _, size, _ in entries)
    deleted = []
    for _, size, path in sorted(entries):
        if total <= limit_bytes:
            break
        if keep is not None and path == keep:
            continue
        path.unlink(missing_ok=True)
        total -= size
        deleted.append(path)
    if deleted:
        log.info("train cache over %d MB: deleted %d least recently used files", limit_bytes >> 20, len(deleted))
    return deleted


def _touch(path: Path) -> None:
    """Mark a cache file as used now (the cache evicts by modification time)."""
    try:
        os.utime(path)
    except OSError:
        pass


def clear_cache(config: AppConfig) -> tuple[int, int]:
    """Delete the train cache and the interrupted runs' checkpoints. Returns ``(files, bytes)`` deleted."""
    paths = [_cache_root(config), *interrupted_runs(config)]
    files = [f for p in paths if p.is_dir() for f in p.rglob("*") if f.is_file()]
    size = sum(f.stat().st_size for f in files)
    for p in paths:
        shutil.rmtree(p, ignore_errors=True)
    return len(files), size


def cached_tree(config: AppConfig, spec: TrainSpec, tree: dict[str, list[Path]], centred: bool,
                progress: Progress, should_stop: ShouldStop | None = None, centre_fallback: bool = False) -> FaceSet:
    """:func:`load_tree` with its crops kept in the model cache, keyed by files, detector and base (the guard
    and background photos are the same from one job to the next)."""
    import hashlib

    base = spec_base(spec)
    base_key = spec.base if base.alignment == "box_margin_facenet" else [base.alignment, list(base.input_size)]
    key = hashlib.sha1(json.dumps([spec.detector, base_key, centred, centre_fallback, sorted((k, [str(p) for p in v]) for k, v in tree.items())]).encode()).hexdigest()[:16]
    path = _cache_root(config) / f"crops-{key}.npz"
    if path.is_file():
        _touch(path)
        with np.load(path, allow_pickle=False) as z:
            return FaceSet(z["crops"], z["labels"], list(z["names"]), list(z["sources"]), *map(int, z["skipped"]))
    faces = load_tree(_engine(config, spec), tree, centred, progress, should_stop or (lambda: False), centre_fallback)
    if should_stop is None or not should_stop():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, crops=faces.crops, labels=faces.labels, names=np.array(faces.names, dtype=str),
                 sources=np.array(faces.sources, dtype=str),
                 skipped=np.array([faces.no_face, faces.multiple_faces, faces.unreadable, faces.centre_box]))
        os.replace(tmp, path)
        prune_cache(path.parent, CACHE_LIMIT_MB << 20, keep=path)
    return faces


class FeatureCache:
    """Backbone features of crops, keyed by the crop's bytes (sha1), kept in one file per base model."""

    def __init__(self, path: Path, mirror: bool = True) -> None:
        self.path = path
        self.mirror = mirror
        self.table: dict[str, np.ndarray] = {}
        if path.is_file():
            _touch(path)
            with np.load(path, allow_pickle=False) as z:
                self.table = dict(zip(z["keys"].tolist(), z["values"]))
        self.dirty = False

    @staticmethod
    def key(crop: np.ndarray) -> str:
        import hashlib

        return hashlib.sha1(np.ascontiguousarray(crop).tobytes()).hexdigest()

    def features(self, backbone: Any, base: Any, crops: np.ndarray, progress: Progress,
                 should_stop: ShouldStop) -> np.ndarray | None:
        """``(N, 2, F)`` features (crop, mirror), computing only the missing ones; None when stopped."""
        from models.train.backbone import embed_features

        keys = [self.key(c) for c in crops]
        missing = [i for i, k in enumerate(keys) if k not in self.table]
        if missing:
            fresh = embed_features(backbone, crops[missing], base, should_stop=should_stop, progress=progress,
                                   mirror=self.mirror)
            if fresh is None:
                return None
            self.table.update({keys[i]: f for i, f in zip(missing, fresh)})
            self.dirty = True
        if not keys:
            return np.zeros((0, 2, backbone.dim), np.float32)
        return np.stack([self.table[k] for k in keys]).astype(np.float32)

    def save(self) -> None:
        if not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, keys=np.array(list(self.table), dtype=str), values=np.stack(list(self.table.values())))
        os.replace(tmp, self.path)
        prune_cache(self.path.parent, CACHE_LIMIT_MB << 20, keep=self.path)


# ---- training ---------------------------------------------------------------------------------------------

SUMMARY = "summary.json"
PARITY = "parity-crops.npy"
SPEC = "spec.json"
SPLIT = "split.npz"
CALIBRATION = "calibration-crops.npy"
CALIBRATION_CROPS = 200
"""Training crops kept with a job (deleted with it) to calibrate the int8 TFLite export."""


def _new_work_dir(config: AppConfig) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
    work = _runs_root(config) / stamp
    work.mkdir(parents=True)
    return work


def _runs_root(config: AppConfig) -> Path:
    return Path(config.cache_dir) / "training"


def interrupted_runs(config: AppConfig) -> list[Path]:
    """Runs that finished at least one epoch but not the whole job (interrupted, killed), newest first."""
    root = _runs_root(config)
    if not root.is_dir():
        return []
    runs = [d for d in root.iterdir() if (d / STATE).is_file() and (d / SPEC).is_file() and not (d / SUMMARY).is_file()]
    return sorted(runs, key=lambda d: d.name, reverse=True)


def resumable_spec(work_dir: Path) -> TrainSpec:
    """The spec an interrupted run was started with (``train --resume`` continues it unchanged).

    Raises:
        InvalidInput: the folder holds no resumable run.
    """
    try:
        raw = json.loads((Path(work_dir) / SPEC).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{work_dir} holds no interrupted training run to continue ({exc})") from None
    return spec_from_dict(raw)


def spec_from_dict(raw: dict) -> TrainSpec:
    """The :class:`TrainSpec` a job recorded (``spec.json``, or the ``spec`` of its summary); fields this
    version does not know are ignored, missing ones take their defaults."""
    from dataclasses import fields

    known = {f.name for f in fields(TrainSpec)}
    spec = {k: v for k, v in raw.items() if k in known}
    if spec.get("person_ids") is not None:
        spec["person_ids"] = tuple(spec["person_ids"])
    return TrainSpec(**spec)


def _device_setup(mode: str) -> tuple[str, bool]:
    """``(device name, use XLA)``; on a GPU, full mode also switches Keras to mixed precision."""
    from models.train.networks import device_name

    device = device_name()
    on_gpu = device != "CPU"
    if on_gpu and mode == "full":
        import keras

        keras.mixed_precision.set_global_policy("mixed_float16")
    return device, on_gpu


@dataclass(frozen=True)
class _Inputs:
    """A job's photos: the user's faces with their held-out mask, the background and guard sets (or None)."""

    faces: FaceSet
    held: np.ndarray
    background: FaceSet | None
    guard: tuple[FaceSet, Any] | None


def run_training(config: AppConfig, spec: TrainSpec, progress: Progress, should_stop: ShouldStop,
                 on_epoch: Callable[[EpochStats], None], resume: str | None = None) -> TrainOutcome:
    """Run one training job (see the module docstring); callable in a spawned worker process.

    Args:
        resume: the folder of an interrupted run (:func:`interrupted_runs`) to continue from its last finished
            epoch, with the same held-out split; ``spec`` must be the run's own (:func:`resumable_spec`).

    Returns:
        The outcome; a job cancelled before its first epoch ends has ``can_use`` False.

    Raises:
        InvalidInput: bad spec, too little usable data, or photos that differ from the interrupted run's.
        WeightsError: FaceNet weights not fetched.
    """
    started = time.perf_counter()
    _check_spec(spec)
    faces = user_set(config, spec, progress, should_stop)
    held = holdout_split(faces.labels, spec.holdout, spec.seed) if resume is None else _saved_split(Path(resume), faces)
    exclude = {n.replace(" ", "_") for n in faces.names}
    background = background_set(config, spec, exclude, progress, should_stop)
    if background is not None:  # background people are trained on too: the guard must not contain them
        exclude |= set(background.names)
    inputs = _Inputs(faces, held, background, guard_set(config, spec, exclude, progress))
    work = _new_work_dir(config) if resume is None else Path(resume)
    if resume is None:
        (work / SPEC).write_text(json.dumps(asdict(spec)), encoding="utf-8")
        np.savez(work / SPLIT, labels=faces.labels, held=held)
    try:
        return _train(config, spec, inputs, work, started, Hooks(progress, should_stop, on_epoch), resume is not None)
    except KeyboardInterrupt:
        _keep_if_resumable(work)
        raise
    except BaseException:
        if resume is None:
            shutil.rmtree(work, ignore_errors=True)  # a failed job leaves nothing behind
        raise


def _keep_if_resumable(work: Path) -> None:
    """After Ctrl-C: keep a run that finished an epoch (``train --resume`` continues it), else remove it."""
    if (work / STATE).is_file():
        log.warning("interrupted: %s keeps the last finished epoch; `python main.py train --resume` continues it", work)
    else:
        shutil.rmtree(work, ignore_errors=True)


def _saved_split(work: Path, faces: FaceSet) -> np.ndarray:
    """The held-out mask an interrupted run used (the photos must be the same, in the same order).

    Raises:
        InvalidInput: the split is missing or the photos changed since.
    """
    try:
        with np.load(work / SPLIT) as z:
            labels, held = z["labels"], z["held"]
    except (OSError, KeyError, ValueError):
        raise InvalidInput(f"{work} holds no interrupted training run to continue") from None
    if not np.array_equal(labels, faces.labels):
        raise InvalidInput(f"the photos differ from those of the interrupted run in {work} (people or photos were "
                           "added or removed since); start a new run")
    return held.astype(bool)


def _train(config: AppConfig, spec: TrainSpec, inputs: _Inputs, work: Path, started: float, hooks: Hooks,
           resume: bool) -> TrainOutcome:
    from models.train.sampling import PKConfig
    from models.train.trainer import PairSet, TrainConfig, TrainData, fit

    device, on_gpu = _device_setup(spec.mode)
    job, guard_inputs = _make_job(config, spec, inputs, hooks, on_gpu)
    faces, held, background, guard = inputs.faces, inputs.held, inputs.background, inputs.guard
    if job is None:
        return _cancelled(work, device, started, faces)
    cfg = TrainConfig(spec.epochs, spec.margin, spec.miner,
                      PKConfig(spec.people, spec.per_person, spec.background_people if background is not None else 0),
                      spec.learning_rate, spec.weight_decay, 0.1, spec.patience, spec.seed, jit=on_gpu)
    data = TrainData(faces.labels, held, None if background is None else background.labels,
                     None if guard is None else PairSet(guard_inputs, *guard[1]))
    result = fit(job, data, cfg, work, hooks, resume)
    verdict, can_use = judge(result.before, result.after, result.epochs)
    outcome = TrainOutcome(str(work), result.before, result.after, verdict, can_use, result.epochs, result.cancelled,
                           device, round(time.perf_counter() - started, 1), _skipped(faces), result.best_epoch)
    np.save(work / PARITY, faces.crops[np.flatnonzero(held)[:4]] if held.any() else faces.crops[:4])
    np.save(work / CALIBRATION, faces.crops[np.flatnonzero(~held)[:CALIBRATION_CROPS]])
    _write_summary(work, spec, faces, held, outcome, _classes(faces, background))
    return outcome


def _classes(faces: FaceSet, background: FaceSet | None) -> int:
    """Identities a classifier head covers: the user's people, then the background people (as :func:`fit`
    numbers them)."""
    return int(faces.labels.max()) + 1 + (0 if background is None else len(background.names))


def _make_job(config: AppConfig, spec: TrainSpec, inputs: _Inputs, hooks: Hooks, on_gpu: bool) -> tuple[Any, Any]:
    """The job (margin, or triplet head or full mode) and the guard inputs in the job's terms; ``(None, None)``
    when stopped. Head mode's features come from onnxruntime on a CPU, from Keras where a GPU is present."""
    from models.train.backbone import head_parts
    from models.train.networks import build_full, freeze_batchnorm
    from models.train.trainer import FullJob, HeadJob

    base, faces, background = spec_base(spec), inputs.faces, inputs.background
    guard_crops = None if inputs.guard is None else inputs.guard[0].crops
    if spec_arch(spec).family == "margin":
        from models.train.margin import build_job

        crops = faces.crops if background is None else np.concatenate([faces.crops, background.crops])
        return build_job(base, spec.backbone, spec.head, _classes(faces, background), crops, spec.seed,
                         spec.alpha, spec.head_margin, spec.head_scale), guard_crops
    if spec.mode == "full":
        model = build_full(base, Path(config.cache_dir) if base.pretrained else None, spec.seed)
        freeze_batchnorm(model)
        crops = faces.crops if background is None else np.concatenate([faces.crops, background.crops])
        return FullJob(model, base, crops), guard_crops
    backbone, head = head_parts(base, Path(config.cache_dir), spec.seed, use_onnx=not on_gpu)
    progress, should_stop = hooks.progress, hooks.should_stop
    # The user's own faces are never cached (discarding a job must leave nothing of them behind); the general
    # faces of the background and guard sets are the same from one job to the next, so their features are.
    feats = user_features(backbone, base, faces.crops, mirror_rows(spec, inputs.held), hooks)
    suffix = "" if spec.mirror else "-nomirror"
    cache = FeatureCache(_cache_root(config) / f"features-{base.name}{suffix}.npz", spec.mirror)
    try:
        bg_feats = None if background is None else cache.features(backbone, base, background.crops, progress, should_stop)
        guard_feats = None if guard_crops is None else cache.features(backbone, base, guard_crops, progress, should_stop)
    finally:
        cache.save()
    if feats is None or (background is not None and bg_feats is None) or (guard_crops is not None and guard_feats is None):
        return None, None
    return HeadJob(head, feats if bg_feats is None else np.concatenate([feats, bg_feats])), guard_feats


MIRROR_ALL_UP_TO = 400
"""Head mode computes the mirror image's features of every photo while at most this many photos train (for small
sets the mirror view is useful augmentation); beyond it only the held-out photos' (measured as the app embeds
them, both views averaged), which nearly halves feature extraction. ``mirror_all`` keeps every mirror view.
Measured on 997 lfw-dev photos (README, "Fine-tuning"): the held-out figures of the two heads agree."""


def mirror_rows(spec: TrainSpec, held: np.ndarray) -> np.ndarray:
    """``(N,)`` which of the user's photos get their mirror image's features computed (see
    :data:`MIRROR_ALL_UP_TO`)."""
    if not spec.mirror:
        return np.zeros(len(held), bool)
    if spec.mirror_all or int((~held).sum()) <= MIRROR_ALL_UP_TO:
        return np.ones(len(held), bool)
    log.info("%d training photos: mirror features for the held-out photos only (--mirror-all computes all)",
             int((~held).sum()))
    return held.astype(bool)


def user_features(backbone: Any, base: Any, crops: np.ndarray, mirrored: np.ndarray, hooks: Hooks) -> np.ndarray | None:
    """``(N, 2, F)`` backbone features of the user's crops: both views where ``mirrored``, else the original view
    twice. None when stopped."""
    from models.train.backbone import embed_features

    out = np.zeros((len(crops), 2, backbone.dim), np.float32)
    for rows, mirror in ((mirrored, True), (~mirrored, False)):
        if rows.any():
            feats = embed_features(backbone, crops[rows], base, should_stop=hooks.should_stop,
                                   progress=hooks.progress, mirror=mirror)
            if feats is None:
                return None
            out[rows] = feats
    return out


def _skipped(faces: FaceSet) -> dict:
    return {"no_face": faces.no_face, "multiple_faces": faces.multiple_faces, "unreadable": faces.unreadable,
            "centre_box": faces.centre_box}


def _cancelled(work: Path, device: str, started: float, faces: FaceSet) -> TrainOutcome:
    empty = {"heldout": None, "guard": None}
    return TrainOutcome(str(work), empty, empty, "cancelled before training started; nothing to keep", False, (),
                        True, device, round(time.perf_counter() - started, 1), _skipped(faces))


def judge(before: dict, after: dict, epochs: tuple[EpochStats, ...]) -> tuple[str, bool]:
    """A plain-words verdict and whether the model may be used (the held-out score did not get worse, and it
    trained at least one epoch)."""
    if not epochs:
        return "no epoch finished, so there is no tuned model to keep", False
    parts, can_use = [], True
    hb, ha = before.get("heldout"), after.get("heldout")
    if hb and ha and np.isfinite(hb["accuracy"]):
        d_acc, d_auc = ha["accuracy"] - hb["accuracy"], ha["auc"] - hb["auc"]
        if d_acc < -1e-9 or d_auc < -1e-9:
            parts.append("worse for your people")
            can_use = False
        elif d_acc > 1e-9 or d_auc > 1e-6:
            parts.append("better for your people")
        else:
            parts.append("no better for your people")
    else:
        parts.append("not measured on your people (no held-out photos)")
    gb, ga = before.get("guard"), after.get("guard")
    if gb and ga and np.isfinite(gb["accuracy"]):
        delta = 100 * (ga["accuracy"] - gb["accuracy"])
        parts.append("unchanged for others" if abs(delta) <= 0.3 else
                     f"{'better' if delta > 0 else 'worse'} for others ({delta:+.1f} points on the guard set)")
    return ", ".join(parts), can_use


def _write_summary(work: Path, spec: TrainSpec, faces: FaceSet, held: np.ndarray, outcome: TrainOutcome,
                   classes: int) -> None:
    summary = {"spec": asdict(spec), "people": faces.names, "photos": int(len(faces)), "heldout": int(held.sum()),
               "classes": classes,
               "outcome": {k: v for k, v in asdict(outcome).items()}}
    (work / SUMMARY).write_text(json.dumps(summary, indent=2, default=_jsonable), encoding="utf-8")


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


# ---- keeping or discarding the result ---------------------------------------------------------------------


def tuned_model(config: AppConfig, work_dir: Path) -> tuple[Any, dict]:
    """The tuned Keras model rebuilt from a job's folder (best checkpoint), and the job's summary."""
    from models.train.networks import build_full, merge_head, split_facenet
    from models.train.trainer import BEST

    summary = json.loads((work_dir / SUMMARY).read_text(encoding="utf-8"))
    spec = summary["spec"]
    job_spec = spec_from_dict(summary["spec"])
    base = spec_base(job_spec)
    if spec_arch(job_spec).family == "margin":
        from models.train.margin import load_network

        net = load_network(base, job_spec.backbone, job_spec.head, int(summary["classes"]), work_dir / BEST,
                           job_spec.seed, job_spec.alpha)
        return net, summary
    model = build_full(base, Path(config.cache_dir) if base.pretrained else None, int(spec["seed"]))
    if spec["mode"] == "head":
        _, head = split_facenet(model)
        head.load_weights(str(work_dir / BEST))
        merge_head(model, head)
    else:
        model.load_weights(str(work_dir / BEST))
    return model, summary


def adopt_model(config: AppConfig, outcome: TrainOutcome, name: str, exports: tuple[str, ...] = ("onnx",)) -> str:
    """Export the tuned model and register it as user backend ``name`` (then switch to it like any backend:
    the gallery is re-embedded from the stored crops).

    Args:
        exports: ``onnx`` (always written: the backend runs it), ``savedmodel``, ``tflite``, ``tflite-int8``.

    Returns:
        The backend's name.

    Raises:
        InvalidInput: bad or taken name, unknown export, or a job that may not be used.
        WeightsError: the ONNX export disagrees with the Keras model.
    """
    from models.embedders.user_backend import check_name, write_backend
    from models.train.export import export_onnx_checked, export_savedmodel, export_tflite, export_tflite_checked
    from models.train.networks import standardize

    check_name(name)
    unknown = set(exports) - {"onnx", "savedmodel", "tflite", "tflite-int8"}
    if unknown:
        raise InvalidInput(f"unknown export {sorted(unknown)[0]!r}; use onnx, savedmodel, tflite or tflite-int8")
    if not outcome.can_use:
        raise InvalidInput(f"this model may not be used: {outcome.verdict}")
    work = Path(outcome.work_dir)
    model, summary = tuned_model(config, work)
    base = spec_base(spec_from_dict(summary["spec"]))
    staged = work / "export"
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir()
    inputs = standardize(base, np.load(work / PARITY))
    diff = export_onnx_checked(model, staged / "model.onnx", inputs)
    meta = _backend_meta(name, base, summary, outcome, diff)
    if "savedmodel" in exports:
        export_savedmodel(model, staged / "savedmodel")
    if "tflite" in exports:
        meta["training"]["tflite_float32_relative_diff"] = export_tflite_checked(model, staged / "model_float32.tflite", inputs)
    if "tflite-int8" in exports:
        calibration = work / CALIBRATION
        real = standardize(base, np.load(calibration)) if calibration.is_file() else np.zeros((0,), np.float32)
        export_tflite(model, staged / "model_int8.tflite", real if len(real) else inputs)
    write_backend(Path(config.cache_dir), name, meta, staged)
    return name


def _backend_meta(name: str, base: Any, summary: dict, outcome: TrainOutcome, onnx_diff: float) -> dict:
    held = outcome.after.get("heldout") or {}
    threshold = held.get("threshold")
    if threshold is None or not np.isfinite(threshold) or held.get("pairs", 0) < MIN_CALIBRATION_PAIRS:
        from models.embedders.registry import backend_info

        guard = outcome.after.get("guard") or {}
        threshold = guard.get("threshold")
        if threshold is None or not np.isfinite(threshold) or guard.get("pairs", 0) < MIN_CALIBRATION_PAIRS:
            threshold = backend_info("facenet").threshold
    spec = summary["spec"]
    return {
        "name": name, "base": base.name, "alignment": base.alignment, "input_size": list(base.input_size),
        "dim": base.dim, "metric": "l2", "threshold": round(float(threshold), 4), "standardize": base.standardize,
        "description": f"{base.name} {'trained' if not base.pretrained else 'fine-tuned'} ({spec['mode']} mode) on "
                       f"{len(summary['people'])} people, {summary['photos']} photos",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "training": {"spec": spec, "before": outcome.before, "after": outcome.after, "verdict": outcome.verdict,
                     "epochs": len(outcome.epochs), "best_epoch": outcome.best_epoch, "device": outcome.device,
                     "seconds": outcome.seconds, "onnx_max_abs_diff": onnx_diff},
    }


def discard_model(outcome: TrainOutcome) -> None:
    """Delete everything the job wrote (checkpoints, exports). Only the general faces' caches (guard and
    background crops and features, under ``train-cache/``) stay; nothing of the user's own faces is cached."""
    shutil.rmtree(outcome.work_dir, ignore_errors=True)


def list_user_backends(config: AppConfig) -> list[dict]:
    """Every tuned model: its ``backend.json`` contents plus ``path``."""
    from models.embedders.user_backend import read_meta, user_backend_names, user_backends_dir

    out = []
    for name in user_backend_names(Path(config.cache_dir)):
        meta = read_meta(Path(config.cache_dir), name)
        if meta is not None:
            out.append({**meta, "path": str(user_backends_dir(Path(config.cache_dir)) / name)})
    return out


def remove_user_backend(config: AppConfig, name: str) -> None:
    """Delete tuned model ``name``.

    Raises:
        InvalidInput: it is the backend in use (switch to another first). NotFound: no such tuned model.
    """
    from models.embedders.user_backend import remove_backend

    if config.settings.backend == name or config.engine.backend == name:
        raise InvalidInput(f"{name!r} is the backend in use; switch to another backend first")
    remove_backend(Path(config.cache_dir), name)
