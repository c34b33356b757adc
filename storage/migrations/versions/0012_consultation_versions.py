"""consultation versions

A consultation counts its versions (a new document raises it) and keeps the reason
staff gave for a consultation period shorter than the law's 30 days. A section the new
version dropped stays, marked with the version that removed it, so the submissions on
it keep their section. Staff actions on a consultation (publish, schedule, extend,
close, withdraw, replace) name it in the audit log.

`consultation` and `section` get their columns by a plain ALTER TABLE: SQLite's batch
mode would rebuild them and drop the content-version triggers (0008).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "consultation", sa.Column("version", sa.Integer(), nullable=False, server_default="1")
    )
    op.add_column(
        "consultation",
        sa.Column("short_period_reason", sa.JSON(), nullable=False, server_default="{}"),
    )
    op.add_column("section", sa.Column("removed_in_version", sa.Integer(), nullable=True))
    with op.batch_alter_table("staff_action") as batch_op:
        batch_op.add_column(sa.Column("consultation_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_staff_action_consultation_id"), ["consultation_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_staff_action_consultation_id_consultation"),
            "consultation",
            ["consultation_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("staff_action") as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_staff_action_consultation_id_consultation"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_staff_action_consultation_id"))
        batch_op.drop_column("consultation_id")
    # SQLite drops a column in place (3.35 and later): the triggers stay.
    op.drop_column("section", "removed_in_version")
    op.drop_column("consultation", "short_period_reason")
    op.drop_column("consultation", "version")
