"""Enrolling a person through the wizard, from photos."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QWizard

from tests.conftest import need_shared


def test_wizard_enrolls_a_person_from_photos(qtbot, window, celebs: Path, monkeypatch) -> None:
    photos = sorted((celebs / "train" / "jerry_seinfeld").glob("*.jpg"))[:3]
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(p) for p in photos], ""))
    window.go_to("People")
    assert window.people.empty.isVisible(), "a first run says nobody is enrolled"

    qtbot.mouseClick(window.people.enroll_button, Qt.MouseButton.LeftButton)
    wizard = window.wizard
    qtbot.keyClicks(wizard.who.name_edit, "Jerry Seinfeld")
    qtbot.keyClicks(wizard.who.id_edit, "S-042")
    qtbot.mouseClick(wizard.button(QWizard.WizardButton.NextButton), Qt.MouseButton.LeftButton)
    assert wizard.currentPage() is wizard.faces
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled(), "no photos yet: cannot go on"

    qtbot.mouseClick(wizard.faces.photos_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(wizard.faces.isComplete, timeout=90_000)
    qtbot.mouseClick(wizard.button(QWizard.WizardButton.NextButton), Qt.MouseButton.LeftButton)
    assert wizard.currentPage() is wizard.review
    assert wizard.review.grid.count() == 3, "each photo's face crop is shown for review"

    qtbot.mouseClick(wizard.button(QWizard.WizardButton.NextButton), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(wizard.save_page.isComplete, timeout=30_000)
    assert "Jerry Seinfeld is enrolled with 3 face samples" in wizard.save_page.result.text()
    qtbot.mouseClick(wizard.button(QWizard.WizardButton.FinishButton), Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: window.people.table.rowCount() == 1)
    table = window.people.table
    assert [table.item(0, c).text() for c in (1, 2, 3)] == ["Jerry Seinfeld", "S-042", "3"]
    assert window.live.stack.currentWidget() is window.live.video, "the live view no longer asks to enroll"


def test_unticked_crop_is_not_saved(qtbot, window, celebs: Path, monkeypatch) -> None:
    photos = sorted((celebs / "train" / "madonna").glob("*.jpg"))[:2]
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(p) for p in photos], ""))
    wizard = window.open_wizard()
    qtbot.keyClicks(wizard.who.name_edit, "Madonna")
    wizard.next()
    qtbot.mouseClick(wizard.faces.photos_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(wizard.faces.isComplete, timeout=90_000)
    wizard.next()
    wizard.review.grid.item(0).setCheckState(Qt.CheckState.Unchecked)
    wizard.next()
    qtbot.waitUntil(wizard.save_page.isComplete, timeout=30_000)
    assert window.ctx.repo.list_people()[0].sample_count == 1


def test_wizard_enrolls_from_the_camera(qtbot, window, celebs: Path, cameras) -> None:
    """The camera takes varied samples by itself, says what to fix, and stops when it has enough."""
    from tests.ui.conftest import FakeCamera, camera_frame

    two = camera_frame(need_shared("data", "face-recognition-examples") / "examples" / "two_people.jpg")
    jerry = [camera_frame(p) for p in sorted((celebs / "train" / "jerry_seinfeld").glob("*.jpg"))[:6]]
    # Two people for the first 3 s (nothing may be taken), then Jerry alone, a different photo every 1/3 s.
    cameras["desk"] = FakeCamera([two] * 9 + jerry, fps=30, hold=10)
    window.live.source_edit.setText("fake-camera:desk")
    wizard = window.open_wizard()
    qtbot.keyClicks(wizard.who.name_edit, "Jerry Seinfeld")
    wizard.next()

    faces = wizard.faces
    qtbot.mouseClick(faces.camera_button, Qt.MouseButton.LeftButton)
    assert faces.camera_button.text() == "Stop the camera"
    assert not faces.photos_button.isEnabled(), "photos and camera are not mixed while the camera runs"
    qtbot.waitUntil(lambda: "2 faces in view" in faces.guidance.text(), timeout=60_000)
    assert not faces.candidates, "nothing is captured while two people are in view"

    qtbot.waitUntil(lambda: faces.camera is None, timeout=120_000)  # stops by itself once it has enough
    assert faces.camera_button.text() == "Use the camera"
    assert len(faces.candidates) == 5 and all(c.usable for c in faces.candidates)
    assert "Done" in faces.guidance.text() or "Captured 5 of 5" in faces.guidance.text()
    assert cameras["desk"].closed, "the camera is released"
    assert faces.isComplete()

    wizard.next()
    assert wizard.review.grid.count() == 5
    wizard.next()
    qtbot.waitUntil(wizard.save_page.isComplete, timeout=30_000)
    person = window.ctx.repo.list_people()[0]
    assert (person.name, person.sample_count) == ("Jerry Seinfeld", 5)
