"""Application configuration: where data lives and which engine settings are in force.

Precedence: command-line flags > environment (``ROLLCALL_DATA``, ``ROLLCALL_CACHE``) > the user's saved
settings (``settings.json`` in the data folder) > defaults.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from models.engine import EngineConfig
from models.errors import InvalidInput, StorageError

log = logging.getLogger(__name__)

SETTINGS_FILE = "settings.json"


def default_data_dir() -> Path:
    """``ROLLCALL_DATA`` if set, else the platform's user data folder for Rollcall."""
    env = os.environ.get("ROLLCALL_DATA")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("Rollcall", appauthor=False))


def default_cache_dir() -> Path:
    """``ROLLCALL_CACHE`` if set, else the platform's user cache folder (downloaded model weights)."""
    env = os.environ.get("ROLLCALL_CACHE")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("Rollcall", appauthor=False)) / "models"


@dataclass
class Settings:
    """What the user chose and Rollcall remembers between runs (the Settings page edits these).

    Attributes:
        backend, detector: registry keys. thresholds: per-backend threshold overrides.
        cooldown_s: a person is marked at most once per session; a new mark needs this many seconds since
            the last (0 = once per session).
        source: camera index, video file or stream URL of the live view. sound: beep on marking.
        strictness: ``strict`` / ``balanced`` / ``lenient``: how many strangers may be named (see
            :class:`models.operating_point.Strictness`); used unless a threshold override is set.
    """

    backend: str = "dlib"
    detector: str = "hog"
    thresholds: dict[str, float] = field(default_factory=dict)
    cooldown_s: float = 0.0
    source: str = "0"
    sound: bool = True
    strictness: str = "balanced"

    @classmethod
    def load(cls, data_dir: Path) -> "Settings":
        """Settings saved in ``data_dir`` (defaults when none; a damaged file is logged and ignored)."""
        path = data_dir / SETTINGS_FILE
        if not path.is_file():
            return cls()
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            known = {f.name for f in fields(cls)}
            return cls(**{k: v for k, v in raw.items() if k in known})
        except (OSError, ValueError, TypeError) as exc:
            log.warning("ignoring unreadable settings file %s: %s", path, exc)
            return cls()

    def save(self, data_dir: Path) -> None:
        """Write the settings atomically into ``data_dir``.

        Raises:
            StorageError: the folder is not writable.
        """
        path = data_dir / SETTINGS_FILE
        tmp = path.with_suffix(".tmp")
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
            tmp.replace(path)
        except OSError as exc:
            raise StorageError(f"cannot save settings in {data_dir} ({exc.strerror}); choose a writable data folder") from exc


@dataclass(frozen=True)
class AppConfig:
    """Everything the services need to know, built once by ``main.py``.

    Attributes:
        data_dir: database, settings, log file. db_url: SQLAlchemy URL (default: SQLite in data_dir).
        cache_dir: model weights cache. engine: detector/backend settings. cooldown_s: see Settings.
    """

    data_dir: Path
    db_url: str
    cache_dir: Path
    engine: EngineConfig
    cooldown_s: float = 0.0
    settings: Settings = field(default_factory=Settings)

    def with_engine(self, **changes: object) -> "AppConfig":
        """A copy with some engine settings changed (e.g. ``backend="facenet"``)."""
        return replace(self, engine=replace(self.engine, **changes))


def build_config(
    data_dir: str | None = None,
    db_url: str | None = None,
    backend: str | None = None,
    detector: str | None = None,
    threshold: float | None = None,
) -> AppConfig:
    """Combine flags, environment and saved settings into an :class:`AppConfig`."""
    root = Path(data_dir).expanduser() if data_dir else default_data_dir()
    settings = Settings.load(root)
    chosen_backend = backend or settings.backend
    if threshold is not None and not (-1.0 <= threshold <= 4.0):
        raise InvalidInput(f"--threshold {threshold} is out of range; use a value between -1 and 4")
    engine = EngineConfig(
        backend=chosen_backend,
        detector=detector or settings.detector,
        threshold=threshold if threshold is not None else settings.thresholds.get(chosen_backend),
        cache_dir=default_cache_dir(),
    )
    url = db_url or f"sqlite:///{root / 'rollcall.db'}"
    return AppConfig(root, url, default_cache_dir(), engine, settings.cooldown_s, settings)
