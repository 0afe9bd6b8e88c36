"""Milliseconds per face for every registered embedding backend whose weights are available.

    python bench/bench_backends.py [--faces 40] [--repeat 3] [--json]

Faces: the first ``--faces`` photos of ``../shared/data/lfw-dev/images`` (``ROLLCALL_SHARED`` overrides), found
once with the HOG detector. For each backend: align + embed one face at a time (as the live view does), after
one warm-up face; the figure is the median over ``--repeat`` passes. Detection is timed separately, since it
is the same for every backend. Backends that cannot load (weights not fetched, package missing) are listed
with the reason.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.config import default_cache_dir  # noqa: E402
from common.errors import RollcallError  # noqa: E402
from models.embedders.registry import known_backends  # noqa: E402
from models.engine import EngineConfig, FaceEngine  # noqa: E402
from models.imageio import load_image  # noqa: E402


def _faces(count: int) -> tuple[list, list, float]:
    """(images, landmarks, HOG ms per image) of the first ``count`` LFW photos that have a face."""
    shared = Path(os.environ.get("ROLLCALL_SHARED", REPO.parent / "shared"))
    paths = sorted((shared / "data" / "lfw-dev" / "images").glob("*/*.jpg"))
    if not paths:
        sys.exit(f"no LFW images under {shared}; set ROLLCALL_SHARED")
    detector = FaceEngine(EngineConfig(backend="dlib"))
    images, marks, spent = [], [], 0.0
    for path in paths:
        image = load_image(path)
        start = time.perf_counter()
        dets = detector.detect(image)
        spent += time.perf_counter() - start
        if dets:
            images.append(image)
            marks.append(dets[0].landmarks)
        if len(images) == count:
            break
    return images, marks, 1000 * spent / len(images)


def bench(name: str, images: list, marks: list, repeat: int) -> dict[str, object]:
    engine = FaceEngine(EngineConfig(backend=name, cache_dir=default_cache_dir()))
    try:
        engine.embed(images[0], [marks[0]])  # load + warm up
    except RollcallError as exc:
        return {"backend": name, "skipped": str(exc)}
    passes = []
    for _ in range(repeat):
        start = time.perf_counter()
        for image, lm in zip(images, marks):
            engine.embed(image, [lm])
        passes.append(1000 * (time.perf_counter() - start) / len(images))
    return {"backend": name, "ms_per_face": round(statistics.median(passes), 2), "dim": engine.info.dim,
            "faces": len(images), "options": "default (mirror averaging where the backend has it)"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", action="append", help="only these backends (repeatable)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    images, marks, hog_ms = _faces(args.faces)
    rows = [bench(name, images, marks, args.repeat) for name in (args.backend or known_backends())]
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    if args.json:
        print(json.dumps({"machine": machine, "hog_ms_per_image": round(hog_ms, 1), "backends": rows}, indent=2))
        return 0
    print(f"{machine}; HOG detection (250x250 LFW photo): {hog_ms:.1f} ms per image")
    for row in rows:
        if "skipped" in row:
            print(f"{row['backend']:12} skipped: {row['skipped']}")
        else:
            print(f"{row['backend']:12} {row['ms_per_face']:8.2f} ms per face (align + embed, {row['dim']}-d)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
