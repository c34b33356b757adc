"""Engine and session factory."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.dialects import registry
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

registry.register("sqlite.loop", "storage.sqlite_loop", "LoopSQLiteDialect")


def create_engine(database_url: str) -> AsyncEngine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        # `sqlite+aiosqlite://`, the documented form, runs on storage.sqlite_loop.
        engine = create_async_engine(url.set(drivername="sqlite+loop"))
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # A server's connections can drop while pooled: checked at each checkout.
    return create_async_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    # Foreign keys are off by default in SQLite; WAL lets readers and a writer work side
    # by side (the writer waits in storage.sqlite_loop, not in SQLite's busy handler).
    # Only the switch to WAL, once per file, may wait for another process (rarely).
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=0")
    cursor.close()


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


__all__ = ["AsyncEngine", "AsyncSession", "Engine", "create_engine", "create_session_factory"]
