"""The Settings page: camera source, detector, backend, strictness or threshold, cooldown, sound, the database in use
and the station name; saved in the data folder.

Saving another backend first makes it usable (:mod:`app.ui.backend_switch`): its weights are downloaded or
imported when missing, and every enrolled person's stored face crops are embedded for it (progress, Cancel,
resumable), so nobody is photographed again. Only then does the engine switch. **Strangers named** (Strict /
Balanced / Lenient) sets how many strangers may be named as someone enrolled; the threshold follows from it and
from how many people are enrolled, unless the user sets their own. **Suggest threshold…** proposes one from the
enrolled people for such a target.
"""

from __future__ import annotations

import logging
import math

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.config import Settings, check_station
from app.context import AppContext
from app.services.backends import (
    Calibration,
    ReembedResult,
    not_switched_note,
    reembed,
    save_settings,
    saved_note,
)
from app.ui.backend_switch import BackendSwitch, SwitchSteps
from app.ui.finetune_wizard import open_finetune_wizard
from app.ui.live_page import VIDEO_FILTER
from app.ui.messages import plain_message, show_error
from app.ui.models_dialog import JobProgress, ask_for_weights, fetch_model, import_model, missing_model
from app.ui.threshold_dialog import ThresholdDialog
from app.ui.worker import Job
from common.errors import RollcallError
from common.metric import Metric
from models.detectors import known_detectors
from models.embedders.base import EmbedderInfo
from models.embedders.registry import backend_info, known_backends
from models.operating_point import Strictness, operating_point
from models.weights_manifest import ModelSpec

log = logging.getLogger(__name__)

DETECTOR_TEXT = {
    "hog": "HOG — fast on any computer (recommended)",
    "cnn": "CNN — finds turned faces better, but slow on a CPU (about a second per frame without a GPU)",
    "yunet": "YuNet — fast and finds smaller faces (needs its model file)",
}
STEPS = 100
"""Threshold slider positions per unit of the metric."""
SLIDER_RANGES = {Metric.L2: (0.2, 1.2), Metric.COSINE: (0.0, 0.9)}
"""The own-threshold slider's ``(low, high)`` per metric: the thresholds that make sense for a face."""

STATION_MAX = 100
"""Longest station name (the database column's width)."""


def database_text(ctx: AppContext) -> str:
    """Which database this station uses, in words: the SQLite file, or the server's URL with the password
    hidden (``postgresql+psycopg://user:***@host/rollcall``)."""
    try:
        database = ctx.database
    except RollcallError as exc:
        return f"Not open: {plain_message(exc)}"
    if database.path is not None:
        return f"SQLite file {database.path} (this computer only)"
    if database.kind == "postgresql":
        return f"PostgreSQL server {database.url} (shared by the stations that use it)"
    return f"{database.kind} database {database.url}"


def threshold_help(info: EmbedderInfo) -> str:
    """What moving the threshold does, in plain words, for the backend's metric."""
    if info.metric.is_distance:
        return (
            "A face is named when its distance to someone enrolled is below this value. Lower is stricter: fewer "
            "wrong names, but more people shown as Unknown. Higher is looser."
        )
    return (
        "A face is named when its similarity to someone enrolled is above this value. Higher is stricter: fewer "
        "wrong names, but more people shown as Unknown. Lower is looser."
    )


class SettingsPage(QWidget):
    """Edits :class:`app.config.Settings`; **Save** writes them and applies what can be applied now.

    Signals:
        saved(Settings) — the settings were saved (the live view uses them from its next Start).
    """

    saved = Signal(object)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._thresholds = dict(ctx.config.settings.thresholds)
        self.threshold_dialog: ThresholdDialog | None = None
        self.switch = BackendSwitch(ctx, self)
        self.switch.ready.connect(self._commit)
        self.switch.not_switched.connect(self._not_switched)
        self.switch.busy.connect(self._set_busy)
        self._build()
        self.load()

    def _build(self) -> None:
        self.source_edit = QLineEdit()
        self.source_edit.setPlaceholderText("0 = built-in webcam; or a video file; or rtsp://user:pass@host/stream")
        browse = QPushButton("Video file…")
        browse.clicked.connect(self._choose_video)
        source_row = QHBoxLayout()
        source_row.addWidget(self.source_edit, 1)
        source_row.addWidget(browse)
        self.detector_box = QComboBox()
        for name in known_detectors():
            self.detector_box.addItem(DETECTOR_TEXT.get(name, name), name)
        self.backend_box = QComboBox()
        self.backend_box.setMinimumWidth(260)
        for name in known_backends(self.ctx.config.cache_dir):
            self.backend_box.addItem(name, name)
        self.backend_text = self._hint()
        self.backend_box.currentIndexChanged.connect(self._on_backend)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.valueChanged.connect(self._on_slider)
        self.threshold_value = QLabel()
        self.threshold_value.setMinimumWidth(160)
        self.own_threshold = QCheckBox("Use my own threshold")
        self.own_threshold.setToolTip("Off: the threshold follows the strictness above and the number of people enrolled")
        self.own_threshold.toggled.connect(self._on_own)
        default_button = QPushButton("Use default")
        default_button.setToolTip("Back to the threshold chosen by the strictness")
        default_button.clicked.connect(self._use_default)
        self.strictness_box = QComboBox()
        for level in Strictness:
            self.strictness_box.addItem(level.label + (" (recommended)" if level is Strictness.BALANCED else ""), level.value)
        self.strictness_box.currentIndexChanged.connect(self._on_backend)
        self.strictness_text = self._hint()
        self.suggest_button = QPushButton("Suggest threshold…")
        self.suggest_button.setToolTip("Propose a threshold from the people you enrolled, at a false-accept rate you choose")
        self.suggest_button.clicked.connect(self.suggest_threshold)
        slider_row = QHBoxLayout()
        slider_row.addWidget(self.own_threshold)
        slider_row.addWidget(self.slider, 1)
        slider_row.addWidget(self.threshold_value)
        slider_row.addWidget(default_button)
        slider_row.addWidget(self.suggest_button)
        self.threshold_text = self._hint()
        self.cooldown = QSpinBox()
        self.cooldown.setRange(0, 24 * 3600)
        self.cooldown.setSuffix(" s")
        self.cooldown.setSpecialValueText("once per session")
        self.cooldown.setMinimumWidth(180)
        self.sound = QCheckBox("Play a short sound when someone is marked present")
        self.liveness = QCheckBox("Mark a face only after it blinks and moves its head")
        self.data_dir = QLabel(str(self.ctx.config.data_dir))
        self.data_dir.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.data_dir.setWordWrap(True)
        open_button = QPushButton("Open folder")
        open_button.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.ctx.config.data_dir))))
        data_row = QHBoxLayout()
        data_row.addWidget(self.data_dir, 1)
        data_row.addWidget(open_button)
        self.database = QLabel(database_text(self.ctx))
        self.database.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.database.setWordWrap(True)
        self.station_edit = QLineEdit()
        self.station_edit.setMaxLength(STATION_MAX)
        self.station_edit.setMinimumWidth(260)
        self.station_edit.setPlaceholderText("e.g. Front door")

        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        form.setVerticalSpacing(14)
        source_hint = self._hint("A camera number, a video file (try the app without a webcam) or a network stream address.")
        cooldown_hint = self._hint("“once per session” marks each person once; a number of seconds allows a new mark after it.")
        data_hint = self._hint(
            "The database, settings and log file live here. To use another folder, start Rollcall with "
            "--data-dir FOLDER (or set ROLLCALL_DATA); it applies on the next start.")  # fmt: skip
        form.addRow("Camera", self._stack(source_row, source_hint))
        form.addRow("Face detector", self.detector_box)
        form.addRow("Recognition backend", self._stack(self.backend_box, self.backend_text))
        form.addRow("Strangers named", self._stack(self.strictness_box, self.strictness_text))
        self.finetune_button = QPushButton("Fine-tune on my photos…")
        self.finetune_button.clicked.connect(lambda: open_finetune_wizard(self.ctx, self))
        finetune_row = QHBoxLayout()
        finetune_row.addWidget(self.finetune_button)
        finetune_row.addStretch(1)
        form.addRow("Your own model", self._stack(finetune_row, self._hint(
            "Train the face model on your enrolled people's photos; it is measured before and after, and kept "
            "only if you choose to use it (it then appears as a backend above).")))  # fmt: skip
        form.addRow("Match threshold", self._stack(slider_row, self.threshold_text))
        form.addRow("Mark again after", self._stack(self.cooldown, cooldown_hint))
        form.addRow("Sound", self.sound)
        form.addRow("Liveness", self._stack(self.liveness, self._hint(
            "Stops a printed photo or a phone screen held up to the camera from being marked; a person may need "
            "a few seconds longer to be named.")))  # fmt: skip
        form.addRow("Data folder", self._stack(data_row, data_hint))
        form.addRow("Database", self._stack(self.database, self._hint(
            "People and attendance are stored here. Several stations share one register when each starts with "
            "--db postgresql+psycopg://USER@HOST/DATABASE; it applies on the next start.")))  # fmt: skip
        form.addRow("Station name", self._stack(self.station_edit, self._hint(
            "Recorded with every attendance mark, so marks from stations sharing a database can be told apart "
            "(the Attendance page and the CSV export show it). Used from the next Start.")))  # fmt: skip

        self.save_button = QPushButton("Save")
        self.save_button.setObjectName("primary")
        self.save_button.clicked.connect(self.save)
        self.revert_button = QPushButton("Revert")
        self.revert_button.clicked.connect(self.load)
        self.note = QLabel()
        self.note.setObjectName("muted")
        self.note.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.note, 1)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.save_button)
        fields = QWidget()
        fields_col = QVBoxLayout(fields)
        fields_col.setContentsMargins(0, 0, 8, 0)
        fields_col.addLayout(form)
        fields_col.addStretch(1)
        self.scroll = QScrollArea()  # a laptop-height window scrolls the form instead of squeezing its help texts
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(fields)
        col = QVBoxLayout(self)
        col.addWidget(self.scroll, 1)
        col.addLayout(buttons)

    @staticmethod
    def _stack(top: object, hint: QLabel) -> QWidget:
        """A field with its explanation underneath, as one form cell."""
        box = QWidget()
        col = QVBoxLayout(box)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(3)
        if isinstance(top, QWidget):
            col.addWidget(top, 0, Qt.AlignmentFlag.AlignLeft if isinstance(top, (QComboBox, QSpinBox)) else Qt.AlignmentFlag(0))
        else:
            col.addLayout(top)  # type: ignore[arg-type]
        col.addWidget(hint)
        return box

    @staticmethod
    def _hint(text: str = "") -> QLabel:
        label = QLabel(text)
        label.setObjectName("hint")
        label.setWordWrap(True)
        return label

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt's name)
        """People may have been enrolled meanwhile: the strictness is translated for the gallery as it is now."""
        super().showEvent(event)
        self._on_backend()

    # ----- values -------------------------------------------------------------------------------------------
    def load(self) -> None:
        """Show the settings in force."""
        s = self.ctx.config.settings
        self._thresholds = dict(s.thresholds)
        self.source_edit.setText(s.source)
        self.strictness_box.blockSignals(True)
        self.strictness_box.setCurrentIndex(max(0, self.strictness_box.findData(s.strictness)))
        self.strictness_box.blockSignals(False)
        self.detector_box.setCurrentIndex(max(0, self.detector_box.findData(self.ctx.config.engine.detector)))
        self.backend_box.setCurrentIndex(max(0, self.backend_box.findData(self.ctx.config.engine.backend)))
        self._on_backend()
        self.cooldown.setValue(int(s.cooldown_s))
        self.sound.setChecked(s.sound)
        self.station_edit.setText(s.station)
        self.liveness.setChecked(s.liveness)
        self.note.setText("")

    def show_source(self, source: str) -> None:
        """Show the camera given on the command line (``--source``) instead of the saved one."""
        self.source_edit.setText(source)
        self.note.setText("The camera is the one given on the command line (--source); Save makes it the default.")

    def _info(self) -> EmbedderInfo:
        return backend_info(self.backend_box.currentData(), self.ctx.config.cache_dir)

    def _enrolled(self) -> int:
        """How many people are enrolled (the gallery size the strictness is translated for)."""
        try:
            return sum(1 for p in self.ctx.repo.list_people() if p.sample_count > 0)
        except RollcallError as exc:
            log.warning("cannot count the enrolled people: %s", exc)
            return 0

    def _strictness(self) -> Strictness:
        return Strictness.parse(self.strictness_box.currentData())

    def _point_text(self) -> str:
        """What the chosen strictness means for this gallery and backend, in plain words."""
        info = self._info()
        point = operating_point(info.name, info.metric, info.threshold, self._enrolled(), self._strictness())
        if point.source == "table":
            people = "person" if point.gallery_size == 1 else "people"
            text = (f"With {point.gallery_size} {people} enrolled, {self._strictness().plain()} "
                    f"(threshold {point.threshold:.3f}); stricter settings show more people as Unknown.")
        else:
            text = point.describe()[0].upper() + point.describe()[1:] + "."
        if self.own_threshold.isChecked():
            return "Not in use while your own threshold is set below. " + text
        return text

    def _on_backend(self) -> None:
        info = self._info()
        low, high = SLIDER_RANGES[info.metric]
        own = self._thresholds.get(info.name)
        self.own_threshold.blockSignals(True)
        self.own_threshold.setChecked(own is not None)
        self.own_threshold.blockSignals(False)
        point = operating_point(info.name, info.metric, info.threshold, self._enrolled(), self._strictness())
        shown = own if own is not None else point.threshold
        low, high = min(low, shown), max(high, shown)  # a saved threshold outside the usual range is kept as it is
        self.slider.blockSignals(True)
        self.slider.setRange(math.floor(low * STEPS + 1e-6), math.ceil(high * STEPS - 1e-6))
        self.slider.setValue(round(shown * STEPS))
        self.slider.setEnabled(own is not None)
        self.slider.blockSignals(False)
        self._on_slider()
        self.strictness_text.setText(self._point_text())
        text = info.description
        if self._missing(info.name) is not None:
            text += " — its model file is not on this computer yet; Save offers to download or import it."
        self.backend_text.setText(text)
        self.threshold_text.setText(threshold_help(info))

    def _on_slider(self) -> None:
        """The slider moved (or was set): an own threshold follows it. One it already shows (a calibrated 0.4137
        shows as 0.41) is kept exactly, so saving other settings never changes it."""
        value = self.slider.value() / STEPS
        if not self.own_threshold.isChecked():
            self.threshold_value.setText(f"{value:.2f} (from the strictness)")
            return
        name = self._info().name
        kept = self._thresholds.get(name)
        if kept is None or round(kept * STEPS) != self.slider.value():
            self._thresholds[name] = kept = round(value, 2)
        self.threshold_value.setText(f"{kept:.2f}" if abs(kept - round(kept, 2)) < 1e-9 else f"{kept:.4f}")

    def _on_own(self, checked: bool) -> None:
        """Own threshold on: the slider is editable and wins; off: the strictness decides."""
        info = self._info()
        if checked:
            self._thresholds[info.name] = round(self.slider.value() / STEPS, 2)
        else:
            self._thresholds.pop(info.name, None)
        self._on_backend()

    def _use_default(self) -> None:
        self.own_threshold.setChecked(False)

    def _choose_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a video file", "", VIDEO_FILTER)
        if path:
            self.source_edit.setText(path)

    def current(self) -> Settings:
        """The settings as shown on the page."""
        info = self._info()
        thresholds = dict(self._thresholds)
        if self.own_threshold.isChecked():
            thresholds[info.name] = self._thresholds.get(info.name, round(self.slider.value() / STEPS, 2))
        else:
            thresholds.pop(info.name, None)
        return Settings(
            backend=info.name,
            detector=self.detector_box.currentData(),
            thresholds=thresholds,
            cooldown_s=float(self.cooldown.value()),
            source=self.source_edit.text().strip() or "0",
            sound=self.sound.isChecked(),
            liveness=self.liveness.isChecked(),
            strictness=self._strictness().value,
            max_image_megapixels=self.ctx.config.settings.max_image_megapixels,  # not on this page: kept
            station=self.station_edit.text().strip(),
        )

    def save(self) -> None:
        """Write the settings and switch the engine to them.

        Another backend is switched to only once it is usable (:class:`app.ui.backend_switch.BackendSwitch`):
        missing weights are downloaded or imported (the user chooses), then every stored face crop is embedded
        for it on a worker thread. Cancelling keeps the faces already embedded; saving again continues from there.
        """
        new = self.current()
        try:
            new.station = check_station(new.station)
        except RollcallError as exc:
            self.station_edit.setFocus()
            show_error(self, "Settings not saved", exc)
            return
        if new.backend == self.ctx.config.engine.backend:
            self._commit(new)
            return
        self.switch.start(new, self._switch_steps())

    @staticmethod
    def _switch_steps() -> SwitchSteps:
        """The switch's steps as this module names them (tests replace them here)."""
        return SwitchSteps(missing=missing_model, ask=ask_for_weights, fetch=fetch_model, install=import_model,
                           reembed=reembed)

    @property
    def job(self) -> Job | None:
        """The background step of a backend switch (download, import or re-embed) while one runs."""
        return self.switch.job

    @property
    def progress_dialog(self) -> JobProgress | None:
        """The progress dialog of the switch's latest step."""
        return self.switch.progress_dialog

    def _missing(self, backend: str) -> ModelSpec | None:
        return self.switch.missing(backend, self._switch_steps())

    def _not_switched(self, why: str) -> None:
        self.note.setText(not_switched_note(why, self.ctx.config.engine.backend))

    def _set_busy(self, busy: bool) -> None:
        for widget in (self.save_button, self.revert_button, self.backend_box, self.suggest_button):
            widget.setEnabled(not busy)

    # ----- saving ---------------------------------------------------------------------------------------------
    def _commit(self, new: Settings, result: ReembedResult | None = None) -> None:
        """Save ``new`` and put it in force (the backend is usable: same as before, or just prepared)."""
        try:
            save_settings(self.ctx, new)
        except RollcallError as exc:
            show_error(self, "Settings not saved", exc)
            return
        self._thresholds = dict(new.thresholds)
        self.note.setText(saved_note(result))
        self.saved.emit(new)

    # ----- threshold suggestion -----------------------------------------------------------------------------
    def suggest_threshold(self) -> None:
        """Open the dialog that proposes a threshold for the backend in use from the enrolled people."""
        in_use = self.ctx.config.engine.backend
        if self._info().name != in_use:
            QMessageBox.information(
                self, "Suggest threshold",
                f"The suggestion is made with the backend in use ({in_use}). Save the switch to "
                f"{self._info().name} first, then ask again.",
            )
            return
        if self.threshold_dialog is None:
            self.threshold_dialog = ThresholdDialog(self.ctx, self)
            self.threshold_dialog.chosen.connect(self.apply_suggestion)
        self.threshold_dialog.start()

    def apply_suggestion(self, cal: Calibration) -> None:
        """Use a proposed threshold as the own threshold (rounded towards stricter); Save keeps it."""
        self.own_threshold.setChecked(True)
        exact = cal.proposed * STEPS
        position = math.floor(exact + 1e-6) if cal.metric.is_distance else math.ceil(exact - 1e-6)
        self.slider.setValue(position)
        value = self.slider.value() / STEPS
        self._thresholds[cal.backend] = round(value, 2)  # the proposal, even where the slider already showed it
        self._on_slider()
        text = f"Threshold set to {value:.2f} (proposed {cal.proposed:.4f}); Save to keep it."
        if self.slider.value() != position:
            text = f"The proposed threshold {cal.proposed:.4f} is outside the slider's range; it is set to {value:.2f}."
        self.note.setText(text)
