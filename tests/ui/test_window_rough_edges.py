"""The window's rough edges a new user noticed: Attendance columns and Backend, a disabled Delete that looks
disabled, enroll thumbnails and the last page's title, Settings showing ``--source``, Ctrl+Q."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QWizard

from app.ui.attendance_page import COLUMNS, NAME_WIDTH, column_widths
from db.records import NewSample
from models.imageio import encode_jpeg
from tests.ui.helpers import count_colour

DANGER_RED = QColor("#b42318")


def test_attendance_shows_the_backend_and_every_column_fits_its_text(qtbot, window) -> None:
    repo = window.ctx.repo
    session = repo.get_or_create_session("Drama club")
    t0 = datetime(2026, 3, 2, 18, 0, tzinfo=timezone.utc)
    repo.add_event(None, session.id, t0, "camera", 0.3142, "facenet512", person_name="Lin-Manuel Miranda")
    repo.add_event(None, session.id, t0 + timedelta(minutes=1), "manual", person_name="Ada")
    window.resize(1100, 700)
    window.go_to("Attendance")
    table = window.attendance.table

    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert "Backend" in headers and headers[-1] == "Station", headers
    backend = COLUMNS.index("Backend")
    assert [table.item(r, backend).text() for r in range(table.rowCount())] == ["facenet512", ""]
    metrics = table.fontMetrics()
    for c in range(len(COLUMNS) - 1):
        widest = max(metrics.horizontalAdvance(table.item(r, c).text()) for r in range(table.rowCount()))
        assert table.columnWidth(c) >= widest + 8, f"{COLUMNS[c]} is cut off"
    name = COLUMNS.index("Name")
    assert NAME_WIDTH[0] <= table.columnWidth(name) <= NAME_WIDTH[1], "the Name column no longer takes half the table"


@pytest.mark.parametrize("width", [1100, 1180])
def test_attendance_fits_every_column_without_scrolling_sideways(qtbot, window, width: int) -> None:
    repo = window.ctx.repo
    session = repo.get_or_create_session("Drama club (yesterday)")
    t0 = datetime(2026, 3, 2, 18, 0, tzinfo=timezone.utc)
    person = repo.add_person("Lin-Manuel Miranda", "S-1001", [], {})
    repo.add_event(person.id, session.id, t0, "camera", 0.31, "facenet512")
    window.resize(width, 720)
    window.show()
    window.go_to("Attendance")
    table = window.attendance.table
    qtbot.waitUntil(lambda: table.viewport().width() > 0)
    qtbot.wait(50)

    assert not table.horizontalScrollBar().isVisible(), "the Station column is cut off behind a scroll bar"
    metrics = table.fontMetrics()
    for c in range(len(COLUMNS)):
        assert table.columnWidth(c) >= metrics.horizontalAdvance(table.item(0, c).text()) + 8, f"{COLUMNS[c]} is cut off"


CONTENT = [100, 150, 60, 150, 60, 40, 80, 40]  # 680 pixels of text in the eight columns


@pytest.mark.parametrize(("available", "air"), [(2000, 28), (800, 14), (600, 8)])
def test_column_widths_give_less_air_on_a_narrow_table(available: int, air: int) -> None:
    widths = column_widths(CONTENT, available)
    assert [w - c for w, c in zip(widths, CONTENT)] == [air] * len(CONTENT)
    assert sum(widths) <= available or air == 8, "the columns fit unless even the least air does not"


def test_delete_is_disabled_and_not_red_until_someone_is_selected(qtbot, window) -> None:
    jpeg = encode_jpeg(np.full((64, 64, 3), 128, np.uint8))
    window.ctx.repo.add_person("Ada", None, [NewSample(jpeg, [(1.0, 2.0)], "dlib68", "test", 0.9)],
                               {"dlib": np.eye(128, dtype=np.float32)[:1]})  # fmt: skip
    window.go_to("People")
    page = window.people
    page.table.clearSelection()
    qtbot.wait(50)
    assert not page.delete_button.isEnabled()
    assert count_colour(page.delete_button, DANGER_RED) == 0, "a disabled Delete is drawn grey, not red"

    page.table.selectRow(0)
    qtbot.waitUntil(page.delete_button.isEnabled)
    assert count_colour(page.delete_button, DANGER_RED) > 0, "an enabled Delete is red"


def test_ctrl_q_closes_the_window(qtbot, window) -> None:
    qtbot.waitExposed(window)
    qtbot.keyClick(window.people, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)


def test_settings_show_the_source_given_on_the_command_line(qtbot, ctx, tmp_path: Path) -> None:
    from app.ui.launch import create_window

    clip = str(tmp_path / "clip.mp4")
    win = create_window(ctx, source=clip)
    qtbot.addWidget(win)
    assert win.settings.source_edit.text() == clip
    assert "--source" in win.settings.note.text()
    win.close()


def test_wizard_shows_thumbnails_of_a_folder_and_says_when_it_is_done(qtbot, window, celebs: Path, tmp_path: Path) -> None:
    folder = tmp_path / "jerry"
    folder.mkdir()
    for photo in sorted((celebs / "train" / "jerry_seinfeld").glob("*.jpg"))[:3]:
        shutil.copy(photo, folder / photo.name)
    wizard = window.open_wizard()
    qtbot.keyClicks(wizard.who.name_edit, "Jerry Seinfeld")
    wizard.next()
    assert not wizard.faces.strip.isVisible(), "no thumbnails before any photo"

    wizard.faces.analyze([str(folder)])
    qtbot.waitUntil(wizard.faces.isComplete, timeout=90_000)
    assert wizard.faces.strip.isVisible() and wizard.faces.strip.count() == 3, "each usable face is shown"
    assert wizard.faces.summary.text() == "3 usable faces."

    wizard.next()
    wizard.next()
    assert wizard.currentPage() is wizard.save_page
    qtbot.waitUntil(wizard.save_page.isComplete, timeout=30_000)
    assert wizard.save_page.title() == "Jerry Seinfeld is enrolled", "the last page no longer says Saving"
    assert wizard.button(QWizard.WizardButton.FinishButton).isVisible()


def test_the_data_folder_comes_back_in_the_status_bar_after_a_passing_message(qtbot, window) -> None:
    window.show()
    bar = window.statusBar()
    assert window.data_label.isVisible() and str(window.ctx.config.data_dir) in window.data_label.text()
    bar.showMessage("✓ Ada marked present", 100)
    qtbot.waitUntil(lambda: not window.data_label.isVisible())
    qtbot.waitUntil(lambda: bar.currentMessage() == "" and window.data_label.isVisible(), timeout=3000)


def test_settings_on_a_laptop_height_window_scrolls_and_squeezes_no_help_text(qtbot, window) -> None:
    window.resize(1100, 720)
    window.show()
    window.go_to("Settings")
    page = window.settings
    qtbot.wait(100)
    qtbot.wait(50)

    assert window.height() <= 740, "the Settings page forces a taller window than a laptop screen"
    hints = [label for label in page.findChildren(type(page.note)) if label.objectName() == "hint" and label.text()]
    assert len(hints) >= 8
    for label in hints:
        needed = label.heightForWidth(label.width())
        assert label.height() >= needed, f"help text squeezed ({label.height()} < {needed} px): {label.text()[:40]}"
    assert page.finetune_button.height() >= page.finetune_button.sizeHint().height(), "Fine-tune button clipped"
    assert page.save_button.isVisible() and page.save_button.geometry().bottom() <= page.height()
