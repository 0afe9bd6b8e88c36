"""The "Fine-tune on my photos…" wizard: data → model → training (live curve, Cancel) → result (use or discard).

Training runs in a spawned worker process (:mod:`app.services.training_process`), polled from a timer, so the
window stays responsive, TensorFlow never loads in the window's process, and a crash of the trainer is a message
on the page. Only the service functions are called; tests may hand in other ones through :class:`TrainingHooks`.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCharts import QChart, QChartView, QLineSeries, QValueAxis
from PySide6.QtCore import QEvent, QMargins, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QPainter, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from app.context import AppContext
from app.text import count
from app.services.training_process import DoneEvent, EpochEvent, ErrorEvent, ProgressEvent, WorkerProcess, start_process
from app.ui.messages import plain_message
from app.ui.worker import Job, start_job
from common.errors import RollcallError
from db.records import PersonRecord

log = logging.getLogger(__name__)

MIN_PEOPLE = 2
MIN_PHOTOS = 4
POLL_MS = 100
BASES = (
    ("facenet", "FaceNet-128, pretrained (recommended)"),
    ("resnet50", "ResNet50 from scratch — needs a large data set (thousands of photos)"),
)
MODES = {
    "head": "Head — only the top layers train on features computed once; fast, even on a CPU",
    "full": "Full — every layer trains; best with a GPU, slow on a CPU",
}
METRICS = (("accuracy", "accuracy", True), ("auc", "ROC AUC", False), ("tar_at_far", "TAR at FAR 1e-3", True))
"""(key, label, shown as a percentage) of the before/after table."""


@dataclass(frozen=True)
class TrainingHooks:
    """The service functions the wizard calls (``app.services.training`` by default).

    ``job`` runs in the spawned process, so it must be a module-level function; the others run here.
    """

    make_spec: Callable[..., Any]
    plan: Callable[[Any, Any], Any]
    job: Callable[..., Any]
    adopt: Callable[..., str]
    discard: Callable[[Any], None]


def default_hooks() -> TrainingHooks:
    """The real fine-tune (imports no TensorFlow here: the service loads it inside its functions)."""
    from app.services import training

    return TrainingHooks(training.TrainSpec, training.plan_training, training.run_training, training.adopt_model,
                         training.discard_model)  # fmt: skip


def duration_text(seconds: float) -> str:
    """``42 s``, ``3 min 05 s`` or ``1 h 02 min``."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def banner(kind: str = "") -> QLabel:
    """A word-wrapped message strip (warning by default; ``kind`` "error" or "info"), hidden until set."""
    label = QLabel()
    label.setObjectName("banner")
    label.setProperty("kind", kind)
    label.setWordWrap(True)
    label.setContentsMargins(8, 6, 8, 6)
    label.hide()
    return label


def set_banner(label: QLabel, text: str, kind: str | None = None) -> None:
    """Show ``text`` in ``label`` (hide it when empty), optionally changing its kind."""
    if kind is not None and label.property("kind") != kind:
        label.setProperty("kind", kind)
        label.style().unpolish(label)
        label.style().polish(label)
    label.setText(text)
    label.setVisible(bool(text))


def sentence(text: str) -> str:
    """``text`` with a capital first letter and a full stop (the service writes lower-case phrases)."""
    text = text.strip()
    if not text:
        return text
    return text[0].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")


def hint(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("hint")
    label.setWordWrap(True)
    return label


# ----- 1 Data ---------------------------------------------------------------------------------------------------
class DataPage(QWizardPage):
    """The enrolled people with their photo counts (all ticked), a background folder, the held-out share."""

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.people: list[PersonRecord] = []
        self.setTitle("Which photos should the model learn from?")
        self.setSubTitle("Rollcall fine-tunes on the face photos it stored when you enrolled people. "
                         "Nobody has to be photographed again.")  # fmt: skip
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(("Person", "Photos"))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemChanged.connect(lambda _item: self._update())
        self.warning = banner()
        self.background_edit = QLineEdit()
        self.background_edit.setPlaceholderText("optional: a folder with one sub-folder of photos per person")
        browse = QPushButton("Choose…")
        browse.clicked.connect(self.choose_background)
        self.background_edit.textChanged.connect(lambda _t: self._update())
        row = QHBoxLayout()
        row.addWidget(self.background_edit, 1)
        row.addWidget(browse)
        self.holdout = QSpinBox()
        self.holdout.setRange(10, 50)
        self.holdout.setSingleStep(5)
        self.holdout.setValue(20)
        self.holdout.setSuffix(" %")
        self.holdout.valueChanged.connect(lambda _v: self._update())
        self.holdout_text = hint("")
        form = QFormLayout()
        form.addRow("Other people (background)", self._stack(row, hint(
            "Faces of people not in your class, mixed into every batch: they give the model hard examples "
            "and keep it good at faces in general.")))  # fmt: skip
        form.addRow("Held out for testing", self._stack(self.holdout, self.holdout_text))
        col = QVBoxLayout(self)
        col.addWidget(self.table, 1)
        col.addWidget(self.warning)
        col.addLayout(form)
        self.load()

    @staticmethod
    def _stack(top: QWidget | QHBoxLayout, below: QLabel) -> QWidget:
        box = QWidget()
        col = QVBoxLayout(box)
        col.setContentsMargins(0, 0, 0, 0)
        if isinstance(top, QWidget):
            col.addWidget(top, 0, Qt.AlignmentFlag.AlignLeft)
        else:
            col.addLayout(top)
        col.addWidget(below)
        return box

    def load(self) -> None:
        """List everyone enrolled, all ticked."""
        try:
            self.people = [p for p in self.ctx.repo.list_people() if p.sample_count > 0]
        except RollcallError as exc:
            set_banner(self.warning, f"Cannot read the people list: {exc}", "error")
            self.people = []
        self.table.blockSignals(True)
        self.table.setRowCount(len(self.people))
        for row, person in enumerate(self.people):
            name = QTableWidgetItem(person.name)
            name.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
            name.setCheckState(Qt.CheckState.Checked)
            count = QTableWidgetItem(str(person.sample_count))
            count.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, 0, name)
            self.table.setItem(row, 1, count)
        self.table.blockSignals(False)
        self._update()

    def chosen(self) -> list[PersonRecord]:
        """The ticked people."""
        return [p for r, p in enumerate(self.people) if self.table.item(r, 0).checkState() == Qt.CheckState.Checked]

    def set_ticked(self, person_id: int, ticked: bool) -> None:
        for r, p in enumerate(self.people):
            if p.id == person_id:
                self.table.item(r, 0).setCheckState(Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked)

    def background(self) -> str | None:
        return self.background_edit.text().strip() or None

    def choose_background(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder of other people's photos (one sub-folder each)")
        if folder:
            self.background_edit.setText(folder)

    def isComplete(self) -> bool:  # noqa: N802 (Qt name)
        return len(self.chosen()) >= MIN_PEOPLE and not self.background_problem()

    def background_problem(self) -> str:
        """Why the background folder cannot be used ("" when it can, or none is given)."""
        folder = self.background()
        if folder is None or Path(folder).expanduser().is_dir():
            return ""
        return f"The background folder {folder} does not exist. Choose an existing folder, or leave the field empty."

    def _update(self) -> None:
        chosen = self.chosen()
        photos = sum(p.sample_count for p in chosen)
        held = sum(max(1, round(p.sample_count * self.holdout.value() / 100)) for p in chosen)
        self.holdout_text.setText(f"About {held} of the {photos} photos of the ticked people are kept aside to "
                                  "measure the model before and after training; it never trains on them.")  # fmt: skip
        problem = self.background_problem()
        set_banner(self.warning, problem or self.warning_text(chosen), "error" if problem else "")
        self.completeChanged.emit()

    def warning_text(self, chosen: list[PersonRecord]) -> str:
        """What is too little about the ticked people, and what to do about it ("" when enough)."""
        if len(chosen) < MIN_PEOPLE:
            enrolled = len(self.people)
            what = ("tick at least two people" if enrolled >= MIN_PEOPLE
                    else "enroll more people first (People → Enroll someone…)")  # fmt: skip
            return (f"Fine-tuning needs at least {MIN_PEOPLE} people: the model learns by telling people apart. "
                    f"Please {what}.")  # fmt: skip
        few = [p for p in chosen if p.sample_count < MIN_PHOTOS]
        if not few:
            return ""
        names = ", ".join(f"{p.name} ({p.sample_count})" for p in few[:5]) + (" …" if len(few) > 5 else "")
        return (f"Fewer than {MIN_PHOTOS} photos: {names}. With so few photos a person teaches the model little and "
                "their test is shaky. Add photos (People → Add samples…) or untick them.")  # fmt: skip


# ----- 2 Model --------------------------------------------------------------------------------------------------
class ModelPage(QWizardPage):
    """Base model, mode (with the recommendation and estimated time from the plan) and the Advanced knobs."""

    def __init__(self, ctx: AppContext, hooks: TrainingHooks, data: DataPage) -> None:
        super().__init__()
        self.ctx, self.hooks, self.data = ctx, hooks, data
        self.plan: Any = None
        self.plan_error = ""
        self.plan_job: Job | None = None
        self._replan = False
        self.closing = False
        """Set when the wizard closes: no new plan is asked for."""
        self._mode_chosen = False
        self.setTitle("Which model, and how?")
        self.setSubTitle("The recommendation depends on this computer and on how many photos you have.")
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "Start training")
        self.base_box = QComboBox()
        for key, text in BASES:
            self.base_box.addItem(text, key)
        self.mode_group = QButtonGroup(self)
        self.mode_buttons = {key: QRadioButton(text) for key, text in MODES.items()}
        modes = QVBoxLayout()
        for key, button in self.mode_buttons.items():
            self.mode_group.addButton(button)
            modes.addWidget(button)
        self.mode_buttons["head"].setChecked(True)
        self.mode_group.buttonClicked.connect(self._on_mode_clicked)
        self.plan_text = QLabel("Checking your photos and this computer…")
        self.plan_text.setWordWrap(True)
        self.plan_text.setObjectName("guidance")
        self.plan_warning = banner()
        form = QFormLayout()
        form.addRow("Base model", self.base_box)
        form.addRow("Mode", modes)
        col = QVBoxLayout(self)
        col.addLayout(form)
        col.addWidget(self.plan_text)
        col.addWidget(self.plan_warning)
        col.addWidget(self._advanced())
        col.addStretch(1)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(300)
        self._debounce.timeout.connect(self.request_plan)
        for signal in (self.base_box.currentIndexChanged, self.mode_group.buttonClicked, self.epochs.valueChanged,
                       self.people_per_batch.valueChanged, self.per_person.valueChanged):  # fmt: skip
            signal.connect(lambda *_: self._debounce.start())

    def _advanced(self) -> QGroupBox:
        box = QGroupBox("Advanced")
        self.margin = QDoubleSpinBox()
        self.margin.setRange(0.01, 2.0)
        self.margin.setSingleStep(0.05)
        self.margin.setValue(0.2)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 500)
        self.epochs.setValue(10)
        self.people_per_batch = QSpinBox()
        self.people_per_batch.setRange(2, 128)
        self.people_per_batch.setValue(8)
        self.per_person = QSpinBox()
        self.per_person.setRange(2, 32)
        self.per_person.setValue(4)
        self.learning_rate = QDoubleSpinBox()
        self.learning_rate.setDecimals(5)
        self.learning_rate.setRange(0.00001, 0.1)
        self.learning_rate.setSingleStep(0.0001)
        self.learning_rate.setValue(0.001)
        batch = QHBoxLayout()
        batch.addWidget(self.people_per_batch)
        batch.addWidget(QLabel("people ×"))
        batch.addWidget(self.per_person)
        batch.addWidget(QLabel("photos each per batch"))
        batch.addStretch(1)
        grid = QGridLayout(box)
        for row, (label, field) in enumerate((("Triplet margin", self.margin), ("Epochs", self.epochs),
                                              ("Learning rate", self.learning_rate))):  # fmt: skip
            grid.addWidget(QLabel(label), row, 0)
            grid.addWidget(field, row, 1)
        grid.addWidget(QLabel("Batch (P × K)"), 3, 0)
        grid.addLayout(batch, 3, 1, 1, 3)
        grid.setColumnStretch(3, 1)
        return box

    def mode(self) -> str:
        return next(k for k, b in self.mode_buttons.items() if b.isChecked())

    def spec_fields(self) -> dict[str, Any]:
        """The training settings of both pages, as ``TrainSpec`` fields."""
        return {
            "base": self.base_box.currentData(), "source": "enrolled",
            "person_ids": tuple(p.id for p in self.data.chosen()), "background": self.data.background(),
            "mode": self.mode(), "epochs": self.epochs.value(), "margin": round(self.margin.value(), 4),
            "people": self.people_per_batch.value(), "per_person": self.per_person.value(),
            "learning_rate": self.learning_rate.value(), "holdout": self.data.holdout.value() / 100,
        }  # fmt: skip

    def spec(self) -> Any:
        return self.hooks.make_spec(**self.spec_fields())

    def initializePage(self) -> None:  # noqa: N802 (Qt name)
        self.request_plan()

    def _on_mode_clicked(self) -> None:
        self._mode_chosen = True

    def request_plan(self) -> None:
        """Ask the service for a plan on a worker thread (it may look at the device); one at a time, and a
        request made meanwhile runs when it ends (the answer to outdated settings is not shown)."""
        if self.closing:
            return
        if self.plan_job is not None:
            self._replan = True
            return
        self._replan = False
        self.plan_text.setText("Checking your photos and this computer…")
        try:
            spec = self.spec()
        except (RollcallError, ValueError, TypeError) as exc:
            self._on_plan_failed(exc)
            return
        self.plan_job = start_job(self, self.hooks.plan, self.ctx.config, spec, with_callbacks=False,
                                  connect=self._connect_plan)

    def _connect_plan(self, job: Job) -> None:
        job.finished.connect(self._on_plan)
        job.failed.connect(self._on_plan_failed)
        job.stopped.connect(self._on_plan_stopped)

    def _on_plan(self, plan: Any) -> None:
        if self._replan:
            return
        self.plan, self.plan_error = plan, ""
        if not self._mode_chosen and plan.recommended_mode in self.mode_buttons:
            self.mode_buttons[plan.recommended_mode].setChecked(True)
        chosen = self.mode()
        advice = "recommended" if chosen == plan.recommended_mode else f"{plan.recommended_mode} is recommended"
        self.plan_text.setText(
            f"{plan.people} people, {plan.photos} photos, on {plan.device}. {chosen.capitalize()} mode ({advice}): "
            f"about {duration_text(plan.estimated_seconds)} for {self.epochs.value()} epochs."
        )
        set_banner(self.plan_warning, "\n".join(sentence(w) for w in plan.warnings), "")
        self.completeChanged.emit()

    def _on_plan_failed(self, exc: BaseException) -> None:
        if self._replan:
            return
        self.plan, self.plan_error = None, plain_message(exc)
        log.warning("no training plan: %s", exc)
        self.plan_text.setText("Training cannot start with these settings.")
        set_banner(self.plan_warning, self.plan_error, "error")
        self.completeChanged.emit()

    def _on_plan_stopped(self) -> None:
        self.plan_job = None
        if self._replan:
            self.request_plan()

    def isComplete(self) -> bool:  # noqa: N802 (Qt name)
        return not self.plan_error

    def device(self) -> str:
        return self.plan.device if self.plan is not None else "—"


def reap_when_ended(owner: QObject, process: WorkerProcess, within_s: float = 30.0) -> None:
    """Join ``process`` once it has exited (checked by a timer of ``owner``); terminate it after ``within_s``."""
    deadline = time.monotonic() + within_s
    timer = QTimer(owner)

    def check() -> None:
        if not process.is_alive() or time.monotonic() > deadline:
            timer.stop()
            timer.deleteLater()
            process.close(timeout_s=0)

    timer.timeout.connect(check)
    timer.start(200)


# ----- 3 Training -----------------------------------------------------------------------------------------------
class LossChart(QChartView):
    """The loss per epoch (left axis) and the held-out accuracy per epoch (right axis, %)."""

    def __init__(self) -> None:
        chart = QChart()
        chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
        chart.setMargins(QMargins(0, 0, 0, 0))
        super().__init__(chart)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setMinimumHeight(220)
        self.loss = QLineSeries(name="triplet loss")
        self.accuracy = QLineSeries(name="held-out accuracy (%)")
        self.loss.setPen(QPen(Qt.GlobalColor.darkBlue, 2))
        self.accuracy.setPen(QPen(Qt.GlobalColor.darkGreen, 2))
        self.x_axis = QValueAxis()
        self.x_axis.setTitleText("epoch")
        self.x_axis.setLabelFormat("%d")
        self.loss_axis = QValueAxis()
        self.loss_axis.setTitleText("loss")
        self.accuracy_axis = QValueAxis()
        self.accuracy_axis.setRange(50, 100)
        self.accuracy_axis.setTitleText("accuracy %")
        chart.addAxis(self.x_axis, Qt.AlignmentFlag.AlignBottom)
        chart.addAxis(self.loss_axis, Qt.AlignmentFlag.AlignLeft)
        chart.addAxis(self.accuracy_axis, Qt.AlignmentFlag.AlignRight)
        for series, axis in ((self.loss, self.loss_axis), (self.accuracy, self.accuracy_axis)):
            chart.addSeries(series)
            series.attachAxis(self.x_axis)
            series.attachAxis(axis)
        self.reset(10)

    def reset(self, epochs: int) -> None:
        self.loss.clear()
        self.accuracy.clear()
        self.x_axis.setRange(0, max(1, epochs))
        self.x_axis.setTickCount(min(epochs, 10) + 1)
        self.loss_axis.setRange(0, 1)

    def add(self, stats: Any) -> None:
        """One epoch's points; the axes grow to fit."""
        self.loss.append(stats.epoch, stats.loss)
        top = max(p.y() for p in self.loss.points())
        self.loss_axis.setRange(0, max(1e-3, top * 1.1))
        if stats.heldout_accuracy is not None:
            pct = 100 * stats.heldout_accuracy
            self.accuracy.append(stats.epoch, pct)
            low = min(p.y() for p in self.accuracy.points())
            self.accuracy_axis.setRange(min(50, 10 * int(low // 10)), 100)


class TrainingPage(QWizardPage):
    """Starts the worker process, shows its progress live and offers Stop; moves on when it returns."""

    def __init__(self, ctx: AppContext, hooks: TrainingHooks, model: ModelPage) -> None:
        super().__init__()
        self.ctx, self.hooks, self.model = ctx, hooks, model
        self.process: WorkerProcess | None = None
        self.outcome: Any = None
        self.epochs: list[Any] = []
        self.error = ""
        self._last_epoch_at = 0.0
        self._epoch_times: list[float] = []
        self.setTitle("Training")
        self.setSubTitle("You can keep using Rollcall meanwhile. Stopping keeps the best model so far.")
        self.chart = LossChart()
        self.stage = QLabel("Starting the trainer…")
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)
        self.epoch_text = QLabel("Epoch — of —")
        self.time_text = QLabel("Elapsed 0 s")
        self.device_text = QLabel("Device: —")
        for label in (self.epoch_text, self.time_text, self.device_text):
            label.setObjectName("muted")
        self.stop_button = QPushButton("Stop training")
        self.stop_button.setObjectName("danger")
        self.stop_button.clicked.connect(self.cancel)
        self.error_banner = banner("error")
        self.retry_button = QPushButton("Change the settings…")
        self.retry_button.clicked.connect(self._change_settings)
        self.retry_button.hide()
        facts = QHBoxLayout()
        facts.addWidget(self.time_text)
        facts.addSpacing(24)
        facts.addWidget(self.device_text)
        facts.addStretch(1)
        facts.addWidget(self.stop_button)
        col = QVBoxLayout(self)
        col.addWidget(self.chart, 1)
        col.addWidget(self.epoch_text)
        col.addWidget(self.stage)
        col.addWidget(self.bar)
        col.addLayout(facts)
        col.addWidget(self.error_banner)
        col.addWidget(self.retry_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.poll)

    @property
    def running(self) -> bool:
        return self.process is not None and not self.process.finished

    def initializePage(self) -> None:  # noqa: N802 (Qt name)
        self.outcome, self.epochs, self.error = None, [], ""
        self._epoch_times: list[float] = []
        self.chart.reset(self.model.epochs.value())
        set_banner(self.error_banner, "")
        self.retry_button.hide()
        self.stop_button.setEnabled(True)
        self.stop_button.setText("Stop training")
        self.device_text.setText(f"Device: {self.model.device()}")
        self.epoch_text.setText(f"Epoch 0 of {self.model.epochs.value()}")
        self.stage.setText("Starting the trainer (loading TensorFlow can take a while)…")
        self.bar.setRange(0, 0)
        self.start()

    def start(self) -> None:
        """Spawn the trainer with the chosen settings and start polling it."""
        from app.services.training_process import start_training

        try:
            spec = self.model.spec()
            self.process = start_training(self.ctx.config, spec, job=self.hooks.job)
        except (RollcallError, OSError, ValueError) as exc:
            self._fail(plain_message(exc))
            return
        self._last_epoch_at = time.monotonic()
        self.timer.start()

    def poll(self) -> None:
        """Handle what the trainer sent since the last tick (called by the timer)."""
        if self.process is None:
            return
        for event in self.process.poll():
            if isinstance(event, ProgressEvent):
                self._on_progress(event)
            elif isinstance(event, EpochEvent):
                self._on_epoch(event.stats)
            elif isinstance(event, DoneEvent):
                self._on_done(event.result)
            elif isinstance(event, ErrorEvent):
                self._fail(event.message)
        self._show_time()

    def _on_progress(self, event: ProgressEvent) -> None:
        self.stage.setText(event.text[:1].upper() + event.text[1:])
        if event.total > 0:
            self.bar.setRange(0, event.total)
            self.bar.setValue(min(event.done, event.total))
        else:
            self.bar.setRange(0, 0)

    def _on_epoch(self, stats: Any) -> None:
        self.epochs.append(stats)
        self._last_epoch_at = time.monotonic()
        self._epoch_times.append(self._last_epoch_at)
        self.chart.add(stats)
        acc = "" if stats.heldout_accuracy is None else f", held-out accuracy {100 * stats.heldout_accuracy:.1f} %"
        self.epoch_text.setText(f"Epoch {stats.epoch} of {stats.epochs} — loss {stats.loss:.4f}{acc}")

    def _show_time(self) -> None:
        if self.process is None:
            return
        elapsed = time.monotonic() - self.process.started_at
        text = f"Elapsed {duration_text(elapsed)}"
        left = self.remaining_seconds(elapsed)
        if left is not None and self.running:
            text += " · almost done" if left < 1 else f" · about {duration_text(left)} left"
        self.time_text.setText(text)

    def remaining_seconds(self, elapsed: float) -> float | None:
        """From the epochs so far (mean seconds per epoch), else from the plan's estimate; ``None`` if unknown."""
        total = self.model.epochs.value()
        if self.epochs:
            per_epoch = self.seconds_per_epoch()
            since = time.monotonic() - self._last_epoch_at
            return max(0.0, per_epoch * (total - self.epochs[-1].epoch) - since)
        plan = self.model.plan
        if plan is not None and plan.estimated_seconds > elapsed:
            return plan.estimated_seconds - elapsed
        return None

    def seconds_per_epoch(self) -> float:
        """Wall-clock seconds between epoch reports (they include any per-epoch evaluation); after the first
        epoch only, the trainer's own figure for it."""
        if len(self._epoch_times) >= 2:
            return (self._epoch_times[-1] - self._epoch_times[0]) / (len(self._epoch_times) - 1)
        return float(self.epochs[0].seconds)

    def cancel(self) -> None:
        """Ask the trainer to stop; it finishes the step, keeps the best checkpoint and reports the result."""
        if self.running:
            self.process.cancel()  # type: ignore[union-attr]
            self.stop_button.setEnabled(False)
            self.stop_button.setText("Stopping…")
            self.stage.setText("Stopping after this step; the best model so far is kept…")

    def _on_done(self, outcome: Any) -> None:
        self.outcome = outcome
        self._finish_process()
        self.completeChanged.emit()
        wizard = self.wizard()
        if wizard is not None and wizard.currentPage() is self:
            wizard.next()

    def _fail(self, message: str) -> None:
        self.error = message
        self._finish_process()
        self.stage.setText("Training did not finish.")
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        set_banner(self.error_banner, message, "error")
        self.retry_button.show()
        self.stop_button.setEnabled(False)

    def _finish_process(self) -> None:
        """The trainer reported its end: stop polling; the process exits on its own (TensorFlow may take a
        moment to unload), so it is joined later without blocking the window."""
        self.timer.stop()
        if self.process is not None:
            self._show_time()
            reap_when_ended(self, self.process)

    def _change_settings(self) -> None:
        wizard = self.wizard()
        if wizard is not None:
            wizard.restart()

    def shutdown(self) -> Any:
        """Stop a running trainer (the window closes); returns a result that still arrived, if any."""
        self.timer.stop()
        if self.process is None:
            return None
        late = self.process.close(timeout_s=5) if not self.process.finished else []
        self.process = None
        done = [e.result for e in late if isinstance(e, DoneEvent)]
        return done[-1] if done else None

    def cleanupPage(self) -> None:  # noqa: N802 (Qt name)
        self.shutdown()

    def isComplete(self) -> bool:  # noqa: N802 (Qt name)
        return self.outcome is not None


# ----- 4 Result -------------------------------------------------------------------------------------------------
def metric_text(value: float | None, percent: bool) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{100 * value:.1f} %" if percent else f"{value:.4f}"


def change_text(before: float | None, after: float | None, percent: bool) -> str:
    if before is None or after is None or not math.isfinite(before) or not math.isfinite(after):
        return ""
    delta = after - before
    return f"{100 * delta:+.1f} points" if percent else f"{delta:+.4f}"


class ResultPage(QWizardPage):
    """Before/after on held-out photos and the guard set, a verdict, and Use this model / Discard."""

    adopted = Signal(str)

    def __init__(self, ctx: AppContext, hooks: TrainingHooks, training: TrainingPage) -> None:
        super().__init__()
        self.ctx, self.hooks, self.training = ctx, hooks, training
        self.decided = ""
        """"" until the user chose: then "used" or "discarded"."""
        self.adopt_process: WorkerProcess | None = None
        self.setTitle("Result")
        self.setFinalPage(True)
        self.verdict = QLabel()
        self.verdict.setObjectName("guidance")
        self.verdict.setWordWrap(True)
        self.details = hint("")
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(("Before", "After", "Change"))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.use_button = QPushButton("Use this model…")
        self.use_button.setObjectName("primary")
        self.use_button.clicked.connect(self.use)
        self.discard_button = QPushButton("Discard")
        self.discard_button.setObjectName("danger")
        self.discard_button.clicked.connect(self.discard)
        self.status = banner("info")
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.hide()
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self._poll_adopt)
        buttons = QHBoxLayout()
        buttons.addWidget(self.use_button)
        buttons.addWidget(self.discard_button)
        buttons.addStretch(1)
        col = QVBoxLayout(self)
        col.addWidget(self.verdict)
        col.addWidget(self.table)
        col.addWidget(self.details)
        col.addLayout(buttons)
        col.addWidget(self.busy)
        col.addWidget(self.status)
        col.addStretch(1)

    @property
    def outcome(self) -> Any:
        return self.training.outcome

    def initializePage(self) -> None:  # noqa: N802 (Qt name)
        outcome = self.outcome
        self.decided = ""
        self.verdict.setText(sentence(outcome.verdict))
        self._fill_table(outcome.before, outcome.after)
        self.details.setText(self._details(outcome))
        self.use_button.setEnabled(bool(outcome.can_use))
        self.use_button.setToolTip("" if outcome.can_use else
                                   "The score on your held-out photos got worse, so this model is not offered.")  # fmt: skip
        self.discard_button.setEnabled(True)
        set_banner(self.status, "" if outcome.can_use else
                   "This model is not better on your people's held-out photos, so it cannot be used. "
                   "Discard it; more photos per person or a background folder may help next time.", "")  # fmt: skip

    def _details(self, outcome: Any) -> str:
        epochs = len(outcome.epochs)
        text = f"{count(epochs, 'epoch')} in {duration_text(outcome.seconds)} on {outcome.device}."
        if outcome.cancelled:
            text = f"Stopped by you after {count(epochs, 'epoch')}; the best of them is measured here. " + text[text.index("in "):]
        best = getattr(outcome, "best_epoch", 0)
        if best:
            text += f" The best epoch ({best}) is the one measured and kept."
        skipped = getattr(outcome, "skipped", None) or {}
        if any(skipped.values()):
            text += (f" Photos skipped: {skipped.get('no_face', 0)} without a face, {skipped.get('multiple_faces', 0)} "
                     f"with several, {skipped.get('unreadable', 0)} unreadable.")  # fmt: skip
        return text + " Held-out: photos of your people set aside before training. Guard: faces of other " \
                      "people, to check the model did not get worse at faces in general."

    def _fill_table(self, before: dict, after: dict) -> None:
        rows = [(part, key, label, pct) for part in ("heldout", "guard") for key, label, pct in METRICS
                if key in (before.get(part) or {}) or key in (after.get(part) or {})]  # fmt: skip
        self.table.setRowCount(len(rows))
        names = {"heldout": "Your people (held-out)", "guard": "Other faces (guard set)"}
        for row, (part, key, label, pct) in enumerate(rows):
            b, a = (before.get(part) or {}).get(key), (after.get(part) or {}).get(key)
            self.table.setVerticalHeaderItem(row, QTableWidgetItem(f"{names[part]}: {label}"))
            for c, text in enumerate((metric_text(b, pct), metric_text(a, pct), change_text(b, a, pct))):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, c, item)
        self.table.resizeRowsToContents()
        rows_height = sum(self.table.rowHeight(r) for r in range(self.table.rowCount()))
        self.table.setFixedHeight(self.table.horizontalHeader().sizeHint().height() + rows_height + 4)

    def default_name(self) -> str:
        base = self.training.model.base_box.currentData()
        return f"{base}-tuned-{date.today():%Y%m%d}"

    def use(self) -> None:
        """Ask for a name, then export and register the model (in a worker process: it needs TensorFlow)."""
        name, ok = QInputDialog.getText(self, "Use this model", "A name for the tuned model (shown in Settings):",
                                        text=self.default_name())  # fmt: skip
        name = name.strip()
        if not ok or not name:
            return
        self._set_busy(True, f"Exporting and checking “{name}”…")
        self.adopt_process = start_process(self.hooks.adopt, self.ctx.config, self.outcome, name, callbacks=False)
        self.timer.start()

    def _poll_adopt(self) -> None:
        if self.adopt_process is None:
            return
        for event in self.adopt_process.poll():
            if isinstance(event, DoneEvent):
                self._adopted(str(event.result))
            elif isinstance(event, ErrorEvent):
                self._set_busy(False, "")
                set_banner(self.status, f"The model could not be saved: {event.message}", "error")
        if self.adopt_process is not None and self.adopt_process.finished:
            self.timer.stop()
            reap_when_ended(self, self.adopt_process)
            self.adopt_process = None

    def _adopted(self, name: str) -> None:
        self.decided = "used"
        self._set_busy(False, f"Saved as “{name}”. Switch to it in Settings → Recognition backend; the enrolled "
                              "faces are embedded for it then.")  # fmt: skip
        self.use_button.setEnabled(False)
        self.discard_button.setEnabled(False)
        self.completeChanged.emit()
        self.adopted.emit(name)

    def _set_busy(self, busy: bool, text: str) -> None:
        self.busy.setVisible(busy)
        self.use_button.setEnabled(not busy and bool(self.outcome.can_use))
        self.discard_button.setEnabled(not busy)
        set_banner(self.status, text, "info")

    def discard(self) -> None:
        """Delete everything the training wrote, and close the wizard."""
        self.discard_quietly()
        wizard = self.wizard()
        if wizard is not None:
            wizard.done(QWizard.DialogCode.Accepted)

    def discard_quietly(self) -> None:
        """Delete the training's files unless the model was used (or already discarded)."""
        if self.decided or self.outcome is None:
            return
        self.decided = "discarded"
        try:
            self.hooks.discard(self.outcome)
        except (RollcallError, OSError) as exc:
            log.warning("could not discard the tuned model in %s: %s", getattr(self.outcome, "work_dir", "?"), exc)

    def shutdown(self) -> None:
        self.timer.stop()
        if self.adopt_process is not None:
            self.adopt_process.close(timeout_s=30)  # an export half done is cleaned up by discarding below
            self.adopt_process = None

    def isComplete(self) -> bool:  # noqa: N802 (Qt name)
        return bool(self.decided)


# ----- the wizard -----------------------------------------------------------------------------------------------
class FinetuneWizard(QWizard):
    """Fine-tune the face model on the enrolled people's photos. Closing it stops training and keeps nothing
    that was not explicitly used.

    Signals:
        adopted(name) — the tuned model was registered as a user backend under ``name``.
    """

    adopted = Signal(str)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None, hooks: TrainingHooks | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.hooks = hooks or default_hooks()
        self.setWindowTitle("Fine-tune on my photos")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.setOption(QWizard.WizardOption.NoCancelButtonOnLastPage, True)
        self.data = DataPage(ctx)
        self.model = ModelPage(ctx, self.hooks, self.data)
        self.training = TrainingPage(ctx, self.hooks, self.model)
        self.result_page = ResultPage(ctx, self.hooks, self.training)
        for page in (self.data, self.model, self.training, self.result_page):
            self.addPage(page)
        self.result_page.adopted.connect(self.adopted)
        self._closing_result = 0
        self.resize(780, 620)
        if parent is not None:
            parent.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if watched is self.parent() and event.type() == QEvent.Type.Close and self.isVisible():
            self.done(0)  # the main window closes: stop the trainer first
        return False

    def done(self, result: int) -> None:
        """Close: stop a running trainer, and discard a result nobody chose to use."""
        late = self.training.shutdown()
        if late is not None and self.training.outcome is None:
            self.training.outcome = late
        self.result_page.shutdown()
        self.result_page.discard_quietly()
        self.model.closing = True
        job = self.model.plan_job
        if job is not None:  # its thread belongs to this dialog: close once it ended, without blocking the window
            self.hide()
            self._closing_result = result
            job.stopped.connect(self._close_after_plan)  # a slot of this dialog: runs on the GUI thread
            return
        super().done(result)

    def _close_after_plan(self) -> None:
        super().done(self._closing_result)


def open_finetune_wizard(ctx: AppContext, anchor: QWidget, hooks: TrainingHooks | None = None) -> FinetuneWizard:
    """Open the wizard over ``anchor``'s window (non-modal; an open one is raised instead of a second)."""
    window = anchor.window()
    for existing in window.findChildren(FinetuneWizard):
        if existing.isVisible():
            existing.raise_()
            existing.activateWindow()
            return existing
    wizard = FinetuneWizard(ctx, window, hooks)
    wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    wizard.show()
    return wizard
