"""The stand-in delivering updates to a webhook, retrying as Telegram does."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import SendMessage
from aiogram.types import Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bot.sandbox import TelegramStandIn, WebhookDelivery
from tests.test_sandbox import TOKEN, FastCloseSession, call

Respond = Callable[[web.Request, dict[str, Any]], Awaitable[web.StreamResponse]]


class Receiver:
    """A webhook endpoint on loopback that records what it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, Any], dict[str, str]]] = []
        self.respond: Respond = self.ok
        self.active = 0
        self.most_active = 0
        self.url = ""
        self._runner: web.AppRunner | None = None

    @staticmethod
    async def ok(request: web.Request, update: dict[str, Any]) -> web.StreamResponse:
        return web.json_response({})

    @property
    def update_ids(self) -> list[int]:
        return [update["update_id"] for update, _ in self.received]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        update = await request.json()
        self.received.append((update, dict(request.headers)))
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            return await self.respond(request, update)
        finally:
            self.active -= 1

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/hook"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def standin() -> AsyncIterator[TelegramStandIn]:
    async with TelegramStandIn(
        TOKEN,
        global_rate=None,
        per_chat_rate=None,
        group_rate_per_minute=None,
        webhook_retry_delay=0.05,
        webhook_max_retry_delay=0.5,
    ) as server:
        yield server


@pytest.fixture
async def bot(standin: TelegramStandIn) -> AsyncIterator[Bot]:
    session = FastCloseSession(api=TelegramAPIServer.from_base(standin.base_url))
    yield Bot(TOKEN, session=session)
    await session.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    endpoint = Receiver()
    await endpoint.start()
    yield endpoint
    await endpoint.stop()


def delivered(standin: TelegramStandIn) -> list[tuple[int, int | str]]:
    return [(d.update_id, d.result) for d in standin.webhook_deliveries]


async def test_updates_are_posted_with_the_secret_token(
    standin: TelegramStandIn, bot: Bot, receiver: Receiver
) -> None:
    anna = standin.add_user("Anna")
    assert await bot.set_webhook(receiver.url, secret_token="s3cret-Token_1", max_connections=7)
    first = standin.send_text(anna, "hello")
    second = standin.send_text(anna, "again")
    await standin.wait_for(lambda: len(receiver.received) == 2)
    await standin.wait_for(lambda: standin.pending_updates == 0)

    assert receiver.update_ids == [first, second]
    update, headers = receiver.received[0]
    assert update["message"]["text"] == "hello"
    assert headers["X-Telegram-Bot-Api-Secret-Token"] == "s3cret-Token_1"
    assert headers["Content-Type"] == "application/json"
    assert update == standin.sent_update(first)
    assert delivered(standin) == [(first, 200), (second, 200)]
    assert all(isinstance(d, WebhookDelivery) and d.ok for d in standin.webhook_deliveries)
    info = await bot.get_webhook_info()
    assert (info.url, info.pending_update_count, info.max_connections) == (receiver.url, 0, 7)
    assert (info.has_custom_certificate, info.ip_address, info.last_error_date) == (
        False,
        "127.0.0.1",
        None,
    )
    with pytest.raises(Exception, match="can't use getUpdates method while webhook is active"):
        await bot.get_updates()
    assert standin.invalid_requests[-1].status == 409


async def test_failed_deliveries_are_retried_with_growing_delays(
    standin: TelegramStandIn, bot: Bot, receiver: Receiver
) -> None:
    anna, ben = standin.add_user("Anna"), standin.add_user("Ben")
    failures = 3

    async def flaky(request: web.Request, update: dict[str, Any]) -> web.StreamResponse:
        nonlocal failures
        if update["message"]["chat"]["id"] == anna.id and failures:
            failures -= 1
            return web.Response(status=500, text="oops")
        return web.json_response({})

    receiver.respond = flaky
    await bot.set_webhook(receiver.url)
    first = standin.send_text(anna, "one")
    second = standin.send_text(anna, "two")
    other = standin.send_text(ben, "unrelated")

    await standin.wait_for(lambda: any(d.result == 500 for d in standin.webhook_deliveries))
    info = await bot.get_webhook_info()
    assert info.pending_update_count >= 2
    assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
    assert info.last_error_date is not None
    assert info.last_error_date.timestamp() >= time.time() - 5
    await standin.wait_idle()

    # Anna's updates wait for each other; Ben's chat is not held up by hers.
    anna_order = [uid for uid in receiver.update_ids if uid != other]
    assert anna_order == [first] * 4 + [second]
    assert receiver.update_ids.index(other) < 3
    attempts = [d for d in standin.webhook_deliveries if d.update_id == first]
    assert [d.result for d in attempts] == [500, 500, 500, 200]
    gaps = [later.time - earlier.time for earlier, later in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.04 and gaps[1] >= 0.09 and gaps[2] >= 0.19
    assert (await bot.get_webhook_info()).pending_update_count == 0


async def test_unreachable_webhook_keeps_updates_until_deleted(
    standin: TelegramStandIn, bot: Bot
) -> None:
    anna = standin.add_user("Anna")
    # A port nobody listens on any more.
    server = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()

    await bot.set_webhook(f"http://127.0.0.1:{port}/hook")
    update_id = standin.send_text(anna, "anyone?")
    await standin.wait_for(lambda: len(standin.webhook_deliveries) >= 2)
    assert set(delivered(standin)) == {(update_id, "Connection refused")}
    info = await bot.get_webhook_info()
    assert (info.pending_update_count, info.last_error_message) == (1, "Connection refused")

    assert await bot.delete_webhook()
    attempts = len(standin.webhook_deliveries)
    (update,) = await bot.get_updates()
    assert update.update_id == update_id
    await asyncio.sleep(0.15)
    assert len(standin.webhook_deliveries) == attempts  # delivery stopped
    info = await bot.get_webhook_info()
    assert (info.url, info.last_error_date) == ("", None)


async def test_a_slow_answer_counts_as_failed_and_the_update_comes_again(
    standin: TelegramStandIn, bot: Bot, receiver: Receiver
) -> None:
    anna = standin.add_user("Anna")
    handled: list[int] = []

    async def slow_first(request: web.Request, update: dict[str, Any]) -> web.StreamResponse:
        if len(receiver.received) == 1:
            await asyncio.sleep(0.5)  # still handling when Telegram gives up
        handled.append(update["update_id"])
        return web.json_response({})

    receiver.respond = slow_first
    standin.webhook_timeout = 0.2
    await bot.set_webhook(receiver.url)
    update_id = standin.send_text(anna, "/vote yes")
    await standin.wait_for(lambda: len(handled) == 2, timeout=3)
    assert receiver.update_ids == [update_id, update_id]
    assert delivered(standin) == [(update_id, "Read timeout expired"), (update_id, 200)]
    assert (await bot.get_webhook_info()).last_error_message == "Read timeout expired"


async def test_redeliver_sends_an_update_once_more(
    standin: TelegramStandIn, bot: Bot, receiver: Receiver
) -> None:
    anna = standin.add_user("Anna")
    update_id = standin.send_text(anna, "/start")
    with pytest.raises(RuntimeError, match="needs a webhook"):
        standin.redeliver(update_id)
    await bot.set_webhook(receiver.url)
    await standin.wait_for(lambda: receiver.update_ids == [update_id])
    await standin.wait_for(lambda: standin.pending_updates == 0)
    standin.redeliver(update_id)
    await standin.wait_for(lambda: receiver.update_ids == [update_id, update_id])
    assert receiver.received[0][0] == receiver.received[1][0]

    receiver.respond = lambda request, update: asyncio.sleep(10)  # type: ignore[assignment,return-value]
    pending = standin.send_text(anna, "/help")
    with pytest.raises(ValueError, match="not delivered yet"):
        standin.redeliver(pending)
    with pytest.raises(KeyError):
        standin.redeliver(9999)


async def test_at_most_max_connections_deliveries_at_once(
    standin: TelegramStandIn, bot: Bot, receiver: Receiver
) -> None:
    residents = [standin.add_user(f"User {n}") for n in range(5)]
    release = asyncio.Event()

    async def held(request: web.Request, update: dict[str, Any]) -> web.StreamResponse:
        await release.wait()
        return web.json_response({})

    receiver.respond = held
    await bot.set_webhook(receiver.url, max_connections=2)
    for resident in residents:
        standin.send_text(resident, "hi")
    await standin.wait_for(lambda: receiver.active == 2)
    await asyncio.sleep(0.1)
    assert receiver.most_active == 2
    release.set()
    await standin.wait_for(lambda: standin.pending_updates == 0)
    assert receiver.most_active == 2 and len(receiver.received) == 5


async def test_allowed_updates_filter_what_is_delivered(
    standin: TelegramStandIn, bot: Bot, receiver: Receiver
) -> None:
    anna = standin.add_user("Anna")
    sent = await bot.send_message(anna.id, "Vote?")
    await bot.set_webhook(receiver.url, allowed_updates=["callback_query"])
    standin.send_text(anna, "ignored")
    query = standin.press_forged(anna, anna, "vote:y", message_id=sent.message_id)
    await standin.wait_for(lambda: len(receiver.received) == 1)
    await asyncio.sleep(0.1)
    assert [u["callback_query"]["id"] for u, _ in receiver.received] == [query]
    info = await bot.get_webhook_info()
    assert (info.allowed_updates, info.pending_update_count) == (["callback_query"], 0)


async def test_set_webhook_rules_and_descriptions(
    standin: TelegramStandIn, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    for url, error in [
        ("http://example.org/hook", "bad webhook: An HTTPS URL must be provided for webhook"),
        (
            "https://example.org:8080/hook",
            "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
        ),
        ("ftp://example.org/hook", "invalid webhook URL specified"),
    ]:
        status, body = await call(http, standin, "setWebhook", {"url": url})
        assert (status, body["description"]) == (400, f"Bad Request: {error}")
    answers = [
        (await call(http, standin, method, params))[1]
        for method, params in [
            ("setWebhook", {"url": receiver.url}),
            ("setWebhook", {"url": receiver.url}),
            ("deleteWebhook", {}),
            ("deleteWebhook", {}),
        ]
    ]
    assert [a["description"] for a in answers] == [
        "Webhook was set",
        "Webhook is already set",
        "Webhook was deleted",
        "Webhook is already deleted",
    ]
    assert all(a["result"] is True for a in answers)


async def test_a_non_loopback_webhook_is_never_contacted(
    standin: TelegramStandIn, bot: Bot
) -> None:
    anna = standin.add_user("Anna")
    await bot.set_webhook("https://example.org/hook")
    update_id = standin.send_text(anna, "hi")
    await standin.wait_for(lambda: standin.webhook_deliveries)
    assert standin.webhook_deliveries[0].update_id == update_id
    assert "only to loopback" in str(standin.webhook_deliveries[0].result)
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert standin.pending_updates == 0


async def test_a_webhook_answer_may_carry_a_method(
    standin: TelegramStandIn, bot: Bot, receiver: Receiver
) -> None:
    anna = standin.add_user("Anna")

    async def answer_inline(request: web.Request, update: dict[str, Any]) -> web.StreamResponse:
        chat_id = update["message"]["chat"]["id"]
        if update["message"]["text"] == "json":
            return web.json_response({"method": "sendMessage", "chat_id": chat_id, "text": "Hi!"})
        return web.json_response({"method": "getMe"})

    receiver.respond = answer_inline
    await bot.set_webhook(receiver.url)
    standin.send_text(anna, "json")
    standin.send_text(anna, "get")
    await standin.wait_idle()
    assert [m.text for m in standin.messages(anna)] == ["Hi!"]
    assert [r.method for r in standin.requests[-2:]] == ["setWebhook", "sendMessage"]
    assert [r.description for r in standin.invalid_requests] == [
        "getMe in a webhook answer (Telegram ignores it)"
    ]


def webhook_router() -> Router:
    router = Router()

    @router.message(F.text == "/start")
    async def start(message: Message) -> SendMessage:
        # Answered inside the webhook response, as aiogram does without handle_in_background.
        return message.answer("<b>Welcome</b> via the webhook answer", parse_mode="HTML")

    @router.message(F.text == "/slow")
    async def slow(message: Message) -> None:
        await message.answer("Working on it")

    return router


@pytest.mark.parametrize("in_background", [False, True])
async def test_aiogram_bot_in_webhook_mode(standin: TelegramStandIn, in_background: bool) -> None:
    session = FastCloseSession(api=TelegramAPIServer.from_base(standin.base_url))
    bot = Bot(TOKEN, session=session)
    dispatcher = Dispatcher()
    dispatcher.include_router(webhook_router())
    app = web.Application()
    SimpleRequestHandler(
        dispatcher, bot, secret_token="hook-secret", handle_in_background=in_background
    ).register(app, path="/telegram")
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        await bot.set_webhook(f"http://127.0.0.1:{port}/telegram", secret_token="hook-secret")
        anna = standin.add_user("Anna")
        standin.send_text(anna, "/start")
        standin.send_text(anna, "/slow")
        await standin.wait_idle()
    finally:
        await runner.cleanup()
        await session.close()
    welcome, working = standin.messages(anna)
    assert (welcome.text, welcome.entities[0]["type"]) == ("Welcome via the webhook answer", "bold")
    assert working.text == "Working on it"
    assert {d.result for d in standin.webhook_deliveries} == {200}
    assert standin.invalid_requests == []


async def test_wrong_secret_is_answered_401_and_retried(standin: TelegramStandIn, bot: Bot) -> None:
    session = FastCloseSession(api=TelegramAPIServer.from_base(standin.base_url))
    webhook_bot = Bot(TOKEN, session=session)
    app = web.Application()
    SimpleRequestHandler(Dispatcher(), webhook_bot, secret_token="expected").register(
        app, path="/telegram"
    )
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        await bot.set_webhook(f"http://127.0.0.1:{port}/telegram", secret_token="wrong")
        update_id = standin.send_text(standin.add_user("Anna"), "hi")
        await standin.wait_for(lambda: len(standin.webhook_deliveries) >= 2)
    finally:
        await runner.cleanup()
        await session.close()
    assert delivered(standin)[:2] == [(update_id, 401), (update_id, 401)]
    with pytest.raises(TelegramBadRequest, match="secret token contains unallowed characters"):
        await bot.set_webhook(f"http://127.0.0.1:{port}/telegram", secret_token="no spaces")
