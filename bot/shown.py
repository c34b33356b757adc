"""Edits that would change nothing are not sent.

Telegram refuses an edit that leaves a message as it is ("message is not modified"). Two
quick taps on one button both carry the message as it was before either was handled,
so the second asks for the screen the first already put there; an outbox screen can
follow a tap that showed the same. The client remembers what it last put in each message
and drops such an edit; when it could not know (after a restart, or another process
edited the message), Telegram's "not modified" is that edit done, never an error.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

from aiogram import Bot
from aiogram.client.default import Default
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import EditMessageText, SendMessage, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import InlineKeyboardMarkup, Message

NOT_MODIFIED = "message is not modified"
# About a day of a busy bot's screens; an older message edited again is simply sent.
REMEMBERED = 20_000


class ShownMessages:
    """What this process last put in each message, as a digest, newest last.

    Only for a process that is the only one writing to its chats (long polling): with
    several processes (webhook mode) another may have changed a message meanwhile, so
    there is none and Telegram's own answer decides.
    """

    def __init__(self, size: int = REMEMBERED) -> None:
        self.size = size
        self._shown: OrderedDict[tuple[int, int], str] = OrderedDict()

    def shows(self, key: tuple[int, int], digest: str) -> bool:
        return self._shown.get(key) == digest

    def remember(self, key: tuple[int, int], digest: str) -> None:
        self._shown[key] = digest
        self._shown.move_to_end(key)
        while len(self._shown) > self.size:
            self._shown.popitem(last=False)

    def forget(self, key: tuple[int, int]) -> None:
        self._shown.pop(key, None)


class NoEditThatChangesNothing(BaseRequestMiddleware):
    def __init__(self, shown: ShownMessages | None = None) -> None:
        self.shown = shown

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> TelegramType:
        key = _message_key(method)
        if isinstance(method, EditMessageText) and key is not None:
            digest = _digest(method, bot)
            if self.shown is not None:
                if self.shown.shows(key, digest):
                    return True  # type: ignore[return-value]  # what Telegram answers for "done"
                # Remembered before it is sent: the same edit asked for meanwhile (a second
                # tap, the outbox's screen) is this one.
                self.shown.remember(key, digest)
            try:
                return await make_request(bot, method)
            except TelegramBadRequest as error:
                if NOT_MODIFIED not in error.message:
                    self._unsure(key, digest)
                    raise
                return True  # type: ignore[return-value]
            except BaseException:
                self._unsure(key, digest)
                raise
        result = await make_request(bot, method)
        if self.shown is not None:
            if isinstance(method, SendMessage) and isinstance(result, Message):
                self.shown.remember((result.chat.id, result.message_id), _digest(method, bot))
            elif key is not None:  # a caption, markup or deletion: it shows something else
                self.shown.forget(key)
        return result

    def _unsure(self, key: tuple[int, int], digest: str) -> None:
        if self.shown is not None and self.shown.shows(key, digest):
            self.shown.forget(key)


def _message_key(method: TelegramMethod[Any]) -> tuple[int, int] | None:
    chat_id, message_id = getattr(method, "chat_id", None), getattr(method, "message_id", None)
    if isinstance(chat_id, int) and isinstance(message_id, int):
        return chat_id, message_id
    return None


def _digest(method: EditMessageText | SendMessage, bot: Bot) -> str:
    """What the message shows after the call: the same request shows the same."""
    markup = method.reply_markup
    # Only an inline keyboard belongs to the message (and can be edited with it).
    buttons = (
        markup.model_dump_json(exclude_none=True)
        if isinstance(markup, InlineKeyboardMarkup)
        else ""
    )
    entities = [entity.model_dump_json(exclude_none=True) for entity in method.entities or ()]
    parts = [method.text, str(_resolved(method.parse_mode, bot)), buttons, *entities]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _resolved(value: Any, bot: Bot) -> Any:
    return bot.default[value.name] if isinstance(value, Default) else value
