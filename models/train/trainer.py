"""The training loop: P×K batches, online triplet mining, warm-up + cosine learning rate, AdamW weight decay,
a checkpoint each epoch (weights, optimizer, random state: an interrupted run resumes as if never stopped), early
stopping on the held-out score, cancel that keeps the best checkpoint.

Two ways to train (a :class:`Job` each):

* :class:`HeadJob` — *head* mode: the backbone's features of every crop and of its mirror image are computed
  once (see :func:`models.train.backbone.embed_features`); only the head trains, on those features. Seconds on
  a CPU.
* :class:`FullJob` — *full* mode: every layer trains on augmented crops; BatchNorm statistics stay frozen.

The epoch-0 state (the untrained model) is the first "best" checkpoint, so the model kept is never worse on the
held-out photos than the one the job started from.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from numpy.typing import NDArray

from common.errors import InvalidInput
from common.progress import Progress, ShouldStop, never_stop, no_progress
from models.train.losses import triplet_loss
from models.train.metrics import labelled_verification, verification
from models.train.networks import BaseModel, standardize
from models.train.sampling import PKConfig, augment, pk_batches, steps_per_epoch

log = logging.getLogger(__name__)

BEST = "best.weights.h5"
STATE = "state.json"
OPTIMIZER = "optimizer.npz"


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
    """How to train. ``patience``: epochs without a better held-out score before stopping early; ``jit``: compile
    the train step with XLA (on a GPU)."""

    epochs: int = 10
    margin: float = 0.2
    miner: str = "semi-hard"
    pk: PKConfig = field(default_factory=PKConfig)
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    warmup_fraction: float = 0.1
    patience: int = 3
    seed: int = 0
    jit: bool = False


@dataclass(frozen=True)
class PairSet:
    """Guard pairs: inputs for the job (features or crops) and index pairs into them."""

    inputs: NDArray[Any]
    first: NDArray[np.int64]
    second: NDArray[np.int64]
    same: NDArray[np.bool_]


@dataclass(frozen=True)
class TrainData:
    """What :func:`fit` trains and measures on.

    Attributes:
        labels: ``(N,)`` identities of the user's photos (``job.inputs[:N]``).
        heldout: ``(N,)`` photos never trained on.
        background: identities of ``job.inputs[N:]`` (trained on, labelled apart), or None.
        guard: general faces' pairs measured before and after, or None.
    """

    labels: NDArray[np.int64]
    heldout: NDArray[np.bool_]
    background: NDArray[np.int64] | None = None
    guard: PairSet | None = None

    def fingerprint(self) -> str:
        """A digest of the labels, the split and the background labels (a resumed run must see the same)."""
        digest = hashlib.sha1(np.asarray(self.labels, np.int64).tobytes())
        digest.update(np.asarray(self.heldout, bool).tobytes())
        if self.background is not None:
            digest.update(np.asarray(self.background, np.int64).tobytes())
        return digest.hexdigest()


def _ignore_epoch(stats: EpochStats) -> None:
    """An ``on_epoch`` that ignores reports."""


@dataclass(frozen=True)
class Hooks:
    """The caller's callables: ``progress(done, total, text)``, ``should_stop()``, ``on_epoch(stats)``."""

    progress: Progress = no_progress
    should_stop: ShouldStop = never_stop
    on_epoch: Callable[[EpochStats], None] = _ignore_epoch


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


def make_step(job: Job, cfg: TrainConfig, total_steps: int) -> tuple[Callable[[Any, Any], tuple[Any, Any]], Any]:
    """A compiled train step ``(x, labels) -> (loss, active_fraction)`` with the job's loss and optimiser (AdamW
    unless the job says otherwise) and warm-up + cosine LR, and its optimiser (its state is checkpointed for
    resuming)."""
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

    return tf.function(step, jit_compile=cfg.jit, reduce_retracing=True), opt


@dataclass
class _RunState:
    """Where a run stands after its last finished epoch (saved in ``state.json`` for resuming)."""

    before: dict[str, Any]
    best: float
    epoch: int = 0
    best_epoch: int = 0
    stale: int = 0
    stopped: bool = False
    history: list[EpochStats] = field(default_factory=list)

    def update(self, epoch: int, score: float, patience: int) -> bool:
        """Record finished ``epoch`` with held-out ``score``; True when it is the best so far."""
        self.epoch = epoch
        if np.isnan(score) or not score <= self.best:  # no held-out photos: the last epoch is kept
            self.best, self.best_epoch, self.stale = score, epoch, 0
            return True
        self.stale += 1
        self.stopped = self.stale >= patience
        if self.stopped:
            log.info("stopping early after epoch %d: no better held-out score for %d epochs", epoch, self.stale)
        return False


def fit(job: Job, data: TrainData, cfg: TrainConfig, work_dir: Path, hooks: Hooks = Hooks(),
        resume: bool = False) -> FitResult:
    """Train ``job`` on the photos not held out (plus the background, labelled apart), checkpointing into
    ``work_dir`` after every epoch (weights, optimizer, random state); stops early when the held-out score has not
    improved for ``cfg.patience`` epochs, or when ``hooks.should_stop()`` (the best checkpoint is kept).

    Args:
        resume: continue the run checkpointed in ``work_dir`` from its last finished epoch (the same batches and
            learning rates follow as if it had never stopped); without a finished epoch there, start afresh.

    Raises:
        InvalidInput: ``resume`` with other options or other photos than the checkpointed run's.
    """
    n = len(data.labels)
    steps = steps_per_epoch(int((~data.heldout).sum()), cfg.pk)
    step, opt = make_step(job, cfg, steps * cfg.epochs)
    rng = np.random.default_rng(cfg.seed)
    best_path = work_dir / BEST
    state = _resume(job, opt, data, cfg, work_dir, rng) if resume else None
    if state is None:
        before = evaluate_job(job, n, data.labels, data.heldout, data.guard)
        state = _RunState(before, _score(before["heldout"]))
        job.save(best_path)
    epochs = _Epochs(job, step, data, cfg, steps, rng, hooks)
    cancelled = False
    while state.epoch < cfg.epochs and not state.stopped:
        epoch, started = state.epoch + 1, time.perf_counter()
        stats = epochs.run(epoch)
        if stats is None:
            cancelled = True
            break
        job.save(work_dir / f"epoch-{epoch:03d}.weights.h5")
        figures = evaluate_job(job, n, data.labels, data.heldout, None)["heldout"]
        state.history.append(EpochStats(epoch, cfg.epochs, stats[0], stats[1], round(time.perf_counter() - started, 3),
                                        None if figures is None else float(figures["accuracy"])))
        if state.update(epoch, _score(figures), cfg.patience):
            job.save(best_path)
        _save_state(work_dir, state, cfg, data, rng, opt)
        hooks.on_epoch(state.history[-1])
    job.load(best_path)
    after = evaluate_job(job, n, data.labels, data.heldout, data.guard)
    return FitResult(state.before, after, tuple(state.history), cancelled, state.best_epoch, best_path)


def _config_key(cfg: TrainConfig) -> dict[str, Any]:
    """The options that decide a run's course (XLA or not does not)."""
    return json.loads(json.dumps({k: v for k, v in asdict(cfg).items() if k != "jit"}))


def _save_state(work_dir: Path, state: _RunState, cfg: TrainConfig, data: TrainData, rng: np.random.Generator,
                opt: Any) -> None:
    """Write the optimizer's variables and ``state.json`` (atomically, the latter last: it names the epoch)."""
    import os

    tmp = work_dir / f"{OPTIMIZER}.tmp.npz"
    np.savez(tmp, *[np.asarray(v) for v in opt.variables])
    os.replace(tmp, work_dir / OPTIMIZER)
    payload = {"epoch": state.epoch, "best": None if np.isnan(state.best) else state.best,
               "best_epoch": state.best_epoch, "stale": state.stale, "stopped": state.stopped,
               "history": [asdict(e) for e in state.history], "before": state.before, "config": _config_key(cfg),
               "data": data.fingerprint(), "rng": rng.bit_generator.state}
    (work_dir / f"{STATE}.tmp").write_text(json.dumps(payload, default=_plain), encoding="utf-8")
    os.replace(work_dir / f"{STATE}.tmp", work_dir / STATE)


def _plain(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot save {type(value).__name__} in {STATE}")


def _resume(job: Job, opt: Any, data: TrainData, cfg: TrainConfig, work_dir: Path,
            rng: np.random.Generator) -> _RunState | None:
    """Load the last finished epoch's weights, optimizer and random state; None when no epoch finished.

    Raises:
        InvalidInput: the checkpointed run had other options or other photos.
    """
    path = work_dir / STATE
    if not path.is_file():
        log.info("no finished epoch in %s: starting from the beginning", work_dir)
        return None
    saved = json.loads(path.read_text(encoding="utf-8"))
    if saved["config"] != _config_key(cfg):
        raise InvalidInput(f"the run in {work_dir} was started with other training options; "
                           "resume it with the same options, or start a new run")
    if saved["data"] != data.fingerprint():
        raise InvalidInput(f"the photos differ from those of the run in {work_dir} (people or photos were added or "
                           "removed since); start a new run")
    job.load(work_dir / f"epoch-{saved['epoch']:03d}.weights.h5")
    opt.build(job.model.trainable_variables)
    with np.load(work_dir / OPTIMIZER) as z:
        values = [z[f"arr_{i}"] for i in range(len(z.files))]
    if len(values) != len(opt.variables):
        raise InvalidInput(f"the optimizer checkpoint in {work_dir} does not fit this model; start a new run")
    for variable, value in zip(opt.variables, values):
        variable.assign(value)
    rng.bit_generator.state = saved["rng"]
    best = float("nan") if saved["best"] is None else float(saved["best"])
    history = [EpochStats(**e) for e in saved["history"]]
    log.info("resuming %s after epoch %d", work_dir, saved["epoch"])
    return _RunState(saved["before"], best, saved["epoch"], saved["best_epoch"], saved["stale"], saved["stopped"], history)


class _Epochs:
    """Runs the epochs of one fit: P×K batches of the training photos (and background), one step each."""

    def __init__(self, job: Job, step: Any, data: TrainData, cfg: TrainConfig, steps: int, rng: np.random.Generator,
                 hooks: Hooks) -> None:
        self.job, self.step, self.cfg, self.steps, self.rng, self.hooks = job, step, cfg, steps, rng, hooks
        self.n = len(data.labels)
        self.labels = data.labels
        self.train_idx = np.flatnonzero(~data.heldout)
        self.bg = None if data.background is None else np.asarray(data.background) + int(data.labels.max()) + 1
        self.all_labels = data.labels if self.bg is None else np.concatenate([data.labels, self.bg])

    def run(self, epoch: int) -> tuple[float, float] | None:
        """One epoch; ``(mean loss, mean active fraction)`` or None when cancelled."""
        batches = pk_batches(self.labels[self.train_idx], self.cfg.pk, self.steps, self.rng, self.bg)
        t, n = self.train_idx, self.n
        losses, actives = [], []
        for k, local in enumerate(batches):
            if self.hooks.should_stop():
                return None
            idx = np.where(local < len(t), t[np.minimum(local, len(t) - 1)], local - len(t) + n)
            loss, active = self.step(self.job.batch(idx, self.rng), self.all_labels[idx])
            losses.append(float(loss))
            actives.append(float(active))
            self.hooks.progress((epoch - 1) * self.steps + k + 1, self.cfg.epochs * self.steps,
                                f"epoch {epoch}/{self.cfg.epochs}")
        return float(np.mean(losses)), float(np.mean(actives))
