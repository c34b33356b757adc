"""Engine and session factory."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def create_engine(database_url: str) -> AsyncEngine:
    # A server's connections can drop while pooled: checked at each checkout. A SQLite
    # file's cannot, and the check would cost a statement per session.
    is_sqlite = database_url.startswith("sqlite")
    engine = create_async_engine(database_url, pool_pre_ping=not is_sqlite)
    if is_sqlite:
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    # Foreign keys are off by default in SQLite; WAL lets the reader of a long poll
    # and a writer work side by side; busy_timeout waits for a lock instead of failing.
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


__all__ = ["AsyncEngine", "AsyncSession", "Engine", "create_engine", "create_session_factory"]
