"""staff review

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 14:53:22.215228
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_action",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=True),
        sa.Column("actor_telegram_id", sa.BigInteger(), nullable=False),
        sa.Column("actor_name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "answer",
                "decide",
                "spam",
                "block",
                "refused",
                name="staffactionkind",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submission.id"],
            name=op.f("fk_staff_action_submission_id_submission"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_action")),
    )
    with op.batch_alter_table("staff_action", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_staff_action_submission_id"), ["submission_id"], unique=False
        )

    with op.batch_alter_table("consultation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("staff_topic_id", sa.BigInteger(), nullable=True))

    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.add_column(sa.Column("staff_chat_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("staff_message_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.drop_column("staff_message_id")
        batch_op.drop_column("staff_chat_id")

    with op.batch_alter_table("consultation", schema=None) as batch_op:
        batch_op.drop_column("staff_topic_id")

    with op.batch_alter_table("staff_action", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_action_submission_id"))

    op.drop_table("staff_action")
