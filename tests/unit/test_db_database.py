"""Opening, migrating and protecting the database file."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from common.errors import StorageError
from db import Repository, open_database
from db.schema import Base

TABLES = {"people", "face_samples", "embeddings", "centroids", "attendance_sessions", "attendance_events", "gallery_version"}


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows}


def _backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + ".bak-*"))


@pytest.mark.parametrize("url", ["sqlite://", "sqlite+pysqlite:///:memory:"])
def test_in_memory_database_is_usable(url: str) -> None:
    database = open_database(url)
    repo = Repository(database)
    repo.add_person("Ada")
    assert [p.name for p in repo.list_people()] == ["Ada"]
    assert database.path is None
    database.close()


def test_fresh_file_is_created_at_head_and_reopening_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "data" / "rollcall.db"
    database = open_database(f"sqlite:///{path}")
    Repository(database).add_person("Ada", "S-1")
    with database.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        head = MigrationContext.configure(connection).get_current_revision()
    database.close()
    assert TABLES <= _tables(path) and head == "0003"

    again = open_database(f"sqlite:///{path}")
    assert [p.external_id for p in Repository(again).list_people()] == ["S-1"]
    again.close()
    assert _backups(path) == []  # nothing to migrate, so no backup


def test_schema_matches_migrations(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'rollcall.db'}")
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    database.close()


def test_old_file_is_backed_up_before_migrating(tmp_path: Path) -> None:
    path = tmp_path / "rollcall.db"
    with sqlite3.connect(path) as old:  # a database at the base revision, holding some user data
        old.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        old.execute("CREATE TABLE notes (text TEXT)")
        old.execute("INSERT INTO notes VALUES ('keep me')")
    old.close()

    open_database(f"sqlite:///{path}").close()

    (backup,) = _backups(path)
    assert _tables(backup) == {"alembic_version", "notes"}
    with sqlite3.connect(backup) as copy:
        assert copy.execute("SELECT text FROM notes").fetchall() == [("keep me",)]
    copy.close()
    assert TABLES <= _tables(path)


def test_file_from_a_newer_rollcall_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "rollcall.db"
    with sqlite3.connect(path) as newer:
        newer.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        newer.execute("INSERT INTO alembic_version VALUES ('9999')")
    newer.close()
    with pytest.raises(StorageError, match="newer Rollcall.*'9999'"):
        open_database(f"sqlite:///{path}")
    assert _tables(path) == {"alembic_version"}


def test_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "rollcall.db"
    path.write_bytes(b"these are holiday photos, not a database" * 100)
    with pytest.raises(StorageError, match=f"{path} is not a Rollcall database"):
        open_database(f"sqlite:///{path}")


def test_data_folder_that_cannot_exist_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    with pytest.raises(StorageError, match="not-a-folder.*choose a writable data folder with --data-dir"):
        open_database(f"sqlite:///{blocker / 'rollcall.db'}")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_folder_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(StorageError, match="is read-only: choose a writable data folder"):
            open_database(f"sqlite:///{folder / 'rollcall.db'}")
    finally:
        folder.chmod(0o755)


def test_read_only_folder_is_reported_even_as_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Root ignores chmod, so stand in for a read-only mount by making the permission check say "no".
    folder = tmp_path / "mounted-read-only"
    folder.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == folder else real_access(p, mode))
    with pytest.raises(StorageError, match="mounted-read-only is read-only: choose a writable data folder"):
        open_database(f"sqlite:///{folder / 'rollcall.db'}")
    assert list(folder.iterdir()) == []


def test_read_only_file_fails_writes_clearly(tmp_path: Path) -> None:
    path = tmp_path / "rollcall.db"
    open_database(f"sqlite:///{path}").close()
    # SQLite's read-only mode is enforced even for root, unlike file permissions.
    database = open_database(f"sqlite:///file:{path}?mode=ro&uri=true")
    with pytest.raises(StorageError, match=f"{path} is read-only: choose a writable data folder"):
        Repository(database).add_person("Ada")
    database.close()


def test_lock_held_by_another_process_fails_after_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "rollcall.db"
    database = open_database(f"sqlite:///{path}", busy_timeout_s=0.3)
    repo = Repository(database)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        with pytest.raises(StorageError, match="locked by another Rollcall process; close it and try again"):
            repo.add_person("Ada")
        waited = time.monotonic() - started
        assert repo.list_people() == []  # reading still works while another process writes (WAL)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert 0.25 <= waited < 3.0
    assert repo.add_person("Ada").name == "Ada"  # works again once the other process lets go
    database.close()


def test_malformed_url_is_a_storage_error() -> None:
    with pytest.raises(StorageError, match="malformed"):
        open_database("not a url")


def test_threads_writing_at_once_all_succeed(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'rollcall.db'}")
    repo = Repository(database)
    errors: list[BaseException] = []

    def enroll(thread: int) -> None:
        for i in range(15):
            try:  # read-then-write units of work must wait for each other, not fail as "locked"
                repo.add_person(f"P{thread}-{i}", f"{thread}-{i}")
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

    threads = [threading.Thread(target=enroll, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(repo.list_people()) == 60
    database.close()
