"""Showing a screen: a new message for a command, the same message edited for a button."""

from __future__ import annotations

import logging

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, Message

from handlers.views import Screen

log = logging.getLogger(__name__)


async def show(target: Message | CallbackQuery, screen: Screen) -> None:
    if isinstance(target, Message):
        await target.answer(screen.text, reply_markup=screen.markup)
        return
    message = target.message
    if isinstance(message, Message):
        try:
            await message.edit_text(screen.text, reply_markup=screen.markup)
            return
        except TelegramBadRequest as error:
            if "message is not modified" in error.message:
                return  # a double tap: the screen already shows this
            log.info("could not edit message, sending a new one: %s", error.message)
    # Too old or gone to edit (or inaccessible): a fresh message still answers the tap.
    await target.bot.send_message(target.from_user.id, screen.text, reply_markup=screen.markup)
