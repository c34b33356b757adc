"""inbox, outbox, staff prompts; ids never reused

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 18:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OUTBOX_KINDS = ("card", "attachment", "card_refresh", "reply", "screen")
OUTBOX_STATUSES = ("pending", "sending", "sent", "unreachable", "failed", "uncertain")


def upgrade() -> None:
    op.create_table(
        "inbox_update",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", storage.types.UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("update_id", name=op.f("pk_inbox_update")),
    )
    op.create_index(
        op.f("ix_inbox_update_not_before"), "inbox_update", ["not_before"], unique=False
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(*OUTBOX_KINDS, name="outboxkind", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("dedup_key", sa.String(length=80), nullable=True),
        sa.Column(
            "status",
            sa.Enum(*OUTBOX_STATUSES, name="outboxstatus", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("ambiguous_failures", sa.Integer(), nullable=False),
        sa.Column("not_before", storage.types.UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("telegram_message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("sent_at", storage.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submission.id"],
            name=op.f("fk_outbox_submission_id_submission"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_outbox_dedup_key")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_outbox_status_not_before", "outbox", ["status", "not_before"], unique=False)
    op.create_index(op.f("ix_outbox_submission_id"), "outbox", ["submission_id"], unique=False)
    op.create_table(
        "staff_prompt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("act", sa.String(length=20), nullable=False),
        sa.Column("asked_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("closed_at", storage.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submission.id"],
            name=op.f("fk_staff_prompt_submission_id_submission"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_prompt")),
        sa.UniqueConstraint("chat_id", "message_id", name=op.f("uq_staff_prompt_chat_id")),
    )
    op.create_index(
        op.f("ix_staff_prompt_submission_id"), "staff_prompt", ["submission_id"], unique=False
    )
    with op.batch_alter_table("submission") as batch_op:
        batch_op.add_column(sa.Column("reply_status", sa.String(length=20), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        # PostgreSQL's sequences never hand an id out twice; SQLite does unless the table
        # is AUTOINCREMENT, which only a copy of the table can add. (Ids deleted before
        # this upgrade above the highest one left cannot be known any more.)
        for table in ("resident", "submission"):
            with op.batch_alter_table(
                table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
            ):
                pass


def downgrade() -> None:
    with op.batch_alter_table("submission") as batch_op:
        batch_op.drop_column("reply_status")
    op.drop_index(op.f("ix_staff_prompt_submission_id"), table_name="staff_prompt")
    op.drop_table("staff_prompt")
    op.drop_index(op.f("ix_outbox_submission_id"), table_name="outbox")
    op.drop_index("ix_outbox_status_not_before", table_name="outbox")
    op.drop_table("outbox")
    op.drop_index(op.f("ix_inbox_update_not_before"), table_name="inbox_update")
    op.drop_table("inbox_update")
