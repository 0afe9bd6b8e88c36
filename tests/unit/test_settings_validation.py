"""settings.json is validated key by key: a bad value gives one warning naming the key and the default used,
and the other keys still apply; one threshold range per metric, for the file and for --threshold."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest

import main
from app.config import SETTINGS_FILE, Settings, build_config, threshold_range
from common.errors import InvalidInput, StorageError


def _load(tmp_path: Path, text: str, caplog: pytest.LogCaptureFixture) -> tuple[Settings, list[str]]:
    (tmp_path / SETTINGS_FILE).write_text(text, encoding="utf-8")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="app.config"):
        settings = Settings.load(tmp_path)
    return settings, [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("null", "holds null, not an object of settings; using the default settings"),
        ("[]", "holds [], not an object of settings"),
        ('"dlib"', "holds 'dlib', not an object of settings"),
        ('{"thresholds": "x"}', "'thresholds' is 'x', not an object of backend: threshold; using the default {}"),
        ('{"thresholds": {"dlib": "abc"}}', "thresholds.dlib 'abc' is not a number; use a value between 0 and 2; using the dlib default 0.42"),
        ('{"cooldown_s": "abc"}', "'cooldown_s' is 'abc', not a number; using the default 0.0"),
        ('{"thresholds": {"dlib": 99}}', "thresholds.dlib 99 is out of range for the dlib backend; use a value between 0 and 2; using the dlib default 0.42"),
        ('{"sound": "loud"}', "'sound' is 'loud', not true or false; using the default True"),
        ('{"max_image_megapixels": -5}', "'max_image_megapixels' is -5, outside 1 to 1000; using the default 64.0"),
    ],
)
def test_a_bad_settings_file_gives_one_clear_warning_and_defaults(tmp_path, caplog, text, fragment) -> None:
    settings, warnings = _load(tmp_path, text, caplog)
    assert len(warnings) == 1 and fragment in warnings[0], warnings
    assert str(tmp_path / SETTINGS_FILE) in warnings[0]
    assert settings.thresholds == {} and settings.cooldown_s == 0.0 and settings.backend == "dlib"


def test_only_the_bad_keys_fall_back_to_defaults(tmp_path, caplog) -> None:
    text = json.dumps({"thresholds": {"dlib": 99, "facenet": 0.95}, "cooldown_s": 30, "sound": "x", "source": 2})
    settings, warnings = _load(tmp_path, text, caplog)
    assert settings.thresholds == {"facenet": 0.95}
    assert (settings.cooldown_s, settings.sound, settings.source) == (30.0, True, "2")
    assert len(warnings) == 2


def test_every_command_still_runs_with_a_broken_settings_file(tmp_path, capsys) -> None:
    data = tmp_path / "d"
    data.mkdir()
    for text in ("null", "[]", '"x"', '{"thresholds":"x"}', '{"thresholds":{"dlib":"abc"}}', '{"cooldown_s":"abc"}'):
        (data / SETTINGS_FILE).write_text(text)
        assert main.run(["--data-dir", str(data), "sessions"]) == 0
        assert "Traceback" not in capsys.readouterr().err


def test_an_out_of_range_threshold_in_the_file_is_not_used(tmp_path, caplog) -> None:
    (tmp_path / SETTINGS_FILE).write_text('{"thresholds": {"dlib": 99}}')
    assert build_config(str(tmp_path)).engine.threshold is None  # the backend's measured default applies


@pytest.mark.parametrize(("backend", "value"), [("dlib", 2.5), ("dlib", -0.1), ("facenet", 3.0), ("dlib", float("nan"))])
def test_threshold_flag_uses_the_same_range_as_the_settings(tmp_path, backend, value) -> None:
    with pytest.raises(InvalidInput, match=r"out of range for the \w+ backend; use a value between 0 and 2"):
        build_config(str(tmp_path), backend=backend, threshold=value)


def test_threshold_ranges_follow_the_metric() -> None:
    assert threshold_range("dlib") == (0.0, 2.0)
    from models.embedders.registry import BACKENDS

    cosine = [name for name, entry in BACKENDS.items() if entry.info.metric == "cosine"]
    assert cosine and all(threshold_range(name) == (-1.0, 1.0) for name in cosine)


def test_settings_are_saved_atomically_and_privately(tmp_path, monkeypatch) -> None:
    Settings(cooldown_s=5).save(tmp_path)
    path = tmp_path / SETTINGS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    good = path.read_text()

    def full_disk(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("app.files.os.fsync", full_disk)
    with pytest.raises(StorageError, match="No space left on device"):
        Settings(cooldown_s=99).save(tmp_path)
    assert path.read_text() == good
    assert [p.name for p in tmp_path.iterdir()] == [SETTINGS_FILE]  # no temporary file left behind
