"""A throw-away PostgreSQL server for the tests and benchmarks (Debian's ``postgresql`` package).

``initdb`` and ``pg_ctl`` from ``/usr/lib/postgresql/*/bin`` create a cluster in a temporary folder and start it
on a free loopback port with its unix socket in that folder; it is stopped and deleted at the end. PostgreSQL
refuses to run as root, so under root (CI) the server runs as the ``postgres`` system user (made by the Debian
package) or ``nobody``. Where PostgreSQL is not installed, :func:`find_pg_bin` says so and the tests that need
it are skipped with that reason.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_counter = itertools.count(1)


def find_pg_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/N/bin`` holding ``initdb`` and ``pg_ctl``, else ``None``."""
    found = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists() and (p / "pg_ctl").exists()]
    return max(found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0) if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_user() -> str | None:
    """The unprivileged user to run the server as when we are root, else ``None`` (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL")


class ThrowawayPostgres:
    """A PostgreSQL cluster in a temporary folder; :meth:`start` it, :meth:`stop` it (which deletes it)."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.user = _server_user()
        self.port = _free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="rollcall-pg-"))
        self.data = self.folder / "data"
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)

    def _run(self, *args: str) -> None:
        prefix = ["runuser", "-u", self.user, "--"] if self.user is not None else []
        done = subprocess.run(prefix + list(args), cwd=self.folder, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed: {done.stderr.strip() or done.stdout.strip()}\n{tail}")

    def start(self) -> "ThrowawayPostgres":
        """initdb (trust login for the ``rollcall`` superuser) and start on the loopback port."""
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "rollcall", "--auth=trust", "-E", "UTF8",
                  "--no-sync", "--no-instructions")  # fmt: skip
        options = (f"-p {self.port} -h 127.0.0.1 -k {self.folder} -c fsync=off -c synchronous_commit=off "
                   "-c full_page_writes=off -c max_connections=200")  # fmt: skip
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w",
                  "-t", "60", "-o", options, "start")  # fmt: skip
        return self

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of ``database`` on this server."""
        return f"postgresql+psycopg://rollcall@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "t") -> str:
        """A new, empty database; returns its URL."""
        import psycopg

        name = f"{prefix}_{os.getpid()}_{next(_counter)}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=rollcall dbname=postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def create_schema(self, prefix: str = "t") -> str:
        """A new, empty schema in the ``postgres`` database, made the connection's search path; returns a URL
        whose connections see only it. Much cheaper than a database per test (no copy of the template's
        files), and a test sees exactly what it would in a fresh database."""
        import psycopg

        name = f"{prefix}_{os.getpid()}_{next(_counter)}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=rollcall dbname=postgres", autocommit=True) as c:
            c.execute(f'CREATE SCHEMA "{name}"')
        return f"{self.url()}?options=-csearch_path%3D{name}"

    def stop(self) -> None:
        """Stop the server at once and delete its folder."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[ThrowawayPostgres]:
    """One throw-away PostgreSQL for the whole test run (skipped where PostgreSQL is not installed)."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run scripts/setup.sh")
    server = ThrowawayPostgres(bin_dir)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server: ThrowawayPostgres) -> str:
    """The URL of a fresh, empty PostgreSQL schema for one test (as good as a fresh database)."""
    return pg_server.create_schema()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """The same test on an in-memory SQLite database and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return "sqlite://"
    return str(request.getfixturevalue("pg_url"))
