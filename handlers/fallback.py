"""Last in line: whatever no other handler took gets a short, helpful answer."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from bot.i18n import Translator
from handlers import views
from handlers.respond import show

router = Router(name="fallback")
router.message.filter(F.chat.type == "private")
router.edited_message.filter(F.chat.type == "private")


@router.message(F.text.startswith("/"))
async def unknown_command(message: Message, tr: Translator) -> None:
    command = (message.text or "/").split()[0].split("@")[0]
    text = tr(
        "I don't know the command %(command)s. Here is what I can do:",
        command=views.html(command[:64]),
    )
    await message.answer(text)
    await show(message, views.help_screen(tr))


@router.message(F.text)
async def free_text(message: Message, tr: Translator) -> None:
    await message.answer(tr("I work with buttons and commands. Please choose below."))
    await show(message, views.menu(tr))


@router.message()
async def unsupported_content(message: Message, tr: Translator) -> None:
    await message.answer(
        tr(
            "I can only read text messages and buttons here, so I cannot use this. "
            "Please choose below."
        )
    )
    await show(message, views.menu(tr))


@router.edited_message()
async def edited(message: Message, tr: Translator) -> None:
    await message.answer(
        tr(
            "I do not read changes to messages that were already sent. "
            "Please send a new message instead."
        )
    )


@router.callback_query()
async def stale_button(
    query: CallbackQuery, callback_answer: CallbackAnswer, tr: Translator
) -> None:
    callback_answer.text = views.stale(tr)
    await show(query, views.menu(tr))
