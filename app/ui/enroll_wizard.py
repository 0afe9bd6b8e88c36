"""The enrollment wizard: who → faces (photos, a folder or the camera) → review the crops → save."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from app.context import AppContext
from app.services.enrollment import Candidate, analyze_paths, expand_paths, save_candidates
from app.text import count
from app.ui.capture import CaptureCoach, CaptureStep
from app.ui.frameloop import FrameLoop, start_loop
from app.ui.images import pixmap_from_rgb, qimage_from_rgb
from app.ui.messages import plain_message, show_error
from app.ui.video_view import VideoView
from app.ui.worker import Job, start_job
from common.errors import RollcallError
from db.records import PersonRecord
from models.sources import Frame, FrameSource
from models.tracking import TrackState, TrackView

log = logging.getLogger(__name__)

IMAGE_FILTER = "Images (*.jpg *.jpeg *.png *.bmp *.webp *.tif *.tiff *.pgm);;All files (*)"
THUMB = 96
STRIP_THUMB = 56


def thumbnail_strip() -> QListWidget:
    """A wrapping grid of small face thumbnails (hidden until it holds some)."""
    strip = QListWidget()
    strip.setViewMode(QListView.ViewMode.IconMode)
    strip.setIconSize(QSize(STRIP_THUMB, STRIP_THUMB))
    strip.setGridSize(QSize(STRIP_THUMB + 8, STRIP_THUMB + 8))
    strip.setResizeMode(QListView.ResizeMode.Adjust)
    strip.setMovement(QListView.Movement.Static)
    strip.setSelectionMode(QListView.SelectionMode.NoSelection)
    strip.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    strip.setMinimumHeight(STRIP_THUMB + 16)
    strip.hide()
    return strip


class WhoPage(QWizardPage):
    """Name and optional id of the new person (or who the samples are added to)."""

    def __init__(self, person: PersonRecord | None) -> None:
        super().__init__()
        self.person = person
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. Ada Lovelace")
        self.id_edit = QLineEdit()
        self.id_edit.setPlaceholderText("optional, e.g. a student number")
        form = QFormLayout(self)
        if person is None:
            self.setTitle("Who are you enrolling?")
            self.setSubTitle("Their name is what the live view shows and what the attendance list records.")
        else:
            self.setTitle(f"Add face samples to {person.name}")
            self.setSubTitle("More varied photos help Rollcall recognise them in different light and poses.")
            self.name_edit.setText(person.name)
            self.id_edit.setText(person.external_id or "")
            self.name_edit.setReadOnly(True)
            self.id_edit.setReadOnly(True)
        form.addRow("Name", self.name_edit)
        form.addRow("Id", self.id_edit)
        self.name_edit.textChanged.connect(self.completeChanged)

    def isComplete(self) -> bool:  # noqa: N802 (Qt name)
        return bool(self.name_edit.text().strip())


class FacesPage(QWizardPage):
    """Collects candidates from photos, a folder or the camera; checking runs on a worker thread."""

    def __init__(self, ctx: AppContext, source: str) -> None:
        super().__init__()
        self.ctx = ctx
        self.source = source
        self.candidates: list[Candidate] = []
        self.job: Job | None = None
        self.camera: FrameLoop | None = None
        self.setTitle("Add face photos")
        self.setSubTitle(
            "Choose a few clear photos where only this person's face is visible — or let the camera take "
            "them. Three to ten varied photos work best."
        )
        self.photos_button = QPushButton("Add photos…")
        self.folder_button = QPushButton("Add a folder…")
        self.camera_button = QPushButton("Use the camera")
        self.photos_button.clicked.connect(self.add_photos)
        self.folder_button.clicked.connect(self.add_folder)
        self.camera_button.clicked.connect(self.toggle_camera)
        row = QHBoxLayout()
        for b in (self.photos_button, self.folder_button, self.camera_button):
            row.addWidget(b)
        row.addStretch(1)
        self.progress = QProgressBar()
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self.cancel)
        prow = QHBoxLayout()
        prow.addWidget(self.progress, 1)
        prow.addWidget(self.cancel_button)
        self.preview = VideoView()
        self.preview.setMinimumSize(360, 220)
        self.preview.hide()
        self.guidance = QLabel()
        self.guidance.setObjectName("guidance")
        self.guidance.setWordWrap(True)
        self.summary = QLabel("No photos yet.")
        self.summary.setWordWrap(True)
        self.strip = thumbnail_strip()
        col = QVBoxLayout(self)
        col.addLayout(row)
        col.addLayout(prow)
        col.addWidget(self.preview, 1)
        col.addWidget(self.guidance)
        col.addWidget(self.summary)
        col.addWidget(self.strip, 1)
        col.addStretch(0)

    def isComplete(self) -> bool:  # noqa: N802 (Qt name)
        return self.job is None and self.camera is None and any(c.usable for c in self.candidates)

    # ----- photos -------------------------------------------------------------------------------------------
    def add_photos(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Choose photos of this person", "", IMAGE_FILTER)
        if paths:
            self.analyze(paths)

    def add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder of photos of this person")
        if folder:
            self.analyze([folder])

    def analyze(self, paths: list[str]) -> None:
        """Check each photo on a worker thread (progress + cancel); usable faces become candidates."""
        try:
            files = expand_paths(paths)
        except RollcallError as exc:
            show_error(self, "Cannot use these photos", exc)
            return
        self._busy(True, len(files))
        self.job = start_job(self, analyze_paths, self.ctx.engine, files, connect=self._connect)

    def _connect(self, job: Job) -> None:
        job.progress.connect(self._on_progress)
        job.finished.connect(self._on_analyzed)
        job.failed.connect(self._on_failed)
        job.stopped.connect(self._on_job_stopped)

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.summary.setText("Stopping…")

    def _on_progress(self, done: int, total: int, text: str) -> None:
        self.progress.setMaximum(max(1, total))
        self.progress.setValue(done)
        self.progress.setFormat(f"{done} of {total}: {text}")

    def _on_failed(self, exc: BaseException) -> None:
        show_error(self, "Checking the photos failed", exc)

    def _on_analyzed(self, found: list[Candidate]) -> None:
        self.candidates.extend(found)
        self._summarise()

    def _on_job_stopped(self) -> None:
        self.job = None
        self._busy(False)
        self.completeChanged.emit()

    def _busy(self, busy: bool, total: int = 0) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            self.progress.setMaximum(max(1, total))
            self.progress.setValue(0)
        for b in (self.photos_button, self.folder_button, self.camera_button):
            b.setEnabled(not busy)

    def _summarise(self) -> None:
        good = sum(c.usable for c in self.candidates)
        bad = len(self.candidates) - good
        text = count(good, "usable face")
        if bad:
            text += f"; {count(bad, 'photo')} cannot be used (you will see why on the next page)"
        self.summary.setText(text + ".")
        self._show_thumbnails()

    def _show_thumbnails(self) -> None:
        """The usable crops so far, small, in the order they were added."""
        self.strip.clear()
        for cand in self.candidates:
            if cand.usable and cand.crop is not None:
                item = QListWidgetItem(QIcon(pixmap_from_rgb(cand.crop, STRIP_THUMB)), "")
                item.setToolTip(cand.source)
                self.strip.addItem(item)
        self.strip.setVisible(self.strip.count() > 0)

    # ----- camera -------------------------------------------------------------------------------------------
    def toggle_camera(self) -> None:
        if self.camera is not None:
            self.stop_camera()
            return
        self.preview.show()
        self.preview.clear(f"Opening {self.source}…")
        self.guidance.setText("Look at the camera. Rollcall takes the photos by itself.")
        self.camera_button.setText("Stop the camera")
        self.photos_button.setEnabled(False)
        self.folder_button.setEnabled(False)
        self.camera = start_loop(
            self,
            self.source,
            self._camera_setup,
            result=self._on_step,
            failed=self._on_camera_failed,
            lost=self._on_camera_ended,
            ended=self._on_camera_ended,
            stopped=self._on_camera_stopped,
        )
        self.completeChanged.emit()

    def _camera_setup(self, source: FrameSource) -> tuple[CaptureCoach, None]:
        engine = self.ctx.engine
        _ = engine.detector, engine.embedder  # load on the worker thread, not on the first frame
        return CaptureCoach(engine), None

    def _on_step(self, camera: FrameLoop, frame: Frame | None, step: CaptureStep) -> None:
        if camera is not self.camera:
            return
        tracks = []
        if step.box is not None:
            state = TrackState.KNOWN if step.good else TrackState.UNSURE
            tracks.append(TrackView(0, step.box, state, "OK" if step.good else "", None, None, 0.0, None))
        self.preview.show_frame(qimage_from_rgb(frame.image) if frame is not None else None, tracks)
        self.guidance.setText(step.guidance)
        if step.captured is not None:
            self.candidates.append(step.captured)
            self._summarise()
        if step.count >= step.wanted:
            self.stop_camera()

    def _on_camera_failed(self, camera: FrameLoop, exc: BaseException) -> None:
        if camera is self.camera:
            self.guidance.setText(plain_message(exc) + " You can add photos instead.")

    def _on_camera_ended(self, camera: FrameLoop, text: str) -> None:
        if camera is self.camera:
            self.guidance.setText(text)

    def _on_camera_stopped(self, camera: FrameLoop) -> None:
        if camera is self.camera:
            self.stop_camera()

    def stop_camera(self) -> None:
        camera, self.camera = self.camera, None
        if camera is not None:
            camera.stop()
        self.camera_button.setText("Use the camera")
        self.photos_button.setEnabled(True)
        self.folder_button.setEnabled(True)
        self.completeChanged.emit()

    def cleanupPage(self) -> None:  # noqa: N802 (Qt name)
        self.shutdown()

    def shutdown(self) -> None:
        self.stop_camera()
        if self.job is not None:
            self.job.cancel()
            self.job.wait(5000)


class ReviewPage(QWizardPage):
    """Thumbnails of the usable crops (untick the bad ones) and why the other photos cannot be used."""

    def __init__(self, faces: FacesPage) -> None:
        super().__init__()
        self.faces = faces
        self.setTitle("Check the faces")
        self.setSubTitle("Untick any crop that is not this person or looks poor. Only ticked faces are saved.")
        self.grid = QListWidget()
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setIconSize(QSize(THUMB, THUMB))
        self.grid.setGridSize(QSize(THUMB + 24, THUMB + 30))
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.itemChanged.connect(lambda _: self.completeChanged.emit())
        self.setButtonText(QWizard.WizardButton.NextButton, "Save")
        self.rejected_title = QLabel("Not usable")
        self.rejected_title.setObjectName("sectionTitle")
        self.rejected = QListWidget()
        self.rejected.setMaximumHeight(110)
        self.rejected.setWordWrap(True)
        self.rejected.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        col = QVBoxLayout(self)
        col.addWidget(self.grid, 1)
        col.addWidget(self.rejected_title)
        col.addWidget(self.rejected)

    def initializePage(self) -> None:  # noqa: N802 (Qt name)
        self.grid.clear()
        self.rejected.clear()
        for i, cand in enumerate(self.faces.candidates):
            if cand.usable and cand.crop is not None:
                item = QListWidgetItem(QIcon(pixmap_from_rgb(cand.crop, THUMB)), Path(cand.source).name)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked)
                item.setData(Qt.ItemDataRole.UserRole, i)
                item.setToolTip(cand.source)
                self.grid.addItem(item)
            else:
                reason = str(cand.problem).removeprefix(f"{cand.source}: ")
                item = QListWidgetItem(f"{Path(cand.source).name} — {reason}")
                item.setToolTip(f"{cand.source}: {reason}")
                self.rejected.addItem(item)
        none_bad = self.rejected.count() == 0
        self.rejected.setHidden(none_bad)
        self.rejected_title.setHidden(none_bad)

    def chosen(self) -> list[Candidate]:
        """The ticked candidates."""
        out = []
        for row in range(self.grid.count()):
            item = self.grid.item(row)
            if item.checkState() == Qt.CheckState.Checked:
                out.append(self.faces.candidates[item.data(Qt.ItemDataRole.UserRole)])
        return out

    def isComplete(self) -> bool:  # noqa: N802 (Qt name)
        return bool(self.chosen())


class SavePage(QWizardPage):
    """Stores the chosen faces on a worker thread, with a progress bar, and says what was saved."""

    def __init__(self, ctx: AppContext, who: WhoPage, review: ReviewPage) -> None:
        super().__init__()
        self.ctx, self.who, self.review = ctx, who, review
        self.saved: PersonRecord | None = None
        self.job: Job | None = None
        self.setTitle("Saving")
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.result = QLabel()
        self.result.setWordWrap(True)
        col = QVBoxLayout(self)
        col.addWidget(self.progress)
        col.addWidget(self.result)
        col.addStretch(1)

    def initializePage(self) -> None:  # noqa: N802 (Qt name)
        chosen = self.review.chosen()
        person = self.who.person
        name, ext = self.who.name_edit.text().strip(), self.who.id_edit.text().strip() or None
        self.setTitle("Saving…")
        self.result.setText(f"Saving {count(len(chosen), 'face sample')} of {name}…")
        self.progress.setRange(0, 0)
        self.progress.show()
        self.job = start_job(
            self, save_candidates, self.ctx, name, ext, chosen, person.id if person else None, with_callbacks=False,
            connect=self._connect,
        )

    def _connect(self, job: Job) -> None:
        job.finished.connect(self._on_saved)
        job.failed.connect(self._on_failed)
        job.stopped.connect(self._on_stopped)

    def _on_saved(self, person: PersonRecord) -> None:
        self.saved = person
        self.setTitle(f"{person.name} is enrolled")
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.result.setText(
            f"{person.name} is enrolled with {count(person.sample_count, 'face sample')}. Rollcall will now recognise "
            "them in the live view. Click Finish to close."
        )

    def _on_failed(self, exc: BaseException) -> None:
        self.setTitle("Not saved")
        self.progress.hide()
        self.result.setText("Nothing was saved: " + plain_message(exc) + " Go back to change the name or photos.")
        show_error(self, "Could not save", exc)

    def _on_stopped(self) -> None:
        self.job = None
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802 (Qt name)
        return self.saved is not None


class EnrollWizard(QWizard):
    """Enroll a new person, or add samples to ``person``; :attr:`saved` holds the result after Finish.

    Args:
        ctx: the application context. source: the camera (or video) used by "Use the camera".
        person: add samples to this person instead of enrolling someone new.
    """

    def __init__(self, ctx: AppContext, source: str, person: PersonRecord | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Enroll someone" if person is None else f"Add samples to {person.name}")
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.setOption(QWizard.WizardOption.NoCancelButtonOnLastPage, True)
        self.who = WhoPage(person)
        self.faces = FacesPage(ctx, source)
        self.review = ReviewPage(self.faces)
        self.save_page = SavePage(ctx, self.who, self.review)
        for page in (self.who, self.faces, self.review, self.save_page):
            self.addPage(page)
        self.resize(720, 560)

    @property
    def saved(self) -> PersonRecord | None:
        return self.save_page.saved

    def done(self, result: int) -> None:
        """Stop the camera and any check still running before the wizard closes."""
        self.faces.shutdown()
        if self.save_page.job is not None:
            self.save_page.job.wait(10000)
        super().done(result)
