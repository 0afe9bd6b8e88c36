"""Small real jobs for the worker-process tests (module-level, Qt-free, so a spawned child can import them).

Each has the signature of ``run_training(config, spec, progress, should_stop, on_epoch)``; ``spec`` here is a
plain dict of knobs (epochs, steps, seconds per step, what to fail with).
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from typing import Any

from common.errors import InvalidInput


@dataclass(frozen=True)
class Stats:
    """What ``on_epoch`` receives (the fields of ``EpochStats`` that the tests look at)."""

    epoch: int
    epochs: int
    loss: float
    active_fraction: float
    seconds: float
    heldout_accuracy: float | None


def count_epochs(config: Any, spec: dict, progress, should_stop, on_epoch) -> dict:  # noqa: ANN001
    """``spec["epochs"]`` epochs of ``spec["steps"]`` steps; the loss halves each epoch; stops when asked."""
    epochs, steps, pause = spec.get("epochs", 3), spec.get("steps", 4), spec.get("step_s", 0.01)
    done = 0
    for epoch in range(1, epochs + 1):
        for step in range(1, steps + 1):
            if should_stop():
                return {"epochs_done": done, "cancelled": True, "pid": os.getpid()}
            time.sleep(pause)
            progress(step, steps, f"Epoch {epoch}")
        done = epoch
        on_epoch(Stats(epoch, epochs, 1.0 / 2**epoch, 0.5, pause * steps, 0.5 + epoch / (4 * epochs)))
    return {"epochs_done": done, "cancelled": False, "pid": os.getpid()}


def fail_with_bad_input(config: Any, spec: dict, progress, should_stop, on_epoch) -> None:  # noqa: ANN001
    """Fails like the trainer does on bad data: one plain message."""
    progress(0, 1, "Reading photos")
    raise InvalidInput("only 1 person has photos; fine-tuning needs at least 2 people")


def fail_with_bug(config: Any, spec: dict, progress, should_stop, on_epoch) -> None:  # noqa: ANN001
    """Fails like a bug does: an unexpected exception."""
    raise ZeroDivisionError("division by zero")


def die(config: Any, spec: dict, progress, should_stop, on_epoch) -> None:  # noqa: ANN001
    """Reports some progress, then the process dies without a word (killed, as by the out-of-memory killer)."""
    progress(1, 10, "Epoch 1")
    time.sleep(0.2)
    os.kill(os.getpid(), signal.SIGKILL)


def exit_hard(config: Any, spec: dict, progress, should_stop, on_epoch) -> None:  # noqa: ANN001
    """The process exits with status 3 without returning (as a native library's abort would)."""
    os._exit(3)


def ignore_stop(config: Any, spec: dict, progress, should_stop, on_epoch) -> None:  # noqa: ANN001
    """Never looks at ``should_stop`` (a hung trainer): only terminating it ends it."""
    while True:
        time.sleep(0.05)


def add(a: int, b: int) -> int:
    """A job without callbacks."""
    return a + b


# ----- a small stand-in for the fine-tune, with the shapes of run_training's results (for the wizard tests) ----
@dataclass(frozen=True)
class Outcome:
    """The fields of ``TrainOutcome`` that the wizard shows."""

    work_dir: str
    before: dict
    after: dict
    verdict: str
    can_use: bool
    epochs: tuple
    cancelled: bool
    device: str
    seconds: float


@dataclass(frozen=True)
class Plan:
    """The fields of ``TrainPlan``."""

    people: int
    photos: int
    warnings: tuple
    recommended_mode: str
    estimated_seconds: float
    device: str


def plan(config: Any, spec: dict) -> Plan:
    """A plan from the spec: "head" recommended, 0.5 s per epoch."""
    people = len(spec["person_ids"])
    warnings = ("No GPU was found: full mode would be slow.",) if spec["mode"] == "full" else ()
    return Plan(people, 4 * people, warnings, "head", 0.5 * spec["epochs"], "CPU (test)")


def small_training(config: Any, spec: dict, progress, should_stop, on_epoch) -> Outcome:  # noqa: ANN001
    """Writes a "checkpoint" folder, then trains ``spec["epochs"]`` epochs of 5 steps of ``spec.get("step_s")``
    seconds; the held-out accuracy rises by 2 points an epoch. A margin above 0.5 makes it get worse (to test
    that such a model is not offered)."""
    work = config.data_dir / "training" / f"run-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    (work / "checkpoint.txt").write_text("weights", encoding="utf-8")
    worse = spec["margin"] > 0.5
    stats: list[Stats] = []
    started = time.monotonic()
    for epoch in range(1, spec["epochs"] + 1):
        for step in range(1, 6):
            if should_stop():
                return _outcome(work, stats, worse, True, started)
            time.sleep(spec.get("step_s", 0.01))
            progress(step, 5, f"Epoch {epoch} of {spec['epochs']}: step {step} of 5")
        acc = 0.80 + (-0.02 if worse else 0.02) * epoch
        stats.append(Stats(epoch, spec["epochs"], 0.3 / epoch, 0.4, 0.05, acc))
        on_epoch(stats[-1])
    return _outcome(work, stats, worse, False, started)


def _outcome(work: Any, stats: list, worse: bool, cancelled: bool, started: float) -> Outcome:
    after = stats[-1].heldout_accuracy if stats else 0.8
    verdict = "Worse for your people: keep the model you have." if worse else \
        "Better for your people, unchanged for others."
    return Outcome(str(work), {"heldout": {"accuracy": 0.8, "auc": 0.9, "tar_at_far": 0.5},
                               "guard": {"accuracy": 0.95, "auc": 0.99, "tar_at_far": 0.8}},
                   {"heldout": {"accuracy": after, "auc": 0.95, "tar_at_far": 0.6},
                    "guard": {"accuracy": 0.951, "auc": 0.99, "tar_at_far": 0.8}},
                   verdict, not worse, tuple(stats), cancelled, "CPU (test)", time.monotonic() - started)


def adopt(config: Any, outcome: Outcome, name: str, exports: tuple = ("onnx",)) -> str:
    """Records ``name`` as adopted in the data folder (what the wizard must call on "Use this model")."""
    (config.data_dir / "adopted.txt").write_text(f"{name} {outcome.work_dir}", encoding="utf-8")
    return name


def discard(outcome: Outcome) -> None:
    """Deletes the run's folder."""
    import shutil

    shutil.rmtree(outcome.work_dir)


def slow_plan(config: Any, spec: dict) -> Plan:
    """A plan that takes a second (as when the device check loads TensorFlow)."""
    time.sleep(1.0)
    return plan(config, spec)


def adopt_taken(config: Any, outcome: Outcome, name: str, exports: tuple = ("onnx",)) -> str:
    """Refuses the name, as the service does for a name already in use."""
    raise InvalidInput(f"a backend called {name!r} already exists; choose another name")
