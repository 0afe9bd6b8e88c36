"""The Live page: the camera picture with names on faces, start/stop, the session and who was marked."""

from __future__ import annotations

import logging
from functools import partial
from typing import Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QBoxLayout,
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListView,
    QListWidgetItem,
    QPushButton,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.context import AppContext
from app.services.attendance import default_session_name
from app.services.live import LiveRecognizer, LiveStart, LiveUpdate, start_live
from app.ui.frameloop import FrameLoop, Handler, LoopThread, sentence, start_loop
from app.ui.images import qimage_from_rgb
from app.ui.messages import plain_message
from app.ui.sound import Chime
from app.ui.video_view import VideoView
from app.ui.worker import join_thread
from db.records import EventRecord, SessionRecord
from models.sources import Frame, FrameSource
from models.tracking import SceneCutDetector

log = logging.getLogger(__name__)

DISPLAY_INTERVAL_MS = 10
"""How often the view looks for a newer frame (it paints each frame once, at most at the source's rate)."""
SIDE_WIDTH = 200
"""Width of the list of people marked beside the picture (narrow, so a 16:9 picture gets most of the page)."""
BELOW_HEIGHT = 120
"""Height of the list of people marked when it sits under the picture (see :func:`list_goes_below`)."""
DEFAULT_ASPECT = 16 / 9
"""The picture's width / height until the first frame says otherwise."""
WIDGET_MAX = 16_777_215
"""Qt's largest widget size (QWIDGETSIZE_MAX): no maximum."""
VIDEO_FILTER = "Videos (*.mp4 *.avi *.mkv *.mov *.webm *.m4v);;All files (*)"


def open_live(ctx: AppContext, session_name: str, source: FrameSource) -> tuple[Handler, LiveStart]:
    """The live page's frame-loop setup (runs on the recognition thread, touches no widget): the
    recognizer's ``process`` as the handler, and what :func:`start_live` prepared for the page."""
    started = start_live(ctx, session_name, "camera" if source.is_live else "video", source.started_at)
    return started.recognizer.process, started


def enrolled_text(people: int) -> str:
    """``"1 person enrolled"``, ``"3 people enrolled"``."""
    return f"{people} people enrolled" if people != 1 else "1 person enrolled"


def list_goes_below(width: int, height: int, aspect: float) -> bool:
    """Whether the list of people marked should sit under the picture rather than beside it.

    Args:
        width, height: the pixels the picture and the list share.
        aspect: the picture's width / height (16:9 video: 1.78).

    Returns:
        ``True`` when the list under the picture leaves a larger picture than the list beside it (a laptop
        window is too narrow for a 16:9 picture and a list side by side; a wide screen is not).
    """

    def shown_area(w: float, h: float) -> float:
        shown_width = max(0.0, min(w, h * aspect))
        return shown_width * shown_width / aspect

    return shown_area(width, height - BELOW_HEIGHT) > shown_area(width - SIDE_WIDTH, height)


def source_name(spec: str) -> str:
    """How the status line names a source the user typed: ``"camera 0"`` for an index, else the text itself."""
    return f"camera {spec}" if spec.isdigit() else spec


def marked_text(event: EventRecord) -> str:
    """A line of the marked list, e.g. ``"✓ Ada Lovelace 09:02"`` (local time)."""
    return f"✓ {event.person_name} {event.time.astimezone():%H:%M}"


class Banner(QFrame):
    """A strip above the picture saying what happened to the source, with Retry and Video file buttons."""

    retry = Signal()
    choose_video = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.retry_button = QPushButton("Retry")
        self.video_button = QPushButton("Choose a video file…")
        close = QPushButton("✕")
        close.setObjectName("flat")
        close.setToolTip("Hide this message")
        row = QHBoxLayout(self)
        row.addWidget(self.text, 1)
        row.addWidget(self.retry_button)
        row.addWidget(self.video_button)
        row.addWidget(close)
        self.retry_button.clicked.connect(self.retry)
        self.video_button.clicked.connect(self.choose_video)
        close.clicked.connect(self.hide)
        self.hide()

    def say(self, text: str, kind: str = "warning") -> None:
        self.setProperty("kind", kind)
        self.style().unpolish(self)
        self.style().polish(self)
        self.text.setText(text)
        self.show()


class ResizeWatcher(QWidget):
    """A plain container that calls ``resized()`` after each change of its size."""

    def __init__(self, resized: Callable[[], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._resized = resized

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self._resized()


class LivePage(QWidget):
    """Start/stop live recognition on a source, see names on faces, and who was marked this session.

    Signals:
        enroll_requested — the user wants to enroll someone (the empty state's button).
        marked(event) — someone was marked present (the attendance page refreshes).
        people_reloaded(count) — the running recognizer re-read the enrolled people (someone was enrolled or
            removed here or at another station; the People page refreshes).
    """

    enroll_requested = Signal()
    marked = Signal(object)
    people_reloaded = Signal(int)
    running_changed = Signal(bool)

    def __init__(self, ctx: AppContext, chime: Chime, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.chime = chime
        self.loop: FrameLoop | None = None
        self.recognizer: LiveRecognizer | None = None
        self.session: SessionRecord | None = None
        self.last_update: LiveUpdate | None = None
        self._tracks: tuple = ()
        self._shown_index = -1
        self._reload_pending = False
        self._stop_reason = "Stopped"
        self._label = ""
        self._list_below: bool | None = None  # where the list of marks sits; decided on the first resize
        self._arranged_aspect: float | None = None  # the picture shape the list's place was last chosen for
        self._display_cuts = SceneCutDetector()  # on the painted pictures (see _current_tracks)
        self._cut_index = -1
        self.display = QTimer(self)
        self.display.setInterval(DISPLAY_INTERVAL_MS)
        self.display.timeout.connect(self._paint_newest)
        self._build()
        self.source_edit.setText(ctx.config.settings.source)
        self.refresh_people()

    # ----- layout -------------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.source_edit = QLineEdit()
        self.source_edit.setPlaceholderText("camera number (0), video file or rtsp:// address")
        self.source_edit.setToolTip("Camera number (0 is the built-in webcam), a video file or an rtsp:// address")
        browse = QPushButton("Video file…")
        browse.clicked.connect(self.choose_video)
        self.session_box = QComboBox()
        self.session_box.setEditable(True)
        self.session_box.setMinimumWidth(160)
        self.session_box.setToolTip("Attendance is recorded in this session; type a new name to start a new one")
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("primary")
        self.start_button.clicked.connect(self.toggle)
        top = QHBoxLayout()
        top.addWidget(QLabel("Source"))
        top.addWidget(self.source_edit, 2)
        top.addWidget(browse)
        top.addSpacing(12)
        top.addWidget(QLabel("Session"))
        top.addWidget(self.session_box, 1)
        top.addWidget(self.start_button)

        self.banner = Banner()
        self.banner.retry.connect(self.start)
        self.banner.choose_video.connect(self.choose_video)
        self.video = VideoView()
        self.stack = QStackedWidget()
        self.stack.addWidget(self._empty_state())
        self.stack.addWidget(self.video)

        self.marked_list = QListWidget()
        self.marked_list.setObjectName("marked")
        self.marked_list.setWordWrap(True)
        self.marked_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.marked_title = QLabel("Marked present")
        self.marked_title.setObjectName("sectionTitle")
        self.status = QLabel("Stopped")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        side = QVBoxLayout()
        side.setContentsMargins(0, 0, 0, 0)
        side.addWidget(self.marked_title)
        side.addWidget(self.marked_list, 1)
        self.side_box = QWidget()
        self.side_box.setLayout(side)
        self.side_box.setFixedWidth(SIDE_WIDTH)
        self.list_button = QToolButton()
        self.list_button.setCheckable(True)
        self.list_button.setChecked(True)
        self.list_button.toggled.connect(self.show_marked_list)
        self.show_marked_list(True)
        self.stack.currentChanged.connect(lambda _index: self.show_marked_list(self.list_button.isChecked()))
        top.addWidget(self.list_button)

        picture = QVBoxLayout()
        picture.addWidget(self.stack, 1)
        picture.addWidget(self.status)
        self.middle = ResizeWatcher(self.arrange)
        self.middle_layout = QBoxLayout(QBoxLayout.Direction.LeftToRight, self.middle)
        self.middle_layout.setContentsMargins(0, 0, 0, 0)
        self.middle_layout.addLayout(picture, 1)
        self.middle_layout.addWidget(self.side_box)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.banner)
        layout.addWidget(self.middle, 1)

    def arrange(self) -> None:
        """Put the list of marks beside the picture or under it, whichever leaves the larger picture."""
        height = self.middle.height() - self.status.sizeHint().height()
        if not self.banner.isHidden():  # a passing message does not move the list (it may not be laid out yet)
            banner = self.banner.heightForWidth(self.middle.width())
            height += (banner if banner > 0 else self.banner.sizeHint().height()) + self.layout().spacing()
        below = list_goes_below(self.middle.width(), height, self.video.aspect or DEFAULT_ASPECT)
        if below == self._list_below:
            return
        self._list_below = below
        box, marks = self.side_box, self.marked_list
        if below:
            box.setMinimumWidth(0)
            box.setMaximumWidth(WIDGET_MAX)
            box.setFixedHeight(BELOW_HEIGHT)
        else:
            box.setMinimumHeight(0)
            box.setMaximumHeight(WIDGET_MAX)
            box.setFixedWidth(SIDE_WIDTH)
        marks.setFlow(QListView.Flow.LeftToRight if below else QListView.Flow.TopToBottom)
        marks.setWrapping(below)  # under the picture, the marks run along the lines like words
        marks.setWordWrap(not below)
        marks.setSpacing(2 if below else 0)
        self.middle_layout.setDirection(QBoxLayout.Direction.TopToBottom if below else QBoxLayout.Direction.LeftToRight)

    @property
    def list_below(self) -> bool:
        """Whether the list of marks sits under the picture (else beside it)."""
        return bool(self._list_below)

    def show_marked_list(self, shown: bool) -> None:
        """Show or hide the list of people marked (hidden, the picture takes the page's whole width)."""
        picture = self.stack.currentIndex() == 1  # no list (nor its button) beside "Nobody is enrolled yet"
        self.side_box.setVisible(shown and picture)
        self.list_button.setVisible(picture)
        self.list_button.setChecked(shown)
        self.list_button.setText("Hide list" if shown else "Show list")
        self.list_button.setToolTip("Hide the list of people marked present" if shown else "Show who was marked present")

    def _empty_state(self) -> QWidget:
        box = QFrame()
        box.setObjectName("emptyState")
        title = QLabel("Nobody is enrolled yet")
        title.setObjectName("emptyTitle")
        text = QLabel(
            "Rollcall recognises the people you enroll. Enroll someone first — from a few photos or with the "
            "camera — then press Start.\n\nNo webcam? Choose a video file as the source."
        )
        text.setWordWrap(True)
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        button = QPushButton("Enroll someone…")
        button.setObjectName("primary")
        button.clicked.connect(self.enroll_requested)
        col = QVBoxLayout(box)
        col.addStretch(1)
        col.addWidget(title, 0, Qt.AlignmentFlag.AlignHCenter)
        col.addWidget(text)
        col.addSpacing(8)
        col.addWidget(button, 0, Qt.AlignmentFlag.AlignHCenter)
        col.addStretch(2)
        return box

    # ----- what the rest of the window tells this page -------------------------------------------------------
    def refresh_people(self) -> None:
        """Show the empty state when nobody is enrolled; reload a running recognizer's gallery."""
        try:
            nobody = not self.ctx.repo.list_people()
        except Exception as exc:  # a broken database shows in the status line, the page stays usable
            log.exception("listing people failed")
            self.status.setText(plain_message(exc))
            nobody = False
        self.stack.setCurrentIndex(0 if nobody and self.loop is None else 1)
        if self.recognizer is not None:
            self.recognizer.reload_gallery()  # a request: the recognition thread applies it between frames
        self._reload_pending = self.loop is not None and self.recognizer is None
        self.refresh_sessions()

    def refresh_sessions(self) -> None:
        current = self.session_box.currentText() or default_session_name()
        names = [s.name for s in self.ctx.repo.list_sessions()]
        if default_session_name() not in names:
            names.insert(0, default_session_name())
        self.session_box.blockSignals(True)
        self.session_box.clear()
        self.session_box.addItems(names)
        self.session_box.setCurrentText(current)
        self.session_box.blockSignals(False)

    # ----- start / stop ------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.loop is not None

    def toggle(self) -> None:
        if self.running:
            self.stop()
        else:
            self.start()

    def start(self, source: str | None = None) -> None:
        """Open ``source`` (default: the source box) and start recognising; problems show in the banner."""
        if self.running:
            self.stop()
        spec = (source if isinstance(source, str) else self.source_edit.text()).strip() or "0"
        self.source_edit.setText(spec)
        session_name = self.session_box.currentText().strip() or default_session_name()
        self.banner.hide()
        self.stack.setCurrentIndex(1)
        self.video.clear(f"Opening {spec}…")
        self.status.setText(f"Opening {spec}…")
        self._tracks, self._shown_index, self.last_update = (), -1, None
        self._display_cuts.reset()
        self._cut_index = -1
        self._reload_pending, self._stop_reason = False, "Stopped"
        self.loop = start_loop(
            self,
            spec,
            partial(open_live, self.ctx, session_name),
            opened=self._on_opened,
            result=self._on_result,
            ended=self._on_ended,
            lost=self._on_lost,
            failed=self._on_failed,
            stopped=self._on_stopped,
        )
        self.display.start()
        self.start_button.setText("Stop")
        self.running_changed.emit(True)

    def stop(self, wait_ms: int = 1000) -> None:
        """Stop the source and the recognition thread; marks already made stay.

        Args:
            wait_ms: how long to wait for the thread (a source still opening, or models still loading, finish
                on their own afterwards; :meth:`shutdown` waits longer).
        """
        loop, self.loop = self.loop, None
        self.display.stop()
        if loop is not None:
            loop.stop(wait_ms)
        self.recognizer = None
        self.start_button.setText("Start")
        self.status.setText("Stopped")
        self.running_changed.emit(False)

    # ----- signals from the worker ----------------------------------------------------------------------------
    def _on_opened(self, loop: FrameLoop, label: str, started: LiveStart) -> None:
        if loop is not self.loop:
            return
        self.recognizer = started.recognizer
        if self._reload_pending:  # people changed while the models were loading
            self.recognizer.reload_gallery()
        self.session = started.session
        self.marked_list.clear()
        for event in started.earlier:
            self._add_marked(event)
        self._label = label
        self.status.setText(f"Watching {label} · {enrolled_text(started.people)}")
        self.video.clear("Waiting for the first picture…")

    def _on_result(self, loop: FrameLoop, frame: Frame | None, update: LiveUpdate) -> None:
        if loop is not self.loop:
            return
        self.last_update = update
        self._tracks = update.tracks
        if update.reloaded:
            self.status.setText(f"Watching {self._label} · {enrolled_text(update.people)} (the list was updated)")
            self.people_reloaded.emit(update.people)
        for event in update.events:
            self._add_marked(event, announce=True)

    def _paint_newest(self, loop: FrameLoop | None = None) -> None:
        """Paint the newest frame read (once) with the latest recognised faces on it."""
        loop = loop if isinstance(loop, FrameLoop) else self.loop
        frame = loop.latest_frame() if loop is not None else None
        if frame is None:
            return
        if frame.index != self._shown_index:
            self._shown_index = frame.index
            if self._display_cuts.is_cut(frame.image):
                self._cut_index = frame.index
            self.video.show_frame(qimage_from_rgb(frame.image), self._current_tracks())
            if self.video.aspect != self._arranged_aspect:  # a new picture shape (a 4:3 webcam)
                self._arranged_aspect = self.video.aspect
                self.arrange()
        elif self.video.tracks != self._current_tracks():
            self.video.show_frame(None, self._current_tracks())

    def _current_tracks(self) -> tuple:
        """The latest recognised faces, or none while the picture is from a newer shot than the frame they
        were found in (recognition runs a frame or two behind the picture: no box outlives a cut)."""
        update = self.last_update
        return self._tracks if update is not None and update.frame_index >= self._cut_index else ()

    def _add_marked(self, event: EventRecord, announce: bool = False) -> None:
        item = QListWidgetItem(marked_text(event))
        item.setData(Qt.ItemDataRole.UserRole, event.id)
        self.marked_list.insertItem(0, item)
        self.marked_title.setText(f"Marked present ({self.marked_list.count()})")
        if announce:
            self.status.setText(f"✓ {event.person_name} marked present at {event.time.astimezone():%H:%M}")
            self.chime.play()
            self.marked.emit(event)

    def _on_ended(self, loop: FrameLoop, text: str) -> None:
        if loop is not self.loop:
            return
        self._stop_reason = f"Stopped: {text}"
        self.banner.say(f"{text} Everyone marked so far is saved. Press Retry to play it again.", "info")

    def _on_lost(self, loop: FrameLoop, text: str) -> None:
        if loop is not self.loop:
            return
        self._stop_reason = "Stopped: the picture stopped."
        self.banner.say(f"The picture stopped: {text} Everyone marked so far is saved.")

    def _on_failed(self, loop: FrameLoop, exc: BaseException) -> None:
        if loop is not self.loop:
            return
        opened = self.recognizer is not None
        failed = "Stopped: recognition failed." if opened else f"Stopped: {source_name(loop.spec)} could not be opened."
        self._stop_reason = failed
        self.banner.say(sentence(plain_message(exc)), "error")
        self.video.clear("No picture")

    def _on_stopped(self, loop: FrameLoop) -> None:
        if loop is not self.loop:
            return
        self.loop = None
        self._paint_newest(loop)
        loop.stop()
        self.display.stop()
        self.recognizer = None
        self.start_button.setText("Start")
        self.running_changed.emit(False)
        self.status.setText(self._stop_reason)

    def choose_video(self) -> None:
        """Ask for a video file and start on it."""
        path, _ = QFileDialog.getOpenFileName(self, "Choose a video file", "", VIDEO_FILTER)
        if path:
            self.source_edit.setText(path)
            self.start(path)

    def shutdown(self) -> None:
        """Stop every thread of this page and wait for them (the window is closing)."""
        self.stop(wait_ms=15_000)
        for thread in self.findChildren(LoopThread):
            if not join_thread(thread, 15_000):
                log.warning("a live thread did not stop in time")
