"""Re-embedding for a backend whose weights are missing or damaged stops with that one reason; it is not
reported once per stored face (and Settings does not switch to a backend that embedded nobody)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest

import main
from app.services.backends import embed_records
from common.errors import WeightsError
from db import NewSample, Repository, open_database
from db.records import SampleRecord
from models.embedders.base import EmbedderInfo

INFO = EmbedderInfo("fake", (150, 150), 4, "dlib_chip", "l2", 0.5, "fake")


def _jpeg(seed: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.random.default_rng(seed).integers(0, 256, (150, 150, 3), dtype=np.uint8))
    assert ok
    return buf.tobytes()


def _record(sample_id: int, image: bytes) -> SampleRecord:
    return SampleRecord(sample_id, 1, image, [(1.0, 2.0)] * 5, "dlib5", "test", 0.9, datetime.now(timezone.utc))


class FakeEngine:
    """``embed_stored`` raises ``error`` (when set) as a backend without its weights does."""

    info = INFO

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error

    def embed_stored(self, crops: list[np.ndarray], marks: list[object]) -> np.ndarray:
        if self.error is not None:
            raise self.error
        return np.ones((len(crops), INFO.dim), np.float32)


def test_a_backend_without_weights_stops_the_batch_with_its_own_error() -> None:
    engine = FakeEngine(WeightsError("the facenet weights are not installed; run `python main.py models fetch facenet`"))
    with pytest.raises(WeightsError, match="models fetch facenet"):
        embed_records(engine, [_record(1, _jpeg(1)), _record(2, _jpeg(2))])  # type: ignore[arg-type]


def test_a_damaged_crop_is_one_failure_and_the_others_are_embedded() -> None:
    ids, vectors, failed = embed_records(FakeEngine(), [_record(1, b"not a jpeg"), _record(2, _jpeg(2))])  # type: ignore[arg-type]
    assert ids == [2] and vectors.shape == (1, INFO.dim)
    assert [sample_id for sample_id, _ in failed] == [1]


def test_reembed_for_a_backend_without_weights_is_one_line(tmp_path: Path, monkeypatch, capsys) -> None:  # noqa: ANN001
    monkeypatch.setenv("ROLLCALL_CACHE", str(tmp_path / "empty-cache"))
    data = tmp_path / "data"
    database = open_database(f"sqlite:///{data / 'rollcall.db'}")
    samples = [NewSample(_jpeg(k), [(10.0, 20.0)] * 68, "dlib68", f"{k}.jpg", 0.9) for k in range(3)]
    Repository(database).add_person("Ada", None, samples, {})
    database.close()

    code = main.run(["--data-dir", str(data), "reembed", "--backend", "facenet"])

    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert [line for line in err if "embedding faces" not in line] == [err[-1]]
    assert err[-1].startswith("error: the facenet weights are not installed") and "models fetch facenet" in err[-1]
