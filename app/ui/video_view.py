"""The picture of the live view: the newest frame with a box and a name per face, and the frame rate."""

from __future__ import annotations

import time
from collections import deque
from typing import Sequence

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from models.tracking import TrackView

COLOURS = {
    "known": QColor("#1f9d55"),
    "unknown": QColor("#d64545"),
    "unsure": QColor("#e8a317"),
    "pending": QColor("#9aa5b1"),
}
"""Box colour per track state: a known face green, Unknown red, unsure amber, not yet decided grey."""


def track_label(track: TrackView) -> str:
    """The text above a face box: the name and score, "Unknown", "Unsure" or "Checking…"."""
    if track.state == "known":
        return f"{track.name}  {track.score:.2f}" if track.score is not None else str(track.name)
    if track.state == "unknown":
        return "Unknown"
    if track.state == "unsure":
        return "Unsure"  # an unsure decision names nobody: the looks disagreed or were too close to call
    return "Checking…"


class FpsMeter:
    """Frames per second over the last ``window_s`` seconds."""

    def __init__(self, window_s: float = 2.0) -> None:
        self._window = window_s
        self._times: deque[float] = deque()

    def tick(self, now: float | None = None) -> None:
        t = time.monotonic() if now is None else now
        self._times.append(t)
        while self._times and t - self._times[0] > self._window:
            self._times.popleft()

    @property
    def fps(self) -> float:
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0

    def reset(self) -> None:
        self._times.clear()


class VideoView(QWidget):
    """Paints a frame scaled to fit (letterboxed), the tracks' boxes and labels, and the shown frame rate."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(320, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self._image: QImage | None = None
        self._tracks: tuple[TrackView, ...] = ()
        self.meter = FpsMeter()
        self.frames_shown = 0  # frames handed to the view
        self.frames_painted = 0  # distinct frames actually painted on screen
        self._painted_image: QImage | None = None
        self.placeholder = "Press Start to begin"

    def show_frame(self, image: QImage | None, tracks: Sequence[TrackView]) -> None:
        """Show ``image`` (``None`` keeps the current picture) with ``tracks`` on it."""
        if image is not None:
            self._image = image
            self.frames_shown += 1
            self.meter.tick()
        self._tracks = tuple(tracks)
        self.update()

    def clear(self, placeholder: str) -> None:
        """Forget the picture and show ``placeholder`` text instead."""
        self._image = None
        self._tracks = ()
        self.placeholder = placeholder
        self.meter.reset()
        self.update()

    @property
    def aspect(self) -> float | None:
        """The shown picture's width / height, or ``None`` while there is no picture."""
        return self._image.width() / self._image.height() if self._image is not None and self._image.height() else None

    @property
    def tracks(self) -> tuple[TrackView, ...]:
        return self._tracks

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt name)
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#111418"))
        if self._image is None:
            p.setPen(QColor("#c7ccd1"))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
            p.end()
            return
        iw, ih = self._image.width(), self._image.height()
        scale = min(self.width() / iw, self.height() / ih)
        target = QRectF((self.width() - iw * scale) / 2, (self.height() - ih * scale) / 2, iw * scale, ih * scale)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, scale < 1.0)
        p.drawImage(target, self._image)
        if self._image is not self._painted_image:
            self._painted_image = self._image
            self.frames_painted += 1
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        for track in self._tracks:
            self._draw_track(p, track, target.x(), target.y(), scale)
        self._draw_fps(p)
        p.end()

    def _draw_track(self, p: QPainter, track: TrackView, ox: float, oy: float, scale: float) -> None:
        colour = COLOURS.get(track.state, COLOURS["pending"])
        b = track.box
        rect = QRectF(ox + b.x * scale, oy + b.y * scale, b.w * scale, b.h * scale)
        pen = QPen(colour, 3 if track.state == "known" else 2)
        if track.state in ("unsure", "pending"):
            pen.setStyle(Qt.PenStyle.DashLine)
        p.setPen(pen)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(rect)
        font = QFont(self.font())
        font.setPointSizeF(max(9.0, font.pointSizeF()))
        font.setBold(True)
        p.setFont(font)
        text = track_label(track)
        metrics = p.fontMetrics()
        tw, th = metrics.horizontalAdvance(text) + 10, metrics.height() + 4
        top = rect.top() - th if rect.top() - th >= 0 else rect.bottom()
        label = QRectF(rect.left(), top, tw, th)
        p.fillRect(label, colour)
        p.setPen(QColor("white") if track.state != "unsure" else QColor("#1b1b1b"))
        p.drawText(label, Qt.AlignmentFlag.AlignCenter, text)

    def _draw_fps(self, p: QPainter) -> None:
        text = f"{self.meter.fps:.0f} fps"
        metrics = p.fontMetrics()
        box = QRectF(self.width() - metrics.horizontalAdvance(text) - 18, 8, metrics.horizontalAdvance(text) + 10, metrics.height() + 4)
        p.fillRect(box, QColor(0, 0, 0, 150))
        p.setPen(QColor("white"))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
