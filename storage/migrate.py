"""Applying Alembic migrations from code (the CLI and start-up use this)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")


def alembic_config(database_url: str) -> Config:
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database up to `revision`."""
    await _migrate(engine, command.upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    """Take the database back to `revision` (for an administrator undoing an upgrade)."""
    await _migrate(engine, command.downgrade, revision)


async def _migrate(engine: AsyncEngine, step: Callable[[Config, str], None], revision: str) -> None:
    def run(connection: object) -> None:
        config = alembic_config(str(engine.url))
        config.attributes["connection"] = connection
        step(config, revision)

    async with engine.connect() as connection, foreign_keys_paused(connection):
        await connection.run_sync(run)
        await connection.commit()


@asynccontextmanager
async def foreign_keys_paused(connection: AsyncConnection) -> AsyncIterator[None]:
    """SQLite alters a table by copying it and dropping the old one; with foreign keys on,
    that drop would empty or null every reference to it (submissions would lose their
    resident). So they are off during migrations, and checked once they are done."""
    if connection.dialect.name != "sqlite":
        yield
        return
    await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    try:
        yield
        broken = (await connection.exec_driver_sql("PRAGMA foreign_key_check")).all()
        if broken:
            raise RuntimeError(f"migration left broken references: {broken[:5]}")
    finally:
        await connection.exec_driver_sql("PRAGMA foreign_keys=ON")


async def current_revision(engine: AsyncEngine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
