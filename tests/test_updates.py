"""The update path's own rules (bot/updates.py): an update acts in its first transaction
that writes, which records it; one that only reads leaves nothing; a second delivery of
an update that acted is refused; and no transaction is open while the bot waits for
Telegram."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.sandbox import TelegramStandIn
from bot.updates import AlreadyActed, UpdateUnit, bind_session, is_transient
from storage.database import create_engine, create_session_factory
from storage.models import ProcessedUpdate, Resident
from tests.conftest import Chat, RunningBot, migrate


@pytest.fixture
async def factory(database_url: str):
    await migrate(database_url)
    engine = create_engine(database_url)
    yield create_session_factory(engine)
    await engine.dispose()


async def marks(factory) -> list[int]:
    async with factory() as session:
        return list(await session.scalars(select(ProcessedUpdate.update_id)))


async def test_an_update_that_only_reads_leaves_no_mark(factory) -> None:
    unit = UpdateUnit(41)
    async with factory() as session:
        bind_session(session, unit)
        await session.scalar(select(func.count()).select_from(Resident))
        await session.commit()
    assert unit.acted is False
    assert await marks(factory) == []


async def test_the_first_write_is_committed_with_the_mark_and_a_second_delivery_is_refused(
    factory,
) -> None:
    first = UpdateUnit(42)
    async with factory() as session:
        bind_session(session, first)
        session.add(Resident(telegram_user_id=1001))
        await session.commit()
        assert first.acted is True
        session.add(Resident(telegram_user_id=1002))  # later writes: no second mark needed
        await session.commit()
    assert await marks(factory) == [42]

    again = UpdateUnit(42)  # the same update, delivered once more
    async with factory() as session:
        bind_session(session, again)
        session.add(Resident(telegram_user_id=1003))
        with pytest.raises(AlreadyActed):
            await session.commit()
    async with factory() as session:
        ids = set(await session.scalars(select(Resident.telegram_user_id)))
    assert ids == {1001, 1002}
    assert again.acted is False


async def test_transient_failures_are_retried_only_before_the_update_acted() -> None:
    from aiogram.exceptions import TelegramNetworkError
    from aiogram.methods import GetMe
    from sqlalchemy.exc import OperationalError

    locked = OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
    unit = UpdateUnit(7)
    assert is_transient(locked) and unit.will_retry(locked)
    assert unit.will_retry(TelegramNetworkError(GetMe(), "Request timeout error"))
    assert not unit.will_retry(ValueError("a bug"))
    unit.acted = True
    assert not unit.will_retry(locked)  # it changed something: never twice
    last = UpdateUnit(7, attempt=6)
    assert not last.will_retry(locked)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_no_lock_is_held_while_the_bot_waits_for_telegram(
    resident, running_bot: RunningBot, standin: TelegramStandIn, tmp_path: Path
) -> None:
    """Issue 9, observation 3: a write transaction stayed open while the bot waited for
    Telegram, so one slow call made everyone else's updates fail with "database is
    locked". Here the edit after a language change hangs for two seconds: meanwhile the
    change is committed and another process can write at once."""
    chat: Chat = resident("Ana", "en")
    await chat.send("/language")
    standin.faults.once("editMessageText", chat_id=chat.user.id, hang=2.0)
    query = standin.press(chat.user, chat.last, text="Slovenščina")
    await standin.wait_for(lambda: standin.faults.stats["hang"] == 1, 5)
    await asyncio.sleep(0.3)  # well inside the hang

    database = sqlite3.connect(tmp_path / "civicbot.db", timeout=0)
    try:
        database.execute("BEGIN IMMEDIATE")  # a writer elsewhere: must not meet a lock
        language = database.execute(
            "SELECT language FROM resident WHERE telegram_user_id = ?", (chat.user.id,)
        ).fetchone()
        database.rollback()
    finally:
        database.close()
    assert language == ("sl",)
    await standin.wait_callback_answer(query, timeout=10)
    assert (await chat.settled()).text.startswith("Urejeno! Jezik: Slovenščina")
