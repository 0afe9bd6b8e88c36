"""Opening the window: the Qt application, the log file in the data folder, the style sheet."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from types import TracebackType
from typing import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from app.context import AppContext
from app.ui.main_window import MainWindow, close_on_interrupt
from app.ui.messages import plain_message

log = logging.getLogger(__name__)

STYLE = Path(__file__).resolve().parents[2] / "resources" / "style.qss"
LOG_FILE = "rollcall.log"


def attach_log_file(data_dir: Path) -> logging.Handler | None:
    """Send INFO and above from every logger to ``rollcall.log`` in ``data_dir`` (``None`` if not writable)."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(data_dir / LOG_FILE, encoding="utf-8")
    except OSError as exc:
        log.warning("no log file in %s: %s", data_dir, exc)
        return None
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for existing in root.handlers:  # the console keeps the level it had (the log file wants more)
        if existing.level == logging.NOTSET:
            existing.setLevel(root.getEffectiveLevel())
    root.addHandler(handler)
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
    return handler


def apply_style(app: QApplication) -> None:
    """Use Fusion with Rollcall's style sheet (same look on every platform)."""
    app.setStyle("Fusion")
    try:
        app.setStyleSheet(STYLE.read_text(encoding="utf-8"))
    except OSError as exc:
        log.warning("style sheet not loaded: %s", exc)


def application() -> QApplication:
    """The running QApplication, created when there is none (also for scripts that drive the window)."""
    app = QApplication.instance()
    return app if isinstance(app, QApplication) else QApplication(sys.argv[:1])


def every(interval_ms: int, callback: Callable[[], None]) -> QTimer:
    """A started timer calling ``callback`` every ``interval_ms`` (keep a reference; ``stop()`` it when done)."""
    timer = QTimer()
    timer.setInterval(interval_ms)
    timer.timeout.connect(callback)
    timer.start()
    return timer


def add_quit_shortcut(window: QWidget) -> QShortcut:
    """Ctrl+Q (Cmd+Q on a Mac) closes ``window`` whichever of its pages or widgets has the focus."""
    shortcut = QShortcut(QKeySequence("Ctrl+Q"), window)
    shortcut.setContext(Qt.ShortcutContext.ApplicationShortcut)
    shortcut.activated.connect(window.close)
    return shortcut


def create_window(ctx: AppContext, source: str | None = None) -> MainWindow:
    """The styled main window (the QApplication must exist); ``source`` is the ``--source`` given, if any."""
    app = QApplication.instance()
    if isinstance(app, QApplication):
        apply_style(app)
    window = MainWindow(ctx)
    add_quit_shortcut(window)
    if source:
        window.settings.show_source(source)
    return window


def launch_window(ctx: AppContext, source: str | None = None) -> int:
    """Open the window (starting the live view on ``source`` when given) and run until it closes.

    Returns:
        The process exit code.
    """
    attach_log_file(ctx.config.data_dir)
    app = application()
    app.setApplicationName("Rollcall")
    window = create_window(ctx, source)
    previous_hook = sys.excepthook

    def report(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        log.error("unexpected error", exc_info=(kind, exc, tb))
        QMessageBox.warning(window, "Something went wrong", plain_message(exc))

    sys.excepthook = report
    restore_interrupt = close_on_interrupt(window)
    try:
        window.show()
        if source:
            window.live.start(source)
        return int(app.exec())
    finally:
        restore_interrupt()
        sys.excepthook = previous_hook
