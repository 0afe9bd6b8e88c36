"""The worker-process runner: a real spawned child whose events arrive, which stops when asked, and whose
failures — an exception, a kill, a hard exit, a hang — each become one clear error, never silence."""

from __future__ import annotations

import os
import time

import pytest

from app.services.training_process import DoneEvent, EpochEvent, ErrorEvent, ProgressEvent, WorkerProcess, start_process
from tests.unit import training_jobs as jobs


def collect(worker: WorkerProcess, timeout_s: float = 60.0, until=None) -> list:  # noqa: ANN001
    """Poll ``worker`` like the window's timer does, until it finished (or ``until(events)`` is true)."""
    events: list = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        events += worker.poll()
        if worker.finished or (until is not None and until(events)):
            return events
        time.sleep(0.02)
    raise AssertionError(f"no final event within {timeout_s} s; got {events}")


@pytest.fixture
def workers():  # noqa: ANN201
    started: list[WorkerProcess] = []
    yield started
    for w in started:
        w.close(timeout_s=2)


def test_events_arrive_in_order_and_the_result_comes_last(workers) -> None:  # noqa: ANN001
    w = start_process(jobs.count_epochs, None, {"epochs": 3, "steps": 4})
    workers.append(w)
    events = collect(w)

    assert isinstance(events[-1], DoneEvent)
    result = events[-1].result
    assert result["epochs_done"] == 3 and not result["cancelled"]
    assert result["pid"] != os.getpid(), "the job ran in another process"
    epochs = [e.stats for e in events if isinstance(e, EpochEvent)]
    assert [s.epoch for s in epochs] == [1, 2, 3]
    assert [s.loss for s in epochs] == [0.5, 0.25, 0.125]
    progress = [e for e in events if isinstance(e, ProgressEvent)]
    assert progress and all(p.total == 4 for p in progress)
    assert any(p.done == 4 and p.text == "Epoch 3" for p in progress), "the last step of a stage is never dropped"
    assert w.poll() == [], "nothing after the final event"


def test_cancel_stops_the_job_which_returns_what_it_finished(workers) -> None:  # noqa: ANN001
    w = start_process(jobs.count_epochs, None, {"epochs": 1000, "steps": 5, "step_s": 0.02})
    workers.append(w)
    collect(w, until=lambda ev: any(isinstance(e, EpochEvent) for e in ev))
    w.cancel()
    started = time.monotonic()
    events = collect(w, timeout_s=30)

    assert isinstance(events[-1], DoneEvent)
    assert events[-1].result["cancelled"] is True
    assert 1 <= events[-1].result["epochs_done"] < 1000
    assert time.monotonic() - started < 5
    w.close()
    assert not w.is_alive()


def test_a_plain_error_reaches_the_parent_as_its_message(workers) -> None:  # noqa: ANN001
    w = start_process(jobs.fail_with_bad_input, None, {})
    workers.append(w)
    events = collect(w)
    assert isinstance(events[-1], ErrorEvent)
    assert events[-1].message == "only 1 person has photos; fine-tuning needs at least 2 people"
    assert "InvalidInput" in events[-1].details, "the traceback travels for the log file"


def test_an_unexpected_exception_is_named_with_a_pointer_to_the_log(workers) -> None:  # noqa: ANN001
    w = start_process(jobs.fail_with_bug, None, {})
    workers.append(w)
    events = collect(w)
    assert isinstance(events[-1], ErrorEvent)
    assert "ZeroDivisionError" in events[-1].message and "log file" in events[-1].message


def test_a_killed_child_becomes_an_error_event(workers) -> None:  # noqa: ANN001
    w = start_process(jobs.die, None, {})
    workers.append(w)
    events = collect(w)
    assert any(isinstance(e, ProgressEvent) for e in events), "what it sent before dying still arrives"
    assert isinstance(events[-1], ErrorEvent)
    assert "stopped by signal 9" in events[-1].message and "memory" in events[-1].message
    assert w.poll() == []


def test_a_hard_exit_becomes_an_error_event(workers) -> None:  # noqa: ANN001
    w = start_process(jobs.exit_hard, None, {})
    workers.append(w)
    events = collect(w)
    assert len(events) == 1 and isinstance(events[0], ErrorEvent)
    assert "exit code 3" in events[0].message


def test_close_terminates_a_job_that_ignores_cancel(workers) -> None:  # noqa: ANN001
    w = start_process(jobs.ignore_stop, None, {})
    workers.append(w)
    time.sleep(0.5)
    assert w.is_alive()
    started = time.monotonic()
    w.close(timeout_s=0.5)
    assert not w.is_alive()
    assert time.monotonic() - started < 5


def test_a_job_without_callbacks(workers) -> None:  # noqa: ANN001
    w = start_process(jobs.add, 2, 3, callbacks=False)
    workers.append(w)
    assert collect(w) == [DoneEvent(5)]
