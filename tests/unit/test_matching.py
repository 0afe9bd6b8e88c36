import numpy as np
import pytest

from common.errors import InvalidInput
from models.matching import Gallery


def _gallery(metric="cosine", threshold=0.5, n=3, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(n, dim)).astype(np.float32)
    return Gallery.build(tuple(range(1, n + 1)), tuple(f"P{i}" for i in range(1, n + 1)), matrix, metric, threshold), matrix


def test_a_noisy_copy_of_a_centroid_is_named():
    gallery, matrix = _gallery()
    query = matrix[1] + 0.05 * np.random.default_rng(1).normal(size=matrix.shape[1])
    match = gallery.search(query[None])[0]
    assert match.name == "P2" and match.person_id == 2
    assert match.margin > 0


def test_a_face_far_from_everyone_stays_unknown_but_keeps_its_candidate():
    gallery, matrix = _gallery(threshold=0.99)
    query = matrix[0] + matrix[2]
    match = gallery.search(query[None])[0]
    assert match.name is None and not match.known
    assert match.candidate_id in (1, 3)


def test_l2_metric_reports_distances_and_accepts_small_ones():
    gallery, matrix = _gallery(metric="l2", threshold=0.3)
    same = gallery.search(matrix[2][None])[0]
    assert same.name == "P3" and same.score == pytest.approx(0.0, abs=1e-3)
    other = gallery.search((-matrix[2])[None])[0]
    assert other.name is None and other.score > 1.0


def test_empty_gallery_gives_unknown_for_every_query():
    gallery = Gallery.build((), (), np.zeros((0, 0)), "cosine", 0.5)
    assert [m.known for m in gallery.search(np.ones((2, 4)))] == [False, False]


def test_vectors_of_another_backend_are_refused():
    gallery, _ = _gallery(dim=8)
    with pytest.raises(InvalidInput, match="different backends"):
        gallery.search(np.ones((1, 16)))


def test_single_person_gallery_has_infinite_margin():
    gallery, matrix = _gallery(n=1)
    assert gallery.search(matrix[:1])[0].margin == float("inf")


def test_unknown_metric_is_refused():
    with pytest.raises(InvalidInput, match="unknown metric"):
        Gallery.build((1,), ("a",), np.ones((1, 2)), "manhattan", 0.5)
