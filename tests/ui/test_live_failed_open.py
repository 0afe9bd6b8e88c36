"""Issue 10, item 8 in the window: a source that cannot be opened leaves no empty session behind (the CLI's
``watch`` is covered by tests/unit/test_watch_exit.py)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt


def test_a_source_that_cannot_be_opened_creates_no_session(qtbot, window, tmp_path: Path) -> None:  # noqa: ANN001
    window.live.source_edit.setText(str(tmp_path / "no-such-clip.mp4"))
    qtbot.mouseClick(window.live.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.live.banner.isVisible(), timeout=10_000)
    qtbot.waitUntil(lambda: not window.live.running, timeout=5_000)

    assert window.ctx.repo.list_sessions() == []
