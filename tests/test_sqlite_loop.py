"""SQLite on the event loop's thread (storage/sqlite_loop.py): writers of one process
queue in order, a lock held by another process is waited for without stopping the
loop, and given up after BUSY_SECONDS with the error the update path retries."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from storage import sqlite_loop
from storage.database import create_engine
from tests.faults import hold_sqlite_write_lock


@pytest.fixture
async def engine(tmp_path: Path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'loop.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE tally (writer INTEGER, n INTEGER)"))
    yield engine
    await engine.dispose()


async def test_writers_of_one_process_take_turns_and_none_fails(engine) -> None:
    async def write(writer: int) -> None:
        for n in range(20):
            async with engine.begin() as connection:
                await connection.execute(
                    text("INSERT INTO tally VALUES (:writer, :n)"), {"writer": writer, "n": n}
                )
                await asyncio.sleep(0)  # others run meanwhile; the transaction stays open
                await connection.execute(
                    text("UPDATE tally SET n = n + 100 WHERE writer = :writer AND n = :n"),
                    {"writer": writer, "n": n},
                )

    await asyncio.gather(*(write(writer) for writer in range(12)))
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT count(*), min(n) FROM tally"))).one()
    assert tuple(rows) == (240, 100)


async def test_a_foreign_lock_is_waited_for_while_the_loop_goes_on(engine, tmp_path) -> None:
    holder = await hold_sqlite_write_lock(tmp_path / "loop.db", 1.5)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while holder.returncode is None:
            ticks += 1
            await asyncio.sleep(0.01)

    async def write() -> float:
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO tally VALUES (1, 1)"))
        return time.monotonic()

    async def read() -> int:
        async with engine.connect() as connection:
            return (await connection.execute(text("SELECT count(*) FROM tally"))).scalar_one()

    ticking = asyncio.create_task(tick())
    started = time.monotonic()
    written_at, read_count = await asyncio.gather(write(), read())
    await holder.wait()
    await ticking
    assert read_count == 0  # a reader is never kept waiting by the writer
    assert written_at - started >= 1.0  # the insert waited for the other process
    assert ticks >= 50  # and the loop ran everything else meanwhile


async def test_a_lock_held_too_long_is_the_error_the_update_path_retries(
    engine, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_loop, "BUSY_SECONDS", 0.3)
    holder = await hold_sqlite_write_lock(tmp_path / "loop.db", 2)
    try:
        with pytest.raises(OperationalError, match="locked"):
            async with engine.begin() as connection:
                await connection.execute(text("INSERT INTO tally VALUES (1, 1)"))
    finally:
        await holder.wait()
    async with engine.begin() as connection:  # the lock of this process was given back
        await connection.execute(text("INSERT INTO tally VALUES (1, 2)"))
