"""Application configuration: where data lives and which engine settings are in force.

Precedence: command-line flags > environment (``ROLLCALL_DATA``, ``ROLLCALL_CACHE``) > the user's saved
settings (``settings.json`` in the data folder) > defaults.
"""

from __future__ import annotations

import json
import logging
import math
import os
import unicodedata
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from app.files import atomic_write
from common.errors import InvalidInput, StorageError
from models.engine import EngineConfig

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


def default_station() -> str:
    """This computer's host name (cut to 100 characters), the station name until the user sets one."""
    import socket

    name = "".join(c for c in socket.gethostname() if c.isprintable()).strip()
    return name[:100] or "station"


def threshold_range(backend: str) -> tuple[float, float]:
    """The thresholds that make sense for ``backend``'s metric (see :attr:`Metric.threshold_range`; the widest
    range for an unknown backend)."""
    from models.embedders.registry import BACKENDS

    entry = BACKENDS.get(backend)
    if entry is None:
        return (-1.0, 2.0)
    return entry.info.metric.threshold_range


def check_threshold(value: float, backend: str, what: str = "--threshold") -> float:
    """``value`` if it is a valid threshold for ``backend``.

    Raises:
        InvalidInput: not a finite number inside :func:`threshold_range`.
    """
    low, high = threshold_range(backend)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{what} {_describe(value)} is not a number; use a value between {low:g} and {high:g}")
    if not low <= value <= high:
        raise InvalidInput(
            f"{what} {value!r} is out of range for the {backend} backend; use a value between {low:g} and {high:g}"
        )
    return float(value)


@dataclass
class Settings:
    """What the user chose and Rollcall remembers between runs (the Settings page edits these).

    Attributes:
        backend, detector: registry keys. thresholds: per-backend threshold overrides.
        cooldown_s: a person is marked at most once per session; a new mark needs this many seconds since
            the last (0 = once per session).
        source: camera index, video file or stream URL of the live view. sound: beep on marking.
        max_image_megapixels: larger photos are refused before they are decoded (1 to 1000).
        station: this station's name, recorded with every attendance mark (several stations can share one
            PostgreSQL database); default the host name.
        strictness: ``strict`` / ``balanced`` / ``lenient``: how many strangers may be named (see
            :class:`models.operating_point.Strictness`); used unless a threshold override is set.
        liveness: a named face is marked only after it blinked and moved its head (against a printed photo or
            a phone screen held up to the camera); off by default.
    """

    backend: str = "dlib"
    detector: str = "hog"
    thresholds: dict[str, float] = field(default_factory=dict)
    cooldown_s: float = 0.0
    source: str = "0"
    sound: bool = True
    max_image_megapixels: float = 64.0
    station: str = field(default_factory=default_station)
    strictness: str = "balanced"
    liveness: bool = False

    @classmethod
    def load(cls, data_dir: Path) -> "Settings":
        """Settings saved in ``data_dir``: defaults when none; each bad value is logged and its default used."""
        path = data_dir / SETTINGS_FILE
        if not path.is_file():
            return cls()
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable settings file %s (%s); using the default settings", path, exc)
            return cls()
        return cls.from_dict(raw, str(path))

    @classmethod
    def from_dict(cls, raw: object, where: str = SETTINGS_FILE) -> "Settings":
        """Settings from parsed JSON, keeping the default of every missing or invalid key (one warning each)."""
        if not isinstance(raw, dict):
            log.warning("%s holds %s, not an object of settings; using the default settings", where, _describe(raw))
            return cls()
        defaults = cls()
        values: dict[str, object] = {}
        for f in fields(cls):
            if f.name not in raw:
                continue
            default = getattr(defaults, f.name)
            try:
                values[f.name] = _validate(f.name, raw[f.name], default, raw)
            except ValueError as exc:
                log.warning("%s: %s; using the default %r", where, exc, default)
        if isinstance(values.get("thresholds"), dict):
            values["thresholds"] = _valid_thresholds(values["thresholds"], where)  # type: ignore[arg-type]
        return cls(**values)  # type: ignore[arg-type]

    def save(self, data_dir: Path) -> None:
        """Write the settings atomically into ``data_dir`` (readable by the owner only).

        Raises:
            StorageError: the folder is not writable or the disk is full (the old file stays intact).
        """
        try:
            data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            atomic_write(data_dir / SETTINGS_FILE, json.dumps(asdict(self), indent=2).encode("utf-8"))
        except OSError as exc:
            raise StorageError(
                f"cannot save settings in {data_dir} ({exc.strerror or exc}); choose a writable data folder"
            ) from exc


def _describe(value: object) -> str:
    """A short description of a JSON value for messages."""
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


def _validate(name: str, value: object, default: object, raw: dict[str, object]) -> object:
    """``value`` checked against the type (and range) of the setting ``name``.

    Raises:
        ValueError: the message names the key and the bad value.
    """
    bad = f"{name!r} is {_describe(value)}"
    if name == "thresholds":
        if not isinstance(value, dict):
            raise ValueError(f"{bad}, not an object of backend: threshold")
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{bad}, not true or false")
        return value
    if isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{bad}, not a number")
        low, high = _NUMBER_RANGES.get(name, (-math.inf, math.inf))
        if not low <= value <= high:
            raise ValueError(f"{bad}, outside {low:g} to {high:g}")
        return type(default)(value)
    if isinstance(default, str):
        if name == "source" and isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str) or not value.strip() or any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError(f"{bad}, not a name")
        if name == "station" and any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in value):
            raise ValueError(f"{bad}, holding control characters")
        if len(value.strip()) > _TEXT_LIMITS.get(name, 10_000):
            raise ValueError(f"{bad}, longer than {_TEXT_LIMITS[name]} characters")
        return value.strip()
    return value


def check_station(value: str) -> str:
    """A station name as it will be saved (stripped), checked as the settings file's ``station`` is.

    Raises:
        InvalidInput: blank, longer than 100 characters, or holding control characters.
    """
    try:
        return str(_validate("station", value, "", {}))
    except ValueError:
        raise InvalidInput(
            f"station name {_describe(value)} is not usable: give 1 to {_TEXT_LIMITS['station']} characters "
            "(letters, digits, spaces, punctuation), e.g. 'Front door'"
        ) from None


_NUMBER_RANGES = {"cooldown_s": (0.0, 7 * 24 * 3600.0), "max_image_megapixels": (1.0, 1000.0)}
_TEXT_LIMITS = {"station": 100}


def _valid_thresholds(thresholds: dict[object, object], where: str) -> dict[str, float]:
    """The per-backend thresholds that are numbers inside their metric's range; each other one is logged."""
    from models.embedders.registry import BACKENDS

    out: dict[str, float] = {}
    for backend, value in thresholds.items():
        key = str(backend)
        try:
            out[key] = check_threshold(value, key, f"thresholds.{key}")  # type: ignore[arg-type]
        except InvalidInput as exc:
            entry = BACKENDS.get(key)
            default = f"the {key} default {entry.info.threshold:g}" if entry else "the backend's default"
            log.warning("%s: %s; using %s", where, exc, default)
    return out


def _remote_backend(remote_url: str | None) -> str:
    """The backend a ``--backend remote`` run means: the model named in ``--remote-url``.

    Raises:
        BackendUnavailable: no URL, or it names no known backend.
    """
    from models.embedders.registry import known_backends
    from models.embedders.remote import model_name
    from common.errors import BackendUnavailable

    if not remote_url:
        raise BackendUnavailable("--backend remote needs --remote-url http://HOST:PORT/v1/models/NAME (or ROLLCALL_REMOTE_URL)")
    name = model_name(remote_url)
    known = known_backends(default_cache_dir())  # a fine-tuned model exported for TF Serving counts too
    if name not in known:
        raise BackendUnavailable(
            f"--remote-url names the model {name!r}, which Rollcall does not know; name the server's model after "
            f"one of: {', '.join(known)}"
        )
    return name


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

    @property
    def max_pixels(self) -> int:
        """The largest photo (width × height) Rollcall decodes, from the ``max_image_megapixels`` setting."""
        return int(self.settings.max_image_megapixels * 1_000_000)

    @property
    def station(self) -> str:
        """This station's name (the ``station`` setting), recorded with its attendance marks."""
        return self.settings.station


def engine_config(
    settings: Settings,
    base: EngineConfig,
    backend: str | None = None,
    detector: str | None = None,
    threshold: float | None = None,
) -> EngineConfig:
    """The engine settings that ``settings`` give ``backend``: the one place they are turned into an engine's.

    Args:
        settings: the saved settings.
        base: the engine settings to change (model cache, remote URL and other options are kept).
        backend: the backend to use; ``None``: the saved one.
        detector, threshold: given on the command line; ``None``: the saved detector, and the threshold saved
            for that backend (``None`` again when there is none: the backend's own).

    Returns:
        ``base`` with those changed; an explicit model file is dropped when the backend changes (it belongs to
        the backend it was given for).
    """
    chosen = backend or settings.backend
    return replace(
        base,
        backend=chosen,
        detector=detector or settings.detector,
        threshold=threshold if threshold is not None else settings.thresholds.get(chosen),
        model_path=base.model_path if chosen == base.backend else None,
    )


def build_config(
    data_dir: str | None = None,
    db_url: str | None = None,
    backend: str | None = None,
    detector: str | None = None,
    threshold: float | None = None,
    remote_url: str | None = None,
) -> AppConfig:
    """Combine flags, environment and saved settings into an :class:`AppConfig`.

    ``remote_url`` (``--remote-url``, env ``ROLLCALL_REMOTE_URL``) sends the backend's crops to a model server;
    ``--backend remote`` then means the backend named in the URL (``.../v1/models/dlib`` → ``dlib``), so the
    vectors are stored and matched under that backend's name.

    Raises:
        InvalidInput: a threshold outside the backend's range. BackendUnavailable: ``--backend remote`` without
            a usable ``--remote-url``.
    """
    root = Path(data_dir).expanduser() if data_dir else default_data_dir()
    settings = Settings.load(root)
    remote_url = remote_url or os.environ.get("ROLLCALL_REMOTE_URL") or None
    chosen_backend = _remote_backend(remote_url) if backend == "remote" else (backend or settings.backend)
    if threshold is not None:
        check_threshold(threshold, chosen_backend)
    options: dict[str, object] = {"remote_url": remote_url} if remote_url else {}
    if remote_url and os.environ.get("ROLLCALL_REMOTE_TOKEN"):
        options["remote_token"] = os.environ["ROLLCALL_REMOTE_TOKEN"]
    base = EngineConfig(cache_dir=default_cache_dir(), embed_options=options)
    engine = engine_config(settings, base, chosen_backend, detector, threshold)
    url = db_url or f"sqlite:///{root / 'rollcall.db'}"
    return AppConfig(root, url, default_cache_dir(), engine, settings.cooldown_s, settings)
