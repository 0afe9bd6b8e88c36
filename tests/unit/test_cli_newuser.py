"""What a new user meets first: wrong Python, no display, unknown backend, plurals, the people list, identify DIR."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import main
from app.config import build_config
from app.context import AppContext
from app.text import count
from db.records import NewSample
from tests.conftest import REPO

COMMANDS = [
    ["people"],
    ["people", "--json"],
    ["sessions"],
    ["identify", "photo.jpg"],
    ["watch", "--source", "0"],
    ["export", "--out", "a.csv"],
    ["calibrate"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_every_command_refuses_an_unknown_backend_listing_the_known_ones(tmp_path, capsys, command) -> None:
    code = main.run(["--data-dir", str(tmp_path / "d"), "--backend", "nosuch", *command])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: unknown backend 'nosuch'")
    assert "dlib" in err and "facenet" in err, "the known backends are listed"
    assert not (tmp_path / "d").exists(), "refused before anything is created"


def test_the_window_refuses_an_unknown_backend_too(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert main.run(["--data-dir", str(tmp_path / "d"), "--backend", "nosuch"]) == 1
    assert "unknown backend 'nosuch'" in capsys.readouterr().err


def test_unknown_detector_and_reembed_backend_are_refused(tmp_path, capsys) -> None:
    assert main.run(["--data-dir", str(tmp_path / "d"), "--detector", "nosuch", "people"]) == 1
    assert "unknown detector 'nosuch'" in capsys.readouterr().err
    assert main.run(["--data-dir", str(tmp_path / "d"), "reembed", "--backend", "nosuch"]) == 1
    err = capsys.readouterr().err
    assert "unknown backend 'nosuch'" in err and "dlib" in err


def test_a_known_backend_is_accepted(tmp_path, capsys) -> None:
    assert main.run(["--data-dir", str(tmp_path / "d"), "--backend", "facenet", "people"]) == 0
    assert "nobody is enrolled yet" in capsys.readouterr().out


def _env_without_display() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    return env


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the display check is for Linux (X11/Wayland)")
def test_no_display_is_said_plainly_before_qt_starts(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "main.py", "--data-dir", str(tmp_path / "d")],
        cwd=REPO, env=_env_without_display(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines() == [f"error: {main.NO_DISPLAY}"]
    assert "python main.py --help" in done.stderr and "xcb" not in done.stderr


@pytest.mark.parametrize(
    ("env", "platform", "ok"),
    [
        ({}, "linux", False),
        ({"DISPLAY": ":0"}, "linux", True),
        ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", True),
        ({"QT_QPA_PLATFORM": "offscreen"}, "linux", True),
        ({"QT_QPA_PLATFORM": "xcb", "WAYLAND_DISPLAY": "wayland-0"}, "linux", False),
        ({"QT_QPA_PLATFORM": "wayland;xcb", "DISPLAY": ":1"}, "linux", True),
        ({}, "win32", True),
        ({}, "darwin", True),
    ],
)
def test_display_problem(env: dict[str, str], platform: str, ok: bool) -> None:
    assert (main.display_problem(env, platform) is None) is ok


def _python_without_cv2() -> list[str]:
    """The system's python3 when it lacks OpenCV (as on a fresh machine), else this Python without site-packages."""
    for candidate in ("/usr/bin/python3", shutil.which("python3")):
        if candidate and Path(candidate).exists():
            probe = subprocess.run([candidate, "-c", "import cv2"], capture_output=True, timeout=60)
            if probe.returncode != 0:
                return [candidate]
    return [sys.executable, "-S"]


@pytest.mark.skipif(not (REPO / ".venv" / "bin" / "python").exists(), reason="no .venv in the checkout to re-run with")
def test_main_outside_the_venv_runs_again_with_the_venv_python(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ROLLCALL_REEXEC"}
    done = subprocess.run(
        [*_python_without_cv2(), "main.py", "--data-dir", str(tmp_path / "d"), "people"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "nobody is enrolled yet" in done.stdout and "Traceback" not in done.stderr


def test_main_outside_the_venv_without_one_says_what_to_run(tmp_path) -> None:
    code = f"import sys; sys.path.insert(0, {str(REPO)!r}); import main, pathlib; main.ensure_dependencies(pathlib.Path({str(tmp_path)!r}))"
    env = {k: v for k, v in os.environ.items() if k != "ROLLCALL_REEXEC"}
    done = subprocess.run([*_python_without_cv2(), "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "make run" in lines[0] and ".venv/bin/python main.py" in lines[0], done.stderr


def test_plural_counts_read_naturally() -> None:
    assert [count(1, "photo"), count(2, "photo"), count(0, "face sample")] == ["1 photo", "2 photos", "0 face samples"]
    assert [count(1, "entry"), count(3, "entry"), count(2, "person")] == ["1 entry", "3 entries", "2 people"]


def test_no_user_text_says_s_in_brackets() -> None:
    offenders = []
    for path in [REPO / "main.py", *sorted((REPO / "app").rglob("*.py"))]:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "(s)" in line.replace("http(s)", "") and not line.lstrip().startswith(("#", "*")):
                offenders.append(f"{path.relative_to(REPO)}:{n}")
    assert offenders == []


def _add(ctx: AppContext, name: str, external_id: str | None, samples: int) -> None:
    vec = np.eye(128, dtype=np.float32)[:1]
    sample = NewSample(b"\xff\xd8fake", [(1.0, 2.0)], "dlib68", "test", 0.9)
    ctx.repo.add_person(name, external_id, [sample] * samples, {"dlib": np.repeat(vec, samples, axis=0)})


def test_people_list_is_aligned_in_columns(tmp_path, capsys) -> None:
    data = tmp_path / "d"
    ctx = AppContext(build_config(str(data)))
    try:
        _add(ctx, "Ada", "S-1", 1)
        _add(ctx, "Lin-Manuel Miranda", None, 12)
    finally:
        ctx.close()
    assert main.run(["--data-dir", str(data), "people"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split() == ["#", "Name", "Id", "Photos", "Last", "seen"] and len(rows) == 2
    table = "\n".join([header, *rows])
    for column in ("Name", "Last seen"):  # left-aligned: every cell starts under the heading
        start = header.index(column)
        assert all(row[start - 1] == " " and row[start] != " " for row in rows), table
    end = header.index("Photos") + len("Photos")  # right-aligned numbers end under the heading's end
    assert [row[end - 2 : end] for row in rows] == [" 1", "12"], table
    assert "(s)" not in "".join(rows)


def test_identify_refuses_an_empty_folder_saying_why(tmp_path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert main.run(["--data-dir", str(tmp_path / "d"), "identify", str(tmp_path / "empty")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds no images" in err


def test_identify_on_a_folder_of_sub_folders_says_to_name_those(tmp_path, capsys) -> None:
    for name in ("ada", "grace"):
        (tmp_path / "people" / name).mkdir(parents=True)
    assert main.run(["--data-dir", str(tmp_path / "d"), "identify", str(tmp_path / "people")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds no images" in err and "it has 2 sub-folders: name those instead" in err


def test_opencv_is_silenced_before_the_window_opens_and_not_with_verbose(tmp_path, monkeypatch) -> None:
    """OpenCV's own ``[ WARN ...]`` lines must not reach the terminal behind the window either (``-v`` keeps them)."""
    import logging
    import types

    import cv2

    levels: list[int] = []
    fake_launch = types.ModuleType("app.ui.launch")
    fake_launch.launch_window = lambda ctx, source=None: levels.append(cv2.utils.logging.getLogLevel()) or 0
    monkeypatch.setitem(sys.modules, "app.ui.launch", fake_launch)
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    before, app_level = cv2.utils.logging.getLogLevel(), logging.getLogger("app").level
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_WARNING)
    try:
        assert main.run(["--data-dir", str(tmp_path / "d"), "--verbose", "--source", "0"]) == 0
        assert main.run(["--data-dir", str(tmp_path / "d"), "--source", "0"]) == 0
    finally:
        cv2.utils.logging.setLogLevel(before)
        logging.getLogger("app").setLevel(app_level)  # -v let names into the log; later tests expect it not to
    assert levels == [cv2.utils.logging.LOG_LEVEL_WARNING, cv2.utils.logging.LOG_LEVEL_SILENT]
