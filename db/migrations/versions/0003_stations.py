"""Several stations on one database: each attendance row names its station, and a change counter tells every
station when the enrolled people changed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30

``gallery_version`` holds one row (id 1) whose ``version`` is raised by every change to people, samples or
embeddings; stations poll it (one indexed read) and rebuild their search index when it moved. Existing
attendance rows get a NULL station (they were recorded before stations had names).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``attendance_events.station`` and the one-row ``gallery_version`` table."""
    with op.batch_alter_table("attendance_events") as batch:
        batch.add_column(sa.Column("station", sa.String(length=100), nullable=True))
    table = op.create_table(
        "gallery_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_gallery_version"),
    )
    op.bulk_insert(table, [{"id": 1, "version": 1}])


def downgrade() -> None:
    """Drop the counter and the station column."""
    op.drop_table("gallery_version")
    with op.batch_alter_table("attendance_events") as batch:
        batch.drop_column("station")
