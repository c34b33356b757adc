"""Webhook mode: an aiohttp server that takes Telegram's updates, plus /healthz and
/metrics for the operator.

Telegram's secret-token header is checked on every request (401 and nothing handled
otherwise). Each update is answered with 200 as soon as it is recorded in the inbox (and
handled in the background), so Telegram neither waits for the handling nor loses an
update the bot could not record: that one gets a 500 and Telegram delivers it again. A
retry of an update already recorded is answered 200 and not handled twice.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from json import JSONDecodeError

from aiogram import Bot, Dispatcher
from aiohttp import web
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.metrics import Metrics
from bot.updates import UpdateRunner

log = logging.getLogger(__name__)
HEALTH_TIMEOUT = 5.0
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def webhook_app(
    runner: UpdateRunner, bot: Bot, settings: Settings, engine: AsyncEngine, metrics: Metrics
) -> web.Application:
    assert settings.webhook_secret is not None
    app = web.Application()
    app.router.add_post(settings.webhook_path, _receive(runner, settings.webhook_secret))
    app.router.add_get("/healthz", _health(bot, engine))
    app.router.add_get("/metrics", _metrics(metrics))
    return app


def _receive(runner: UpdateRunner, secret: SecretStr):
    expected = secret.get_secret_value().encode()

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            return web.Response(status=401, text="Unauthorized")
        try:
            payload = await request.json()
        except (JSONDecodeError, UnicodeDecodeError):
            return web.Response(status=400, text="not an update")
        if not isinstance(payload, dict) or not isinstance(payload.get("update_id"), int):
            return web.Response(status=400, text="not an update")
        try:
            await runner.record([payload])
        except Exception:  # Telegram delivers it again; the log says why it was not kept
            log.exception("update %s could not be recorded", payload["update_id"])
            return web.Response(status=500, text="not recorded, please retry")
        return web.Response(status=200)

    return receive


def _health(bot: Bot, engine: AsyncEngine):
    async def health(_request: web.Request) -> web.Response:
        checks = {
            "database": await _check(_database(engine)),
            "telegram": await _check(bot.get_me()),
        }
        healthy = all(result == "ok" for result in checks.values())
        return web.json_response(checks, status=200 if healthy else 503)

    return health


async def _database(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def _check(probe) -> str:
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT):
            await probe
    except Exception as error:  # the answer names what is wrong; the log keeps details
        log.warning("health check failed: %s", error)
        return f"failing: {type(error).__name__}"
    return "ok"


def _metrics(metrics: Metrics):
    async def exposition(_request: web.Request) -> web.Response:
        return web.Response(body=metrics.exposition(), content_type="text/plain")

    return exposition


async def register_webhook(bot: Bot, dispatcher: Dispatcher, settings: Settings) -> None:
    assert settings.webhook_url is not None and settings.webhook_secret is not None
    await bot.set_webhook(
        settings.webhook_url + settings.webhook_path,
        secret_token=settings.webhook_secret.get_secret_value(),
        allowed_updates=dispatcher.resolve_used_update_types(),
    )
