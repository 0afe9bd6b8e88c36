"""Switching from dlib to FaceNet re-embeds the stored faces: nobody is photographed again, and identification
still names everyone. Also: calibration on the same enrolled people."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import Settings, build_config
from app.context import AppContext
from app.services.backends import apply_calibration, calibrate, ensure_embeddings, pending_count, reembed
from app.services.enrollment import enroll_paths
from app.services.recognition import identify_image
from models.imageio import load_image
from models.weights import WeightStore
from tests import conftest
from tests.conftest import need_shared


@pytest.fixture(scope="module")
def facenet_installed() -> None:
    store = WeightStore(conftest.test_cache_dir())
    if not store.is_installed("facenet"):
        store.fetch("facenet")


def _named_right(ctx: AppContext, val: Path) -> tuple[int, int]:
    right = total = 0
    for path in sorted(val.glob("*/*.jpg")):
        faces = identify_image(ctx, load_image(path))
        if faces:
            total += 1
            right += faces[0].match.name == path.parent.name.replace("_", " ").title()
    return right, total


def test_switching_to_facenet_reembeds_everyone(tmp_path: Path, facenet_installed: None) -> None:
    root = need_shared("data", "five-celebrity")
    data = str(tmp_path / "data")
    with_dlib = AppContext(build_config(data_dir=data, backend="dlib"))
    enrolled = [  # six photos each keeps the test quick
        enroll_paths(with_dlib, folder.name.replace("_", " ").title(), None, sorted(folder.glob("*.jpg"))[:6], strict=False)
        for folder in sorted((root / "train").iterdir())
    ]
    stored = sum(r.stored for r in enrolled)
    assert len(enrolled) == 5 and stored >= 25
    assert with_dlib.repo.embedding_count("dlib") == stored
    with_dlib.close()

    ctx = AppContext(build_config(data_dir=data, backend="facenet"))
    assert pending_count(ctx, "facenet") == stored and len(ctx.gallery()) == 0
    # Cancelled before the first batch: nothing stored, everything still pending; then it resumes.
    stopped = reembed(ctx, should_stop=lambda: True)
    assert stopped.cancelled and stopped.embedded == 0 and stopped.remaining == stored
    assert calibrate(ctx, fpir=0.01, should_stop=lambda: True) is None, "stopped while embedding: no proposal"
    reports: list[tuple[int, int]] = []
    result = ensure_embeddings(ctx, lambda done, total, text: reports.append((done, total)))
    assert result is not None and result.embedded == stored and result.remaining == 0 and not result.failed
    assert reports[-1] == (stored, stored)
    assert ensure_embeddings(ctx) is None  # nothing left to do
    assert ctx.repo.embedding_count("dlib") == stored  # the dlib vectors are kept for switching back
    assert len(ctx.gallery()) == 5 and ctx.gallery().matrix.shape[1] == 128

    right, total = _named_right(ctx, root / "val")
    assert total >= 22 and right >= total - 1

    cal = calibrate(ctx, fpir=0.01)
    assert cal is not None and cal.backend == "facenet" and cal.people == 5 and cal.samples == stored
    assert cal.far_proposed <= 0.01 and cal.tar_proposed >= 0.9
    apply_calibration(ctx, cal)
    assert Settings.load(Path(data)).thresholds["facenet"] == pytest.approx(cal.proposed, abs=1e-4)
    assert ctx.engine.threshold == pytest.approx(cal.proposed, abs=1e-4)
    ctx.close()
