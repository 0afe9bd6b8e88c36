"""The weights cache: downloads (resumable, checked by sha256), imports and installs of the models the manifest
(:mod:`models.weights_manifest`) lists.

Cache layout, per model: ``<cache>/<name>/<file>`` plus ``installed.json`` (what was installed, the final file's
sha256), and for converted models the verified weights file. Downloads are written to ``*.part`` files and
used only after their sha256 matched, and ``installed.json`` is written last, so an interrupted or corrupted
download never leaves a file that passes as complete. A download that was cancelled or cut off keeps its
``.part`` file, and the next ``fetch`` asks the server for the rest only (an HTTP ``Range`` request); a server
that does not resume sends the whole file again. A lock file keeps two processes from writing the same part.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import shutil
import urllib.request
from datetime import datetime, timezone
from http.client import HTTPException
from pathlib import Path
from typing import IO, Any, Callable

from common.errors import WeightsError
from common.progress import Progress, ShouldStop, never_stop, no_progress
from models.weights_files import CHUNK, exclusive, extract, reason, sha256_of
from models.weights_manifest import ModelSpec, ModelStatus, Source, load_manifest

log = logging.getLogger(__name__)

INSTALLED = "installed.json"
TIMEOUT_S = 30.0

Opener = Callable[[str, float, dict[str, str]], IO[bytes]]
"""Opens a URL for reading: ``(url, timeout_s, extra request headers) -> response`` (``urllib.request.urlopen``
by default). A response may have ``status`` (206 = the ``Range`` asked for) and ``headers``."""


def _default_opener(url: str, timeout: float, headers: dict[str, str]) -> IO[bytes]:
    request = urllib.request.Request(url, headers={"User-Agent": "Rollcall weights manager", **headers})
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - URLs come from the manifest


class WeightStore:
    """The user's model cache, driven by the manifest.

    Args:
        cache_dir: the cache folder (``app.config.default_cache_dir()``); created on first download/import.
        manifest: models by name (default: :func:`load_manifest`).
        opener: how URLs are opened (tests pass a fake).
    """

    def __init__(self, cache_dir: Path, manifest: dict[str, ModelSpec] | None = None, opener: Opener | None = None) -> None:
        self.cache_dir = Path(cache_dir)
        self.manifest = load_manifest() if manifest is None else manifest
        self._open = opener or _default_opener
        self._checked: dict[Path, tuple[int, int]] = {}

    # ---- queries -------------------------------------------------------------------------------------------

    def spec(self, name: str) -> ModelSpec:
        """The manifest entry of ``name``.

        Raises:
            WeightsError: unknown model; the message lists the known ones.
        """
        try:
            return self.manifest[name]
        except KeyError:
            raise WeightsError(f"unknown model {name!r}; known models: {', '.join(sorted(self.manifest))}") from None

    def folder(self, name: str) -> Path:
        return self.cache_dir / self.spec(name).name

    def list(self) -> list[ModelStatus]:
        """Every manifest model, installed or not, sorted by name."""
        out = []
        for name in sorted(self.manifest):
            spec = self.manifest[name]
            record = self._record(name)
            target = self.folder(name) / spec.file
            size = target.stat().st_size if record else _download_size(spec)
            out.append(
                ModelStatus(spec.name, spec.backend, spec.version, spec.licence, spec.description, record is not None,
                            bool(record and record.get("verified")), target, size)
            )
        return out

    def is_installed(self, name: str) -> bool:
        return self._record(name) is not None

    def path(self, name: str) -> Path:
        """The installed file of ``name``, checked against the sha256 recorded when it was installed.

        Raises:
            WeightsError: not installed (the message says how to fetch or import it), or the file changed.
        """
        spec = self.spec(name)
        record = self._record(name)
        target = self.folder(name) / spec.file
        if record is None and (self.folder(name) / INSTALLED).is_file() and target.is_file():
            raise WeightsError(  # installed once, but the file changed size since (cut short, overwritten)
                f"{target} is damaged (its size differs from when it was installed): "
                f"run `python main.py models remove {name}` and fetch it again"
            )
        if record is None:
            raise WeightsError(
                f"the {name} weights are not installed in {self.cache_dir}: run `python main.py models fetch {name}` "
                f"or `python main.py models import {name} FILE`"
            )
        stat = target.stat()
        key = (stat.st_size, stat.st_mtime_ns)
        if self._checked.get(target) != key:
            actual = sha256_of(target)
            if actual != record.get("file_sha256"):
                raise WeightsError(
                    f"{target} is damaged (sha256 {actual}, installed as {record.get('file_sha256')}): "
                    f"run `python main.py models remove {name}` and fetch it again"
                )
            self._checked[target] = key
        return target

    def _record(self, name: str) -> dict[str, Any] | None:
        """The installed.json of a complete installation, else None."""
        spec = self.spec(name)
        folder = self.folder(name)
        try:
            record = json.loads((folder / INSTALLED).read_text(encoding="utf-8"))
            size = (folder / spec.file).stat().st_size
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("file") != spec.file or record.get("size") != size:
            return None
        return record

    # ---- changes -------------------------------------------------------------------------------------------

    def fetch(self, name: str, progress: Progress = no_progress, should_stop: ShouldStop = never_stop,
              force: bool = False) -> Path | None:
        """Download, verify, extract and (where needed) convert ``name`` into the cache.

        Returns:
            The installed file, or ``None`` when ``should_stop`` cancelled (nothing is installed; what was
            downloaded stays in a ``.part`` file that the next fetch resumes).

        Raises:
            WeightsError: every source failed (network error, interrupted transfer, sha256 mismatch); the message
                names the URL, the expected and actual sha256 or the error, and suggests ``models import``.
        """
        spec = self.spec(name)
        if not force and self.is_installed(name):
            return self.path(name)
        if not spec.sources:
            raise WeightsError(f"{name} has no download source: download it yourself and run "
                               f"`python main.py models import {name} FILE`")
        errors: list[str] = []
        for source in spec.sources:
            try:
                archive = self._download(spec, source, progress, should_stop)
                if archive is None:
                    return None
                try:
                    if source.sha256 is None:
                        return self._install_unpinned(spec, source, archive, progress)
                    return self._install_download(spec, source, archive, progress, should_stop)
                finally:
                    archive.unlink(missing_ok=True)
            except WeightsError as exc:
                log.warning("%s", exc)
                errors.append(str(exc))
        raise WeightsError("; ".join(errors))

    def import_file(self, name: str, path: Path, progress: Progress = no_progress) -> Path:
        """Install ``name`` from a file the user obtained elsewhere: the published weights file, the archive
        of one of its sources, or (where the model has a validator) another compatible file.

        Returns:
            The installed file.

        Raises:
            WeightsError: the file is missing, or its sha256 is neither the weights' nor a source's (the
                message names expected and actual) and no validator accepts it.
        """
        spec = self.spec(name)
        path = Path(path)
        if not path.is_file():
            raise WeightsError(f"{path}: no such file; give the path of the downloaded {spec.weights_file}")
        actual = sha256_of(path, progress)
        if spec.sha256 and actual == spec.sha256:
            return self._install_weights(spec, path, progress, verified=True, copy=True)
        for source in spec.sources:
            if actual == source.sha256:
                return self._install_download(spec, source, path, progress, never_stop)
        if spec.validate:
            return self._install_validated(spec, path, actual, progress)
        expected = [h for h in [spec.sha256, *(s.sha256 for s in spec.sources)] if h]
        raise WeightsError(
            f"{path} is not the {name} weights: sha256 {actual}, expected {' or '.join(expected) or 'a published file'}; "
            f"download {spec.weights_file} again"
        )

    def _install_validated(self, spec: ModelSpec, path: Path, actual: str, progress: Progress) -> Path:
        """Install a file that has no published checksum once the model's validator accepted it."""
        what = _resolve(spec.validate, "validator")(path)
        if what == "file":
            return self._install_final(spec, path, verified=False, weights_sha=actual, copy=True)
        return self._install_weights(spec, path, progress, verified=False, copy=True)

    def _install_unpinned(self, spec: ModelSpec, source: Source, download: Path, progress: Progress) -> Path:
        """Install a download from a source without a pinned sha256 (a release asset the manifest could not
        hash): only when the model's validator/converter accepts its structure; its sha256 is recorded in
        installed.json, so any later change to the file is refused."""
        if not spec.validate:
            raise WeightsError(f"refusing {source.url}: no pinned sha256 and no validator for {spec.name}")
        actual = sha256_of(download)
        log.warning("%s has no pinned sha256; accepted after checking its layers; sha256 %s", source.url, actual)
        progress(0, 0, f"no published checksum for {spec.name}: checked its layers instead (sha256 {actual[:16]}…)")
        return self._install_validated(spec, download, actual, progress)

    def remove(self, name: str) -> bool:
        """Delete ``name`` from the cache (with any partial downloads). Returns whether anything was there."""
        folder = self.folder(name)
        if not folder.exists():
            return False
        shutil.rmtree(folder)
        self._checked = {p: k for p, k in self._checked.items() if folder not in p.parents}
        return True

    # ---- steps ---------------------------------------------------------------------------------------------

    def _part(self, spec: ModelSpec, filename: str) -> Path:
        folder = self.cache_dir / spec.name
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WeightsError(f"cannot create the model cache {folder} ({exc.strerror}); set ROLLCALL_CACHE "
                               "to a writable folder") from exc
        return folder / f"{filename}.part"

    def _download(self, spec: ModelSpec, source: Source, progress: Progress, should_stop: ShouldStop) -> Path | None:
        """``source`` downloaded to a ``.part`` file whose sha256 matched, or None when cancelled (the part is
        kept, so the next call resumes)."""
        part = self._part(spec, Path(source.url.split("?", 1)[0]).name or "download")
        with exclusive(part.with_name(part.name + ".lock"), spec.name):
            return self._download_locked(spec, source, part, progress, should_stop)

    def _download_locked(self, spec: ModelSpec, source: Source, part: Path, progress: Progress,
                         should_stop: ShouldStop) -> Path | None:
        digest = hashlib.sha256()
        have = part.stat().st_size if part.exists() else 0
        if source.size and have >= source.size:  # downloaded earlier but not installed
            if have == source.size and source.sha256 is not None and sha256_of(part) == source.sha256:
                return part
            part.unlink()
            have = 0
        done, total = have, source.size or 0
        try:
            headers = {"Range": f"bytes={have}-"} if have else {}
            with self._open(source.url, TIMEOUT_S, headers) as response:
                resumed = have > 0 and getattr(response, "status", 200) == 206 and _range_start(response) == have
                if resumed:
                    log.info("resuming %s at byte %d", source.url, have)
                    with part.open("rb") as old:
                        while block := old.read(CHUNK):
                            digest.update(block)
                else:
                    done = 0
                length = _header(response, "Content-Length")
                total = done + int(length) if length else total
                with part.open("ab" if resumed else "wb") as out:
                    while chunk := response.read(CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        done += len(chunk)
                        progress(done, total, f"downloading {spec.name}")
                        if should_stop():
                            return None
        except (OSError, HTTPException, ValueError) as exc:
            raise WeightsError(
                f"download of {source.url} failed after {done} of {total or '?'} bytes ({reason(exc)}); run "
                f"`python main.py models fetch {spec.name}` again to resume, or download it elsewhere and use "
                "`models import`"
            ) from exc
        expected_size = total or source.size
        if expected_size and done < expected_size:
            raise WeightsError(f"download of {source.url} was interrupted after {done} of {expected_size} bytes; "
                               f"run `python main.py models fetch {spec.name}` again to resume")
        actual = digest.hexdigest()
        if (source.sha256 is not None and actual != source.sha256) or (expected_size and done != expected_size):
            part.unlink(missing_ok=True)
            raise WeightsError(f"refusing {source.url}: sha256 mismatch, expected {source.sha256}, got {actual} "
                               "(a corrupted or altered download; it was deleted, fetch again to start over)")
        return part

    def _install_download(self, spec: ModelSpec, source: Source, archive: Path, progress: Progress,
                          should_stop: ShouldStop) -> Path | None:
        """Install from a verified download: extract the member (if any), check it, convert, install."""
        if source.member is None:
            return self._install_weights(spec, archive, progress, verified=True, copy=True)
        weights = self._part(spec, spec.weights_file)
        try:
            if not extract(archive, source.member, weights, progress, should_stop):
                return None
            return self._install_weights(spec, weights, progress, verified=True, copy=False)
        finally:
            weights.unlink(missing_ok=True)

    def _install_weights(self, spec: ModelSpec, weights: Path, progress: Progress, verified: bool, copy: bool) -> Path:
        """Check the weights file's sha256 (when ``verified``), convert it if needed, install the result."""
        actual = sha256_of(weights)
        if verified and spec.sha256 and actual != spec.sha256:
            raise WeightsError(f"refusing {weights.name}: sha256 mismatch, expected {spec.sha256}, got {actual}")
        if spec.convert is None:
            return self._install_final(spec, weights, verified, actual, copy)
        folder = self.cache_dir / spec.name
        kept = folder / spec.weights_file
        if weights != kept:
            staged = self._part(spec, spec.weights_file + ".keep")
            (shutil.copyfile if copy else shutil.move)(weights, staged)
            os.replace(staged, kept)
        out = self._part(spec, spec.file)
        progress(0, 0, f"converting {spec.name} to {spec.kind} (about a minute)")
        try:
            _resolve(spec.convert, "converter")(kept, out)
            return self._install_final(spec, out, verified, actual, copy=False)
        finally:
            out.unlink(missing_ok=True)

    def _install_final(self, spec: ModelSpec, file: Path, verified: bool, weights_sha: str, copy: bool) -> Path:
        """Move (or copy) the final file into place, then write installed.json (last, atomically)."""
        folder = self.cache_dir / spec.name
        target = folder / spec.file
        (folder / INSTALLED).unlink(missing_ok=True)
        staged = file
        if copy:
            staged = self._part(spec, spec.file + ".copy")
            shutil.copyfile(file, staged)
        os.replace(staged, target)
        record = {
            "name": spec.name, "version": spec.version, "file": spec.file, "kind": spec.kind,
            "size": target.stat().st_size, "file_sha256": sha256_of(target), "weights_sha256": weights_sha,
            "verified": verified, "installed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        tmp = self._part(spec, INSTALLED)
        tmp.write_text(json.dumps(record, indent=2), encoding="utf-8")
        os.replace(tmp, folder / INSTALLED)
        log.info("installed %s at %s", spec.name, target)
        return target


def _download_size(spec: ModelSpec) -> int | None:
    return spec.sources[0].size if spec.sources else spec.size


def _resolve(target: str, what: str) -> Callable[..., Any]:
    module_name, _, func = target.partition(":")
    try:
        return getattr(importlib.import_module(module_name), func)
    except (ImportError, AttributeError) as exc:
        raise WeightsError(f"the manifest's {what} {target!r} cannot be loaded ({exc}); reinstall Rollcall") from exc


def _header(response: object, name: str) -> str | None:
    headers = getattr(response, "headers", None)
    return headers.get(name) if headers is not None else None


def _range_start(response: object) -> int | None:
    """The first byte a 206 response holds (``Content-Range: bytes START-END/TOTAL``)."""
    value = _header(response, "Content-Range") or ""
    unit, _, rest = value.partition(" ")
    start = rest.partition("-")[0]
    return int(start) if unit == "bytes" and start.isdigit() else None
