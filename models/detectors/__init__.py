"""Face detectors: one contract, one registry.

A detector takes an RGB image and returns :class:`models.types.Detection` values (box, score, landmarks)
in that image's pixels. Large images are downscaled for detection and the results scaled back.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Protocol

from common.errors import BackendUnavailable
from models.types import Detection, RGBImage


@dataclass(frozen=True)
class DetectorOptions:
    """Detector settings.

    Attributes:
        upsample: how many times the image may be doubled before detection (finds smaller faces, slower);
            dlib detectors try 0 first and upsample only when nothing was found.
        max_side: images whose longer side exceeds this are downscaled to it for detection.
        min_score: detections scoring below this are dropped (detector-specific scale; HOG ~ -0.5..3).
        model_path: a model file for detectors that need one (YuNet).
        fallback: another detector to try when this one finds nothing (e.g. ``"cnn"`` behind ``"hog"`` for
            photos: finds turned and small faces HOG misses, at ~0.3-2 s a photo). Never for live video.
        confirm_below: with a fallback, detections scoring below this are kept only when the fallback also finds
            a face there (it looks at the region around the box only). HOG's weakest hits on photos are often
            hair, hands or patterns; this removes them at the cost of one small fallback run each.
    """

    upsample: int = 0
    max_side: int = 1280
    min_score: float = 0.0
    model_path: str | None = None
    fallback: str | None = None
    confirm_below: float = 0.0


class Detector(Protocol):
    """Finds faces in an RGB image."""

    name: str

    def detect(self, image: RGBImage) -> list[Detection]:
        """All faces in ``image``, best score first."""
        ...


DETECTORS: dict[str, str] = {
    "hog": "models.detectors.dlib_detectors:create_hog",
    "cnn": "models.detectors.dlib_detectors:create_cnn",
    "yunet": "models.detectors.yunet:create_yunet",
}


def known_detectors() -> list[str]:
    """Registered detector names, sorted."""
    return sorted(DETECTORS)


def create_detector(name: str, options: DetectorOptions | None = None) -> Detector:
    """Build detector ``name``.

    Raises:
        BackendUnavailable: unknown name (lists the known ones) or a missing package/model.
    """
    try:
        target = DETECTORS[name]
    except KeyError:
        raise BackendUnavailable(f"unknown detector {name!r}; known detectors: {', '.join(known_detectors())}") from None
    module_name, _, func = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendUnavailable(
            f"detector {name!r} needs the Python package {exc.name!r}: run `pip install -r requirements.txt`"
        ) from exc
    return getattr(module, func)(options or DetectorOptions())
