"""The HTTP client to the Bot API: where it points and how it treats flood limits."""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import LinkPreviewOptions

from bot.config import Settings
from bot.metrics import Metrics

log = logging.getLogger(__name__)


class RetryAfterMiddleware(BaseRequestMiddleware):
    """On 429, wait the `retry_after` Telegram asks for and send again.

    A resident who taps quickly should see the answer a second later, not an error;
    a wait longer than `max_wait` seconds is given up on and raised to the caller.
    """

    def __init__(
        self, *, max_wait: float = 10.0, attempts: int = 3, metrics: Metrics | None = None
    ) -> None:
        self.max_wait = max_wait
        self.attempts = attempts
        self.metrics = metrics

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> TelegramType:
        for attempt in range(1, self.attempts + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as error:
                if self.metrics is not None:
                    self.metrics.too_many_requests.inc()
                if attempt == self.attempts or error.retry_after > self.max_wait:
                    raise
                log.info(
                    "flood limit on %s: waiting %s s", method.__api_method__, error.retry_after
                )
                await asyncio.sleep(error.retry_after)
        raise AssertionError("unreachable")


def build_bot(
    settings: Settings, *, wait_on_429: bool = True, metrics: Metrics | None = None
) -> Bot:
    """The bot's client; `wait_on_429=False` for the broadcast sender, which pauses all
    its sending on a 429 rather than one request."""
    if settings.token is None:
        raise ValueError("BOT_TOKEN is needed to talk to Telegram")
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.bot_api_url))
    if wait_on_429:
        session.middleware(RetryAfterMiddleware(metrics=metrics))
    # link_preview (not link_preview_is_disabled, which fills a deprecated parameter).
    defaults = DefaultBotProperties(
        parse_mode=ParseMode.HTML, link_preview=LinkPreviewOptions(is_disabled=True)
    )
    return Bot(settings.token, session=session, default=defaults)
