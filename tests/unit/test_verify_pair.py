"""``verify`` with a pair-scoring (Siamese) backend answers with the pair network's probability and its cut-off,
not with the distance between embeddings."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from app.services.recognition import verify_images
from models.embedders.base import EmbedderInfo, PairScorer
from models.types import BBox, Detection, Landmarks

INFO = EmbedderInfo("my-siamese", (32, 32), 4, "box_margin_facenet", "l2", 1.0)


class FakeSiamese:
    """Probability = share of equal mean brightness (1.0 for the same picture); embeddings that always agree."""

    info = INFO
    pair_cutoff = 0.7

    def __init__(self) -> None:
        self.pairs: list[tuple[tuple[int, ...], tuple[int, ...]]] = []

    def embed(self, crops: np.ndarray) -> np.ndarray:
        return np.ones((len(crops), 4), np.float32)

    def pair_probability(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        self.pairs.append((first.shape, second.shape))
        gap = np.abs(first.mean(axis=(1, 2, 3)) - second.mean(axis=(1, 2, 3))) / 255.0
        return (1.0 - gap).astype(np.float32)


def _ctx(scorer: FakeSiamese) -> SimpleNamespace:
    marks = Landmarks(tuple((float(20 + (k % 9) * 5), float(20 + (k // 9) * 7)) for k in range(68)), "dlib68")
    det = Detection(BBox(15, 15, 50, 60), 1.0, marks)
    engine = SimpleNamespace(info=INFO, embedder=scorer, threshold=1.0, single_face=lambda image, name: det)
    return SimpleNamespace(engine=engine)


def test_a_siamese_backend_verifies_by_probability_against_its_cutoff() -> None:
    scorer = FakeSiamese()
    assert isinstance(scorer, PairScorer)
    dark, light = np.full((80, 80, 3), 40, np.uint8), np.full((80, 80, 3), 220, np.uint8)
    same = verify_images(_ctx(scorer), (dark, "a.jpg"), (dark.copy(), "b.jpg"))
    other = verify_images(_ctx(scorer), (dark, "a.jpg"), (light, "c.jpg"))
    assert same.same and same.metric == "probability" and same.score > 0.99 and same.threshold == 0.7
    assert not other.same and other.score < 0.7  # the embeddings agree, but the pair network says no
    assert scorer.pairs[0] == ((1, 32, 32, 3), (1, 32, 32, 3))  # aligned crops of the backend's input size
