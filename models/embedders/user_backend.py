"""User backends: models the user fine-tuned, kept as folders beside the downloaded weights.

Layout: ``<cache_dir>/user-backends/<name>/backend.json`` (name, base, alignment, input size, dim, metric,
threshold calibrated on the held-out photos, standardisation, training summary, date) and ``model.onnx``
(input ``(N, H, W, 3)`` float32, output ``(N, dim)``); optionally ``savedmodel/1/`` (TF Serving layout).
The registry (:mod:`models.embedders.registry`) resolves these names besides its static table.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

from common.errors import InvalidInput, NotFound, WeightsError
from models.embedders.base import EmbedderInfo

log = logging.getLogger(__name__)

USER_DIR = "user-backends"
META = "backend.json"
MODEL = "model.onnx"
NAME_RULE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def user_backends_dir(cache_dir: Path) -> Path:
    """The folder holding every user backend."""
    return Path(cache_dir) / USER_DIR


def check_name(name: str) -> str:
    """``name`` if it can name a user backend (lower-case letters, digits, ``-``, ``_``; up to 40).

    Raises:
        InvalidInput: otherwise, or it is a built-in backend's name.
    """
    from models.embedders.registry import BACKENDS

    if not NAME_RULE.match(name or ""):
        raise InvalidInput(f"{name!r} cannot name a model; use lower-case letters, digits, '-' or '_' (e.g. class-7b)")
    if name in BACKENDS:
        raise InvalidInput(f"{name!r} is a built-in backend's name; choose another name for the tuned model")
    return name


def user_backend_names(cache_dir: Path) -> list[str]:
    """Names of the complete user backends in ``cache_dir`` (a folder without its files is ignored)."""
    root = user_backends_dir(cache_dir)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / META).is_file() and (p / MODEL).is_file())


def read_meta(cache_dir: Path, name: str) -> dict[str, Any] | None:
    """The ``backend.json`` of user backend ``name``, or None when there is no such (complete) backend."""
    if not NAME_RULE.match(name or "") or name not in user_backend_names(cache_dir):
        return None
    path = user_backends_dir(cache_dir) / name / META
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("ignoring the damaged user backend file %s: %s", path, exc)
        return None


def read_user_info(cache_dir: Path, name: str) -> EmbedderInfo | None:
    """The :class:`EmbedderInfo` of user backend ``name``, or None."""
    meta = read_meta(cache_dir, name)
    if meta is None:
        return None
    try:
        return EmbedderInfo(
            name=name, input_size=(int(meta["input_size"][0]), int(meta["input_size"][1])), dim=int(meta["dim"]),
            alignment=str(meta["alignment"]), metric=str(meta["metric"]), threshold=float(meta["threshold"]),
            description=str(meta.get("description", f"fine-tuned from {meta.get('base', '?')}")),
        )
    except (KeyError, TypeError, ValueError, IndexError, InvalidInput) as exc:  # InvalidInput: an unknown metric
        log.warning("ignoring user backend %s with incomplete %s: %s", name, META, exc)
        return None


def write_backend(cache_dir: Path, name: str, meta: dict[str, Any], staged: Path) -> Path:
    """Install a staged folder (holding ``model.onnx`` and any other exports) as user backend ``name``.

    Raises:
        InvalidInput: bad or taken name. WeightsError: the staged folder has no ONNX model.
    """
    check_name(name)
    target = user_backends_dir(cache_dir) / name
    if target.exists():
        raise InvalidInput(f"a model called {name!r} already exists; choose another name or remove it first")
    if not (staged / MODEL).is_file():
        raise WeightsError(f"{staged} holds no {MODEL}; the export failed")
    (staged / META).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(staged), str(target))
    return target


def remove_backend(cache_dir: Path, name: str) -> None:
    """Delete user backend ``name`` and its files.

    Raises:
        NotFound: there is no such user backend.
    """
    folder = user_backends_dir(cache_dir) / name
    if not NAME_RULE.match(name or "") or not folder.is_dir():
        raise NotFound(f"there is no tuned model called {name!r}; `python main.py models list` shows them")
    shutil.rmtree(folder)


def create(info: EmbedderInfo, options: Any) -> Any:
    """Registry factory for user backends: the ONNX file run like the FaceNet backend (mirror-averaged)."""
    from models.embedders.facenet import OnnxFaceNet

    meta = read_meta(Path(options.cache_dir), info.name) or {}
    path = user_backends_dir(Path(options.cache_dir)) / info.name / MODEL
    flip = bool(options.extra.get("flip", True))
    branch = OnnxFaceNet(info, path, options.threads, flip, str(meta.get("standardize", "prewhiten")))
    if meta.get("kind") == "siamese":  # a Siamese verifier also scores pairs with its whole network
        from models.embedders.siamese_backend import PAIR_ONNX, SiameseBackend

        pair = user_backends_dir(Path(options.cache_dir)) / info.name / PAIR_ONNX
        return SiameseBackend(info, branch, pair, float(meta.get("pair_cutoff", 0.5)), options.threads)
    return branch
