"""content version: a counter every change to consultations or sections moves

Processes keep what residents read in memory (bot/reading.py) and compare this counter
before using it. Triggers move it, so every writer counts, in any process, through any
API (the ORM, Core, `civicbot load`, a hand-written UPDATE).

A later migration that rebuilds `consultation` or `section` with SQLite's batch mode
drops these triggers with the old table: it must create them again (`create_triggers`).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("consultation", "section")
OPERATIONS = ("insert", "update", "delete")


def upgrade() -> None:
    op.create_table(
        "content_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content_version")),
    )
    op.execute("INSERT INTO content_version (id, version) VALUES (1, 0)")
    create_triggers()


def create_triggers() -> None:
    bump = "UPDATE content_version SET version = version + 1 WHERE id = 1"
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION bump_content_version() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {bump}; RETURN NULL; END $$"
        )
    for table in TABLES:
        for operation in OPERATIONS:
            name = f"{table}_{operation}_bumps_content_version"
            if op.get_bind().dialect.name == "postgresql":
                op.execute(
                    f"CREATE TRIGGER {name} AFTER {operation.upper()} ON {table} "
                    "FOR EACH STATEMENT EXECUTE FUNCTION bump_content_version()"
                )
            else:
                op.execute(
                    f"CREATE TRIGGER {name} AFTER {operation.upper()} ON {table} BEGIN {bump}; END"
                )


def downgrade() -> None:
    for table in TABLES:
        for operation in OPERATIONS:
            name = f"{table}_{operation}_bumps_content_version"
            if op.get_bind().dialect.name == "postgresql":
                op.execute(f"DROP TRIGGER {name} ON {table}")
            else:
                op.execute(f"DROP TRIGGER {name}")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION bump_content_version()")
    op.drop_table("content_version")
