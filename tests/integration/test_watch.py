"""``watch`` on the real Hamilton clip with the real dlib models: Lin-Manuel Miranda is marked exactly once."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

import main
from models.embedders.registry import backend_info
from app.config import build_config
from app.context import AppContext
from app.services.attendance import default_session_name
from app.services.enrollment import enroll_paths
from tests.conftest import need_shared


@pytest.fixture
def enrolled(tmp_path: Path) -> Path:
    """A data folder with Lin-Manuel Miranda and the five people of knn_examples/train enrolled."""
    examples = need_shared("data", "face-recognition-examples", "examples")
    data = tmp_path / "data"
    ctx = AppContext(build_config(str(data)))
    try:
        enroll_paths(ctx, "Lin-Manuel Miranda", None, [examples / "lin-manuel-miranda.png"], strict=False)
        for folder in sorted((examples / "knn_examples" / "train").iterdir()):
            enroll_paths(ctx, folder.name, None, [folder], strict=False)
        assert len(ctx.repo.list_people()) == 6
    finally:
        ctx.close()
    return data


def test_watch_marks_lin_manuel_exactly_once_and_nobody_else(enrolled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clip = need_shared("video", "hamilton_clip.mp4")
    code = main.run(["--data-dir", str(enrolled), "watch", "--source", str(clip), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert [e["name"] for e in events] == ["Lin-Manuel Miranda"]
    assert events[0]["score"] < backend_info("dlib").threshold and isinstance(events[0]["person_id"], int)
    assert datetime.fromisoformat(events[0]["time"]).tzinfo is not None
    assert "watched 275 frames" in err and "detect" in err

    # Watching again in the same (default, today's) session marks nobody a second time.
    code = main.run(["--data-dir", str(enrolled), "watch", "--source", str(clip), "--json", "--max-frames", "200"])
    out, _ = capsys.readouterr()
    assert code == 0 and out.strip() == ""
    ctx = AppContext(build_config(str(enrolled)))
    try:
        sessions = ctx.repo.list_sessions()
        assert [(s.name, s.n_events) for s in sessions] == [(default_session_name(), 1)]
    finally:
        ctx.close()


def test_watch_on_a_missing_source_is_one_clear_line(enrolled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main.run(["--data-dir", str(enrolled), "watch", "--source", str(tmp_path / "nope.mp4")])
    _, err = capsys.readouterr()
    assert code == 1
    assert err.strip().startswith("error: ") and "nope.mp4" in err and "Traceback" not in err


def test_watch_without_anyone_enrolled_says_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clip = need_shared("video", "hamilton_clip.mp4")
    code = main.run(["--data-dir", str(tmp_path / "empty"), "watch", "--source", str(clip)])
    _, err = capsys.readouterr()
    assert code == 1 and "nobody is enrolled" in err and "enroll" in err
