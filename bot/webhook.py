"""Webhook mode: an aiohttp server that takes Telegram's updates, plus /healthz and
/metrics for the operator.

Telegram's secret-token header is checked on every request (aiogram answers 401 and
handles nothing otherwise). Each update is answered at once and handled in the
background, so Telegram never waits; a retry of the same update is dropped by the
once-per-update record in the database.
"""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot, Dispatcher
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.metrics import Metrics

log = logging.getLogger(__name__)
HEALTH_TIMEOUT = 5.0


def webhook_app(
    dispatcher: Dispatcher, bot: Bot, settings: Settings, engine: AsyncEngine, metrics: Metrics
) -> web.Application:
    assert settings.webhook_secret is not None
    app = web.Application()
    SimpleRequestHandler(
        dispatcher=dispatcher,
        bot=bot,
        handle_in_background=True,
        secret_token=settings.webhook_secret.get_secret_value(),
    ).register(app, path=settings.webhook_path)
    setup_application(app, dispatcher, bot=bot)
    app.router.add_get("/healthz", _health(bot, engine))
    app.router.add_get("/metrics", _metrics(metrics))
    return app


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
