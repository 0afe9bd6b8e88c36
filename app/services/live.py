"""Live recognition: frames in, tracked and named faces out, attendance marked once per person.

:class:`LiveRecognizer` is what the window's recognition worker and the ``watch`` command both drive, one
frame at a time: detect (every ``detect_every``-th frame), follow faces with a :class:`Tracker`, embed a
track only when its schedule says so, match, vote, and mark a person present when their track is first
named. A scene cut (:class:`models.tracking.SceneCutDetector`) ends every track, so no name carries over to
the next shot. With liveness on (:class:`models.liveness.LivenessCheck`), a named face must also blink and
move its head before it is shown by name or marked; until then it shows as pending ("Checking…").
:func:`start_live` prepares a recognizer (for the window's recognition thread);
:func:`run_watch` is the headless loop of ``python main.py watch``.

Why embedding runs in the calling thread: dlib's ResNet holds the GIL while it computes a descriptor
(measured: a pure-Python thread runs at ~8 % of its speed meanwhile), so a worker thread would not add a
core; the schedule keeps embeddings rare instead. The second core reads and decodes frames
(:class:`models.sources.LatestFrameReader`; OpenCV releases the GIL) and, in the window, paints.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Callable, Protocol

import numpy as np
from numpy.typing import NDArray

from app.context import AppContext
from app.services.attendance import AttendanceMarker
from common.errors import InvalidInput, RollcallError, SourceError
from common.progress import ShouldStop, never_stop
from db.records import EventRecord, SessionRecord
from models.engine import FaceEngine
from models.liveness import LivenessCheck, LivenessConfig, has_68_points
from models.matching import Gallery
from models.sources import Frame, FrameSource, open_source
from models.tracking import CutConfig, SceneCutDetector, Track, Tracker, TrackerConfig, TrackState, TrackView
from models.types import Detection, Landmarks, RGBImage

log = logging.getLogger(__name__)

STAGES = ("detect", "embed", "match", "mark", "total")
"""Keys of :attr:`LiveUpdate.timings_ms`, in pipeline order."""


class LiveEngine(Protocol):
    """What live recognition needs from a face engine (a :class:`FaceEngine`, or a fake in tests)."""

    def detect(self, image: RGBImage) -> list[Detection]: ...

    def embed(self, image: RGBImage, landmarks: list[Landmarks]) -> NDArray[np.float32]: ...


@dataclass(frozen=True)
class LiveConfig:
    """Settings of live recognition (speed versus reach).

    Attributes:
        upsample: detector upsampling; 0 finds faces from ~80 px on a 640-px frame and is 4× faster than 1.
        max_side: frames are downscaled to this longer side for detection (boxes are scaled back).
        detect_every: run the detector on every n-th frame (and on the first frame of a new shot); in between,
            tracks keep their latest detected boxes (2 halves the dominant cost for a one-frame lag of the
            boxes at 30 frames/s).
        flip: also embed the mirrored face chip (2× embedding time, slightly more accurate).
        max_embeds_per_frame: bound on embeddings per frame, so a crowd cannot stall the picture.
        tracker: association, embedding schedule and voting (see :class:`TrackerConfig`).
        cuts: when a frame starts a new shot (every track ends there; see :class:`CutConfig`).
        gallery_poll_s: how often (wall-clock seconds) to look at the database's change counter of enrolled
            people, and reload them when it moved (someone was enrolled or removed here or at another station);
            one primary-key read. 0 turns the polling off (reloads then happen only on request).
        liveness: when set, a named face is shown and marked only once it has blinked and moved its head
            (see :class:`LivenessConfig`); ``None`` (the default) names and marks without that check.
    """

    upsample: int = 0
    max_side: int = 640
    detect_every: int = 2
    flip: bool = False
    max_embeds_per_frame: int = 2
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    cuts: CutConfig = field(default_factory=CutConfig)
    gallery_poll_s: float = 2.0
    liveness: LivenessConfig | None = None


LIVENESS_DETECTORS = ("hog", "cnn")
"""Detectors whose faces come with dlib's 68 landmarks, which the liveness check needs."""


def live_config(ctx: AppContext, liveness: bool | None = None) -> LiveConfig:
    """The live settings in force: the defaults, with the liveness check on when ``liveness`` says so
    (``None``: as the ``liveness`` setting says)."""
    on = ctx.config.settings.liveness if liveness is None else liveness
    return LiveConfig(liveness=LivenessConfig() if on else None)


def check_liveness_detector(ctx: AppContext, config: LiveConfig) -> None:
    """Refuse a liveness check with a detector that gives no 68 landmarks.

    Raises:
        InvalidInput: liveness is on and the detector is not one of :data:`LIVENESS_DETECTORS`.
    """
    detector = ctx.config.engine.detector
    if config.liveness is not None and detector not in LIVENESS_DETECTORS:
        raise InvalidInput(
            f"the liveness check needs the 68 face landmarks that the {detector} detector does not give; "
            f"use --detector {' or '.join(LIVENESS_DETECTORS)}, or turn liveness off"
        )


@dataclass(frozen=True)
class LiveUpdate:
    """The result of one frame.

    Attributes:
        frame_index, time_s: of the processed frame (source clock).
        tracks: every face being followed, with its state and name.
        events: attendance marked on this frame (usually none).
        timings_ms: milliseconds per stage for this frame (keys in :data:`STAGES`; 0 when a stage did not run).
        people: how many people the gallery searched on this frame holds.
        reloaded: the enrolled people were re-read before this frame (on request, or because the database's
            change counter moved: someone was enrolled or removed here or at another station).
    """

    frame_index: int
    time_s: float
    tracks: tuple[TrackView, ...]
    events: tuple[EventRecord, ...]
    timings_ms: dict[str, float]
    people: int = 0
    reloaded: bool = False


def live_engine(ctx: AppContext, config: LiveConfig) -> FaceEngine:
    """A face engine like the context's, with the live detector and embedding settings."""
    base = ctx.config.engine
    options = {**base.embed_options, "flip": config.flip, "views": 1}
    return FaceEngine(
        replace(base, upsample=config.upsample, max_side=config.max_side, embed_options=options, fallback_detector=None)
    )


class LiveRecognizer:
    """Recognizes and marks the people in a stream of frames (call :meth:`process` from one thread).

    Every other method may be called from any thread: a gallery reload is only requested there
    (:meth:`reload_gallery`) and applied by :meth:`process`, between frames, on the recognition thread.
    :meth:`process` also polls the database's change counter of enrolled people every
    ``config.gallery_poll_s`` seconds and reloads when it moved, so people enrolled or removed at another
    station are named or forgotten within a few seconds, without a restart.

    Args:
        ctx: where the gallery comes from.
        marker: marks attendance (once per session / per cooldown); ``None`` only shows names.
        config: see :class:`LiveConfig`.
        engine: the engine to use; by default one built from ``ctx`` with the live settings.
        source_label: recorded as the events' source (``"camera"``, ``"video"``, ...).

    Raises:
        InvalidInput: liveness is on with a detector that gives no 68 landmarks.
    """

    def __init__(
        self,
        ctx: AppContext,
        marker: AttendanceMarker | None,
        config: LiveConfig | None = None,
        engine: LiveEngine | None = None,
        source_label: str = "camera",
    ) -> None:
        self.ctx = ctx
        self.marker = marker
        self.config = config or live_config(ctx)
        check_liveness_detector(ctx, self.config)
        self.engine: LiveEngine = engine if engine is not None else live_engine(ctx, self.config)
        self.source_label = source_label
        self._version = ctx.gallery_version()  # read before the gallery: a change in between is seen next poll
        self._next_poll = time.monotonic() + self.config.gallery_poll_s
        self._gallery = ctx.gallery(live=True)
        self._tracker = Tracker(self.config.tracker, self._gallery.metric, self._gallery.threshold)
        self._cuts = SceneCutDetector(self.config.cuts)
        self._reload_requested = threading.Event()
        self._marked: set[tuple[int, int]] = set()
        self._frames = 0
        self._clock_origin: datetime | None = None
        self._liveness: dict[int, LivenessCheck] = {}

    @property
    def gallery(self) -> Gallery:
        return self._gallery

    def reload_gallery(self) -> None:
        """Ask for the enrolled people to be re-read (after enrolling, removing or changing the threshold).

        Safe from any thread: the next :meth:`process` call reloads the gallery on its own thread before it
        looks at its frame, and names given so far are re-earned from new votes.
        """
        self._reload_requested.set()

    def _gallery_changed(self) -> bool:
        """Whether the poll is due and the change counter moved; a database that does not answer is logged
        and asked again at the next poll (recognition goes on with the people it has)."""
        poll = self.config.gallery_poll_s
        now = time.monotonic()
        if poll <= 0 or now < self._next_poll:
            return False
        self._next_poll = now + poll
        try:
            version = self.ctx.gallery_version()
        except RollcallError as exc:
            log.warning("could not check for people enrolled elsewhere: %s", exc)
            return False
        if version != self._version:
            log.info("enrolled people changed (version %d -> %d): reloading", self._version, version)
        return version != self._version

    def _apply_reload(self) -> None:
        self._reload_requested.clear()
        self._version = self.ctx.gallery_version()
        gallery = self.ctx.gallery(live=True)
        self._gallery = gallery
        self._tracker.set_threshold(gallery.metric, gallery.threshold)
        self._tracker.forget_votes()

    def set_clock(self, started_at: datetime) -> None:
        """Frame ``time_s`` counts seconds from ``started_at`` (aware); events get that time of day."""
        self._clock_origin = started_at

    def process(self, frame: Frame) -> LiveUpdate:
        """Detect, track, embed what is due, vote and mark, for one frame (a requested or polled reload first)."""
        reloaded = self._reload_requested.is_set() or self._gallery_changed()
        if reloaded:
            self._apply_reload()
        timings = dict.fromkeys(STAGES, 0.0)
        t_start = time.perf_counter()
        if self._cuts.is_cut(frame.image):
            log.debug("scene cut at frame %d: every track ends", frame.index)
            self._tracker.cut()
            self._frames = 0
        if self._frames % max(1, self.config.detect_every) == 0:
            detections = self.engine.detect(frame.image)
            self._tracker.update(detections, frame.time_s)
            self._observe_liveness(frame.time_s)
        else:
            self._tracker.coast()
        self._frames += 1
        timings["detect"] = (time.perf_counter() - t_start) * 1000.0
        due = self._tracker.due(frame.time_s, self.config.max_embeds_per_frame)
        newly_known = self._embed_and_vote(frame, due, timings)
        if self.config.liveness is not None:  # named and now live (perhaps named frames ago)
            newly_known = [t for t in self._tracker.tracks if t.decision.state is TrackState.KNOWN and self._is_live(t.id)]
        t_mark = time.perf_counter()
        events = tuple(e for e in (self._mark(t, frame.time_s) for t in newly_known) if e is not None)
        timings["mark"] = (time.perf_counter() - t_mark) * 1000.0
        timings["total"] = (time.perf_counter() - t_start) * 1000.0
        return LiveUpdate(frame.index, frame.time_s, self._views(), events, timings, len(self._gallery), reloaded)

    def _observe_liveness(self, time_s: float) -> None:
        """Feed each tracked face's landmarks of this detection pass to its liveness check (liveness on)."""
        if self.config.liveness is None:
            return
        checks: dict[int, LivenessCheck] = {}
        for track in self._tracker.tracks:
            check = self._liveness.get(track.id) or LivenessCheck(self.config.liveness)
            checks[track.id] = check
            points = track.detection.landmarks.array() if track.detection is not None else None
            if points is not None and has_68_points(points):
                check.observe(points, time_s)
        self._liveness = checks  # ended tracks are forgotten

    @property
    def live_checks(self) -> dict[int, LivenessCheck]:
        """The liveness check of each current track, by track id (empty with liveness off); read-only use."""
        return dict(self._liveness)

    def _is_live(self, track_id: int) -> bool:
        check = self._liveness.get(track_id)
        return check is not None and check.live

    def _views(self) -> tuple[TrackView, ...]:
        """The tracks to show; with liveness on, a named face that is not live yet shows as pending."""
        views = self._tracker.views()
        if self.config.liveness is None:
            return views
        return tuple(self._gated(v) for v in views)

    def _gated(self, view: TrackView) -> TrackView:
        if view.state is not TrackState.KNOWN:
            return view
        check = self._liveness.get(view.track_id)
        if check is None or check.live_at_s is None:
            return replace(view, state=TrackState.PENDING, name=None, person_id=None, score=None, named_at_s=None)
        named = view.named_at_s if view.named_at_s is not None else check.live_at_s
        return replace(view, named_at_s=max(named, check.live_at_s))

    def _embed_and_vote(self, frame: Frame, due: list[Track], timings: dict[str, float]) -> list[Track]:
        if not due:
            return []
        t0 = time.perf_counter()
        vectors = self.engine.embed(frame.image, [t.detection.landmarks for t in due])  # type: ignore[union-attr]
        t1 = time.perf_counter()
        matches = self._gallery.search(vectors)
        known = []
        for track, match, vector in zip(due, matches, vectors):
            decision = self._tracker.add_vote(track, match, frame.time_s, vector)
            if decision.state is TrackState.KNOWN:
                known.append(track)
        timings["embed"] = (t1 - t0) * 1000.0
        timings["match"] = (time.perf_counter() - t1) * 1000.0
        return known

    def _mark(self, track: Track, time_s: float) -> EventRecord | None:
        pid = track.decision.person_id
        if self.marker is None or pid is None or (track.id, pid) in self._marked:
            return None
        self._marked.add((track.id, pid))
        origin = self._clock_origin or datetime.now(timezone.utc) - timedelta(seconds=time_s)
        self._clock_origin = origin
        when = origin + timedelta(seconds=time_s)
        return self.marker.mark(pid, when, self.source_label, track.decision.score, self._gallery_backend())

    def _gallery_backend(self) -> str:
        return self.ctx.config.engine.backend


@dataclass(frozen=True)
class LiveStart:
    """What :func:`start_live` prepared: the recognizer to feed frames to, and what the page shows first.

    Attributes:
        recognizer: call its ``process`` on the recognition thread only (``reload_gallery`` from anywhere).
        session: the attendance session marks go to. earlier: its events so far. people: people enrolled.
    """

    recognizer: LiveRecognizer
    session: SessionRecord
    earlier: tuple[EventRecord, ...]
    people: int


def start_live(
    ctx: AppContext, session_name: str, source_label: str, started_at: datetime, config: LiveConfig | None = None
) -> LiveStart:
    """Open the session, build a recognizer and load its models (seconds on the first call).

    Runs on the thread that will call ``recognizer.process``; touches nothing but its own objects and the
    database, so a window can call it off its GUI thread and receive the result as plain data.

    Args:
        source_label: recorded as the events' source (``"camera"`` or ``"video"``).
        started_at: when the source's clock started (frame ``time_s`` counts from it).
        config: live settings; by default :func:`live_config` (the liveness setting in force).

    Raises:
        InvalidInput: liveness is on with a detector that gives no 68 landmarks (before any session is made).
    """
    config = config or live_config(ctx)
    check_liveness_detector(ctx, config)
    session = ctx.repo.get_or_create_session(session_name)
    marker = AttendanceMarker(ctx.repo, session, ctx.config.cooldown_s)
    recognizer = LiveRecognizer(ctx, marker, config, source_label=source_label)
    recognizer.set_clock(started_at)
    engine = recognizer.engine
    engine.detect(np.zeros((32, 32, 3), np.uint8))  # loads the detector now, not on the first frame
    getattr(engine, "embedder", None)  # and the embedding model
    earlier = tuple(ctx.repo.list_events(session_id=session.id))
    return LiveStart(recognizer, session, earlier, len(recognizer.gallery))


@dataclass(frozen=True)
class WatchSummary:
    """What a headless watch did.

    Attributes:
        frames: frames processed. seconds: wall time. fps: frames / seconds.
        stage_ms: mean milliseconds per frame and stage (keys in :data:`STAGES`, plus ``"read"``).
        events: attendance marked, in order.
        named_latency_s: for each track that got a name, seconds (source clock) from first detection to name.
        failure: why a live source stopped delivering frames (stalled stream, unplugged camera); ``None`` when
            the watch ended normally (end of file, ``max_frames`` or a stop request).
    """

    frames: int
    seconds: float
    fps: float
    stage_ms: dict[str, float]
    events: tuple[EventRecord, ...]
    named_latency_s: tuple[float, ...] = ()
    failure: str | None = None


def run_watch(
    ctx: AppContext,
    source_spec: str,
    session_name: str,
    max_frames: int | None = None,
    on_event: Callable[[EventRecord], None] | None = None,
    should_stop: ShouldStop = never_stop,
    config: LiveConfig | None = None,
    on_update: Callable[[LiveUpdate], None] | None = None,
) -> WatchSummary:
    """Recognize and mark attendance on a source until it ends, ``max_frames`` or ``should_stop()``.

    Files are processed as fast as possible (not paced). ``on_event`` gets each attendance event;
    ``on_update``, when given, every frame's :class:`LiveUpdate` (after its events). ``config`` defaults to
    :func:`live_config` (the liveness setting in force).

    The source is opened before the session is created, so a source that cannot be opened leaves no empty
    session behind.

    Returns:
        The summary; its ``failure`` says why a live source stopped delivering frames (``None`` = normal end).

    Raises:
        SourceError: the source cannot be opened (nothing is stored then).
        StorageError: the session or events cannot be written.
        InvalidInput: liveness is on with a detector that gives no 68 landmarks (nothing is stored then).
    """
    config = config or live_config(ctx)
    check_liveness_detector(ctx, config)
    with open_source(source_spec) as source:
        session = ctx.repo.get_or_create_session(session_name)
        marker = AttendanceMarker(ctx.repo, session, ctx.config.cooldown_s)
        label = "camera" if source.is_live else "video"
        recognizer = LiveRecognizer(ctx, marker, config, source_label=label)
        recognizer.set_clock(source.started_at)
        return _watch_loop(recognizer, source, max_frames, on_event or (lambda e: None), should_stop, on_update)


def _watch_loop(
    recognizer: LiveRecognizer,
    source: FrameSource,
    max_frames: int | None,
    on_event: Callable[[EventRecord], None],
    should_stop: ShouldStop,
    on_update: Callable[[LiveUpdate], None] | None = None,
) -> WatchSummary:
    totals = dict.fromkeys((*STAGES, "read"), 0.0)
    events: list[EventRecord] = []
    latency: dict[int, float] = {}
    frames = 0
    failure: str | None = None
    start = time.perf_counter()
    while (max_frames is None or frames < max_frames) and not should_stop():
        t_read = time.perf_counter()
        try:
            frame = source.read()
        except SourceError as exc:
            log.warning("watch stopped: %s", exc)
            failure = str(exc)
            break
        totals["read"] += (time.perf_counter() - t_read) * 1000.0
        if frame is None:
            break
        update = recognizer.process(frame)
        frames += 1
        for key, ms in update.timings_ms.items():
            totals[key] += ms
        for view in update.tracks:
            if view.named_at_s is not None:
                latency.setdefault(view.track_id, view.named_at_s - view.first_seen_s)
        for event in update.events:
            events.append(event)
            on_event(event)
        if on_update is not None:
            on_update(update)
    seconds = time.perf_counter() - start
    stage_ms = {k: v / frames for k, v in totals.items()} if frames else totals
    fps = frames / seconds if seconds > 0 else 0.0
    return WatchSummary(frames, seconds, fps, stage_ms, tuple(events), tuple(latency.values()), failure)
