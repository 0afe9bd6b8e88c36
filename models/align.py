"""Face alignment: from an image and its landmarks to the crop a backend expects.

Each backend names its aligner in :class:`models.embedders.base.EmbedderInfo.alignment`; the table
:data:`ALIGNERS` maps those names to functions ``(image, landmarks, size) -> crop``. Images are RGB uint8.

Also here: the *canonical crop* that Rollcall stores for every enrolled sample — an upright square around
the face with a wide margin, plus the landmarks in its coordinates — from which any backend's aligner can
later make its own crop, so switching backend never needs new photos.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np
from numpy.typing import NDArray

from common.errors import BackendUnavailable
from models.types import Landmarks, RGBImage

Aligner = Callable[[RGBImage, Landmarks, tuple[int, int]], RGBImage]

# ArcFace / insightface reference positions of the five points in a 112×112 crop (published constants).
ARCFACE_TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)

CANONICAL_SIZE = 320
"""Side of the stored canonical crop, pixels."""
CANONICAL_SPAN = 2.0
"""The canonical crop spans this many times the landmarks' extent (face width), centred on the face."""


def align_dlib_chip(image: RGBImage, landmarks: Landmarks, size: tuple[int, int]) -> RGBImage:
    """dlib's own face chip (``dlib.get_face_chip``, padding 0.25): what its ResNet was trained on.

    Needs 68-point or 5-point dlib landmarks.
    """
    import dlib  # local: dlib is heavy and only some backends need it

    pts = landmarks.array()[:68]
    if landmarks.scheme not in ("dlib68", "dlib68+5"):
        raise BackendUnavailable(
            f"the dlib chip needs dlib's 68 landmarks, got {landmarks.scheme!r}: use the hog or cnn detector"
        )
    return np.ascontiguousarray(dlib.get_face_chip(np.ascontiguousarray(image), _dlib_shape(pts), size=size[0]))


def _dlib_shape(points: NDArray[np.float32]) -> object:
    """A dlib ``full_object_detection`` for these landmark points (dlib types stay inside this module)."""
    import dlib

    rect = dlib.rectangle(
        int(points[:, 0].min()), int(points[:, 1].min()), int(points[:, 0].max()), int(points[:, 1].max())
    )
    return dlib.full_object_detection(rect, [dlib.point(int(round(x)), int(round(y))) for x, y in points])


def align_dlib_chips(image: RGBImage, landmarks: Landmarks, size: tuple[int, int]) -> RGBImage:
    """Two dlib face chips side by side (``size`` = (2·S, S)): the chip aligned on dlib's 68 landmarks and
    the chip aligned on its 5-point model. Embedding both views and averaging is more accurate than either
    (lfw-dev: 25 wrong pairs of 3 000 against 31 with the 68-point chip alone, both with mirrored views).
    With ``dlib68`` landmarks only (older samples) the 68-point chip fills both halves."""
    import dlib

    side = size[1]
    pts = landmarks.array()
    if landmarks.scheme not in ("dlib68", "dlib68+5"):
        raise BackendUnavailable(
            f"the dlib chip needs dlib's landmarks, got {landmarks.scheme!r}: use the hog or cnn detector"
        )
    img = np.ascontiguousarray(image)
    first = dlib.get_face_chip(img, _dlib_shape(pts[:68]), size=side)
    second = dlib.get_face_chip(img, _dlib_shape(pts[68:73]), size=side) if len(pts) >= 73 else first
    return np.ascontiguousarray(np.concatenate([first, second], axis=1))


def similarity_matrix(src: NDArray[np.float32], dst: NDArray[np.float32]) -> NDArray[np.float64]:
    """Least-squares similarity transform (rotation, uniform scale, translation) taking ``src`` to ``dst``.

    Args:
        src, dst: (K, 2) point sets, K ≥ 2.

    Returns:
        A 2×3 matrix for ``cv2.warpAffine``.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1.0
    rot = u @ np.diag(sign) @ vt
    var_s = (s**2).sum() / len(src)
    scale = (sig * sign).sum() / var_s if var_s > 0 else 1.0
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rot
    matrix[:, 2] = mu_d - scale * rot @ mu_s
    return matrix


def align_arcface(image: RGBImage, landmarks: Landmarks, size: tuple[int, int]) -> RGBImage:
    """The ArcFace 5-point alignment: eyes, nose tip and mouth corners onto the 112×112 template
    (scaled when ``size`` differs from 112)."""
    template = ARCFACE_TEMPLATE_112 * (size[0] / 112.0)
    matrix = similarity_matrix(landmarks.five(), template)
    return cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _landmark_square(landmarks: Landmarks, span: float) -> tuple[float, float, float]:
    """Centre ``(cx, cy)`` of the landmarks' bounding box and ``span`` × its larger side."""
    pts = landmarks.array()
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    return (x0 + x1) / 2.0, (y0 + y1) / 2.0, span * max(x1 - x0, y1 - y0)


def align_box_margin(image: RGBImage, landmarks: Landmarks, size: tuple[int, int], span: float = 1.3) -> RGBImage:
    """An upright square around the landmarks with a margin (FaceNet-style crop), resized to ``size``.

    The square's side is ``span`` × the landmarks' larger extent, centred on their bounding box: for dlib's
    68 points (jaw to brows) 1.3 approximates MTCNN's box plus FaceNet's 32-pixel margin at 160 px.
    """
    cx, cy, side = _landmark_square(landmarks, span)
    return _square_crop(image, cx, cy, side, size[0])[0]


def align_box_margin_facenet(image: RGBImage, landmarks: Landmarks, size: tuple[int, int]) -> RGBImage:
    """:func:`align_box_margin` with a 1.4× square, FaceNet's crop: on lfw-dev it scored 99.10 % against
    98.83 % with 1.3× (``bench/tune_facenet_crop.py``; moving the square up by 5 % of its side did not help)."""
    return align_box_margin(image, landmarks, size, span=1.4)


ALIGNERS: dict[str, Aligner] = {
    "dlib_chip": align_dlib_chip,
    "dlib_chips": align_dlib_chips,
    "arcface": align_arcface,
    "box_margin": align_box_margin,
    "box_margin_facenet": align_box_margin_facenet,
}


def get_aligner(name: str) -> Aligner:
    """The aligner registered as ``name``.

    Raises:
        BackendUnavailable: unknown name (the message lists the known ones).
    """
    try:
        return ALIGNERS[name]
    except KeyError:
        raise BackendUnavailable(f"unknown alignment {name!r}; known: {', '.join(sorted(ALIGNERS))}") from None


def align_batch(image: RGBImage, faces: list[Landmarks], name: str, size: tuple[int, int]) -> NDArray[np.uint8]:
    """Aligned crops of several faces of one image, shape (N, size[1], size[0], 3)."""
    aligner = get_aligner(name)
    if not faces:
        return np.zeros((0, size[1], size[0], 3), dtype=np.uint8)
    return np.stack([aligner(image, lm, size) for lm in faces])


def _square_crop(
    image: RGBImage, cx: float, cy: float, side: float, out: int
) -> tuple[RGBImage, NDArray[np.float64]]:
    """An upright ``side``-pixel square centred on (cx, cy), resized to ``out`` pixels; outside the image
    is filled by replicating the border. Returns the crop and the 2×3 matrix from image to crop."""
    scale = out / max(side, 1.0)
    matrix = np.array([[scale, 0.0, out / 2.0 - scale * cx], [0.0, scale, out / 2.0 - scale * cy]])
    interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    crop = cv2.warpAffine(image, matrix, (out, out), flags=interp, borderMode=cv2.BORDER_REPLICATE)
    return crop, matrix


def canonical_crop(image: RGBImage, landmarks: Landmarks) -> tuple[RGBImage, Landmarks]:
    """The crop Rollcall stores for an enrolled sample, and the landmarks in its pixels.

    An upright ``CANONICAL_SIZE`` square, :data:`CANONICAL_SPAN` times the landmarks' extent, centred on
    them; every aligner gives (up to resampling) the same crop from it as from the original image.
    """
    cx, cy, side = _landmark_square(landmarks, CANONICAL_SPAN)
    crop, matrix = _square_crop(image, cx, cy, side, CANONICAL_SIZE)
    return crop, landmarks.transformed(matrix)
