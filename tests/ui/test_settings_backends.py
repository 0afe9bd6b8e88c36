"""Settings: switching backend (missing weights; re-embedding the stored faces with progress, Cancel and resume)
and Suggest threshold (calibration from the enrolled people, applied to the slider only on Apply).

The re-embedding tests use a tiny registered backend (colour means of the stored crops) so they take a second;
the real backends' re-embedding is covered by tests/integration/test_switch_backend.py.
"""

from __future__ import annotations

import math
import threading
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from numpy.typing import NDArray
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox, QPushButton

import app.services.backends as backends_service
import models.engine as engine_module
from app.config import SETTINGS_FILE, Settings, build_config
from app.context import AppContext
from app.ui import settings_page
from app.ui.models_dialog import DOWNLOAD, IMPORT
from models.embedders import registry
from models.embedders.base import EmbedderInfo
from models.weights import WeightStore
from tests.ui.helpers import enroll

TINY = EmbedderInfo("tiny", (150, 150), 12, "dlib_chip", "l2", 0.5, "tiny test backend: colour means of the crop")


class TinyEmbedder:
    """A 12-d embedder (mean colour of each quarter of the crop). ``gate``, when set, holds every call until
    it opens, so a test can press Cancel while the first batch is being embedded."""

    info = TINY

    def __init__(self) -> None:
        self.embedded = 0
        self.gate: threading.Event | None = None
        self.waiting = threading.Event()

    def embed(self, crops: NDArray[np.uint8]) -> NDArray[np.float32]:
        if self.gate is not None:
            self.waiting.set()
            assert self.gate.wait(10), "the test never opened the gate"
        self.embedded += len(crops)
        quarters = crops.reshape(len(crops), 2, 75, 2, 75, 3).mean(axis=(2, 4)).reshape(len(crops), 12)
        return (quarters - quarters.mean(axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppContext]:
    """A context whose model cache is empty: no downloadable backend's weights are installed."""
    monkeypatch.setenv("ROLLCALL_CACHE", str(tmp_path / "empty-cache"))
    context = AppContext(build_config())
    yield context
    context.close()


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> TinyEmbedder:
    """Register backend "tiny" (no weights to fetch); request it before ``window`` so Settings lists it."""
    embedder = TinyEmbedder()
    monkeypatch.setitem(registry.BACKENDS, "tiny", registry.BackendEntry(TINY, "tests.unused:create"))
    real = engine_module.create_embedder
    monkeypatch.setattr(
        engine_module, "create_embedder", lambda name, options=None: embedder if name == "tiny" else real(name, options)
    )
    return embedder


def _photos(celebs: Path, who: str, n: int) -> list[Path]:
    return sorted((celebs / "train" / who).glob("*.jpg"))[:n]


def _choose_backend(window, name: str) -> settings_page.SettingsPage:  # noqa: ANN001
    window.go_to("Settings")
    page = window.settings
    page.backend_box.setCurrentIndex(page.backend_box.findData(name))
    return page


def test_a_backend_without_its_weights_says_so_and_is_not_switched_to(qtbot, window, monkeypatch) -> None:
    asked: list[str] = []
    monkeypatch.setattr(settings_page, "ask_for_weights", lambda parent, spec, text: asked.append(text) or "")
    page = _choose_backend(window, "facenet")
    assert "not on this computer yet" in page.backend_text.text()

    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)

    assert len(asked) == 1
    assert "The facenet backend needs its model file (facenet_keras.h5" in asked[0]
    assert "not on this computer yet" in asked[0] and "keeps recognising with dlib" in asked[0]
    assert window.ctx.config.engine.backend == "dlib"
    assert not (window.ctx.config.data_dir / SETTINGS_FILE).exists(), "nothing was saved"
    assert page.note.text().startswith("Not switched:") and "still recognises with dlib" in page.note.text()


def test_importing_a_wrong_weights_file_is_refused_in_a_message(qtbot, window, tmp_path: Path, monkeypatch) -> None:
    junk = tmp_path / "facenet_keras.h5"
    junk.write_bytes(b"not really a model" * 100)
    warnings: list[str] = []
    monkeypatch.setattr(settings_page, "ask_for_weights", lambda *a: IMPORT)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(junk), ""))
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a: warnings.append(text))
    page = _choose_backend(window, "facenet")

    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.job is None and bool(warnings), timeout=60_000)

    assert "is not the facenet weights: sha256" in warnings[0]
    assert window.ctx.config.engine.backend == "dlib" and page.save_button.isEnabled()
    assert page.note.text().startswith("Not switched:")


def test_download_shows_its_progress_then_the_switch_goes_on(qtbot, tiny, window, celebs: Path, monkeypatch) -> None:
    enroll(window.ctx, "Madonna", _photos(celebs, "madonna", 2))
    spec = replace(WeightStore(window.ctx.config.cache_dir).spec("facenet"), backend="tiny")
    seen = threading.Event()

    def fake_fetch(cache_dir: Path, name: str, progress, should_stop) -> Path:  # noqa: ANN001
        progress(40_000_000, 92_397_640, f"downloading {name}")
        assert seen.wait(10), "the test never saw the progress"
        progress(92_397_640, 92_397_640, f"downloading {name}")
        return cache_dir / name / spec.file

    monkeypatch.setattr(settings_page, "missing_model", lambda store, backend: spec if backend == "tiny" else None)
    monkeypatch.setattr(settings_page, "ask_for_weights", lambda *a: DOWNLOAD)
    monkeypatch.setattr(settings_page, "fetch_model", fake_fetch)
    page = _choose_backend(window, "tiny")

    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    download = page.progress_dialog
    qtbot.waitUntil(lambda: download.labelText() == "Downloading facenet: 40.0 of 92.4 MB", timeout=10000)
    assert download.isVisible() and download.windowTitle() == "Downloading a model"
    seen.set()
    qtbot.waitUntil(lambda: window.ctx.config.engine.backend == "tiny", timeout=10000)

    assert window.ctx.repo.embedding_count("tiny") == 2


def test_switching_backend_reembeds_everyone_with_progress_to_the_end(qtbot, tiny, window, celebs: Path) -> None:
    ctx = window.ctx
    enroll(ctx, "Madonna", _photos(celebs, "madonna", 2))
    enroll(ctx, "Elton John", _photos(celebs, "elton_john", 2))
    page = _choose_backend(window, "tiny")

    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    assert page.progress_dialog is not None and page.progress_dialog.isVisible()
    assert not page.save_button.isEnabled(), "no second Save while the faces are being embedded"
    qtbot.waitUntil(lambda: page.job is None, timeout=20000)

    bar = page.progress_dialog
    assert (bar.value(), bar.maximum()) == (4, 4) and not bar.isVisible()
    assert ctx.config.engine.backend == "tiny" and Settings.load(ctx.config.data_dir).backend == "tiny"
    assert ctx.repo.embedding_count("tiny") == 4 and len(ctx.gallery()) == 2
    assert "4 stored faces were embedded" in page.note.text() and "photographed again" in page.note.text()


def test_cancelled_reembedding_keeps_what_is_done_and_resumes(qtbot, tiny, window, celebs: Path, monkeypatch) -> None:
    ctx = window.ctx
    enroll(ctx, "Madonna", _photos(celebs, "madonna", 2))
    enroll(ctx, "Elton John", _photos(celebs, "elton_john", 2))
    monkeypatch.setattr(backends_service, "BATCH", 2)
    tiny.gate = threading.Event()
    page = _choose_backend(window, "tiny")

    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(tiny.waiting.is_set, timeout=10000)
    cancel = page.progress_dialog.findChild(QPushButton)
    assert cancel.text() == "Cancel"
    qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)
    tiny.gate.set()
    qtbot.waitUntil(lambda: page.job is None, timeout=10000)

    assert "Stopped: 2 of 4 stored faces are ready for tiny" in page.note.text()
    assert ctx.config.engine.backend == "dlib" and ctx.repo.embedding_count("tiny") == 2

    tiny.gate = None
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.job is None, timeout=10000)

    assert tiny.embedded == 4, "the second Save embedded only the two faces still missing"
    assert ctx.config.engine.backend == "tiny" and ctx.repo.embedding_count("tiny") == 4


def test_suggested_threshold_is_shown_and_moves_the_slider_only_on_apply(qtbot, window, celebs: Path) -> None:
    ctx = window.ctx
    for who in ("madonna", "elton_john", "jerry_seinfeld"):
        enroll(ctx, who.replace("_", " ").title(), _photos(celebs, who, 3))
    window.go_to("Settings")
    page = window.settings
    in_use = ctx.gallery().threshold  # Balanced for 3 people
    assert page.slider.value() == round(in_use * 100) and not page.own_threshold.isChecked()

    qtbot.mouseClick(page.suggest_button, Qt.MouseButton.LeftButton)
    dialog = page.threshold_dialog
    assert dialog is not None and dialog.isVisible() and not dialog.apply_button.isEnabled()
    dialog.far_box.setCurrentIndex(dialog.far_box.findData(0.01))  # Balanced: 1 stranger in 100
    qtbot.mouseClick(dialog.suggest_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.job is None, timeout=30000)

    cal = dialog.calibration
    assert cal is not None and cal.fpir_target == 0.01 and cal.far_target < 0.01, dialog.result.text()
    text = dialog.result.text()
    assert "From 3 people and 9 photos" in text and f"In use: {in_use:.2f}" in text and f"Proposed: {cal.proposed:.4f}" in text
    assert "about 1 stranger in 100 named as one of these 3 people" in text
    assert page.slider.value() == round(in_use * 100), "nothing changes before Apply"

    qtbot.mouseClick(dialog.apply_button, Qt.MouseButton.LeftButton)

    assert page.own_threshold.isChecked() and page.slider.isEnabled()
    assert page.slider.value() == math.floor(cal.proposed * 100 + 1e-6)
    assert not dialog.isVisible() and "Save to keep it" in page.note.text()
    assert ctx.gallery().threshold == pytest.approx(in_use), "applied to the slider, not saved"


def test_strictness_says_what_it_means_for_this_gallery_and_is_saved(qtbot, window, celebs: Path) -> None:
    ctx = window.ctx
    for who in ("madonna", "elton_john"):
        enroll(ctx, who.replace("_", " ").title(), _photos(celebs, who, 1))
    window.go_to("Settings")
    page = window.settings
    assert page.strictness_box.currentData() == "balanced" and not page.slider.isEnabled()
    assert "With 2 people enrolled, about 1 stranger in 100 may be named" in page.strictness_text.text()
    balanced = ctx.gallery().threshold

    page.strictness_box.setCurrentIndex(page.strictness_box.findData("strict"))
    assert "about 1 stranger in 1000 may be named" in page.strictness_text.text()
    assert page.slider.value() < round(balanced * 100), "dlib distance: stricter is lower"
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)

    assert ctx.config.settings.strictness == "strict" and ctx.config.settings.thresholds == {}
    assert ctx.gallery().threshold < balanced


def test_suggesting_with_too_few_people_says_how_many_are_needed(qtbot, window, celebs: Path) -> None:
    enroll(window.ctx, "Madonna", _photos(celebs, "madonna", 2))
    window.go_to("Settings")
    qtbot.mouseClick(window.settings.suggest_button, Qt.MouseButton.LeftButton)
    dialog = window.settings.threshold_dialog

    qtbot.mouseClick(dialog.suggest_button, Qt.MouseButton.LeftButton)

    assert "needs at least 2 enrolled people" in dialog.result.text()
    assert "1 person is enrolled so far. Enroll 1 more first." in dialog.result.text()
    assert dialog.job is None and not dialog.apply_button.isEnabled()
