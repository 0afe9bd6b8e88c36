"""Reading images from files and bytes into RGB uint8 arrays, with clear errors for bad files.

16-bit, RGBA/LA, palette and grayscale images are converted (alpha is composited onto white); EXIF
orientation of JPEGs is applied by OpenCV.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from models.errors import BadImage
from models.types import RGBImage

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".ppm", ".pbm", ".tif", ".tiff", ".webp"})


def is_image_path(path: Path) -> bool:
    """Whether ``path`` has an image file suffix Rollcall reads."""
    return path.suffix.lower() in IMAGE_SUFFIXES


def load_image(path: str | os.PathLike[str]) -> RGBImage:
    """Read an image file as RGB uint8 (H, W, 3).

    Raises:
        BadImage: the path is missing, a folder, empty, truncated, or not a readable image.
    """
    p = Path(path)
    if not p.exists():
        raise BadImage(f"{p}: no such file; check the path")
    if p.is_dir():
        raise BadImage(f"{p} is a folder, not an image file")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise BadImage(f"{p} cannot be read ({exc.strerror}); check its permissions") from exc
    return decode_image(data, str(p))


def decode_image(data: bytes, name: str = "image") -> RGBImage:
    """Decode encoded image bytes (JPEG, PNG, ...) to RGB uint8 (H, W, 3).

    Raises:
        BadImage: empty, truncated or undecodable data; ``name`` is used in the message.
    """
    if not data:
        raise BadImage(f"{name} is empty (0 bytes); choose another photo")
    _check_complete(data, name)
    raw = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if raw is None or raw.size == 0:
        raise BadImage(f"{name} is not an image Rollcall can read (JPEG, PNG, BMP, TIFF, WebP, PGM); choose another file")
    return to_rgb8(raw)


def to_rgb8(raw: NDArray[np.generic]) -> RGBImage:
    """Convert an OpenCV-decoded array (BGR/BGRA/gray, 8 or 16 bit or float) to RGB uint8."""
    img = raw
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img.astype(np.float64) * (255.0 if img.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    channels = img.shape[2]
    if channels == 1:
        return cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2RGB)
    if channels == 2:  # gray + alpha
        gray, alpha = img[:, :, 0].astype(np.float32), img[:, :, 1:2].astype(np.float32) / 255.0
        flat = (gray[:, :, None] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)[:, :, 0]
        return cv2.cvtColor(flat, cv2.COLOR_GRAY2RGB)
    if channels == 4:
        bgr, alpha = img[:, :, :3].astype(np.float32), img[:, :, 3:4].astype(np.float32) / 255.0
        img = (bgr * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    return cv2.cvtColor(np.ascontiguousarray(img[:, :, :3]), cv2.COLOR_BGR2RGB)


def _check_complete(data: bytes, name: str) -> None:
    """Refuse JPEG and PNG files whose end marker is missing (cut-off downloads, partial copies)."""
    if data[:3] == b"\xff\xd8\xff" and b"\xff\xd9" not in data[-1024:]:
        raise BadImage(f"{name} is a truncated JPEG (the file ends early); copy or download it again")
    if data[:8] == b"\x89PNG\r\n\x1a\n" and b"IEND" not in data[-64:]:
        raise BadImage(f"{name} is a truncated PNG (the file ends early); copy or download it again")


def encode_jpeg(image: RGBImage, quality: int = 92) -> bytes:
    """JPEG bytes of an RGB image (used to store face crops)."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise BadImage("could not encode a face crop as JPEG")
    return buf.tobytes()
