"""Face samples remember the sha256 of the photo file they came from, so a photo is never stored twice.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

Existing samples get NULL (their files are not at hand); new photos are checked against the stored hashes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``face_samples.content_sha256`` with an index."""
    with op.batch_alter_table("face_samples") as batch:
        batch.add_column(sa.Column("content_sha256", sa.String(length=64), nullable=True))
        batch.create_index("ix_face_samples_content_sha256", ["content_sha256"], unique=False)


def downgrade() -> None:
    """Drop the column and its index."""
    with op.batch_alter_table("face_samples") as batch:
        batch.drop_index("ix_face_samples_content_sha256")
        batch.drop_column("content_sha256")
