"""The dlib ResNet-34 face descriptor (128-d), on dlib's 150×150 face chips.

Its crops (alignment ``dlib_chips``) hold two views of the face side by side — the chip aligned on dlib's 68
landmarks and the one aligned on its 5-point model — and by default each view is also embedded mirrored; the
unit descriptors of all views are averaged. On lfw-dev this test-time averaging took the 68-point chip alone
from 31 to 25 wrong pairs of 3 000 (see README, "Accuracy"). Live recognition uses one view
(``extra={"views": 1, "flip": False}``): a quarter of the cost.
"""

from __future__ import annotations

import threading

import dlib
import numpy as np
from numpy.typing import NDArray

from models.dlib_files import dlib_model_path
from models.embedders.base import EmbedderInfo, l2_normalise
from models.embedders.registry import BACKENDS, EmbedderOptions


class DlibEmbedder:
    """dlib's ``face_recognition_model_v1`` over one or two chip views, optionally mirrored.

    Args:
        info: the registry's info (input size = (2·150, 150): two chips side by side).
        flip: also embed each view mirrored.
        views: 2 = both chips, 1 = only the 68-landmark chip (the left half).
    """

    def __init__(self, info: EmbedderInfo, flip: bool = True, views: int = 2) -> None:
        self.info = info
        self._flip = flip
        self._views = 2 if views >= 2 else 1
        self._model = dlib.face_recognition_model_v1(str(dlib_model_path("resnet")))
        self._lock = threading.Lock()

    def embed(self, crops: NDArray[np.uint8]) -> NDArray[np.float32]:
        n = len(crops)
        if n == 0:
            return np.zeros((0, self.info.dim), dtype=np.float32)
        side = crops.shape[1]
        chips = [np.ascontiguousarray(c[:, v * side : (v + 1) * side]) for v in range(self._views) for c in crops]
        if self._flip:
            chips += [np.ascontiguousarray(c[:, ::-1]) for c in chips]
        with self._lock:
            vectors = np.asarray(self._model.compute_face_descriptor(chips), dtype=np.float32)
        per_view = l2_normalise(vectors).reshape(-1, n, self.info.dim)  # (views × flips, N, D)
        return per_view.mean(axis=0).astype(np.float32)


def create(options: EmbedderOptions) -> DlibEmbedder:
    """Registry factory for ``"dlib"``."""
    extra = options.extra
    return DlibEmbedder(BACKENDS["dlib"].info, flip=bool(extra.get("flip", True)), views=int(extra.get("views", 2)))
