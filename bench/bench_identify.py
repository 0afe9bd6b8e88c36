"""End-to-end identification on real photos with the default backend, and enrollment speed.

1. Enroll ``five-celebrity/train`` with ``enroll-folder``, identify ``five-celebrity/val``: correct = the right
   person named and nobody else in that photo.
2. Enroll one 50-megapixel photo (an upscaled ``obama.jpg``): seconds.

Usage: ``python bench/bench_identify.py``. Prints the figures.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("ROLLCALL_SHARED", REPO.parent / "shared"))

import main  # noqa: E402


def run(data: Path, *args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main.run(["--data-dir", str(data), *args])
    if code != 0:
        raise SystemExit(f"command failed: {args}")
    return out.getvalue()


def five_celebrity(tmp: Path) -> None:
    root = SHARED / "data" / "five-celebrity"
    t0 = time.perf_counter()
    run(tmp / "celeb", "enroll-folder", str(root / "train"))
    t1 = time.perf_counter()
    val = sorted(str(p) for p in (root / "val").glob("*/*") if p.is_file())
    report = json.loads(run(tmp / "celeb", "identify", "--json", *val))
    t2 = time.perf_counter()
    correct = 0
    for entry in report:
        truth = Path(entry["image"]).parent.name.replace("_", " ").title()
        named = {f["name"] for f in entry["faces"]} - {None}
        correct += named == {truth}
        if named != {truth}:
            print(f"  miss: {Path(entry['image']).parent.name}/{Path(entry['image']).name[:40]} -> {sorted(named) or 'no name'}")
    print(f"five-celebrity: {correct}/{len(report)} val photos correct; enroll-folder {t1 - t0:.1f} s, identify {t2 - t1:.1f} s")


def big_photo(tmp: Path) -> None:
    bgr = cv2.imread(str(SHARED / "data" / "face-recognition-examples" / "examples" / "obama.jpg"))
    scale = np.sqrt(50e6 / (bgr.shape[0] * bgr.shape[1]))
    big = cv2.resize(bgr, None, fx=scale, fy=scale)
    path = tmp / "big.jpg"
    cv2.imwrite(str(path), big, [cv2.IMWRITE_JPEG_QUALITY, 85])
    run(tmp / "big", "people")  # database created outside the timing
    t0 = time.perf_counter()
    run(tmp / "big", "enroll", "--name", "Obama", str(path))
    mp = big.shape[0] * big.shape[1] / 1e6
    print(f"enroll of a {mp:.1f}-megapixel photo: {time.perf_counter() - t0:.1f} s (includes loading the models)")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        five_celebrity(Path(d))
        big_photo(Path(d))
