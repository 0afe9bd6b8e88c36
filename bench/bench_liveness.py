"""Liveness on real and fake faces: is Lin-Manuel Miranda still marked, and is a still photo of him never marked?

Enrolls Lin-Manuel Miranda and the five people of knn_examples/train into a temporary data folder (as
``bench/bench_watch.py`` does), then runs live recognition exactly as ``watch`` does (every frame, file read as
fast as possible) with the liveness check off and on, on:

* ``../shared/video/hamilton_clip.mp4`` — who is marked, and for each named face the seconds (video clock)
  from its first detection to its name, and to passing the liveness check;
* videos of a still photo held up to a camera (``tests/still_video.py``: moved, scaled, turned, tilted, lit
  differently, 10 s at 30 frames/s), made from Miranda's enrollment photo (also with a smaller face) and from
  three frames of the clip, cached in ``bench/out/liveness/``: who is marked, how many tracks pass the liveness
  check (should be 0), how many saw a blink-like EAR dip or head motion on their own, the deepest EAR dip (as a
share of the face's baseline; a blink needs < 0.8) and the widest nose motion (head motion needs ≥ 0.15).

Usage: ``python bench/bench_liveness.py [--json]``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402

from app.config import build_config  # noqa: E402
from app.context import AppContext  # noqa: E402
from app.services.attendance import AttendanceMarker  # noqa: E402
from app.services.enrollment import enroll_paths  # noqa: E402
from app.services.live import LiveConfig, LiveRecognizer  # noqa: E402
from models.liveness import LivenessConfig  # noqa: E402
from models.sources import open_source  # noqa: E402
from tests.still_video import still_photo_frames, write_video  # noqa: E402

SHARED = Path(os.environ.get("ROLLCALL_SHARED", Path(__file__).resolve().parents[2] / "shared"))
EXAMPLES = SHARED / "data" / "face-recognition-examples" / "examples"
CLIP = SHARED / "video" / "hamilton_clip.mp4"
OUT = Path(__file__).resolve().parent / "out" / "liveness"
CLIP_FRAMES = {100: (0, 300, 100, 380), 174: (20, 300, 120, 400), 204: (0, 300, 60, 340)}
"""Frames of the clip showing Miranda, and the crop (top, bottom, left, right) printed as the photo."""


def enroll(ctx: AppContext) -> None:
    enroll_paths(ctx, "Lin-Manuel Miranda", None, [EXAMPLES / "lin-manuel-miranda.png"], strict=False)
    for folder in sorted(glob.glob(str(EXAMPLES / "knn_examples" / "train" / "*"))):
        enroll_paths(ctx, Path(folder).name, None, [folder], strict=False)


def still_videos() -> dict[str, Path]:
    """The still-photo videos (made once, then reused from ``bench/out/liveness``)."""
    OUT.mkdir(parents=True, exist_ok=True)
    photo = cv2.imread(str(EXAMPLES / "lin-manuel-miranda.png"))
    plans = {"photo": (photo, 0.7), "photo-small": (photo, 0.45)}
    capture = cv2.VideoCapture(str(CLIP))
    for index in range(max(CLIP_FRAMES) + 1):
        ok, frame = capture.read()
        if ok and index in CLIP_FRAMES:
            top, bottom, left, right = CLIP_FRAMES[index]
            plans[f"clip-frame-{index}"] = (frame[top:bottom, left:right].copy(), 0.8)
    capture.release()
    videos = {}
    for seed, (name, (image, face_frac)) in enumerate(plans.items()):
        path = OUT / f"still-{name}.mp4"
        if not path.exists():
            write_video(still_photo_frames(image, seconds=10.0, fps=30.0, face_frac=face_frac, seed=seed), path)
        videos[name] = path
    return videos


def run(ctx: AppContext, video: Path, liveness: bool) -> dict[str, object]:
    """Recognize and mark on ``video`` as ``watch`` does; what was marked and what the liveness check saw."""
    session = ctx.repo.get_or_create_session(f"bench-{video.stem}-{liveness}-{time.time()}")
    config = LiveConfig(liveness=LivenessConfig() if liveness else None)
    recognizer = LiveRecognizer(ctx, AttendanceMarker(ctx.repo, session, 0.0), config, source_label="video")
    first_seen: dict[int, float] = {}
    named: dict[int, tuple[str, float]] = {}
    checks: dict[int, object] = {}
    marked = []
    start = time.perf_counter()
    frames = 0
    with open_source(str(video)) as source:
        while (frame := source.read()) is not None:
            update = recognizer.process(frame)
            frames += 1
            marked += [e.person_name for e in update.events]
            checks.update(recognizer.live_checks)
            for view in update.tracks:
                first_seen.setdefault(view.track_id, view.first_seen_s)
                if view.named_at_s is not None and view.name:
                    named.setdefault(view.track_id, (view.name, view.named_at_s - view.first_seen_s))
    fps = frames / (time.perf_counter() - start)
    live = {tid: c for tid, c in checks.items() if c.live}  # type: ignore[attr-defined]
    return {
        "frames": frames,
        "fps": round(fps, 1),
        "marked": marked,
        "named": [{"track": tid, "name": n, "seconds_to_name": round(s, 2)} for tid, (n, s) in named.items()],
        "tracks": len(first_seen),
        "tracks_live": len(live),
        "seconds_to_live": [round(c.live_at_s - first_seen[tid], 2) for tid, c in live.items()],  # type: ignore[attr-defined]
        "tracks_with_blink": sum(c.blink_at_s is not None for c in checks.values()),  # type: ignore[attr-defined]
        "tracks_with_motion": sum(c.motion_at_s is not None for c in checks.values()),  # type: ignore[attr-defined]
        "deepest_ear_dip": round(min((c.deepest_dip for c in checks.values()), default=1.0), 2),  # type: ignore[attr-defined]
        "widest_nose_motion": round(max((c.widest_motion for c in checks.values()), default=0.0), 3),  # type: ignore[attr-defined]
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not CLIP.exists():
        print(f"{CLIP} is absent (set ROLLCALL_SHARED)", file=sys.stderr)
        return 1
    videos = {"hamilton": CLIP, **{f"still {k}": v for k, v in still_videos().items()}}
    report: dict[str, object] = {"cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 1)}
    with tempfile.TemporaryDirectory() as tmp:
        ctx = AppContext(build_config(tmp))
        try:
            enroll(ctx)
            for name, path in videos.items():
                report[name] = {"off": run(ctx, path, False), "on": run(ctx, path, True)}
        finally:
            ctx.close()
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{report['cpus']} CPUs, load average {report['load_avg_1m']}")
    for name in videos:
        off, on = report[name]["off"], report[name]["on"]  # type: ignore[index]
        print(f"{name}: {on['frames']} frames; liveness off: marked {off['marked']}, named {off['named']}")
        print(f"  liveness on: marked {on['marked']}, named {on['named']}; {on['tracks_live']} of {on['tracks']} "
              f"tracks live (seconds to live {on['seconds_to_live']}); blink seen on {on['tracks_with_blink']}, "
              f"head motion on {on['tracks_with_motion']} (deepest EAR dip {on['deepest_ear_dip']} of baseline, "
              f"widest nose motion {on['widest_nose_motion']}); {on['fps']} frames/s (off {off['fps']})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
