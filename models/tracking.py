"""Following faces across frames and deciding who each one is from several looks, not one.

A :class:`Tracker` links each frame's detections to existing tracks by box overlap (IoU), starts tracks for
new faces and drops tracks not seen for a while. It says which tracks are due for an embedding — when they
appear, a few times in quick succession, then rarely — and collects each embedding's :class:`Match` as a
vote. :func:`decide` turns the recent votes into a state: a name is given only when enough votes agree, so a
person walking past is not named on one blurry frame.

Plain data only: no Qt, no database, no model. Times are seconds on the frame source's clock.
"""

from __future__ import annotations

import enum
import itertools
from collections import deque
from dataclasses import dataclass, field

from models.matching import is_accepted
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
    """Association and embedding schedule.

    Attributes:
        iou_threshold: a detection continues a track when their boxes overlap at least this much.
        max_missed: a track ends after this many detection passes without its face.
        embed_after_s: a new track is embedded at these offsets from its first sighting (seconds).
        embed_every_s: afterwards, while still undecided (pending/unsure), once per this interval.
        settled_every_s: once decided (known/unknown), re-checked once per this interval.
        votes: see :class:`VoteConfig`.
    """

    iou_threshold: float = 0.3
    max_missed: int = 8
    embed_after_s: tuple[float, ...] = (0.0, 0.05, 0.2, 0.45)
    embed_every_s: float = 0.5
    settled_every_s: float = 2.0
    votes: VoteConfig = field(default_factory=VoteConfig)


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


def decide(votes: list[Match], metric: str, threshold: float, config: VoteConfig) -> Decision:
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
            strict = threshold - config.band if metric == "l2" else threshold + config.band
            if is_accepted(score, strict, metric):
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
    in it: embeddings must use landmarks of the frame being processed.
    """

    def __init__(self, track_id: int, detection: Detection, time_s: float, window: int) -> None:
        self.id = track_id
        self.detection: Detection | None = detection
        self.box = detection.box
        self.first_seen_s = time_s
        self.missed = 0
        self.votes: deque[Match] = deque(maxlen=window)
        self.n_embeds = 0
        self.next_embed_s = time_s
        self.decision = Decision(TrackState.PENDING)
        self.named_at_s: float | None = None

    def view(self) -> TrackView:
        d = self.decision
        return TrackView(self.id, self.box, d.state, d.name, d.person_id, d.score, self.first_seen_s, self.named_at_s)


class Tracker:
    """Links detections into tracks, schedules embeddings and collects votes.

    Args:
        config: association and schedule settings.
        metric, threshold: the gallery's (see :func:`decide`); change them with :meth:`set_threshold`.
    """

    def __init__(self, config: TrackerConfig, metric: str, threshold: float) -> None:
        self.config = config
        self.metric = metric
        self.threshold = threshold
        self._tracks: dict[int, Track] = {}
        self._ids = itertools.count(1)

    @property
    def tracks(self) -> list[Track]:
        """The live tracks, oldest first."""
        return list(self._tracks.values())

    def set_threshold(self, metric: str, threshold: float) -> None:
        """Use another metric/threshold from now on (e.g. after the gallery was reloaded)."""
        self.metric, self.threshold = metric, threshold

    def update(self, detections: list[Detection], time_s: float) -> None:
        """Feed one detection pass: continue, start and end tracks.

        Greedy association: box pairs are taken in order of decreasing IoU, each track and detection at most
        once, pairs below ``iou_threshold`` never.
        """
        tracks = list(self._tracks.values())
        pairs = sorted(
            ((t.box.iou(d.box), ti, di) for ti, t in enumerate(tracks) for di, d in enumerate(detections)),
            reverse=True,
        )
        used_t: set[int] = set()
        used_d: set[int] = set()
        for iou, ti, di in pairs:
            if iou < self.config.iou_threshold:
                break
            if ti in used_t or di in used_d:
                continue
            used_t.add(ti)
            used_d.add(di)
            track = tracks[ti]
            track.detection, track.box, track.missed = detections[di], detections[di].box, 0
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

    def add_vote(self, track: Track, match: Match, time_s: float) -> Decision:
        """Record one embedding's match for ``track``, schedule its next embedding and re-decide.

        Returns:
            The track's new decision.
        """
        track.votes.append(match)
        track.n_embeds += 1
        track.decision = decide(list(track.votes), self.metric, self.threshold, self.config.votes)
        if track.decision.state is TrackState.KNOWN and track.named_at_s is None:
            track.named_at_s = time_s
        track.next_embed_s = self._next_embed_time(track, time_s)
        return track.decision

    def _next_embed_time(self, track: Track, time_s: float) -> float:
        offsets = self.config.embed_after_s
        if track.n_embeds < len(offsets):
            return max(time_s, track.first_seen_s + offsets[track.n_embeds])
        settled = track.decision.state in (TrackState.KNOWN, TrackState.UNKNOWN)
        return time_s + (self.config.settled_every_s if settled else self.config.embed_every_s)

    def views(self) -> tuple[TrackView, ...]:
        """What to draw: every live track (including ones briefly not detected), oldest first."""
        return tuple(t.view() for t in self._tracks.values())

    def reset(self) -> None:
        """Forget every track (e.g. when the source changes)."""
        self._tracks.clear()

    def forget_votes(self) -> None:
        """Clear every track's votes and decision (after the gallery changed); tracks stay, names are re-earned."""
        for t in self._tracks.values():
            t.votes.clear()
            t.decision = Decision(TrackState.PENDING)
            t.next_embed_s = 0.0
            t.n_embeds = 0
