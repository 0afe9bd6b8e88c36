"""Screenshots of the four pages of the "Fine-tune on my photos…" wizard into ``docs/screenshots/``.

Enrolls a few photos of the five-celebrity people from ``../shared`` into a temporary data folder, opens the
wizard from the People page and runs a short real fine-tune (head mode)::

    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python scripts/screenshots_finetune.py

``--stand-in`` uses the small stand-in job of the tests instead of the real trainer (to check the layout only).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from scripts.screenshots import OUT, SHARED, pump, save  # noqa: E402

CELEBS = SHARED / "data" / "five-celebrity" / "train"
PHOTOS_EACH = 8


def enroll_celebrities(ctx) -> None:  # noqa: ANN001
    from app.services.enrollment import enroll_paths

    for folder in sorted(p for p in CELEBS.iterdir() if p.is_dir()):
        name = folder.name.replace("_", " ").title()
        enroll_paths(ctx, name, None, sorted(folder.glob("*.jpg"))[:PHOTOS_EACH], strict=False)


def stand_in_hooks():  # noqa: ANN201
    from app.ui.finetune_wizard import TrainingHooks
    from tests.unit import training_jobs as jobs

    return TrainingHooks(make_spec=lambda **f: dict(f, step_s=0.2), plan=jobs.plan, job=jobs.small_training,
                         adopt=jobs.adopt, discard=jobs.discard)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stand-in", action="store_true", help="use the tests' stand-in job, not the real trainer")
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    if not CELEBS.is_dir():
        print(f"missing {CELEBS} (set ROLLCALL_SHARED)", file=sys.stderr)
        return 1
    if not os.environ.get("DISPLAY"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    data = Path(tempfile.mkdtemp(prefix="rollcall-shots-"))
    os.environ["ROLLCALL_DATA"] = str(data)
    from app.config import build_config
    from app.context import AppContext
    from app.ui import finetune_wizard
    from app.ui.launch import application, create_window

    app = application()
    OUT.mkdir(parents=True, exist_ok=True)
    ctx = AppContext(build_config(str(data)))
    enroll_celebrities(ctx)
    window = create_window(ctx)
    window.resize(1180, 720)
    window.show()
    window.go_to("People")
    if args.stand_in:
        finetune_wizard.default_hooks = stand_in_hooks
    window.people.finetune_button.click()
    wizard = window.findChildren(finetune_wizard.FinetuneWizard)[0]
    save(app, wizard, "09-finetune-data")
    wizard.next()
    pump(app, 120, lambda: wizard.model.plan is not None or bool(wizard.model.plan_error))
    wizard.model.epochs.setValue(args.epochs)
    pump(app, 60, lambda: f"{args.epochs} epochs" in wizard.model.plan_text.text())
    save(app, wizard, "10-finetune-model")
    wizard.next()  # the model page is a commit page: Next starts training, as its button does
    pump(app, 600, lambda: wizard.training.chart.loss.count() >= max(2, args.epochs // 2) or bool(wizard.training.error))
    save(app, wizard, "11-finetune-training")
    pump(app, 900, lambda: wizard.currentPage() is wizard.result_page or bool(wizard.training.error))
    save(app, wizard, "12-finetune-result")
    wizard.done(0)
    window.close()
    ctx.close()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip the interpreter's teardown: PySide6 6.12 can abort in it after a script (not after the app)
