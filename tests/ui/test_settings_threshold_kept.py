"""Settings keeps a saved own threshold exactly: one the slider cannot show (a calibrated 0.4137, or a loose 1.5
that is inside the backend's valid range but beyond the slider's usual end) survives saving other settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest
from PySide6.QtCore import Qt

from app.config import SETTINGS_FILE, build_config
from app.context import AppContext
from app.ui.settings_page import SettingsPage


@pytest.fixture
def saved(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[AppContext]:
    """A context whose settings file holds the dlib threshold ``request.param``."""
    (tmp_path / SETTINGS_FILE).write_text(json.dumps({"thresholds": {"dlib": request.param}}))
    context = AppContext(build_config(str(tmp_path)))
    yield context
    context.close()


@pytest.mark.parametrize(("saved", "shown"), [(0.4137, "0.4137"), (1.5, "1.50")], indirect=["saved"])
def test_saving_other_settings_keeps_the_own_threshold_as_it_was(qtbot, saved: AppContext, shown: str) -> None:
    page = SettingsPage(saved)
    qtbot.addWidget(page)
    page.show()
    assert page.own_threshold.isChecked() and page.threshold_value.text() == shown

    page.sound.setChecked(not page.sound.isChecked())
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)

    kept = json.loads((saved.config.data_dir / SETTINGS_FILE).read_text())["thresholds"]
    assert kept == {"dlib": float(shown)} and saved.config.engine.threshold == float(shown)
    assert page.note.text().startswith("Saved.")


@pytest.mark.parametrize("saved", [0.4137], indirect=True)
def test_moving_the_slider_replaces_the_kept_threshold(qtbot, saved: AppContext) -> None:
    page = SettingsPage(saved)
    qtbot.addWidget(page)
    page.slider.setValue(page.slider.value() - 2)

    assert page.threshold_value.text() == "0.39"
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    assert saved.config.settings.thresholds == {"dlib": 0.39}
