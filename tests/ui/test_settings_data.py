"""Settings → Data: which database this station uses (password hidden), and the station name its marks carry."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from app.config import SETTINGS_FILE, build_config
from app.context import AppContext
from app.ui.settings_page import SettingsPage
from db.records import NewSample


def _page(qtbot, ctx: AppContext) -> SettingsPage:  # noqa: ANN001
    page = SettingsPage(ctx)
    qtbot.addWidget(page)
    page.show()
    return page


def _save(qtbot, page: SettingsPage) -> None:  # noqa: ANN001
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)


def _mark_someone(ctx: AppContext) -> str | None:
    sample = NewSample(b"\xff\xd8fake", [(1.0, 2.0)], "dlib68", "test", 0.9)
    person = ctx.repo.add_person("Ada", None, [sample], {})
    session = ctx.repo.get_or_create_session("morning")
    event = ctx.repo.mark_if_due(person.id, session.id, datetime.now(timezone.utc), "manual", 0.0)
    assert event is not None
    return event.station


def test_the_data_row_names_the_sqlite_file_in_use(qtbot, ctx: AppContext) -> None:
    page = _page(qtbot, ctx)
    assert page.database.text().startswith("SQLite file ")
    assert str(ctx.config.data_dir) in page.database.text()


@pytest.fixture
def pg_ctx(pg_url: str, tmp_path: Path) -> Iterator[AppContext]:
    """A station on the throw-away PostgreSQL, its URL carrying a password (the test server trusts anyone)."""
    url = pg_url.replace("rollcall@", "rollcall:s3cret-word@")
    context = AppContext(build_config(str(tmp_path / "door"), url))
    yield context
    context.close()


def test_a_postgresql_database_is_shown_with_its_password_hidden(qtbot, pg_ctx: AppContext) -> None:
    page = _page(qtbot, pg_ctx)
    text = page.database.text()
    assert text.startswith("PostgreSQL server postgresql+psycopg://rollcall:***@127.0.0.1:")
    assert "s3cret" not in text


def test_a_new_station_name_is_saved_and_recorded_with_later_marks(qtbot, ctx: AppContext) -> None:
    page = _page(qtbot, ctx)
    assert page.station_edit.text() == ctx.config.station  # the host name until the user names the station
    page.station_edit.setText("  Front door ")
    _save(qtbot, page)
    saved = json.loads((ctx.config.data_dir / SETTINGS_FILE).read_text(encoding="utf-8"))
    assert saved["station"] == "Front door"
    assert ctx.config.station == "Front door"
    assert _mark_someone(ctx) == "Front door"
    assert build_config(str(ctx.config.data_dir)).station == "Front door", "kept for the next start"


@pytest.mark.parametrize("bad", ["   ", "door\u200b2"])
def test_an_unusable_station_name_is_refused_with_a_message(qtbot, ctx: AppContext, monkeypatch, bad: str) -> None:
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: shown.append(text))
    before = ctx.config.station
    page = _page(qtbot, ctx)
    page.station_edit.setText(bad)
    _save(qtbot, page)
    assert len(shown) == 1 and "station name" in shown[0] and "1 to 100 characters" in shown[0]
    assert ctx.config.station == before
    assert not (ctx.config.data_dir / SETTINGS_FILE).exists(), "nothing saved"
