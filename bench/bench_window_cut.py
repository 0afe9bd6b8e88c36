"""The real window on the Hamilton clip: does a name cross a scene cut, does one face ever get two boxes?

Enrolls Lin-Manuel Miranda and the five people of knn_examples/train (as ``bench/bench_watch.py`` does) into a
temporary data folder, opens the real main window (offscreen, or on ``$DISPLAY`` with ``--display``, e.g.
``xvfb-run -a -s "-screen 0 1280x800x24" python bench/bench_window_cut.py --display``), plays
``../shared/video/hamilton_clip.mp4`` in the live view at its own frame rate and records, on the UI thread,
every picture the view shows with the boxes drawn on it. Then it counts, from those records:

* **labels across a cut**: pictures shown after a scene cut (found in the clip by
  :class:`models.tracking.SceneCutDetector`) carrying a box of a track that was already drawn before the cut
  (named, or any), within ``--after`` frames of the cut — must be 0;
* **two boxes on one face**: pictures where two boxes overlap by IoU > 0.3 or one contains the other's
  centre — must be 0;
* who was marked (Lin-Manuel Miranda exactly once), frames per second shown, and the first names shown after
  each cut.

Usage: ``python bench/bench_window_cut.py [--display] [--json] [--runs N] [--shots DIR]``.
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

SHARED = Path(os.environ.get("ROLLCALL_SHARED", Path(__file__).resolve().parents[2] / "shared"))
EXAMPLES = SHARED / "data" / "face-recognition-examples" / "examples"
CLIP = SHARED / "video" / "hamilton_clip.mp4"


def clip_cuts(path: Path) -> list[int]:
    """Frame indices of the clip that start a new shot (every frame compared with the one before)."""
    import cv2

    from models.tracking import SceneCutDetector

    capture, cuts, index = cv2.VideoCapture(str(path)), [], 0
    detector = SceneCutDetector()
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        if detector.is_cut(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)):
            cuts.append(index)
        index += 1
    capture.release()
    return cuts


def enroll(ctx) -> None:  # noqa: ANN001
    from app.services.enrollment import enroll_paths

    enroll_paths(ctx, "Lin-Manuel Miranda", None, [EXAMPLES / "lin-manuel-miranda.png"], strict=False)
    for folder in sorted(glob.glob(str(EXAMPLES / "knn_examples" / "train" / "*"))):
        enroll_paths(ctx, Path(folder).name, None, [folder], strict=False)


class ShownRecorder:
    """Records ``(frame index, tracks)`` each time the view is given a picture or new boxes (UI thread)."""

    def __init__(self, window, shots: Path | None, cuts: list[int]) -> None:  # noqa: ANN001
        self.page = window.live
        self.records: list[tuple[int, tuple]] = []
        self.paint_times: list[float] = []
        self._shots, self._pending_shots = shots, {c + k for c in cuts for k in (1, 10)}
        video = self.page.video
        real = video.show_frame

        def show_frame(image, tracks) -> None:  # noqa: ANN001
            real(image, tracks)
            index = self.page._shown_index
            self.records.append((index, tuple(tracks)))
            if image is not None:
                self.paint_times.append(time.perf_counter())
                if self._shots is not None and index in self._pending_shots:
                    self._pending_shots.discard(index)
                    video.repaint()
                    window.grab().save(str(self._shots / f"window_frame{index:03d}.png"))

        video.show_frame = show_frame


def crossings(records: list[tuple[int, tuple]], cuts: list[int], after: int) -> dict[int, dict[str, int]]:
    """Per cut: pictures within ``after`` frames after it showing a track drawn before it (named / any)."""
    out = {}
    for cut in cuts:
        before = {t.track_id for i, tracks in records if i < cut for t in tracks}
        named = any_box = 0
        for index in sorted({i for i, _ in records if cut <= i < cut + after}):
            shown = [t for i, tracks in records if i == index for t in tracks if t.track_id in before]
            any_box += bool(shown)
            named += any(t.state == "known" for t in shown)
        out[cut] = {"named": named, "any_box": any_box}
    return out


def _same_face(a, b) -> bool:  # noqa: ANN001
    def contains(box, point) -> bool:  # noqa: ANN001
        return box.x <= point[0] <= box.x + box.w and box.y <= point[1] <= box.y + box.h

    return a.iou(b) > 0.3 or contains(a, b.center) or contains(b, a.center)


def double_boxes(records: list[tuple[int, tuple]]) -> list[int]:
    """Frame indices where two boxes drawn together show one face."""
    bad = set()
    for index, tracks in records:
        boxes = [t.box for t in tracks]
        if any(_same_face(boxes[i], boxes[j]) for i in range(len(boxes)) for j in range(i + 1, len(boxes))):
            bad.add(index)
    return sorted(bad)


def first_names_after(records: list[tuple[int, tuple]], cuts: list[int]) -> dict[int, list[str]]:
    """Per cut: the names shown in the first 30 frames after it (with the frame each first appears)."""
    out: dict[int, list[str]] = {}
    for cut in cuts:
        seen: dict[str, int] = {}
        for index, tracks in records:
            if cut <= index < cut + 30:
                for t in tracks:
                    if t.state == "known":
                        seen.setdefault(f"{t.name} {t.score:.2f}", index)
        out[cut] = [f"{name} @{index}" for name, index in sorted(seen.items(), key=lambda kv: kv[1])]
    return out


def run_once(app, data_dir: Path, cuts: list[int], after: int, shots: Path | None) -> dict[str, object]:  # noqa: ANN001
    from app.config import build_config
    from app.context import AppContext
    from app.ui.launch import create_window

    ctx = AppContext(build_config(str(data_dir)))
    enroll(ctx)
    window = create_window(ctx)
    window.resize(1100, 700)
    window.show()
    app.processEvents()
    recorder = ShownRecorder(window, shots, cuts)
    window.live.refresh_people()
    window.live.start(str(CLIP))
    start = time.perf_counter()
    while window.live.running and time.perf_counter() - start < 90:
        app.processEvents()
        time.sleep(0.001)
    marked = [window.live.marked_list.item(i).text() for i in range(window.live.marked_list.count())]
    status, banner = window.live.status.text(), window.live.banner.text.text()
    window.close()
    window.deleteLater()
    app.processEvents()
    ctx.close()
    times, records = recorder.paint_times, recorder.records
    fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    doubles = double_boxes(records)
    lin = sum(1 for m in marked if "Lin-Manuel Miranda" in m)
    return {
        "pictures_shown": len(times),
        "fps_shown": round(fps, 1),
        "labels_across_cuts": crossings(records, cuts, after),
        "frames_with_two_boxes_on_one_face": len(doubles),
        "two_box_frames": doubles[:20],
        "names_after_cuts": first_names_after(records, cuts),
        "marked": marked,
        "lin_manuel_miranda_marked": lin,
        "status_after_end": status,
        "banner_after_end": banner,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--display", action="store_true", help="use $DISPLAY (e.g. under xvfb-run) instead of offscreen")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--runs", type=int, default=1, help="repeat the measurement")
    parser.add_argument("--after", type=int, default=45, help="frames after a cut to check (default 45, 1.5 s)")
    parser.add_argument("--shots", type=Path, help="save window screenshots 1 and 10 frames after each cut here")
    args = parser.parse_args()
    if not CLIP.exists() or not EXAMPLES.exists():
        print(f"missing {CLIP} or {EXAMPLES} (set ROLLCALL_SHARED)", file=sys.stderr)
        return 1
    if not args.display:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    if args.shots:
        args.shots.mkdir(parents=True, exist_ok=True)
    from app.ui.launch import application

    cuts = clip_cuts(CLIP)
    app = application()
    results = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="rollcall-bench-") as tmp:
            os.environ["ROLLCALL_DATA"] = tmp
            results.append(run_once(app, Path(tmp), cuts, args.after, args.shots))
    out = {"platform": app.platformName(), "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 1),
           "cuts": cuts, "runs": results}  # fmt: skip
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"[{out['platform']}] {out['cpus']} CPUs, load average {out['load_avg_1m']}; scene cuts at frames {cuts}")
    for r in results:
        crossing = {c: v["named"] for c, v in r["labels_across_cuts"].items()}
        boxes = {c: v["any_box"] for c, v in r["labels_across_cuts"].items()}
        print(f"  fps shown {r['fps_shown']} ({r['pictures_shown']} pictures)")
        print(f"  pictures after a cut with a name from before it: {crossing} (any box from before it: {boxes})")
        print(f"  pictures with two boxes on one face: {r['frames_with_two_boxes_on_one_face']} {r['two_box_frames']}")
        print(f"  names in the first 30 frames after each cut: {r['names_after_cuts']}")
        print(f"  marked: {r['marked']} (Lin-Manuel Miranda {r['lin_manuel_miranda_marked']}×)")
        print(f"  after the end: status {r['status_after_end']!r}; banner {r['banner_after_end']!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
