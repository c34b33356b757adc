"""submissions and conversation state

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 14:44:24.086600
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversation_state",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=200), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_conversation_state")),
    )
    op.create_table(
        "submission",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_number", sa.String(length=20), nullable=True),
        sa.Column("draft_key", sa.String(length=40), nullable=False),
        sa.Column("consultation_id", sa.Integer(), nullable=True),
        sa.Column("section_id", sa.Integer(), nullable=True),
        sa.Column("section_number", sa.String(length=20), nullable=True),
        sa.Column("resident_id", sa.Integer(), nullable=True),
        sa.Column(
            "kind",
            sa.Enum("proposal", "question", name="submissionkind", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("text_digest", sa.String(length=64), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("author_name", sa.String(length=200), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "received",
                "answered",
                "accepted",
                "partly_accepted",
                "rejected",
                "spam",
                name="submissionstatus",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_by", sa.String(length=200), nullable=True),
        sa.Column("answered_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["consultation_id"],
            ["consultation.id"],
            name=op.f("fk_submission_consultation_id_consultation"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["resident.id"],
            name=op.f("fk_submission_resident_id_resident"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["section_id"],
            ["section.id"],
            name=op.f("fk_submission_section_id_section"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submission")),
        sa.UniqueConstraint("draft_key", name=op.f("uq_submission_draft_key")),
        sa.UniqueConstraint("public_number", name=op.f("uq_submission_public_number")),
    )
    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_submission_consultation_id"), ["consultation_id"], unique=False
        )
        batch_op.create_index(
            "ix_submission_resident_created", ["resident_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.drop_index("ix_submission_resident_created")
        batch_op.drop_index(batch_op.f("ix_submission_consultation_id"))

    op.drop_table("submission")
    op.drop_table("conversation_state")
