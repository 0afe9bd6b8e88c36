import cv2
import numpy as np
import pytest

from common.errors import BadImage
from models.imageio import decode_image, load_image


def _write(path, array):
    assert cv2.imwrite(str(path), array)
    return path


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(BadImage, match="no such file"):
        load_image(tmp_path / "nope.jpg")


def test_empty_file_is_rejected(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(BadImage, match="empty"):
        load_image(p)


def test_text_file_named_jpg_is_rejected(tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("these are my notes, not a photo")
    with pytest.raises(BadImage, match="not an image"):
        load_image(p)


def test_truncated_jpeg_is_rejected(tmp_path):
    full = _write(tmp_path / "full.jpg", np.full((64, 64, 3), 120, np.uint8)).read_bytes()
    p = tmp_path / "cut.jpg"
    p.write_bytes(full[: len(full) // 2])
    with pytest.raises(BadImage, match="truncated"):
        load_image(p)


def test_folder_is_not_an_image(tmp_path):
    with pytest.raises(BadImage, match="folder"):
        load_image(tmp_path)


def test_sixteen_bit_png_becomes_rgb8(tmp_path):
    img = np.zeros((30, 32, 3), np.uint16)
    img[..., 2] = 65535  # red in BGR order
    out = load_image(_write(tmp_path / "deep.png", img))
    assert out.dtype == np.uint8 and out.shape == (30, 32, 3)
    assert out[0, 0].tolist() == [255, 0, 0]


def test_rgba_png_is_composited_on_white(tmp_path):
    img = np.zeros((24, 24, 4), np.uint8)
    img[..., 3] = 0  # fully transparent
    img[0, 0] = (255, 0, 0, 255)  # opaque blue (BGRA)
    out = load_image(_write(tmp_path / "alpha.png", img))
    assert out[1, 1].tolist() == [255, 255, 255]
    assert out[0, 0].tolist() == [0, 0, 255]


def test_grayscale_becomes_three_channels(tmp_path):
    out = load_image(_write(tmp_path / "gray.png", np.full((25, 26), 77, np.uint8)))
    assert out.shape == (25, 26, 3) and (out == 77).all()


def test_decode_names_the_source_in_errors():
    with pytest.raises(BadImage, match="upload.bin"):
        decode_image(b"garbage", "upload.bin")
