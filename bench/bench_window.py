"""The real window on the Hamilton clip: frames per second shown, and how soon a face's name appears.

Enrolls Lin-Manuel Miranda (``examples/lin-manuel-miranda.png``) into a temporary data folder, opens the real
main window (offscreen, or on the X display in ``$DISPLAY`` with ``--display``, e.g. under ``xvfb-run``),
starts the live view on ``../shared/video/hamilton_clip.mp4`` (played at its own 29.97 frames/s, like a
camera) and measures on the UI thread:

* **fps shown**: distinct frames painted per second, from the first to the last painted frame;
* **name latency**: for each track that got a name, wall-clock time from the first painted frame showing
  its box to the first painted frame showing its name (plus the same on the video's own clock).

Targets (issue 3): ≥ 25 frames/s shown, name within 300 ms. Usage:
``python bench/bench_window.py [--display] [--json] [--runs N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SHARED = Path(os.environ.get("ROLLCALL_SHARED", Path(__file__).resolve().parents[2] / "shared"))
LIN = SHARED / "data" / "face-recognition-examples" / "examples" / "lin-manuel-miranda.png"
CLIP = SHARED / "video" / "hamilton_clip.mp4"


class Probe:
    """Watches the live page's updates and paints on the UI thread."""

    def __init__(self, window) -> None:  # noqa: ANN001
        self.window = window
        self.first_box: dict[int, float] = {}
        self.first_name: dict[int, tuple[float, str, float]] = {}
        self.paint_times: list[float] = []
        self.stage_ms: dict[str, list[float]] = {}
        self._last_painted = 0

    def on_result(self, loop, frame, update) -> None:  # noqa: ANN001
        now = time.perf_counter()
        for key, ms in update.timings_ms.items():
            self.stage_ms.setdefault(key, []).append(ms)
        for t in update.tracks:
            self.first_box.setdefault(t.track_id, now)
            if t.state == "known" and t.track_id not in self.first_name:
                source_latency = (t.named_at_s or 0.0) - t.first_seen_s
                self.first_name[t.track_id] = (now, str(t.name), source_latency)

    def on_tick(self) -> None:
        video = self.window.live.video
        if video.frames_painted != self._last_painted:
            self._last_painted = video.frames_painted
            self.paint_times.append(time.perf_counter())


def run_once(app, data_dir: Path) -> dict[str, object]:  # noqa: ANN001
    from app.config import build_config
    from app.context import AppContext
    from app.services.enrollment import enroll_paths
    from app.ui.launch import create_window, every

    ctx = AppContext(build_config(str(data_dir)))
    enroll_paths(ctx, "Lin-Manuel Miranda", None, [LIN])
    window = create_window(ctx)
    window.resize(1100, 700)
    window.show()
    app.processEvents()
    probe = Probe(window)
    window.live.start(str(CLIP))
    window.live.loop.result.connect(probe.on_result)
    # Paints happen in the event loop; sample the painted-frame counter right after each event batch.
    ticker = every(1, probe.on_tick)
    start = time.perf_counter()
    while window.live.running and time.perf_counter() - start < 60:
        app.processEvents()
        time.sleep(0.001)
    ticker.stop()
    marked = [window.live.marked_list.item(i).text() for i in range(window.live.marked_list.count())]
    window.close()
    window.deleteLater()
    app.processEvents()
    ctx.close()
    times = probe.paint_times
    fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    latencies = {tid: (named - probe.first_box[tid], name, src) for tid, (named, name, src) in probe.first_name.items()}
    return {
        "frames_painted": len(times),
        "fps_shown": round(fps, 1),
        "name_latency_ms": {f"{name} (track {tid})": round(ms * 1000) for tid, (ms, name, _) in latencies.items()},
        "name_latency_video_ms": {f"{name} (track {tid})": round(s * 1000) for tid, (_, name, s) in latencies.items()},
        "stage_ms_mean": {k: round(statistics.fmean(v), 1) for k, v in probe.stage_ms.items()},
        "marked": marked,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--display", action="store_true", help="use $DISPLAY (e.g. under xvfb-run) instead of offscreen")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--runs", type=int, default=1, help="repeat the measurement")
    args = parser.parse_args()
    for path in (LIN, CLIP):
        if not path.exists():
            print(f"missing {path} (set ROLLCALL_SHARED)", file=sys.stderr)
            return 1
    if not args.display:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from app.ui.launch import application

    app = application()
    results = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="rollcall-bench-") as tmp:
            os.environ["ROLLCALL_DATA"] = tmp
            results.append(run_once(app, Path(tmp)))
    out = {"platform": app.platformName(), "cpus": os.cpu_count(), "runs": results}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for r in results:
            print(f"[{out['platform']}] fps shown {r['fps_shown']} ({r['frames_painted']} frames painted)")
            for k, v in r["name_latency_ms"].items():
                print(f"  name shown {v} ms after the box (video clock {r['name_latency_video_ms'][k]} ms): {k}")
            print(f"  mean ms per processed frame: {r['stage_ms_mean']}")
            print(f"  marked: {r['marked']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
