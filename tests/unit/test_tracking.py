"""Tracking and voting without any model: boxes and matches are made up."""

from __future__ import annotations

import math

from models.tracking import Tracker, TrackerConfig, TrackState, VoteConfig, decide
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
    return decide(votes, "l2", THRESHOLD, VoteConfig()).state


def test_one_vote_never_names() -> None:
    assert _decide([_ada(0.2)]) is TrackState.PENDING


def test_two_agreeing_votes_name_the_person_with_their_mean_score() -> None:
    d = decide([_ada(0.30), _ada(0.34)], "l2", THRESHOLD, VoteConfig())
    assert (d.state, d.name, d.person_id) == (TrackState.KNOWN, "Ada", 1)
    assert math.isclose(d.score, 0.32)


def test_one_wrong_vote_among_agreeing_ones_is_outvoted() -> None:
    d = decide([_bob(), _ada(), _ada()], "l2", THRESHOLD, VoteConfig())
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
    assert decide(votes, "cosine", 0.5, VoteConfig()).state is TrackState.KNOWN
    assert decide(votes, "cosine", 0.76, VoteConfig()).state is TrackState.UNSURE


def test_moving_faces_keep_their_track_ids() -> None:
    tracker = Tracker(TrackerConfig(), "l2", THRESHOLD)
    for step in range(10):
        tracker.update([_det(10 + 5 * step), _det(400 - 5 * step)], step / 30)
    ids = sorted(v.track_id for v in tracker.views())
    assert ids == [1, 2]
    assert [v.box.x for v in tracker.views()] == [55, 355]


def test_a_track_ends_after_max_missed_passes_and_a_new_face_gets_a_new_id() -> None:
    tracker = Tracker(TrackerConfig(max_missed=3), "l2", THRESHOLD)
    tracker.update([_det(10)], 0.0)
    for i in range(3):
        tracker.update([], 0.1 * (i + 1))
    assert [v.track_id for v in tracker.views()] == [1]  # still shown while briefly lost
    tracker.update([], 0.4)
    assert tracker.views() == ()
    tracker.update([_det(10)], 0.5)
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
