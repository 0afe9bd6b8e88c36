"""One generic Qt worker: runs a plain function with ``progress``/``should_stop`` on a thread, as signals.

The function is any long job written for the CLI too (``analyze_paths``, ``enroll_folder``, ...). It is called
as ``fn(*args, progress=..., should_stop=..., **kwargs)``; its return value (plain data only, never ORM objects)
arrives through :attr:`Job.finished`, an exception through :attr:`Job.failed`.

No reference cycles: the thread holds its job, the job only a weak reference to its thread, and nothing the
caller passed stays with the job once it ran. When the job is done its thread is deleted (``deleteLater``, on
the GUI thread, where the thread object lives), which releases the job; the job itself goes when its owner
drops it too. Both are freed by reference counting on the GUI thread after the worker thread ended, never by
Python's cycle collector, which may run on any thread and would then delete Qt objects from the wrong one.
(The job is not ``deleteLater``-ed on its own thread: that deletes it there while the GUI thread may still
hold its wrapper and be delivering its last signals.)
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

log = logging.getLogger(__name__)


class Job(QObject):
    """A function running on its own :class:`QThread`; create with :func:`start_job`.

    Signals (delivered on the UI thread):
        progress(done, total, text), finished(result), failed(exception), stopped() — always last.
    """

    progress = Signal(int, int, str)
    finished = Signal(object)
    failed = Signal(object)
    stopped = Signal()

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], with_callbacks: bool) -> None:
        super().__init__()
        self._fn: Callable[..., Any] | None = fn
        self._args, self._kwargs = args, kwargs
        self._with_callbacks = with_callbacks
        self._cancel = threading.Event()
        self._thread: weakref.ref[QThread] | None = None  # weak: the thread owns the job, not the reverse

    def cancel(self) -> None:
        """Ask the function to stop (it sees ``should_stop() == True`` and returns what it finished)."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def wait(self, timeout_ms: int = 5000) -> bool:
        """Block until the thread ended (``True``) or ``timeout_ms`` passed."""
        thread = self._thread() if self._thread is not None else None
        return thread is None or join_thread(thread, timeout_ms)

    @Slot()
    def run(self) -> None:
        kwargs = dict(self._kwargs)
        if self._with_callbacks:
            kwargs.update(progress=self._report, should_stop=self._cancel.is_set)
        try:
            result = self._fn(*self._args, **kwargs)  # type: ignore[misc]
        except Exception as exc:  # every failure reaches the UI as a signal, never kills the thread silently
            log.exception("background job %s failed", getattr(self._fn, "__name__", self._fn))
            self.failed.emit(exc)
        else:
            self.finished.emit(result)
        finally:
            self._fn, self._args, self._kwargs = None, (), {}  # nothing the caller passed outlives the job
            self.stopped.emit()

    def _report(self, done: int, total: int, text: str) -> None:
        self.progress.emit(int(done), int(total), str(text))


def join_thread(thread: QThread, timeout_ms: int) -> bool:
    """Wait for ``thread`` to finish, sleeping in Python so the thread can take the GIL meanwhile.

    Returns:
        ``True`` when it finished (or Qt already deleted it), ``False`` after ``timeout_ms``.
    """
    deadline = time.monotonic() + timeout_ms / 1000.0
    try:
        while thread.isRunning():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return thread.wait(100)
    except RuntimeError:  # the QThread was already deleted: it finished
        return True


class JobThread(QThread):
    """The thread of one :class:`Job`, a child of the widget that started it (which keeps both alive)."""

    def __init__(self, job: Job, parent: QObject) -> None:
        super().__init__(parent)
        self.job = job


def start_job(
    parent: QObject,
    fn: Callable[..., Any],
    *args: Any,
    with_callbacks: bool = True,
    connect: Callable[[Job], object] | None = None,
    **kwargs: Any,
) -> Job:
    """Run ``fn`` on a new thread owned by ``parent`` and return its :class:`Job`.

    Connect the receivers in ``connect(job)``: it runs before the thread starts. A signal emitted while nobody is
    connected is lost, and a quick job (one that fails at once, or reports progress right away) can emit before
    the caller's next line runs.

    Args:
        parent: the widget the job belongs to; :func:`stop_jobs` on it (or an ancestor) cancels and joins it.
        fn: the function; called with ``progress`` and ``should_stop`` keywords when ``with_callbacks``.
        args, kwargs: its other arguments (plain data).
    """
    job = Job(fn, args, kwargs, with_callbacks)
    thread = JobThread(job, parent)
    job._thread = weakref.ref(thread)
    job.moveToThread(thread)
    thread.started.connect(job.run)
    job.stopped.connect(thread.quit, Qt.ConnectionType.DirectConnection)  # quit even while the UI thread waits
    thread.finished.connect(thread.deleteLater)  # which releases the job (see the module's docstring)
    if connect is not None:
        connect(job)
    thread.start()
    return job


def stop_jobs(root: QObject, timeout_ms: int = 5000) -> None:
    """Cancel every job started under ``root`` and wait for its thread (called when a window closes)."""
    threads = [t for t in root.findChildren(JobThread) if t.isRunning()]
    for t in threads:
        t.job.cancel()
    for t in threads:
        if not join_thread(t, timeout_ms):
            log.warning("a background job did not stop within %d ms", timeout_ms)
