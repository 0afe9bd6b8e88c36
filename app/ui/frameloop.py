"""A frame source read on its own thread, each frame handed to a handler on a worker thread.

The reader thread (:class:`models.sources.LatestFrameReader`) keeps only the newest frame; the worker thread
takes it, runs the handler (recognition, or enrollment checks) and emits the frame with the handler's result.
The UI thread only paints. The source is opened on the worker thread too (a camera or an RTSP URL can take
seconds to open), so the window never waits for it.

As in :mod:`app.ui.worker`, no reference cycles: the thread holds its loop, the loop a weak reference to its
thread and nothing of the setup once it ran; when the loop has stopped its thread is deleted (``deleteLater``,
on the GUI thread), which releases the loop there.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from app.ui.worker import join_thread
from common.errors import SourceError
from models import sources
from models.sources import Frame, FrameSource, LatestFrameReader, ReaderState

log = logging.getLogger(__name__)

Handler = Callable[[Frame], Any]
"""Called on the worker thread for each frame; returns plain data for the UI."""
Setup = Callable[[FrameSource], tuple[Handler, Any]]
"""Called once on the worker thread with the open source; returns the handler and plain data for the UI (sent with ``opened``)."""


def sentence(text: str) -> str:
    """``text`` with its first letter in upper case (a source's label starts a sentence)."""
    return text[:1].upper() + text[1:]


class TeeSource:
    """A source that also keeps the newest frame it read, for the display to pick up at its own pace.

    The window paints every decoded frame this way, even those recognition skips (it always takes the newest).
    """

    def __init__(self, source: FrameSource) -> None:
        self.source = source
        self.label, self.fps, self.is_live, self.started_at = source.label, source.fps, source.is_live, source.started_at
        self.latest: Frame | None = None

    def read(self) -> Frame | None:
        frame = self.source.read()
        if frame is not None:
            self.latest = frame  # a single assignment: the UI thread reads it without a lock
        return frame

    def close(self) -> None:
        self.source.close()

    def __enter__(self) -> "TeeSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FrameLoop(QObject):
    """Runs ``setup()`` then, per frame, ``handler(frame)`` off the UI thread; create with :func:`start_loop`.

    Every signal's first argument is the loop itself, so a receiver can ignore signals still queued from a
    loop it already stopped. Connect them to methods of a widget (delivered on the UI thread; a plain lambda
    would run on the worker thread).

    Signals:
        opened(label, info) — the source is open and ``setup`` returned ``(handler, info)``;
        result(frame, handler_result) — one processed frame (the newest frame read is also available,
            processed or not, from :meth:`latest_frame`);
        ended(text) — a file or folder has no more frames; lost(text) — a camera or stream stopped;
        failed(exception) — the source could not be opened or the handler raised; stopped() — always last.
    """

    opened = Signal(object, str, object)
    result = Signal(object, object, object)
    ended = Signal(object, str)
    lost = Signal(object, str)
    failed = Signal(object, object)
    stopped = Signal(object)

    def __init__(self, spec: str, setup: Setup, realtime: bool = True) -> None:
        super().__init__()
        self.spec = spec
        self._setup: Setup | None = setup
        self._realtime = realtime
        self._stop = threading.Event()
        self._reader: LatestFrameReader | None = None
        self._tee: TeeSource | None = None
        self._thread: weakref.ref[QThread] | None = None  # weak: the thread owns the loop, not the reverse

    def latest_frame(self) -> Frame | None:
        """The newest frame read from the source (processed or not), for the display; ``None`` before the first."""
        tee = self._tee
        return tee.latest if tee is not None else None

    def stop(self, timeout_ms: int = 3000) -> bool:
        """Stop reading and wait for both threads; ``True`` when they ended within ``timeout_ms``."""
        self._stop.set()
        reader = self._reader
        if reader is not None:
            reader.close(timeout_ms / 1000.0)
        thread = self._thread() if self._thread is not None else None
        if thread is None or join_thread(thread, timeout_ms):
            return True
        log.warning("the frame loop on %s did not stop within %d ms", self.spec, timeout_ms)
        return False

    @Slot()
    def run(self) -> None:
        try:
            handler = self._open()
            if handler is not None:
                self._loop(handler)
        except Exception as exc:  # reach the UI as a message, never as a dead thread
            if not isinstance(exc, SourceError):
                log.exception("processing %s failed", self.spec)
            self.failed.emit(self, exc)
        finally:
            if self._reader is not None:
                self._reader.close()
            self.stopped.emit(self)

    def _open(self) -> Handler | None:
        source = sources.open_source(self.spec)
        setup, self._setup = self._setup, None  # called once; the loop keeps nothing of its caller
        try:
            handler, info = setup(source)  # type: ignore[misc]
        except BaseException:
            source.close()
            raise
        if self._stop.is_set():
            source.close()
            return None
        self._tee = TeeSource(source)
        self._reader = LatestFrameReader(self._tee, realtime=self._realtime)
        self.opened.emit(self, source.label, info)
        return handler

    def _loop(self, handler: Handler) -> None:
        reader = self._reader
        assert reader is not None
        while not self._stop.is_set():
            frame = reader.get(timeout=0.25)
            if frame is None:
                if reader.state is ReaderState.ENDED:
                    self.ended.emit(self, sentence(f"{reader.source.label} has ended."))
                    return
                if reader.state is ReaderState.FAILED:
                    self.lost.emit(self, str(reader.error or f"{reader.source.label} stopped"))
                    return
                if reader.state is ReaderState.CLOSED:
                    return
                continue
            self.result.emit(self, frame, handler(frame))


class LoopThread(QThread):
    """The worker thread of one :class:`FrameLoop`, owned by the widget that started it."""

    def __init__(self, loop: FrameLoop, parent: QObject) -> None:
        super().__init__(parent)
        self.loop = loop


def start_loop(parent: QObject, spec: str, setup: Setup, realtime: bool = True, **receivers: Callable) -> FrameLoop:
    """Open ``spec`` and start processing its frames on a new thread owned by ``parent``.

    Args:
        parent: the widget the loop belongs to (``stop()`` the loop before it goes away).
        spec: camera index, video file, folder or URL (see :func:`models.sources.open_source`).
        setup: called once on the worker thread (load models, open a session); returns ``(handler, info)``.
        realtime: pace files at their frame rate, like a camera.
        receivers: signal name → slot (``failed=self._on_failed``), connected before the thread starts, so a
            source that fails at once still reaches them (a signal emitted before ``connect`` is lost).
    """
    loop = FrameLoop(spec, setup, realtime)
    for name, slot in receivers.items():
        signal = getattr(FrameLoop, name, None)
        if not isinstance(signal, Signal):
            raise TypeError(f"FrameLoop has no signal {name!r}")
        getattr(loop, name).connect(slot)
    thread = LoopThread(loop, parent)
    loop._thread = weakref.ref(thread)
    loop.moveToThread(thread)
    thread.started.connect(loop.run)
    loop.stopped.connect(thread.quit, Qt.ConnectionType.DirectConnection)  # quits even while the UI waits
    thread.finished.connect(thread.deleteLater)  # which releases the loop on the GUI thread
    thread.start()
    return loop
