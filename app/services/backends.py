"""Switching embedding backends without losing anyone, and calibrating a backend's threshold.

Every backend keeps its own embeddings and centroids (the repository stores them per backend name), so
vectors of different backends are never compared. Rollcall stores a canonical crop with landmarks for every
enrolled sample; :func:`reembed` embeds those crops with another backend, so nobody is photographed again.

:func:`calibrate` proposes a threshold from the user's own enrolled people: genuine scores (each sample
against its own person's centroid, leaving the sample out) and impostor scores (each sample against every
other person's centroid), and the threshold at a chosen share of strangers named *for this gallery* (FPIR):
with G people enrolled a stranger meets G comparisons, so each may accept at most
``f = 1 − (1 − FPIR)^(1/G)`` of impostors (:func:`models.operating_point.per_comparison_rate`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace

import numpy as np
from numpy.typing import NDArray

from app.config import Settings, engine_config
from app.context import AppContext
from app.text import count
from common.errors import BackendUnavailable, InvalidInput, RollcallError, WeightsError
from common.metric import Metric
from common.progress import Progress, ShouldStop, never_stop, no_progress
from db.records import SampleRecord
from models.embedders.base import l2_normalise
from models.engine import FaceEngine
from models.imageio import decode_image
from models.operating_point import RATE_TABLES, expected_fpir, per_comparison_rate
from models.types import Landmarks

log = logging.getLogger(__name__)

BATCH = 32


@dataclass(frozen=True)
class ReembedResult:
    """What :func:`reembed` did for ``backend``.

    Attributes:
        embedded: samples embedded now. remaining: samples still without an embedding for the backend
            (non-zero after a cancel or failures; running again resumes). cancelled: stopped by the user.
        failed: ``(sample_id, reason)`` of crops that could not be embedded (damaged image, ...).
    """

    backend: str
    embedded: int
    remaining: int
    cancelled: bool
    failed: tuple[tuple[int, str], ...] = ()


def saved_note(result: ReembedResult | None = None) -> str:
    """What Save tells the user once the settings are in force; with ``result`` when it switched backend."""
    later = "The live view uses these settings from its next Start."
    if result is None:
        return f"Saved. {later}"
    text = f"Saved: Rollcall now recognises with {result.backend}. {later}"
    if result.embedded:
        was = "was" if result.embedded == 1 else "were"
        text += f" {count(result.embedded, 'stored face')} {was} embedded for it; nobody has to be photographed again."
    if result.failed:
        text += f" {count(len(result.failed), 'stored photo')} could not be used (details in the log file)."
    return text


def stopped_text(result: ReembedResult, ready: int) -> str:
    """Why a re-embedding stopped short, for :func:`not_switched_note`.

    Args:
        result: the cancelled run. ready: how many stored faces now have an embedding for its backend.
    """
    total = result.remaining + ready
    are = "is" if ready == 1 else "are"
    return (
        f"Stopped: {ready} of {count(total, 'stored face')} {are} ready for {result.backend} and are kept; "
        "Save again to continue where it stopped."
    )


def needs_weights_text(backend: str) -> str:
    """Why a switch stopped when the user got no model file for ``backend``."""
    return f"{backend} needs its model file first."


DOWNLOAD_CANCELLED = (
    "The download was cancelled; nothing was installed. Choose the backend again to resume the download."
)
"""Why a switch stopped when the user cancelled the model download."""


def not_switched_note(why: str, in_use: str) -> str:
    """What Save tells the user when the backend was not switched: ``why``, and the backend still in use."""
    return f"Not switched: {why} Rollcall still recognises with {in_use}."


def engine_for(ctx: AppContext, backend: str | None) -> FaceEngine:
    """The context's engine, or one for another ``backend`` with the same detector settings."""
    if backend is None or backend == ctx.engine.info.name:
        return ctx.engine
    config = ctx.config
    return FaceEngine(engine_config(config.settings, config.engine, backend, config.engine.detector))


def pending_count(ctx: AppContext, backend: str) -> int:
    """How many stored samples have no embedding for ``backend``."""
    total = sum(p.sample_count for p in ctx.repo.list_people())
    return max(0, total - ctx.repo.embedding_count(backend))


def reembed(
    ctx: AppContext, backend: str | None = None, progress: Progress = no_progress, should_stop: ShouldStop = never_stop
) -> ReembedResult:
    """Embed every stored sample that lacks an embedding for ``backend`` (default: the current one).

    Resumable: each batch is stored (and the centroids updated) before the next is read, so a cancelled or
    crashed run loses at most one batch, and running again continues with the samples still missing.

    Raises:
        BackendUnavailable, WeightsError: the backend cannot be loaded (e.g. weights not fetched).
    """
    engine = engine_for(ctx, backend)
    name = engine.info.name
    total = pending_count(ctx, name)
    done, failed, cancelled = 0, [], False
    progress(0, total, f"embedding faces for {name}")
    for records in ctx.repo.samples_missing_embedding(name, BATCH):
        if should_stop():
            cancelled = True
            break
        ids, vectors, problems = embed_records(engine, records)
        failed.extend(problems)
        if ids:
            ctx.repo.store_embeddings(name, dict(zip(ids, vectors)))
        done += len(ids)
        progress(min(done + len(failed), total), total, f"embedding faces for {name}")
    remaining = pending_count(ctx, name)
    log.info("re-embedded %d samples for %s (%d failed, %d remaining)", done, name, len(failed), remaining)
    return ReembedResult(name, done, remaining, cancelled, tuple(failed))


def ensure_embeddings(
    ctx: AppContext, progress: Progress = no_progress, should_stop: ShouldStop = never_stop
) -> ReembedResult | None:
    """Before recognising with the current backend: embed the samples it has no vectors for yet.

    Returns:
        ``None`` when nothing was missing, else what :func:`reembed` did.
    """
    name = ctx.engine.info.name
    missing = pending_count(ctx, name)
    if missing == 0:
        return None
    log.info("%s have no %s embedding yet; embedding them now", count(missing, "stored face"), name)
    return reembed(ctx, name, progress, should_stop)


def embed_records(
    engine: FaceEngine, records: list[SampleRecord]
) -> tuple[list[int], NDArray[np.float32], list[tuple[int, str]]]:
    """Embed stored samples with ``engine``.

    Returns:
        ``(ids, vectors (len(ids), D), failures)``; a sample whose crop cannot be decoded or embedded is left
        out of ``ids`` and listed in ``failures`` as ``(sample_id, reason)``.

    Raises:
        BackendUnavailable, WeightsError: the backend cannot be loaded (no sample could be embedded).
    """
    ids, vectors, failed = [], [], []
    for rec in records:
        try:
            crop = decode_image(rec.image, f"stored face sample {rec.id}")
            marks = Landmarks(tuple((float(x), float(y)) for x, y in rec.landmarks), rec.landmark_scheme)
            vectors.append(engine.embed_stored([crop], [marks])[0])
            ids.append(rec.id)
        except (BackendUnavailable, WeightsError):
            raise  # the backend itself cannot work (weights missing or damaged): no sample can be embedded
        except (RollcallError, ValueError) as exc:
            log.warning("cannot embed sample %d: %s", rec.id, exc)
            failed.append((rec.id, str(exc)))
    matrix = np.stack(vectors) if vectors else np.zeros((0, engine.info.dim), np.float32)
    return ids, matrix, failed


# ---- calibration ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """A proposed threshold and what it would change (scores and thresholds in ``metric``).

    ``fpir_target``: the share of strangers that may be named with this gallery (``people`` enrolled);
    ``far_target``: the per-comparison false-accept rate that gives it. ``tar_*``: share of genuine comparisons
    accepted; ``far_*``: share of impostor comparisons accepted, at the current and at the proposed threshold.
    ``min_far`` is the smallest false-accept rate the impostor comparisons can measure (1 / their number): a
    target below it is met only on the data at hand. ``builtin``: the threshold the backend's built-in
    calibration gives for this target and gallery size (``None`` when it has none).
    """

    backend: str
    metric: Metric
    far_target: float
    current: float
    proposed: float
    tar_current: float
    far_current: float
    tar_proposed: float
    far_proposed: float
    genuine: int
    impostor: int
    people: int
    samples: int
    min_far: float
    fpir_target: float = 0.0
    builtin: float | None = None

    def fpir(self, far: float) -> float:
        """Share of strangers named when each comparison accepts ``far`` of impostors, for this gallery."""
        return expected_fpir(far, self.people)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def calibrate(
    ctx: AppContext, fpir: float = 0.01, progress: Progress = no_progress, should_stop: ShouldStop = never_stop
) -> Calibration | None:
    """Propose the current backend's threshold from the enrolled people so that about ``fpir`` of strangers
    are named as one of them (the per-comparison rate follows from how many people are enrolled).

    Stored embeddings are used as they are; samples the backend has no embedding for yet are embedded first
    (and kept), which ``should_stop`` can interrupt.

    Returns:
        The proposal, or ``None`` when stopped before every sample had an embedding.

    Raises:
        InvalidInput: ``fpir`` outside (0, 1), or fewer than two people / no person with two samples.
    """
    if not 0.0 < fpir < 1.0:
        raise InvalidInput(f"--fpir {fpir} is out of range; use a share between 0 and 1, e.g. 0.01 (1 stranger in 100)")
    engine = ctx.engine
    done = ensure_embeddings(ctx, progress, should_stop)
    if done is not None and done.cancelled:
        return None
    progress(0, 1, "comparing")
    by_person = {pid: l2_normalise(v) for pid, v in ctx.repo.embeddings_by_person(engine.info.name).items()}
    genuine, impostor = score_sets(by_person, engine.info.metric)
    progress(1, 1, "comparing")
    if len(by_person) < 2 or len(genuine) == 0:
        raise InvalidInput(
            "calibration needs at least two enrolled people and someone with two or more photos; enroll more first"
        )
    metric, current = engine.info.metric, ctx.operating_point(len(by_person)).threshold
    far = per_comparison_rate(fpir, len(by_person))
    proposed = threshold_at_far(genuine, impostor, far, metric)
    table = RATE_TABLES.get((engine.info.name, "photo"))
    tar_c, far_c = rates(genuine, impostor, current, metric)
    tar_p, far_p = rates(genuine, impostor, proposed, metric)
    return Calibration(
        engine.info.name, metric, far, current, proposed, tar_c, far_c, tar_p, far_p, len(genuine), len(impostor),
        len(by_person), sum(len(v) for v in by_person.values()), 1.0 / len(impostor), fpir,
        round(table.threshold_at(far), 4) if table is not None and table.metric == metric else None,
    )


def save_settings(ctx: AppContext, new: Settings) -> None:
    """Save ``new`` in the data folder and put it in force: the engine takes its backend, detector and threshold
    (and loads on next use). Switch to a backend only once it is usable (weights present, faces embedded).

    Raises:
        StorageError: the settings cannot be written; nothing was changed.
    """
    config = ctx.config
    new.save(config.data_dir)
    engine = engine_config(new, config.engine)
    ctx.config = replace(config, settings=new, cooldown_s=new.cooldown_s)
    if engine != config.engine:
        ctx.set_engine_config(engine)


def apply_calibration(ctx: AppContext, calibration: Calibration) -> None:
    """Save the proposed threshold as the backend's setting and use it from now on.

    Raises:
        StorageError: the settings cannot be written.
    """
    settings = replace(ctx.config.settings, thresholds={**ctx.config.settings.thresholds})
    settings.thresholds[calibration.backend] = round(float(calibration.proposed), 4)
    settings.save(ctx.config.data_dir)
    ctx.config = replace(ctx.config, settings=settings)
    engine = ctx.config.engine
    if engine.backend == calibration.backend:  # the backend and detector in use stay (they may come from flags)
        ctx.set_engine_config(engine_config(settings, engine, engine.backend, engine.detector))


def score_sets(by_person: dict[int, NDArray[np.float32]], metric: Metric) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Genuine and impostor scores in ``metric``.

    Genuine: each sample of a person with at least two samples against the centroid of their *other* samples.
    Impostor: each sample against the centroid of every other person (all of that person's samples).
    """
    ids = sorted(by_person)
    sums = {pid: by_person[pid].sum(axis=0) for pid in ids}
    centroids = l2_normalise(np.stack([sums[pid] for pid in ids])) if ids else np.zeros((0, 0), np.float32)
    genuine: list[float] = []
    impostor: list[float] = []
    for row, pid in enumerate(ids):
        vecs = by_person[pid]
        if len(vecs) >= 2:
            others = l2_normalise(sums[pid][None, :] - vecs)
            genuine.extend(np.sum(others * vecs, axis=1).tolist())
        sims = vecs @ centroids.T
        impostor.extend(np.delete(sims, row, axis=1).ravel().tolist())
    to_metric = lambda cos: np.asarray(metric.score(np.asarray(cos, np.float32)), np.float64)  # noqa: E731
    return to_metric(genuine), to_metric(impostor)


def threshold_at_far(genuine: NDArray[np.float64], impostor: NDArray[np.float64], far: float, metric: Metric) -> float:
    """The most accepting threshold whose false-accept rate on ``impostor`` is at most ``far``.

    It lies halfway between the first impostor score it must reject and the nearest score (genuine or
    impostor) on the accepting side, so it never sits on a measured score.
    """
    sign = metric.sign  # work with "lower is closer"
    imp = np.sort(sign * impostor)
    allowed = int(np.floor(far * len(imp) + 1e-9))
    if allowed >= len(imp):
        return float(sign * (imp[-1] + 1e-3))
    reject = imp[allowed]
    everything = np.concatenate([sign * genuine, imp])
    below = everything[everything < reject]
    accept_edge = below.max() if len(below) else reject - 0.02
    return float(sign * (accept_edge + reject) / 2.0)


def rates(genuine: NDArray[np.float64], impostor: NDArray[np.float64], threshold: float, metric: Metric) -> tuple[float, float]:
    """``(TAR, FAR)``: shares of genuine and impostor scores accepted at ``threshold``."""
    tar = float(np.mean(metric.accepts(genuine, threshold))) if len(genuine) else 0.0
    far = float(np.mean(metric.accepts(impostor, threshold))) if len(impostor) else 0.0
    return tar, far
