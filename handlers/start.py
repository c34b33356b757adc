"""First contact, deep links, the main menu and help."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.config import Settings
from bot.i18n import Translator
from bot.reading import ConsultationPage, Reading, parse_start_payload
from handlers import views
from handlers.consultations import render_consultation
from handlers.keyboards import MenuAction, MenuCb
from handlers.plan import render_section
from handlers.respond import show
from storage.models import Resident


async def start_with_link(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    reading: Reading,
    tr: Translator,
    settings: Settings,
    clock: Clock,
    bot: Bot,
    resident: Resident,
) -> None:
    link = parse_start_payload(command.args or "")
    target = await reading.follow_link(link) if link else None
    if target is None:
        now = clock()
        listing_screen = views.consultation_list(tr, await reading.listing(now), now, 0)
        await show(message, listing_screen.after(views.bad_link(tr)))
    elif isinstance(target, ConsultationPage):
        await show(message, await render_consultation(tr, target, clock(), bot, session, resident))
    else:
        await show(message, render_section(tr, target, 0, settings, clock()))


async def start(message: Message, tr: Translator, state: FSMContext) -> None:
    first_name = message.from_user.first_name if message.from_user else ""
    await show(message, views.welcome(tr, first_name, has_draft=await _has_draft(state)))


async def help_command(message: Message, tr: Translator) -> None:
    await show(message, views.help_screen(tr))


async def help_button(query: CallbackQuery, tr: Translator) -> None:
    await show(query, views.help_screen(tr))


async def home_button(query: CallbackQuery, tr: Translator, state: FSMContext) -> None:
    await show(query, views.menu(tr, has_draft=await _has_draft(state)))


async def _has_draft(state: FSMContext) -> bool:
    return await state.get_state() is not None


def build() -> Router:
    router = Router(name="start")
    router.message.filter(F.chat.type == "private")
    router.callback_query.filter(F.message.chat.type == "private")
    router.message.register(start_with_link, CommandStart(deep_link=True))
    router.message.register(start, CommandStart())
    router.message.register(help_command, Command("help"))
    router.callback_query.register(help_button, MenuCb.filter(F.action == MenuAction.HELP))
    router.callback_query.register(home_button, MenuCb.filter(F.action == MenuAction.HOME))
    return router
