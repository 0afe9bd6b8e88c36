"""Helpers shared by the UI tests: enrolling through the service, reading the picture the window shows."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QWidget

from app.context import AppContext
from app.services.enrollment import enroll_paths
from db.records import PersonRecord


def enroll(ctx: AppContext, name: str, photos: list[Path]) -> PersonRecord:
    """Enroll ``name`` from ``photos`` through the enrollment service (for tests that start enrolled)."""
    result = enroll_paths(ctx, name, None, photos, strict=False)
    assert result.person is not None, result.rejected
    return result.person


def count_colour(widget: QWidget, colour: QColor, tolerance: int = 40) -> int:
    """How many pixels of the widget as painted are within ``tolerance`` of ``colour`` (per channel)."""
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    import numpy as np

    ptr = image.constBits()
    rows = np.frombuffer(ptr, np.uint8, count=image.sizeInBytes()).reshape(image.height(), image.bytesPerLine())
    rgb = rows[:, : image.width() * 3].reshape(image.height(), image.width(), 3).astype(int)
    target = np.array([colour.red(), colour.green(), colour.blue()])
    return int((np.abs(rgb - target) <= tolerance).all(axis=2).sum())
