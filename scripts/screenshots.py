"""Screenshots of every page of the window, with sample data enrolled, into ``docs/screenshots/``.

Run under a virtual X server so the real ``xcb`` platform draws them::

    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python scripts/screenshots.py

(Debian packages: ``xvfb libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libpulse0``.) Without ``$DISPLAY`` it
falls back to the offscreen platform. Data comes from ``../shared`` (``ROLLCALL_SHARED`` overrides it) and
goes into a temporary data folder.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("ROLLCALL_SHARED", REPO.parent / "shared"))
EXAMPLES = SHARED / "data" / "face-recognition-examples" / "examples"
CELEBS = SHARED / "data" / "five-celebrity" / "train"
PHOTOS_EACH = 6
NAMES = {"ben_afflek": "Ben Affleck"}
"""Display names where the five-celebrity folder name is misspelt (others: the folder name in title case)."""
CLIP = SHARED / "video" / "hamilton_clip.mp4"
OUT = REPO / "docs" / "screenshots"


def pump(app, seconds: float, until=None) -> None:  # noqa: ANN001
    """Process events for ``seconds`` or until ``until()`` is true."""
    end = time.monotonic() + seconds
    while time.monotonic() < end and not (until and until()):
        app.processEvents()
        time.sleep(0.01)


def save(app, widget, name: str) -> None:  # noqa: ANN001
    pump(app, 0.3)
    path = OUT / f"{name}.png"
    widget.grab().save(str(path))
    print(f"wrote {path.relative_to(REPO)}")


def enroll_samples(ctx) -> None:  # noqa: ANN001
    """The five-celebrity people, plus two people the Hamilton clip shows, and yesterday's attendance."""
    from app.services.enrollment import enroll_paths

    enroll_paths(ctx, "Lin-Manuel Miranda", "S-1001", [EXAMPLES / "lin-manuel-miranda.png"])
    enroll_paths(ctx, "Barack Obama", "S-1044", sorted((EXAMPLES / "knn_examples" / "train" / "obama").glob("*.jpg")))
    for number, folder in enumerate(sorted(p for p in CELEBS.iterdir() if p.is_dir()), start=1101):
        name = NAMES.get(folder.name, folder.name.replace("_", " ").title())
        enroll_paths(ctx, name, f"S-{number}", sorted(folder.glob("*.jpg"))[:PHOTOS_EACH], strict=False)
    people = {p.name: p for p in ctx.repo.list_people()}
    session = ctx.repo.get_or_create_session("Drama club (yesterday)")
    t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)
    for minutes, name, score in ((0, "Barack Obama", 0.31), (3, "Madonna", 0.36), (4, "Elton John", 0.29)):
        ctx.repo.add_event(people[name].id, session.id, t0 + timedelta(minutes=minutes), "camera", score, "dlib")
    ctx.repo.add_event(people["Jerry Seinfeld"].id, session.id, t0 + timedelta(minutes=9), "manual")


def live_screenshots(app, window) -> None:  # noqa: ANN001
    """The clip with a name on a face (played again, up to three times, until someone is named: a busy CPU
    recognises fewer frames), then the page after the clip ended."""

    def named_and_in_step() -> bool:  # a moment where the box belongs to the very frame shown
        update, shown = window.live.last_update, window.live._shown_index
        named = any(t.state == "known" for t in window.live.video.tracks) and window.live.marked_list.count() > 0
        return named and update is not None and abs(shown - update.frame_index) <= 1

    for _ in range(3):
        window.live.start(str(CLIP))
        pump(app, 60, lambda: named_and_in_step() or not window.live.running)
        if named_and_in_step():
            break
        pump(app, 10, lambda: not window.live.running)
    save(app, window, "02-live")
    pump(app, 60, lambda: not window.live.running)
    save(app, window, "02-live-ended")


def main() -> int:
    if not CLIP.exists():
        print(f"missing {CLIP} (set ROLLCALL_SHARED)", file=sys.stderr)
        return 1
    if not os.environ.get("DISPLAY"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    data = Path(tempfile.mkdtemp(prefix="rollcall-shots-"))
    os.environ["ROLLCALL_DATA"] = str(data)
    from app.config import build_config
    from app.context import AppContext
    from app.ui.launch import application, create_window

    app = application()
    OUT.mkdir(parents=True, exist_ok=True)
    ctx = AppContext(build_config(str(data)))
    window = create_window(ctx)  # as `python main.py` opens it the first time
    window.resize(1180, 720)
    window.show()
    save(app, window, "01-first-run")

    enroll_samples(ctx)
    window.settings.show_source(str(CLIP))  # from here on as `python main.py --source CLIP` shows it
    window.live.refresh_people()
    window.chime.enabled = False
    live_screenshots(app, window)
    window.go_to("People")
    window.people.table.clearSelection()
    save(app, window, "03-people")
    window.people.table.selectRow(2)
    save(app, window, "03-people-selected")
    window.go_to("Attendance")
    save(app, window, "04-attendance")
    window.go_to("Settings")
    save(app, window, "05-settings")

    wizard = window.open_wizard()
    wizard.who.name_edit.setText("Alex Lacamoire")
    wizard.who.id_edit.setText("S-1077")
    save(app, wizard, "06-enroll-who")
    wizard.next()
    wizard.faces.analyze([str(EXAMPLES / "alex-lacamoire.png"), str(EXAMPLES / "knn_examples" / "train" / "alex_lacamoire"),
                          str(EXAMPLES / "two_people.jpg")])  # fmt: skip
    pump(app, 60, wizard.faces.isComplete)
    save(app, wizard, "07-enroll-photos")
    wizard.next()
    save(app, wizard, "08-enroll-review")
    wizard.next()
    pump(app, 30, wizard.save_page.isComplete)
    save(app, wizard, "09-enroll-saved")
    wizard.done(0)
    window.close()
    ctx.close()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip the interpreter's teardown: PySide6 6.12 can abort in it after a script (not after the app)
