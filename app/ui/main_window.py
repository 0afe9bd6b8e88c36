"""The main window: a sidebar of pages (Live, People, Attendance, Settings) and the enrollment wizard."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from types import FrameType
from typing import Callable

from PySide6.QtCore import QByteArray, QSize, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QIcon, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.config import Settings
from app.context import AppContext
from app.ui.attendance_page import AttendancePage
from app.ui.enroll_wizard import EnrollWizard
from app.ui.live_page import LivePage
from app.ui.people_page import PeoplePage
from app.ui.settings_page import SettingsPage
from app.ui.sound import Chime
from app.ui.worker import stop_jobs
from db.records import EventRecord, PersonRecord

log = logging.getLogger(__name__)

ICONS = Path(__file__).resolve().parents[2] / "resources" / "icons"


def icon(name: str) -> QIcon:
    """An icon from ``resources/icons`` (SVG), drawn in white when its item is selected (on the blue bar)."""
    path = ICONS / f"{name}.svg"
    result = QIcon(str(path))
    try:
        white = path.read_text(encoding="utf-8").replace("#3b4a5a", "#ffffff").encode()
    except OSError:
        return result
    for size in (22, 44):
        pix = QPixmap(size, size)
        pix.fill(Qt.GlobalColor.transparent)
        renderer = QSvgRenderer(QByteArray(white))
        painter = QPainter(pix)
        renderer.render(painter)
        painter.end()
        result.addPixmap(pix, QIcon.Mode.Selected)
    return result


class MainWindow(QMainWindow):
    """Rollcall's window. ``wizard_factory`` builds the enrollment wizard (tests may wrap it)."""

    PAGES = ("Live", "People", "Attendance", "Settings")

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Rollcall")
        self.setWindowIcon(icon("app"))
        self.chime = Chime(ctx.config.cache_dir, ctx.config.settings.sound, self)
        self.live = LivePage(ctx, self.chime)
        self.people = PeoplePage(ctx)
        self.attendance = AttendancePage(ctx)
        self.settings = SettingsPage(ctx)
        self.wizard: EnrollWizard | None = None

        self.nav = QListWidget()
        self.nav.setObjectName("nav")
        self.nav.setIconSize(QSize(22, 22))
        self.nav.setFixedWidth(170)
        self.pages = QStackedWidget()
        for name, page in zip(self.PAGES, (self.live, self.people, self.attendance, self.settings)):
            QListWidgetItem(icon(name.lower()), name, self.nav)
            self.pages.addWidget(page)
        self.nav.currentRowChanged.connect(self._show_page)
        title = QLabel("Rollcall")
        title.setObjectName("appTitle")
        side = QVBoxLayout()
        side.setContentsMargins(0, 0, 0, 0)
        side.addWidget(title)
        side.addWidget(self.nav, 1)
        side_box = QWidget()
        side_box.setObjectName("sidebar")
        side_box.setLayout(side)
        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(side_box)
        row.addWidget(self.pages, 1)
        self.setCentralWidget(central)

        self.live.enroll_requested.connect(lambda: self.open_wizard(None))
        self.live.marked.connect(self._on_marked)
        self.live.people_reloaded.connect(lambda _count: self.people.refresh())  # enrolled/removed elsewhere
        self.people.enroll_requested.connect(self.open_wizard)
        self.people.people_changed.connect(self._on_people_changed)
        self.settings.saved.connect(self._on_settings)
        self.nav.setCurrentRow(0)
        self.resize(1100, 700)
        self.data_label = QLabel(f"Data folder: {ctx.config.data_dir}")
        self.statusBar().addWidget(self.data_label)  # comes back after each passing message ("✓ Ada marked present")

    def page(self, name: str) -> QWidget:
        return self.pages.widget(self.PAGES.index(name))

    def go_to(self, name: str) -> None:
        self.nav.setCurrentRow(self.PAGES.index(name))

    def _show_page(self, row: int) -> None:
        self.pages.setCurrentIndex(row)
        page = self.pages.widget(row)
        if page is self.people:
            self.people.refresh()
        elif page is self.attendance:
            self.attendance.reload_choices()

    def open_wizard(self, person: PersonRecord | None = None) -> EnrollWizard:
        """Open the enrollment wizard (non-modal, so the window stays responsive); returns it."""
        source = self.live.source_edit.text().strip() or self.ctx.config.settings.source
        if self.wizard is not None:
            self.wizard.done(0)
        self.wizard = EnrollWizard(self.ctx, source, person, self)
        self.wizard.setWindowModality(Qt.WindowModality.WindowModal)
        wizard = self.wizard
        wizard.finished.connect(lambda _result: self._on_wizard_done(wizard))
        self.wizard.show()
        return self.wizard

    def _on_wizard_done(self, wizard: EnrollWizard) -> None:
        if wizard.saved is not None:
            self._on_people_changed()
            self.people.select_person(wizard.saved.id)
            self.statusBar().showMessage(f"{wizard.saved.name} enrolled", 5000)
        if self.wizard is wizard:
            self.wizard = None
        wizard.deleteLater()

    def _on_people_changed(self) -> None:
        self.people.refresh()
        self.live.refresh_people()
        self.attendance.reload_choices()

    def _on_marked(self, event: EventRecord) -> None:
        self.statusBar().showMessage(f"✓ {event.person_name} marked present", 5000)
        if self.pages.currentWidget() is self.attendance:
            self.attendance.reload_choices()

    def _on_settings(self, settings: Settings) -> None:
        self.chime.enabled = settings.sound
        if not self.live.running:
            self.live.source_edit.setText(settings.source)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt name)
        """Stop the camera, recognition and every background job before the window goes."""
        if self.wizard is not None:
            self.wizard.done(0)
        self.live.shutdown()
        stop_jobs(self)
        super().closeEvent(event)


def close_on_interrupt(window: QMainWindow, poll_ms: int = 200) -> Callable[[], None]:
    """Let Ctrl+C (SIGINT) close ``window`` as its close button would: threads stopped, exit code 0.

    Python runs signal handlers only when it has control, which the Qt event loop never gives it; a timer
    that calls into Python every ``poll_ms`` lets the handler run promptly. Call on the main thread.

    Returns:
        A function that stops the timer and puts the previous SIGINT handler back.
    """
    previous = signal.getsignal(signal.SIGINT)
    timer = QTimer(window)
    timer.timeout.connect(lambda: None)
    timer.start(poll_ms)

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        log.info("interrupted (Ctrl+C): closing the window")
        QTimer.singleShot(0, window.close)

    signal.signal(signal.SIGINT, on_interrupt)
    log.info("window open; Ctrl+C in the terminal closes it")

    def restore() -> None:
        timer.stop()
        signal.signal(signal.SIGINT, previous)

    return restore
