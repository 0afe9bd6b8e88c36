"""Reading images from files and bytes into RGB uint8 arrays, with clear errors for bad files.

Every image Rollcall reads from outside goes through :func:`load_image` / :func:`decode_image`, one guarded
loader: the format and the size are read from the file's header *before* anything is decoded, so a small file
that claims 40000×40000 pixels is refused without allocating memory for it; images over the pixel limit
(:data:`DEFAULT_MAX_PIXELS`, 64 megapixels) or under :data:`MIN_SIDE` pixels on a side are refused with a
clear :class:`~common.errors.BadImage`, and any decoder failure becomes one too.

16-bit, RGBA/LA, palette and grayscale images are converted (alpha is composited onto white); EXIF
orientation of JPEGs is applied by OpenCV.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from common.errors import BadImage
from models.types import RGBImage

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".pgm", ".ppm", ".pbm", ".tif", ".tiff", ".webp"}
)
DEFAULT_MAX_PIXELS = 64_000_000
"""Largest image (width × height) Rollcall decodes by default: 64 megapixels (about 190 MB as RGB), so photos
of 50–61 megapixel cameras still open."""
MIN_SIDE = 20
"""Smallest width or height, in pixels, worth looking for a face in."""
_BYTES_PER_PIXEL_LIMIT = 8
"""A file larger than ``max_pixels * 8`` bytes (+1 MB) is refused before it is read (16-bit RGBA is 8)."""
_FORMATS = "JPEG, PNG, GIF, BMP, TIFF, WebP, PGM/PPM"


@dataclass(frozen=True)
class ImageHeader:
    """What an image file's header says: its format and size in pixels (width, height)."""

    format: str
    width: int
    height: int


def is_image_path(path: Path) -> bool:
    """Whether ``path`` has an image file suffix Rollcall reads."""
    return path.suffix.lower() in IMAGE_SUFFIXES


def load_image(path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS) -> RGBImage:
    """Read an image file as RGB uint8 (H, W, 3), refusing it before decoding when its header is unsafe.

    Args:
        path: the image file.
        max_pixels: the largest width × height accepted (see :data:`DEFAULT_MAX_PIXELS`).

    Raises:
        BadImage: the path is missing, a folder, empty, truncated, not a readable image, larger than
            ``max_pixels`` or smaller than :data:`MIN_SIDE` pixels on a side.
    """
    return decode_image(read_image_file(path, max_pixels), str(path), max_pixels)


def read_image_file(path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
    """The bytes of an image file, refusing folders, missing files and files too large to be a photo.

    Raises:
        BadImage: missing, a folder, unreadable, or over ``max_pixels * 8`` bytes (+1 MB).
    """
    p = Path(path)
    try:
        if not p.exists():
            raise BadImage(f"{p}: no such file; check the path")
        if p.is_dir():
            raise BadImage(f"{p} is a folder, not an image file")
        size = p.stat().st_size
        if size > max_pixels * _BYTES_PER_PIXEL_LIMIT + (1 << 20):
            raise BadImage(f"{p} is {size / 1e6:.0f} MB, too large for a photo; use a smaller copy")
        return p.read_bytes()
    except OSError as exc:
        raise BadImage(f"{p} cannot be read ({exc.strerror or exc}); check the path and its permissions") from exc


def decode_image(data: bytes, name: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS) -> RGBImage:
    """Decode encoded image bytes (JPEG, PNG, ...) to RGB uint8 (H, W, 3).

    Args:
        data: the encoded file.
        name: used in messages (a path, "stored face sample 3", ...).
        max_pixels: the largest width × height accepted.

    Raises:
        BadImage: empty, truncated, undecodable, too large or too small; ``name`` is used in the message.
    """
    if not data:
        raise BadImage(f"{name} is empty (0 bytes); choose another photo")
    _check_complete(data, name)
    header = check_header(data, name, max_pixels)
    try:
        raw = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        if raw is None or raw.size == 0 or raw.ndim < 2:
            raise BadImage(f"{name} is a damaged {header.format} file (it cannot be decoded); choose another file")
        height, width = raw.shape[:2]
        if width * height > max_pixels or min(width, height) < MIN_SIDE:  # the header lied
            raise BadImage(f"{name} decodes to {width}×{height} pixels, not what its header says; choose another file")
        return to_rgb8(raw)
    except (cv2.error, MemoryError, ValueError, TypeError) as exc:
        raise BadImage(f"{name} is a damaged {header.format} file ({_first_line(exc)}); choose another file") from exc


def check_header(data: bytes, name: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageHeader:
    """The format and size of an encoded image, read from its header only, checked against the limits.

    Raises:
        BadImage: not a format Rollcall reads, a malformed header, more than ``max_pixels`` pixels, or a
            side under :data:`MIN_SIDE` pixels.
    """
    header = read_header(data)
    if header is None:
        raise BadImage(f"{name} is not an image Rollcall can read ({_FORMATS}); choose another file")
    w, h = header.width, header.height
    if w <= 0 or h <= 0:
        raise BadImage(f"{name} is a damaged {header.format} file (its header gives no valid size); choose another file")
    if w * h > max_pixels:
        raise BadImage(
            f"{name} is {w}×{h} pixels ({w * h / 1e6:.0f} megapixels), over the limit of "
            f"{max_pixels / 1e6:g} megapixels; scale it down (the limit is the max_image_megapixels setting)"
        )
    if min(w, h) < MIN_SIDE:
        raise BadImage(f"{name} is only {w}×{h} pixels; a face needs a photo at least {MIN_SIDE} pixels on each side")
    return header


def read_header(data: bytes) -> ImageHeader | None:
    """Format and size from the first bytes of an image file, or ``None`` when the format is not one we read.

    A format we recognise with a header too short or malformed to give a size reads as 0×0.
    """
    readers = (
        (b"\x89PNG\r\n\x1a\n", _png),
        (b"\xff\xd8", _jpeg),
        (b"GIF87a", _gif),
        (b"GIF89a", _gif),
        (b"BM", _bmp),
        (b"II*\x00", _tiff),
        (b"MM\x00*", _tiff),
        (b"RIFF", _webp),
        (b"P", _pnm),
    )
    for magic, reader in readers:
        if data.startswith(magic):
            try:
                return reader(data)
            except (struct.error, IndexError, ValueError):
                return ImageHeader(reader.__name__.strip("_").upper(), 0, 0)
    return None


def _png(data: bytes) -> ImageHeader:
    if data[12:16] != b"IHDR":
        raise ValueError("no IHDR")
    w, h = struct.unpack(">II", data[16:24])
    return ImageHeader("PNG", w, h)


def _gif(data: bytes) -> ImageHeader:
    w, h = struct.unpack("<HH", data[6:10])
    return ImageHeader("GIF", w, h)


def _bmp(data: bytes) -> ImageHeader:
    (dib_size,) = struct.unpack("<I", data[14:18])
    if dib_size == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        w, h = struct.unpack("<HH", data[18:22])
    else:
        w, h = struct.unpack("<ii", data[18:26])
    return ImageHeader("BMP", abs(w), abs(h))


def _jpeg(data: bytes) -> ImageHeader:
    """Walk the JPEG markers up to the first start-of-frame (SOFn) segment, which holds the size."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ValueError("marker expected")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            raise ValueError("no frame header")
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return ImageHeader("JPEG", w, h)
        if length < 2:
            raise ValueError("bad segment length")
        i += 2 + length
    raise ValueError("no frame header")


def _tiff(data: bytes) -> ImageHeader:
    """Width and height tags (256, 257) of the first image file directory."""
    order = "<" if data[:2] == b"II" else ">"
    (offset,) = struct.unpack(order + "I", data[4:8])
    (count,) = struct.unpack(order + "H", data[offset : offset + 2])
    size: dict[int, int] = {}
    for k in range(min(count, 4096)):
        entry = data[offset + 2 + 12 * k : offset + 14 + 12 * k]
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag in (256, 257):
            fmt = "H" if kind == 3 else "I"
            (size[tag],) = struct.unpack(order + fmt, entry[8 : 8 + struct.calcsize(fmt)])
    return ImageHeader("TIFF", size.get(256, 0), size.get(257, 0))


def _webp(data: bytes) -> ImageHeader:
    if data[8:12] != b"WEBP":
        raise ValueError("not WebP")
    chunk = data[12:16]
    if chunk == b"VP8 ":
        w, h = struct.unpack("<HH", data[26:30])
        return ImageHeader("WebP", w & 0x3FFF, h & 0x3FFF)
    if chunk == b"VP8L":
        (bits,) = struct.unpack("<I", data[21:25])
        return ImageHeader("WebP", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X":
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        if len(data) < 30:
            raise ValueError("short header")
        return ImageHeader("WebP", w, h)
    raise ValueError("unknown WebP chunk")


def _pnm(data: bytes) -> ImageHeader | None:
    """Netpbm (P1–P6): magic, then width and height as text, with ``#`` comments allowed."""
    if data[1:2] not in (b"1", b"2", b"3", b"4", b"5", b"6"):
        return None
    numbers: list[int] = []
    for line in data[2:512].split(b"\n"):
        for token in line.split(b"#", 1)[0].split():
            numbers.append(int(token))
            if len(numbers) == 2:
                return ImageHeader("PGM/PPM", numbers[0], numbers[1])
    raise ValueError("no size")



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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1][:120] if text else type(exc).__name__
