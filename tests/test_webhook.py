"""Production mode end to end: two `civicbot run --webhook` processes behind one
address (a round-robin proxy), sharing PostgreSQL and Redis, fed by the stand-in."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from bot.config import Settings
from bot.sandbox import SimUser, TelegramStandIn
from storage.database import create_engine, create_session_factory
from storage.models import Consultation, Follow, Resident
from tests.conftest import load_examples
from tests.processes import civicbot, environment, finish
from tests.servers import free_port

SECRET = "the-webhook-secret_1"


class Proxy:
    """What a load balancer does: each request to the next backend in turn."""

    def __init__(self, backends: list[str]) -> None:
        self.backends = itertools.cycle(backends)
        self.served: dict[str, int] = {backend: 0 for backend in backends}
        self.url = ""

    async def start(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/{path:.*}", self._forward)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"
        return runner

    async def _forward(self, request: web.Request) -> web.Response:
        backend = next(self.backends)
        headers = {k: v for k, v in request.headers.items() if k.lower().startswith("x-telegram")}
        headers["Content-Type"] = request.headers.get("Content-Type", "application/json")
        async with (
            aiohttp.ClientSession() as client,
            client.post(
                backend + request.path, data=await request.read(), headers=headers
            ) as answer,
        ):
            self.served[backend] += 1
            return web.Response(status=answer.status, body=await answer.read())


def _consultation_closing_tomorrow(folder: Path) -> Path:
    """A consultation whose one-day reminder (at 00:00 local) is already due today."""
    zone = ZoneInfo("Europe/Sofia")
    today = datetime.now(zone).date()
    path = folder / "soon.yaml"
    path.write_text(
        "format: 1\nslug: closing-soon\noriginal_language: en\ntimezone: Europe/Sofia\n"
        f"opens_at: {today - timedelta(days=30)}\ncloses_at: {today + timedelta(days=1)}\n"
        "organizer: {en: Test town}\ntitle: {en: Closing soon}\nsummary: {en: A test.}\n",
        encoding="utf-8",
    )
    return path


async def _residents_following(settings: Settings, users: list[SimUser]) -> None:
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine).begin() as session:
            consultation = await session.scalar(
                select(Consultation).where(Consultation.slug == "closing-soon")
            )
            assert consultation is not None
            for user in users:
                resident = Resident(telegram_user_id=user.id, chat_id=user.id, language="en")
                session.add(resident)
                await session.flush()
                session.add(Follow(resident_id=resident.id, consultation_id=consultation.id))
    finally:
        await engine.dispose()


@pytest.fixture
async def two_bots(
    standin: TelegramStandIn, bot_settings: Settings, clean_redis_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Proxy, list[str], list[SimUser]]]:
    from bot.cli import main as cli  # noqa: F401 - the same command the processes run

    await load_examples(bot_settings)
    env_base = environment(
        standin,
        bot_settings.database_url,
        REDIS_URL=clean_redis_url,
        WEBHOOK_SECRET=SECRET,
        REMINDER_DAYS="1",
        REMINDER_HOUR="0",
        NOTIFIER_LEASE_SECONDS="5",
        NOTIFIER_POLL_SECONDS="1",
    )
    loader = await civicbot(
        env_base, "content", "load", str(_consultation_closing_tomorrow(tmp_path))
    )
    assert (await finish(loader))[0] == 0
    followers = [standin.add_user(f"Follower {n}", language_code="en") for n in range(3)]
    await _residents_following(bot_settings, followers)

    ports = [free_port(), free_port()]
    backends = [f"http://127.0.0.1:{port}" for port in ports]
    proxy = Proxy(backends)
    proxy_runner = await proxy.start()
    processes = [
        await civicbot(
            env_base | {"WEBHOOK_URL": proxy.url, "WEBHOOK_PORT": str(port)}, "run", "--webhook"
        )
        for port in ports
    ]
    async with aiohttp.ClientSession() as client:
        for backend in backends:
            for _ in range(300):  # up to 60 s: a busy machine starts slowly
                try:
                    async with client.get(backend + "/healthz") as answer:
                        if answer.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
            else:
                pytest.fail(f"{backend} never became healthy")
    try:
        yield proxy, backends, followers
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            code, errors = await finish(process)
            start = max(0, errors.find("Traceback") - 600)
            assert code == 0 and "Traceback" not in errors, (
                f"exit {code}: {errors[start : start + 2500]}"
            )
        await proxy_runner.cleanup()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_webhook_processes_act_once_on_every_update(
    standin: TelegramStandIn, two_bots: tuple[Proxy, list[str], list[SimUser]]
) -> None:
    proxy, backends, followers = two_bots
    residents = [standin.add_user(f"Resident {n}", language_code="en") for n in range(12)]
    update_ids = [standin.send_text(user, "/start") for user in residents]
    await standin.wait_for(lambda: all(standin.messages(u) for u in residents), 30)
    await standin.wait_idle()
    assert all(len(standin.messages(user)) == 1 for user in residents)
    assert all(count > 0 for count in proxy.served.values()), "both processes took updates"

    # Telegram retries a delivery it thinks failed: nothing happens twice.
    for update_id in update_ids[:4]:
        standin.redeliver(update_id)
    await asyncio.sleep(1.0)
    await standin.wait_idle()
    assert all(len(standin.messages(user)) == 1 for user in residents)

    # The reminder due today went out once, from one process, to each follower.
    await standin.wait_for(lambda: all(standin.messages(u) for u in followers), 30)
    await asyncio.sleep(2.0)  # time for a second process to (wrongly) send it too
    for follower in followers:
        reminders = [m for m in standin.messages(follower) if "1 day left" in m.text]
        assert len(reminders) == 1

    async with aiohttp.ClientSession() as client:
        async with client.get(backends[0] + "/metrics") as answer:
            assert "civicbot_updates_total" in await answer.text()
    assert standin.invalid_requests == []


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("secret", [None, "a-wrong-secret"])
async def test_a_request_without_the_secret_is_refused_and_not_acted_on(
    standin: TelegramStandIn,
    two_bots: tuple[Proxy, list[str], list[SimUser]],
    secret: str | None,
) -> None:
    _, backends, _ = two_bots
    victim = standin.add_user("Victim", language_code="en")
    forged = {
        "update_id": 987654,
        "message": {
            "message_id": 1,
            "date": int(datetime.now(UTC).timestamp()),
            "chat": {"id": victim.id, "type": "private", "first_name": "Victim"},
            "from": {"id": victim.id, "is_bot": False, "first_name": "Victim"},
            "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
    async with aiohttp.ClientSession() as client:
        async with client.post(backends[0] + "/telegram", json=forged, headers=headers) as answer:
            assert answer.status == 401
    await asyncio.sleep(0.5)
    assert standin.messages(victim) == []
