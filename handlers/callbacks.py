"""Answering a button press exactly once, also when its update is tried again."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram.dispatcher.flags import get_flag
from aiogram.types import CallbackQuery, TelegramObject
from aiogram.utils.callback_answer import CallbackAnswer, CallbackAnswerMiddleware

from bot.updates import UpdateUnit

log = logging.getLogger(__name__)


class AnswerCallbackMiddleware(CallbackAnswerMiddleware):
    """aiogram's answering middleware answers even when the handler failed; an update
    that will be tried again must not be answered yet (Telegram takes one answer per
    press, and the retry's answer is the one that says how it went)."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, CallbackQuery):
            return await handler(event, data)
        answer = data["callback_answer"] = self.construct_callback_answer(
            properties=get_flag(data, "callback_answer"),
        )
        try:
            return await handler(event, data)
        except Exception as error:
            # Nothing of a failed handler is kept, and the answer below would commit it.
            if "session" in data:
                await data["session"].rollback()
            unit: UpdateUnit | None = data.get("update_unit")
            if unit is not None and unit.will_retry(error):
                answer.disabled = True
            raise
        finally:
            if not answer.disabled and not answer.answered:
                await self._answer(event, answer, data.get("update_unit"))

    async def _answer(
        self, event: CallbackQuery, answer: CallbackAnswer, unit: UpdateUnit | None
    ) -> None:
        try:
            await self.answer(event, answer)
        except Exception as error:
            if unit is None or not unit.acted:
                raise  # nothing was done yet: the update may be tried again
            # What the press asked for is done (and what follows it is queued); only the
            # spinner was not stopped. A "something went wrong" would say otherwise.
            log.warning("press of update %s done; its answer failed: %s", unit.update_id, error)
