"""A video of a still photo held up to a camera: what a liveness check must never let through.

Used by the liveness tests and by ``bench/bench_liveness.py``. The photo is pasted on a dark, noisy background
and moved along a smooth path as a hand would move it: shifted, scaled (towards and away from the camera),
turned in the picture plane, tilted a little (a perspective warp, as a sheet held at a slant) and lit a little
brighter or darker; each frame gets fresh camera noise. The face on it never blinks and never turns.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray


def _wave(t: float, periods: tuple[float, ...], phase: float) -> float:
    """A smooth value in about [-1, 1]: the mean of sines with these periods (seconds)."""
    return sum(math.sin(2 * math.pi * t / p + phase * (i + 1)) for i, p in enumerate(periods)) / len(periods)


def _corners(t: float, photo_wh: tuple[int, int], frame_wh: tuple[int, int], face_frac: float) -> NDArray[np.float32]:
    """Where the photo's four corners are at time ``t`` (seconds): moved, scaled, turned and tilted."""
    (pw, ph), (fw, fh) = photo_wh, frame_wh
    scale = face_frac * fh / ph * (1.0 + 0.25 * _wave(t, (3.1, 4.7), 0.3))
    angle = math.radians(8.0 * _wave(t, (2.3, 3.7), 1.1))
    cx = fw / 2 + 0.18 * fw * _wave(t, (4.1, 2.9), 2.0)
    cy = fh / 2 + 0.10 * fh * _wave(t, (3.3, 5.3), 0.7)
    tilt_x, tilt_y = 0.06 * _wave(t, (2.7,), 0.5), 0.06 * _wave(t, (3.9,), 1.7)
    half = np.array([[-pw, -ph], [pw, -ph], [pw, ph], [-pw, ph]], np.float64) / 2
    # a slanted sheet: the far edge looks shorter (a simple keystone, up to 6 % per axis)
    half[:, 0] *= 1.0 + tilt_y * np.sign(half[:, 1])
    half[:, 1] *= 1.0 + tilt_x * np.sign(half[:, 0])
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return (half * scale @ rot.T + [cx, cy]).astype(np.float32)


def still_photo_frames(
    photo: NDArray[np.uint8], seconds: float = 10.0, fps: float = 30.0, size: tuple[int, int] = (640, 360),
    face_frac: float = 0.7, seed: int = 0,
) -> list[NDArray[np.uint8]]:
    """The frames (BGR, ``size`` = (width, height)) of ``photo`` (BGR) held up to a camera.

    Args:
        face_frac: the photo's height as a share of the frame's height (at the middle of its scale range).
        seed: the camera noise (the motion is the same for every seed).
    """
    rng = np.random.default_rng(seed)
    fw, fh = size
    ph, pw = photo.shape[:2]
    ys = np.linspace(0, 1, fh, dtype=np.float32)[:, None, None]
    background = (np.array([40, 30, 25], np.float32) * (0.6 + 0.8 * ys)).repeat(fw, axis=1)
    source = np.float32([[0, 0], [pw, 0], [pw, ph], [0, ph]])
    frames = []
    for i in range(int(round(seconds * fps))):
        t = i / fps
        warp = cv2.getPerspectiveTransform(source, _corners(t, (pw, ph), size, face_frac))
        sheet = cv2.warpPerspective(photo.astype(np.float32), warp, size, flags=cv2.INTER_LINEAR)
        mask = cv2.warpPerspective(np.ones((ph, pw), np.float32), warp, size)[..., None]
        light = 1.0 + 0.12 * _wave(t, (2.1, 5.9), 0.9)
        frame = background * (1 - mask) + sheet * mask * light + rng.normal(0, 3.0, (fh, fw, 3))
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return frames


def write_video(frames: list[NDArray[np.uint8]], path: Path, fps: float = 30.0) -> Path:
    """Write BGR ``frames`` as an MP4 (``mp4v``) file that OpenCV reads back; returns ``path``."""
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()
    return path
