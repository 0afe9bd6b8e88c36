"""Shared test fixtures: where ../shared is, and an isolated data folder for every test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """``ROLLCALL_SHARED`` if set, else ``../shared`` beside the checkout."""
    return Path(os.environ.get("ROLLCALL_SHARED", REPO.parent / "shared"))


def need_shared(*parts: str) -> Path:
    """Path under ../shared, or skip the test saying what is missing."""
    path = shared_dir().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (set ROLLCALL_SHARED to the shared data folder)")
    return path


def test_cache_dir() -> Path:
    """``ROLLCALL_CACHE`` if set, else ``~/.cache/rollcall-tests/models`` (downloaded test weights)."""
    return Path(os.environ.get("ROLLCALL_CACHE") or Path.home() / ".cache" / "rollcall-tests" / "models")


@pytest.fixture
def shared() -> Path:
    return need_shared()


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own data folder; the model cache is shared (outside the checkout, so a fresh CI
    clone on the same machine reuses it) and downloads happen once."""
    monkeypatch.setenv("ROLLCALL_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("ROLLCALL_CACHE", str(test_cache_dir()))


from tests.pg import db_url, pg_server, pg_url  # noqa: E402,F401  (fixtures: a throw-away PostgreSQL)
