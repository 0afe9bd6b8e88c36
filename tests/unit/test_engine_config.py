"""Engine settings come from the saved settings in one place: flags win, each backend keeps its own threshold."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from app.config import Settings, build_config, engine_config
from app.context import AppContext
from app.services.backends import save_settings
from common.errors import StorageError
from models.engine import EngineConfig


def test_flags_win_over_saved_settings_and_each_backend_keeps_its_own_threshold(tmp_path: Path) -> None:
    Settings(backend="dlib", detector="hog", thresholds={"dlib": 0.5, "facenet": 0.8}).save(tmp_path)
    saved = build_config(data_dir=str(tmp_path)).engine
    assert (saved.backend, saved.detector, saved.threshold) == ("dlib", "hog", 0.5)
    flags = build_config(data_dir=str(tmp_path), backend="facenet", detector="cnn").engine
    assert (flags.backend, flags.detector, flags.threshold) == ("facenet", "cnn", 0.8)
    assert build_config(data_dir=str(tmp_path), threshold=0.45).engine.threshold == 0.45
    assert build_config(data_dir=str(tmp_path), backend="vgg-face").engine.threshold is None  # its own default


def test_switching_backend_drops_a_model_file_but_keeps_the_remote_server(tmp_path: Path) -> None:
    base = EngineConfig(backend="dlib", model_path=tmp_path / "dlib.dat", embed_options={"remote_url": "http://h/v1"},
                        cache_dir=tmp_path)
    switched = engine_config(Settings(backend="facenet", detector="cnn"), base)
    assert (switched.backend, switched.detector, switched.model_path) == ("facenet", "cnn", None)
    assert switched.embed_options == {"remote_url": "http://h/v1"} and switched.cache_dir == tmp_path
    assert engine_config(Settings(backend="dlib"), base).model_path == tmp_path / "dlib.dat"


def test_saved_settings_are_kept_and_put_in_force_and_a_failed_save_changes_nothing(tmp_path: Path) -> None:
    ctx = AppContext(build_config(data_dir=str(tmp_path)))
    save_settings(ctx, Settings(detector="cnn", thresholds={"dlib": 0.42}, cooldown_s=30.0))
    assert Settings.load(tmp_path).thresholds == {"dlib": 0.42}
    assert (ctx.engine.threshold, ctx.config.engine.detector, ctx.config.cooldown_s) == (0.42, "cnn", 30.0)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    ctx.config = replace(ctx.config, data_dir=blocker / "data")  # cannot be created: a file is in the way
    with pytest.raises(StorageError):
        save_settings(ctx, Settings(thresholds={"dlib": 0.3}))
    assert ctx.engine.threshold == 0.42 and ctx.config.engine.detector == "cnn"
