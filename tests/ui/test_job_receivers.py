"""A background job's first signals reach the UI even when the job reports (or ends) before the caller's next line.

A Qt signal emitted while nothing is connected is lost. The Settings download once waited forever for the UI to
show its first progress, because the progress dialog connected only after the worker thread had started.
"""

from __future__ import annotations

import time

from PySide6.QtWidgets import QWidget

from app.ui.worker import Job, start_job


def _reports_at_once(progress, should_stop) -> str:  # noqa: ANN001
    progress(1, 3, "first step")
    return "done"


def _fails_at_once(progress, should_stop) -> str:  # noqa: ANN001
    raise ValueError("broken at once")


def _run(qtbot, fn) -> list[tuple]:  # noqa: ANN001
    parent = QWidget()
    qtbot.addWidget(parent)
    seen: list[tuple] = []

    def connect(job: Job) -> None:
        job.progress.connect(lambda done, total, text: seen.append(("progress", done, total, text)))
        job.finished.connect(lambda result: seen.append(("finished", result)))
        job.failed.connect(lambda exc: seen.append(("failed", str(exc))))
        job.stopped.connect(lambda: seen.append(("stopped",)))

    start_job(parent, fn, connect=connect)
    time.sleep(0.3)  # a busy GUI thread: the job has long reported and ended before the caller goes on
    qtbot.waitUntil(lambda: ("stopped",) in seen, timeout=5000)
    return seen


def test_a_job_that_reports_at_once_is_seen_from_its_first_progress(qtbot) -> None:  # noqa: ANN001
    assert _run(qtbot, _reports_at_once) == [("progress", 1, 3, "first step"), ("finished", "done"), ("stopped",)]


def test_a_job_that_fails_at_once_still_reports_its_failure(qtbot) -> None:  # noqa: ANN001
    assert _run(qtbot, _fails_at_once) == [("failed", "broken at once"), ("stopped",)]
