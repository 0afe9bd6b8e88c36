"""Conversions at the Qt boundary: RGB numpy arrays and JPEG bytes to QImage/QPixmap."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap

from models.types import RGBImage


def qimage_from_rgb(image: RGBImage) -> QImage:
    """A QImage owning a copy of an RGB uint8 array of shape (H, W, 3)."""
    rgb = np.ascontiguousarray(image, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def pixmap_from_rgb(image: RGBImage, size: int | None = None) -> QPixmap:
    """A pixmap of an RGB array, scaled to fit ``size``×``size`` pixels when given."""
    pix = QPixmap.fromImage(qimage_from_rgb(image))
    if size:
        pix = pix.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    return pix


def pixmap_from_jpeg(data: bytes | None, size: int) -> QPixmap:
    """A ``size``×``size`` pixmap of JPEG bytes (a grey placeholder when there are none or they are unreadable)."""
    pix = QPixmap()
    if not data or not pix.loadFromData(data):
        pix = QPixmap(size, size)
        pix.fill(Qt.GlobalColor.lightGray)
        return pix
    return pix.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
