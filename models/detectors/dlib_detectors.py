"""dlib's HOG and CNN (MMOD) face detectors, with dlib's 68-point and 5-point landmarks.

dlib rectangles and shapes never leave this module: callers get :class:`Detection` values.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any, Callable

import cv2
import dlib
import numpy as np

from models.detectors import DetectorOptions, create_detector
from models.dlib_files import dlib_model_path
from models.types import BBox, Detection, Landmarks, RGBImage


def downscale(image: RGBImage, max_side: int) -> tuple[RGBImage, float]:
    """``image`` shrunk so its longer side is at most ``max_side``, and the factor back to the original."""
    h, w = image.shape[:2]
    longest = max(h, w)
    if max_side <= 0 or longest <= max_side:
        return image, 1.0
    scale = max_side / longest
    small = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return small, longest / max_side


class _DlibDetector:
    """Shared work of both dlib detectors: downscale, detect, scale back, landmarks on the full image."""

    name = "dlib"

    def __init__(self, options: DetectorOptions, raw: Callable[[np.ndarray, int], list[tuple[Any, float]]]):
        self._options = options
        self._raw = raw
        self._predictor = dlib.shape_predictor(str(dlib_model_path("landmarks68")))
        self._predictor5 = dlib.shape_predictor(str(dlib_model_path("landmarks5")))
        self._fallback: "_DlibDetector | None" = None
        self._lock = threading.Lock()  # dlib objects are not documented as thread-safe

    def detect(self, image: RGBImage) -> list[Detection]:
        image = np.ascontiguousarray(image)
        small, back = downscale(image, self._options.max_side)
        with self._lock:
            raw: list[tuple[Any, float]] = []
            for upsample in range(self._options.upsample + 1):  # cheapest first; upsample only if nothing found
                raw = [r for r in self._raw(small, upsample) if r[1] >= self._options.min_score]
                if raw:
                    break
            found = []
            for rect, score in raw:
                big = dlib.rectangle(
                    int(rect.left() * back), int(rect.top() * back), int(rect.right() * back), int(rect.bottom() * back)
                )
                box = BBox(big.left(), big.top(), big.width(), big.height()).clipped(image.shape[1], image.shape[0])
                found.append(Detection(box, float(score), self._landmarks(image, big)))
        if self._has_fallback and found:  # weak hits count only when the fallback sees a face there too
            confirm = self._options.confirm_below
            found = [d for d in found if d.score >= confirm or self._fallback_detector().finds_face_at(image, d.box)]
        if self._has_fallback and not found:
            found = self._fallback_detector().detect(image)
        return sorted(found, key=lambda d: -d.score)

    @property
    def _has_fallback(self) -> bool:
        return bool(self._options.fallback) and self._options.fallback != self.name

    def detect_with_fallback(self, image: RGBImage) -> list[Detection]:
        """All faces the fallback detector finds in ``image`` (``[]`` without one): a second, slower look."""
        return self._fallback_detector().detect(image) if self._has_fallback else []

    def finds_face_at(self, image: RGBImage, box: BBox) -> bool:
        """Whether this detector finds a face overlapping ``box`` (IoU ≥ 0.3), looking only at the box with a
        margin of one box size on each side, scaled so the face is about 120 pixels tall."""
        h, w = image.shape[:2]
        x0, y0 = max(0, box.x - box.w), max(0, box.y - box.h)
        x1, y1 = min(w, box.x + 2 * box.w), min(h, box.y + 2 * box.h)
        scale = 120.0 / max(1, box.h)
        size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        region = cv2.resize(np.ascontiguousarray(image[y0:y1, x0:x1]), size, interpolation=interp)
        target = BBox(box.x - x0, box.y - y0, box.w, box.h).scaled(scale)
        with self._lock:
            hits = [r for r, _ in self._raw(np.ascontiguousarray(region), 0)]
        return any(target.iou(BBox(r.left(), r.top(), r.width(), r.height())) >= 0.3 for r in hits)

    def _landmarks(self, image: np.ndarray, rect: Any) -> Landmarks:
        """dlib's 68 points followed by its 5-point model's points (scheme ``dlib68+5``)."""
        parts = list(self._predictor(image, rect).parts()) + list(self._predictor5(image, rect).parts())
        return Landmarks(tuple((float(p.x), float(p.y)) for p in parts), "dlib68+5")

    def _fallback_detector(self) -> "_DlibDetector":
        if self._fallback is None:
            small = replace(self._options, fallback=None, max_side=min(self._options.max_side, 640))
            self._fallback = create_detector(self._options.fallback, small)
        return self._fallback

    def landmarks_in(self, image: RGBImage, box: BBox) -> Landmarks:
        """dlib's 68 landmarks of a face assumed to fill ``box`` (used when detection failed)."""
        rect = dlib.rectangle(box.x, box.y, box.x + box.w, box.y + box.h)
        with self._lock:
            return self._landmarks(np.ascontiguousarray(image), rect)


def create_hog(options: DetectorOptions) -> _DlibDetector:
    """dlib's HOG + linear SVM frontal detector (fast on a CPU: ~20 ms on 640×360)."""
    hog = dlib.get_frontal_face_detector()

    def raw(img: np.ndarray, upsample: int) -> list[tuple[Any, float]]:
        rects, scores, _ = hog.run(img, upsample, -0.5)
        return list(zip(rects, scores))

    det = _DlibDetector(options, raw)
    det.name = "hog"
    return det


def create_cnn(options: DetectorOptions) -> _DlibDetector:
    """dlib's MMOD CNN detector (more poses and small faces; seconds per frame on a CPU)."""
    cnn = dlib.cnn_face_detection_model_v1(str(dlib_model_path("cnn")))

    def raw(img: np.ndarray, upsample: int) -> list[tuple[Any, float]]:
        return [(d.rect, d.confidence) for d in cnn(img, upsample)]

    det = _DlibDetector(options, raw)
    det.name = "cnn"
    return det
