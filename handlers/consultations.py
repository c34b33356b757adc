"""The list of consultations and a consultation's card."""

from __future__ import annotations

from datetime import datetime

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.i18n import Translator
from bot.reading import ConsultationPage, Reading, share_link, start_payload
from handlers import views
from handlers.keyboards import ConsultationCb, ListCb
from handlers.respond import show
from storage.models import Resident
from storage.repositories import FollowRepository


async def list_command(message: Message, reading: Reading, tr: Translator, clock: Clock) -> None:
    now = clock()
    await show(message, views.consultation_list(tr, await reading.listing(now), now, 0))


async def list_button(
    query: CallbackQuery, callback_data: ListCb, reading: Reading, tr: Translator, clock: Clock
) -> None:
    now = clock()
    screen = views.consultation_list(tr, await reading.listing(now), now, callback_data.page)
    await show(query, screen)


async def card_button(
    query: CallbackQuery,
    callback_data: ConsultationCb,
    session: AsyncSession,
    reading: Reading,
    tr: Translator,
    clock: Clock,
    bot: Bot,
    resident: Resident,
) -> None:
    page = await reading.consultation_page(callback_data.id)
    if page is None:
        await show(query, views.gone(tr))
        return
    await show(query, await render_consultation(tr, page, clock(), bot, session, resident))


async def render_consultation(
    tr: Translator,
    page: ConsultationPage,
    now: datetime,
    bot: Bot,
    session: AsyncSession,
    resident: Resident,
) -> views.Screen:
    me = await bot.me()
    link = share_link(me.username, start_payload(page.consultation.slug))
    following = await FollowRepository(session).follows(resident.id, page.consultation.id)
    return views.consultation_card(tr, page.consultation, page.top_sections, now, link, following)


def build() -> Router:
    router = Router(name="consultations")
    router.message.filter(F.chat.type == "private")
    router.callback_query.filter(F.message.chat.type == "private")
    router.message.register(list_command, Command("consultations"))
    router.callback_query.register(list_button, ListCb.filter())
    router.callback_query.register(card_button, ConsultationCb.filter())
    return router
