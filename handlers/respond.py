"""Showing a screen: a new message for a command, the same message edited for a button."""

from __future__ import annotations

import logging

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer

from handlers.views import Screen

log = logging.getLogger(__name__)


async def show(target: Message | CallbackQuery, screen: Screen) -> None:
    if isinstance(target, Message):
        await target.answer(screen.text, reply_markup=screen.markup)
        return
    message = target.message
    # Only a text message can become another screen; a document or photo is answered anew.
    if isinstance(message, Message) and message.text is not None:
        if _already_shows(message, screen):
            return  # a second tap on the same button: Telegram would refuse the edit
        try:
            await message.edit_text(screen.text, reply_markup=screen.markup)
            return
        except TelegramBadRequest as error:
            if "message is not modified" in error.message:
                return  # a double tap: the screen already shows this
            log.info("could not edit message, sending a new one: %s", error.message)
    # Too old or gone to edit (or inaccessible): a fresh message still answers the tap.
    await target.bot.send_message(target.from_user.id, screen.text, reply_markup=screen.markup)


def _already_shows(message: Message, screen: Screen) -> bool:
    return message.html_text == screen.text and _buttons(message.reply_markup) == _buttons(
        screen.markup
    )


def _buttons(markup: InlineKeyboardMarkup | None) -> object:
    return markup.model_dump(exclude_none=True) if markup is not None else None


def alert(callback_answer: CallbackAnswer, text: str) -> None:
    """The answer to a button shown as an alert, which stays until it is dismissed."""
    callback_answer.text = text
    callback_answer.show_alert = True
