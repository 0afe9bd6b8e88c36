"""The live view while another station enrolls someone on the same database: the running view names them a few
seconds later, says the list was updated and the People page lists them, without a restart."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt

from app.config import build_config
from app.context import AppContext
from tests.ui.conftest import FAKE, FakeCamera, camera_frame
from tests.ui.helpers import enroll

JERRY_VAL = "httpafilesbiographycomimageuploadcfillcssrgbdprgfacehqwMTIwNjANjMMDINzIxNjcjpg.jpg"


def test_someone_enrolled_at_another_station_is_named_without_a_restart(qtbot, window, celebs: Path, cameras) -> None:
    enroll(window.ctx, "Madonna", sorted((celebs / "train" / "madonna").glob("*.jpg"))[:3])
    window.live.refresh_people()
    jerry = camera_frame(celebs / "val" / "jerry_seinfeld" / JERRY_VAL)
    cameras["door"] = FakeCamera([jerry], fps=30)
    window.live.source_edit.setText(FAKE + "door")
    qtbot.mouseClick(window.live.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: any(t.state == "unknown" for t in window.live.video.tracks), timeout=60_000)

    reloads: list[int] = []
    window.live.people_reloaded.connect(reloads.append)
    elsewhere = AppContext(build_config(str(window.ctx.config.data_dir)))  # another station, same database
    try:
        enroll(elsewhere, "Jerry Seinfeld", sorted((celebs / "train" / "jerry_seinfeld").glob("*.jpg"))[:4])
    finally:
        elsewhere.close()
    enrolled_at = time.monotonic()

    def named() -> bool:
        return any(t.state == "known" and t.name == "Jerry Seinfeld" for t in window.live.video.tracks)

    qtbot.waitUntil(named, timeout=60_000)
    # 2 s between looks at the change counter, then two agreeing looks; generous for a loaded 2-core machine
    assert time.monotonic() - enrolled_at < 30
    assert reloads == [2], "one reload, with both people"
    qtbot.waitUntil(lambda: window.live.marked_list.count() == 1, timeout=10_000)
    assert window.live.marked_list.item(0).text().startswith("✓ Jerry Seinfeld ")
    assert window.live.running, "no restart"
    names = [window.people.table.item(r, 1).text() for r in range(window.people.table.rowCount())]
    assert "Jerry Seinfeld" in names, "the People page refreshed"
