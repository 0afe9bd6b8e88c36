import numpy as np
import pytest

from common.errors import InvalidInput
from models.evaluation import best_threshold, read_pairs, roc_auc, tar_at_far


def _pairs_file(tmp_path, folds=2, n=2):
    lines = [f"{folds}\t{n}"]
    for f in range(folds):
        lines += [f"Ann_{f} 1 2"] * n + [f"Ann_{f} 1 Bob_{f} 1"] * n
    p = tmp_path / "pairs.txt"
    p.write_text("\n".join(lines) + "\n")
    (tmp_path / "images").mkdir()
    return p


def test_pairs_are_read_per_fold_with_lfw_file_names(tmp_path):
    pairs = read_pairs(_pairs_file(tmp_path), tmp_path / "images")
    assert len(pairs) == 8 and [p.fold for p in pairs] == [0] * 4 + [1] * 4
    assert pairs[0].same and not pairs[2].same
    assert pairs[2].second.name == "Bob_0_0001.jpg"


def test_per_fold_limit_keeps_both_classes(tmp_path):
    pairs = read_pairs(_pairs_file(tmp_path), tmp_path / "images", per_fold=1)
    assert [p.same for p in pairs] == [True, False, True, False]


def test_wrong_line_count_is_a_clear_error(tmp_path):
    p = _pairs_file(tmp_path)
    p.write_text(p.read_text() + "Extra 1 2\n")
    with pytest.raises(InvalidInput, match="expected 8 pair lines"):
        read_pairs(p, tmp_path / "images")


def test_best_threshold_separates_separable_scores():
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    same = np.array([False, False, False, True, True, True])
    thr = best_threshold(scores, same)
    assert 0.3 < thr < 0.7


def test_auc_is_one_when_separable_and_half_when_random():
    same = np.array([False, False, True, True])
    assert roc_auc(np.array([0.1, 0.2, 0.8, 0.9]), same) == 1.0
    assert roc_auc(np.array([0.5, 0.5, 0.5, 0.5]), same) == 0.5


def test_tar_at_far_counts_genuine_pairs_above_the_strictest_impostor():
    scores = np.array([0.1, 0.2, 0.95, 0.5, 0.99])
    same = np.array([False, False, False, True, True])
    assert tar_at_far(scores, same, far=0.001) == 0.5


def _face(x, y, w, h):
    from models.types import BBox, Detection, Landmarks

    return Detection(BBox(x, y, w, h), 1.0, Landmarks(((x + w / 3, y + h / 3), (x + 2 * w / 3, y + h / 3)), "five"))


def test_the_face_used_must_cover_the_image_centre():
    from models.evaluation import central_face

    image = np.zeros((250, 250, 3), np.uint8)
    beside = _face(0, 83, 75, 88)  # someone at the edge, the labelled person missed
    subject = _face(80, 80, 100, 100)
    assert central_face([beside], image) is None
    assert central_face([beside, subject], image) is subject
    assert central_face([], image) is None


def test_when_no_face_covers_the_centre_the_fallback_detector_looks_again(tmp_path):
    import cv2

    from models.evaluation import embed_centred_face

    path = tmp_path / "a.png"
    cv2.imwrite(str(path), np.zeros((250, 250, 3), np.uint8))
    beside, subject = _face(0, 83, 75, 88), _face(80, 80, 100, 100)

    class Engine:
        def __init__(self, first, again):
            self.first, self.again, self.used = first, again, None

        def detect(self, image):
            return self.first

        def detect_again(self, image):
            return self.again

        def centre_face(self, image):
            return _face(110, 75, 110, 110)

        def embed(self, image, marks):
            self.used = marks[0]
            return np.ones((1, 4), np.float32)

    found = Engine([beside], [beside, subject])
    assert embed_centred_face(found, path)[1] is False and found.used is subject.landmarks
    lost = Engine([beside], [])
    assert embed_centred_face(lost, path)[1] is True, "counted as a fallback"
    assert lost.used == _face(110, 75, 110, 110).landmarks
