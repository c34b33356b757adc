"""Following consultations, and /notifications to see and change it."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.config import Settings
from bot.i18n import Translator
from bot.notify.planner import followers_get
from bot.reading import Reading
from bot.telegram_text import MAX_MESSAGE, fold, measure
from handlers import follow_views as screens
from handlers import views
from handlers.consultations import render_consultation
from handlers.keyboards import FollowCb, FollowFrom, MenuAction, MenuCb
from handlers.respond import show
from handlers.views import Screen
from storage.models import Resident
from storage.repositories import FollowRepository

MAX_CALLBACK_ANSWER = 200  # Telegram's limit for the text of answerCallbackQuery


async def _screen(session: AsyncSession, resident: Resident, tr: Translator) -> Screen:
    followed = await FollowRepository(session).followed(resident.id)
    return screens.notifications(tr, resident.follows_all, followed)


async def notifications_command(
    message: Message, session: AsyncSession, resident: Resident, tr: Translator
) -> None:
    await show(message, await _screen(session, resident, tr))


async def notifications_button(
    query: CallbackQuery, session: AsyncSession, resident: Resident, tr: Translator
) -> None:
    await show(query, await _screen(session, resident, tr))


async def follow_button(
    query: CallbackQuery,
    callback_data: FollowCb,
    session: AsyncSession,
    reading: Reading,
    resident: Resident,
    tr: Translator,
    callback_answer: CallbackAnswer,
    clock: Clock,
    settings: Settings,
    bot: Bot,
) -> None:
    follows = FollowRepository(session)
    page = None
    if callback_data.consultation_id == 0:
        resident.follows_all = callback_data.on
        done = screens.following_everything(tr)
    else:
        page = await reading.consultation_page(callback_data.consultation_id)
        if page is None:
            await show(query, views.gone(tr))
            return
        if callback_data.on:
            await follows.follow(resident.id, page.consultation.id)
        else:
            await follows.unfollow(resident.id, page.consultation.id)
        gets = followers_get(
            page.consultation, clock(), settings.reminder_days, settings.reminder_hour
        )
        done = screens.followed(tr, gets)
    if not callback_data.on:
        callback_answer.text = screens.unfollowed(tr)
    await session.flush()
    if page is not None and callback_data.origin is FollowFrom.CARD:
        screen = await render_consultation(tr, page, clock(), bot, session, resident)
    else:
        screen = await _screen(session, resident, tr)
    if callback_data.on:
        # What following brings stays on the screen, not in a notice that fades; a card
        # too long for both has it as the notice.
        with_promise = screen.after(done)
        if measure(with_promise.text) <= MAX_MESSAGE:
            screen = with_promise
        else:
            callback_answer.text = fold(done, MAX_CALLBACK_ANSWER)
    await show(query, screen)


def build() -> Router:
    router = Router(name="follow")
    router.message.filter(F.chat.type == "private")
    router.callback_query.filter(F.message.chat.type == "private")
    router.message.register(notifications_command, Command("notifications"))
    router.callback_query.register(
        notifications_button, MenuCb.filter(F.action == MenuAction.NOTIFICATIONS)
    )
    router.callback_query.register(follow_button, FollowCb.filter())
    return router
