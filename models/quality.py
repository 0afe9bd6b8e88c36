"""How usable a face is for enrollment: size, sharpness and pose, each with a plain-words reason."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.types import Detection, RGBImage

MIN_FACE_PX = 80
"""Faces narrower than this (in the original image) are too small to enroll from."""
MIN_SHARPNESS = 25.0
"""Variance of the Laplacian on the 150-pixel face region below which a face is too blurry."""
MAX_YAW = 0.35
"""Nose offset from the eyes' midpoint, relative to the eye distance, above which the face is turned away."""


@dataclass(frozen=True)
class FaceQuality:
    """Quality measures of one face.

    Attributes:
        size: face box width in pixels. sharpness: Laplacian variance (higher is sharper).
        yaw: |nose offset| / eye distance (0 = frontal). score: 0..1 summary, higher is better.
        problem: why the face should not be used, in plain words, or ``None`` when it is fine.
    """

    size: int
    sharpness: float
    yaw: float
    score: float
    problem: str | None


def assess(image: RGBImage, detection: Detection) -> FaceQuality:
    """Measure a detected face's size, sharpness and pose."""
    box = detection.box.clipped(image.shape[1], image.shape[0])
    region = image[box.y : box.y + box.h, box.x : box.x + box.w]
    if region.size == 0:
        return FaceQuality(0, 0.0, 1.0, 0.0, "the face is outside the picture")
    gray = cv2.cvtColor(cv2.resize(region, (150, 150), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
    sharpness = float(cv2.Laplacian(gray, cv2.CV_64F).var())
    five = detection.landmarks.five()
    eye_mid = (five[0] + five[1]) / 2.0
    eye_dist = float(np.linalg.norm(five[1] - five[0])) or 1.0
    yaw = abs(float(five[2][0] - eye_mid[0])) / eye_dist
    problem = None
    if box.w < MIN_FACE_PX:
        problem = f"the face is too small ({box.w} px wide, needs {MIN_FACE_PX}): come closer"
    elif sharpness < MIN_SHARPNESS:
        problem = "the face is blurry: hold still"
    elif yaw > MAX_YAW:
        problem = "the face is turned away: look at the camera"
    score = min(1.0, box.w / 200.0) * 0.4 + min(1.0, sharpness / 200.0) * 0.3 + max(0.0, 1.0 - yaw / MAX_YAW) * 0.3
    return FaceQuality(box.w, sharpness, yaw, round(score, 3), problem)
