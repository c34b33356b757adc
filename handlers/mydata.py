"""A resident's own things: /my (submissions and answers), /mydata, /forget."""

from __future__ import annotations

import json

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import Translator
from bot.plan import pick
from bot.submissions import Draft, forget, personal_data
from handlers import submission_views as screens
from handlers.keyboards import ForgetAction, ForgetCb, MineCb
from handlers.respond import show
from handlers.views import Screen
from storage.models import Resident
from storage.repositories import ConsultationRepository, SubmissionRepository


async def mine_command(
    message: Message, session: AsyncSession, resident: Resident, tr: Translator
) -> None:
    await show(message, await _mine(session, resident, tr, 0))


async def mine_button(
    query: CallbackQuery,
    callback_data: MineCb,
    session: AsyncSession,
    resident: Resident,
    tr: Translator,
) -> None:
    await show(query, await _mine(session, resident, tr, callback_data.page))


async def _mine(session: AsyncSession, resident: Resident, tr: Translator, page: int) -> Screen:
    submissions = SubmissionRepository(session)
    total = await submissions.count_of_resident(resident.id)
    pages = max(1, -(-total // screens.MINE_PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    shown = await submissions.of_resident(
        resident.id, offset=page * screens.MINE_PAGE_SIZE, limit=screens.MINE_PAGE_SIZE
    )
    consultations = ConsultationRepository(session)
    titles = {}
    for consultation_id in {item.consultation_id for item in shown if item.consultation_id}:
        consultation = await consultations.by_id(consultation_id)
        if consultation is not None:
            titles[consultation_id] = pick(
                consultation.title, tr.locale, consultation.original_language
            ).text
    return screens.mine(tr, shown, titles, page, total)


async def my_data(
    message: Message,
    session: AsyncSession,
    resident: Resident,
    state: FSMContext,
    tr: Translator,
) -> None:
    document = await personal_data(session, resident, Draft.from_state(await state.get_data()))
    content = json.dumps(document, ensure_ascii=False, indent=2).encode()
    await message.answer_document(
        BufferedInputFile(content, filename="civicbot-my-data.json"),
        caption=screens.my_data_caption(tr),
    )


async def forget_command(
    message: Message, session: AsyncSession, resident: Resident, tr: Translator
) -> None:
    count = await SubmissionRepository(session).count_of_resident(resident.id)
    await show(message, screens.forget_question(tr, count))


async def forget_button(
    query: CallbackQuery,
    callback_data: ForgetCb,
    session: AsyncSession,
    resident: Resident,
    state: FSMContext,
    tr: Translator,
) -> None:
    if callback_data.action is ForgetAction.CANCEL:
        await show(query, screens.kept(tr))
        return
    keep = callback_data.action is ForgetAction.KEEP_SUBMISSIONS
    erased = await forget(session, resident, keep_submissions=keep)
    await state.clear()
    await session.commit()
    await show(query, screens.forgotten(tr, erased))


def build() -> Router:
    router = Router(name="mydata")
    router.message.filter(F.chat.type == "private")
    router.callback_query.filter(F.message.chat.type == "private")
    router.message.register(mine_command, Command("my"))
    router.callback_query.register(mine_button, MineCb.filter())
    router.message.register(my_data, Command("mydata"))
    router.message.register(forget_command, Command("forget"))
    router.callback_query.register(forget_button, ForgetCb.filter())
    return router
