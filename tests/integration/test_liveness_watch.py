"""``watch --liveness`` with the real dlib models: a still photo of Lin-Manuel Miranda held up to the camera is
never marked (it is without the check), and Miranda himself in the Hamilton clip still is."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

import main
from app.config import build_config
from app.context import AppContext
from app.services.enrollment import enroll_paths
from tests.conftest import need_shared
from tests.still_video import still_photo_frames, write_video


@pytest.fixture
def miranda() -> tuple[Path, Path]:
    """(data folder with Lin-Manuel Miranda enrolled from his photo, that photo)."""
    photo = need_shared("data", "face-recognition-examples", "examples", "lin-manuel-miranda.png")
    data = Path(build_config().data_dir)
    ctx = AppContext(build_config(str(data)))
    try:
        enroll_paths(ctx, "Lin-Manuel Miranda", None, [photo], strict=False)
    finally:
        ctx.close()
    return data, photo


def _watch(data: Path, source: Path, session: str, *flags: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    code = main.run(["--data-dir", str(data), "watch", "--source", str(source), "--session", session, "--json", *flags])
    out, err = capsys.readouterr()
    assert code == 0, err
    return [json.loads(line)["name"] for line in out.splitlines() if line.strip()]


def test_a_still_photo_held_up_is_marked_without_liveness_and_never_with_it(
    miranda: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, photo = miranda
    video = write_video(still_photo_frames(cv2.imread(str(photo)), seconds=6.0), tmp_path / "still.mp4")
    assert _watch(data, video, "with-liveness", "--liveness", capsys=capsys) == []
    assert _watch(data, video, "without", capsys=capsys) == ["Lin-Manuel Miranda"]


def test_lin_manuel_miranda_is_still_marked_with_liveness(miranda: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    clip = need_shared("video", "hamilton_clip.mp4")
    assert _watch(miranda[0], clip, "hamilton", "--liveness", capsys=capsys) == ["Lin-Manuel Miranda"]


def test_liveness_with_the_yunet_detector_is_one_clear_line(miranda: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    clip = need_shared("video", "hamilton_clip.mp4")
    code = main.run(["--data-dir", str(miranda[0]), "--detector", "yunet", "watch", "--source", str(clip), "--liveness"])
    _, err = capsys.readouterr()
    assert code == 1 and err.count("\n") == 1 and "liveness" in err and "--detector hog or cnn" in err
