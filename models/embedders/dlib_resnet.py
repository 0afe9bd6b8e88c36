"""The dlib ResNet-34 face descriptor (128-d), on dlib's 150×150 face chips."""

from __future__ import annotations

import threading

import dlib
import numpy as np
from numpy.typing import NDArray

from models.dlib_files import dlib_model_path
from models.embedders.base import EmbedderInfo
from models.embedders.registry import BACKENDS, EmbedderOptions


class DlibEmbedder:
    """dlib's ``face_recognition_model_v1``. Option ``extra["flip"]`` (default True) averages the
    descriptor of the chip and of its mirror image, which measurably helps on LFW (see README)."""

    def __init__(self, info: EmbedderInfo, flip: bool = True) -> None:
        self.info = info
        self._flip = flip
        self._model = dlib.face_recognition_model_v1(str(dlib_model_path("resnet")))
        self._lock = threading.Lock()

    def embed(self, crops: NDArray[np.uint8]) -> NDArray[np.float32]:
        if len(crops) == 0:
            return np.zeros((0, self.info.dim), dtype=np.float32)
        chips = [np.ascontiguousarray(c) for c in crops]
        if self._flip:
            chips += [np.ascontiguousarray(c[:, ::-1]) for c in crops]
        with self._lock:
            vectors = np.asarray(self._model.compute_face_descriptor(chips), dtype=np.float32)
        if self._flip:
            n = len(crops)
            vectors = vectors[:n] / np.linalg.norm(vectors[:n], axis=1, keepdims=True) + vectors[n:] / np.linalg.norm(
                vectors[n:], axis=1, keepdims=True
            )
        return vectors.astype(np.float32)


def create(options: EmbedderOptions) -> DlibEmbedder:
    """Registry factory for ``"dlib"``."""
    return DlibEmbedder(BACKENDS["dlib"].info, flip=bool(options.extra.get("flip", True)))
