"""Walking a plan: contents, sections, pages of a long section."""

from __future__ import annotations

from datetime import datetime

from aiogram import F, Router
from aiogram.types import CallbackQuery

from bot.clock import Clock
from bot.config import Settings
from bot.i18n import Translator
from bot.reading import Reading, SectionPage
from handlers import views
from handlers.keyboards import ContentsCb, SectionCb
from handlers.respond import show


async def contents_button(
    query: CallbackQuery, callback_data: ContentsCb, reading: Reading, tr: Translator
) -> None:
    page = await reading.consultation_page(callback_data.consultation_id)
    if page is None:
        await show(query, views.gone(tr))
        return
    await show(query, views.contents(tr, page.consultation, page.plan))


async def section_button(
    query: CallbackQuery,
    callback_data: SectionCb,
    reading: Reading,
    tr: Translator,
    settings: Settings,
    clock: Clock,
) -> None:
    page = await reading.section_page(callback_data.id)
    if page is None:
        await show(query, views.gone(tr))
        return
    await show(query, render_section(tr, page, callback_data.page, settings, clock()))


def render_section(
    tr: Translator, page: SectionPage, page_number: int, settings: Settings, now: datetime
) -> views.Screen:
    return views.section_view(
        tr,
        page.consultation,
        page.section,
        page.where,
        page_number,
        settings.section_page_chars,
        now,
    )


def build() -> Router:
    router = Router(name="plan")
    router.callback_query.filter(F.message.chat.type == "private")
    router.callback_query.register(contents_button, ContentsCb.filter())
    router.callback_query.register(section_button, SectionCb.filter())
    return router
