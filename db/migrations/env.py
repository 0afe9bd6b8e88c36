"""Alembic environment for Rollcall.

At run time :func:`db.database.open_database` passes an open connection in ``config.attributes["connection"]``
(no alembic.ini needed). For developers writing a new revision, a ``sqlalchemy.url`` main option is used
instead, e.g.::

    alembic -x url=sqlite:///scratch.db ...   # or set sqlalchemy.url in a private alembic.ini
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from db.schema import Base


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the given connection, or on one opened from ``sqlalchemy.url``."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: pass -x url=sqlite:///path.db or set sqlalchemy.url")
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("Rollcall's migrations run online only (render_as_batch needs a live SQLite connection)")
run_migrations_online()
