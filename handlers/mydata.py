"""A resident's own things: /my (submissions and answers), /mydata, /privacy, /forget."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery, InputMediaDocument, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.config import Settings
from bot.i18n import Catalogs, Translator
from bot.plan import pick
from bot.privacy import erase, personal_data
from bot.submissions import Draft
from handlers import privacy_views as privacy_screens
from handlers import submission_views as screens
from handlers.free_text import kept_draft
from handlers.keyboards import ForgetAction, ForgetCb, MineCb, MineFullCb
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


async def mine_in_full(
    query: CallbackQuery,
    callback_data: MineFullCb,
    session: AsyncSession,
    bot: Bot,
    resident: Resident,
    tr: Translator,
) -> None:
    """One submission too long for the list, in as many messages as it takes."""
    submission = await SubmissionRepository(session).of_resident_by_id(
        resident.id, callback_data.id
    )
    if submission is None:  # erased, or a forged button for someone else's
        await show(query, await _mine(session, resident, tr, 0))
        return
    for screen in screens.mine_in_full(tr, submission, callback_data.page):
        await bot.send_message(query.from_user.id, screen.text, reply_markup=screen.markup)


async def _mine(session: AsyncSession, resident: Resident, tr: Translator, page: int) -> Screen:
    # All of them: how many fit on a page depends on how long each is.
    shown = await SubmissionRepository(session).of_resident(resident.id)
    consultations = ConsultationRepository(session)
    titles = {}
    for consultation_id in {item.consultation_id for item in shown if item.consultation_id}:
        consultation = await consultations.by_id(consultation_id)
        if consultation is not None:
            titles[consultation_id] = pick(
                consultation.title, tr.locale, consultation.original_language
            ).text
    return screens.mine(tr, shown, titles, page)


async def my_data(
    message: Message,
    session: AsyncSession,
    resident: Resident,
    state: FSMContext,
    settings: Settings,
    tr: Translator,
) -> None:
    data = await personal_data(session, resident, settings)
    conversation = await state.get_data()
    draft = Draft.from_state(conversation) or kept_draft(conversation)
    document = privacy_screens.my_data_document(tr, data, draft)
    await message.answer_media_group(
        [
            InputMediaDocument(
                media=BufferedInputFile(
                    privacy_screens.my_data_json(document), filename="civicbot-my-data.json"
                )
            ),
            InputMediaDocument(
                media=BufferedInputFile(
                    privacy_screens.my_data_text(tr, document), filename="civicbot-my-data.txt"
                ),
                caption=privacy_screens.my_data_caption(tr),
            ),
        ]
    )


async def privacy_notice(message: Message, settings: Settings, tr: Translator) -> None:
    await message.answer(privacy_screens.notice(tr, settings))


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
    settings: Settings,
    catalogs: Catalogs,
    clock: Clock,
    tr: Translator,
) -> None:
    if callback_data.action is ForgetAction.CANCEL:
        await show(query, screens.kept(tr))
        return
    erased = await erase(
        session,
        resident,
        keep_submissions=callback_data.action is ForgetAction.KEEP_SUBMISSIONS,
        settings=settings,
        staff_tr=catalogs.translator(settings.default_locale),
        now=clock(),
    )
    await state.clear()
    await session.commit()
    await show(query, screens.forgotten(tr, erased))


def build() -> Router:
    router = Router(name="mydata")
    router.message.filter(F.chat.type == "private")
    router.callback_query.filter(F.message.chat.type == "private")
    router.message.register(mine_command, Command("my"))
    router.callback_query.register(mine_button, MineCb.filter())
    router.callback_query.register(mine_in_full, MineFullCb.filter())
    router.message.register(my_data, Command("mydata"))
    router.message.register(privacy_notice, Command("privacy"))
    router.message.register(forget_command, Command("forget"))
    router.callback_query.register(forget_button, ForgetCb.filter())
    return router
