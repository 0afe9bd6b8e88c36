"""``watch`` as a new user meets it, with the real dlib models: a missing camera is one line in Rollcall's words
(none of OpenCV's own log lines), and someone already marked in the session is reported, not passed over."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

import main
from app.config import build_config
from app.context import AppContext
from app.services.enrollment import enroll_paths
from tests.conftest import REPO, need_shared


@pytest.fixture
def lin(tmp_path: Path) -> Path:
    """A data folder with Lin-Manuel Miranda enrolled (one photo) and marked in session "Drama" already."""
    photo = need_shared("data", "face-recognition-examples", "examples", "lin-manuel-miranda.png")
    data = tmp_path / "data"
    ctx = AppContext(build_config(str(data)))
    try:
        person = enroll_paths(ctx, "Lin-Manuel Miranda", None, [photo]).person
        session = ctx.repo.get_or_create_session("Drama")
        ctx.repo.add_event(person.id, session.id, datetime(2026, 3, 2, 18, 0, tzinfo=timezone.utc), "camera")
    finally:
        ctx.close()
    return data


@pytest.mark.skipif(Path("/dev/video0").exists(), reason="this machine has a camera 0, so it would open")
def test_a_missing_camera_is_one_rollcall_line_without_opencv_warnings(lin: Path) -> None:
    done = subprocess.run(
        [sys.executable, "main.py", "--data-dir", str(lin), "watch", "--source", "0"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert "[ WARN" not in done.stderr and "[ERROR" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: camera 0 could not be opened"), done.stderr


def test_watch_says_who_was_seen_and_already_marked(lin: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clip = need_shared("video", "hamilton_clip.mp4")
    code = main.run(["--data-dir", str(lin), "watch", "--source", str(clip), "--session", "Drama", "--max-frames", "150"])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    assert "Lin-Manuel Miranda seen, already marked present in session 'Drama'" in lines[0]
    assert "--session NAME" in lines[0]
    assert "0 marked in session 'Drama' (1 person seen had been marked already)" in err


def test_identify_takes_a_folder_and_names_the_images_inside_in_order(lin: Path, tmp_path: Path, capsys) -> None:
    photo = need_shared("data", "face-recognition-examples", "examples", "lin-manuel-miranda.png")
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("b.png", "a.png"):
        shutil.copy(photo, folder / name)
    (folder / "notes.txt").write_text("not a photo")
    code = main.run(["--data-dir", str(lin), "identify", str(folder)])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == [str(folder / "a.png"), str(folder / "b.png")]
    assert all("Lin-Manuel Miranda" in line for line in lines)
