import numpy as np
import pytest

from models.errors import InvalidInput
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
