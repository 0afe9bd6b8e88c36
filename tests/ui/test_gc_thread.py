"""Python's garbage collection runs on the GUI thread while the window is open (never on a worker thread,
where freeing Qt objects crashes the process)."""

from __future__ import annotations

import gc
import threading
import weakref


def test_cycles_are_collected_on_the_gui_thread_while_the_window_is_open(qtbot, window) -> None:
    assert not gc.isenabled(), "automatic collection (on any thread) is off while the window is open"
    threads: list[str] = []

    class Cycle:
        def __del__(self) -> None:
            threads.append(threading.current_thread().name)

    def make_garbage() -> weakref.ref:
        a = Cycle()
        a.self = a  # only the cycle collector can free it
        return weakref.ref(a)

    ref = make_garbage()
    kept: list[list[list[int]]] = []
    worker = threading.Thread(target=lambda: kept.append([[i] for i in range(5_000)]))  # fills generation 0
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: ref() is None, timeout=10_000)
    assert threads == [threading.main_thread().name]

    window.close()
    assert gc.isenabled(), "closing the window gives collection back to Python"
