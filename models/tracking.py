"""Following faces across frames and deciding who each one is from several looks, not one.

A :class:`Tracker` links each frame's detections to existing tracks by position (nearest to where the track was
heading, never farther than a face can move between two detection passes, never at a very different size),
starts tracks for new faces and drops tracks not seen for a while. A track never outlives a scene cut
(:class:`SceneCutDetector` spots one from the frame itself), never takes a detection that jumped, and one face
never has two boxes (overlapping detections and tracks are merged, the older track kept). It says which tracks
are due for an embedding — when they appear, a few times in quick succession, then rarely — and collects each
embedding's :class:`Match` as a vote; a look that no longer resembles the track's earlier looks starts the
track afresh (a new id, no votes). :func:`decide` turns the recent votes into a state: a name is given only
when enough votes agree, so a person walking past is not named on one blurry frame.

No Qt, no database, no model. Times are seconds on the frame source's clock.
"""

from __future__ import annotations

import enum
import itertools
from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray

from common.metric import Metric
from models.types import BBox, Detection, Match


class TrackState(str, enum.Enum):
    """What the app knows about a tracked face."""

    PENDING = "pending"
    """Not enough looks yet to say."""
    KNOWN = "known"
    """Enough agreeing looks: ``name`` is who it is."""
    UNKNOWN = "unknown"
    """Enough looks to say it is nobody enrolled."""
    UNSURE = "unsure"
    """The looks disagree or are too close to the threshold: shown as unsure, never guessed."""


@dataclass(frozen=True)
class VoteConfig:
    """How votes become a decision.

    Attributes:
        window: only the latest ``window`` votes count (a face that turns away is re-decided).
        min_known: agreeing votes needed before a name is given (and they must be a strict majority).
        min_unknown: "nobody enrolled" votes needed (a strict majority) before a face is called Unknown.
        min_margin: a vote whose best candidate beats the runner-up by less than this (in the metric) is
            ambiguous: it counts towards the total but for nobody.
        band: the agreeing votes' mean score must pass the threshold by at least this much, else UNSURE.
    """

    window: int = 5
    min_known: int = 2
    min_unknown: int = 3
    min_margin: float = 0.02
    band: float = 0.01


@dataclass(frozen=True)
class TrackerConfig:
    """Association, de-duplication and embedding schedule.

    Attributes:
        max_jump: a detection continues a track only when its centre is within this many track-box widths of
            the track's last box (per detection pass): a face does not cross its own width in 1/15 s.
        max_scale_change: ... and when neither box is more than this many times as wide as the other.
        overlap_iou: two boxes are one face when they overlap at least this much, or when one contains the
            other's centre (duplicate detections and duplicate tracks are merged).
        max_missed: a track ends after this many detection passes without its face.
        show_missed: a track missing for more passes than this is no longer drawn (it may still be found again
            until ``max_missed``): no box is left behind on a spot the face has left.
        face_change: a look of a named track is another face when the gallery does not name the same person
            for it and its distance to the track's earlier looks exceeds this many times the gallery threshold
            (in cosine distance): the track starts afresh (new id, no votes). Measured with dlib on the Hamilton
            clip: Lin-Manuel Miranda's looks stay within L2 0.434 of his first three, audience faces are ≥ 0.503
            from them (the threshold is 0.42).
        embed_after_s: a new track is embedded at these offsets from its first sighting (seconds).
        embed_every_s: afterwards, while still undecided (pending/unsure), once per this interval.
        settled_every_s: once decided (known/unknown), re-checked once per this interval.
        votes: see :class:`VoteConfig`.
    """

    max_jump: float = 1.0
    max_scale_change: float = 1.6
    overlap_iou: float = 0.3
    max_missed: int = 8
    show_missed: int = 2
    face_change: float = 1.0
    embed_after_s: tuple[float, ...] = (0.0, 0.05, 0.2, 0.45)
    embed_every_s: float = 0.5
    settled_every_s: float = 2.0
    votes: VoteConfig = field(default_factory=VoteConfig)


@dataclass(frozen=True)
class CutConfig:
    """When two consecutive frames are a scene cut (measured on ``../shared/video/hamilton_clip.mp4``).

    Both must hold: the mean absolute difference of the two 32×18 thumbnails (RGB, 0–255, each minus its own
    mean brightness, so a change of exposure is no cut) is at least ``min_difference``, and the colour
    histograms (4×4×4 bins) differ in at least ``min_histogram`` of their mass. On the clip its three cuts
    score ≥ 25.9 / ≥ 0.063 between consecutive frames; no other pair of frames up to two apart passes both.
    """

    min_difference: float = 20.0
    min_histogram: float = 0.04


class SceneCutDetector:
    """Says whether a frame starts a new shot (a cut in a video, a camera switched to another scene).

    Call :meth:`is_cut` with every processed frame, in order; about 0.1 ms per 640×360 frame.
    """

    def __init__(self, config: CutConfig | None = None) -> None:
        self.config = config or CutConfig()
        self._previous: tuple[NDArray[np.float32], NDArray[np.float32]] | None = None

    def is_cut(self, image: NDArray[np.uint8]) -> bool:
        """Whether ``image`` (H, W, 3) belongs to another shot than the previous frame given."""
        features = _cut_features(image)
        previous, self._previous = self._previous, features
        if previous is None:
            return False
        difference = float(np.abs(features[0] - previous[0]).mean())
        if difference < self.config.min_difference:
            return False
        return 0.5 * float(np.abs(features[1] - previous[1]).sum()) >= self.config.min_histogram

    def reset(self) -> None:
        """Forget the previous frame (a new source)."""
        self._previous = None


def _cut_features(image: NDArray[np.uint8]) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """The mean-free 32×18 thumbnail and the normalised 64-bin colour histogram of a 64×36 one."""
    colour = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
    small = cv2.resize(colour, (64, 36), interpolation=cv2.INTER_AREA)
    thumb = cv2.resize(small, (32, 18), interpolation=cv2.INTER_AREA).astype(np.float32)
    thumb -= thumb.mean()
    bins = (small[..., 0] // 64).astype(np.int32) * 16 + (small[..., 1] // 64) * 4 + small[..., 2] // 64
    hist = np.bincount(bins.ravel(), minlength=64).astype(np.float32)
    return thumb, hist / hist.sum()


@dataclass(frozen=True)
class TrackView:
    """A tracked face as the UI and the CLI see it.

    Attributes:
        track_id: stable while the face stays in view.
        box: where the face is, in the pixels of the latest frame it was detected in.
        state: see :class:`TrackState`. name/person_id: set when ``state is KNOWN``.
        score: mean score of the votes behind the state, in the backend's metric (``None`` while pending).
        first_seen_s: when the face was first detected; named_at_s: when it was first named (or ``None``).
    """

    track_id: int
    box: BBox
    state: TrackState
    name: str | None
    person_id: int | None
    score: float | None
    first_seen_s: float
    named_at_s: float | None


@dataclass(frozen=True)
class Decision:
    """The outcome of :func:`decide`."""

    state: TrackState
    person_id: int | None = None
    name: str | None = None
    score: float | None = None


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def decide(votes: list[Match], metric: Metric, threshold: float, config: VoteConfig) -> Decision:
    """Turn a track's recent votes into a state.

    Args:
        votes: the latest matches, oldest first (only the last ``config.window`` are used).
        metric, threshold: the gallery's, to check that agreeing votes pass the threshold by ``config.band``.

    Returns:
        KNOWN with the person when at least ``min_known`` votes name them, they are a strict majority and
        their mean score clears the threshold; UNKNOWN when at least ``min_unknown`` votes (a strict majority)
        found nobody; PENDING while there are too few votes to say either; UNSURE otherwise.
    """
    recent = votes[-config.window :]
    if not recent:
        return Decision(TrackState.PENDING)
    by_person: dict[int, list[Match]] = {}
    unknown = [m for m in recent if not m.known]
    for m in recent:
        if m.known and m.margin >= config.min_margin:
            by_person.setdefault(m.person_id, []).append(m)  # type: ignore[arg-type]
    if by_person:
        pid, agreeing = max(by_person.items(), key=lambda kv: len(kv[1]))
        if len(agreeing) >= config.min_known and 2 * len(agreeing) > len(recent):
            score = _mean([m.score for m in agreeing])
            if metric.accepts(score, metric.stricter(threshold, config.band)):
                return Decision(TrackState.KNOWN, pid, agreeing[0].name, score)
            return Decision(TrackState.UNSURE, score=score)
    if len(unknown) >= config.min_unknown and 2 * len(unknown) > len(recent):
        return Decision(TrackState.UNKNOWN, score=_mean([m.score for m in unknown]))
    if len(recent) < max(config.min_known, config.min_unknown):
        return Decision(TrackState.PENDING)
    return Decision(TrackState.UNSURE, score=_mean([m.score for m in recent]))


class Track:
    """One face followed across frames (mutable; owned by its :class:`Tracker`).

    ``detection`` is the detection from the latest detection pass, or ``None`` when the face was not found
    in it: embeddings must use landmarks of the frame being processed. ``box`` is the latest detection's box
    (kept, not extrapolated, between passes); ``velocity`` is the centre's motion per detection pass, used
    only to pick the likeliest detection for the track.
    """

    def __init__(self, track_id: int, detection: Detection, time_s: float, window: int) -> None:
        self.id = track_id
        self.detection: Detection | None = detection
        self.box = detection.box
        self.velocity = (0.0, 0.0)
        self.missed = 0
        self.votes: deque[Match] = deque(maxlen=window)
        self.looks: deque[NDArray[np.float32]] = deque(maxlen=window)
        self.restart(track_id, time_s)

    def restart(self, track_id: int, time_s: float) -> None:
        """Start afresh as a new face under ``track_id``: no votes, no looks, embedded again right away."""
        self.id = track_id
        self.first_seen_s = time_s
        self.votes.clear()
        self.looks.clear()
        self.n_embeds = 0
        self.next_embed_s = time_s
        self.decision = Decision(TrackState.PENDING)
        self.named_at_s: float | None = None

    def follow(self, detection: Detection) -> None:
        """The face was found again at ``detection``."""
        (x0, y0), (x1, y1) = self.box.center, detection.box.center
        passes = self.missed + 1
        self.velocity = ((x1 - x0) / passes, (y1 - y0) / passes)
        self.detection, self.box, self.missed = detection, detection.box, 0

    def predicted_center(self) -> tuple[float, float]:
        """Where the face's centre should be in this detection pass, from its last box and velocity."""
        (cx, cy), (vx, vy), k = self.box.center, self.velocity, self.missed + 1
        return cx + vx * k, cy + vy * k

    def view(self) -> TrackView:
        d = self.decision
        return TrackView(self.id, self.box, d.state, d.name, d.person_id, d.score, self.first_seen_s, self.named_at_s)


def same_face(a: BBox, b: BBox, min_iou: float) -> bool:
    """Whether two boxes show one face: they overlap at least ``min_iou``, or one contains the other's centre."""
    return a.iou(b) >= min_iou or _contains(a, b.center) or _contains(b, a.center)


def _contains(box: BBox, point: tuple[float, float]) -> bool:
    return box.x <= point[0] <= box.x + box.w and box.y <= point[1] <= box.y + box.h


def deduplicate(detections: list[Detection], min_iou: float) -> list[Detection]:
    """Detections with duplicates of one face removed (the most confident one kept), in their original order."""
    kept: list[int] = []
    for i in sorted(range(len(detections)), key=lambda i: -detections[i].score):
        if not any(same_face(detections[i].box, detections[k].box, min_iou) for k in kept):
            kept.append(i)
    return [detections[i] for i in sorted(kept)]


class Tracker:
    """Links detections into tracks, schedules embeddings and collects votes.

    Args:
        config: association and schedule settings.
        metric, threshold: the gallery's (see :func:`decide`); change them with :meth:`set_threshold`. A metric
            may be given by name (``"l2"``).

    Raises:
        InvalidInput: an unknown metric.
    """

    def __init__(self, config: TrackerConfig, metric: Metric | str, threshold: float) -> None:
        self.config = config
        self.metric = Metric.named(metric)
        self.threshold = threshold
        self._tracks: dict[int, Track] = {}
        self._ids = itertools.count(1)

    @property
    def tracks(self) -> list[Track]:
        """The live tracks, oldest first."""
        return list(self._tracks.values())

    def set_threshold(self, metric: Metric | str, threshold: float) -> None:
        """Use another metric/threshold from now on (e.g. after the gallery was reloaded)."""
        self.metric, self.threshold = Metric.named(metric), threshold

    def update(self, detections: list[Detection], time_s: float) -> None:
        """Feed one detection pass: continue, start and end tracks.

        Duplicate detections of one face are merged first. A detection continues the track whose predicted
        centre is nearest (greedy, nearest pairs first), only within ``max_jump`` box widths of the track's
        last box and ``max_scale_change`` of its size; any other detection starts a track. Afterwards, of two
        tracks on one face, the one found in this pass is kept over one that was not, else the older one.
        """
        detections = deduplicate(detections, self.config.overlap_iou)
        tracks = list(self._tracks.values())
        used_t: set[int] = set()
        used_d: set[int] = set()
        for _, ti, di in sorted(self._candidate_pairs(tracks, detections)):
            if ti in used_t or di in used_d:
                continue
            used_t.add(ti)
            used_d.add(di)
            tracks[ti].follow(detections[di])
        for ti, track in enumerate(tracks):
            if ti not in used_t:
                track.detection = None
                track.missed += 1
                if track.missed > self.config.max_missed:
                    del self._tracks[track.id]
        for di, det in enumerate(detections):
            if di not in used_d:
                track = Track(next(self._ids), det, time_s, self.config.votes.window)
                self._tracks[track.id] = track
        self._merge_duplicates()

    def _candidate_pairs(self, tracks: list[Track], detections: list[Detection]) -> list[tuple[float, int, int]]:
        """``(distance to the predicted centre in track widths, track index, detection index)`` of the
        pairs a face could make."""
        pairs = []
        for ti, track in enumerate(tracks):
            width = max(1, track.box.w)
            px, py = track.predicted_center()
            for di, det in enumerate(detections):
                if not self._could_be(track, det.box):
                    continue
                cx, cy = det.box.center
                pairs.append((((cx - px) ** 2 + (cy - py) ** 2) ** 0.5 / width, ti, di))
        return pairs

    def _could_be(self, track: Track, box: BBox) -> bool:
        """Whether the face of ``track`` could have moved to ``box`` since its last detection."""
        old = track.box
        scale = max(box.w, old.w) / max(1, min(box.w, old.w))
        if scale > self.config.max_scale_change:
            return False
        (x0, y0), (x1, y1) = old.center, box.center
        reach = self.config.max_jump * max(1, old.w) * min(track.missed + 1, 2)
        return ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5 <= reach

    def _merge_duplicates(self) -> None:
        """End every track whose box shows the same face as a better one (found now, else older)."""
        ranked = sorted(self._tracks.values(), key=lambda t: (t.detection is None, t.id))
        kept: list[Track] = []
        for track in ranked:
            if track.missed <= self.config.show_missed and any(
                same_face(track.box, k.box, self.config.overlap_iou) for k in kept
            ):
                del self._tracks[track.id]
            elif track.missed <= self.config.show_missed:
                kept.append(track)

    def cut(self) -> None:
        """The scene changed: every track ends (no name carries over to the next shot)."""
        self._tracks.clear()

    def coast(self) -> None:
        """A frame without a detection pass: tracks keep their boxes, and no landmarks are current."""
        for track in self._tracks.values():
            track.detection = None

    def due(self, time_s: float, limit: int) -> list[Track]:
        """Tracks to embed now (at most ``limit``): found in this pass and at or past their next embed time,
        the most overdue relative to their schedule first (new faces before settled ones)."""
        ready = [t for t in self._tracks.values() if t.detection is not None and time_s >= t.next_embed_s - 1e-6]
        ready.sort(key=lambda t: (t.decision.state in (TrackState.KNOWN, TrackState.UNKNOWN), t.n_embeds, t.next_embed_s))
        return ready[: max(0, limit)]

    def add_vote(
        self, track: Track, match: Match, time_s: float, embedding: NDArray[np.floating] | None = None
    ) -> Decision:
        """Record one embedding's match for ``track``, schedule its next embedding and re-decide.

        Args:
            embedding: the look itself (L2-normalised); when the track is named, ``match`` names someone else
                and the look is far from the track's earlier looks (see ``TrackerConfig.face_change``), the track
                restarts as a new face (new id) before this vote.

        Returns:
            The track's new decision.
        """
        if embedding is not None:
            look = np.asarray(embedding, dtype=np.float32).ravel()
            if self._face_changed(track, look, match):
                del self._tracks[track.id]
                track.restart(next(self._ids), time_s)
                self._tracks[track.id] = track
            track.looks.append(look)
        track.votes.append(match)
        track.n_embeds += 1
        track.decision = decide(list(track.votes), self.metric, self.threshold, self.config.votes)
        if track.decision.state is TrackState.KNOWN and track.named_at_s is None:
            track.named_at_s = time_s
        track.next_embed_s = self._next_embed_time(track, time_s)
        return track.decision

    def _face_changed(self, track: Track, look: NDArray[np.float32], match: Match) -> bool:
        """Whether ``look`` (matched as ``match``) is another face than the named track's earlier looks."""
        named = track.decision.state is TrackState.KNOWN
        if not track.looks or not named or match.person_id == track.decision.person_id:
            return False
        mean = np.mean(np.stack(track.looks), axis=0)
        cos = float(look @ mean) / max(1e-12, float(np.linalg.norm(look) * np.linalg.norm(mean)))
        same_cos = self.metric.cosine(self.threshold)
        return 1.0 - cos > self.config.face_change * max(1e-6, 1.0 - same_cos)

    def _next_embed_time(self, track: Track, time_s: float) -> float:
        offsets = self.config.embed_after_s
        if track.n_embeds < len(offsets):
            return max(time_s, track.first_seen_s + offsets[track.n_embeds])
        settled = track.decision.state in (TrackState.KNOWN, TrackState.UNKNOWN)
        return time_s + (self.config.settled_every_s if settled else self.config.embed_every_s)

    def views(self) -> tuple[TrackView, ...]:
        """What to draw: every live track found in one of the last ``show_missed`` passes, oldest first."""
        return tuple(t.view() for t in self._tracks.values() if t.missed <= self.config.show_missed)

    def forget_votes(self) -> None:
        """Clear every track's votes and decision (after the gallery changed); tracks stay, names are re-earned."""
        for t in self._tracks.values():
            t.votes.clear()
            t.decision = Decision(TrackState.PENDING)
            t.next_embed_s = 0.0
            t.n_embeds = 0
