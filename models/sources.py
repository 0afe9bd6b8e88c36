"""Frame sources: a webcam, a video file, a network stream or a folder of images, as RGB frames.

``open_source(spec)`` picks the kind from the text the user typed (``"0"``, ``"clip.mp4"``,
``"rtsp://..."``, ``"photos/"``). Every source yields :class:`Frame` values (RGB uint8, converted from
OpenCV's BGR here, once) and is a context manager.

:class:`LatestFrameReader` runs a source on its own thread and keeps only the newest frame, so a slow
consumer (recognition, painting) never works on stale pictures and nothing queues up.
"""

from __future__ import annotations

import enum
import logging
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

import cv2

from common.errors import BadImage, SourceError
from models.imageio import is_image_path, load_image
from models.types import RGBImage

log = logging.getLogger(__name__)

DEFAULT_FPS = 30.0
"""Frame rate assumed when a video or camera does not report one."""


@dataclass(frozen=True)
class Frame:
    """One picture from a source.

    Attributes:
        index: 0-based position in the stream.
        time_s: seconds on the source's clock: the position in a video file (index / fps), or seconds since
            a live source was opened (monotonic wall clock).
        image: RGB uint8, shape (H, W, 3).
    """

    index: int
    time_s: float
    image: RGBImage


class FrameSource(Protocol):
    """Where frames come from.

    Attributes:
        label: how the source is named in messages (credentials of a URL are hidden).
        fps: frames per second (reported by the device/file, else :data:`DEFAULT_FPS`).
        is_live: True for cameras and streams (time is the wall clock; frames cannot be replayed).
        started_at: aware UTC time at which the source was opened; ``started_at + time_s`` is a frame's
            time of day.
    """

    label: str
    fps: float
    is_live: bool
    started_at: datetime

    def read(self) -> Frame | None:
        """The next frame, or ``None`` at the end of a file or folder.

        Raises:
            SourceError: a live source stopped delivering frames (camera unplugged, stream dropped).
        """
        ...

    def close(self) -> None:
        """Release the device or file (idempotent)."""
        ...

    def __enter__(self) -> "FrameSource": ...

    def __exit__(self, *exc: object) -> None: ...


class _SourceBase:
    """Context-manager plumbing shared by the sources."""

    def __enter__(self) -> "_SourceBase":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()  # type: ignore[attr-defined]


def hide_credentials(url: str) -> str:
    """``url`` with any ``user:password@`` part replaced by ``***@`` (for messages and logs)."""
    return re.sub(r"(?<=://)[^/@]+@", "***@", url)


class CaptureSource(_SourceBase):
    """A camera, video file or stream read through OpenCV's ``VideoCapture``."""

    def __init__(self, capture: cv2.VideoCapture, label: str, is_live: bool) -> None:
        self._cap = capture
        self.label = label
        self.is_live = is_live
        reported = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = reported if 1.0 <= reported <= 240.0 else DEFAULT_FPS
        self.started_at = datetime.now(timezone.utc)
        self._t0 = time.monotonic()
        self._index = 0
        self._closed = False

    def read(self) -> Frame | None:
        if self._closed:
            return None
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            if self.is_live:
                raise SourceError(
                    f"{self.label} stopped delivering pictures: check that it is still connected (or the network "
                    "is up), then start again"
                )
            return None
        index = self._index
        self._index += 1
        when = time.monotonic() - self._t0 if self.is_live else index / self.fps
        return Frame(index, when, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._cap.release()


class FolderSource(_SourceBase):
    """The images of a folder, sorted by name, one frame each; unreadable files are skipped (logged)."""

    def __init__(self, paths: list[Path], label: str, fps: float = 1.0) -> None:
        self._paths = paths
        self.label = label
        self.fps = fps
        self.is_live = False
        self.started_at = datetime.now(timezone.utc)
        self._next = 0
        self._index = 0

    def read(self) -> Frame | None:
        while self._next < len(self._paths):
            path = self._paths[self._next]
            self._next += 1
            try:
                image = load_image(path)
            except BadImage as exc:
                log.warning("skipping %s", exc)
                continue
            frame = Frame(self._index, self._index / self.fps, image)
            self._index += 1
            return frame
        return None

    def close(self) -> None:
        self._next = len(self._paths)


def open_source(spec: str) -> FrameSource:
    """Open the source the user named.

    Args:
        spec: a camera index (``"0"``), a video file, a folder of images, or an ``rtsp://``/``http(s)://`` URL.

    Returns:
        An open :class:`FrameSource` (close it, or use it in a ``with`` block).

    Raises:
        SourceError: it cannot be opened; the message names it and says what to do.
    """
    text = str(spec).strip()
    if not text:
        raise SourceError("no video source given; choose a camera index (0), a video file, an image folder or a URL")
    if text.isdigit():
        return _open_capture(int(text), f"camera {text}", True, _camera_advice())
    if "://" in text:
        label = f"stream {hide_credentials(text)}"
        return _open_capture(text, label, True, "check the address, user name, password and network, then try again")
    path = Path(text).expanduser()
    if path.is_dir():
        return _open_folder(path)
    if path.is_file():
        advice = "it is not a video OpenCV can read (try MP4/H.264 or AVI); choose another file"
        return _open_capture(str(path), f"video file {path}", False, advice)
    raise SourceError(
        f"{text}: no such file, folder or camera; give a camera index (0), a video file, a folder of images "
        "or an rtsp:// / http:// address"
    )


def _camera_advice() -> str:
    return "is it connected and not used by another program? You can also choose a video file."


def _open_capture(target: int | str, label: str, is_live: bool, advice: str) -> CaptureSource:
    cap = cv2.VideoCapture(target)
    if not cap.isOpened():
        cap.release()
        raise SourceError(f"{label} could not be opened: {advice}")
    return CaptureSource(cap, label, is_live)


def _open_folder(path: Path) -> FolderSource:
    paths = sorted(p for p in path.iterdir() if p.is_file() and is_image_path(p))
    if not paths:
        raise SourceError(f"folder {path} holds no images (JPEG, PNG, ...); choose a folder with pictures or a video file")
    return FolderSource(paths, f"folder {path}")


class ReaderState(enum.Enum):
    """What a :class:`LatestFrameReader` is doing, for the UI to show."""

    RUNNING = "running"
    ENDED = "ended"
    """The file or folder has no more frames."""
    FAILED = "failed"
    """The source stopped with an error (see ``error``): camera lost, stream dropped."""
    CLOSED = "closed"


class LatestFrameReader:
    """Reads a source on a background thread, keeping only the newest frame (stale ones are dropped).

    Args:
        source: an open source; the reader closes it.
        realtime: pace files and folders at their fps, so they behave like a camera (live sources are
            never paced: they deliver at their own rate).

    ``get()`` hands out each frame at most once; ``dropped`` counts frames replaced before anyone took them.
    """

    def __init__(self, source: FrameSource, realtime: bool = True) -> None:
        self.source = source
        self._realtime = realtime and not source.is_live
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._state = ReaderState.RUNNING
        self._error: SourceError | None = None
        self._stop = threading.Event()
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name=f"frames:{source.label}", daemon=True)
        self._thread.start()

    @property
    def state(self) -> ReaderState:
        return self._state

    @property
    def error(self) -> SourceError | None:
        """Why the reader failed (``state is FAILED``), else ``None``."""
        return self._error

    def get(self, timeout: float | None = None) -> Frame | None:
        """The newest frame not yet taken, waiting up to ``timeout`` seconds (``None`` = until one comes).

        Returns:
            The frame, or ``None`` when the timeout passed or the source ended, failed or was closed
            (check ``state``).
        """
        with self._cond:
            ready = self._cond.wait_for(lambda: self._latest is not None or self._state != ReaderState.RUNNING, timeout)
            if not ready or self._latest is None:
                return None
            frame, self._latest = self._latest, None
            return frame

    def close(self, timeout: float = 2.0) -> None:
        """Stop the thread and close the source (idempotent)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("%s did not stop within %.1f s; leaving it to finish on its own", self.source.label, timeout)
        else:
            self.source.close()
        self._set_state(ReaderState.CLOSED, None, only_if_running=False)

    def __enter__(self) -> "LatestFrameReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        start = time.monotonic()
        try:
            while not self._stop.is_set():
                frame = self.source.read()
                if frame is None:
                    self._set_state(ReaderState.ENDED, None)
                    return
                if self._realtime and self._stop.wait(max(0.0, start + frame.time_s - time.monotonic())):
                    return
                self._publish(frame)
        except SourceError as exc:
            log.warning("%s", exc)
            self._set_state(ReaderState.FAILED, exc)
        except Exception as exc:  # a camera driver can fail in unexpected ways; the UI must hear of it
            log.exception("reading %s failed", self.source.label)
            self._set_state(ReaderState.FAILED, SourceError(f"{self.source.label} failed: {exc}"))

    def _publish(self, frame: Frame) -> None:
        with self._cond:
            if self._latest is not None:
                self.dropped += 1
            self._latest = frame
            self._cond.notify_all()

    def _set_state(self, state: ReaderState, error: SourceError | None, only_if_running: bool = True) -> None:
        with self._cond:
            if only_if_running and self._state != ReaderState.RUNNING:
                return
            self._state = state
            self._error = error if error is not None else self._error
            self._cond.notify_all()
