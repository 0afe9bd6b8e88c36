"""Initial schema: people, face samples, embeddings, centroids, attendance sessions and events.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Times are naive UTC in the database (see db/schema.py). Must match db/schema.py exactly; a unit test checks.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create every table."""
    op.create_table(
        "people",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_people"),
        sa.UniqueConstraint("external_id", name="uq_people_external_id"),
    )
    op.create_table(
        "face_samples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("image", sa.LargeBinary(), nullable=False),
        sa.Column("landmarks", sa.JSON(), nullable=False),
        sa.Column("landmark_scheme", sa.String(length=50), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("quality", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name="fk_face_samples_person_id_people", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_face_samples"),
    )
    op.create_index("ix_face_samples_person_id", "face_samples", ["person_id"])
    op.create_table(
        "embeddings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sample_id", sa.Integer(), nullable=False),
        sa.Column("backend", sa.String(length=50), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sample_id"], ["face_samples.id"], name="fk_embeddings_sample_id_face_samples", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_embeddings"),
        sa.UniqueConstraint("sample_id", "backend", name="uq_embeddings_sample_id_backend"),
    )
    op.create_index("ix_embeddings_backend", "embeddings", ["backend"])
    op.create_table(
        "centroids",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("backend", sa.String(length=50), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("n_samples", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name="fk_centroids_person_id_people", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("person_id", "backend", name="pk_centroids"),
    )
    op.create_table(
        "attendance_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("late_after", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_attendance_sessions"),
        sa.UniqueConstraint("name", name="uq_attendance_sessions_name"),
    )
    op.create_table(
        "attendance_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("person_name", sa.String(length=200), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=True),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.Column("source", sa.String(length=50), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("backend", sa.String(length=50), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name="fk_attendance_events_person_id_people", ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["attendance_sessions.id"],
            name="fk_attendance_events_session_id_attendance_sessions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_attendance_events"),
    )
    op.create_index(
        "ix_attendance_events_session_id_person_id", "attendance_events", ["session_id", "person_id"]
    )
    op.create_index("ix_attendance_events_time", "attendance_events", ["time"])


def downgrade() -> None:
    """Drop every table (loses all data; only for development)."""
    op.drop_table("attendance_events")
    op.drop_table("attendance_sessions")
    op.drop_table("centroids")
    op.drop_table("embeddings")
    op.drop_table("face_samples")
    op.drop_table("people")
