import numpy as np

from models.align import ARCFACE_TEMPLATE_112, align_arcface, canonical_crop, similarity_matrix
from models.types import Landmarks


def test_similarity_matrix_recovers_rotation_scale_and_shift():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, size=(5, 2))
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -4.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ rot.T + shift
    m = similarity_matrix(src, dst)
    assert np.allclose(m[:, :2], rot, atol=1e-6) and np.allclose(m[:, 2], shift, atol=1e-6)


def test_arcface_alignment_puts_a_bright_dot_at_the_left_eye_template_position():
    img = np.zeros((300, 300, 3), np.uint8)
    # five points of a face twice the template size, shifted by (40, 30)
    pts = ARCFACE_TEMPLATE_112 * 2 + np.array([40, 30])
    x, y = pts[0].round().astype(int)
    img[y - 2 : y + 3, x - 2 : x + 3] = 255
    crop = align_arcface(img, Landmarks(tuple(map(tuple, pts)), "five"), (112, 112))
    ty, tx = np.unravel_index(crop[..., 0].argmax(), crop.shape[:2])
    assert abs(tx - ARCFACE_TEMPLATE_112[0, 0]) <= 2 and abs(ty - ARCFACE_TEMPLATE_112[0, 1]) <= 2


def test_canonical_crop_keeps_landmarks_on_the_same_pixels():
    img = np.zeros((400, 500, 3), np.uint8)
    pts = ARCFACE_TEMPLATE_112 + np.array([300, 200])
    for x, y in pts.round().astype(int):
        img[y, x] = 255
    crop, lm = canonical_crop(img, Landmarks(tuple(map(tuple, pts)), "five"))
    assert crop.shape == (320, 320, 3)
    for x, y in lm.array().round().astype(int):
        assert crop[y - 3 : y + 4, x - 3 : x + 4].max() > 0
