"""People (delete erases the person and their samples) and Attendance (Export CSV writes the rows shown)."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox
from sqlalchemy import func, select

from db.schema import FaceSample
from tests.ui.helpers import enroll


def _sample_rows(ctx) -> int:
    with ctx.database.session(write=False) as s:
        return int(s.scalar(select(func.count()).select_from(FaceSample)))


def test_delete_removes_the_person_and_their_samples(qtbot, window, celebs: Path, monkeypatch) -> None:
    ctx = window.ctx
    enroll(ctx, "Jerry Seinfeld", sorted((celebs / "train" / "jerry_seinfeld").glob("*.jpg"))[:2])
    madonna = enroll(ctx, "Madonna", sorted((celebs / "train" / "madonna").glob("*.jpg"))[:2])
    asked: list[str] = []

    def answer_yes(parent, title, text, *args, **kwargs):  # noqa: ANN001, ANN202
        asked.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", answer_yes)
    window.go_to("People")
    table = window.people.table
    assert [table.item(r, 1).text() for r in range(table.rowCount())] == ["Jerry Seinfeld", "Madonna"]

    table.selectRow(0)
    qtbot.mouseClick(window.people.delete_button, Qt.MouseButton.LeftButton)

    assert "2 face photos and face vectors are erased" in asked[0]
    assert [table.item(r, 1).text() for r in range(table.rowCount())] == ["Madonna"]
    assert [p.name for p in ctx.repo.list_people()] == ["Madonna"]
    assert _sample_rows(ctx) == 2 == len(ctx.repo.list_samples(madonna.id)), "only Madonna's samples remain"


def test_export_csv_writes_the_rows_shown(qtbot, window, tmp_path: Path, monkeypatch) -> None:
    repo = window.ctx.repo
    monday, tuesday = repo.get_or_create_session("Maths Monday"), repo.get_or_create_session("Maths Tuesday")
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    repo.add_event(None, monday.id, t0, "manual", person_name="Ada Lovelace")
    repo.add_event(None, monday.id, t0 + timedelta(minutes=2), "manual", person_name="=HYPERLINK(1)")
    repo.add_event(None, tuesday.id, t0 + timedelta(days=1), "manual", person_name="Alan Turing")
    out = tmp_path / "monday.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), "CSV files (*.csv)"))

    window.go_to("Attendance")
    page = window.attendance
    assert page.table.rowCount() == 3
    page.session_box.setCurrentIndex(page.session_box.findData(monday.id))
    shown = [page.table.item(r, 1).text() for r in range(page.table.rowCount())]
    assert shown == ["Ada Lovelace", "=HYPERLINK(1)"]
    qtbot.mouseClick(page.export_button, Qt.MouseButton.LeftButton)

    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert rows[0][:4] == ["time", "name", "external_id", "session"]
    assert [r[1] for r in rows[1:]] == ["Ada Lovelace", "'=HYPERLINK(1)"], "formula-like names are neutralised"
    assert {r[3] for r in rows[1:]} == {"Maths Monday"}
    assert datetime.fromisoformat(rows[1][0]) == t0, "ISO times with their offset"
    assert "Exported 2 entries" in page.count.text()
