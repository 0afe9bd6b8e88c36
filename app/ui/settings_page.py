"""The Settings page: camera source, detector, backend, threshold, cooldown, sound; saved in the data folder."""

from __future__ import annotations

import logging
from dataclasses import replace

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.config import Settings
from app.context import AppContext
from app.ui.live_page import VIDEO_FILTER
from app.ui.messages import show_error
from models.detectors import known_detectors
from models.embedders.base import EmbedderInfo
from models.embedders.registry import backend_info, known_backends
from models.errors import RollcallError

log = logging.getLogger(__name__)

DETECTOR_TEXT = {
    "hog": "HOG — fast on any computer (recommended)",
    "cnn": "CNN — finds turned faces better, but slow on a CPU (about a second per frame without a GPU)",
    "yunet": "YuNet — fast and finds smaller faces (needs its model file)",
}
STEPS = 100
"""Threshold slider positions per unit of the metric."""


def threshold_help(info: EmbedderInfo) -> str:
    """What moving the threshold does, in plain words, for the backend's metric."""
    if info.metric == "l2":
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
        for name in known_backends():
            self.backend_box.addItem(name, name)
        self.backend_text = self._hint()
        self.backend_box.currentIndexChanged.connect(self._on_backend)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.valueChanged.connect(self._on_slider)
        self.threshold_value = QLabel()
        self.threshold_value.setMinimumWidth(160)
        default_button = QPushButton("Use default")
        default_button.clicked.connect(self._use_default)
        slider_row = QHBoxLayout()
        slider_row.addWidget(self.slider, 1)
        slider_row.addWidget(self.threshold_value)
        slider_row.addWidget(default_button)
        self.threshold_text = self._hint()
        self.cooldown = QSpinBox()
        self.cooldown.setRange(0, 24 * 3600)
        self.cooldown.setSuffix(" s")
        self.cooldown.setSpecialValueText("once per session")
        self.cooldown.setMinimumWidth(180)
        self.sound = QCheckBox("Play a short sound when someone is marked present")
        self.data_dir = QLabel(str(self.ctx.config.data_dir))
        self.data_dir.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.data_dir.setWordWrap(True)
        open_button = QPushButton("Open folder")
        open_button.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.ctx.config.data_dir))))
        data_row = QHBoxLayout()
        data_row.addWidget(self.data_dir, 1)
        data_row.addWidget(open_button)

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
        form.addRow("Match threshold", self._stack(slider_row, self.threshold_text))
        form.addRow("Mark again after", self._stack(self.cooldown, cooldown_hint))
        form.addRow("Sound", self.sound)
        form.addRow("Data folder", self._stack(data_row, data_hint))

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
        col = QVBoxLayout(self)
        col.addLayout(form)
        col.addStretch(1)
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

    # ----- values -------------------------------------------------------------------------------------------
    def load(self) -> None:
        """Show the settings in force."""
        s = self.ctx.config.settings
        self._thresholds = dict(s.thresholds)
        self.source_edit.setText(s.source)
        self.detector_box.setCurrentIndex(max(0, self.detector_box.findData(self.ctx.config.engine.detector)))
        self.backend_box.setCurrentIndex(max(0, self.backend_box.findData(self.ctx.config.engine.backend)))
        self._on_backend()
        self.cooldown.setValue(int(s.cooldown_s))
        self.sound.setChecked(s.sound)
        self.note.setText("")

    def _info(self) -> EmbedderInfo:
        return backend_info(self.backend_box.currentData())

    def _on_backend(self) -> None:
        info = self._info()
        low, high = (0.2, 1.2) if info.metric == "l2" else (0.0, 0.9)
        self.slider.blockSignals(True)
        self.slider.setRange(int(low * STEPS), int(high * STEPS))
        value = self._thresholds.get(info.name, info.threshold)
        self.slider.setValue(round(value * STEPS))
        self.slider.blockSignals(False)
        self._on_slider()
        self.backend_text.setText(info.description)
        self.threshold_text.setText(threshold_help(info))

    def _on_slider(self) -> None:
        info = self._info()
        value = self.slider.value() / STEPS
        self.threshold_value.setText(f"{value:.2f} (default {info.threshold:.2f})")

    def _use_default(self) -> None:
        self.slider.setValue(round(self._info().threshold * STEPS))

    def _choose_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a video file", "", VIDEO_FILTER)
        if path:
            self.source_edit.setText(path)

    def current(self) -> Settings:
        """The settings as shown on the page."""
        info = self._info()
        thresholds = dict(self._thresholds)
        value = round(self.slider.value() / STEPS, 2)
        if abs(value - info.threshold) < 1e-9:
            thresholds.pop(info.name, None)
        else:
            thresholds[info.name] = value
        return Settings(
            backend=info.name,
            detector=self.detector_box.currentData(),
            thresholds=thresholds,
            cooldown_s=float(self.cooldown.value()),
            source=self.source_edit.text().strip() or "0",
            sound=self.sound.isChecked(),
        )

    def save(self) -> None:
        """Write the settings to the data folder and switch the engine to them."""
        new = self.current()
        config = self.ctx.config
        try:
            new.save(config.data_dir)
        except RollcallError as exc:
            show_error(self, "Settings not saved", exc)
            return
        engine = replace(config.engine, backend=new.backend, detector=new.detector, threshold=new.thresholds.get(new.backend))
        self.ctx.config = replace(config, settings=new, cooldown_s=new.cooldown_s)
        if engine != config.engine:
            self.ctx.set_engine_config(engine)
        self._thresholds = dict(new.thresholds)
        self.note.setText(self._saved_note(config.engine.backend, new.backend))
        self.saved.emit(new)

    def _saved_note(self, old_backend: str, new_backend: str) -> str:
        text = "Saved. The live view uses these settings from its next Start."
        if old_backend != new_backend and self.ctx.repo.embedding_count(new_backend) == 0 and self.ctx.repo.list_people():
            text += (
                f" Nobody has face vectors for {new_backend} yet: re-embed the enrolled people "
                f"(python main.py --backend {new_backend} …) before recognising with it."
            )
        return text
