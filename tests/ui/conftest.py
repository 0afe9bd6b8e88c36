"""UI test fixtures: offscreen Qt, a context on the test's data folder, the window, and a fake camera.

``QT_QPA_PLATFORM`` is set here, before anything imports Qt, so the tests run without a display.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import time  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Iterator, Sequence  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from app.config import build_config  # noqa: E402
from app.context import AppContext  # noqa: E402
from models import sources  # noqa: E402
from models.imageio import load_image  # noqa: E402
from models.sources import Frame  # noqa: E402
from tests.conftest import need_shared  # noqa: E402

@pytest.fixture(autouse=True)
def no_blocking_message_box(monkeypatch) -> Iterator[list[str]]:  # noqa: ANN001
    """A message box no test asked for fails that test instead of waiting forever for a click offscreen.

    A test that expects one patches ``QMessageBox.warning`` (etc.) itself, which replaces this guard.
    """
    from PySide6.QtWidgets import QMessageBox

    unexpected: list[str] = []

    def record(kind: str, answer: object):  # noqa: ANN202
        def box(parent, title, text, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            unexpected.append(f"{kind}: {title}: {text}")
            return answer

        return box

    ok, no = QMessageBox.StandardButton.Ok, QMessageBox.StandardButton.No
    for kind, answer in (("warning", ok), ("critical", ok), ("information", ok), ("question", no)):
        monkeypatch.setattr(QMessageBox, kind, record(kind, answer))
    yield unexpected
    assert not unexpected, f"a message box the test did not expect was shown: {unexpected}"


FAKE = "fake-camera:"
"""Sources named ``fake-camera:NAME`` open the :class:`FakeCamera` registered under NAME."""


def camera_frame(path: Path, width: int = 640) -> np.ndarray:
    """A photo resized to a webcam-like ``width`` (RGB), face size kept in proportion."""
    image = load_image(path)
    h, w = image.shape[:2]
    scale = width / w
    return cv2.resize(image, (width, int(round(h * scale))), interpolation=cv2.INTER_AREA)


class FakeCamera:
    """A live source showing the same real photos over and over at ``fps``, like a person in front of a webcam.

    Args:
        images: RGB frames; frame ``i`` shows ``images[(i // hold) % len(images)]``.
        frames: how many frames before it "ends" (``None`` = forever).
    """

    is_live = True

    def __init__(self, images: Sequence[np.ndarray], fps: float = 30.0, frames: int | None = None, hold: int = 1000) -> None:
        self.label = "fake camera"
        self.fps = fps
        self.started_at = datetime.now(timezone.utc)
        self._images = list(images)
        self._frames = frames
        self._hold = hold
        self._index = 0
        self._t0: float | None = None
        self.closed = False

    def read(self) -> Frame | None:
        if self.closed or (self._frames is not None and self._index >= self._frames):
            return None
        if self._t0 is None:  # the clock starts with the first picture, like a camera switched on
            self._t0 = time.monotonic()
        due = self._t0 + self._index / self.fps
        time.sleep(max(0.0, due - time.monotonic()))
        image = self._images[(self._index // self._hold) % len(self._images)]
        frame = Frame(self._index, time.monotonic() - self._t0, image)
        self._index += 1
        return frame

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> "FakeCamera":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def cameras(monkeypatch: pytest.MonkeyPatch) -> dict[str, FakeCamera]:
    """Register fake cameras by name; the window opens ``fake-camera:NAME`` as that camera."""
    registry: dict[str, FakeCamera] = {}
    real_open = sources.open_source

    def fake_open(spec: str) -> sources.FrameSource:
        if spec.startswith(FAKE):
            return registry[spec[len(FAKE):]]
        return real_open(spec)

    monkeypatch.setattr(sources, "open_source", fake_open)
    return registry


@pytest.fixture
def ctx() -> Iterator[AppContext]:
    """A context on the test's own data folder (``ROLLCALL_DATA`` is set per test by tests/conftest.py)."""
    context = AppContext(build_config())
    yield context
    context.close()


@pytest.fixture
def window(qtbot, ctx: AppContext):  # type: ignore[no-untyped-def]
    """The real main window, shown; closed (stopping every thread) after the test."""
    from app.ui.launch import create_window

    win = create_window(ctx)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


@pytest.fixture
def celebs() -> Path:
    return need_shared("data", "five-celebrity")
