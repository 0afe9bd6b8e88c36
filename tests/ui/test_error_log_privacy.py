"""Issue 10, item 3: an error shown in the window reaches the log file without the person's name unless
verbose logging (``-v``) is on; the dialog still says it in full."""

from __future__ import annotations

import logging

from PySide6.QtWidgets import QMessageBox

from app.ui.messages import show_error
from common.errors import NotFound


def test_an_error_dialog_logs_no_name_unless_verbose(qtbot, monkeypatch, caplog) -> None:  # noqa: ANN001
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a: shown.append(text))
    error = NotFound("no person named or with id 'Zed Secret'; `python main.py people` lists them")

    with caplog.at_level(logging.INFO):
        show_error(None, "Cannot remove", error)
    assert shown == [str(error)]
    assert "Cannot remove (NotFound" in caplog.text and "Zed Secret" not in caplog.text

    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="app"):  # what -v asks for
        show_error(None, "Cannot remove", error)
    assert "Cannot remove: no person named or with id 'Zed Secret'" in caplog.text
