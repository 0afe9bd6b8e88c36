"""Tracking and voting without any model: boxes and matches are made up."""

from __future__ import annotations

import math

import numpy as np

from common.metric import Metric
from models.tracking import SceneCutDetector, Tracker, TrackerConfig, TrackState, VoteConfig, decide
from models.types import BBox, Detection, Landmarks, Match

THRESHOLD = 0.43  # l2, as the dlib backend


def _det(x: int, y: int = 50, size: int = 90) -> Detection:
    return Detection(BBox(x, y, size, size), 1.0, Landmarks(((0.0, 0.0),), "fake"))


def _ada(score: float = 0.30, margin: float = 0.15) -> Match:
    return Match(1, "Ada", score, margin, 1)


def _bob(score: float = 0.30) -> Match:
    return Match(2, "Bob", score, 0.15, 2)


def _nobody(score: float = 0.60) -> Match:
    return Match(None, None, score, 0.05, 1)


def _decide(votes: list[Match]) -> TrackState:
    return decide(votes, Metric.L2, THRESHOLD, VoteConfig()).state


def test_one_vote_never_names() -> None:
    assert _decide([_ada(0.2)]) is TrackState.PENDING


def test_two_agreeing_votes_name_the_person_with_their_mean_score() -> None:
    d = decide([_ada(0.30), _ada(0.34)], Metric.L2, THRESHOLD, VoteConfig())
    assert (d.state, d.name, d.person_id) == (TrackState.KNOWN, "Ada", 1)
    assert math.isclose(d.score, 0.32)


def test_one_wrong_vote_among_agreeing_ones_is_outvoted() -> None:
    d = decide([_bob(), _ada(), _ada()], Metric.L2, THRESHOLD, VoteConfig())
    assert (d.state, d.name) == (TrackState.KNOWN, "Ada")


def test_disagreeing_votes_are_unsure_not_guessed() -> None:
    assert _decide([_ada(), _bob(), _ada(), _bob()]) is TrackState.UNSURE


def test_agreeing_votes_just_inside_the_threshold_are_unsure() -> None:
    assert _decide([_ada(0.425), _ada(0.428)]) is TrackState.UNSURE


def test_votes_with_no_margin_to_the_runner_up_count_for_nobody() -> None:
    assert _decide([_ada(margin=0.001), _ada(margin=0.001), _ada(margin=0.001)]) is TrackState.UNSURE


def test_unknown_needs_three_votes_and_a_majority() -> None:
    assert _decide([_nobody(), _nobody()]) is TrackState.PENDING
    assert _decide([_nobody(), _nobody(), _nobody()]) is TrackState.UNKNOWN
    assert _decide([_nobody(), _ada(), _nobody(), _ada()]) is TrackState.UNSURE


def test_cosine_metric_threshold_is_a_lower_bound() -> None:
    votes = [Match(1, "Ada", 0.8, 0.3, 1), Match(1, "Ada", 0.7, 0.3, 1)]
    assert decide(votes, Metric.COSINE, 0.5, VoteConfig()).state is TrackState.KNOWN
    assert decide(votes, Metric.COSINE, 0.76, VoteConfig()).state is TrackState.UNSURE


def test_moving_faces_keep_their_track_ids() -> None:
    tracker = Tracker(TrackerConfig(), "l2", THRESHOLD)
    for step in range(10):
        tracker.update([_det(10 + 5 * step), _det(400 - 5 * step)], step / 30)
    ids = sorted(v.track_id for v in tracker.views())
    assert ids == [1, 2]
    assert [v.box.x for v in tracker.views()] == [55, 355]


def test_a_track_ends_after_max_missed_passes_and_a_new_face_gets_a_new_id() -> None:
    tracker = Tracker(TrackerConfig(max_missed=4, show_missed=2), "l2", THRESHOLD)
    tracker.update([_det(10)], 0.0)
    for i in range(2):
        tracker.update([], 0.1 * (i + 1))
    assert [v.track_id for v in tracker.views()] == [1]  # still shown while briefly lost
    tracker.update([], 0.3)
    assert tracker.views() == (), "no box stays behind on a spot the face has left"
    tracker.update([_det(10)], 0.4)
    assert [v.track_id for v in tracker.views()] == [1], "found again before max_missed: the same track"
    for i in range(5):
        tracker.update([], 0.5 + 0.1 * i)
    tracker.update([_det(10)], 1.0)
    assert [v.track_id for v in tracker.views()] == [2]


def test_embedding_schedule_is_front_loaded_then_rare() -> None:
    cfg = TrackerConfig(embed_after_s=(0.0, 0.1, 0.25), embed_every_s=0.5, settled_every_s=2.0)
    tracker = Tracker(cfg, "l2", THRESHOLD)
    embedded_at = []
    for i in range(150):  # 5 s at 30 frames/s
        t = i / 30
        tracker.update([_det(100)], t)
        for track in tracker.due(t, limit=2):
            tracker.add_vote(track, _ada(), t)
            embedded_at.append(round(t, 3))
    assert embedded_at[:3] == [0.0, 0.1, 0.267]
    assert len(embedded_at) <= 6  # named after two looks, then re-checked every 2 s
    assert tracker.views()[0].state is TrackState.KNOWN
    assert tracker.views()[0].named_at_s == 0.1


def test_tracks_without_current_landmarks_are_never_due() -> None:
    tracker = Tracker(TrackerConfig(), "l2", THRESHOLD)
    tracker.update([_det(100)], 0.0)
    tracker.coast()
    assert tracker.due(0.0, limit=5) == []


def _named_ada(tracker: Tracker, x: int = 100, size: int = 90) -> int:
    """A track at ``x`` named Ada by two looks; returns its id."""
    for i, t in enumerate((0.0, 0.1)):
        tracker.update([_det(x, size=size)], t)
        tracker.add_vote(tracker.tracks[0], _ada(), t)
    (view,) = tracker.views()
    assert (view.state, view.name) == (TrackState.KNOWN, "Ada")
    return view.track_id


def test_a_scene_cut_ends_every_track_so_no_name_carries_over() -> None:
    tracker = Tracker(TrackerConfig(), "l2", THRESHOLD)
    ada = _named_ada(tracker)
    tracker.cut()
    tracker.update([_det(100)], 0.2)  # another face at the very same place in the next shot
    (view,) = tracker.views()
    assert view.track_id != ada and view.state is TrackState.PENDING and view.name is None


def test_a_detection_farther_than_a_face_can_move_starts_a_new_track() -> None:
    tracker = Tracker(TrackerConfig(max_jump=1.0), "l2", THRESHOLD)
    ada = _named_ada(tracker, x=100)
    tracker.update([_det(100 + 95)], 0.2)  # the centre moved more than one box width in one pass
    new = [v for v in tracker.views() if v.box.x == 195]
    assert len(new) == 1 and new[0].track_id != ada and new[0].name is None


def test_a_face_that_suddenly_changes_size_is_not_the_same_face() -> None:
    tracker = Tracker(TrackerConfig(max_scale_change=1.6), "l2", THRESHOLD)
    ada = _named_ada(tracker, x=100, size=90)
    # A face 1.7 times as wide around the same spot (boxes overlap by IoU 0.35): another face, not Ada's.
    tracker.update([_det(68, y=18, size=153)], 0.2)
    (view,) = [v for v in tracker.views() if v.box.w == 153]
    assert view.track_id != ada and view.name is None
    assert len(tracker.views()) == 1, "one face, one box: the stale track on the same spot is dropped"


def test_a_fast_face_keeps_one_box_and_its_name() -> None:
    tracker = Tracker(TrackerConfig(), "l2", THRESHOLD)
    ada = _named_ada(tracker, x=100)
    for step in range(1, 6):  # 60 px per pass: boxes overlap by IoU 0.2 only
        tracker.update([_det(100 + 60 * step)], 0.1 + 0.1 * step)
        assert [(v.track_id, v.name) for v in tracker.views()] == [(ada, "Ada")]
    assert tracker.views()[0].box.x == 400, "the box drawn is the latest detection"


def test_two_detections_of_one_face_make_one_box() -> None:
    tracker = Tracker(TrackerConfig(), "l2", THRESHOLD)
    strong = Detection(BBox(100, 50, 90, 90), 2.0, Landmarks(((0.0, 0.0),), "fake"))
    inner = Detection(BBox(120, 70, 60, 60), 0.5, Landmarks(((0.0, 0.0),), "fake"))  # inside the first
    tracker.update([inner, strong], 0.0)
    assert [v.box for v in tracker.views()] == [strong.box]


def test_of_two_overlapping_tracks_the_older_one_is_kept() -> None:
    tracker = Tracker(TrackerConfig(), "l2", THRESHOLD)
    tracker.update([_det(100)], 0.0)
    tracker.update([_det(100), _det(300)], 0.1)
    tracker.coast()
    # Both lose their face; the newer one's face reappears on top of the older one's box.
    tracker.update([], 0.2)
    tracker.tracks[1].box = BBox(110, 50, 90, 90)
    tracker.update([], 0.3)
    assert [v.track_id for v in tracker.views()] == [1]


def _unit(i: int, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    v = np.zeros(128, np.float32)
    v[i] = 1.0
    v += np.random.default_rng(seed).normal(0, noise, 128).astype(np.float32)
    return v / np.linalg.norm(v)


def test_a_track_whose_face_changes_is_checked_again_from_scratch() -> None:
    tracker = Tracker(TrackerConfig(), "l2", THRESHOLD)
    tracker.update([_det(100)], 0.0)
    track = tracker.tracks[0]
    for i, t in enumerate((0.0, 0.05, 0.2)):
        tracker.add_vote(track, _ada(), t, _unit(0, 0.02, i))  # the same face, looked at three times
    assert tracker.views()[0].name == "Ada"
    ada = track.id
    decision = tracker.add_vote(track, _bob(), 2.2, _unit(1))  # someone else took the spot
    (view,) = tracker.views()
    assert view.track_id != ada and decision.state is TrackState.PENDING and view.name is None
    assert view.first_seen_s == 2.2 and view.named_at_s is None


def test_a_stranger_taking_a_named_face_s_place_is_checked_again() -> None:
    tracker = Tracker(TrackerConfig(), "l2", THRESHOLD)
    tracker.update([_det(100)], 0.0)
    track = tracker.tracks[0]
    for i, t in enumerate((0.0, 0.05)):
        tracker.add_vote(track, _ada(), t, _unit(0, 0.02, i))
    tracker.add_vote(track, _nobody(), 2.0, _unit(2))
    assert tracker.views()[0].track_id != 1 and tracker.views()[0].name is None


def test_looks_of_the_same_face_keep_the_name() -> None:
    tracker = Tracker(TrackerConfig(), "l2", THRESHOLD)
    tracker.update([_det(100)], 0.0)
    track = tracker.tracks[0]
    for i in range(8):
        tracker.add_vote(track, _ada(), 0.5 * i, _unit(0, 0.03, i))
    assert [(v.track_id, v.name) for v in tracker.views()] == [(1, "Ada")]


def _scene(seed: int, shift: int = 0, gain: float = 1.0) -> np.ndarray:
    """A 360×640 picture of smooth colour blobs (a 'shot'), optionally panned and brightened."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (9, 17, 3)).astype(np.float32)
    big = np.kron(coarse, np.ones((40, 40, 1), np.float32))[:, shift : shift + 640]
    return np.clip(big * gain, 0, 255).astype(np.uint8)


def test_scene_cuts_are_found_and_pans_or_exposure_changes_are_not() -> None:
    cuts = SceneCutDetector()
    frames = [_scene(1), _scene(1, shift=4), _scene(1, shift=8, gain=1.15), _scene(2), _scene(2, shift=3)]
    assert [cuts.is_cut(f) for f in frames] == [False, False, False, True, False]


def test_one_odd_match_on_a_look_like_the_others_is_outvoted_not_a_new_face() -> None:
    tracker = Tracker(TrackerConfig(), "l2", THRESHOLD)
    tracker.update([_det(100)], 0.0)
    track = tracker.tracks[0]
    for i, t in enumerate((0.0, 0.05, 0.2)):
        tracker.add_vote(track, _ada(), t, _unit(0, 0.02, i))
    tracker.add_vote(track, _bob(), 0.45, _unit(0, 0.02, 9))  # the same face, matched wrongly once
    assert [(v.track_id, v.name) for v in tracker.views()] == [(1, "Ada")]
