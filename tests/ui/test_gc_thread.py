"""Workers and their threads form no reference cycles: once done they are freed by reference counting, on the
GUI thread, so Python's cycle collector (which may run on any thread) never deletes a Qt object.

Each test switches automatic collection off while it runs: an object that only the cycle collector could free
would then stay alive, and the test fails.
"""

from __future__ import annotations

import gc
import threading
import weakref
from typing import Callable, Iterator

import numpy as np
import pytest

from app.ui.frameloop import LoopThread, start_loop
from app.ui.worker import JobThread, start_job
from tests.ui.conftest import FAKE, FakeCamera


@pytest.fixture
def no_cycle_collector() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _freed(*refs: weakref.ref) -> Callable[[], bool]:
    return lambda: all(r() is None for r in refs)


def test_the_window_leaves_automatic_collection_on(window) -> None:
    assert gc.isenabled(), "no process-wide gc.disable() hiding a cycle"


def test_a_finished_job_and_its_thread_are_freed_without_the_cycle_collector(qtbot, window, no_cycle_collector) -> None:
    gate = threading.Event()  # the job ends only once the test holds nothing but weak references
    job = start_job(window, lambda numbers: gate.wait(5) and sum(numbers), [1, 2, 3], with_callbacks=False)
    results: list[int] = []
    job.finished.connect(results.append)  # called on the job's thread
    refs = weakref.ref(job), weakref.ref(window.findChildren(JobThread)[0])
    del job
    gate.set()
    qtbot.waitUntil(_freed(*refs), timeout=5_000)
    assert results == [6]


def test_a_stopped_frame_loop_and_its_thread_are_freed_without_the_cycle_collector(
    qtbot, window, cameras, no_cycle_collector
) -> None:
    cameras["gc"] = FakeCamera([np.zeros((36, 64, 3), np.uint8)], frames=5)
    gate = threading.Event()  # the loop runs only once the test holds nothing but weak references
    loop = start_loop(window, FAKE + "gc", lambda source: (gate.wait(5) and (lambda frame: frame.index), None))
    processed: list[int] = []
    loop.result.connect(lambda _loop, frame, index: processed.append(index))  # called on the loop's thread
    refs = weakref.ref(loop), weakref.ref(window.findChildren(LoopThread)[0])
    del loop
    gate.set()
    qtbot.waitUntil(_freed(*refs), timeout=10_000)
    assert processed, "the loop ran"


def test_the_live_page_frees_its_loop_after_the_video_ended(qtbot, window, cameras, no_cycle_collector) -> None:
    cameras["short"] = FakeCamera([np.full((180, 320, 3), 90, np.uint8)], frames=10)
    window.live.start(FAKE + "short")
    refs = weakref.ref(window.live.loop), weakref.ref(window.findChildren(LoopThread)[0])
    qtbot.waitUntil(lambda: not window.live.running, timeout=20_000)
    qtbot.waitUntil(_freed(*refs), timeout=5_000)
    assert window.live.recognizer is None
