"""Database faults for end-to-end tests: another process holding a lock the bot needs.

A lock held by a different process (a backup, an admin's console, a second bot
instance) is what the bot meets in production; holding it from a thread of the test
process would share the GIL and, for SQLite, possibly the same connection pool, and so
prove less. The Telegram side's faults live in :mod:`bot.sandbox.faults`.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.processes import _started

# Seconds to wait for the helper process to report that it holds the lock.
LOCK_START_SECONDS = 15.0

_SQLITE_HOLDER = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
connection.execute("COMMIT")
connection.close()
"""

_POSTGRES_HOLDER = """
import asyncio, sys
import asyncpg

async def main():
    connection = await asyncpg.connect(sys.argv[1])
    try:
        async with connection.transaction():
            await connection.execute(f"LOCK TABLE {sys.argv[2]} IN EXCLUSIVE MODE")
            print("locked", flush=True)
            await asyncio.sleep(float(sys.argv[3]))
    finally:
        await connection.close()

asyncio.run(main())
"""


async def hold_sqlite_write_lock(db_path: Path, seconds: float) -> asyncio.subprocess.Process:
    """Start a process that holds ``db_path``'s write lock (``BEGIN IMMEDIATE``) for
    ``seconds``, then commits and exits; return once the lock is held.

    Readers still read meanwhile (as with any SQLite writer); writers wait for their
    busy timeout and then fail with "database is locked". Await ``process.wait()`` to
    know the lock is released.
    """
    return await _start_holder(_SQLITE_HOLDER, str(db_path), str(seconds))


async def hold_postgres_table_lock(
    database_url: str, table: str, seconds: float
) -> asyncio.subprocess.Process:
    """Start a process that holds ``LOCK TABLE <table> IN EXCLUSIVE MODE`` for ``seconds``
    (inside a transaction, then commits and exits); return once the lock is held.

    EXCLUSIVE mode lets others read the table but blocks every write to it (and
    ``SELECT ... FOR UPDATE``). ``database_url`` may be SQLAlchemy's
    ``postgresql+asyncpg://`` form. ``table`` is used as given (quote it if needed).
    """
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    return await _start_holder(_POSTGRES_HOLDER, dsn, table, str(seconds))


async def _start_holder(script: str, *args: str) -> asyncio.subprocess.Process:
    """Run ``script`` in a new interpreter and wait for its "locked" line."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    # The autouse fixture of tests.processes kills it if the test fails before it ends.
    _started.append(process)
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), LOCK_START_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    if line.strip() != b"locked":
        await process.wait()
        assert process.stderr is not None
        error = (await process.stderr.read()).decode(errors="replace")
        raise RuntimeError(f"the lock-holding process failed to take the lock:\n{error}")
    return process
