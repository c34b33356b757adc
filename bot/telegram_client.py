"""The HTTP client to the Bot API: where it points and how it treats flood limits."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot
from aiogram.client.default import Default, DefaultBotProperties
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import (
    EditMessageCaption,
    EditMessageText,
    SendDocument,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import LinkPreviewOptions

from bot.bot_api_session import BotApiSession
from bot.config import Settings
from bot.metrics import Metrics
from bot.shown import NoEditThatChangesNothing, ShownMessages
from bot.telegram_text import MAX_CAPTION, MAX_MESSAGE, fold_html, measure

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


class FitToTelegram(BaseRequestMiddleware):
    """The last guard of Telegram's length limits. Every screen is made to fit; one that
    still does not would be refused for good, so it goes out shortened and the log says
    which method to fix."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> TelegramType:
        field, limit = _LIMITS.get(type(method), (None, 0))
        text = getattr(method, field, None) if field else None
        size = measure(text) if isinstance(text, str) and _is_html(method, bot) else 0
        if size > limit:
            # Sizes only: the text is a person's words, and logs are not erased with them.
            log.warning(
                "%s of %s units shortened to Telegram's %s", method.__api_method__, size, limit
            )
            method = method.model_copy(update={field: fold_html(str(text), limit)})
        return await make_request(bot, method)


# The texts Telegram limits, by the method that sends them.
_LIMITS: dict[type, tuple[str, int]] = {
    SendMessage: ("text", MAX_MESSAGE),
    EditMessageText: ("text", MAX_MESSAGE),
    SendPhoto: ("caption", MAX_CAPTION),
    SendDocument: ("caption", MAX_CAPTION),
    EditMessageCaption: ("caption", MAX_CAPTION),
}


def _is_html(method: TelegramMethod[Any], bot: Bot) -> bool:
    parse_mode = getattr(method, "parse_mode", None)
    if isinstance(parse_mode, Default):
        parse_mode = bot.default[parse_mode.name]
    return parse_mode == ParseMode.HTML


def build_bot(
    settings: Settings,
    *,
    wait_on_429: bool = True,
    metrics: Metrics | None = None,
    shown: ShownMessages | None = None,
) -> Bot:
    """The bot's client; `wait_on_429=False` for the broadcast sender, which pauses all
    its sending on a 429 rather than one request. `shown`: what this process's clients
    put in each message, so that an edit changing nothing is not sent (see bot/shown.py)."""
    if settings.token is None:
        raise ValueError("BOT_TOKEN is needed to talk to Telegram")
    session = BotApiSession(api=TelegramAPIServer.from_base(settings.bot_api_url))
    session.middleware(NoEditThatChangesNothing(shown))
    if wait_on_429:
        session.middleware(RetryAfterMiddleware(metrics=metrics))
    session.middleware(FitToTelegram())
    # link_preview (not link_preview_is_disabled, which fills a deprecated parameter).
    defaults = DefaultBotProperties(
        parse_mode=ParseMode.HTML, link_preview=LinkPreviewOptions(is_disabled=True)
    )
    return Bot(settings.token, session=session, default=defaults)
