"""Training DeepFace or the Siamese verifier from scratch on the user's data, measuring it on people it never
saw, and keeping it as a user backend.

The data come through the fine-tune job's interface (:func:`app.services.training.user_set`: enrolled crops, a
``person/photo`` folder tree or TFRecord shards, detected and aligned with FaceNet's box-margin crop), resized
to the network's input. Whole people are held out (``holdout`` is a share of the *people*); the figures are
verification on balanced pairs of those people: before training (random weights) and after.

Qt-free; TensorFlow loads inside the functions.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from app.config import AppConfig
from app.text import count
from common.errors import InvalidInput
from common.progress import Progress, ShouldStop
from models.train.archs import ARCHS as ARCH_TABLE
from models.train.data import FaceSet

ARCHS = tuple(name for name, arch in ARCH_TABLE.items() if arch.family == "net")  # deepface, siamese
SUMMARY, WEIGHTS, PARITY = "summary.json", "model.weights.h5", "parity-crops.npy"
MIN_CALIBRATION_PAIRS = 30
DEFAULTS = {"deepface": {"size": 152, "embedding": 4096}, "siamese": {"size": 112, "embedding": 128}}


@dataclass(frozen=True)
class NetSpec:
    """What to train (plain, picklable).

    Attributes:
        arch: ``deepface`` or ``siamese``. source/data/person_ids/detector/centre_fallback: as
            :class:`app.services.training.TrainSpec`. holdout: share of the people held out for measuring.
        size: input side (None: 152 for DeepFace, 112 for Siamese); width: filter-count multiplier;
            embedding: F7 length (DeepFace, default 4096) or branch embedding (Siamese, default 128).
        learning_rate: None = DeepFace's 0.01 × batch/128, Siamese's Adam 1e-3.
    """

    arch: str
    source: str = "enrolled"
    data: str | None = None
    person_ids: tuple[int, ...] | None = None
    detector: str = "hog"
    centre_fallback: bool = False
    epochs: int = 10
    batch: int = 32
    learning_rate: float | None = None
    holdout: float = 0.2
    size: int | None = None
    width: float = 1.0
    embedding: int | None = None
    seed: int = 0

    def input_size(self) -> int:
        return self.size or DEFAULTS[self.arch]["size"]

    def embedding_size(self) -> int:
        return self.embedding or DEFAULTS[self.arch]["embedding"]


@dataclass(frozen=True)
class NetOutcome:
    """A finished job: loss per epoch, figures on the held-out people before and after training
    (``accuracy``, ``auc``, ``threshold``/``cutoff``, ``pairs``), who was trained on and held out."""

    arch: str
    work_dir: str
    losses: tuple[float, ...]
    before: dict
    after: dict
    people_trained: int
    people_heldout: int
    photos: int
    device: str
    seconds: float
    cancelled: bool
    skipped: dict


def check_spec(spec: NetSpec) -> NetSpec:
    """Raises InvalidInput for an unknown architecture or out-of-range numbers; returns ``spec``."""
    if spec.arch not in ARCHS:
        raise InvalidInput(f"unknown architecture {spec.arch!r}; use one of {', '.join(ARCHS)}")
    if spec.epochs < 1 or spec.batch < 2:
        raise InvalidInput(f"--epochs must be at least 1 and --batch-size at least 2 (got {spec.epochs}, {spec.batch})")
    if spec.learning_rate is not None and spec.learning_rate <= 0:
        raise InvalidInput(f"--learning-rate must be positive (got {spec.learning_rate})")
    if not 0.0 < spec.holdout <= 0.9:
        raise InvalidInput(f"--holdout {spec.holdout} is out of range: it is the share of people held out, above 0 and at most 0.9")
    _config(spec)
    return spec


def _config(spec: NetSpec) -> Any:
    if spec.arch == "deepface":
        from models.train.deepface import DeepFaceConfig

        return DeepFaceConfig(spec.input_size(), spec.width, spec.embedding_size()).check()
    from models.train.siamese import SiameseConfig

    return SiameseConfig(spec.input_size(), spec.width, spec.embedding_size()).check()


def load_faces(config: AppConfig, spec: NetSpec, progress: Progress, should_stop: ShouldStop) -> FaceSet:
    """The spec's photos as aligned crops resized to the network's input (through the fine-tune data interface)."""
    from app.services.training import TrainSpec, user_set
    from models.train.net_data import resize_crops

    tspec = TrainSpec(source=spec.source, data=spec.data, person_ids=spec.person_ids, detector=spec.detector,
                      centre_fallback=spec.centre_fallback, seed=spec.seed)
    faces = user_set(config, tspec, progress, should_stop)
    return replace(faces, crops=resize_crops(faces.crops, spec.input_size()))


def run_net_training(config: AppConfig, spec: NetSpec, progress: Progress, should_stop: ShouldStop,
                     faces: FaceSet | None = None) -> NetOutcome:
    """Train ``spec.arch`` on ``faces`` (default: :func:`load_faces`) with whole people held out.

    Raises:
        InvalidInput: bad spec, or fewer than four people with two photos.
    """
    from models.train.net_data import people_split

    started = time.perf_counter()
    check_spec(spec)
    faces = faces if faces is not None else load_faces(config, spec, progress, should_stop)
    held = people_split(faces.labels, spec.holdout, spec.seed)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
    work = Path(config.cache_dir) / "training" / f"{spec.arch}-{stamp}"
    work.mkdir(parents=True)
    try:
        trainer = _train_deepface if spec.arch == "deepface" else _train_siamese
        losses, before, after, extra = trainer(spec, faces, held, work, progress, should_stop)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    from models.train.networks import device_name

    outcome = NetOutcome(spec.arch, str(work), tuple(losses), before, after, len(np.unique(faces.labels[~held])),
                         len(np.unique(faces.labels[held])), len(faces), device_name(),
                         round(time.perf_counter() - started, 1), len(losses) < spec.epochs,
                         {"no_face": faces.no_face, "multiple_faces": faces.multiple_faces, "unreadable": faces.unreadable})
    np.save(work / PARITY, faces.crops[np.flatnonzero(held)[:4]])
    summary = {"spec": asdict(spec), "outcome": asdict(outcome), **extra}
    (work / SUMMARY).write_text(json.dumps(summary, indent=2, default=float), encoding="utf-8")
    return outcome


def _train_deepface(spec: NetSpec, faces: FaceSet, held: np.ndarray, work: Path, progress: Progress,
                    should_stop: ShouldStop) -> tuple[list[float], dict, dict, dict]:
    from models.train import deepface as df
    from models.train.metrics import labelled_verification
    from models.train.net_data import relabel

    labels, classes = relabel(faces.labels[~held])
    clf, emb = df.build_deepface(classes, _config(spec), spec.seed)
    measure = lambda: labelled_verification(df.embed(emb, faces.crops[held]), faces.labels[held])  # noqa: E731
    before = measure()
    losses = df.train_classifier(clf, faces.crops[~held], labels,
                                 df.SGDConfig(spec.epochs, spec.batch, spec.learning_rate, seed=spec.seed),
                                 progress, should_stop)
    clf.save_weights(str(work / WEIGHTS))
    return losses, before, measure(), {"classes": classes}


def _train_siamese(spec: NetSpec, faces: FaceSet, held: np.ndarray, work: Path, progress: Progress,
                   should_stop: ShouldStop) -> tuple[list[float], dict, dict, dict]:
    from models.train import siamese as sm
    from models.train.metrics import labelled_verification, pair_indices

    model, branch = sm.build_siamese(_config(spec), spec.seed)
    crops, labels = faces.crops[held], faces.labels[held]
    i, j = pair_indices(labels, max_pairs=2000, seed=spec.seed)
    measure = lambda: sm.pair_figures(sm.probabilities(model, crops[i], crops[j]), labels[i] == labels[j])  # noqa: E731
    before = measure()
    losses = sm.train_pairs(model, faces.crops[~held], faces.labels[~held],
                            sm.AdamConfig(spec.epochs, spec.batch, spec.learning_rate or 1e-3, spec.seed),
                            progress, should_stop)
    model.save_weights(str(work / WEIGHTS))
    from models.embedders.facenet import STANDARDIZE

    vectors = np.asarray(branch.predict(STANDARDIZE["fixed"](crops), verbose=0), np.float32)
    return losses, before, measure(), {"embedding_figures": labelled_verification(vectors, labels)}


def adopt_net_model(config: AppConfig, outcome: NetOutcome, name: str) -> str:
    """Export the trained network and register it as user backend ``name``.

    DeepFace: ``model.onnx`` and ``model_float32.tflite`` of the embedding network (both checked against Keras).
    Siamese: ``model.onnx`` (the shared branch), ``pair.onnx`` (the whole verifier, used by ``verify``) and the
    SavedModel ``tfserving/NAME/1/`` for TensorFlow Serving (both checked against Keras).

    Raises:
        InvalidInput: bad or taken name, or no finished epoch. WeightsError: an export disagrees with Keras.
    """
    from models.embedders.user_backend import check_name, write_backend

    check_name(name)
    if not outcome.losses:
        raise InvalidInput("no epoch finished, so there is no trained model to keep")
    work = Path(outcome.work_dir)
    spec, summary, nets = trained_networks(work)
    staged = work / "export"
    shutil.rmtree(staged, ignore_errors=True)
    parity = np.load(work / PARITY)
    if spec.arch == "deepface":
        diffs, meta = _export_deepface(spec, summary, nets[1], staged, parity)
    else:
        diffs, meta = _export_siamese(spec, summary, nets, staged, parity, name)
    meta.update({
        "name": name, "base": spec.arch, "alignment": "box_margin_facenet", "input_size": [spec.input_size()] * 2,
        "dim": spec.embedding_size(), "metric": "l2", "standardize": "fixed",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "training": {"spec": summary["spec"], "before": outcome.before, "after": outcome.after,
                     "losses": list(outcome.losses), "device": outcome.device, "seconds": outcome.seconds, **diffs},
    })  # fmt: skip
    write_backend(Path(config.cache_dir), name, meta, staged)
    return name


def trained_networks(work: Path) -> tuple[NetSpec, dict, tuple[Any, Any]]:
    """``(spec, summary, networks)`` of a finished job's folder, the networks rebuilt with the trained weights:
    ``(classifier, embedder)`` for DeepFace, ``(pair model, branch)`` for Siamese."""
    summary = json.loads((work / SUMMARY).read_text(encoding="utf-8"))
    spec = NetSpec(**{**summary["spec"], "person_ids": None})
    if spec.arch == "deepface":
        from models.train.deepface import build_deepface

        nets = build_deepface(int(summary["classes"]), _config(spec), spec.seed)
    else:
        from models.train.siamese import build_siamese

        nets = build_siamese(_config(spec), spec.seed)
    nets[0].load_weights(str(work / WEIGHTS))
    return spec, summary, nets


def _threshold(figures: dict | None) -> float:
    """The calibrated L2 threshold, or 1.0 (90° between unit vectors) with too few pairs to calibrate."""
    if not figures or figures.get("pairs", 0) < MIN_CALIBRATION_PAIRS or not np.isfinite(figures.get("threshold", np.nan)):
        return 1.0
    return round(float(figures["threshold"]), 4)


def _export_deepface(spec: NetSpec, summary: dict, emb: Any, staged: Path, parity: np.ndarray) -> tuple[dict, dict]:
    from models.train import deepface as df

    diffs = df.export_embedder(emb, staged, parity)
    after = summary["outcome"]["after"]
    people = summary["outcome"]["people_trained"]
    return diffs, {"kind": "deepface", "threshold": _threshold(after),
                   "description": f"DeepFace (Taigman 2014), {spec.input_size()}², F7 {spec.embedding_size()}-d, "
                                  f"trained on {count(people, 'person')}"}


def _export_siamese(spec: NetSpec, summary: dict, nets: tuple[Any, Any], staged: Path, parity: np.ndarray,
                    name: str) -> tuple[dict, dict]:
    from models.train import siamese as sm
    from models.train.export import export_onnx_checked

    model, branch = nets
    staged.mkdir(parents=True)
    branch_diff = export_onnx_checked(branch, staged / "model.onnx", sm.standardize(parity))
    sm.export_pair_onnx(model, staged / sm.PAIR_ONNX, spec.input_size())
    saved = sm.export_pair_savedmodel(model, staged / sm.SERVING_DIR, name)
    second = parity[::-1].copy()
    diffs = sm.check_pair_exports(model, staged / sm.PAIR_ONNX, saved, parity, second)
    after = summary["outcome"]["after"]
    cutoff = after["cutoff"] if after.get("pairs", 0) >= MIN_CALIBRATION_PAIRS and np.isfinite(after["auc"]) else 0.5
    people = summary["outcome"]["people_trained"]
    return {**diffs, "branch_onnx_max_abs_diff": branch_diff}, {
        "kind": "siamese", "pair_cutoff": round(float(cutoff), 4), "threshold": _threshold(summary["embedding_figures"]),
        "description": f"Siamese verifier, {spec.input_size()}², trained on {count(people, 'person')} "
                       f"(verify: probability ≥ {cutoff:.2f} = same person)"}


def discard_net_model(outcome: NetOutcome) -> None:
    """Delete everything the job wrote."""
    shutil.rmtree(outcome.work_dir, ignore_errors=True)
