"""The training loop: P×K batches, online triplet mining, warm-up + cosine learning rate, AdamW weight decay,
a checkpoint each epoch, early stopping on the held-out score, cancel that keeps the best checkpoint.

Two ways to train (a :class:`Job` each):

* :class:`HeadJob` — *head* mode: the backbone's features of every crop and of its mirror image are computed
  once (see :func:`models.train.networks.embed_features`); only the head trains, on those features. Seconds on
  a CPU.
* :class:`FullJob` — *full* mode: every layer trains on augmented crops; BatchNorm statistics stay frozen.

The epoch-0 state (the untrained model) is the first "best" checkpoint, so the model kept is never worse on the
held-out photos than the one the job started from.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from numpy.typing import NDArray

from models.progress import Progress, ShouldStop
from models.train.losses import triplet_loss
from models.train.metrics import labelled_verification, verification
from models.train.networks import BaseModel, standardize
from models.train.sampling import PKConfig, augment, pk_batches, steps_per_epoch

log = logging.getLogger(__name__)

BEST = "best.weights.h5"


@dataclass(frozen=True)
class EpochStats:
    """One finished epoch: mean loss, mean share of active triplets, wall seconds, held-out accuracy (None when
    nothing is held out). ``epoch`` counts from 1 of ``epochs``."""

    epoch: int
    epochs: int
    loss: float
    active_fraction: float
    seconds: float
    heldout_accuracy: float | None


@dataclass(frozen=True)
class TrainConfig:
    """How to train. ``patience``: epochs without a better held-out score before stopping early."""

    epochs: int = 10
    margin: float = 0.2
    miner: str = "semi-hard"
    pk: PKConfig = field(default_factory=PKConfig)
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    warmup_fraction: float = 0.1
    patience: int = 3
    seed: int = 0


@dataclass(frozen=True)
class PairSet:
    """Guard pairs: inputs for the job (features or crops) and index pairs into them."""

    inputs: NDArray[Any]
    first: NDArray[np.int64]
    second: NDArray[np.int64]
    same: NDArray[np.bool_]


@dataclass(frozen=True)
class FitResult:
    """What :func:`fit` did: figures before and after (``{"heldout": {...}, "guard": {...}}``), the epochs,
    whether it was cancelled, the epoch whose weights were kept (0 = the untrained model)."""

    before: dict[str, Any]
    after: dict[str, Any]
    epochs: tuple[EpochStats, ...]
    cancelled: bool
    best_epoch: int
    checkpoint: Path


class Job:
    """What the loop needs from a mode: a batch of inputs, embeddings, evaluation embeddings, checkpoints."""

    model: Any

    def batch(self, idx: NDArray[np.int64], rng: np.random.Generator) -> NDArray[np.float32]:
        raise NotImplementedError

    def forward(self, x: Any, training: bool) -> Any:
        raise NotImplementedError

    def embed(self, inputs: NDArray[Any]) -> NDArray[np.float32]:
        """Unit embeddings (mirror-averaged like the app's backends) of stored inputs."""
        raise NotImplementedError

    def loss(self, x: Any, y: Any, cfg: "TrainConfig") -> tuple[Any, Any]:
        """``(loss, active fraction)`` of one training batch; triplet loss with online mining by default."""
        return triplet_loss(y, self.forward(x, True), cfg.margin, cfg.miner)

    def optimizer(self, schedule: Any, cfg: "TrainConfig") -> Any:
        """The optimiser (AdamW with the config's weight decay by default)."""
        import keras

        return keras.optimizers.AdamW(learning_rate=schedule, weight_decay=cfg.weight_decay)

    def save(self, path: Path) -> None:
        self.model.save_weights(str(path))

    def load(self, path: Path) -> None:
        self.model.load_weights(str(path))


class HeadJob(Job):
    """Head mode. ``inputs``: ``(N, 2, F)`` features of the user's crops and their mirrors, then background."""

    def __init__(self, head: Any, inputs: NDArray[np.float32]) -> None:
        self.model = head
        self.inputs = inputs

    def batch(self, idx: NDArray[np.int64], rng: np.random.Generator) -> NDArray[np.float32]:
        return self.inputs[idx, rng.integers(0, 2, len(idx))]

    def forward(self, x: Any, training: bool) -> Any:
        import tensorflow as tf

        # BatchNorm always in inference mode: its pretrained statistics stay; its offset still trains.
        return tf.math.l2_normalize(self.model(x, training=False), axis=1)

    def embed(self, inputs: NDArray[np.float32]) -> NDArray[np.float32]:
        if len(inputs) == 0:
            return np.zeros((0, int(self.model.output.shape[-1])), np.float32)
        a = np.asarray(self.forward(inputs[:, 0], False))
        b = np.asarray(self.forward(inputs[:, 1], False))
        return _unit(a + b)


class FullJob(Job):
    """Full mode. ``inputs``: ``(N, H, W, 3)`` uint8 crops of the user's people, then background."""

    def __init__(self, model: Any, base: BaseModel, inputs: NDArray[np.uint8], augment_crops: bool = True) -> None:
        self.model = model
        self.base = base
        self.inputs = inputs
        self.augment_crops = augment_crops

    def batch(self, idx: NDArray[np.int64], rng: np.random.Generator) -> NDArray[np.float32]:
        crops = self.inputs[idx]
        return standardize(self.base, augment(crops, rng) if self.augment_crops else crops)

    def forward(self, x: Any, training: bool) -> Any:
        import tensorflow as tf

        return tf.math.l2_normalize(tf.cast(self.model(x, training=training), tf.float32), axis=1)

    def embed(self, inputs: NDArray[np.uint8], batch: int = 32) -> NDArray[np.float32]:
        out = [np.zeros((0, int(self.model.output.shape[-1])), np.float32)]
        for s in range(0, len(inputs), batch):
            x = standardize(self.base, inputs[s : s + batch])
            a = np.asarray(self.forward(x, False))
            b = np.asarray(self.forward(x[:, :, ::-1], False))
            out.append(_unit(a + b))
        return np.concatenate(out)


def _unit(v: NDArray[np.float32]) -> NDArray[np.float32]:
    return (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def evaluate_job(job: Job, n_user: int, labels: NDArray[np.int64], heldout: NDArray[np.bool_],
                 guard: PairSet | None) -> dict[str, Any]:
    """``{"heldout": figures, "guard": figures or None}`` for the job's current weights.

    Held-out pairs are every pair with at least one held-out photo (the other may be a training photo).
    """
    out: dict[str, Any] = {"heldout": None, "guard": None}
    if heldout.any():
        vectors = job.embed(job.inputs[:n_user])
        out["heldout"] = labelled_verification(vectors, labels, heldout)
    if guard is not None:
        out["guard"] = verification(job.embed(guard.inputs), guard.first, guard.second, guard.same)
    return out


def _score(figures: dict[str, Any] | None) -> float:
    """Early-stopping score: held-out ROC AUC, ties broken by accuracy."""
    if not figures or not np.isfinite(figures["auc"]):
        return float("nan")
    return float(figures["auc"]) + 1e-3 * float(figures["accuracy"])


def make_step(job: Job, cfg: TrainConfig, total_steps: int, jit: bool = False) -> Callable[[Any, Any], tuple[Any, Any]]:
    """A compiled train step ``(x, labels) -> (loss, active_fraction)`` with the job's loss and optimiser
    (AdamW unless the job says otherwise) and warm-up + cosine LR."""
    import keras
    import tensorflow as tf

    warm = max(0, int(cfg.warmup_fraction * total_steps))
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0 if warm else cfg.learning_rate, max(1, total_steps - warm), alpha=0.0,
        warmup_target=cfg.learning_rate if warm else None, warmup_steps=warm,
    )
    opt = job.optimizer(schedule, cfg)
    variables = job.model.trainable_variables

    def step(x: Any, y: Any) -> tuple[Any, Any]:
        with tf.GradientTape() as tape:
            loss, active = job.loss(x, y, cfg)
        grads = tape.gradient(loss, variables)
        opt.apply_gradients([(g, v) for g, v in zip(grads, variables) if g is not None])
        return loss, active

    return tf.function(step, jit_compile=jit, reduce_retracing=True)


def fit(job: Job, labels: NDArray[np.int64], heldout: NDArray[np.bool_], background: NDArray[np.int64] | None,
        guard: PairSet | None, cfg: TrainConfig, work_dir: Path, progress: Progress, should_stop: ShouldStop,
        on_epoch: Callable[[EpochStats], None], jit: bool = False) -> FitResult:
    """Train ``job`` on the photos not in ``heldout`` (plus ``background``, labelled apart), checkpointing into
    ``work_dir``; stops early when the held-out score has not improved for ``cfg.patience`` epochs.

    Args:
        labels: ``(N,)`` identities of the user's photos (``job.inputs[:N]``).
        heldout: ``(N,)`` photos never trained on. background: identities of ``job.inputs[N:]``, or None.
    """
    n = len(labels)
    train_idx = np.flatnonzero(~heldout)
    bg = None if background is None else np.asarray(background) + int(labels.max()) + 1
    rng = np.random.default_rng(cfg.seed)
    steps = steps_per_epoch(len(train_idx), cfg.pk)
    step = make_step(job, cfg, steps * cfg.epochs, jit)
    before = evaluate_job(job, n, labels, heldout, guard)
    best_path = work_dir / BEST
    job.save(best_path)
    best, best_epoch, stale, cancelled, history = _score(before["heldout"]), 0, 0, False, []
    for epoch in range(1, cfg.epochs + 1):
        started = time.perf_counter()
        stats = _run_epoch(job, step, labels, train_idx, bg, n, cfg, steps, rng, epoch, progress, should_stop)
        if stats is None:
            cancelled = True
            break
        loss, active = stats
        job.save(work_dir / f"epoch-{epoch:03d}.weights.h5")
        figures = evaluate_job(job, n, labels, heldout, None)["heldout"]
        score = _score(figures)
        history.append(EpochStats(epoch, cfg.epochs, loss, active, round(time.perf_counter() - started, 3),
                                  None if figures is None else float(figures["accuracy"])))
        on_epoch(history[-1])
        if np.isnan(score) or not score <= best:  # no held-out photos: the last epoch is kept
            best, best_epoch, stale = score, epoch, 0
            job.save(best_path)
        else:
            stale += 1
            if stale >= cfg.patience:
                log.info("stopping early after epoch %d: no better held-out score for %d epochs", epoch, stale)
                break
    job.load(best_path)
    after = evaluate_job(job, n, labels, heldout, guard)
    return FitResult(before, after, tuple(history), cancelled, best_epoch, best_path)


def _run_epoch(job: Job, step: Any, labels: NDArray[np.int64], train_idx: NDArray[np.int64], bg: NDArray[np.int64] | None,
               n: int, cfg: TrainConfig, steps: int, rng: np.random.Generator, epoch: int, progress: Progress,
               should_stop: ShouldStop) -> tuple[float, float] | None:
    """One epoch; ``(mean loss, mean active fraction)`` or None when cancelled."""
    batches = pk_batches(labels[train_idx], cfg.pk, steps, rng, bg)
    all_labels = labels if bg is None else np.concatenate([labels, bg])
    losses, actives = [], []
    for k, local in enumerate(batches):
        if should_stop():
            return None
        idx = np.where(local < len(train_idx), train_idx[np.minimum(local, len(train_idx) - 1)], local - len(train_idx) + n)
        loss, active = step(job.batch(idx, rng), all_labels[idx])
        losses.append(float(loss))
        actives.append(float(active))
        progress((epoch - 1) * steps + k + 1, cfg.epochs * steps, f"epoch {epoch}/{cfg.epochs}")
    return float(np.mean(losses)), float(np.mean(actives))
