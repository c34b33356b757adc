"""privacy: restrictions that outlive erasure, anonymised submissions

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "restriction",
        sa.Column("pseudonym", sa.String(length=64), nullable=False),
        sa.Column("banned", sa.Boolean(), nullable=False),
        sa.Column("recent_submissions", sa.JSON(), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", storage.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("pseudonym", name=op.f("pk_restriction")),
    )
    op.create_index(op.f("ix_restriction_expires_at"), "restriction", ["expires_at"], unique=False)
    with op.batch_alter_table("submission") as batch_op:
        batch_op.add_column(sa.Column("anonymised_at", storage.types.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("submission") as batch_op:
        batch_op.drop_column("anonymised_at")
    op.drop_index(op.f("ix_restriction_expires_at"), table_name="restriction")
    op.drop_table("restriction")
