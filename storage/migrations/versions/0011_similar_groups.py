"""similar groups

Each proposal's group of near-duplicates, decided when it arrived and kept, and whether
staff took it out of its group ("not similar").

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "similar_member",
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("apart", sa.Boolean(), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submission.id"],
            name=op.f("fk_similar_member_submission_id_submission"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("submission_id", name=op.f("pk_similar_member")),
    )
    with op.batch_alter_table("similar_member") as batch_op:
        batch_op.create_index(batch_op.f("ix_similar_member_group_id"), ["group_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("similar_member") as batch_op:
        batch_op.drop_index(batch_op.f("ix_similar_member_group_id"))
    op.drop_table("similar_member")
