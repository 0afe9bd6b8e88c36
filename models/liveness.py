"""Liveness: is a tracked face a person, or a printed photo or a phone screen held up to the camera?

A face counts as live once, within ``LivenessConfig.window_s`` seconds, it both

* **blinked**: its eye aspect ratio (EAR, from dlib's 68 landmarks) dipped below ``blink_ratio`` of its own
  open-eye baseline (a high percentile of its recent EAR) and came back above ``open_ratio`` of it within
  ``max_blink_s``; and
* **moved its head** in depth: the nose tip's position in the face's own affine frame (spanned by the outer eye
  corners and the mouth corners) changed by ``min_motion``. The eyes and the mouth lie nearly in one plane and
  the nose tip stands out of it, so turning or nodding the head moves the tip in that frame, while moving,
  scaling, turning in the picture plane or tilting a flat photo (all close to affine maps of the picture)
  leaves it where it is. Translation and scale alone never count.

Measured with the HOG detector's landmarks (``bench/bench_liveness.py``, smoothed nose motion within a window):
on five 10-s videos of a still photo of Lin-Manuel Miranda the nose moves at most 0.072, while Miranda singing in
the Hamilton clip reaches 0.325. At that clip's resolution (faces about 90 px wide) the EAR of a still photo
jitters as deep as a blink (dips to 0.56 of its baseline on two of the five), and Miranda's deepest dip is 0.79,
just under ``blink_ratio``: the blink alone would not tell them apart; the head-motion test does.

No Qt, no model: plain numpy on landmark arrays. Times are seconds on the frame source's clock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

RIGHT_EYE = slice(36, 42)
"""dlib68 indices of the subject's right eye (image left): outer corner, two upper lid points, inner corner,
two lower lid points."""
LEFT_EYE = slice(42, 48)
"""dlib68 indices of the subject's left eye, in the same order."""
NOSE_TIP, OUTER_RIGHT_EYE, OUTER_LEFT_EYE, MOUTH_RIGHT, MOUTH_LEFT = 30, 36, 45, 48, 54


@dataclass(frozen=True)
class LivenessConfig:
    """When a face counts as live.

    Attributes:
        window_s: the blink and the head motion must both have happened within this many seconds.
        baseline_s: the open-eye baseline is the ``baseline_pct`` percentile of the EAR over this many seconds
            before each sample; at least ``min_baseline`` samples are needed before a blink can count.
        blink_ratio: the EAR must fall below this share of the baseline ...
        open_ratio: ... and come back above this share of it ...
        max_blink_s: ... within this many seconds (longer closures are eyes shut or a look down, not a blink).
        min_motion: the nose tip's position in the face's affine frame must span at least this much (in units
            of the eye-corner distance across, and of the eyes-to-mouth distance down) within ``window_s``.
    """

    window_s: float = 4.0
    baseline_s: float = 2.0
    baseline_pct: float = 80.0
    min_baseline: int = 4
    blink_ratio: float = 0.8
    open_ratio: float = 0.9
    max_blink_s: float = 0.5
    min_motion: float = 0.15


def has_68_points(points: NDArray[np.floating]) -> bool:
    """Whether ``points`` (K, 2) start with dlib's 68-point layout (as schemes ``dlib68`` and ``dlib68+5`` do)."""
    return points.ndim == 2 and points.shape[0] >= 68 and points.shape[1] == 2


def _eye_ratio(eye: NDArray[np.float64]) -> float:
    """One eye's EAR: the mean of its two lid-to-lid heights over its corner-to-corner width."""
    width = float(np.linalg.norm(eye[0] - eye[3]))
    heights = float(np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4]))
    return heights / (2.0 * width) if width > 1e-6 else float("nan")


def eye_aspect_ratio(points: NDArray[np.floating]) -> float:
    """The mean eye aspect ratio of both eyes (about 0.25–0.45 open, towards 0 closed); NaN for degenerate points.

    Args:
        points: dlib's 68 landmarks (or more), shape (K ≥ 68, 2), pixels.
    """
    p = np.asarray(points, dtype=np.float64)
    return (_eye_ratio(p[RIGHT_EYE]) + _eye_ratio(p[LEFT_EYE])) / 2.0


def nose_in_face_frame(points: NDArray[np.floating]) -> tuple[float, float] | None:
    """The nose tip in the face's own affine frame: ``(across, down)``.

    The frame's origin is the midpoint of the outer eye corners, its first axis runs from the subject's right
    outer eye corner to the left one, its second from that midpoint to the midpoint of the mouth corners. Any
    affine map of the picture (moving, scaling, turning or tilting a photo) leaves both coordinates unchanged.

    Returns:
        ``(across, down)``, about ``(0, 0.6)`` for a frontal face; ``None`` when the points are degenerate.
    """
    p = np.asarray(points, dtype=np.float64)
    origin = (p[OUTER_RIGHT_EYE] + p[OUTER_LEFT_EYE]) / 2.0
    basis = np.stack([p[OUTER_LEFT_EYE] - p[OUTER_RIGHT_EYE], (p[MOUTH_RIGHT] + p[MOUTH_LEFT]) / 2.0 - origin], axis=1)
    if abs(float(np.linalg.det(basis))) < 1e-6:
        return None
    across, down = np.linalg.solve(basis, p[NOSE_TIP] - origin)
    return float(across), float(down)


class LivenessCheck:
    """The liveness of one tracked face: feed it the face's landmarks at every detection pass.

    Once live, a face stays live (the check guards the first mark, it does not follow the face).

    Args:
        config: thresholds and windows (see :class:`LivenessConfig`).
    """

    def __init__(self, config: LivenessConfig | None = None) -> None:
        self.config = config or LivenessConfig()
        self._ears: deque[tuple[float, float]] = deque()
        self._raw_poses: deque[tuple[float, float]] = deque(maxlen=3)
        self._poses: deque[tuple[float, float, float]] = deque()
        self._closed_since: float | None = None
        self.blink_at_s: float | None = None
        self.motion_at_s: float | None = None
        self.live_at_s: float | None = None
        self.deepest_dip = 1.0
        """The lowest EAR seen as a share of its baseline (1.0 until a baseline exists): how near a blink came."""
        self.widest_motion = 0.0
        """The largest span of the (smoothed) nose position within one window: how near head motion came."""

    @property
    def live(self) -> bool:
        """Whether the face has blinked and moved its head within one window."""
        return self.live_at_s is not None

    def observe(self, points: NDArray[np.floating], time_s: float) -> bool:
        """Take one detection pass's landmarks of this face and return :attr:`live`.

        Args:
            points: dlib's 68 landmarks (or more), shape (K ≥ 68, 2), in pixels; samples in time order.
        """
        if self.live:
            return True
        pts = np.asarray(points, dtype=np.float64)
        self._observe_eyes(eye_aspect_ratio(pts), time_s)
        pose = nose_in_face_frame(pts)
        if pose is not None:
            self._observe_pose(pose, time_s)
        cfg = self.config
        recent = [t for t in (self.blink_at_s, self.motion_at_s) if t is not None and time_s - t <= cfg.window_s]
        if len(recent) == 2:
            self.live_at_s = time_s
        return self.live

    def _observe_eyes(self, ear: float, time_s: float) -> None:
        """Update the open-eye baseline and the blink state with one EAR sample."""
        cfg = self.config
        if not np.isfinite(ear):
            return
        while self._ears and time_s - self._ears[0][0] > cfg.baseline_s:
            self._ears.popleft()
        if len(self._ears) >= cfg.min_baseline:
            baseline = float(np.percentile([e for _, e in self._ears], cfg.baseline_pct))
            ratio = ear / baseline if baseline > 0 else 1.0
            self.deepest_dip = min(self.deepest_dip, ratio)
            self._blink_step(ratio, time_s)
        self._ears.append((time_s, ear))

    def _blink_step(self, ratio: float, time_s: float) -> None:
        """Advance the closed/open state with one EAR sample as a share of the baseline."""
        cfg = self.config
        if ratio < cfg.blink_ratio:
            if self._closed_since is None:
                self._closed_since = time_s
        elif ratio > cfg.open_ratio and self._closed_since is not None:
            if time_s - self._closed_since <= cfg.max_blink_s:
                self.blink_at_s = time_s
            self._closed_since = None

    def _observe_pose(self, pose: tuple[float, float], time_s: float) -> None:
        """Add one nose position; the median of the last three is kept (against single-frame landmark jitter)."""
        cfg = self.config
        self._raw_poses.append(pose)
        if len(self._raw_poses) < 3:
            return
        across, down = np.median(np.asarray(self._raw_poses), axis=0)
        self._poses.append((time_s, float(across), float(down)))
        while self._poses and time_s - self._poses[0][0] > cfg.window_s:
            self._poses.popleft()
        values = np.asarray([(a, d) for _, a, d in self._poses])
        span = float((values.max(axis=0) - values.min(axis=0)).max())
        self.widest_motion = max(self.widest_motion, span)
        if span >= cfg.min_motion:
            self.motion_at_s = time_s
