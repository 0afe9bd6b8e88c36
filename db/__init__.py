"""Rollcall's persistence layer: SQLAlchemy schema, Alembic migrations and repositories.

Public surface::

    from db import open_database, Repository
    database = open_database("sqlite:///path/rollcall.db")
    repo = Repository(database)

Never imports ML code or Qt. All datetimes in and out are timezone-aware UTC.
"""

from db.database import Database, SchemaStatus, open_database, schema_status
from db.records import CentroidSet, EventRecord, NewSample, PersonRecord, SampleRecord, SessionRecord
from db.repositories import Repository

__all__ = [
    "CentroidSet",
    "Database",
    "EventRecord",
    "NewSample",
    "PersonRecord",
    "Repository",
    "SampleRecord",
    "SchemaStatus",
    "SessionRecord",
    "open_database",
    "schema_status",
]
