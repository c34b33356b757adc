"""/language: the resident chooses the language, which is remembered."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import BotCommandScopeChat, CallbackQuery, Message

from bot.commands import bot_commands
from bot.config import SUPPORTED_LOCALES
from bot.i18n import Catalogs, Translator
from handlers import views
from handlers.keyboards import LanguageCb, MenuAction, MenuCb
from handlers.respond import show
from storage.models import Resident


async def language_command(message: Message, tr: Translator) -> None:
    await show(message, views.language_picker(tr))


async def language_button(query: CallbackQuery, tr: Translator) -> None:
    await show(query, views.language_picker(tr))


async def choose_language(
    query: CallbackQuery,
    callback_data: LanguageCb,
    resident: Resident,
    catalogs: Catalogs,
    bot: Bot,
) -> None:
    resident.language = callback_data.code
    tr = catalogs.translator(callback_data.code)
    await show(query, views.language_changed(tr))
    # The command menu of this chat follows the chosen language, not the phone's.
    await bot.set_my_commands(
        bot_commands(tr), scope=BotCommandScopeChat(chat_id=query.from_user.id)
    )


def build() -> Router:
    router = Router(name="language")
    router.message.filter(F.chat.type == "private")
    router.callback_query.filter(F.message.chat.type == "private")
    router.message.register(language_command, Command("language"))
    router.callback_query.register(language_button, MenuCb.filter(F.action == MenuAction.LANGUAGE))
    router.callback_query.register(
        choose_language, LanguageCb.filter(F.code.in_(SUPPORTED_LOCALES))
    )
    return router
