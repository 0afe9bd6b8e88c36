"""The Attendance page on a register shared by stations: each row names the station that marked it, on screen
and in the exported CSV."""

from __future__ import annotations

import csv
from datetime import datetime, timezone
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from app.ui.attendance_page import COLUMNS
from db.repositories import Repository


def test_each_row_shows_its_station_and_the_export_keeps_it(qtbot, window, tmp_path: Path, monkeypatch) -> None:
    here = window.ctx.repo
    there = Repository(window.ctx.database, station="Back door")
    session = here.get_or_create_session("Maths")
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    for repo, name in ((here, "Ada"), (there, "Alan")):
        person = repo.add_person(name)
        repo.mark_if_due(person.id, session.id, t0, "camera", 0.0, 0.31, "dlib")
    out = tmp_path / "maths.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), "CSV files (*.csv)"))

    window.go_to("Attendance")
    table = window.attendance.table
    column = COLUMNS.index("Station")
    assert table.horizontalHeaderItem(column).text() == "Station"
    shown = {table.item(r, 1).text(): table.item(r, column).text() for r in range(table.rowCount())}
    assert shown == {"Ada": window.ctx.config.station, "Alan": "Back door"}
    qtbot.mouseClick(window.attendance.export_button, Qt.MouseButton.LeftButton)
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert {r["name"]: r["station"] for r in rows} == shown
