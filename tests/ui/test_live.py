"""The live view on a fake camera showing real faces: names shown, marked once, Unknown stays Unknown."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.ui.live_page import list_goes_below
from app.ui.video_view import COLOURS, track_label
from models import sources
from tests.ui.conftest import FAKE, FakeCamera, camera_frame
from tests.ui.helpers import count_colour, enroll

JERRY_VAL = "httpafilesbiographycomimageuploadcfillcssrgbdprgfacehqwMTIwNjANjMMDINzIxNjcjpg.jpg"


def _jerry_enrolled(window, celebs: Path) -> int:
    person = enroll(window.ctx, "Jerry Seinfeld", sorted((celebs / "train" / "jerry_seinfeld").glob("*.jpg"))[:4])
    window.live.refresh_people()
    return person.id


def _start(qtbot, window, name: str) -> list:
    """Start the live view on fake camera ``name``; returns a list collecting every update shown."""
    seen: list = []
    window.live.source_edit.setText(FAKE + name)
    qtbot.mouseClick(window.live.start_button, Qt.MouseButton.LeftButton)
    window.live.loop.result.connect(lambda loop, frame, update: seen.append(update))  # runs on the worker thread
    return seen


def test_live_view_names_an_enrolled_person_and_marks_them_once(qtbot, window, celebs: Path, cameras) -> None:
    person_id = _jerry_enrolled(window, celebs)
    jerry = camera_frame(celebs / "val" / "jerry_seinfeld" / JERRY_VAL)
    blank = np.full_like(jerry, 90)
    # Jerry stays 1.5 s, leaves for 1 s, comes back: a new track, but he is marked only once this session.
    cameras["door"] = FakeCamera([jerry, blank], fps=30, frames=45 + 30 + 45, hold=45)
    seen = _start(qtbot, window, "door")

    def named() -> bool:
        return any(t.state == "known" and t.name == "Jerry Seinfeld" for t in window.live.video.tracks)

    qtbot.waitUntil(named, timeout=20_000)
    label = [track_label(t) for t in window.live.video.tracks][0]
    assert label.startswith("Jerry Seinfeld")
    assert count_colour(window.live.video, COLOURS["known"], 10) > 200, "a green box is painted around the face"
    qtbot.waitUntil(lambda: not window.live.running, timeout=30_000)

    assert window.live.banner.isVisible() and "ended" in window.live.banner.text.text()
    assert len({u.tracks[0].track_id for u in seen if u.tracks}) >= 2, "he was seen twice, as two tracks"
    assert window.live.marked_list.count() == 1
    assert window.live.marked_list.item(0).text().startswith("✓ Jerry Seinfeld ")
    events = window.ctx.repo.list_events(person_id=person_id)
    assert len(events) == 1 and events[0].source == "camera"
    assert window.chime.played == 1


def test_unknown_face_stays_unknown(qtbot, window, celebs: Path, cameras) -> None:
    _jerry_enrolled(window, celebs)
    madonna = camera_frame(next(iter(sorted((celebs / "val" / "madonna").glob("*.jpg")))))
    cameras["stranger"] = FakeCamera([madonna], fps=30, frames=75)
    seen = _start(qtbot, window, "stranger")

    qtbot.waitUntil(lambda: any(t.state == "unknown" for t in window.live.video.tracks), timeout=20_000)
    assert track_label(window.live.video.tracks[0]) == "Unknown"
    assert count_colour(window.live.video, COLOURS["unknown"], 10) > 200, "Unknown is drawn in its own colour"
    qtbot.waitUntil(lambda: not window.live.running, timeout=20_000)

    states = {t.state for u in seen for t in u.tracks}
    assert "known" not in states
    assert window.live.marked_list.count() == 0
    assert window.ctx.repo.list_events() == []


def test_source_that_fails_to_open_shows_the_message(qtbot, window, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-clip.mp4"
    window.live.source_edit.setText(str(missing))
    qtbot.mouseClick(window.live.start_button, Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: window.live.banner.isVisible(), timeout=10_000)
    assert "no such file" in window.live.banner.text.text()
    assert str(missing) in window.live.banner.text.text()
    qtbot.waitUntil(lambda: not window.live.running, timeout=5_000)
    assert window.live.start_button.text() == "Start"
    assert not window.live.status.text().startswith("Opening"), "no stale 'Opening …' once it failed"
    assert window.live.status.text().startswith("Stopped")
    assert window.isVisible()


def _short_video(path: Path, frames: int = 8) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (160, 90))
    for i in range(frames):
        writer.write(np.full((90, 160, 3), 40 + 10 * i, np.uint8))
    writer.release()
    return path


def test_after_a_video_ends_the_status_says_stopped_and_the_banner_is_a_sentence(qtbot, window, tmp_path: Path) -> None:
    clip = _short_video(tmp_path / "short.avi")
    window.live.start(str(clip))
    qtbot.waitUntil(lambda: window.live.status.text().startswith("Watching"), timeout=20_000)
    qtbot.waitUntil(lambda: not window.live.running, timeout=20_000)

    status, banner = window.live.status.text(), window.live.banner.text.text()
    assert "Watching" not in status and status.startswith("Stopped") and "ended" in status
    assert banner.startswith("Video file ") and "short.avi has ended." in banner, banner
    assert window.live.start_button.text() == "Start"


def test_a_camera_that_cannot_be_opened_is_named_in_the_status_and_the_banner_is_a_sentence(qtbot, window, monkeypatch) -> None:
    class NoCamera:  # what OpenCV gives for a camera index with no camera behind it
        def __init__(self, target: object) -> None:
            self.target = target

        def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
            return False

        def release(self) -> None:
            pass

    monkeypatch.setattr(sources.cv2, "VideoCapture", NoCamera)
    window.live.start("0")
    qtbot.waitUntil(lambda: not window.live.running, timeout=10_000)

    assert window.live.status.text() == "Stopped: camera 0 could not be opened.", "no stale 'Opening 0…'"
    assert window.live.banner.isVisible()
    assert window.live.banner.text.text().startswith("Camera 0 could not be opened: is it connected")


def test_nobody_enrolled_shows_no_empty_list_of_marks_until_the_picture_shows(qtbot, window) -> None:
    window.show()
    live = window.live
    assert live.stack.currentIndex() == 0, "the first run says nobody is enrolled"
    assert not live.side_box.isVisible() and not live.list_button.isVisible()
    live.stack.setCurrentIndex(1)  # as Start does
    assert live.side_box.isVisible() and live.list_button.isVisible()


def _shown_picture(video) -> tuple[float, float]:  # noqa: ANN001
    """Width and height of a 16:9 picture letterboxed in ``video``."""
    width = min(video.width(), video.height() * 16 / 9)
    return width, width * 9 / 16


@pytest.mark.parametrize("size", [(1100, 700), (1280, 800)])
def test_on_a_laptop_window_the_marks_go_under_a_16_9_picture_that_fills_its_area(qtbot, window, size) -> None:
    window.resize(*size)
    window.show()
    window.live.stack.setCurrentIndex(1)
    qtbot.waitUntil(lambda: window.live.list_below, timeout=5000)
    video = window.live.video
    width, height = _shown_picture(video)
    assert height / video.height() > 0.9 and width / video.width() > 0.9, "no wide black bars around the picture"
    side = window.live.side_box
    assert side.isVisible() and side.geometry().top() >= video.geometry().bottom(), "the list of marks is under it"


def test_a_message_in_the_banner_does_not_move_the_list_of_marks(qtbot, window) -> None:
    window.show()
    live = window.live
    live.stack.setCurrentIndex(1)
    width = 1100
    while width < 1800:  # the widest window in which the list still goes under the picture
        window.resize(width + 8, 720)
        qtbot.wait(20)
        if not live.list_below:
            break
        width += 8
    window.resize(width, 720)
    qtbot.waitUntil(lambda: live.list_below, timeout=5000)
    live.banner.say("Video file clip.mp4 has ended. Everyone marked so far is saved.", "info")
    qtbot.wait(100)
    assert live.list_below, "the list jumped beside the picture while a message showed"


def test_on_a_wide_window_the_marks_stay_beside_the_picture_in_a_narrow_column(qtbot, window) -> None:
    window.resize(1900, 700)
    window.show()
    window.live.stack.setCurrentIndex(1)
    qtbot.waitUntil(lambda: window.live._list_below is False, timeout=5000)
    assert window.live.side_box.width() <= 200, "the list of marks is narrow"
    _, height = _shown_picture(window.live.video)
    assert height / window.live.video.height() > 0.9


def test_the_picture_gets_more_room_when_the_marked_list_is_hidden(qtbot, window) -> None:
    window.resize(1100, 700)
    window.show()
    window.live.stack.setCurrentIndex(1)
    qtbot.waitUntil(lambda: window.live.list_below, timeout=5000)
    video = window.live.video
    height, shown = video.height(), _shown_picture(video)[0]
    qtbot.mouseClick(window.live.list_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: video.height() > height + 100, timeout=5000)
    assert not window.live.side_box.isVisible() and _shown_picture(video)[0] >= shown
    qtbot.mouseClick(window.live.list_button, Qt.MouseButton.LeftButton)
    assert window.live.side_box.isVisible()


@pytest.mark.parametrize(
    ("width", "height", "below"),
    [(900, 620, True), (1700, 620, False), (700, 700, True), (2400, 900, False)],
)
def test_list_goes_below_where_that_leaves_the_larger_picture(width: int, height: int, below: bool) -> None:
    assert list_goes_below(width, height, 16 / 9) is below
