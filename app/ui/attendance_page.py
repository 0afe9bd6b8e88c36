"""The Attendance page: events filtered by session, person and dates; manual entries; CSV export."""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta, timezone

from PySide6.QtCore import QDate, QDateTime, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.context import AppContext
from app.services.attendance import default_session_name, write_csv
from app.text import count
from common.errors import RollcallError
from db.records import EventRecord, PersonRecord
from app.ui.messages import confirm, show_error

log = logging.getLogger(__name__)

COLUMNS = ("Time", "Name", "Id", "Session", "Source", "Score", "Backend", "Station")
"""The table's columns, in the order of the CSV export's."""
COLUMN_PADDING = (8, 28)
"""Least and most pixels added to each column's content width, so neighbouring columns do not run together
(less air when the table is narrow, so every column fits without scrolling sideways)."""
NAME_WIDTH = (120, 280)
"""Least and most width of the Name column (long names are elided, the full name is in the tooltip)."""


def column_widths(content: list[int], available: int) -> list[int]:
    """Widths for the table's columns: each column's ``content`` width plus as much air as fits ``available``.

    The air per column goes from ``COLUMN_PADDING[1]`` down to ``COLUMN_PADDING[0]`` until the columns fit; the
    Name column (the second) stays within :data:`NAME_WIDTH`. Wider than ``available`` only when even the least
    air does not fit (the table then scrolls sideways).
    """

    def widths(air: int) -> list[int]:
        out = [w + air for w in content]
        out[1] = min(max(out[1], NAME_WIDTH[0]), NAME_WIDTH[1])
        return out

    for air in range(COLUMN_PADDING[1], COLUMN_PADDING[0], -2):
        if sum(widths(air)) <= available:
            return widths(air)
    return widths(COLUMN_PADDING[0])


def local_midnight_utc(day: date) -> datetime:
    """The start of ``day`` in local time, as aware UTC (what the repository filters take)."""
    return datetime.combine(day, time()).astimezone().astimezone(timezone.utc)


class ManualEntryDialog(QDialog):
    """Asks who attended, in which session and when, for a manual entry."""

    def __init__(self, people: list[PersonRecord], sessions: list[str], session: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add an attendance entry")
        self.person_box = QComboBox()
        for p in people:
            self.person_box.addItem(p.name + (f" ({p.external_id})" if p.external_id else ""), p.id)
        self.session_box = QComboBox()
        self.session_box.setEditable(True)
        self.session_box.addItems(sessions)
        self.session_box.setCurrentText(session)
        self.time_edit = QDateTimeEdit(QDateTime.currentDateTime())
        self.time_edit.setCalendarPopup(True)
        self.time_edit.setDisplayFormat("yyyy-MM-dd HH:mm")
        form = QFormLayout(self)
        form.addRow("Person", self.person_box)
        form.addRow("Session", self.session_box)
        form.addRow("Time", self.time_edit)
        form.addRow(QLabel("The entry is recorded as manual."))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def values(self) -> tuple[int, str, datetime]:
        """(person id, session name, aware UTC time) as entered."""
        when = self.time_edit.dateTime().toPython().astimezone().astimezone(timezone.utc)
        return int(self.person_box.currentData()), self.session_box.currentText().strip(), when


class AttendancePage(QWidget):
    """Attendance events with filters, manual add/remove and export of the rows shown."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.events: list[EventRecord] = []
        self._content_widths: list[int] = []  # each column's content width, measured when the rows change
        self.session_box = QComboBox()
        self.session_box.setMinimumWidth(150)
        self.person_box = QComboBox()
        self.person_box.setMinimumWidth(150)
        self.from_check, self.from_edit = QCheckBox("From"), QDateEdit(QDate.currentDate().addDays(-7))
        self.to_check, self.to_edit = QCheckBox("To"), QDateEdit(QDate.currentDate())
        for edit in (self.from_edit, self.to_edit):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setEnabled(False)
            edit.dateChanged.connect(self.refresh)
        self.from_check.toggled.connect(self.from_edit.setEnabled)
        self.to_check.toggled.connect(self.to_edit.setEnabled)
        for w in (self.from_check, self.to_check):
            w.toggled.connect(self.refresh)
        self.session_box.currentIndexChanged.connect(self.refresh)
        self.person_box.currentIndexChanged.connect(self.refresh)
        filters = QHBoxLayout()
        for label, w in (("Session", self.session_box), ("Person", self.person_box)):
            filters.addWidget(QLabel(label))
            filters.addWidget(w)
        filters.addSpacing(12)
        for check, edit in ((self.from_check, self.from_edit), (self.to_check, self.to_edit)):
            filters.addWidget(check)
            filters.addWidget(edit)
        filters.addStretch(1)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.count = QLabel()
        self.count.setObjectName("muted")

        self.add_button = QPushButton("Add entry…")
        self.remove_button = QPushButton("Remove entry…")
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setObjectName("primary")
        self.add_button.clicked.connect(self.add_entry)
        self.remove_button.clicked.connect(self.remove_entry)
        self.export_button.clicked.connect(self.export_csv)
        actions = QHBoxLayout()
        actions.addWidget(self.add_button)
        actions.addWidget(self.remove_button)
        actions.addWidget(self.count, 1)
        actions.addWidget(self.export_button)

        col = QVBoxLayout(self)
        col.addLayout(filters)
        col.addWidget(self.table, 1)
        col.addLayout(actions)
        self.reload_choices()

    def reload_choices(self) -> None:
        """Refill the session and person filters (keeping the current choices) and the table."""
        for box in (self.session_box, self.person_box):
            box.blockSignals(True)
        keep_session, keep_person = self.session_box.currentData(), self.person_box.currentData()
        self.session_box.clear()
        self.session_box.addItem("All sessions", None)
        for s in self.ctx.repo.list_sessions():
            self.session_box.addItem(f"{s.name} ({s.n_events})", s.id)
        self.person_box.clear()
        self.person_box.addItem("Everyone", None)
        for p in self.ctx.repo.list_people():
            self.person_box.addItem(p.name, p.id)
        for box, keep in ((self.session_box, keep_session), (self.person_box, keep_person)):
            index = box.findData(keep)
            box.setCurrentIndex(max(0, index))
            box.blockSignals(False)
        self.refresh()

    def filters(self) -> dict[str, object]:
        """The repository filters the controls stand for (dates are whole local days)."""
        start = local_midnight_utc(self.from_edit.date().toPython()) if self.from_check.isChecked() else None
        end = None
        if self.to_check.isChecked():
            end = local_midnight_utc(self.to_edit.date().toPython() + timedelta(days=1))
        return {"session_id": self.session_box.currentData(), "person_id": self.person_box.currentData(), "start": start, "end": end}

    def refresh(self) -> None:
        """Reload the rows for the current filters."""
        try:
            self.events = self.ctx.repo.list_events(**self.filters())  # type: ignore[arg-type]
        except RollcallError as exc:
            show_error(self, "Cannot read attendance", exc)
            self.events = []
        self.table.setRowCount(len(self.events))
        for row, e in enumerate(self.events):
            score = "" if e.score is None else f"{e.score:.2f}"
            values = (f"{e.time.astimezone():%Y-%m-%d %H:%M:%S}", e.person_name, e.external_id or "", e.session_name,
                      e.source, score, e.backend or "", e.station or "")  # fmt: skip
            for c, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, e.id)
                item.setToolTip(text)
                if c == 5:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, c, item)
        self._fit_columns()
        n = len(self.events)
        self.count.setText("No attendance recorded yet for these filters." if n == 0 else f"{count(n, 'entry')} shown")
        self._update_buttons()

    def _fit_columns(self) -> None:
        """Measure each column's content, then spread the columns over the table's width."""
        self.table.resizeColumnsToContents()
        self._content_widths = [self.table.columnWidth(c) for c in range(len(COLUMNS))]
        self._spread_columns()

    def _spread_columns(self) -> None:
        """Each column as wide as its content plus the air that fits (see :func:`column_widths`)."""
        if not self._content_widths:
            return
        for c, width in enumerate(column_widths(self._content_widths, self.table.viewport().width())):
            self.table.setColumnWidth(c, width)  # the last column also stretches to the table's edge

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self._spread_columns()

    def _update_buttons(self) -> None:
        self.remove_button.setEnabled(bool(self.table.selectionModel().selectedRows()))
        self.export_button.setEnabled(bool(self.events))

    def add_entry(self) -> None:
        people = self.ctx.repo.list_people()
        if not people:
            show_error(self, "Nobody to add", RollcallError("nobody is enrolled yet; enroll someone first"))
            return
        sessions = [s.name for s in self.ctx.repo.list_sessions()] or [default_session_name()]
        current = self.session_box.currentText().rsplit(" (", 1)[0] if self.session_box.currentData() else sessions[0]
        dialog = ManualEntryDialog(people, sessions, current, self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        person_id, session_name, when = dialog.values()
        try:
            session = self.ctx.repo.get_or_create_session(session_name or default_session_name())
            self.ctx.repo.add_event(person_id, session.id, when, source="manual")
        except RollcallError as exc:
            show_error(self, "Could not add the entry", exc)
            return
        self.reload_choices()

    def remove_entry(self) -> None:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        chosen = [self.events[r] for r in rows if r < len(self.events)]
        if not chosen:
            return
        what = chosen[0].person_name if len(chosen) == 1 else f"{len(chosen)} entries"
        if not confirm(self, "Remove entry", f"Remove the attendance entry of {what}?"):
            return
        try:
            for e in chosen:
                self.ctx.repo.remove_event(e.id)
        except RollcallError as exc:
            show_error(self, "Could not remove the entry", exc)
        self.reload_choices()

    def export_csv(self) -> None:
        """Write the rows shown to a CSV file the user chooses."""
        if not self.events:
            return
        default = f"attendance-{default_session_name()}.csv"
        path, _ = QFileDialog.getSaveFileName(self, "Export attendance", default, "CSV files (*.csv)")
        if not path:
            return
        if not path.lower().endswith(".csv"):
            path += ".csv"
        try:
            n = write_csv(path, self.events)
        except RollcallError as exc:
            show_error(self, "Export failed", exc)
            return
        self.count.setText(f"Exported {count(n, 'entry')} to {path}")
