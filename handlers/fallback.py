"""Last in line: whatever no other handler took gets a short, helpful answer."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from bot import albums
from bot.i18n import Translator
from handlers import views
from handlers.respond import show


async def unknown_command(message: Message, tr: Translator) -> None:
    command = (message.text or "/").split()[0].split("@")[0]
    text = tr(
        "I don't know the command %(command)s. Here is what I can do:",
        command=views.html(command[:64]),
    )
    await show(message, views.help_screen(tr).after(text))


async def free_text(message: Message, tr: Translator) -> None:
    notice = tr("I work with buttons and commands. Please choose below.")
    await show(message, views.menu(tr).after(notice))


async def unsupported_content(message: Message, state: FSMContext, tr: Translator) -> None:
    if await albums.answered_before(state, message):
        return  # one answer for an album, not one per item
    notice = tr(
        "I can only read text messages and buttons here, so I cannot use this. Please choose below."
    )
    await show(message, views.menu(tr).after(notice))


async def edited(message: Message, tr: Translator) -> None:
    await message.answer(
        tr(
            "I do not read changes to messages that were already sent. "
            "Please send a new message instead."
        )
    )


async def stale_button(
    query: CallbackQuery, callback_answer: CallbackAnswer, tr: Translator
) -> None:
    callback_answer.text = views.stale(tr)
    await show(query, views.menu(tr))


def build() -> Router:
    router = Router(name="fallback")
    router.message.filter(F.chat.type == "private")
    router.edited_message.filter(F.chat.type == "private")
    router.message.register(unknown_command, F.text.startswith("/"))
    router.message.register(free_text, F.text)
    router.message.register(unsupported_content)
    router.edited_message.register(edited)
    router.callback_query.register(stale_button)
    return router
