"""Private by default: file modes after a fresh start, a warning when the data folder is shared, and no trace of
a removed person in any file while another process has the database open."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

import main
from db import NewSample, Repository, open_database
from db.database import backup_sqlite
from tests.conftest import REPO


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _run_with_umask_022(code: str) -> subprocess.CompletedProcess[str]:
    script = "import os\nos.umask(0o022)\n" + code
    return subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_a_fresh_start_creates_a_private_folder_and_private_files(tmp_path: Path) -> None:
    data = tmp_path / "fresh" / "rollcall"
    code = (
        "import sys, main\n"
        f"assert main.run(['--data-dir', {str(data)!r}, 'sessions']) == 0\n"
        "from app.config import Settings\n"
        f"Settings().save(__import__('pathlib').Path({str(data)!r}))\n"
        "from app.ui.launch import attach_log_file\n"
        "import logging\n"
        f"attach_log_file(__import__('pathlib').Path({str(data)!r}))\n"
        "logging.getLogger('app.test').warning('hello')\n"
    )
    result = _run_with_umask_022(code)
    assert result.returncode == 0, result.stderr
    assert _mode(data) == 0o700
    files = sorted(p.name for p in data.iterdir())
    assert {"rollcall.db", "settings.json", "rollcall.log"} <= set(files)
    for path in data.iterdir():
        assert _mode(path) == 0o600, (path.name, oct(_mode(path)))


def test_database_wal_and_backups_are_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        database = open_database(f"sqlite:///{tmp_path / 'rollcall.db'}")
        Repository(database).add_person("Ada")
        backup = backup_sqlite(tmp_path / "rollcall.db")
        modes = {p.name: _mode(p) for p in tmp_path.iterdir()}
        database.close()
    finally:
        os.umask(old)
    assert {"rollcall.db", "rollcall.db-wal", "rollcall.db-shm", backup.name} <= set(modes)
    assert set(modes.values()) == {0o600}, modes


def test_a_data_folder_readable_by_others_is_warned_about_at_start(tmp_path: Path, caplog) -> None:
    data = tmp_path / "d"
    assert main.run(["--data-dir", str(data), "sessions"]) == 0
    assert "other users" not in caplog.text
    os.chmod(data, 0o755)
    os.chmod(data / "rollcall.db", 0o644)
    assert main.run(["--data-dir", str(data), "sessions"]) == 0
    err = caplog.text
    assert "other users can read" in err and "rollcall.db (0644)" in err and f"chmod -R go-rwx {data}" in err


HOLDER = """
import sys
from db import Repository, open_database
db = open_database(sys.argv[1])
repo = Repository(db)
repo.list_people()
repo.centroids("dlib")
print("ready", flush=True)
sys.stdin.read()
db.close()
"""


def _crop_jpeg(seed: int) -> bytes:
    noise = np.random.default_rng(seed).integers(0, 256, (150, 150, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", noise, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return buf.tobytes()


def _windows(blob: bytes, size: int = 32, step: int = 97) -> list[bytes]:
    return [blob[i : i + size] for i in range(0, len(blob) - size, step)]


def test_remove_leaves_no_byte_of_the_person_while_another_process_holds_the_database(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    url = f"sqlite:///{data / 'rollcall.db'}"
    database = open_database(url)
    repo = Repository(database)
    crop = _crop_jpeg(1)
    vector = np.random.default_rng(2).normal(size=128).astype(np.float32)
    vector /= np.linalg.norm(vector)
    sample = NewSample(crop, [(10.0, 20.0)], "dlib68", "zed.jpg", 0.9)
    repo.add_person("Zed Secret", "Z-99", [sample], {"dlib": vector[None, :]})
    repo.add_person("Kept Person", None, [NewSample(_crop_jpeg(3), [(1.0, 2.0)], "dlib68", "k.jpg", 0.9)],
                    {"dlib": np.eye(128, dtype=np.float32)[:1]})  # fmt: skip
    database.close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        assert main.run(["--data-dir", str(data), "remove", "Zed Secret"]) == 0
        scan = crop[crop.index(b"\xff\xda") + 20 :]  # the picture itself (headers and tables are the same in every JPEG)
        needles = _windows(scan) + _windows(vector.tobytes(), 16, 16) + [b"Zed Secret", b"Z-99"]
        found = []
        for path in sorted(data.iterdir()):
            content = path.read_bytes()
            found += [(path.name, i) for i, needle in enumerate(needles) if needle in content]
        kept = [p for p in Repository(open_database(url)).list_people()]
    finally:
        holder.communicate("", timeout=30)
    assert [p.name for p in kept] == ["Kept Person"]
    # attendance snapshots would keep the name by design; this person was never marked, so nothing may remain
    assert found == [], f"{len(found)} traces of the removed person, first in {found[:3]}"


def test_the_log_names_nobody_unless_verbose(caplog) -> None:
    import logging
    from datetime import datetime, timezone

    from app.services.attendance import AttendanceMarker

    database = open_database("sqlite://")
    repo = Repository(database)
    ada = repo.add_person("Ada Lovelace")
    when = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)
    with caplog.at_level(logging.INFO):
        assert AttendanceMarker(repo, repo.get_or_create_session("Maths")).mark(ada.id, when) is not None
    assert f"marked person #{ada.id} present" in caplog.text and "Lovelace" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="app"):  # what -v asks for
        assert AttendanceMarker(repo, repo.get_or_create_session("Art")).mark(ada.id, when) is not None
    assert "marked Ada Lovelace present in Art" in caplog.text
    database.close()
