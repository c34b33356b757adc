"""SQLite driven from the event loop's own thread, with this process's writers queued.

aiosqlite hands every statement to a worker thread and back: for the sub-millisecond
statements of a bot that round trip costs more CPU than the statement itself. SQLite
reads from a local file are fast enough to run where the loop runs; what must not run
there is waiting, so this dialect never lets SQLite wait:

- A transaction that writes first takes this process's write lock (an asyncio lock per
  database file): writers of the same process queue in order, instead of polling
  SQLite's single write lock in its busy handler, which sleeps and leaves the lock
  idle between holders.
- Another process's writer (a second bot, `civicbot db upgrade`) is waited for here,
  with asyncio sleeps, up to BUSY_SECONDS; then "database is locked" is raised, as
  SQLite's own busy timeout would, and the update path retries.
- The commit, which waits for the disk (fsync), runs in a thread.

Selected by storage.database.create_engine for every sqlite URL.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import weakref
from typing import Any

from sqlalchemy import pool
from sqlalchemy.dialects.sqlite.base import SQLiteExecutionContext
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine.url import URL
from sqlalchemy.util import await_only

BUSY_SECONDS = 5.0
_FIRST_PAUSE = 0.001
_LONGEST_PAUSE = 0.05
# Statements that only read take no write lock (in WAL mode they never wait either).
_READS = ("SELECT", "PRAGMA", "EXPLAIN")

_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


class LoopCursor(sqlite3.Cursor):
    async def _async_soft_close(self) -> None:
        """SQLAlchemy's async results call this; rows are read as they are fetched."""


class LoopConnection(sqlite3.Connection):
    """A sqlite3 connection that knows whether it holds its process's write lock."""

    database: str = ""
    write_lock: asyncio.Lock | None = None

    def cursor(self, factory: Any = LoopCursor) -> Any:
        return super().cursor(factory)


def _write_lock(database: str) -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    return _locks.setdefault(loop, {}).setdefault(database, asyncio.Lock())


def _is_busy(error: sqlite3.OperationalError) -> bool:
    # The primary code: SQLITE_BUSY_RECOVERY and _SNAPSHOT are busy too.
    return (getattr(error, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_BUSY


class LoopExecutionContext(SQLiteExecutionContext):
    def create_server_side_cursor(self) -> Any:
        # sqlite3 steps through a result as it is fetched: every cursor streams.
        return self._dbapi_connection.cursor()


class LoopSQLiteDialect(SQLiteDialect_pysqlite):
    driver = "loop"
    is_async = True
    supports_statement_cache = True
    supports_server_side_cursors = True
    execution_ctx_cls = LoopExecutionContext

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        return pool.AsyncAdaptedQueuePool if cls._is_url_file_db(url) else pool.StaticPool

    def create_connect_args(self, url: URL) -> Any:
        args, options = super().create_connect_args(url)
        # All waiting is done here, never inside SQLite (see the module's docstring).
        options.update(factory=LoopConnection, timeout=0, check_same_thread=False)
        return args, options

    def on_connect(self) -> Any:
        setup = super().on_connect()

        def connect(connection: LoopConnection) -> None:
            connection.database = connection.execute("PRAGMA database_list").fetchone()[2]
            if setup is not None:
                setup(connection)

        return connect

    # -- statements ---------------------------------------------------------------------

    def do_execute(self, cursor: Any, statement: str, parameters: Any, context: Any = None):
        self._without_waiting(cursor, cursor.execute, statement, parameters)

    def do_executemany(self, cursor: Any, statement: str, parameters: Any, context: Any = None):
        self._without_waiting(cursor, cursor.executemany, statement, parameters)

    def do_execute_no_params(self, cursor: Any, statement: str, context: Any = None):
        self._without_waiting(cursor, cursor.execute, statement)

    def _without_waiting(self, cursor: Any, run: Any, *arguments: Any) -> None:
        # SQLAlchemy's AsyncConnection checks that a statement awaited something.
        await_only(_nothing())
        connection: LoopConnection = cursor.connection
        if connection.in_transaction:  # the write lock is ours already
            run(*arguments)
            return
        deadline = time.monotonic() + BUSY_SECONDS
        if not arguments[0].lstrip()[:7].upper().startswith(_READS):
            self._take_write_lock(connection, deadline)
        pause = _FIRST_PAUSE
        while True:
            try:
                run(*arguments)
                return
            except sqlite3.OperationalError as error:
                # Another process writes: nothing of this statement happened yet.
                if not _is_busy(error) or time.monotonic() + pause > deadline:
                    raise
            await_only(asyncio.sleep(pause))
            pause = min(pause * 2, _LONGEST_PAUSE)

    def _take_write_lock(self, connection: LoopConnection, deadline: float) -> None:
        if connection.write_lock is not None:
            return
        lock = _write_lock(connection.database)
        try:
            await_only(asyncio.wait_for(lock.acquire(), max(deadline - time.monotonic(), 0)))
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None
        connection.write_lock = lock

    # -- the end of a transaction -------------------------------------------------------

    def do_commit(self, dbapi_connection: Any) -> None:
        try:
            if dbapi_connection.in_transaction:
                await_only(asyncio.to_thread(dbapi_connection.commit))
        finally:
            _release(dbapi_connection)

    def do_rollback(self, dbapi_connection: Any) -> None:
        try:
            dbapi_connection.rollback()
        finally:
            _release(dbapi_connection)

    def do_close(self, dbapi_connection: Any) -> None:
        try:
            dbapi_connection.close()
        finally:
            _release(dbapi_connection)


async def _nothing() -> None:
    """Returns at once, without giving the loop a turn."""


def _release(connection: Any) -> None:
    # SQLAlchemy may hand over its proxy of the connection.
    connection = getattr(connection, "dbapi_connection", connection)
    lock, connection.write_lock = connection.write_lock, None
    if lock is not None and lock.locked():
        lock.release()


dialect = LoopSQLiteDialect
