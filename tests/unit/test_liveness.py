"""The liveness check on synthetic 68-point landmark sequences: a blinking, turning face passes; a photo never."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.liveness import LivenessCheck, LivenessConfig, eye_aspect_ratio, has_68_points, nose_in_face_frame
from tests.unit.face68 import affine, face_points

RATE = 15.0  # detection passes per second (every 2nd frame of a 30 frames/s camera)


def _play(check: LivenessCheck, seconds: float, face_at, noise_px: float = 0.6, seed: int = 0) -> list[bool]:
    """Feed ``face_at(t)`` (68, 2) with landmark jitter at RATE per second; the live flag after each sample."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(int(seconds * RATE)):
        t = i / RATE
        out.append(check.observe(face_at(t) + rng.normal(0, noise_px, (68, 2)), t))
    return out


def _held_photo(t: float) -> np.ndarray:
    """A frontal face on a photo, moved, scaled, turned and tilted as a hand holds it up to a camera."""
    return affine(
        face_points(),
        scale=40 * (1 + 0.3 * math.sin(t * 1.3)),
        angle_deg=10 * math.sin(t * 0.9),
        shift=(320 + 120 * math.sin(t * 0.7), 180 + 50 * math.cos(t * 1.1)),
        shear=0.08 * math.sin(t * 1.7),
        squash=1 - 0.1 * abs(math.sin(t * 0.5)),
    )


def _eyes(t: float, blinks: tuple[float, ...], closed_s: float = 0.13) -> float:
    """Eyes open, shut for ``closed_s`` at each blink time."""
    return 0.15 if any(b <= t < b + closed_s for b in blinks) else 1.0


def _person(t: float, blinks: tuple[float, ...] = (1.5,), turn_deg: float = 15.0) -> np.ndarray:
    """A person looking around (head turning ±``turn_deg``, nodding a little) who blinks at ``blinks``."""
    yaw, pitch = turn_deg * math.sin(t * 2.5), 5 * math.sin(t * 1.9)
    return affine(face_points(yaw, pitch, _eyes(t, blinks)), scale=40, shift=(300 + 10 * t, 170))


def test_eye_aspect_ratio_falls_when_the_eyes_close_and_ignores_how_the_face_is_placed() -> None:
    open_, shut = face_points(), face_points(eyes_open=0.1)
    assert eye_aspect_ratio(open_) == pytest.approx(0.3)
    assert eye_aspect_ratio(shut) == pytest.approx(0.03)
    assert eye_aspect_ratio(affine(open_, scale=70, angle_deg=25, shift=(10, 500))) == pytest.approx(0.3)
    assert has_68_points(open_) and not has_68_points(open_[:5])


def test_the_nose_position_moves_when_the_head_turns_but_not_when_a_photo_is_moved_or_tilted() -> None:
    frontal = nose_in_face_frame(face_points())
    for placed in (affine(face_points(), 90, 30, (5, 5)), affine(face_points(), 25, -12, shear=0.15, squash=0.8)):
        assert nose_in_face_frame(placed) == pytest.approx(frontal)
    assert abs(nose_in_face_frame(face_points(yaw_deg=15))[0] - frontal[0]) > 0.08
    assert abs(nose_in_face_frame(face_points(pitch_deg=15))[1] - frontal[1]) > 0.08


def test_a_person_who_blinks_and_turns_the_head_becomes_live_soon_after_the_blink() -> None:
    check = LivenessCheck()
    flags = _play(check, 3.0, _person)
    assert flags[-1] and check.live
    assert 1.5 < check.live_at_s < 2.0  # the eyes reopen at 1.63 s; the head had turned by then


@pytest.mark.parametrize("seed", range(5))
def test_a_photo_held_up_and_moved_for_ten_seconds_never_becomes_live(seed: int) -> None:
    check = LivenessCheck()
    assert not any(_play(check, 10.0, _held_photo, seed=seed))
    assert check.motion_at_s is None


def test_turning_the_head_without_blinking_is_not_enough() -> None:
    check = LivenessCheck()  # (landmarks as steady as a large, sharp face gives: see models/liveness.py)
    assert not any(_play(check, 6.0, lambda t: _person(t, blinks=()), noise_px=0.3))
    assert check.motion_at_s is not None and check.blink_at_s is None


def test_blinking_without_moving_the_head_is_not_enough() -> None:
    check = LivenessCheck()
    assert not any(_play(check, 6.0, lambda t: _person(t, blinks=(1.0, 3.0), turn_deg=0.0)))
    assert check.blink_at_s is not None and check.motion_at_s is None


def test_eyes_shut_for_a_second_are_not_a_blink() -> None:
    check = LivenessCheck()
    _play(check, 4.0, lambda t: affine(face_points(eyes_open=_eyes(t, (1.0,), closed_s=1.0))), noise_px=0.3)
    assert check.blink_at_s is None


def test_a_blink_and_a_head_turn_seconds_apart_do_not_count_together() -> None:
    def face(t: float) -> np.ndarray:  # blinks at 1 s holding still; turns the head only from 7 s on
        yaw = 15 * math.sin((t - 7) * 2.5) if t > 7 else 0.0
        return affine(face_points(yaw, 0, _eyes(t, (1.0,))))

    check = LivenessCheck(LivenessConfig(window_s=4.0))
    assert not any(_play(check, 9.0, face, noise_px=0.3))
    assert check.blink_at_s is not None and check.motion_at_s is not None
