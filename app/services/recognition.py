"""Who is in a picture: identify every face, or verify that two photos show the same person."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.context import AppContext
from common.errors import BadImage
from models.embedders.base import PairScorer
from models.imageio import load_image
from models.matching import Gallery
from models.types import Detection, FaceResult, RGBImage

if TYPE_CHECKING:
    from models.engine import FaceEngine


def identify_image(ctx: AppContext, image: RGBImage, gallery: Gallery | None = None) -> list[FaceResult]:
    """Every face in ``image`` with its best match (Unknown below the threshold), largest face first."""
    gallery = gallery if gallery is not None else ctx.gallery()
    found = ctx.engine.analyze(image)
    if not found:
        return []
    matches = gallery.search(np.stack([v for _, v in found]))
    results = [FaceResult(det, m, v) for (det, v), m in zip(found, matches)]
    return sorted(results, key=lambda r: -r.detection.box.area)


@dataclass(frozen=True)
class ImageReport:
    """The faces found in one image file, or why it could not be read (``problem``; then ``faces`` is empty)."""

    image: str
    faces: tuple[FaceResult, ...] = ()
    problem: str | None = None


def identify_paths(ctx: AppContext, paths: Iterable[str | Path], gallery: Gallery | None = None) -> Iterator[ImageReport]:
    """:func:`identify_image` for each file; a file that cannot be read is reported and skipped, never raised."""
    gallery = gallery if gallery is not None else ctx.gallery()
    for path in paths:
        try:
            image = load_image(path, ctx.config.max_pixels)
        except BadImage as exc:
            yield ImageReport(str(path), (), str(exc))
            continue
        yield ImageReport(str(path), tuple(identify_image(ctx, image, gallery)))


@dataclass(frozen=True)
class Verification:
    """Whether two photos show the same person: ``score`` in ``metric`` (``l2``, ``cosine``, or a Siamese backend's
    ``probability``), the same when it compares with ``threshold`` as ``symbol`` says (``<=`` or ``>=``)."""

    same: bool
    score: float
    threshold: float
    metric: str
    backend: str
    symbol: str


def verify_paths(ctx: AppContext, first: str | Path, second: str | Path) -> Verification:
    """Compare the single face of each photo.

    Raises:
        BadImage, NoFaceFound, MultipleFaces: a photo is unreadable or does not show exactly one face.
    """
    images = [load_image(path, ctx.config.max_pixels) for path in (first, second)]
    return verify_images(ctx, (images[0], str(first)), (images[1], str(second)))


def verify_images(ctx: AppContext, first: tuple[RGBImage, str], second: tuple[RGBImage, str]) -> Verification:
    """Compare the single face of two decoded photos, each given as ``(image, name for messages)``.

    Raises:
        NoFaceFound, MultipleFaces: a photo does not show exactly one face.
    """
    engine = ctx.engine
    dets = [(image, engine.single_face(image, name)) for image, name in (first, second)]
    if isinstance(engine.embedder, PairScorer):
        return _verify_pair(engine, dets)
    vectors = [engine.embed(image, [det.landmarks])[0] for image, det in dets]
    metric = engine.info.metric
    score = float(metric.score(float(vectors[0] @ vectors[1])))
    same = bool(metric.accepts(score, engine.threshold))
    return Verification(same, score, engine.threshold, metric.value, engine.info.name, metric.symbol)


def _verify_pair(engine: FaceEngine, dets: list[tuple[RGBImage, Detection]]) -> Verification:
    """A Siamese backend's verdict: the pair network's probability of "same person" against its cut-off."""
    from models.align import align_batch

    info = engine.info
    crops = [align_batch(image, [det.landmarks], info.alignment, info.input_size) for image, det in dets]
    scorer = engine.embedder
    assert isinstance(scorer, PairScorer)
    p = float(scorer.pair_probability(crops[0], crops[1])[0])
    return Verification(p >= scorer.pair_cutoff, p, scorer.pair_cutoff, "probability", info.name, ">=")
