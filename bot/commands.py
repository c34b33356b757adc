"""The bot's command menus (residents', and the staff chat's), registered in every
supported language."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import BotCommand, BotCommandScopeChat

from bot.i18n import N_, Catalogs, Translator

COMMANDS = (
    ("start", N_("Main menu")),
    ("consultations", N_("Open consultations and deadlines")),
    ("my", N_("My proposals and questions")),
    ("notifications", N_("Follow consultations, reminders")),
    ("language", N_("Change the language")),
    ("mydata", N_("Everything stored about me")),
    ("privacy", N_("Who keeps my data, why, how long")),
    ("forget", N_("Erase my data")),
    ("cancel", N_("Cancel what I am writing")),
    ("help", N_("How to use this bot")),
)


STAFF_COMMANDS = (
    ("consultations", N_("Each consultation: extend, close, withdraw, replace, its file")),
    ("pending", N_("What still needs an answer or a decision")),
    ("templates", N_("Answer templates")),
    ("export", N_("The submissions as CSV, XLSX or JSON")),
    ("report", N_("The report to publish after a consultation")),
    ("stats", N_("Numbers and a chart per consultation")),
    ("add", N_("A submission received by e-mail, letter, phone or at a meeting")),
    ("cancel", N_("Cancel my open prompts")),
    ("help", N_("How the staff side works")),
)

log = logging.getLogger(__name__)


def bot_commands(
    tr: Translator, commands: Sequence[tuple[str, str]] = COMMANDS
) -> list[BotCommand]:
    return [BotCommand(command=name, description=tr(description)) for name, description in commands]


async def register_commands(
    bot: Bot, catalogs: Catalogs, default_locale: str, staff_chat_id: int | None = None
) -> None:
    """Telegram shows each person the list for their app's language, else the default;
    in the staff chat, the staff's commands."""
    await bot.set_my_commands(bot_commands(catalogs.translator(default_locale)))
    for locale in catalogs.locales:
        await bot.set_my_commands(bot_commands(catalogs.translator(locale)), language_code=locale)
    if staff_chat_id is None:
        return
    scope = BotCommandScopeChat(chat_id=staff_chat_id)
    try:
        staff = catalogs.translator(default_locale)
        await bot.set_my_commands(bot_commands(staff, STAFF_COMMANDS), scope=scope)
        for locale in catalogs.locales:
            staff = catalogs.translator(locale)
            await bot.set_my_commands(
                bot_commands(staff, STAFF_COMMANDS), scope=scope, language_code=locale
            )
    except TelegramBadRequest as error:
        # The bot is not (yet) in the staff chat: its commands still work when typed.
        log.warning("the staff chat's command menu was not set: %s", error.message)
