"""How errors reach the user: a plain-words dialog; the details go to the log file in the data folder."""

from __future__ import annotations

import logging

from PySide6.QtWidgets import QMessageBox, QWidget

from common.errors import RollcallError

log = logging.getLogger(__name__)


def plain_message(exc: BaseException) -> str:
    """What to tell the user about ``exc``: Rollcall's own messages as they are, anything else in general words."""
    if isinstance(exc, RollcallError):
        return str(exc)
    return f"Something went wrong ({type(exc).__name__}). The details are in the log file in the data folder."


def show_error(parent: QWidget | None, title: str, exc: BaseException) -> None:
    """Log ``exc`` and show a plain-words message box.

    Rollcall's own messages may name a person (or a photo path that does), so the log file holds them only with
    verbose logging (``-v``); without it, the title and the kind of error. Anything else is logged with its
    traceback.
    """
    if isinstance(exc, RollcallError):
        log.warning("%s (%s; the message is logged with -v)", title, type(exc).__name__)
        log.debug("%s: %s", title, exc)
    else:
        log.error("%s", title, exc_info=(type(exc), exc, exc.__traceback__))
    QMessageBox.warning(parent, title, plain_message(exc))


def confirm(parent: QWidget | None, title: str, text: str) -> bool:
    """Ask a yes/no question; ``True`` when the user answered Yes."""
    answer = QMessageBox.question(
        parent, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No
    )
    return answer == QMessageBox.StandardButton.Yes
