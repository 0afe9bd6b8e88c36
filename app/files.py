"""Files Rollcall writes outside the database: atomic replacement, and keeping the data folder private.

The data folder holds faces and names (biometric data): Rollcall creates it ``0700`` and its files ``0600``
(``main.py`` also sets the umask to ``077`` first) and warns at start when they are readable by others.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_FILES = ("rollcall.db", "rollcall.db-wal", "rollcall.db-shm", "settings.json", "rollcall.log")
"""Files in the data folder that must be readable by their owner only (backups ``rollcall.db.bak-*`` too)."""


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` all at once: a crash, a full disk or an error leaves the old file intact.

    Writes a temporary file in the same folder, flushes it to disk (``fsync``), then renames it over ``path``.

    Args:
        path: the file to write.
        data: its new content.
        mode: permissions of the new file (an existing file's mode is kept).

    Raises:
        OSError: the folder is not writable or the disk is full (the old file is untouched).
    """
    folder = path.parent
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_folder(folder)


def _fsync_folder(folder: Path) -> None:
    """Make a rename durable (best effort: not every platform can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def shared_paths(data_dir: Path) -> list[tuple[Path, int]]:
    """The data folder and its private files that group or other users can access, with their modes."""
    found: list[tuple[Path, int]] = []
    candidates = [data_dir, *(data_dir / name for name in PRIVATE_FILES)]
    if data_dir.is_dir():
        candidates += sorted(data_dir.glob("rollcall.db.bak-*"))
    for path in candidates:
        try:
            mode = stat.S_IMODE(path.lstat().st_mode)
        except OSError:
            continue
        if mode & 0o077:
            found.append((path, mode))
    return found


def warn_if_shared(data_dir: Path) -> bool:
    """Log one warning when the data folder or its files are readable by other users; ``True`` if so."""
    found = shared_paths(data_dir)
    if not found:
        return False
    listing = ", ".join(f"{p.name or p} ({m:04o})" for p, m in found[:4]) + (" …" if len(found) > 4 else "")
    log.warning(
        "other users can read Rollcall's data (faces and names) in %s: %s; run `chmod -R go-rwx %s` to make it private",
        data_dir, listing, data_dir,
    )
    return True
