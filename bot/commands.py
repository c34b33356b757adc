"""The bot's command menu, registered in every supported language."""

from __future__ import annotations

from aiogram import Bot
from aiogram.types import BotCommand

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


def bot_commands(tr: Translator) -> list[BotCommand]:
    return [BotCommand(command=name, description=tr(description)) for name, description in COMMANDS]


async def register_commands(bot: Bot, catalogs: Catalogs, default_locale: str) -> None:
    """Telegram shows each person the list for their app's language, else the default."""
    await bot.set_my_commands(bot_commands(catalogs.translator(default_locale)))
    for locale in catalogs.locales:
        await bot.set_my_commands(bot_commands(catalogs.translator(locale)), language_code=locale)
