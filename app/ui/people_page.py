"""The People page: everyone enrolled with a thumbnail, sample count and last seen; edit, add samples, delete."""

from __future__ import annotations

import logging
from datetime import datetime

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.context import AppContext
from app.text import count
from app.ui.finetune_wizard import open_finetune_wizard
from app.ui.images import pixmap_from_jpeg
from app.ui.messages import confirm, show_error
from common.errors import RollcallError
from db.records import PersonRecord

log = logging.getLogger(__name__)

COLUMNS = ("", "Name", "Id", "Samples", "Last seen")
THUMB = 48
COLUMN_PADDING = 24
"""Pixels added to a column's content width, so neighbouring columns do not run together."""


def when_text(moment: datetime | None) -> str:
    """A local date and time for the table, or "never"."""
    return "never" if moment is None else f"{moment.astimezone():%Y-%m-%d %H:%M}"


class PeoplePage(QWidget):
    """List, search, rename, re-id, add samples to and delete enrolled people.

    Signals:
        enroll_requested(person_or_None) — open the enrollment wizard (for a new person, or to add samples).
        people_changed — someone was renamed or deleted (the live view reloads its gallery).
    """

    enroll_requested = Signal(object)
    people_changed = Signal()

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.people: list[PersonRecord] = []
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search by name or id")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.refresh)
        self.enroll_button = QPushButton("Enroll someone…")
        self.enroll_button.setObjectName("primary")
        self.enroll_button.clicked.connect(lambda: self.enroll_requested.emit(None))
        self.finetune_button = QPushButton("Fine-tune on my photos…")
        self.finetune_button.setToolTip("Train the face model on your enrolled people's photos, measured before and after")
        self.finetune_button.clicked.connect(lambda: open_finetune_wizard(self.ctx, self))
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.finetune_button)
        top.addWidget(self.enroll_button)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setIconSize(QSize(THUMB, THUMB))
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(THUMB + 8)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Fixed)
        self.table.setColumnWidth(0, THUMB + 12)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for c in (2, 3, 4):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.Interactive)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.doubleClicked.connect(lambda _: self.rename())

        self.empty = QLabel("Nobody is enrolled yet. Click “Enroll someone…” to add the first person.")
        self.empty.setObjectName("emptyHint")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)

        self.add_button = QPushButton("Add samples…")
        self.rename_button = QPushButton("Rename…")
        self.id_button = QPushButton("Edit id…")
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setObjectName("danger")
        self.add_button.clicked.connect(lambda: self.enroll_requested.emit(self.selected()))
        self.rename_button.clicked.connect(self.rename)
        self.id_button.clicked.connect(self.edit_id)
        self.delete_button.clicked.connect(self.delete)
        actions = QHBoxLayout()
        for b in (self.add_button, self.rename_button, self.id_button):
            actions.addWidget(b)
        actions.addStretch(1)
        actions.addWidget(self.delete_button)

        col = QVBoxLayout(self)
        col.addLayout(top)
        col.addWidget(self.table, 1)
        col.addWidget(self.empty, 1)
        col.addLayout(actions)
        self.refresh()

    def refresh(self) -> None:
        """Reload the list from storage (keeps the selection when the person is still there)."""
        keep = self.selected()
        try:
            self.people = self.ctx.repo.list_people(self.search.text())
        except RollcallError as exc:
            show_error(self, "Cannot read the people list", exc)
            self.people = []
        self.table.setRowCount(len(self.people))
        for row, person in enumerate(self.people):
            thumb = QTableWidgetItem()
            thumb.setIcon(QIcon(pixmap_from_jpeg(self.ctx.repo.person_thumbnail(person.id), THUMB)))
            cells = (thumb, QTableWidgetItem(person.name), QTableWidgetItem(person.external_id or ""),
                     QTableWidgetItem(str(person.sample_count)), QTableWidgetItem(when_text(person.last_seen)))  # fmt: skip
            for c, item in enumerate(cells):
                item.setData(Qt.ItemDataRole.UserRole, person.id)
                self.table.setItem(row, c, item)
            if keep is not None and person.id == keep.id:
                self.table.selectRow(row)
        self._fit_columns()
        nobody = not self.people and not self.search.text().strip()
        self.table.setVisible(not nobody)
        self.empty.setVisible(nobody)
        self._update_buttons()

    def _fit_columns(self) -> None:
        """Id, Samples and Last seen as wide as their text plus some air; Name takes the rest."""
        for c in (2, 3, 4):
            self.table.resizeColumnToContents(c)
            self.table.setColumnWidth(c, self.table.columnWidth(c) + COLUMN_PADDING)

    def selected(self) -> PersonRecord | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows or rows[0].row() >= len(self.people):
            return None
        return self.people[rows[0].row()]

    def select_person(self, person_id: int) -> None:
        for row, person in enumerate(self.people):
            if person.id == person_id:
                self.table.selectRow(row)

    def _update_buttons(self) -> None:
        some = self.selected() is not None
        for b in (self.add_button, self.rename_button, self.id_button, self.delete_button):
            b.setEnabled(some)

    def rename(self) -> None:
        person = self.selected()
        if person is None:
            return
        name, ok = QInputDialog.getText(self, "Rename", f"New name for {person.name}:", text=person.name)
        if ok and name.strip() and name.strip() != person.name:
            self._apply("Could not rename", lambda: self.ctx.repo.rename_person(person.id, name))

    def edit_id(self) -> None:
        person = self.selected()
        if person is None:
            return
        ext, ok = QInputDialog.getText(
            self, "Edit id", f"Id of {person.name} (e.g. a student number; empty to clear):", text=person.external_id or ""
        )
        if ok:
            self._apply("Could not change the id", lambda: self.ctx.repo.set_external_id(person.id, ext.strip() or None))

    def delete(self) -> None:
        person = self.selected()
        if person is None:
            return
        question = (
            f"Delete {person.name}?\n\nTheir {count(person.sample_count, 'face photo')} and face vectors are erased with "
            "them and cannot be recovered. Attendance already recorded keeps their name."
        )
        if confirm(self, "Delete person", question):
            self._apply("Could not delete", lambda: self.ctx.repo.remove_person(person.id))

    def _apply(self, title: str, change: object) -> None:
        try:
            change()  # type: ignore[operator]
        except RollcallError as exc:
            show_error(self, title, exc)
            return
        self.refresh()
        self.people_changed.emit()
