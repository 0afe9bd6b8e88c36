"""A synthetic face in dlib's 68-point layout that can blink, turn, nod, and be moved like a photo.

The face is a rough 3-D shape (units: about half the distance between the eyes): the eyes, brows and mouth lie
near one plane, the nose tip stands 0.5 out of it and the jaw curves back. It is turned (yaw, pitch) and
projected orthographically, then mapped by a 2-D affine transform (how a flat photo moves in a picture).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray


def _eye(cx: float, opening: float) -> list[tuple[float, float, float]]:
    """Six eye points in dlib's order (left to right in the image: corner, two upper lid points, the other
    corner, two lower lid points, right to left)."""
    h = 0.06 * opening
    pts = [(cx - 0.2, 0.0), (cx - 0.07, -h), (cx + 0.07, -h), (cx + 0.2, 0.0), (cx + 0.07, h), (cx - 0.07, h)]
    return [(x, y, 0.0) for x, y in pts]


def face_points(yaw_deg: float = 0.0, pitch_deg: float = 0.0, eyes_open: float = 1.0) -> NDArray[np.float64]:
    """The 68 points (68, 2) of the face turned by ``yaw_deg``/``pitch_deg``; ``eyes_open`` 1 open, 0 shut
    (the eye aspect ratio is 0.3 × ``eyes_open``)."""
    pts: list[tuple[float, float, float]] = []
    for i in range(17):  # jaw, from the image-left ear round the chin to the image-right ear
        theta = math.pi - math.pi * i / 16
        pts.append((math.cos(theta), 0.1 + 1.2 * math.sin(theta), -0.3))
    pts += [(-0.9 + 0.175 * i, -0.35, 0.05) for i in range(5)] + [(0.2 + 0.175 * i, -0.35, 0.05) for i in range(5)]
    pts += [(0.0, -0.1 + 0.183 * i, 0.1 + 0.133 * i) for i in range(4)]  # bridge to the tip (30)
    pts += [(-0.25 + 0.125 * i, 0.55, 0.35 - 0.1 * abs(i - 2)) for i in range(5)]
    pts += _eye(-0.5, eyes_open) + _eye(0.5, eyes_open)
    pts += [(0.4 * -math.cos(2 * math.pi * i / 12), 0.9 + 0.15 * -math.sin(2 * math.pi * i / 12), 0.1) for i in range(12)]
    pts += [(0.25 * -math.cos(2 * math.pi * i / 8), 0.9 + 0.06 * -math.sin(2 * math.pi * i / 8), 0.1) for i in range(8)]
    xyz = np.asarray(pts, dtype=np.float64)
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    turn = np.array([[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0, math.cos(yaw)]])
    nod = np.array([[1, 0, 0], [0, math.cos(pitch), -math.sin(pitch)], [0, math.sin(pitch), math.cos(pitch)]])
    return (xyz @ (nod @ turn).T)[:, :2]


def affine(
    points: NDArray[np.float64], scale: float = 40.0, angle_deg: float = 0.0, shift: tuple[float, float] = (320, 180),
    shear: float = 0.0, squash: float = 1.0,
) -> NDArray[np.float64]:
    """``points`` mapped as a photo moves: scaled, sheared/squashed (a tilted sheet), turned, shifted (pixels)."""
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    warp = rot @ np.array([[1.0, shear], [0.0, squash]]) * scale
    return points @ warp.T + np.asarray(shift)
