"""Live recognition speed on the Hamilton clip: frames/s, ms per stage, and how fast a face gets its name.

Enrolls Lin-Manuel Miranda and the five people of knn_examples/train into a temporary data folder, then:

* ``fast``: what ``python main.py watch`` does (file read as fast as possible): frames/s of wall time and of
  process CPU time (the machine may be shared: CPU frames/s is what one core gives), ms per stage, the
  people marked, and name latency on the video's clock (first detection → name);
* ``paced``: what the window does (:class:`LatestFrameReader` playing the file at 29.97 frames/s, recognition
  always taking the newest frame): frames processed per second, frames dropped, and the wall-clock time from
  the frame where a face first appeared being due to its name being known.

Usage: ``python bench/bench_watch.py [--detect-every K] [--json]``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.config import build_config  # noqa: E402
from app.context import AppContext  # noqa: E402
from app.services.enrollment import enroll_paths  # noqa: E402
from app.services.live import LiveConfig, LiveRecognizer, run_watch  # noqa: E402
from models.sources import LatestFrameReader, ReaderState, open_source  # noqa: E402

SHARED = Path(os.environ.get("ROLLCALL_SHARED", Path(__file__).resolve().parents[2] / "shared"))
EXAMPLES = SHARED / "data" / "face-recognition-examples" / "examples"
CLIP = SHARED / "video" / "hamilton_clip.mp4"


def enroll(ctx: AppContext) -> None:
    enroll_paths(ctx, "Lin-Manuel Miranda", None, [EXAMPLES / "lin-manuel-miranda.png"], strict=False)
    for folder in sorted(glob.glob(str(EXAMPLES / "knn_examples" / "train" / "*"))):
        enroll_paths(ctx, Path(folder).name, None, [folder], strict=False)


def fast(ctx: AppContext, config: LiveConfig) -> dict[str, object]:
    cpu0 = time.process_time()
    summary = run_watch(ctx, str(CLIP), f"bench-fast-{time.time()}", config=config)
    cpu = time.process_time() - cpu0
    return {
        "frames": summary.frames,
        "fps_wall": round(summary.fps, 1),
        "fps_cpu": round(summary.frames / cpu, 1),
        "stage_ms": {k: round(v, 2) for k, v in summary.stage_ms.items()},
        "marked": [e.person_name for e in summary.events],
        "name_latency_ms_video_clock": [round(s * 1000) for s in summary.named_latency_s],
    }


def paced(ctx: AppContext, config: LiveConfig) -> dict[str, object]:
    recognizer = LiveRecognizer(ctx, None, config)
    source = open_source(str(CLIP))
    processed, latency, named = 0, [], set()
    with LatestFrameReader(source, realtime=True) as reader:
        t0 = time.monotonic()
        while True:
            frame = reader.get(timeout=1.0)
            if frame is None:
                if reader.state is not ReaderState.RUNNING:
                    break
                continue
            update = recognizer.process(frame)
            processed += 1
            now = time.monotonic()
            for view in update.tracks:
                if view.named_at_s is not None and view.track_id not in named:
                    named.add(view.track_id)
                    latency.append(round((now - (t0 + view.first_seen_s)) * 1000))
        seconds = time.monotonic() - t0
        dropped = reader.dropped
    return {"frames_shown_per_s": round(processed / seconds, 1), "processed": processed, "dropped": dropped,
            "name_latency_ms_wall": latency}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detect-every", type=int, default=LiveConfig().detect_every)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not CLIP.exists():
        print(f"{CLIP} is absent (set ROLLCALL_SHARED)", file=sys.stderr)
        return 1
    config = replace(LiveConfig(), detect_every=args.detect_every)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = AppContext(build_config(tmp))
        try:
            enroll(ctx)
            report = {"detect_every": args.detect_every, "cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0],
                      "fast": fast(ctx, config), "paced": paced(ctx, config)}  # fmt: skip
        finally:
            ctx.close()
    if args.json:
        print(json.dumps(report))
    else:
        f, p = report["fast"], report["paced"]
        print(f"detect every {args.detect_every} frame(s); {report['cpus']} CPUs, load average {report['load_avg_1m']:.1f}")
        print(f"watch (unpaced): {f['frames']} frames, {f['fps_wall']} frames/s wall, {f['fps_cpu']} frames/s per CPU second")
        print("  ms per frame: " + ", ".join(f"{k} {v}" for k, v in f["stage_ms"].items()))
        print(f"  marked: {f['marked']}; first detection → name (video clock): {f['name_latency_ms_video_clock']} ms")
        print(f"window-like (paced at the file's fps): {p['frames_shown_per_s']} frames/s processed, "
              f"{p['dropped']} stale frames dropped; face due → name (wall clock): {p['name_latency_ms_wall']} ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
