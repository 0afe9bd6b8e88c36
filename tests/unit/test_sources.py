"""Frame sources and the latest-frame reader, with files the tests write and fake sources."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest

from common.errors import SourceError
from models.sources import Frame, LatestFrameReader, ReaderState, hide_credentials, open_source


def _bgr(colour: tuple[int, int, int], w: int = 64, h: int = 48) -> np.ndarray:
    return np.full((h, w, 3), colour, dtype=np.uint8)


def test_folder_source_yields_its_images_sorted_as_rgb_then_ends(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "b.png"), _bgr((0, 255, 0)))
    cv2.imwrite(str(tmp_path / "a.png"), _bgr((255, 0, 0)))  # blue in BGR
    (tmp_path / "notes.txt").write_text("not an image")
    with open_source(str(tmp_path)) as src:
        frames = [src.read(), src.read()]
        assert src.read() is None
        assert not src.is_live
    assert [f.index for f in frames] == [0, 1]
    assert tuple(frames[0].image[0, 0]) == (0, 0, 255)  # blue, now in RGB order
    assert tuple(frames[1].image[0, 0]) == (0, 255, 0)
    assert frames[1].time_s > frames[0].time_s


def test_folder_source_skips_an_unreadable_image(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), _bgr((1, 2, 3)))
    (tmp_path / "b.jpg").write_bytes(b"")
    cv2.imwrite(str(tmp_path / "c.png"), _bgr((4, 5, 6)))
    with open_source(str(tmp_path)) as src:
        images = [src.read(), src.read(), src.read()]
    assert images[2] is None and images[1].index == 1


def test_video_file_uses_its_own_frame_rate_for_time(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for i in range(5):
        writer.write(_bgr((0, 0, 50 * i)))
    writer.release()
    with open_source(str(path)) as src:
        frames = []
        while (f := src.read()) is not None:
            frames.append(f)
    assert src.fps == pytest.approx(10.0)
    assert [round(f.time_s, 3) for f in frames] == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert frames[0].image.shape == (48, 64, 3)


def test_missing_file_names_it_and_says_what_to_give(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.mp4"
    with pytest.raises(SourceError, match=r"nowhere\.mp4: no such file.*camera index"):
        open_source(str(missing))


def test_a_file_that_is_not_a_video_is_refused_by_name(tmp_path: Path) -> None:
    fake = tmp_path / "fake.mp4"
    fake.write_text("hello")
    with pytest.raises(SourceError, match=r"video file .*fake\.mp4 could not be opened"):
        open_source(str(fake))


def test_absent_camera_says_so_and_offers_a_video_file() -> None:
    with pytest.raises(SourceError, match=r"camera 97 could not be opened: is it connected.*video file"):
        open_source("97")


def test_folder_without_images_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"holds no images"):
        open_source(str(tmp_path))


def test_stream_credentials_are_hidden_in_messages() -> None:
    assert hide_credentials("rtsp://admin:secret@10.0.0.5/live") == "rtsp://***@10.0.0.5/live"


class FakeSource:
    """A source of ``n`` tiny frames (``None`` = endless), optionally live, slow, or failing after ``fail_after``."""

    def __init__(self, n: int | None, fps: float = 30.0, is_live: bool = False, delay: float = 0.0, fail_after: int | None = None):
        self.label, self.fps, self.is_live = "fake", fps, is_live
        self.started_at = datetime.now(timezone.utc)
        self._n, self._delay, self._fail_after = n, delay, fail_after
        self._i = 0
        self.closed = threading.Event()

    def read(self) -> Frame | None:
        if self._fail_after is not None and self._i >= self._fail_after:
            raise SourceError("camera 0 stopped delivering pictures")
        if self._n is not None and self._i >= self._n:
            return None
        time.sleep(self._delay)
        frame = Frame(self._i, self._i / self.fps, np.zeros((2, 2, 3), np.uint8))
        self._i += 1
        return frame

    def close(self) -> None:
        self.closed.set()

    def __enter__(self) -> "FakeSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert predicate()


def test_reader_keeps_only_the_newest_frame() -> None:
    reader = LatestFrameReader(FakeSource(50), realtime=False)
    _wait_for(lambda: reader.state is ReaderState.ENDED)
    frame = reader.get(timeout=1.0)
    assert frame is not None and frame.index == 49
    assert reader.dropped == 49
    assert reader.get(timeout=0.1) is None  # each frame is handed out once; the file has ended
    reader.close()


def test_reader_stops_an_endless_live_source_on_close() -> None:
    source = FakeSource(None, is_live=True, delay=0.001)
    reader = LatestFrameReader(source)
    first = reader.get(timeout=2.0)
    time.sleep(0.05)
    second = reader.get(timeout=2.0)
    assert first is not None and second is not None and second.index > first.index + 1  # stale ones dropped
    reader.close()
    assert reader.state is ReaderState.CLOSED
    assert source.closed.is_set()
    assert not any(t.name == "frames:fake" for t in threading.enumerate())


def test_a_lost_camera_is_reported_as_a_state_not_a_crash() -> None:
    reader = LatestFrameReader(FakeSource(None, is_live=True, fail_after=3))
    _wait_for(lambda: reader.state is ReaderState.FAILED)
    assert "stopped delivering" in str(reader.error)
    reader.close()


def test_files_are_paced_at_their_frame_rate_when_realtime() -> None:
    start = time.monotonic()
    with LatestFrameReader(FakeSource(10, fps=50.0), realtime=True) as reader:
        _wait_for(lambda: reader.state is ReaderState.ENDED)
    assert time.monotonic() - start >= 9 / 50.0  # the 10th frame is due at 0.18 s
