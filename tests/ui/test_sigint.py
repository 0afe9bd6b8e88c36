"""Ctrl+C in the terminal closes the window cleanly: a prompt exit, no KeyboardInterrupt traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_sigint_closes_the_window_without_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "ROLLCALL_DATA": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "main.py", "--data-dir", str(tmp_path)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    log = tmp_path / "rollcall.log"
    deadline = time.monotonic() + 60
    while "Ctrl+C" not in (log.read_text(encoding="utf-8") if log.exists() else ""):
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "the window did not open within 60 s"
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("the window did not close within 10 s of Ctrl+C") from None
    assert proc.returncode in (0, 130), err
    assert "KeyboardInterrupt" not in err and "Traceback" not in err, err
    assert "KeyboardInterrupt" not in log.read_text(encoding="utf-8")
