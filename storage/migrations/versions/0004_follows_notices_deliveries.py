"""follows notices deliveries

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 15:07:10.532984
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lease",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("holder", sa.String(length=100), nullable=False),
        sa.Column("expires_at", storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_lease")),
    )
    op.create_table(
        "follow",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("consultation_id", sa.Integer(), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["consultation_id"],
            ["consultation.id"],
            name=op.f("fk_follow_consultation_id_consultation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["resident.id"],
            name=op.f("fk_follow_resident_id_resident"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow")),
        sa.UniqueConstraint("resident_id", "consultation_id", name=op.f("uq_follow_resident_id")),
    )
    with op.batch_alter_table("follow", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_follow_consultation_id"), ["consultation_id"], unique=False
        )

    op.create_table(
        "notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "opened",
                "deadline",
                "closed",
                "broadcast",
                name="noticekind",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("consultation_id", sa.Integer(), nullable=True),
        sa.Column("offset_key", sa.String(length=20), nullable=False),
        sa.Column(
            "audience",
            sa.Enum(
                "everyone",
                "followers",
                "participants",
                name="audience",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("due_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "planned",
                "sending",
                "done",
                "cancelled",
                "expired",
                name="noticestatus",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("progress_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("progress_message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("finished_at", storage.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["consultation_id"],
            ["consultation.id"],
            name=op.f("fk_notice_consultation_id_consultation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice")),
        sa.UniqueConstraint(
            "consultation_id", "kind", "offset_key", name=op.f("uq_notice_consultation_id")
        ),
    )
    with op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notice_due_at"), ["due_at"], unique=False)

    op.create_table(
        "delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "sending",
                "sent",
                "failed",
                "unreachable",
                name="deliverystatus",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("telegram_message_id", sa.BigInteger(), nullable=True),
        sa.Column("sent_at", storage.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["notice.id"],
            name=op.f("fk_delivery_notice_id_notice"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["resident.id"],
            name=op.f("fk_delivery_resident_id_resident"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery")),
        sa.UniqueConstraint("notice_id", "resident_id", name=op.f("uq_delivery_notice_id")),
    )
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.create_index("ix_delivery_status_notice", ["status", "notice_id"], unique=False)

    with op.batch_alter_table("resident", schema=None) as batch_op:
        # Existing residents follow nothing until they choose to.
        batch_op.add_column(
            sa.Column("follows_all", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("resident", schema=None) as batch_op:
        batch_op.drop_column("follows_all")

    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_status_notice")

    op.drop_table("delivery")
    with op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notice_due_at"))

    op.drop_table("notice")
    with op.batch_alter_table("follow", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_follow_consultation_id"))

    op.drop_table("follow")
    op.drop_table("lease")
