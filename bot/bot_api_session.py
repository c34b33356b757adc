"""aiogram's HTTP session to the Bot API, with errors that cannot carry the bot token.

A proxy, firewall or captive portal between the bot and Telegram may answer with a page
of its own instead of the Bot API's JSON, and such a page often quotes the request's URL,
which holds the token (`/bot<token>/getMe`). aiogram puts the whole answer into its
exception, and so into a traceback, a log line or a doctor's report. Here such an answer
becomes an error that names the HTTP status only; a connection error's text is cleaned
of the token too (an invalid URL is quoted whole).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import ClientDecodeError, TelegramNetworkError, TelegramServerError
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType

from bot.logs import redact


class NotTheBotApi(TelegramNetworkError):
    """Something other than the Bot API answered (a proxy's page, a captive portal)."""


# pydantic keeps the `Response[T]` classes aiogram asks for only weakly: collected, they
# are built anew on the next call of their method, which cost about a tenth of the CPU
# of an update. Kept here, one per method the bot calls.
_RESPONSE_TYPES: dict[type[TelegramMethod[Any]], type[Response[Any]]] = {}


class BotApiSession(AiohttpSession):
    def check_response(
        self, bot: Bot, method: TelegramMethod[TelegramType], status_code: int, content: str
    ) -> Response[TelegramType]:
        if type(method) not in _RESPONSE_TYPES:
            _RESPONSE_TYPES[type(method)] = Response[method.__returning__]  # type: ignore[name-defined]
        try:
            return super().check_response(bot, method, status_code, content)
        except ClientDecodeError:
            pass  # below, outside the except: the answer must not ride along as context
        raise _not_the_bot_api(method, status_code) from None

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 (aiogram's signature)
    ) -> TelegramType:
        try:
            return await super().make_request(bot, method, timeout)
        except TelegramNetworkError as error:
            clean = redact(error.message, [bot.token])
            if clean == error.message:
                raise
        raise TelegramNetworkError(method=method, message=clean) from None


def _not_the_bot_api(method: TelegramMethod[Any], status_code: int) -> Exception:
    try:
        phrase = HTTPStatus(status_code).phrase
    except ValueError:
        phrase = "Unknown status"
    what = f"{phrase} (HTTP {status_code}), and not an answer of the Bot API"
    if status_code >= 500:
        # Like Telegram's own 5xx: "Bad Gateway" and the like were not carried out.
        return TelegramServerError(method=method, message=what)
    return NotTheBotApi(method=method, message=what)
