"""Enrollment from the camera: per frame, say what to fix or capture a varied, usable sample by itself."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from app.services.enrollment import Candidate, candidate_from_image
from models.engine import FaceEngine
from models.quality import assess
from models.sources import Frame
from models.types import BBox

MIN_CHANGE = 0.12
"""Smallest embedding distance (L2 of unit vectors) from every earlier capture for a new one: varied samples."""


@dataclass(frozen=True)
class CaptureStep:
    """What one camera frame gave.

    Attributes:
        guidance: what the person should do, in plain words (or that a sample was taken).
        box: the face found, in frame pixels (``None`` when there is not exactly one).
        good: the face is usable right now. captured: a new sample taken on this frame (else ``None``).
        count: samples taken so far; wanted: how many the coach wants.
    """

    guidance: str
    box: BBox | None
    good: bool
    captured: Candidate | None
    count: int
    wanted: int


class CaptureCoach:
    """Decides, frame by frame, whether to take a sample (called on the capture worker thread).

    Args:
        engine: the face engine (detector + backend) enrollment uses.
        wanted: how many samples to take. min_gap_s: least time between two samples.
    """

    def __init__(self, engine: FaceEngine, wanted: int = 5, min_gap_s: float = 0.7) -> None:
        self.engine = engine
        self.wanted = wanted
        self.min_gap_s = min_gap_s
        self._vectors: list[np.ndarray] = []
        self._last = -1e9

    def __call__(self, frame: Frame) -> CaptureStep:
        count = len(self._vectors)
        if count >= self.wanted:
            return CaptureStep(f"Done: {count} samples taken.", None, True, None, count, self.wanted)
        dets = self.engine.detect(frame.image)
        if not dets:
            return self._say("No face in view: look at the camera.", None, False)
        if len(dets) > 1:
            return self._say(f"{len(dets)} faces in view: only the person enrolling should be in the picture.", None, False)
        box = dets[0].box
        problem = assess(frame.image, dets[0]).problem
        if problem:
            return self._say(problem[0].upper() + problem[1:] + ".", box, False)
        if time.monotonic() - self._last < self.min_gap_s:
            return self._say("Good. Hold on…", box, True)
        cand = candidate_from_image(self.engine, frame.image, "camera")
        if not cand.usable or cand.embedding is None:
            return self._say(str(cand.problem), box, False)
        if any(float(np.linalg.norm(cand.embedding - v)) < MIN_CHANGE for v in self._vectors):
            return self._say("Good. Now turn your head a little or change your expression.", box, True)
        self._vectors.append(cand.embedding)
        self._last = time.monotonic()
        n = len(self._vectors)
        text = f"Captured {n} of {self.wanted}." + ("" if n >= self.wanted else " Move your head slightly.")
        return CaptureStep(text, box, True, cand, n, self.wanted)

    def _say(self, text: str, box: BBox | None, good: bool) -> CaptureStep:
        return CaptureStep(text, box, good, None, len(self._vectors), self.wanted)
