"""The face engine: detect → align → embed, for one detector and one backend.

A small public surface taking and returning plain data: RGB arrays in, :class:`Detection` values and
(N, D) float32 unit vectors out. The detector and backend load on first use.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from common.errors import MultipleFaces, NoFaceFound
from models.align import ARCFACE_TEMPLATE_112, align_batch, canonical_crop
from models.detectors import Detector, DetectorOptions, create_detector
from models.embedders.base import Embedder, EmbedderInfo, l2_normalise
from models.embedders.registry import EmbedderOptions, backend_info, create_embedder
from models.types import BBox, Detection, Landmarks, RGBImage


@dataclass(frozen=True)
class EngineConfig:
    """Which detector and backend to use, and how.

    Attributes:
        backend: embedding backend registry key.
        detector: detector registry key (``hog``, ``cnn``, ...).
        upsample: detector upsampling (1 finds faces down to ~40 px; 0 is 4× faster, ~80 px).
        max_side: longer image side used for detection (bigger images are downscaled).
        threshold: open-set threshold in the backend's metric; ``None`` = the backend's default.
        cache_dir: model cache folder; ``model_path``: explicit model file for the backend.
        embed_options: backend-specific extras (e.g. ``{"flip": False}``).
        fallback_detector: detector tried when the main one finds no face (photos: ``"cnn"`` finds turned and
            small faces HOG misses, in about a second); ``None`` for live video, where it would stall frames.
        confirm_below: with a fallback detector, detections scoring below this are kept only when the fallback
            also finds a face there. On five-celebrity the fallback (CNN) confirmed every weak HOG hit on a face
            and rejected the one on Madonna's hair that had been named Elton John.
    """

    backend: str = "dlib"
    detector: str = "hog"
    upsample: int = 1
    max_side: int = 1280
    threshold: float | None = None
    cache_dir: Path | None = None
    model_path: Path | None = None
    embed_options: dict[str, object] = field(default_factory=dict)
    fallback_detector: str | None = "cnn"
    confirm_below: float = 0.5


class FaceEngine:
    """Detect, align and embed faces with one configured detector and backend (thread-safe loading)."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.info: EmbedderInfo = backend_info(config.backend, config.cache_dir)
        self._detector: Detector | None = None
        self._embedder: Embedder | None = None
        self._lock = threading.Lock()

    @property
    def threshold(self) -> float:
        """The threshold in force (configured, else the backend's default)."""
        return self.info.threshold if self.config.threshold is None else self.config.threshold

    @property
    def detector(self) -> Detector:
        with self._lock:
            if self._detector is None:
                opts = DetectorOptions(
                    upsample=self.config.upsample, max_side=self.config.max_side, fallback=self.config.fallback_detector,
                    confirm_below=self.config.confirm_below,
                )
                self._detector = create_detector(self.config.detector, opts)
            return self._detector

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                opts = EmbedderOptions(self.config.cache_dir, self.config.model_path, extra=self.config.embed_options)
                self._embedder = create_embedder(self.config.backend, opts)
            return self._embedder

    def detect(self, image: RGBImage) -> list[Detection]:
        """All faces in an RGB image, best first."""
        return self.detector.detect(image)

    def detect_again(self, image: RGBImage) -> list[Detection]:
        """A second, slower look with the fallback detector (photos: CNN) over the whole image, for when the
        faces :meth:`detect` found are not the one wanted; ``[]`` when no fallback is configured."""
        again = getattr(self.detector, "detect_with_fallback", None)
        return sorted(again(image), key=lambda d: -d.score) if again is not None else []

    def embed(self, image: RGBImage, landmarks: list[Landmarks]) -> NDArray[np.float32]:
        """Unit-length embeddings (N, D) of the faces with these landmarks in ``image``."""
        crops = align_batch(image, landmarks, self.info.alignment, self.info.input_size)
        if len(crops) == 0:
            return np.zeros((0, self.info.dim), dtype=np.float32)
        return l2_normalise(self.embedder.embed(crops))

    def analyze(self, image: RGBImage) -> list[tuple[Detection, NDArray[np.float32]]]:
        """Every face in ``image`` with its unit embedding."""
        dets = self.detect(image)
        vectors = self.embed(image, [d.landmarks for d in dets])
        return list(zip(dets, vectors))

    def single_face(self, image: RGBImage, name: str = "image") -> Detection:
        """The one face of an enrollment photo.

        Raises:
            NoFaceFound, MultipleFaces: with ``name`` and what to do.
        """
        dets = self.detect(image)
        if not dets:
            raise NoFaceFound(f"{name}: no face found; use a photo where the face is clear, frontal and not tiny")
        if len(dets) > 1:
            raise MultipleFaces(f"{name}: {len(dets)} faces found; use a photo with only this person's face (or crop it)")
        return dets[0]

    def centre_face(self, image: RGBImage) -> Detection:
        """A face assumed to sit in the middle of ``image`` (the documented fallback for centred,
        pre-cropped photos such as LFW when the detector finds nothing): the box is the central 44 % of the
        image; landmarks come from the detector's landmark model when it has one, else the ArcFace template
        placed in that box."""
        h, w = image.shape[:2]
        box = BBox(int(0.28 * w), int(0.30 * h), int(0.44 * w), int(0.44 * h))
        locate = getattr(self.detector, "landmarks_in", None)
        if locate is not None:
            landmarks = locate(image, box)
        else:
            pts = ARCFACE_TEMPLATE_112 / 112.0 * np.array([box.w, box.h]) + np.array([box.x, box.y])
            landmarks = Landmarks(tuple((float(x), float(y)) for x, y in pts), "five")
        return Detection(box, 0.0, landmarks)

    def embed_stored(self, crops: list[RGBImage], landmarks: list[Landmarks]) -> NDArray[np.float32]:
        """Embeddings of stored canonical crops (re-embedding for a new backend without new photos)."""
        if not crops:
            return np.zeros((0, self.info.dim), dtype=np.float32)
        return np.concatenate([self.embed(c, [lm]) for c, lm in zip(crops, landmarks)])


def make_canonical(image: RGBImage, detection: Detection) -> tuple[RGBImage, Landmarks]:
    """The crop to store for an enrolled face (see :func:`models.align.canonical_crop`)."""
    return canonical_crop(image, detection.landmarks)
