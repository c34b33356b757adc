"""The stand-in's injected faults, seen by a real aiogram Bot over HTTP; the lock holders.

The faults exist so end-to-end tests can show the bot copes with Telegram as it is over
the internet; these tests pin down that each fault looks to aiogram exactly like the
real thing (the exception class it raises, whether the message got through).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.types import Message

from bot.sandbox import Faults, SimUser, TelegramStandIn
from tests.conftest import TOKEN
from tests.faults import hold_postgres_table_lock, hold_sqlite_write_lock
from tests.servers import PostgresServer


class FastCloseSession(AiohttpSession):
    async def close(self) -> None:
        # aiogram waits 250 ms for TLS connections to wind down; the stand-in is plain HTTP.
        if self._session is not None and not self._session.closed:
            await self._session.close()


@pytest.fixture
async def bot(standin: TelegramStandIn) -> AsyncIterator[Bot]:
    session = FastCloseSession(api=TelegramAPIServer.from_base(standin.base_url))
    yield Bot(TOKEN, session=session)
    await session.close()


@pytest.fixture
def anna(standin: TelegramStandIn) -> SimUser:
    return standin.add_user("Anna")


def texts(standin: TelegramStandIn, user: SimUser) -> list[str | None]:
    return [m.text for m in standin.messages(user)]


async def timed(call: Awaitable[object]) -> float:
    """Seconds ``call`` took."""
    start = time.monotonic()
    await call
    return time.monotonic() - start


# --- the object and its defaults ----------------------------------------------------------


async def test_inactive_by_default(standin: TelegramStandIn, bot: Bot, anna: SimUser) -> None:
    assert isinstance(standin.faults, Faults) and not standin.faults.active
    await bot.send_message(anna.id, "hello")
    assert texts(standin, anna) == ["hello"]
    assert standin.requests[-1].injected is None
    assert standin.faults.stats == {}


def test_configure_refuses_impossible_settings() -> None:
    faults = Faults()
    with pytest.raises(ValueError, match="more than 1"):
        faults.configure(error_before={502: 0.6}, error_after={500: 0.6})
    with pytest.raises(ValueError, match="not a server error"):
        faults.configure(error_before={429: 0.1})
    with pytest.raises(ValueError, match="between 0 and 1"):
        faults.configure(too_many=1.5)
    with pytest.raises(ValueError, match="one outcome"):
        faults.once("sendMessage", error_before=502, disconnect_after=True)
    with pytest.raises(ValueError, match="needs a fault"):
        faults.once("sendMessage")
    assert not faults.active


# --- each kind of fault, as aiogram sees it ----------------------------------------------


async def test_error_before_is_not_executed(
    standin: TelegramStandIn, bot: Bot, anna: SimUser
) -> None:
    standin.faults.once("sendMessage", error_before=502)
    with pytest.raises(TelegramServerError, match="Bad Gateway"):
        await bot.send_message(anna.id, "lost")
    assert texts(standin, anna) == []
    assert (standin.requests[-1].status, standin.requests[-1].injected) == (502, "error_before:502")
    await bot.send_message(anna.id, "again")
    assert texts(standin, anna) == ["again"]
    assert standin.invalid_requests == []
    assert standin.faults.stats == {"error_before:502": 1}


async def test_error_after_is_executed_and_still_raises(
    standin: TelegramStandIn, bot: Bot, anna: SimUser
) -> None:
    standin.faults.once("sendMessage", error_after=500)
    with pytest.raises(TelegramServerError, match="Internal Server Error"):
        await bot.send_message(anna.id, "delivered anyway")
    assert texts(standin, anna) == ["delivered anyway"]
    assert standin.requests[-1].injected == "error_after:500"
    assert standin.invalid_requests == []


@pytest.mark.parametrize(
    ("status", "description"),
    [
        (500, "Internal Server Error"),
        (502, "Bad Gateway"),
        (503, "Service Unavailable"),
        (504, "Gateway Timeout"),
    ],
)
async def test_error_payloads_are_worded_like_telegram(
    standin: TelegramStandIn, anna: SimUser, status: int, description: str
) -> None:
    standin.faults.once("sendMessage", error_before=status)
    url = f"{standin.base_url}/bot{TOKEN}/sendMessage"
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, json={"chat_id": anna.id, "text": "x"}) as response,
    ):
        assert response.status == status
        assert await response.json() == {
            "ok": False,
            "error_code": status,
            "description": description,
        }


async def test_too_many_is_a_retry_after_and_keeps_wait_idle_waiting(
    standin: TelegramStandIn, bot: Bot, anna: SimUser
) -> None:
    standin.faults.once("sendMessage", too_many=True, retry_after=1)
    with pytest.raises(TelegramRetryAfter) as raised:
        await bot.send_message(anna.id, "refused")
    assert raised.value.retry_after == 1
    assert "Too Many Requests: retry after 1" in raised.value.message
    assert texts(standin, anna) == []
    assert standin.too_many_requests == 1
    # The bot may be sleeping before its retry: not idle until retry_after has passed.
    assert await timed(standin.wait_idle(quiet=0.05)) >= 0.9
    assert standin.invalid_requests == []
    assert standin.faults.stats == {"too_many": 1}


async def test_random_too_many_uses_the_configured_retry_after(
    standin: TelegramStandIn, bot: Bot, anna: SimUser
) -> None:
    standin.faults.configure(too_many=1.0, retry_after=2)
    with pytest.raises(TelegramRetryAfter) as raised:
        await bot.send_message(anna.id, "refused")
    assert raised.value.retry_after == 2


async def test_latency_delays_each_call_without_serialising_them(
    standin: TelegramStandIn, bot: Bot, anna: SimUser
) -> None:
    standin.faults.configure(latency=0.2)
    assert await timed(bot.send_message(anna.id, "slow")) >= 0.2
    # getMe is spared by default: it is how a bot starts up.
    assert await timed(bot.get_me()) < 0.15
    # Five calls at once take one latency, not five: each request sleeps on its own.
    sends = asyncio.gather(*(bot.send_message(anna.id, f"#{i}") for i in range(5)))
    assert await timed(sends) < 0.6
    assert standin.faults.stats == {"latency": 6}
    assert all(r.injected is None for r in standin.requests)
    assert standin.invalid_requests == []


async def test_a_delayed_call_counts_as_in_flight(
    standin: TelegramStandIn, bot: Bot, anna: SimUser
) -> None:
    standin.faults.configure(latency=0.5)
    send = asyncio.create_task(bot.send_message(anna.id, "slow"))
    await standin.wait_for(lambda: standin.requests)
    await standin.wait_idle(quiet=0.1)
    assert send.done() and texts(standin, anna) == ["slow"]
    await send


async def test_hang_delays_the_call_then_serves_it(
    standin: TelegramStandIn, bot: Bot, anna: SimUser
) -> None:
    standin.faults.configure(hang=1.0, hang_seconds=0.3)
    assert await timed(bot.send_message(anna.id, "late")) >= 0.3
    assert texts(standin, anna) == ["late"]
    assert standin.requests[-1].injected == "hang"
    assert standin.faults.stats == {"hang": 1}


async def test_a_client_that_gives_up_on_a_hang_leaves_nothing_delivered(
    standin: TelegramStandIn, bot: Bot, anna: SimUser
) -> None:
    standin.faults.once("sendMessage", hang=2.0)
    with pytest.raises(TelegramNetworkError, match="timeout"):
        await bot.send_message(anna.id, "never", request_timeout=0.2)
    # The stand-in's handler is cancelled when the client hangs up.
    await standin.wait_idle(quiet=0.1, timeout=2)
    assert texts(standin, anna) == []
    assert standin.requests[-1].status is None
    assert standin.invalid_requests == []


@pytest.mark.parametrize(
    ("kind", "delivered"), [("disconnect_before", []), ("disconnect_after", ["maybe"])]
)
async def test_dropped_connection_is_a_network_error(
    standin: TelegramStandIn, bot: Bot, anna: SimUser, kind: str, delivered: list[str]
) -> None:
    standin.faults.once("sendMessage", **{kind: True})  # type: ignore[arg-type]
    start = time.monotonic()
    with pytest.raises(TelegramNetworkError, match="Server disconnected"):
        await bot.send_message(anna.id, "maybe")
    assert time.monotonic() - start < 1.0
    assert texts(standin, anna) == delivered
    assert (standin.requests[-1].status, standin.requests[-1].injected) == (None, kind)
    await bot.send_message(anna.id, "next")  # the session recovers on a new connection
    assert texts(standin, anna) == [*delivered, "next"]
    assert standin.invalid_requests == []
    assert standin.faults.stats == {kind: 1}


# --- choosing the calls ------------------------------------------------------------------


async def test_once_matches_by_method_and_chat_in_order(
    standin: TelegramStandIn, bot: Bot, anna: SimUser
) -> None:
    bob = standin.add_user("Bob")
    standin.faults.once("sendMessage", chat_id=bob.id, error_before=503)
    standin.faults.once("sendMessage", chat_id=bob.id, error_before=504)
    standin.faults.once("sendChatAction", error_before=500)
    await bot.send_message(anna.id, "to Anna")  # another chat: untouched
    with pytest.raises(TelegramServerError, match="Service Unavailable"):
        await bot.send_message(bob.id, "one")
    with pytest.raises(TelegramServerError, match="Gateway Timeout"):
        await bot.send_message(bob.id, "two")
    await bot.send_message(bob.id, "three")
    with pytest.raises(TelegramServerError):
        await bot.send_chat_action(anna.id, "typing")
    assert texts(standin, anna) == ["to Anna"]
    assert texts(standin, bob) == ["three"]
    assert not standin.faults.active
    assert standin.invalid_requests == []


async def test_a_genuine_error_beats_an_error_after(
    standin: TelegramStandIn, bot: Bot, anna: SimUser
) -> None:
    standin.faults.once("sendMessage", error_after=500)
    with pytest.raises(Exception, match="chat not found"):
        await bot.send_message(42, "nobody")
    assert [(r.status, r.description) for r in standin.invalid_requests] == [
        (400, "Bad Request: chat not found")
    ]
    assert standin.requests[-1].injected is None
    assert standin.faults.stats == {}


async def test_methods_filter(standin: TelegramStandIn, bot: Bot, anna: SimUser) -> None:
    standin.faults.configure(error_before={502: 1.0})
    await bot.get_me()  # spared by default
    await bot.get_updates(timeout=0)
    with pytest.raises(TelegramServerError):
        await bot.send_chat_action(anna.id, "typing")
    standin.faults.configure(error_before={502: 1.0}, methods={"getMe"})
    await bot.send_message(anna.id, "fine")
    with pytest.raises(TelegramServerError):
        await bot.get_me()
    standin.faults.clear()
    await bot.get_me()
    assert standin.faults.stats == {"error_before:502": 2}
    assert standin.invalid_requests == []


async def test_polling_survives_random_faults_on_sends(
    standin: TelegramStandIn, bot: Bot, anna: SimUser
) -> None:
    """getUpdates is spared, so a polling bot still gets every update."""
    standin.faults.configure(error_before={502: 0.5}, seed=1)
    router = Router()

    @router.message()
    async def echo(message: Message) -> None:
        for _attempt in range(20):
            try:
                await message.answer(f"echo {message.text}")
                return
            except TelegramServerError:
                continue

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    polling = asyncio.create_task(
        dispatcher.start_polling(bot, handle_signals=False, polling_timeout=1)
    )
    try:
        await standin.wait_for(lambda: standin.is_long_polling)
        for i in range(5):
            standin.send_text(anna, str(i))
        await standin.wait_idle(quiet=0.1)
    finally:
        await dispatcher.stop_polling()
        await polling
    assert sorted(texts(standin, anna)) == [f"echo {i}" for i in range(5)]
    assert standin.faults.stats["error_before:502"] > 0
    assert standin.invalid_requests == []


async def test_seeded_faults_repeat_and_are_counted(
    standin: TelegramStandIn, bot: Bot, anna: SimUser
) -> None:
    async def run() -> list[str | None]:
        standin.faults.configure(
            error_before={502: 0.2}, error_after={500: 0.2}, too_many=0.2, seed=42
        )
        start = len(standin.requests)
        for i in range(30):
            try:
                await bot.send_message(anna.id, str(i))
            except (TelegramServerError, TelegramRetryAfter):
                pass
        return [r.injected for r in standin.requests[start:]]

    first = await run()
    second = await run()
    assert first == second
    stats = standin.faults.stats
    assert set(stats) == {"error_before:502", "error_after:500", "too_many"}
    assert stats.total() == 2 * sum(label is not None for label in first)
    assert standin.too_many_requests == stats["too_many"]
    delivered = 60 - stats["error_before:502"] - stats["too_many"]
    assert len(standin.messages(anna)) == delivered
    standin.faults.clear()
    await bot.send_message(anna.id, "calm")
    assert standin.requests[-1].injected is None
    assert standin.invalid_requests == []


# --- database locks held by another process -----------------------------------------------


async def test_hold_sqlite_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    with sqlite3.connect(path) as setup:
        setup.execute("CREATE TABLE t (x INTEGER)")
    setup.close()
    holder = await hold_sqlite_write_lock(path, 0.5)
    writer = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        writer.execute("PRAGMA busy_timeout = 0")
        start = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            writer.execute("INSERT INTO t VALUES (1)")
        assert time.monotonic() - start < 0.2
        assert writer.execute("SELECT count(*) FROM t").fetchone() == (0,)  # reads still work
        assert await asyncio.wait_for(holder.wait(), 5) == 0
        writer.execute("INSERT INTO t VALUES (2)")
        assert writer.execute("SELECT x FROM t").fetchall() == [(2,)]
    finally:
        writer.close()


async def test_hold_postgres_table_lock(postgres_server: PostgresServer) -> None:
    url = postgres_server.create_database()
    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("CREATE TABLE t (x INTEGER)")
        holder = await hold_postgres_table_lock(url, "t", 0.5)
        await connection.execute("SET lock_timeout = '100ms'")
        with pytest.raises(asyncpg.LockNotAvailableError):
            await connection.execute("INSERT INTO t VALUES (1)")
        assert await connection.fetchval("SELECT count(*) FROM t") == 0  # reads still work
        assert await asyncio.wait_for(holder.wait(), 5) == 0
        await connection.execute("INSERT INTO t VALUES (2)")
        assert await connection.fetchval("SELECT x FROM t") == 2
    finally:
        await connection.close()
        postgres_server.drop_database(url)
