"""YuNet (OpenCV's ``cv2.FaceDetectorYN``): a small CNN detector giving a box, a score and 5 landmarks.

Its ONNX file (``face_detection_yunet_2023mar.onnx``, Apache-2.0, from the OpenCV model zoo) is not shipped:
give it as ``DetectorOptions.model_path`` or in the environment variable ``ROLLCALL_YUNET_MODEL``.

YuNet's 15 outputs per face are ``x, y, w, h``, five landmarks ``(x, y)`` and the score. The landmarks come
as image-left eye, image-right eye, nose tip, image-left mouth corner, image-right mouth corner (checked on
mirrored images: the first point stays on the image's left), which is already the ArcFace order of
:class:`Landmarks` scheme ``"five"``; :data:`YUNET_TO_FIVE` states the mapping. Five points serve the
``arcface`` aligner (ArcFace/ONNX backends); the ``dlib_chip`` aligner needs the HOG/CNN detectors' dlib-68.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import cv2
import numpy as np

from common.errors import BackendUnavailable
from models.detectors import DetectorOptions
from models.types import BBox, Detection, Landmarks, RGBImage

MODEL_ENV = "ROLLCALL_YUNET_MODEL"
DEFAULT_SCORE = 0.6
"""Score threshold used when ``DetectorOptions.min_score`` is 0 (YuNet's scores lie in 0..1)."""
NMS_THRESHOLD = 0.3
TOP_K = 5000
YUNET_TO_FIVE = (0, 1, 2, 3, 4)
"""Index of YuNet's landmark for each ArcFace "five" point (the orders coincide)."""


def yunet_model_path(options: DetectorOptions) -> Path:
    """The YuNet ONNX file: ``options.model_path``, else ``$ROLLCALL_YUNET_MODEL``.

    Raises:
        BackendUnavailable: neither is set, or the file does not exist.
    """
    raw = options.model_path or os.environ.get(MODEL_ENV)
    if not raw:
        raise BackendUnavailable(
            "the yunet detector needs its model file face_detection_yunet_2023mar.onnx (OpenCV model zoo): "
            f"set {MODEL_ENV} to its path, or use the hog detector"
        )
    path = Path(raw).expanduser()
    if not path.is_file():
        raise BackendUnavailable(f"the yunet model file {path} does not exist: fix {MODEL_ENV} or use the hog detector")
    return path


class YuNetDetector:
    """Faces with 5 landmarks from ``cv2.FaceDetectorYN``; large images are downscaled to ``max_side``
    (``upsample`` is ignored: YuNet already finds faces of about 10 pixels)."""

    name = "yunet"

    def __init__(self, options: DetectorOptions) -> None:
        path = yunet_model_path(options)
        score = options.min_score if options.min_score > 0 else DEFAULT_SCORE
        try:
            self._net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), score, NMS_THRESHOLD, TOP_K)
        except cv2.error as exc:
            raise BackendUnavailable(f"{path} is not a YuNet model OpenCV can load ({exc.msg.strip()})") from exc
        self._options = options
        self._lock = threading.Lock()

    def detect(self, image: RGBImage) -> list[Detection]:
        small, back = _downscale(np.ascontiguousarray(image), self._options.max_side)
        bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
        with self._lock:
            self._net.setInputSize((bgr.shape[1], bgr.shape[0]))
            _, faces = self._net.detect(bgr)
        if faces is None:
            return []
        h, w = image.shape[:2]
        found = [_to_detection(row * np.float32(back), float(row[14]), w, h) for row in faces]
        return sorted(found, key=lambda d: -d.score)


def _downscale(image: RGBImage, max_side: int) -> tuple[RGBImage, float]:
    """``image`` shrunk so its longer side is at most ``max_side``, and the factor back to the original."""
    longest = max(image.shape[:2])
    if max_side <= 0 or longest <= max_side:
        return image, 1.0
    scale = max_side / longest
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), longest / max_side


def _to_detection(row: np.ndarray, score: float, width: int, height: int) -> Detection:
    x, y, bw, bh = (int(round(float(v))) for v in row[:4])
    pts = row[4:14].reshape(5, 2)[list(YUNET_TO_FIVE)]
    landmarks = Landmarks(tuple((float(px), float(py)) for px, py in pts), "five")
    return Detection(BBox(x, y, bw, bh).clipped(width, height), score, landmarks)


def create_yunet(options: DetectorOptions) -> YuNetDetector:
    """Registry factory for ``"yunet"``."""
    return YuNetDetector(options)
