"""The backend-switch controller on its own: a cancelled or declined switch keeps the backend in use and says why.

The steps are fakes (no weights, no embedder): the controller's job is the order of the steps, the progress
dialog with its Cancel, and the outcome it reports.
"""

from __future__ import annotations

import time
from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QPushButton, QWidget

from app.config import SETTINGS_FILE
from app.context import AppContext
from app.services.backends import ReembedResult, not_switched_note
from app.ui.backend_switch import BackendSwitch, SwitchSteps
from common.errors import WeightsError
from common.progress import Progress, ShouldStop
from models.weights import WeightStore


def _waits_for_cancel(ctx: AppContext, backend: str, progress: Progress, should_stop: ShouldStop) -> ReembedResult:
    """A re-embedding of 3 stored faces that embeds none before the user cancels (it reports its progress
    while it waits, as a slow first batch would)."""
    deadline = time.monotonic() + 10
    while not should_stop():
        assert time.monotonic() < deadline, "the test never pressed Cancel"
        progress(0, 3, f"embedding faces for {backend}")
        time.sleep(0.05)
    return ReembedResult(backend, embedded=0, remaining=3, cancelled=True)


def _switch(qtbot, ctx: AppContext) -> tuple[BackendSwitch, list[str], list[object]]:  # noqa: ANN001
    page = QWidget()
    qtbot.addWidget(page)
    switch = BackendSwitch(ctx, page)
    why: list[str] = []
    ready: list[object] = []
    switch.not_switched.connect(why.append)
    switch.ready.connect(lambda settings, result: ready.append(result))
    return switch, why, ready


def test_a_cancelled_reembedding_keeps_the_old_backend_and_says_so(qtbot, ctx: AppContext) -> None:
    switch, why, ready = _switch(qtbot, ctx)
    steps = SwitchSteps(missing=lambda store, backend: None, reembed=_waits_for_cancel)
    new = replace(ctx.config.settings, backend="facenet")

    with qtbot.waitSignal(switch.busy, timeout=5000):
        switch.start(new, steps)
    dialog = switch.progress_dialog
    assert dialog is not None and dialog.windowTitle() == "Preparing facenet"
    qtbot.waitUntil(lambda: dialog.labelText() == "Embedding faces for facenet: 0 of 3", timeout=5000)
    with qtbot.waitSignal(switch.not_switched, timeout=10000):
        qtbot.mouseClick(dialog.findChild(QPushButton), Qt.MouseButton.LeftButton)

    assert why == ["Stopped: 0 of 3 stored faces are ready for facenet and are kept; "
                   "Save again to continue where it stopped."]
    assert ready == [] and switch.job is None and not dialog.isVisible()
    assert ctx.config.engine.backend == "dlib" and not (ctx.config.data_dir / SETTINGS_FILE).exists()
    assert not_switched_note(why[0], ctx.config.engine.backend).endswith("Rollcall still recognises with dlib.")


def test_declining_to_get_the_missing_weights_starts_nothing(qtbot, ctx: AppContext) -> None:
    switch, why, ready = _switch(qtbot, ctx)
    spec = WeightStore(ctx.config.cache_dir).spec("facenet")
    asked: list[str] = []
    steps = SwitchSteps(missing=lambda store, backend: spec, ask=lambda parent, s, text: asked.append(text) or "")

    switch.start(replace(ctx.config.settings, backend="facenet"), steps)

    assert len(asked) == 1 and "Until then Rollcall keeps recognising with dlib." in asked[0]
    assert why == ["facenet needs its model file first."] and ready == []
    assert switch.job is None and switch.progress_dialog is None


def test_a_backend_whose_weights_turn_out_damaged_is_not_switched_to(qtbot, ctx: AppContext, monkeypatch) -> None:  # noqa: ANN001
    switch, why, ready = _switch(qtbot, ctx)
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a: shown.append((title, text)))
    damaged = "the facenet model file is damaged (its size differs from when it was installed)"

    def reembed_with_damaged_weights(ctx: AppContext, backend: str, progress, should_stop) -> ReembedResult:  # noqa: ANN001
        raise WeightsError(damaged)

    with qtbot.waitSignal(switch.not_switched, timeout=10000):
        switch.start(replace(ctx.config.settings, backend="facenet"),
                     SwitchSteps(missing=lambda store, backend: None, reembed=reembed_with_damaged_weights))

    assert shown == [("The faces could not be embedded", damaged)] and why == [damaged] and ready == []
    assert ctx.config.engine.backend == "dlib" and switch.job is None
