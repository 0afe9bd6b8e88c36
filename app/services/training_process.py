"""Runs a long job — a fine-tune by default — in a separate *spawned* process, and reports it as plain events.

TensorFlow is safest in a process of its own: it is imported there (never in the window's process), it can use
every core without starving the window, and a crash of the trainer (out of memory, a native abort, a kill) ends
that process only. The parent reads what happened with :meth:`WorkerProcess.poll` — the window calls it from a
timer — and gets a list of events:

- :class:`ProgressEvent` ``(done, total, text)`` — the job's ``progress`` callable (throttled);
- :class:`EpochEvent` ``(stats)`` — the job's ``on_epoch`` callable (an ``EpochStats``);
- :class:`DoneEvent` ``(result)`` — the job returned (a ``TrainOutcome`` for training);
- :class:`ErrorEvent` ``(message, details)`` — the job raised, or the process died without a word.

:meth:`WorkerProcess.cancel` sets an event that the child's ``should_stop()`` reads; the job then returns what
it finished (training keeps its best checkpoint). :meth:`WorkerProcess.close` joins the child, terminating it
if it does not stop in time. Qt-free: the window and the command line can both use it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue as queue_module
import sys
import time
import traceback
from dataclasses import dataclass
from multiprocessing.context import SpawnProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any, Callable, Union

from common.errors import RollcallError

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.1
"""The child sends at most one progress report per this many seconds (the last step of a stage always)."""
FLUSH_TIMEOUT_S = 1.0
"""After the child ended, how long to wait for events it sent but the queue has not delivered yet."""


@dataclass(frozen=True)
class ProgressEvent:
    """The job reported progress: ``done`` of ``total`` steps of the stage named by ``text``."""

    done: int
    total: int
    text: str


@dataclass(frozen=True)
class EpochEvent:
    """An epoch ended; ``stats`` is what the job passed to ``on_epoch`` (an ``EpochStats`` for training)."""

    stats: Any


@dataclass(frozen=True)
class DoneEvent:
    """The job returned ``result`` (also after a cancel: then the result says it was cancelled)."""

    result: Any


@dataclass(frozen=True)
class ErrorEvent:
    """The job failed. ``message`` is for the user (plain words, what to do); ``details`` for the log."""

    message: str
    details: str = ""


WorkerEvent = Union[ProgressEvent, EpochEvent, DoneEvent, ErrorEvent]
"""Anything :meth:`WorkerProcess.poll` returns."""


def user_message(exc: BaseException) -> str:
    """What to tell the user about an exception raised in the child."""
    if isinstance(exc, RollcallError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "Training ran out of memory. Try head mode, fewer people per batch (P) or fewer photos per person (K)."
    return f"Training failed ({type(exc).__name__}: {exc}). The details are in the log file in the data folder."


def exit_message(exitcode: int | None) -> str:
    """What to tell the user when the child ended without reporting a result or an error."""
    if exitcode is not None and exitcode < 0:
        how = f"was stopped by signal {-exitcode}"
        if -exitcode == 9:
            how += " (often the computer ran out of memory)"
    else:
        how = f"ended unexpectedly with exit code {exitcode}"
    return (
        f"The training process {how} before it finished. Nothing was changed. Try again with head mode or a "
        "smaller batch (fewer people P or photos per person K); the log file in the data folder has details."
    )


class _Reporter:
    """The child's callables: they put events on the queue (progress throttled) and read the stop event."""

    def __init__(self, events: Queue, stop: Event) -> None:
        self._events, self._stop = events, stop
        self._last = 0.0

    def progress(self, done: int, total: int, text: str) -> None:
        now = time.monotonic()
        if done < total and done != 0 and now - self._last < PROGRESS_INTERVAL_S:
            return
        self._last = now
        self._events.put(ProgressEvent(int(done), int(total), str(text)))

    def on_epoch(self, stats: Any) -> None:
        self._events.put(EpochEvent(stats))

    def should_stop(self) -> bool:
        return self._stop.is_set()


def _child_main(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], callbacks: bool,
                events: Queue, stop: Event) -> None:  # fmt: skip
    """The spawned process: run ``fn`` and put exactly one :class:`DoneEvent` or :class:`ErrorEvent`."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(processName)s %(name)s: %(message)s")
    reporter = _Reporter(events, stop)
    call_kwargs = dict(kwargs)
    if callbacks:
        call_kwargs.update(progress=reporter.progress, should_stop=reporter.should_stop, on_epoch=reporter.on_epoch)
    try:
        result = fn(*args, **call_kwargs)
    except BaseException as exc:  # noqa: BLE001 — every failure becomes an event; the parent decides what to show
        events.put(ErrorEvent(user_message(exc), traceback.format_exc()))
    else:
        try:
            events.put(DoneEvent(result))
        except Exception as exc:  # noqa: BLE001 — e.g. a result that cannot be pickled
            events.put(ErrorEvent(user_message(exc), traceback.format_exc()))
    finally:
        events.close()
        events.join_thread()  # every event is handed to the pipe before the process exits
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip interpreter teardown: TensorFlow's native objects have crashed it after the result was sent


class WorkerProcess:
    """One job running in a spawned child process; create with :func:`start_process` or :func:`start_training`.

    The parent never blocks on it except in :meth:`close`. After a :class:`DoneEvent` or :class:`ErrorEvent`
    (:attr:`finished` is then true) :meth:`poll` returns nothing more.
    """

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None,
                 callbacks: bool = True, name: str = "rollcall-worker") -> None:  # fmt: skip
        ctx = multiprocessing.get_context("spawn")
        self._events: Queue = ctx.Queue()
        self._stop: Event = ctx.Event()
        self._process: SpawnProcess = ctx.Process(
            target=_child_main, args=(fn, args, dict(kwargs or {}), callbacks, self._events, self._stop), name=name, daemon=True
        )
        self.finished = False
        self.started_at = time.monotonic()
        self._process.start()

    @property
    def cancelled(self) -> bool:
        """``True`` once :meth:`cancel` was called."""
        return self._stop.is_set()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def is_alive(self) -> bool:
        return self._process.is_alive()

    def cancel(self) -> None:
        """Ask the job to stop; it returns what it finished (a :class:`DoneEvent` still arrives)."""
        self._stop.set()

    def poll(self) -> list[WorkerEvent]:
        """Every event that arrived since the last call (never blocks long).

        When the child has ended without a final event (killed, crashed in native code, ``os._exit``), one
        :class:`ErrorEvent` saying so is returned.
        """
        if self.finished:
            return []
        out = self._drain(block_s=0.0)
        if not self.finished and not self._process.is_alive():
            out += self._drain(block_s=FLUSH_TIMEOUT_S)  # what it sent just before exiting may still be in the pipe
            if not self.finished:
                code = self._process.exitcode
                log.error("the worker process %s ended with exit code %s and no result", self._process.name, code)
                out.append(ErrorEvent(exit_message(code)))
                self.finished = True
        return out

    def _drain(self, block_s: float) -> list[WorkerEvent]:
        out: list[WorkerEvent] = []
        deadline = time.monotonic() + block_s
        while not self.finished:
            try:
                wait = max(0.0, deadline - time.monotonic())
                event = self._events.get(timeout=wait) if wait > 0 else self._events.get_nowait()
            except queue_module.Empty:
                break
            except (EOFError, OSError) as exc:  # the pipe broke with the child
                log.warning("the worker's event pipe broke: %s", exc)
                break
            if isinstance(event, ErrorEvent) and event.details:
                log.error("worker process failed: %s\n%s", event.message, event.details)
            if isinstance(event, (DoneEvent, ErrorEvent)):
                self.finished = True
            out.append(event)
        return out

    def close(self, timeout_s: float = 10.0) -> list[WorkerEvent]:
        """Stop the child: cancel, wait up to ``timeout_s`` (reading its events meanwhile), then terminate it.

        Returns:
            The events that arrived while waiting (a :class:`DoneEvent` among them holds a result the caller
            may still have to clean up). Safe to call twice.
        """
        self.cancel()
        late: list[WorkerEvent] = []
        deadline = time.monotonic() + timeout_s
        while self._process.is_alive() and time.monotonic() < deadline:
            late += self._drain(block_s=0.0)  # a child blocked on a full pipe can only exit once it is read
            self._process.join(0.05)
        late += self._drain(block_s=0.0)
        if self._process.is_alive():
            log.warning("the worker process did not stop within %.0f s; terminating it", timeout_s)
            self._process.terminate()
            self._process.join(2.0)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(2.0)
        self.finished = True
        self._events.close()
        self._events.cancel_join_thread()
        return late


def start_process(fn: Callable[..., Any], *args: Any, callbacks: bool = True, **kwargs: Any) -> WorkerProcess:
    """Run ``fn(*args, **kwargs)`` in a spawned process (with ``progress``, ``should_stop`` and ``on_epoch``
    keywords when ``callbacks``). ``fn``, its arguments and its result must be picklable: a module-level
    function and plain data."""
    return WorkerProcess(fn, args, kwargs, callbacks, name=getattr(fn, "__name__", "rollcall-worker"))


def start_training(config: Any, spec: Any, job: Callable[..., Any] | None = None) -> WorkerProcess:
    """Run a fine-tune — ``app.services.training.run_training(config, spec, progress, should_stop, on_epoch)``
    unless another ``job`` with that signature is given — in a spawned process. TensorFlow loads there only."""
    if job is None:
        from app.services.training import run_training

        job = run_training
    return start_process(job, config, spec)
