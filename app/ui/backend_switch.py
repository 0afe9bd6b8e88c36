"""The backend-switch workflow behind Settings' **Save**: make another backend usable before switching to it.

A switch runs in steps, each on the generic worker with a progress dialog: the backend's missing weights are
downloaded or imported (the user chooses), then every enrolled person's stored face crops are embedded for it
(Cancel keeps what is done; the next switch resumes). :class:`BackendSwitch` drives those steps and reports the
outcome as a signal; the page that owns it saves the settings and shows the note. The words of the notes are
Qt-free (:mod:`app.services.backends`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QWidget

from app.config import Settings
from app.context import AppContext
from app.services.backends import (
    DOWNLOAD_CANCELLED,
    ReembedResult,
    needs_weights_text,
    reembed,
    stopped_text,
)
from app.ui.messages import plain_message, show_error
from app.ui.models_dialog import (
    DOWNLOAD,
    IMPORT,
    JobProgress,
    ask_for_weights,
    fetch_model,
    import_model,
    missing_model,
    missing_text,
)
from app.ui.worker import Job, start_job
from common.errors import RollcallError
from models.weights import WeightStore
from models.weights_manifest import ModelSpec

log = logging.getLogger(__name__)

MODEL_FILTER = "Model files (*.h5 *.onnx *.tflite *.pb *.whl *.tar.gz *.zip);;All files (*)"


@dataclass(frozen=True)
class SwitchSteps:
    """The work a switch is made of (tests replace these with fakes).

    Attributes:
        missing: ``(store, backend) -> ModelSpec | None``, the model ``backend`` still needs.
        ask: ``(parent, spec, text) -> DOWNLOAD | IMPORT | ""``, how the user wants to get it.
        fetch, install: worker functions that download / import a model (see :mod:`app.ui.models_dialog`).
        reembed: the worker function that embeds the stored faces for a backend.
    """

    missing: Callable[[WeightStore, str], ModelSpec | None] = missing_model
    ask: Callable[[QWidget | None, ModelSpec, str], str] = ask_for_weights
    fetch: Callable[..., Path | None] = fetch_model
    install: Callable[..., Path] = import_model
    reembed: Callable[..., ReembedResult] = reembed


class BackendSwitch(QObject):
    """Makes one backend usable (weights, then stored faces embedded), one switch at a time.

    Signals:
        ready(Settings, ReembedResult) — the new backend is usable; the owner saves ``Settings`` to switch.
        not_switched(str) — the switch stopped (the user declined, cancelled, or a step failed): why, in words
            ending with a full stop. The backend in use is unchanged.
        busy(bool) — a step started (``True``) or the switch is over (``False``).
    """

    ready = Signal(object, object)
    not_switched = Signal(str)
    busy = Signal(bool)

    def __init__(self, ctx: AppContext, parent: QWidget) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.parent_widget = parent
        self.steps = SwitchSteps()
        self.job: Job | None = None
        """The background step (download, import or re-embed) while one runs."""
        self.progress_dialog: JobProgress | None = None
        self._target: Settings | None = None
        self._step = ""
        self._outcome: object = None
        self._error: BaseException | None = None

    def start(self, new: Settings, steps: SwitchSteps | None = None) -> None:
        """Make ``new.backend`` usable, then emit :attr:`ready` (or :attr:`not_switched`).

        Args:
            new: the settings to switch to (their backend differs from the one in use).
            steps: the work to run; default :class:`SwitchSteps`.
        """
        if steps is not None:
            self.steps = steps
        self._target = new
        spec = self.missing(new.backend)
        if spec is None:
            self._start_reembed()
            return
        text = missing_text(spec, new.backend, self.ctx.config.engine.backend)
        choice = self.steps.ask(self.parent_widget, spec, text)
        if choice == DOWNLOAD:
            self._run("weights", self.steps.fetch, self.ctx.config.cache_dir, spec.name,
                      title="Downloading a model", label=f"Downloading {spec.name}…", unit="bytes")
        elif choice == IMPORT:
            self._import_weights(spec)
        else:
            self._stop(needs_weights_text(new.backend))

    def missing(self, backend: str, steps: SwitchSteps | None = None) -> ModelSpec | None:
        """The model ``backend`` still needs, or ``None`` (also when the manifest cannot be read: the backend's
        own load will say so). ``steps``: whose ``missing`` to ask (default: this switch's)."""
        try:
            return (steps or self.steps).missing(WeightStore(self.ctx.config.cache_dir), backend)
        except RollcallError as exc:
            log.warning("cannot check the weights of %s: %s", backend, exc)
            return None

    def _import_weights(self, spec: ModelSpec) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.parent_widget, f"Choose the {spec.name} model file ({spec.weights_file})", "", MODEL_FILTER
        )
        if not path:
            self._stop(needs_weights_text(spec.backend))
            return
        self._run("weights", self.steps.install, self.ctx.config.cache_dir, spec.name, Path(path),
                  title="Importing a model", label=f"Checking {Path(path).name}…", unit="bytes")

    def _start_reembed(self) -> None:
        backend = self._target.backend if self._target is not None else self.ctx.config.engine.backend
        self._run("reembed", self.steps.reembed, self.ctx, backend, title=f"Preparing {backend}",
                  label=f"Embedding the enrolled people's faces for {backend}…")

    def _run(self, step: str, fn: Callable[..., Any], *args: Any, title: str, label: str, unit: str = "") -> None:
        """Start one step on the generic worker with a progress dialog; :meth:`_on_job_stopped` goes on."""
        self._step, self._outcome, self._error = step, None, None
        if self.progress_dialog is not None:
            self.progress_dialog.deleteLater()

        def connect(job: Job) -> None:
            job.finished.connect(self._on_job_finished)
            job.failed.connect(self._on_job_failed)
            job.stopped.connect(self._on_job_stopped)
            self.progress_dialog = JobProgress(self.parent_widget, title, label, job, unit)

        self.job = start_job(self.parent_widget, fn, *args, connect=connect)
        self.busy.emit(True)

    def _on_job_finished(self, result: object) -> None:
        self._outcome = result

    def _on_job_failed(self, exc: BaseException) -> None:
        self._error = exc

    def _on_job_stopped(self) -> None:
        step, outcome, error = self._step, self._outcome, self._error
        self.job = None
        if self.progress_dialog is not None:
            self.progress_dialog.finish()
        self.busy.emit(False)
        if error is not None:
            what = "The model file could not be installed" if step == "weights" else "The faces could not be embedded"
            show_error(self.parent_widget, what, error)
            self._stop(plain_message(error))
        elif step == "weights":
            self._weights_done(outcome)  # type: ignore[arg-type]
        elif step == "reembed":
            self._reembed_done(outcome)  # type: ignore[arg-type]

    def _weights_done(self, path: Path | None) -> None:
        if path is None:
            self._stop(DOWNLOAD_CANCELLED)
        else:
            log.info("installed %s", path)
            self._start_reembed()

    def _reembed_done(self, result: ReembedResult) -> None:
        new, self._target = self._target, None
        if new is None:
            return
        if result.cancelled:
            self._stop(stopped_text(result, self.ctx.repo.embedding_count(result.backend)))
            return
        self.ready.emit(new, result)

    def _stop(self, why: str) -> None:
        self._target = None
        self.not_switched.emit(why)
