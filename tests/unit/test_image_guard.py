"""The one guarded image loader: sizes read from headers before decoding, tiny and huge images refused, and a
fuzz run over malformed files that must only ever give a picture or a BadImage, quickly."""

from __future__ import annotations

import struct
import time
import zlib

import cv2
import numpy as np
import pytest

from common.errors import BadImage
from models.imageio import DEFAULT_MAX_PIXELS, MIN_SIDE, decode_image, load_image, read_header

FORMATS = (".png", ".jpg", ".gif", ".bmp", ".webp", ".tif", ".ppm", ".pgm")


def _encode(ext: str, height: int, width: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    if ext == ".pgm":
        image = image[:, :, 0]
    ok, buf = cv2.imencode(ext, image)
    assert ok, ext
    return buf.tobytes()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def huge_png(width: int = 40000, height: int = 40000) -> bytes:
    """A small, valid PNG file claiming width × height pixels (a few rows of real data)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 8)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", rows) + _png_chunk(b"IEND", b"")


def huge_headers() -> dict[str, bytes]:
    """Files of every format whose header claims an image far over the pixel limit."""
    jpeg = bytearray(_encode(".jpg", 32, 32))
    sof = jpeg.index(b"\xff\xc0")
    jpeg[sof + 5 : sof + 9] = struct.pack(">HH", 60000, 60000)
    gif = bytearray(_encode(".gif", 32, 32))
    gif[6:10] = struct.pack("<HH", 65535, 65535)
    bmp = bytearray(_encode(".bmp", 32, 32))
    bmp[18:26] = struct.pack("<ii", 40000, -40000)
    webp = b"RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00" + (39999).to_bytes(3, "little") * 2
    return {
        "png": huge_png(),
        "jpeg": bytes(jpeg),
        "gif": bytes(gif),
        "bmp": bytes(bmp),
        "webp": webp,
        "pgm": b"P5\n# big\n40000 40000\n255\n" + b"\x00" * 1000,
    }


def test_a_40000_pixel_square_png_is_refused_from_its_header_quickly() -> None:
    data = huge_png()
    assert len(data) < 100_000
    start = time.perf_counter()
    with pytest.raises(BadImage, match=r"40000×40000 pixels \(1600 megapixels\), over the limit of 64 megapixels"):
        decode_image(data, "big.png")
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize("fmt", sorted(huge_headers()))
def test_every_format_claiming_a_huge_size_is_refused_before_decoding(fmt: str) -> None:
    with pytest.raises(BadImage, match="over the limit"):
        decode_image(huge_headers()[fmt], f"big.{fmt}")


def test_the_pixel_limit_is_configurable(tmp_path) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(_encode(".png", 300, 400))
    assert load_image(path).shape == (300, 400, 3)
    with pytest.raises(BadImage, match="over the limit of 0.1 megapixels"):
        load_image(path, max_pixels=100_000)


@pytest.mark.parametrize("ext", FORMATS)
@pytest.mark.parametrize("size", [(1, 1), (1, 400), (400, 1), (10, 10), (MIN_SIDE - 1, 300)])
def test_tiny_images_are_refused_with_their_size(ext: str, size: tuple[int, int]) -> None:
    height, width = size
    with pytest.raises(BadImage, match=rf"only {width}×{height} pixels; a face needs a photo at least {MIN_SIDE}"):
        decode_image(_encode(ext, height, width), f"tiny{ext}")


@pytest.mark.parametrize("ext", FORMATS)
def test_headers_of_every_format_give_the_true_size(ext: str) -> None:
    header = read_header(_encode(ext, 37, 53))
    assert header is not None and (header.width, header.height) == (53, 37)


@pytest.mark.parametrize("ext", FORMATS)
def test_every_format_decodes_to_rgb(ext: str) -> None:
    assert decode_image(_encode(ext, 24, 30), f"ok{ext}").shape == (24, 30, 3)


def _malformed_cases() -> list[tuple[str, bytes]]:
    """A few hundred broken files: truncations, flipped bytes, wrong magic numbers, random bytes, extremes."""
    rng = np.random.default_rng(1234)
    cases: list[tuple[str, bytes]] = [(f"huge {k}", v) for k, v in huge_headers().items()]
    for ext in FORMATS:
        good = _encode(ext, 48, 64, seed=len(cases))
        for frac in (0.01, 0.05, 0.2, 0.5, 0.9, 0.99):
            cases.append((f"{ext} cut at {frac}", good[: max(1, int(len(good) * frac))]))
        for k in range(12):
            broken = bytearray(good)
            for pos in rng.integers(0, min(len(good), 64 if k < 6 else len(good)), 4):
                broken[pos] = int(rng.integers(0, 256))
            cases.append((f"{ext} flipped #{k}", bytes(broken)))
        cases.append((f"{ext} without magic", good[4:]))
        cases.append((f"{ext} header only", good[:40]))
        cases.append((f"{ext} random body", good[:32] + rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()))
        for h, w in ((1, 1), (1, 400), (400, 1)):
            cases.append((f"{ext} {w}x{h}", _encode(ext, h, w)))
    for magic in (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*", b"RIFF", b"P6", b"P5"):
        for n in (0, 3, 20, 300):
            cases.append((f"{magic!r} + {n} random", magic + rng.integers(0, 256, n, dtype=np.uint8).tobytes()))
    for n in (1, 2, 7, 100, 5000):
        cases.append((f"{n} random bytes", rng.integers(0, 256, n, dtype=np.uint8).tobytes()))
    cases.append(("text", b"these are my notes, not a photo"))
    cases.append(("zeros", b"\x00" * 4096))
    return cases


def test_fuzz_malformed_images_only_ever_give_a_picture_or_bad_image() -> None:
    cases = _malformed_cases()
    assert len(cases) >= 200
    refused = 0
    slowest = 0.0
    for label, data in cases:
        start = time.perf_counter()
        try:
            image = decode_image(data, label)
        except BadImage as exc:
            refused += 1
            assert label in str(exc) and "\n" not in str(exc)
        else:
            assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3, label
            assert image.shape[0] * image.shape[1] <= DEFAULT_MAX_PIXELS and min(image.shape[:2]) >= MIN_SIDE
        slowest = max(slowest, time.perf_counter() - start)
    assert slowest < 2.0
    assert refused > len(cases) // 2
