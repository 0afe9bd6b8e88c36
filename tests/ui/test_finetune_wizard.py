"""The fine-tune wizard driven page by page: data → model → training in a real spawned process → result.

Most tests hand the wizard a small real job (``tests.unit.training_jobs.small_training``) in place of the
trainer, so they take seconds; one runs the real ``run_training`` on a tiny model and a few enrolled photos.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog, QWizard

from app.text import count
from app.ui import finetune_wizard as fw
from app.ui.finetune_wizard import FinetuneWizard, TrainingHooks
from db.records import NewSample
from tests.unit import training_jobs as jobs


def fake_hooks(job=jobs.small_training, step_s: float = 0.01) -> TrainingHooks:  # noqa: ANN001
    """The wizard's hooks with the stand-in job (a spec is a dict; ``step_s`` paces the job's steps)."""
    return TrainingHooks(make_spec=lambda **fields: dict(fields, step_s=step_s), plan=jobs.plan, job=job,
                         adopt=jobs.adopt, discard=jobs.discard)  # fmt: skip


def add_people(ctx, counts: dict[str, int]) -> None:  # noqa: ANN001
    """People with ``count`` small grey face crops each (the stand-in job never looks at them)."""
    ok, jpeg = cv2.imencode(".jpg", np.full((32, 32, 3), 128, np.uint8))
    sample = NewSample(jpeg.tobytes(), [(10.0, 12.0)], "dlib68", "test", 1.0)
    for name, count in counts.items():
        ctx.repo.add_person(name, samples=[sample] * count)


def open_wizard(qtbot, ctx, hooks: TrainingHooks) -> FinetuneWizard:  # noqa: ANN001
    wizard = FinetuneWizard(ctx, hooks=hooks)
    qtbot.addWidget(wizard)
    wizard.show()
    return wizard


def next_button(wizard: FinetuneWizard):  # noqa: ANN201
    return wizard.button(QWizard.WizardButton.NextButton)


def to_training(qtbot, wizard: FinetuneWizard, epochs: int = 3) -> None:  # noqa: ANN001
    """Data page → Model page (waits for the plan) → Start training."""
    qtbot.mouseClick(next_button(wizard), Qt.MouseButton.LeftButton)
    assert wizard.currentPage() is wizard.model
    qtbot.waitUntil(lambda: wizard.model.plan is not None, timeout=10000)
    wizard.model.epochs.setValue(epochs)
    commit = wizard.button(QWizard.WizardButton.CommitButton)
    assert commit.text() == "Start training"
    qtbot.mouseClick(commit, Qt.MouseButton.LeftButton)
    assert wizard.currentPage() is wizard.training


@pytest.fixture
def three(ctx):  # noqa: ANN001, ANN201
    add_people(ctx, {"Ada": 6, "Grace": 5, "Alan": 3})
    return ctx


def test_data_page_lists_everyone_ticked_and_warns_about_few_photos(qtbot, three) -> None:  # noqa: ANN001
    wizard = open_wizard(qtbot, three, fake_hooks())
    table = wizard.data.table
    rows = [(table.item(r, 0).text(), table.item(r, 1).text(), table.item(r, 0).checkState()) for r in range(3)]
    assert sorted(rows) == [("Ada", "6", Qt.CheckState.Checked), ("Alan", "3", Qt.CheckState.Checked),
                            ("Grace", "5", Qt.CheckState.Checked)]  # fmt: skip
    assert wizard.data.warning.isVisible()
    assert "Alan (3)" in wizard.data.warning.text() and "Add photos" in wizard.data.warning.text()
    assert "About 3 of the 14 photos" in wizard.data.holdout_text.text()
    assert next_button(wizard).isEnabled()

    alan = next(p for p in wizard.data.people if p.name == "Alan")
    wizard.data.set_ticked(alan.id, False)
    assert not wizard.data.warning.isVisible(), "enough photos for everyone ticked"
    ada = next(p for p in wizard.data.people if p.name == "Ada")
    wizard.data.set_ticked(ada.id, False)
    assert not next_button(wizard).isEnabled(), "one person cannot be told apart from anyone"
    assert "at least 2 people" in wizard.data.warning.text() and "tick at least two" in wizard.data.warning.text()


def test_one_enrolled_person_is_told_to_enroll_more(qtbot, ctx) -> None:  # noqa: ANN001
    add_people(ctx, {"Ada": 6})
    wizard = open_wizard(qtbot, ctx, fake_hooks())
    assert not next_button(wizard).isEnabled()
    assert "enroll more people first" in wizard.data.warning.text()


def test_model_page_recommends_and_estimates_and_passes_the_settings(qtbot, three) -> None:  # noqa: ANN001
    wizard = open_wizard(qtbot, three, fake_hooks())
    qtbot.mouseClick(next_button(wizard), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "about 5 s" in wizard.model.plan_text.text(), timeout=10000)
    assert wizard.model.mode_buttons["head"].isChecked()
    assert "3 people" in wizard.model.plan_text.text() and "CPU (test)" in wizard.model.plan_text.text()

    wizard.model.mode_buttons["full"].click()
    wizard.model.epochs.setValue(40)
    qtbot.waitUntil(lambda: "about 20 s" in wizard.model.plan_text.text(), timeout=10000)
    assert "head is recommended" in wizard.model.plan_text.text()
    assert "No GPU" in wizard.model.plan_warning.text()
    fields = wizard.model.spec_fields()
    assert fields["mode"] == "full" and fields["epochs"] == 40 and fields["margin"] == 0.2
    assert (fields["people"], fields["per_person"], fields["holdout"]) == (8, 4, 0.2)
    assert len(fields["person_ids"]) == 3 and fields["background"] is None


def test_a_whole_run_shows_the_curve_and_the_result_and_uses_the_model(qtbot, three, monkeypatch) -> None:  # noqa: ANN001
    wizard = open_wizard(qtbot, three, fake_hooks(step_s=0.05))
    to_training(qtbot, wizard, epochs=4)
    qtbot.waitUntil(lambda: wizard.training.chart.loss.count() >= 1, timeout=30000)
    assert "Epoch 1 of 4" in wizard.training.epoch_text.text()
    assert "Device: CPU (test)" == wizard.training.device_text.text()
    qtbot.waitUntil(lambda: wizard.currentPage() is wizard.result_page, timeout=30000)

    chart = wizard.training.chart
    assert [round(p.y(), 3) for p in chart.loss.points()] == [0.3, 0.15, 0.1, 0.075]
    assert [round(p.y(), 1) for p in chart.accuracy.points()] == [82.0, 84.0, 86.0, 88.0]
    page = wizard.result_page
    assert page.verdict.text() == "Better for your people, unchanged for others."
    first = [page.table.item(0, c).text() for c in range(3)]
    assert first == ["80.0 %", "88.0 %", "+8.0 points"]
    assert page.table.verticalHeaderItem(0).text() == "Your people (held-out): accuracy"
    assert page.table.verticalHeaderItem(3).text() == "Other faces (guard set): accuracy"
    assert "4 epochs" in page.details.text()
    assert page.use_button.isEnabled()
    assert not wizard.button(QWizard.WizardButton.FinishButton).isEnabled(), "decide first"

    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("class-7b", True))
    qtbot.mouseClick(page.use_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.decided == "used", timeout=30000)
    assert "Saved as “class-7b”" in page.status.text()
    assert (three.config.data_dir / "adopted.txt").read_text().startswith("class-7b ")
    assert wizard.button(QWizard.WizardButton.FinishButton).isEnabled()
    work = Path(wizard.training.outcome.work_dir)
    wizard.button(QWizard.WizardButton.FinishButton).click()
    assert work.exists(), "a used model is kept"


def test_stop_keeps_what_was_trained_and_discard_removes_it(qtbot, three) -> None:  # noqa: ANN001
    wizard = open_wizard(qtbot, three, fake_hooks(step_s=0.05))
    to_training(qtbot, wizard, epochs=200)
    qtbot.waitUntil(lambda: wizard.training.chart.loss.count() >= 1, timeout=30000)
    assert "left" in wizard.training.time_text.text()
    qtbot.mouseClick(wizard.training.stop_button, Qt.MouseButton.LeftButton)
    assert wizard.training.stop_button.text() == "Stopping…"
    qtbot.waitUntil(lambda: wizard.currentPage() is wizard.result_page, timeout=30000)

    page = wizard.result_page
    outcome = wizard.training.outcome
    assert outcome.cancelled and 1 <= len(outcome.epochs) < 200
    assert page.details.text().startswith(f"Stopped by you after {count(len(outcome.epochs), 'epoch')}")
    work = Path(outcome.work_dir)
    assert work.is_dir()
    with qtbot.waitSignal(wizard.finished, timeout=5000):
        qtbot.mouseClick(page.discard_button, Qt.MouseButton.LeftButton)
    assert not work.exists(), "Discard leaves nothing behind"
    assert not (three.config.data_dir / "adopted.txt").exists()


def test_a_model_that_got_worse_is_not_offered(qtbot, three) -> None:  # noqa: ANN001
    wizard = open_wizard(qtbot, three, fake_hooks())
    qtbot.mouseClick(next_button(wizard), Qt.MouseButton.LeftButton)
    wizard.model.margin.setValue(0.8)
    to_training_from_model(qtbot, wizard)
    qtbot.waitUntil(lambda: wizard.currentPage() is wizard.result_page, timeout=30000)
    page = wizard.result_page
    assert not page.use_button.isEnabled()
    assert "cannot be used" in page.status.text()
    assert page.table.item(0, 2).text() == "-6.0 points"


def to_training_from_model(qtbot, wizard: FinetuneWizard) -> None:  # noqa: ANN001
    qtbot.waitUntil(lambda: wizard.model.plan is not None, timeout=10000)
    wizard.model.epochs.setValue(3)
    qtbot.mouseClick(wizard.button(QWizard.WizardButton.CommitButton), Qt.MouseButton.LeftButton)


def test_a_trainer_that_dies_is_a_message_and_the_window_lives_on(qtbot, three) -> None:  # noqa: ANN001
    wizard = open_wizard(qtbot, three, fake_hooks(job=jobs.die))
    to_training(qtbot, wizard)
    page = wizard.training
    qtbot.waitUntil(lambda: page.error_banner.isVisible(), timeout=30000)
    assert "stopped by signal 9" in page.error_banner.text()
    assert wizard.currentPage() is page and page.retry_button.isVisible()
    assert not page.stop_button.isEnabled()
    qtbot.mouseClick(page.retry_button, Qt.MouseButton.LeftButton)
    assert wizard.currentPage() is wizard.data, "back to the settings"
    assert len(wizard.data.chosen()) == 3, "the choices are kept"


def test_a_trainer_error_is_shown_in_its_own_words(qtbot, three) -> None:  # noqa: ANN001
    wizard = open_wizard(qtbot, three, fake_hooks(job=jobs.fail_with_bad_input))
    to_training(qtbot, wizard)
    qtbot.waitUntil(lambda: wizard.training.error_banner.isVisible(), timeout=30000)
    assert wizard.training.error_banner.text() == "only 1 person has photos; fine-tuning needs at least 2 people"


def test_closing_during_training_stops_the_trainer_and_keeps_nothing(qtbot, three) -> None:  # noqa: ANN001
    wizard = open_wizard(qtbot, three, fake_hooks(step_s=0.05))
    to_training(qtbot, wizard, epochs=500)
    qtbot.waitUntil(lambda: wizard.training.chart.loss.count() >= 1, timeout=30000)
    process = wizard.training.process
    wizard.reject()
    assert not process.is_alive()
    runs = list((three.config.data_dir / "training").iterdir())
    assert runs == [], "the stopped run was discarded"


def test_the_people_and_settings_pages_open_the_wizard(qtbot, window, monkeypatch) -> None:  # noqa: ANN001
    add_people(window.ctx, {"Ada": 4, "Grace": 4})
    monkeypatch.setattr(fw, "default_hooks", fake_hooks)
    window.go_to("People")
    qtbot.mouseClick(window.people.finetune_button, Qt.MouseButton.LeftButton)
    wizards = [w for w in window.findChildren(FinetuneWizard) if w.isVisible()]
    assert len(wizards) == 1 and wizards[0].currentPage() is wizards[0].data
    window.go_to("Settings")
    qtbot.mouseClick(window.settings.finetune_button, Qt.MouseButton.LeftButton)
    assert [w for w in window.findChildren(FinetuneWizard) if w.isVisible()] == wizards, "the open one is raised"
    wizards[0].reject()


def test_closing_while_the_plan_is_still_computed_waits_for_it_without_blocking(qtbot, three) -> None:  # noqa: ANN001
    hooks = fake_hooks()
    wizard = open_wizard(qtbot, three, TrainingHooks(hooks.make_spec, jobs.slow_plan, hooks.job, hooks.adopt, hooks.discard))
    qtbot.mouseClick(next_button(wizard), Qt.MouseButton.LeftButton)
    assert wizard.model.plan_job is not None
    with qtbot.waitSignal(wizard.finished, timeout=10000):
        started = time.monotonic()
        wizard.reject()
        assert time.monotonic() - started < 0.5, "the window is not blocked"
        assert not wizard.isVisible()
    assert wizard.model.plan_job is None, "closed only once the planning thread ended"


def test_the_real_trainer_runs_through_the_wizard_and_discard_removes_its_files(qtbot, ctx, celebs: Path) -> None:  # noqa: ANN001
    """The real ``run_training`` (FaceNet-128, head mode, 2 epochs) in its spawned process, on three people
    enrolled from real photos; a small guard set keeps it short."""
    pytest.importorskip("tensorflow")
    from app.services import training
    from models.weights import WeightStore
    from tests.ui.helpers import enroll

    store = WeightStore(ctx.config.cache_dir)
    if not store.is_installed("facenet"):
        store.fetch("facenet")
    for name in ("ben_afflek", "madonna", "mindy_kaling"):
        enroll(ctx, name.replace("_", " ").title(), sorted((celebs / "train" / name).glob("*.jpg"))[:6])
    hooks = fw.default_hooks()
    small = TrainingHooks(lambda **f: training.TrainSpec(**f, guard_per_fold=2), hooks.plan, hooks.job, hooks.adopt,
                          hooks.discard)  # fmt: skip
    wizard = open_wizard(qtbot, ctx, small)
    wizard.data.holdout.setValue(40)
    qtbot.mouseClick(next_button(wizard), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: wizard.model.plan is not None, timeout=30000)
    assert wizard.model.plan.people == 3 and wizard.model.plan.photos >= 15
    assert wizard.model.mode_buttons[wizard.model.plan.recommended_mode].isChecked()
    wizard.model.epochs.setValue(2)
    wizard.model.people_per_batch.setValue(3)
    wizard.model.per_person.setValue(2)
    qtbot.waitUntil(lambda: "for 2 epochs" in wizard.model.plan_text.text(), timeout=30000)
    qtbot.mouseClick(wizard.button(QWizard.WizardButton.CommitButton), Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: wizard.currentPage() is wizard.result_page or bool(wizard.training.error), timeout=300000)
    assert not wizard.training.error
    outcome = wizard.training.outcome
    assert len(outcome.epochs) >= 1 and wizard.training.chart.loss.count() == len(outcome.epochs)
    assert wizard.result_page.table.item(0, 0).text().endswith("%"), "held-out accuracy before training"
    assert "for your people" in wizard.result_page.verdict.text() and wizard.result_page.verdict.text()[0].isupper()
    assert wizard.result_page.use_button.isEnabled() == outcome.can_use
    work = Path(outcome.work_dir)
    assert work.is_dir()
    qtbot.mouseClick(wizard.result_page.discard_button, Qt.MouseButton.LeftButton)
    assert not work.exists()


def test_opening_the_wizard_loads_no_tensorflow(tmp_path: Path) -> None:
    """The window's process never imports TensorFlow for the wizard: only the spawned trainer does."""
    import subprocess
    import sys

    code = (
        "import sys; from app.ui.launch import application; from app.config import build_config; "
        "from app.context import AppContext; from app.ui.finetune_wizard import FinetuneWizard; "
        "import time; app = application(); ctx = AppContext(build_config()); w = FinetuneWizard(ctx); w.show(); "
        "w.next(); end = time.monotonic() + 60\n"
        "while w.model.plan is None and not w.model.plan_error and time.monotonic() < end: app.processEvents()\n"
        "assert w.model.plan is not None, w.model.plan_error\n"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    env = dict(__import__("os").environ, QT_QPA_PLATFORM="offscreen", ROLLCALL_DATA=str(tmp_path / "data"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                         cwd=Path(__file__).resolve().parents[2])  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_a_background_folder_that_does_not_exist_is_refused(qtbot, three, tmp_path: Path) -> None:  # noqa: ANN001
    wizard = open_wizard(qtbot, three, fake_hooks())
    wizard.data.background_edit.setText(str(tmp_path / "nowhere"))
    assert not next_button(wizard).isEnabled()
    assert "does not exist" in wizard.data.warning.text()
    wizard.data.background_edit.setText(str(tmp_path))
    assert next_button(wizard).isEnabled()
    assert wizard.model.spec_fields()["background"] == str(tmp_path)


def test_a_refused_name_is_explained_and_use_can_be_tried_again(qtbot, three, monkeypatch) -> None:  # noqa: ANN001
    hooks = fake_hooks()
    wizard = open_wizard(qtbot, three, TrainingHooks(hooks.make_spec, hooks.plan, hooks.job, jobs.adopt_taken, hooks.discard))
    to_training(qtbot, wizard, epochs=1)
    qtbot.waitUntil(lambda: wizard.currentPage() is wizard.result_page, timeout=30000)
    page = wizard.result_page
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("dlib", True))
    qtbot.mouseClick(page.use_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "could not be saved" in page.status.text(), timeout=30000)
    assert "'dlib' already exists; choose another name" in page.status.text()
    assert page.use_button.isEnabled() and page.decided == ""
