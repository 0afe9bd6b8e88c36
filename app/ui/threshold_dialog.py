"""**Suggest threshold…**: a dialog that proposes a threshold from the enrolled people for a chosen share of
strangers named (the work runs on a worker thread: :func:`app.services.backends.calibrate`)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.context import AppContext
from app.services.backends import Calibration, calibrate
from app.ui.messages import plain_message
from app.ui.worker import Job, start_job
from common.progress import Progress, ShouldStop
from models.operating_point import Strictness

FPIR_CHOICES = tuple(
    (f"{s.label}: {s.plain()} ({100 * s.fpir:g} %)", s.fpir) for s in (Strictness.STRICT, Strictness.BALANCED, Strictness.LENIENT)
)
"""Shares of strangers named offered by **Suggest threshold…** (label, rate); the middle one is the default."""
MIN_PEOPLE = 2
"""Calibration compares people with each other: it needs this many enrolled, one of them with two photos."""


def _calibrate_job(ctx: AppContext, fpir: float, progress: Progress, should_stop: ShouldStop) -> Calibration | None:
    """:func:`calibrate` for the worker; closing the dialog stops it (``None``)."""
    return calibrate(ctx, fpir, progress, should_stop)


def calibration_text(cal: Calibration) -> str:
    """What a proposed threshold would change, in words and the measured rates."""
    def pct(x: float) -> str:
        return f"{100 * x:.1f} %" if x >= 0.001 or x == 0 else f"{100 * x:.2g} %"

    if abs(cal.proposed - cal.current) < 0.005:
        change = "about the same as the threshold in use"
    else:
        stricter = cal.metric.better(cal.proposed, cal.current)
        change = ("stricter: fewer wrong names, more people shown as Unknown" if stricter
                  else "looser: more faces named, with more risk of a wrong name")
    lines = [
        f"From {cal.people} people and {cal.samples} photos ({cal.genuine} same-person and {cal.impostor} "
        f"different-person comparisons) with {cal.backend}:",
        f"Target: about 1 stranger in {round(1 / cal.fpir_target)} named as one of these {cal.people} people, i.e. "
        f"{pct(cal.far_target)} of different-person comparisons accepted.",
        f"In use: {cal.current:.2f} — accepts {pct(cal.tar_current)} of same-person and "
        f"{pct(cal.far_current)} of different-person comparisons.",
        f"Proposed: {cal.proposed:.4f} — accepts {pct(cal.tar_proposed)} of same-person and "
        f"{pct(cal.far_proposed)} of different-person comparisons.",
        *([f"Rollcall's built-in calibration (measured on many people) gives {cal.builtin:.4f} for this target."]
          if cal.builtin is not None else []),
        f"The proposal is {change}.",
    ]
    if cal.far_target < cal.min_far:
        lines.append(
            f"With {cal.impostor} different-person comparisons a rate below {pct(cal.min_far)} cannot be measured; "
            "enroll more people for a finer estimate."
        )
    return "\n".join(lines)


class ThresholdDialog(QDialog):
    """Proposes a threshold at a chosen false-accept rate; **Apply** hands it to the page.

    Signals:
        chosen(Calibration) — the user clicked Apply on a proposal.
    """

    chosen = Signal(object)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.calibration: Calibration | None = None
        self.job: Job | None = None
        self.setWindowTitle("Suggest a threshold")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setMinimumWidth(600)
        self.far_box = QComboBox()
        for label, rate in FPIR_CHOICES:
            self.far_box.addItem(label, rate)
        self.far_box.setCurrentIndex(1)
        self.suggest_button = QPushButton("Suggest")
        self.suggest_button.clicked.connect(self.suggest)
        row = QHBoxLayout()
        far_label = QLabel("Strangers named:")
        far_label.setObjectName("farLabel")
        row.addWidget(far_label)
        row.addWidget(self.far_box, 1)
        row.addWidget(self.suggest_button)
        self.progress = QProgressBar()
        self.progress.hide()
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Apply | QDialogButtonBox.StandardButton.Close)
        self.apply_button = self.buttons.button(QDialogButtonBox.StandardButton.Apply)
        self.apply_button.clicked.connect(self.apply)
        self.buttons.rejected.connect(self.reject)
        col = QVBoxLayout(self)
        col.addWidget(QLabel(
            "Rollcall compares every enrolled person's photos with their own and with everyone else's, and "
            "proposes the loosest threshold that names strangers no more often than you choose — for this "
            "many people enrolled (each stranger is compared with all of them)."
        ))
        col.addLayout(row)
        col.addWidget(self.progress)
        col.addWidget(self.result, 1)
        col.addWidget(self.buttons)
        for label in self.findChildren(QLabel):
            label.setWordWrap(label is not self.findChild(QLabel, "farLabel"))

    def start(self) -> None:
        """Show the dialog with no proposal yet (the user picks a rate, then Suggest)."""
        if self.job is None:
            self.calibration = None
            self.apply_button.setEnabled(False)
            self._say(self._enough() or "Choose how many strangers may be named, then Suggest.")
        self.show()
        self.raise_()

    def _enough(self) -> str:
        """Why calibration cannot run yet (too few people), or ``""``."""
        people = [p for p in self.ctx.repo.list_people() if p.sample_count > 0]
        if len(people) >= MIN_PEOPLE and any(p.sample_count >= 2 for p in people):
            return ""
        return (
            f"Suggesting a threshold needs at least {MIN_PEOPLE} enrolled people, one of them with 2 or more photos; "
            f"{len(people)} {'person is' if len(people) == 1 else 'people are'} enrolled so far. Enroll "
            f"{max(1, MIN_PEOPLE - len(people))} more first."
        )

    def suggest(self) -> None:
        """Calibrate on a worker thread at the chosen rate."""
        if self.job is not None:
            return
        self.calibration = None
        self.apply_button.setEnabled(False)
        problem = self._enough()
        if problem:
            self._say(problem)
            return
        self.result.setText("Comparing the enrolled people's photos…")
        self.progress.setRange(0, 0)
        self.progress.show()
        self.suggest_button.setEnabled(False)
        self.job = start_job(self, _calibrate_job, self.ctx, float(self.far_box.currentData()), connect=self._connect)

    def _connect(self, job: Job) -> None:
        job.progress.connect(self._on_progress)
        job.finished.connect(self._on_done)
        job.failed.connect(self._on_failed)
        job.stopped.connect(self._on_stopped)

    def _on_progress(self, done: int, total: int, text: str) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)

    def _on_done(self, cal: Calibration | None) -> None:
        if cal is None:
            self._say("Stopped before every photo was compared; nothing proposed. Suggest again to go on.")
            return
        self.calibration = cal
        self._say(calibration_text(cal))
        self.apply_button.setEnabled(True)

    def _on_failed(self, exc: BaseException) -> None:
        self._say(f"No threshold proposed: {plain_message(exc)}")

    def _say(self, text: str) -> None:
        """Show ``text`` as the result and grow the dialog to fit it (wrapped labels do not ask for room)."""
        self.result.setText(text)
        self.result.setMinimumHeight(self.result.heightForWidth(max(self.result.width(), self.minimumWidth() - 40)))
        self.adjustSize()

    def _on_stopped(self) -> None:
        self.job = None
        self.progress.hide()
        self.suggest_button.setEnabled(True)

    def reject(self) -> None:  # Close, Esc or the window's close button
        """Close; a comparison still running is stopped (embeddings it already stored are kept)."""
        if self.job is not None:
            self.job.cancel()
        super().reject()

    def apply(self) -> None:
        """Hand the proposal to the page (its slider) and close."""
        if self.calibration is not None:
            self.chosen.emit(self.calibration)
            self.accept()
