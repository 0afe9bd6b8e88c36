"""Engine settings come from the saved settings in one place: flags win, each backend keeps its own threshold."""

from __future__ import annotations

from pathlib import Path

from app.config import Settings, build_config, engine_config
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
