"""Model weights in the window: the "weights are missing" question, download/import jobs, and a progress
dialog bound to any background job.

The work itself is the weights manager's (:class:`models.weights.WeightStore`); the functions here only adapt
it to :func:`app.ui.worker.start_job` (which passes ``progress`` and ``should_stop``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QProgressDialog, QWidget

from app.ui.worker import Job
from common.progress import Progress, ShouldStop
from models.weights import WeightStore
from models.weights_manifest import ModelSpec

log = logging.getLogger(__name__)

DOWNLOAD, IMPORT = "download", "import"
"""Answers of :func:`ask_for_weights` (an empty string: the user chose neither)."""


def missing_model(store: WeightStore, backend: str) -> ModelSpec | None:
    """The manifest model that ``backend`` needs when it is not installed yet, else ``None``.

    Backends without a manifest entry (dlib, whose model ships with the app) never count as missing.
    """
    for spec in store.manifest.values():
        if spec.backend == backend:
            return None if store.is_installed(spec.name) else spec
    return None


def missing_text(spec: ModelSpec, backend: str, in_use: str) -> str:
    """Plain words for "the model file is not on this computer", with what the user can do."""
    size = f"about {spec.size / 1e6:.0f} MB, " if spec.size else ""
    how = "Download it now, or import" if spec.sources else "Import"
    return (
        f"The {backend} backend needs its model file ({spec.weights_file}, {size}{spec.licence} licence), and it is "
        f"not on this computer yet. {how} the file if you downloaded it elsewhere.\n\n"
        f"Until then Rollcall keeps recognising with {in_use}."
    )


def ask_for_weights(parent: QWidget | None, spec: ModelSpec, text: str) -> str:
    """Ask how to get ``spec``'s weights. Returns :data:`DOWNLOAD`, :data:`IMPORT` or ``""`` (cancelled)."""
    box = QMessageBox(QMessageBox.Icon.Information, "Model file needed", text, QMessageBox.StandardButton.Cancel,
                      parent)
    download = box.addButton("Download…", QMessageBox.ButtonRole.AcceptRole) if spec.sources else None
    importing = box.addButton("Import file…", QMessageBox.ButtonRole.ActionRole)
    box.setDefaultButton(download or importing)
    box.exec()
    clicked = box.clickedButton()
    if download is not None and clicked is download:
        return DOWNLOAD
    return IMPORT if clicked is importing else ""


def fetch_model(cache_dir: Path, name: str, progress: Progress, should_stop: ShouldStop) -> Path | None:
    """Download, verify and install ``name`` (``None`` when cancelled: the next try resumes the download)."""
    return WeightStore(cache_dir).fetch(name, progress, should_stop)


def import_model(cache_dir: Path, name: str, path: Path, progress: Progress, should_stop: ShouldStop) -> Path:
    """Install ``name`` from a file the user downloaded elsewhere (checked; cannot be cancelled midway)."""
    return WeightStore(cache_dir).import_file(name, path, progress)


class JobProgress(QProgressDialog):
    """A window-modal progress dialog showing one :class:`Job`; **Cancel** asks the job to stop.

    The dialog does not close itself: its owner calls :meth:`finish` when the job has stopped. The bar keeps
    its last value (no auto-reset), so the owner can tell how far the job got.

    Args:
        unit: ``"bytes"`` shows amounts in MB; anything else shows counts.
    """

    def __init__(self, parent: QWidget, title: str, label: str, job: Job, unit: str = "") -> None:
        super().__init__(label, "Cancel", 0, 0, parent)
        self.setWindowTitle(title)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setMinimumDuration(0)
        self.setAutoClose(False)
        self.setAutoReset(False)
        self.setMinimumWidth(420)
        self.job = job
        self.unit = unit
        self.canceled.connect(self._cancel)
        job.progress.connect(self._on_progress)
        self.show()

    def _cancel(self) -> None:
        self.job.cancel()

    def _on_progress(self, done: int, total: int, text: str) -> None:
        if self.job.cancelled:
            return  # the dialog hid on Cancel; late reports must not bring it back
        scale = 1024 if self.unit == "bytes" else 1  # KiB keeps byte counts inside the bar's int range
        if total > 0:
            amount = f"{done / 1e6:.1f} of {total / 1e6:.1f} MB" if self.unit == "bytes" else f"{done} of {total}"
            self.setLabelText(f"{text[:1].upper()}{text[1:]}: {amount}")
            self.setMaximum(max(1, total // scale))
        else:
            self.setLabelText(f"{text[:1].upper()}{text[1:]}…")
            self.setMaximum(0)  # busy: a moving bar without a known end
        self.setValue(min(done, total) // scale if total > 0 else 0)  # last: may process events when modal

    def finish(self) -> None:
        """Hide the dialog after its job stopped (without the ``canceled`` that closing would emit)."""
        self.canceled.disconnect(self._cancel)
        self.hide()
