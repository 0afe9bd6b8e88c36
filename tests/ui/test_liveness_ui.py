"""Liveness in the window: the Settings checkbox is saved and used by the next Start, where an enrolled
person's still photo held up to the camera stays "Checking…" and is not marked."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt

from app.config import SETTINGS_FILE
from app.ui.video_view import track_label
from tests.ui.conftest import FAKE, FakeCamera, camera_frame
from tests.ui.helpers import enroll

JERRY_VAL = "httpafilesbiographycomimageuploadcfillcssrgbdprgfacehqwMTIwNjANjMMDINzIxNjcjpg.jpg"


def _turn_liveness_on(qtbot, window) -> None:  # noqa: ANN001
    window.go_to("Settings")
    page = window.settings
    assert not page.liveness.isChecked(), "off by default"
    page.liveness.setChecked(True)
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)


def test_the_liveness_checkbox_is_saved(qtbot, window) -> None:  # noqa: ANN001
    _turn_liveness_on(qtbot, window)
    saved = json.loads((window.ctx.config.data_dir / SETTINGS_FILE).read_text())
    assert saved["liveness"] is True and window.ctx.config.settings.liveness is True
    window.settings.load()
    assert window.settings.liveness.isChecked()


def test_with_liveness_on_a_still_photo_stays_checking_and_is_not_marked(qtbot, window, celebs: Path, cameras) -> None:  # noqa: ANN001
    person = enroll(window.ctx, "Jerry Seinfeld", sorted((celebs / "train" / "jerry_seinfeld").glob("*.jpg"))[:4])
    window.live.refresh_people()
    _turn_liveness_on(qtbot, window)
    window.go_to("Live")
    photo = camera_frame(celebs / "val" / "jerry_seinfeld" / JERRY_VAL)
    cameras["door"] = FakeCamera([photo], fps=30, frames=90)  # his photo held still for 3 s
    seen: list = []
    window.live.source_edit.setText(FAKE + "door")
    qtbot.mouseClick(window.live.start_button, Qt.MouseButton.LeftButton)
    window.live.loop.result.connect(lambda loop, frame, update: seen.append(update))
    qtbot.waitUntil(lambda: not window.live.running, timeout=60_000)

    with_face = [u for u in seen if u.tracks]
    assert len(with_face) >= 5 and with_face[-1].time_s - with_face[0].time_s >= 2.0, "followed for 2 s or more"
    shown = [t for u in with_face for t in u.tracks]
    assert {track_label(t) for t in shown} == {"Checking…"}
    assert window.live.marked_list.count() == 0
    assert window.ctx.repo.list_events(person_id=person.id) == []
