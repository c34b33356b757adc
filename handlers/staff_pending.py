"""/pending in the staff chat (or an administrator's private chat): what still needs an
answer or a decision, by the report's own rules, each item opening its card."""

from __future__ import annotations

import contextlib

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import Translator
from bot.pending import pending
from handlers import staff_pending_views as views
from handlers import staff_views as screens
from handlers.keyboards import PendingCardCb, PendingCb
from handlers.respond import alert
from handlers.staff import StaffOnly, chat_of, in_staff_language, refuse, render_card
from storage.repositories import StaffRepository


async def pending_command(
    message: Message,
    session: AsyncSession,
    tr: Translator,
) -> None:
    screen = views.pending(tr, await pending(session), page=0)
    await message.answer(screen.text, reply_markup=screen.markup)


async def pending_page(
    query: CallbackQuery,
    callback_data: PendingCb,
    session: AsyncSession,
    bot: Bot,
    tr: Translator,
) -> None:
    """Another page, counted afresh: what was answered meanwhile is gone from it."""
    chat = chat_of(query)
    assert chat is not None and query.message is not None
    screen = views.pending(tr, await pending(session), page=callback_data.page)
    with contextlib.suppress(TelegramBadRequest):  # unchanged, or too old to edit
        await bot.edit_message_text(
            screen.text,
            chat_id=chat.id,
            message_id=query.message.message_id,
            reply_markup=screen.markup,
        )


async def open_card(
    query: CallbackQuery,
    callback_data: PendingCardCb,
    session: AsyncSession,
    bot: Bot,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    """The card, as it is now, posted again here: its buttons (and a reply to it, in the
    staff chat) work as on the first one."""
    chat = chat_of(query)
    assert chat is not None
    submission = await StaffRepository(session).submission(callback_data.id)
    if submission is None:
        alert(callback_answer, screens.erased(tr))
        return
    card = await render_card(session, submission, tr)
    message = query.message
    thread = message.message_thread_id if message is not None and message.is_topic_message else None
    await bot.send_message(chat.id, card.text, reply_markup=card.markup, message_thread_id=thread)


def build() -> Router:
    router = in_staff_language(Router(name="staff-pending"))
    # The cheap look first: only then is Telegram asked whether the sender is staff.
    router.message.filter(F.text.startswith("/"), StaffOnly())
    prefixes = (f"{PendingCb.__prefix__}:", f"{PendingCardCb.__prefix__}:")
    router.callback_query.filter(F.data.startswith(prefixes), StaffOnly())
    router.message.register(pending_command, Command("pending"))
    router.callback_query.register(pending_page, PendingCb.filter())
    router.callback_query.register(open_card, PendingCardCb.filter())
    return router


def build_refusals() -> Router:
    router = Router(name="staff-pending-refusals")
    # A message posted as a channel or as the group itself has no person to refuse.
    router.message.filter(F.from_user)
    router.message.register(refuse, Command("pending"))
    router.callback_query.register(refuse, PendingCb.filter())
    router.callback_query.register(refuse, PendingCardCb.filter())
    return router
