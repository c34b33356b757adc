"""An unexpected error: logged for us, a polite word for the resident, never a traceback.

A failure for a passing reason (a lock held elsewhere, Telegram unreachable) before the
update changed anything is raised again: the update runner tries it again later, and
the person hears from that attempt."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.types import ErrorEvent

from bot.i18n import Translator
from bot.updates import AlreadyActed, UpdateUnit

log = logging.getLogger(__name__)


async def on_error(
    event: ErrorEvent,
    bot: Bot,
    tr: Translator | None = None,
    update_unit: UpdateUnit | None = None,
) -> None:
    update, error = event.update, event.exception
    if isinstance(error, AlreadyActed):
        log.info("update %s acted already elsewhere: dropped", update.update_id)
        return
    if update_unit is not None and update_unit.will_retry(error):
        raise error
    log.error("update %s failed", update.update_id, exc_info=error)
    chat_id = _private_chat_of(event)
    if chat_id is None or tr is None:
        return
    # A button press is answered by the answering middleware, even on errors: a second
    # answer would be refused. The message below says what happened.
    await bot.send_message(
        chat_id, tr("Sorry, something went wrong on our side. Please try again in a moment.")
    )


def _private_chat_of(event: ErrorEvent) -> int | None:
    update = event.update
    message = update.message or update.edited_message
    if message is not None and message.chat.type == "private":
        return message.chat.id
    query = update.callback_query
    if query is not None and (query.message is None or query.message.chat.type == "private"):
        return query.from_user.id
    return None


def build() -> Router:
    router = Router(name="errors")
    router.errors.register(on_error)
    return router
