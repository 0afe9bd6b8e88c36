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

from models.errors import InvalidInput


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
