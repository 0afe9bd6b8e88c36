"""``watch`` tells a live source that stalled (exit code 3) from a normal end (0), and a source that cannot be
opened leaves no empty session behind. Fake sources and a fake engine: no camera, no models."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

import main
from app.config import AppConfig
from app.context import AppContext
from app.services import live
from common.errors import SourceError
from db import NewSample, Repository, open_database
from models.engine import EngineConfig
from models.sources import Frame
from tests.unit.test_live import ADA, BOX, FakeEngine


class FakeStream:
    """A live stream that delivers ``frames`` frames of Ada, then stalls (raises) or ends (returns None)."""

    def __init__(self, engine: FakeEngine, frames: int, stalls: bool) -> None:
        self.label, self.fps, self.is_live = "rtsp://camera.local/door", 30.0, True
        self.started_at = datetime.now(timezone.utc)
        self._engine, self._left, self._stalls, self._i = engine, frames, stalls, 0

    def read(self) -> Frame | None:
        if self._left == 0:
            if self._stalls:
                raise SourceError(f"{self.label} stopped delivering pictures: check the network, then start again")
            return None
        self._left -= 1
        self._i += 1
        return self._engine.frame(self._i, [(BOX, ADA)])

    def close(self) -> None:
        pass

    def __enter__(self) -> "FakeStream":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A data folder where Ada is enrolled with a dlib vector."""
    folder = tmp_path / "data"
    database = open_database(f"sqlite:///{folder / 'rollcall.db'}")
    Repository(database).add_person("Ada", None, [NewSample(b"\xff\xd8x", [(1.0, 2.0)], "dlib68", "t", 0.9)],
                                    {"dlib": ADA[None, :]})  # fmt: skip
    database.close()
    return folder


def _fake_stream(monkeypatch: pytest.MonkeyPatch, frames: int, stalls: bool) -> None:
    engine = FakeEngine()
    monkeypatch.setattr(live, "live_engine", lambda ctx, config: engine)
    monkeypatch.setattr(live, "open_source", lambda spec: FakeStream(engine, frames, stalls))
    monkeypatch.setattr("app.services.backends.ensure_embeddings", lambda ctx, progress=None: None)


def _sessions(folder: Path) -> list[tuple[str, int]]:
    database = open_database(f"sqlite:///{folder / 'rollcall.db'}")
    sessions = [(s.name, s.n_events) for s in Repository(database).list_sessions()]
    database.close()
    return sessions


def test_a_stalled_stream_exits_with_code_3(data, monkeypatch, capsys) -> None:
    _fake_stream(monkeypatch, frames=20, stalls=True)
    code = main.run(["--data-dir", str(data), "watch", "--source", "rtsp://camera.local/door", "--session", "Door"])
    err = capsys.readouterr().err
    assert code == 3
    assert "watched 20 frames" in err and "error: rtsp://camera.local/door stopped delivering pictures" in err
    assert _sessions(data) == [("Door", 1)]  # Ada, seen before the stall, stays marked


def test_a_stream_that_ends_normally_exits_with_code_0(data, monkeypatch, capsys) -> None:
    _fake_stream(monkeypatch, frames=20, stalls=False)
    code = main.run(["--data-dir", str(data), "watch", "--source", "rtsp://camera.local/door", "--session", "Door"])
    assert code == 0 and "error" not in capsys.readouterr().err


def test_a_source_that_cannot_be_opened_creates_no_session(data, capsys) -> None:
    code = main.run(["--data-dir", str(data), "watch", "--source", str(data / "missing.mp4"), "--session", "Door"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ") and "missing.mp4" in err
    assert _sessions(data) == []


def test_run_watch_reports_why_a_live_source_stopped(tmp_path, monkeypatch) -> None:
    ctx = AppContext(AppConfig(tmp_path, "sqlite://", tmp_path, EngineConfig(backend="dlib")))
    ctx.repo.add_person("Ada", None, [NewSample(b"\xff\xd8x", [(1.0, 2.0)], "dlib68", "t", 0.9)], {"dlib": ADA[None, :]})
    _fake_stream(monkeypatch, frames=5, stalls=True)
    summary = live.run_watch(ctx, "rtsp://camera.local/door", "Door")
    assert summary.frames == 5 and "stopped delivering pictures" in (summary.failure or "")
    ctx.close()
