"""Opening Rollcall's database: engine, SQLite settings, migrations, backups and storage errors.

``open_database(url)`` is the entry point (``schema_status(url)`` only looks). For SQLite it turns on WAL,
foreign keys and a busy timeout on every connection, makes transactions real (``BEGIN`` is emitted by us, not
guessed by the ``sqlite3`` module), backs an existing file up before migrating it, and migrates it to
Alembic's head. PostgreSQL (``postgresql+psycopg://user@host/rollcall``, psycopg 3; a plain
``postgresql://`` URL is read the same way) is migrated by the same revisions; stations starting at once
migrate one after the other (an advisory lock), and an unreachable server is reported as such.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from common.errors import StorageError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
DEFAULT_BUSY_TIMEOUT_S = 5.0
_BEGIN_OPTION = "rollcall_sqlite_begin"
PRIVATE_FOLDER_MODE = 0o700
"""A new data folder is its owner's only: it holds faces and names."""
PRIVATE_FILE_MODE = 0o600
"""Mode of a new database file (and so of its -wal/-shm files) and of backups."""
_FIX_FOLDER = "choose a writable data folder with --data-dir or ROLLCALL_DATA"
CONNECT_TIMEOUT_S = 5
"""How long a station waits for a database server that does not answer."""
_MIGRATION_LOCK = 0x526F6C6C
"""PostgreSQL advisory lock key held while migrating ("Roll"), so two stations never migrate at once."""
_UNREACHABLE = ("connection refused", "could not connect", "timeout expired",
                "could not translate host name", "name or service not known", "no route to host",
                "server closed the connection", "connection timed out")


@dataclass(frozen=True)
class _Target:
    """Where a URL points: ``path`` is the SQLite file, ``None`` for memory or other databases."""

    url: URL
    path: Optional[Path]
    is_sqlite: bool

    @property
    def is_postgres(self) -> bool:
        """Whether this is a PostgreSQL server."""
        return self.url.get_backend_name() == "postgresql"

    @property
    def label(self) -> str:
        """How messages name this database."""
        if self.path is not None:
            return str(self.path)
        return self.url.render_as_string(hide_password=True)


class Database:
    """An open database: an engine plus a factory of transactional sessions.

    Sessions must not be shared between threads: each unit of work opens its own with :meth:`session`.
    """

    def __init__(self, engine: Engine, target: _Target) -> None:
        self.engine = engine
        self._target = target

    @property
    def url(self) -> str:
        """The database URL (password hidden)."""
        return self._target.url.render_as_string(hide_password=True)

    @property
    def path(self) -> Optional[Path]:
        """The SQLite file, or ``None`` for in-memory and non-SQLite databases."""
        return self._target.path

    @property
    def kind(self) -> str:
        """``"sqlite"``, ``"postgresql"``, ... (the SQLAlchemy backend name)."""
        return self._target.url.get_backend_name()

    @contextmanager
    def session(self, *, write: bool = True) -> Iterator[Session]:
        """A session inside one transaction: committed when the block ends, rolled back if it raises.

        Args:
            write: on SQLite, take the write lock when the transaction begins (``BEGIN IMMEDIATE``), so that a
                read-then-write unit of work waits for other writers instead of failing; pass ``False`` for
                read-only work, which then never blocks or is blocked by writers (WAL).

        Yields:
            A :class:`~sqlalchemy.orm.Session`; objects stay readable after commit.

        Raises:
            StorageError: the database is locked, read-only or damaged. Integrity errors pass through so that
                repositories can turn them into :class:`~common.errors.DuplicateError` and friends.
        """
        try:
            bind = self.engine.execution_options(**{_BEGIN_OPTION: "BEGIN IMMEDIATE" if write else "BEGIN"})
            with Session(bind, expire_on_commit=False) as s, s.begin():
                yield s
        except IntegrityError:
            raise
        except DBAPIError as exc:
            raise storage_error(exc, self._target.label) from exc

    def checkpoint(self) -> bool:
        """Copy the write-ahead log into the database file and truncate it to zero bytes.

        Called after erasing someone: with ``secure_delete`` on, the erased rows are overwritten in the main
        file, and truncating the WAL removes the old copies of their pages there too.

        Returns:
            ``True`` when the WAL is now empty (or there is none); ``False`` when another process was reading
            and the WAL could not be reset (SQLite resets it when that reader finishes and the next write ends).
        """
        if self._target.path is None:
            return True
        raw = self.engine.raw_connection()
        try:
            busy, _, _ = raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error as exc:
            raise storage_error(exc, self._target.label) from exc
        finally:
            raw.close()
        if busy:
            log.warning("could not empty the write-ahead log of %s: another process is reading it", self._target.label)
        return not busy

    def close(self) -> None:
        """Release every pooled connection (the WAL is checkpointed when the last one closes)."""
        self.engine.dispose()


def storage_error(exc: BaseException, label: str) -> StorageError:
    """Turn a driver error into a :class:`StorageError` that says what to do.

    Args:
        exc: the error raised by SQLAlchemy or ``sqlite3``.
        label: the database file or URL, for the message.

    Returns:
        The error to raise (the caller chains ``from exc``).
    """
    detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    text = detail.lower()
    if "locked" in text or "busy" in text:
        return StorageError(
            f"the database {label} is locked by another Rollcall process; close it and try again"
        )
    if "readonly" in text or "read-only" in text:
        return StorageError(f"{label} is read-only: {_FIX_FOLDER}")
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return StorageError(
            f"{label} is not a Rollcall database or is damaged ({detail}); restore a backup "
            f"({label}.bak-*) or choose another data folder with --data-dir"
        )
    if "unable to open" in text:
        return StorageError(f"cannot open {label} ({detail}): check the folder exists; {_FIX_FOLDER}")
    if "authentication failed" in text or "no pg_hba.conf entry" in text or ("role" in text and "does not exist" in text):
        return StorageError(f"the database server {label} refused the login ({detail}); check the user and password in --db")
    if "database" in text and "does not exist" in text:
        return StorageError(f"{label}: {detail}; create it first (e.g. `createdb rollcall`) or fix the name in --db")
    if any(marker in text for marker in _UNREACHABLE):
        return StorageError(
            f"cannot reach the database server {label} ({detail}); check that it is running and that the host "
            "and port in --db are right"
        )
    return StorageError(f"database error on {label}: {detail}")


def open_database(url: str, *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> Database:
    """Open (creating if needed) and migrate the database at ``url``.

    Args:
        url: a SQLAlchemy URL, e.g. ``sqlite:////home/me/.local/share/rollcall/rollcall.db`` or ``sqlite://``
            for a throw-away in-memory database.
        busy_timeout_s: how long a write waits for another process's lock before failing.

    Returns:
        The open :class:`Database`, at the newest schema revision.

    Raises:
        StorageError: the URL is malformed, the folder or file is read-only, the file is not a database, it is
            locked by another process, or it was written by a newer Rollcall.
    """
    target = _parse(url)
    existed = target.path is not None and target.path.exists() and target.path.stat().st_size > 0
    if target.path is not None:
        _check_folder(target.path)
        _create_private(target.path, target.label)
    engine = _make_engine(target, busy_timeout_s)
    try:
        _migrate(engine, target, backup_first=existed)
    except DBAPIError as exc:
        engine.dispose()
        raise storage_error(exc, target.label) from exc
    except BaseException:
        engine.dispose()
        raise
    return Database(engine, target)


@dataclass(frozen=True)
class SchemaStatus:
    """Where a database's schema stands compared with this version of Rollcall.

    Attributes:
        label: the file or URL (password hidden). kind: ``"sqlite"``, ``"postgresql"``, ...
        current: the database's Alembic revision (``None``: empty, no Rollcall tables yet).
        head: the newest revision this Rollcall knows. known: whether ``current`` is one of ours (``False``: a
            newer Rollcall wrote it).
    """

    label: str
    kind: str
    current: Optional[str]
    head: str
    known: bool

    @property
    def up_to_date(self) -> bool:
        """The schema is exactly what this Rollcall writes."""
        return self.current == self.head


def schema_status(url: str) -> SchemaStatus:
    """Look at the schema of the database at ``url`` without changing anything (no file is created).

    Raises:
        StorageError: the URL is malformed or the server is unreachable / refuses the login.
    """
    target = _parse(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    scripts = ScriptDirectory.from_config(config)
    head = scripts.get_current_head() or ""
    kind = target.url.get_backend_name()
    if target.path is not None and not target.path.exists():
        return SchemaStatus(target.label, kind, None, head, True)
    engine = _make_engine(target, DEFAULT_BUSY_TIMEOUT_S)
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except DBAPIError as exc:
        raise storage_error(exc, target.label) from exc
    finally:
        engine.dispose()
    known = current is None or current in {script.revision for script in scripts.walk_revisions()}
    return SchemaStatus(target.label, kind, current, head, known)


def _parse(url: str) -> _Target:
    """Parse ``url`` and find the SQLite file it names, if any."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StorageError(f"database URL {url!r} is malformed ({exc}); use e.g. sqlite:///path/to/rollcall.db") from exc
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3 is what Rollcall installs
    database = parsed.database or ""
    if not is_sqlite or database in ("", ":memory:") or "mode=memory" in database:
        return _Target(parsed, None, is_sqlite)
    if database.startswith("file:"):
        database = database[len("file:"):].split("?", 1)[0]
    return _Target(parsed, Path(database).expanduser().absolute(), is_sqlite)


def _check_folder(path: Path) -> None:
    """Create the database's folder and fail clearly if it cannot hold the file."""
    folder = path.parent
    try:
        if not folder.exists():
            folder.parent.mkdir(parents=True, exist_ok=True)
            folder.mkdir(mode=PRIVATE_FOLDER_MODE, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create the data folder {folder} ({exc.strerror}): {_FIX_FOLDER}") from exc
    if not folder.is_dir():
        raise StorageError(f"the data folder {folder} is not a folder: {_FIX_FOLDER}")
    if path.exists() and not path.is_file():
        raise StorageError(f"the database path {path} is not a file: {_FIX_FOLDER}")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        where = path if path.exists() else folder
        raise StorageError(f"{where} is read-only: {_FIX_FOLDER}")


def _create_private(path: Path, label: str) -> None:
    """Create an empty database file readable by its owner only (0600); SQLite gives its -wal and -shm files
    the same mode. An existing file is left as it is."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return
    except OSError as exc:
        raise StorageError(f"cannot create {label} ({exc.strerror}): {_FIX_FOLDER}") from exc
    os.close(fd)


def _make_engine(target: _Target, busy_timeout_s: float) -> Engine:
    """An engine with Rollcall's SQLite settings applied to every new connection."""
    if not target.is_sqlite:
        return _make_server_engine(target)
    kwargs: dict[str, Any] = {"connect_args": {"timeout": busy_timeout_s}}
    if target.path is None:
        kwargs["poolclass"] = StaticPool
        kwargs["connect_args"]["check_same_thread"] = False
    engine = create_engine(target.url, **kwargs)
    timeout_ms = max(0, int(busy_timeout_s * 1000))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, see _on_begin
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {timeout_ms}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA secure_delete = ON")  # erased faces are overwritten, not just unlinked
            if target.path is not None:
                cursor.execute("PRAGMA journal_mode = WAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql(connection.get_execution_options().get(_BEGIN_OPTION, "BEGIN"))

    return engine


def _make_server_engine(target: _Target) -> Engine:
    """An engine for a database server (PostgreSQL): stale pooled connections are replaced, and a server that
    does not answer fails after :data:`CONNECT_TIMEOUT_S` instead of hanging the window.

    Raises:
        StorageError: the URL names a database kind whose driver is not installed.
    """
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if target.is_postgres:
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "rollcall"}
    try:
        return create_engine(target.url, **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise StorageError(
            f"cannot use the database {target.label} ({exc}); use sqlite:///FILE or postgresql+psycopg://USER@HOST/NAME"
        ) from exc


def _alembic_config(connection: Connection) -> Config:
    """An Alembic configuration that needs no alembic.ini and runs on ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def _migrate(engine: Engine, target: _Target, backup_first: bool) -> None:
    """Bring the schema to head in one transaction, backing the file up first when it is behind."""
    with engine.connect() as connection:
        config = _alembic_config(connection)
        head = ScriptDirectory.from_config(config).get_current_head()
        current = MigrationContext.configure(connection).get_current_revision()
        connection.rollback()
        if current == head:
            return
        _check_known(config, current, target)
        if backup_first and target.path is not None:
            backup_sqlite(target.path)
        log.info("migrating %s from %s to %s", target.label, current or "an empty database", head)
        raw = connection.connection.driver_connection
        if target.is_sqlite:
            raw.execute("PRAGMA foreign_keys = OFF")  # batch migrations recreate tables
        try:
            with connection.begin():
                if target.is_postgres:  # another station may be migrating right now: wait for it, then look again
                    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
                    if MigrationContext.configure(connection).get_current_revision() == head:
                        return
                command.upgrade(config, "head")
                _check_foreign_keys(connection, target)
        finally:
            if target.is_sqlite:
                raw.execute("PRAGMA foreign_keys = ON")


def _check_known(config: Config, current: Optional[str], target: _Target) -> None:
    """Refuse a database stamped with a revision this version of Rollcall does not know."""
    if current is None:
        return
    revisions = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    if current not in revisions:
        raise StorageError(
            f"{target.label} was written by a newer Rollcall (schema revision {current!r}); "
            "upgrade Rollcall or choose another data folder with --data-dir"
        )


def _check_foreign_keys(connection: Connection, target: _Target) -> None:
    """Fail the migration (rolling it back) if it left dangling references."""
    if not target.is_sqlite:
        return
    problems = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if problems:
        raise StorageError(
            f"migrating {target.label} left {len(problems)} broken references (first: {tuple(problems[0])}); "
            "nothing was changed: report this with the backup file"
        )


def backup_sqlite(path: Path) -> Path:
    """Copy a SQLite file (including its WAL) to ``<file>.bak-<UTC timestamp>`` with SQLite's backup API.

    Args:
        path: the database file.

    Returns:
        The backup's path.

    Raises:
        StorageError: the copy could not be written.
    """
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    destination = path.with_name(f"{path.name}.bak-{stamp}")
    try:
        os.close(os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
        with closing(sqlite3.connect(path)) as source, closing(sqlite3.connect(destination)) as copy:
            source.backup(copy)
    except (sqlite3.Error, OSError) as exc:
        raise StorageError(
            f"could not back up {path} to {destination} before migrating ({exc}); "
            f"free some disk space or {_FIX_FOLDER}"
        ) from exc
    log.info("backed up %s to %s before migrating", path, destination)
    return destination
