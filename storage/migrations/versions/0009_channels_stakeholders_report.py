"""channels, stakeholders, the report's life

Submissions record how they reached the municipality (the bot, e-mail, a letter, the
phone, a public meeting), when, who registered one that did not come through the bot,
and on whose behalf they speak. `consultation_report` holds the review's closing and
the report's preparation, approval and publication.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNELS = ("telegram", "email", "letter", "phone", "meeting")
STAKEHOLDERS = ("individual", "business", "education", "public_body", "ngo")


def upgrade() -> None:
    with op.batch_alter_table("submission") as batch_op:
        batch_op.add_column(
            sa.Column(
                "stakeholder",
                sa.Enum(*STAKEHOLDERS, name="stakeholderkind", native_enum=False, length=20),
                nullable=False,
                server_default="individual",
            )
        )
        batch_op.add_column(sa.Column("organisation_name", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column(
                "channel",
                sa.Enum(*CHANNELS, name="submissionchannel", native_enum=False, length=20),
                nullable=False,
                server_default="telegram",
            )
        )
        batch_op.add_column(sa.Column("received_at", storage.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("registered_by", sa.String(length=200), nullable=True))
    op.execute("UPDATE submission SET received_at = created_at")
    # SQLite recreates the table for this: ids must stay never reused (AUTOINCREMENT).
    with op.batch_alter_table(
        "submission", table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.alter_column(
            "received_at", existing_type=storage.types.UTCDateTime(), nullable=False
        )
    op.create_table(
        "consultation_report",
        sa.Column("consultation_id", sa.Integer(), nullable=False),
        sa.Column("review_closed_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("review_closed_by", sa.String(length=200), nullable=True),
        sa.Column("prepared_by", sa.String(length=200), nullable=True),
        sa.Column("approved_by", sa.String(length=200), nullable=True),
        sa.Column("approved_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("published_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("published_by", sa.String(length=200), nullable=True),
        sa.Column("updated_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["consultation_id"],
            ["consultation.id"],
            name=op.f("fk_consultation_report_consultation_id_consultation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("consultation_id", name=op.f("pk_consultation_report")),
    )


def downgrade() -> None:
    op.drop_table("consultation_report")
    with op.batch_alter_table(
        "submission", table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        for column in (
            "registered_by",
            "received_at",
            "channel",
            "organisation_name",
            "stakeholder",
        ):
            batch_op.drop_column(column)
