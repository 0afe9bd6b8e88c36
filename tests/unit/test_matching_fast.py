"""The int8 prefilter of large galleries gives the brute-force answer (no timing asserts)."""

import pickle

import numpy as np
import pytest

from common.metric import Metric
from models import matching
from models.embedders.base import l2_normalise
from models.matching import Gallery, exact_cosines

pytest.importorskip("onnxruntime")

N, DIM = 30_000, 128


@pytest.fixture(scope="module")
def matrix():
    return np.random.default_rng(7).normal(size=(N, DIM)).astype(np.float32)


def _gallery(matrix, metric, threshold):
    ids = tuple(range(100, 100 + len(matrix)))
    return Gallery.build(ids, tuple(f"P{i}" for i in ids), matrix, metric, threshold)


def _brute_force(gallery, queries):
    """(best row, best cos, runner-up cos) per query, float64 over every row, cosines rounded to float32."""
    unit = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    cos = unit.astype(np.float32).astype(np.float64) @ gallery.matrix.astype(np.float64).T
    out = []
    for row in cos:
        top = np.argsort(-row, kind="stable")[:2]
        out.append((int(top[0]), float(np.float32(row[top[0]])), float(np.float32(row[top[1]]))))
    return out


def _queries(matrix, rng, n, noise):
    picks = rng.integers(0, len(matrix), n)
    unit = matrix[picks] / np.linalg.norm(matrix[picks], axis=1, keepdims=True)
    return (unit + noise * rng.normal(size=(n, matrix.shape[1]))).astype(np.float32), picks


@pytest.mark.parametrize("metric, threshold", [("cosine", 0.5), ("l2", 0.9)])
def test_prefilter_gives_the_brute_force_person_score_and_margin(matrix, metric, threshold):
    gallery = _gallery(matrix, metric, threshold)
    assert gallery.uses_prefilter and gallery._prefilter() is not None
    rng = np.random.default_rng(1)
    noisy, picks = _queries(matrix, rng, 150, 0.05)
    queries = np.concatenate([noisy, rng.normal(size=(50, DIM)).astype(np.float32)])
    batch = gallery.search(queries)
    exact = gallery.search(queries, exact=True)
    for i, (q, (row, best, second)) in enumerate(zip(queries, _brute_force(gallery, queries))):
        single = gallery.search(q[None])[0]
        score = float(Metric(metric).score(best))
        margin = abs(score - float(Metric(metric).score(second)))
        for match in (single, batch[i], exact[i]):
            assert match.candidate_id == gallery.person_ids[row]
            assert match.score == score and match.margin == margin  # bit for bit
        if i < len(noisy):
            assert row == picks[i] and single.known and single.person_id == gallery.person_ids[row]
            assert single.name == f"P{gallery.person_ids[row]}"
        else:
            assert not single.known and single.person_id is None and single.name is None


def test_strangers_and_strict_thresholds_stay_unknown_but_keep_the_candidate(matrix):
    gallery = _gallery(matrix, "l2", 0.05)  # stricter than any noisy copy below
    noisy, picks = _queries(matrix, np.random.default_rng(2), 20, 0.05)
    for match, pick in zip(gallery.search(noisy), picks):
        assert not match.known and match.name is None
        assert match.candidate_id == gallery.person_ids[pick] and match.score > 0.05


def test_scores_are_float32_exact_cosines_whatever_the_path(matrix):
    gallery = _gallery(matrix, "cosine", 0.5)
    q = matrix[123] + 0.01
    match = gallery.search(q[None])[0]
    cos = exact_cosines(gallery.matrix, l2_normalise(q), np.array([123]))[0]
    assert match.candidate_id == gallery.person_ids[123] and match.score == float(np.float32(cos))
    small = _gallery(matrix[:1000], "cosine", 0.5)
    assert not small.uses_prefilter
    assert small.search(q[None])[0].score == match.score


def test_duplicate_rows_tie_to_the_first_like_argmax(matrix):
    m = matrix.copy()
    m[20_000] = m[500]
    gallery = _gallery(m, "cosine", 0.5)
    match = gallery.search(m[500][None])[0]
    assert match.candidate_id == gallery.person_ids[500] and match.margin == 0.0
    assert match == gallery.search(m[500][None], exact=True)[0]


def test_zero_and_non_finite_queries_fall_back_to_the_plain_path(matrix):
    gallery = _gallery(matrix, "cosine", 0.5)
    out = gallery.search(np.stack([np.zeros(DIM, np.float32), matrix[5]]))
    assert out[0].candidate_id == gallery.person_ids[0] and not out[0].known
    assert out[1].candidate_id == gallery.person_ids[5] and out[1].known


def test_without_onnxruntime_the_exact_path_answers(matrix, monkeypatch):
    gallery = _gallery(matrix, "cosine", 0.5)

    def broken(*args, **kwargs):
        raise ImportError("no onnxruntime")

    monkeypatch.setattr(matching, "_Int8Prefilter", broken)
    match = gallery.search(matrix[9][None])[0]
    assert match.candidate_id == gallery.person_ids[9] and not gallery.uses_prefilter


def test_pickled_gallery_rebuilds_its_index(matrix):
    gallery = _gallery(matrix, "cosine", 0.5).prepare()
    copy = pickle.loads(pickle.dumps(gallery))
    assert "_fast" not in copy.__dict__
    assert copy.search(matrix[3][None])[0].candidate_id == gallery.person_ids[3]
