"""/consultations for staff (the staff chat, an administrator's private chat): every
consultation with its state; close now and withdraw (each asked first) and download its
file. Extend and Replace take a typed date or a document next: their own flows."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot import running
from bot.clock import Clock
from bot.config import Settings
from bot.dump import dump_consultation
from bot.i18n import Translator
from handlers import staff_running_views as views
from handlers.keyboards import RunAct, RunCb
from handlers.respond import alert, show
from handlers.staff import StaffOnly, actor_of, chat_of, in_staff_language, refuse
from storage.models import Consultation
from storage.repositories import ConsultationRepository


async def consultations_command(
    message: Message, session: AsyncSession, tr: Translator, clock: Clock
) -> None:
    repository = ConsultationRepository(session)
    screen = views.listing(
        tr, await repository.for_staff(), await repository.submission_counts(), clock()
    )
    await message.answer(screen.text, reply_markup=screen.markup)


async def open_button(
    query: CallbackQuery,
    callback_data: RunCb,
    session: AsyncSession,
    tr: Translator,
    clock: Clock,
    callback_answer: CallbackAnswer,
) -> None:
    """One consultation's screen, or (id 0) the list again, as they are now."""
    repository = ConsultationRepository(session)
    counts = await repository.submission_counts()
    if callback_data.id == 0:
        await show(query, views.listing(tr, await repository.for_staff(), counts, clock()))
        return
    consultation = await session.get(Consultation, callback_data.id)  # withdrawn ones too
    if consultation is None:
        alert(callback_answer, views.gone(tr))
        return
    await show(
        query, views.one(tr, consultation, counts.get(consultation.id, views.NO_COUNTS), clock())
    )


async def change_button(
    query: CallbackQuery,
    callback_data: RunCb,
    session: AsyncSession,
    tr: Translator,
    clock: Clock,
    settings: Settings,
    callback_answer: CallbackAnswer,
) -> None:
    """Close now or withdraw: asked first; done on the confirmation."""
    assert query.from_user is not None
    repository = ConsultationRepository(session)
    consultation = await repository.for_change(callback_data.id)
    if consultation is None:
        alert(callback_answer, views.gone(tr))
        return
    if not callback_data.sure:
        await show(query, views.confirm(tr, consultation, callback_data.act))
        return
    now = clock()
    actor = actor_of(query.from_user)
    try:
        if callback_data.act is RunAct.CLOSE:
            await running.close_now(session, consultation, actor, settings, now=now)
            done = views.closed(tr)
        else:
            await running.withdraw(session, consultation, actor, settings)
            done = views.withdrawn(tr)
    except running.NotRunning:
        done = views.not_running(tr)
    counts = (await repository.submission_counts()).get(consultation.id, views.NO_COUNTS)
    callback_answer.text = done
    await show(query, views.one(tr, consultation, counts, now).after(done))


async def download_button(
    query: CallbackQuery,
    callback_data: RunCb,
    session: AsyncSession,
    bot: Bot,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    """Its consultation file as the bot shows it now (`civicbot content dump`)."""
    chat = chat_of(query)
    assert chat is not None
    consultation = await session.get(Consultation, callback_data.id)
    text = await dump_consultation(session, consultation.slug) if consultation else None
    if consultation is None or text is None:
        alert(callback_answer, views.gone(tr))
        return
    message = query.message
    thread = message.message_thread_id if message is not None and message.is_topic_message else None
    await bot.send_document(
        chat.id,
        BufferedInputFile(text.encode(), filename=f"{consultation.slug}.yaml"),
        message_thread_id=thread,
    )


def build() -> Router:
    """Before the residents' /consultations: an administrator's private chat gets this one."""
    router = in_staff_language(Router(name="staff-running"))
    # The cheap look first: only then is Telegram asked whether the sender is staff.
    router.message.filter(F.text.startswith("/consultations"), StaffOnly())
    router.callback_query.filter(F.data.startswith(f"{RunCb.__prefix__}:"), StaffOnly())
    router.message.register(consultations_command, Command("consultations"))
    router.callback_query.register(open_button, RunCb.filter(F.act == RunAct.OPEN))
    router.callback_query.register(
        change_button, RunCb.filter(F.act.in_({RunAct.CLOSE, RunAct.WITHDRAW}))
    )
    router.callback_query.register(download_button, RunCb.filter(F.act == RunAct.DOWNLOAD))
    return router


def build_refusals() -> Router:
    """The buttons only: /consultations from anyone else is the residents' list."""
    router = Router(name="staff-running-refusals")
    router.callback_query.register(refuse, RunCb.filter())
    return router
