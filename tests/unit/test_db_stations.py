"""Several stations on one database: PostgreSQL migrations, the change counter, station names, clear errors.

Each test that takes ``db_url`` runs on in-memory SQLite and on a fresh database of a throw-away PostgreSQL
(tests/pg.py); the PostgreSQL-only ones take ``pg_url``.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from common.errors import InvalidInput, StorageError
from db import NewSample, Repository, open_database, schema_status
from db.schema import Base

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)


def _sample(tag: bytes) -> NewSample:
    return NewSample(b"\xff\xd8jpeg-" + tag, [(10.0, 12.5), (30.0, 12.0)], "dlib68", "camera", 0.8)


def test_postgres_schema_matches_the_declared_tables(pg_url: str) -> None:
    database = open_database(pg_url)
    assert database.kind == "postgresql"
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        assert context.get_current_revision() == schema_status(pg_url).head
    database.close()


def test_plain_postgresql_url_uses_psycopg_3(pg_url: str) -> None:
    database = open_database(pg_url.replace("postgresql+psycopg://", "postgresql://"))
    assert database.engine.dialect.driver == "psycopg"
    database.close()


def test_vectors_round_trip_exactly(db_url: str) -> None:
    database = open_database(db_url)
    repo = Repository(database)
    vectors = np.random.default_rng(1).normal(size=(2, 128)).astype(np.float32)
    person = repo.add_person("Ada", samples=[_sample(b"1"), _sample(b"2")], embeddings={"dlib": vectors})
    stored = repo.embeddings_by_person("dlib")[person.id]
    assert stored.dtype == np.float32 and np.array_equal(stored, vectors)
    assert np.isclose(np.linalg.norm(repo.centroids("dlib").matrix[0]), 1.0)
    database.close()


def test_gallery_version_moves_on_every_change_seen_by_another_station(db_url: str) -> None:
    database = open_database(db_url)
    here, there = Repository(database, station="door 1"), Repository(database, station="door 2")
    seen = [there.gallery_version()]
    person = here.add_person("Ada", samples=[_sample(b"1")], embeddings={"dlib": np.ones((1, 4))})
    seen.append(there.gallery_version())
    here.rename_person(person.id, "Ada L.")
    seen.append(there.gallery_version())
    here.remove_person(person.id)
    seen.append(there.gallery_version())
    assert seen == sorted(set(seen)), f"the counter must rise at each change: {seen}"
    here.get_or_create_session("Maths")  # attendance is not a change of the gallery
    assert there.gallery_version() == seen[-1]
    database.close()


def test_each_event_records_its_station(db_url: str) -> None:
    database = open_database(db_url)
    door1, door2 = Repository(database, station="door 1"), Repository(database, station="door 2")
    ada, bob = door1.add_person("Ada"), door1.add_person("Bob")
    session = door1.get_or_create_session("Maths")
    door1.mark_if_due(ada.id, session.id, T0, "camera")
    door2.mark_if_due(bob.id, session.id, T0, "camera")
    assert door2.mark_if_due(ada.id, session.id, T0, "camera") is None  # door 1 marked her already
    assert [(e.person_name, e.station) for e in door1.list_events()] == [("Ada", "door 1"), ("Bob", "door 2")]
    database.close()


def test_station_name_is_validated() -> None:
    database = open_database("sqlite://")
    with pytest.raises(InvalidInput, match="station name"):
        Repository(database, station="door\n1")
    database.close()


def test_unreachable_server_is_named_with_what_to_do(pg_server: object) -> None:
    with pytest.raises(StorageError, match=r"cannot reach the database server .*127\.0\.0\.1:1/.*running"):
        open_database("postgresql+psycopg://rollcall@127.0.0.1:1/rollcall")
    with pytest.raises(StorageError, match="cannot reach the database server"):
        schema_status("postgresql+psycopg://rollcall@127.0.0.1:1/rollcall")


def test_missing_postgres_database_says_to_create_it(pg_server: object) -> None:
    url = pg_server.url("no_such_db")  # type: ignore[attr-defined]
    with pytest.raises(StorageError, match="does not exist.*createdb"):
        open_database(url)


def test_postgres_schema_from_a_newer_rollcall_is_refused(pg_url: str) -> None:
    open_database(pg_url).close()
    database = open_database(pg_url)
    with database.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    database.close()
    status = schema_status(pg_url)
    assert status.current == "9999" and not status.known
    with pytest.raises(StorageError, match="newer Rollcall.*'9999'"):
        open_database(pg_url)


def test_stations_starting_at_once_migrate_once(pg_url: str) -> None:
    errors: list[BaseException] = []

    def start() -> None:
        try:
            open_database(pg_url).close()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert schema_status(pg_url).up_to_date
