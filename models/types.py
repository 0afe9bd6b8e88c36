"""Plain value types shared by the engine, services and UI.

Conventions (hold everywhere in Rollcall):

* Images are ``numpy.ndarray`` of ``uint8``, shape ``(H, W, 3)``, **RGB** colour order. OpenCV's BGR is
  converted once, where a frame or file is read.
* Coordinates are pixels in the image the value was computed on, ``x`` to the right, ``y`` down, as floats
  for landmarks and ints for boxes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

RGBImage = NDArray[np.uint8]
"""An RGB image, shape (H, W, 3), dtype uint8."""


@dataclass(frozen=True)
class BBox:
    """An axis-aligned face box in pixels: top-left corner ``(x, y)``, width ``w``, height ``h``."""

    x: int
    y: int
    w: int
    h: int

    @property
    def area(self) -> int:
        return max(0, self.w) * max(0, self.h)

    @property
    def center(self) -> tuple[float, float]:
        return (self.x + self.w / 2.0, self.y + self.h / 2.0)

    def scaled(self, factor: float) -> "BBox":
        """The box with every coordinate multiplied by ``factor`` (to map between image scales)."""
        return BBox(
            int(round(self.x * factor)),
            int(round(self.y * factor)),
            int(round(self.w * factor)),
            int(round(self.h * factor)),
        )

    def clipped(self, width: int, height: int) -> "BBox":
        """The part of the box inside an image of ``width`` × ``height`` pixels."""
        x0, y0 = max(0, self.x), max(0, self.y)
        x1, y1 = min(width, self.x + self.w), min(height, self.y + self.h)
        return BBox(x0, y0, max(0, x1 - x0), max(0, y1 - y0))

    def iou(self, other: "BBox") -> float:
        """Intersection over union with ``other`` (0 when disjoint)."""
        ix0, iy0 = max(self.x, other.x), max(self.y, other.y)
        ix1 = min(self.x + self.w, other.x + other.w)
        iy1 = min(self.y + self.h, other.y + other.h)
        inter = max(0, ix1 - ix0) * max(0, iy1 - iy0)
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def as_list(self) -> list[int]:
        """``[x, y, w, h]`` as in the CLI's JSON output."""
        return [self.x, self.y, self.w, self.h]


@dataclass(frozen=True)
class Landmarks:
    """Facial landmarks in pixels, shape ``(K, 2)`` as ``(x, y)``.

    ``scheme`` names the point set and its order:

    * ``"dlib68"`` — dlib's 68-point iBUG layout (jaw 0-16, brows 17-26, nose 27-35, right eye 36-41,
      left eye 42-47, mouth 48-67; "right" is the subject's right, the left side of the image).
    * ``"dlib68+5"`` — the 68 points above followed by dlib's 5-point model (image-right eye outer and inner
      corner, image-left eye outer and inner corner, base of the nose): 73 points.
    * ``"five"`` — ArcFace/insightface order: right eye centre, left eye centre (image left to right),
      nose tip, right mouth corner, left mouth corner.
    """

    points: tuple[tuple[float, float], ...]
    scheme: str

    def array(self) -> NDArray[np.float32]:
        """The points as a float32 array of shape (K, 2)."""
        return np.asarray(self.points, dtype=np.float32).reshape(-1, 2)

    def five(self) -> NDArray[np.float32]:
        """The five ArcFace-order points (image-left eye, image-right eye, nose tip, mouth corners), (5, 2)."""
        pts = self.array()
        if self.scheme == "five":
            return pts
        if self.scheme in ("dlib68", "dlib68+5"):
            return np.stack(
                [pts[36:42].mean(axis=0), pts[42:48].mean(axis=0), pts[30], pts[48], pts[54]]
            ).astype(np.float32)
        raise ValueError(f"landmark scheme {self.scheme!r} has no five-point form")

    def transformed(self, matrix: NDArray[np.float64]) -> "Landmarks":
        """The landmarks mapped through a 2×3 affine ``matrix`` (as used by ``cv2.warpAffine``)."""
        pts = self.array().astype(np.float64)
        out = pts @ np.asarray(matrix, dtype=np.float64)[:, :2].T + np.asarray(matrix)[:, 2]
        return Landmarks(tuple((float(x), float(y)) for x, y in out), self.scheme)

    def scaled(self, factor: float) -> "Landmarks":
        """The landmarks with every coordinate multiplied by ``factor``."""
        return Landmarks(tuple((x * factor, y * factor) for x, y in self.points), self.scheme)


@dataclass(frozen=True)
class Detection:
    """One detected face: its box, the detector's confidence (higher is surer; scale is detector-specific)
    and its landmarks, all in the coordinates of the image it was detected in."""

    box: BBox
    score: float
    landmarks: Landmarks


@dataclass(frozen=True)
class Match:
    """The result of a 1:N search for one embedding.

    ``person_id``/``name`` are ``None`` when the face is Unknown (best score worse than the threshold).
    ``score`` is the similarity/distance of the best candidate in the backend's metric (cosine similarity:
    higher is closer; L2 distance: lower is closer). ``margin`` is how much better the best candidate is than
    the runner-up (always ≥ 0; ``inf`` with a single enrolled person). ``candidate_id`` is the best
    candidate even when Unknown.
    """

    person_id: int | None
    name: str | None
    score: float
    margin: float
    candidate_id: int | None = None

    @property
    def known(self) -> bool:
        return self.person_id is not None


@dataclass(frozen=True)
class FaceResult:
    """A face found in an image together with who it is: used by ``identify`` and the live view."""

    detection: Detection
    match: Match
    embedding: NDArray[np.float32] | None = field(default=None, compare=False, repr=False)
