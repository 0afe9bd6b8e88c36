"""A failed export (the disk fills up mid-write) leaves the previous CSV exactly as it was."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

# Writes 300 attendance rows to OUT in a process whose files may not grow past 4 KiB: the kernel refuses the
# write part-way (EFBIG), as a full disk would (ENOSPC).
EXPORT_ON_A_FULL_DISK = """
import resource, signal, sys
from datetime import datetime, timezone
from app.services.attendance import write_csv
from db.records import EventRecord
from common.errors import StorageError

when = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)
events = [EventRecord(i, i, f"Person number {i}", f"S-{i:05d}", 1, "Maths", when, "camera", 0.3, "dlib")
          for i in range(300)]
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
try:
    write_csv(sys.argv[1], events)
except StorageError as exc:
    print("error:", exc)
    sys.exit(1)
"""


def test_a_failed_export_leaves_the_old_csv_intact(tmp_path: Path) -> None:
    out = tmp_path / "attendance.csv"
    old = "time,name\n" + "".join(f"2026-11-29T09:00:00+00:00,Person {i}\n" for i in range(68))
    out.write_text(old, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-c", EXPORT_ON_A_FULL_DISK, str(out)], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1, result.stderr
    assert out.read_text(encoding="utf-8") == old
    assert "cannot write" in result.stdout and "nothing was changed" in result.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["attendance.csv"]  # no temporary file left behind
