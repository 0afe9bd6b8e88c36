"""Scene cuts found on the real Hamilton clip: its three cuts, and nothing else."""

from __future__ import annotations

import cv2
import pytest

from models.tracking import SceneCutDetector
from tests.conftest import need_shared

CUTS = [20, 82, 211]
"""First frames of the clip's new shots (checked by eye): a profile close-up, Lin-Manuel Miranda singing, the audience."""


@pytest.fixture(scope="module")
def frames() -> list:
    capture = cv2.VideoCapture(str(need_shared("video", "hamilton_clip.mp4")))
    out = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    capture.release()
    return out


def _cuts(frames: list, step: int, offset: int) -> list[int]:
    detector = SceneCutDetector()
    return [i for i in range(offset, len(frames), step) if detector.is_cut(frames[i])]


def test_every_frame_the_three_cuts_and_no_other(frames: list) -> None:
    assert len(frames) == 275
    assert _cuts(frames, 1, 0) == CUTS


@pytest.mark.parametrize("offset", [0, 1])
def test_every_other_frame_still_the_three_cuts(frames: list, offset: int) -> None:
    """The window's recognition may skip a frame: each cut is then seen one frame late at most."""
    found = _cuts(frames, 2, offset)
    assert len(found) == 3 and all(0 <= f - c <= 1 for f, c in zip(found, CUTS)), found
