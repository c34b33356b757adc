"""A consultation drafted from a document sent to the staff chat (or an administrator's
private chat): what was found, then one question at a time for what is missing, the
preview of the card, and Publish / Schedule / Cancel.

The draft lives in the conversation state under its own name (destiny), so it never
mixes with /add or with the administrator's own drafts as a resident. In the staff chat
a typed answer is a reply to the bot's question: other talk there is left alone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
from datetime import datetime
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import BaseFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import intake, running
from bot.clock import Clock
from bot.config import Settings
from bot.content import ConsultationFile, put_consultation
from bot.i18n import Translator
from bot.intake import Draft, IntakeRefused, Refusal, Step
from bot.notify import planner
from bot.staff import Actor
from handlers import intake_views as views
from handlers import views as resident_views
from handlers.keyboards import IntakeAct, IntakeCb, RunAct, RunCb
from handlers.respond import alert
from handlers.staff import StaffOnly, actor_of, in_staff_language, refuse
from storage.models import Consultation, ConsultationStatus
from storage.repositories import ConsultationRepository, SectionRepository

DESTINY = "intake"


def drafts(state: FSMContext) -> FSMContext:
    """The person's intake draft in this chat, apart from their other conversations."""
    return FSMContext(storage=state.storage, key=dataclasses.replace(state.key, destiny=DESTINY))


async def current_draft(state: FSMContext) -> Draft | None:
    data = await drafts(state).get_data()
    return Draft.from_data(data) if data else None


async def keep(state: FSMContext, draft: Draft | None) -> None:
    await drafts(state).set_data(draft.as_data() if draft is not None else {})


# --- a document arrives ------------------------------------------------------------


class SentForIntake(BaseFilter):
    """A document that starts a draft (it replies to nothing; in a private chat, any),
    or the new version a Replace question asked for (a reply to it)."""

    async def __call__(self, message: Message, state: FSMContext) -> bool | dict[str, Any]:
        draft = await current_draft(state)
        asked = draft is not None and draft.step == Step.REPLACEMENT.value
        replied = message.reply_to_message
        if asked and (replied is None or replied.message_id == draft.question_id):
            return {"replacing": draft}
        if replied is None or message.chat.type == "private":
            return {"replacing": None}
        return False


async def document_received(
    message: Message,
    replacing: Draft | None,
    bot: Bot,
    session: AsyncSession,
    state: FSMContext,
    tr: Translator,
    settings: Settings,
    clock: Clock,
) -> None:
    document = message.document
    assert document is not None
    file_name = document.file_name or ""
    try:
        if not intake.is_readable(file_name):
            raise IntakeRefused(Refusal.UNSUPPORTED, file_name)
        if (document.file_size or 0) > intake.MAX_DOWNLOAD:
            raise IntakeRefused(Refusal.TOO_BIG)
        data = await _download(bot, document.file_id)
        # Reading a long PDF takes a while: the other updates go on meanwhile.
        draft = await asyncio.to_thread(intake.read_upload, data, file_name, message.message_id)
    except IntakeRefused as refused:
        await message.reply(views.refused(tr, refused))
        return
    if replacing is not None and replacing.target is not None:
        await replacement_received(message, draft, replacing.target, session, state, tr, clock())
        return
    await message.reply(views.found(tr, draft))
    await advance(message, draft, session, state, tr, settings, clock())


async def _download(bot: Bot, file_id: str) -> bytes:
    sent = await bot.get_file(file_id)
    if sent.file_path is None:  # Telegram keeps no copy to download (over 20 MB)
        raise IntakeRefused(Refusal.TOO_BIG)
    buffer = io.BytesIO()
    await bot.download_file(sent.file_path, destination=buffer)
    return buffer.getvalue()


# --- the questions -----------------------------------------------------------------


async def advance(
    message: Message,
    draft: Draft,
    session: AsyncSession,
    state: FSMContext,
    tr: Translator,
    settings: Settings,
    now: datetime,
) -> None:
    """Ask the next missing thing, or show the preview when nothing is missing."""
    slug = draft.mapping.get("slug")
    taken = isinstance(slug, str) and await _taken(session, slug)
    step = intake.next_step(draft, slug_taken=taken, now=now)
    if step is Step.SLUG and taken:
        await message.answer(views.slug_taken(tr, str(slug)))
    if step is not None:
        asked = views.question(tr, step, draft, settings.timezone)
        sent = await message.answer(asked.text, reply_markup=asked.markup)
        draft.step, draft.question_id = step.value, sent.message_id
        await keep(state, draft)
        return
    finished = intake.finish(draft, now=now)
    if finished.consultation is None:
        await keep(state, None)
        await message.answer(views.invalid(tr, finished.problems))
        return
    draft.step, draft.question_id = None, None
    await keep(state, draft)
    screen = views.preview(
        tr, draft, _card_text(tr, finished.consultation, now), _scheduled_for(tr, finished)
    )
    await message.answer(screen.text, reply_markup=screen.markup)


class AnswersQuestion(BaseFilter):
    """A typed reply to the question of this person's draft (in a private chat, any
    text while a question is open); the draft reaches the handler."""

    async def __call__(self, message: Message, state: FSMContext) -> bool | dict[str, Draft]:
        draft = await current_draft(state)
        if draft is None or draft.step is None:
            return False
        replied = message.reply_to_message
        if replied is None and message.chat.type != "private":
            return False
        if replied is not None and replied.message_id != draft.question_id:
            return False
        return {"draft": draft}


async def answer_typed(
    message: Message,
    draft: Draft,
    session: AsyncSession,
    state: FSMContext,
    tr: Translator,
    settings: Settings,
    clock: Clock,
) -> None:
    assert message.text is not None and draft.step is not None
    if draft.step == Step.EXTEND.value and draft.target is not None:
        await extend_typed(message, draft, session, state, tr, settings, clock())
        return
    problem = intake.answer(draft, Step(draft.step), message.text, now=clock())
    if problem is not None:
        asked = views.question(tr, Step(draft.step), draft, settings.timezone)
        sent = await message.reply(
            f"{views.answer_problem(tr, problem)}\n\n{asked.text}", reply_markup=asked.markup
        )
        draft.question_id = sent.message_id
        await keep(state, draft)
        return
    await advance(message, draft, session, state, tr, settings, clock())


# --- the buttons -------------------------------------------------------------------


async def intake_button(
    query: CallbackQuery,
    callback_data: IntakeCb,
    bot: Bot,
    session: AsyncSession,
    state: FSMContext,
    tr: Translator,
    settings: Settings,
    clock: Clock,
    callback_answer: CallbackAnswer,
) -> None:
    draft = await current_draft(state)
    message = query.message
    if draft is None or draft.draft_id != callback_data.draft or not isinstance(message, Message):
        alert(callback_answer, views.draft_gone(tr))
        return
    act = callback_data.act
    if act is IntakeAct.CANCEL:
        await keep(state, None)
        await message.answer(views.cancelled(tr))
        return
    if act is IntakeAct.REPLACE:
        await replace_confirmed(
            message, actor_of(query.from_user), draft, session, state, tr, settings, clock()
        )
        return
    if act is IntakeAct.PUBLISH:
        await publish(
            message, actor_of(query.from_user), draft, session, state, tr, settings, clock()
        )
        return
    wanted = {IntakeAct.SKIP: Step.CONTACT, IntakeAct.ZONE: Step.ZONE, IntakeAct.WHOLE: Step.WHOLE}
    if draft.step != wanted[act].value:  # a button of a question already answered
        alert(callback_answer, views.draft_gone(tr))
        return
    if act is IntakeAct.ZONE:
        intake.use_zone(draft, settings.timezone)
    else:
        intake.skip(draft, wanted[act])
    await advance(message, draft, session, state, tr, settings, clock())


async def publish(
    message: Message,
    actor: Actor,
    draft: Draft,
    session: AsyncSession,
    state: FSMContext,
    tr: Translator,
    settings: Settings,
    now: datetime,
) -> None:
    """The whole draft in one transaction, or nothing (it stays for another try)."""
    finished = intake.finish(draft, now=now)
    source = finished.consultation
    if source is None:
        await keep(state, None)
        await message.answer(views.invalid(tr, finished.problems))
        return
    if await _taken(session, source.slug):  # published by someone else meanwhile
        await advance(message, draft, session, state, tr, settings, now)
        return
    try:
        consultation, _ = await put_consultation(session, source, None)
    except IntegrityError:  # the same short name published at this very moment
        await session.rollback()
        await advance(message, draft, session, state, tr, settings, now)
        return
    await planner.sync(session, consultation, settings.reminder_days, settings.reminder_hour)
    await running.log_publication(session, consultation, actor, scheduled=finished.scheduled)
    await keep(state, None)
    await session.commit()
    title = source.title[source.original_language]
    opens = consultation.opens_at if finished.scheduled else None
    await message.answer(views.published(tr, title, source.slug, opens, source.timezone))


# --- running a published consultation: Extend and Replace of /consultations ----------


async def run_button(
    query: CallbackQuery,
    callback_data: RunCb,
    session: AsyncSession,
    state: FSMContext,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    """Extend asks for the new deadline, Replace for the new document: a reply to the
    question answers it."""
    consultation = await session.get(Consultation, callback_data.id)
    message = query.message
    if consultation is None or not isinstance(message, Message):
        alert(callback_answer, views.draft_gone(tr))
        return
    step = Step.EXTEND if callback_data.act is RunAct.EXTEND else Step.REPLACEMENT
    asked = views.run_question(tr, step, consultation)
    sent = await message.answer(asked.text, reply_markup=asked.markup)
    draft = Draft("", {}, step=step.value, question_id=sent.message_id, target=consultation.id)
    await keep(state, draft)


async def extend_typed(
    message: Message,
    draft: Draft,
    session: AsyncSession,
    state: FSMContext,
    tr: Translator,
    settings: Settings,
    now: datetime,
) -> None:
    assert message.text is not None and message.from_user is not None
    consultation = await session.get(Consultation, draft.target)
    if consultation is None:
        await keep(state, None)
        await message.reply(views.draft_gone(tr))
        return
    closes_at = intake.new_deadline(message.text, consultation.timezone, now=now)
    problem: str | None = None
    if isinstance(closes_at, intake.AnswerProblem):
        problem = views.answer_problem(tr, closes_at)
    else:
        try:
            await running.extend(
                session, consultation, closes_at, actor_of(message.from_user), settings, now
            )
        except running.NotLater as not_later:
            problem = views.not_later(tr, not_later.closes_at, consultation.timezone)
        except running.NotRunning:
            await keep(state, None)
            await message.reply(views.not_running(tr))
            return
    if problem is not None:
        asked = views.run_question(tr, Step.EXTEND, consultation)
        sent = await message.reply(f"{problem}\n\n{asked.text}", reply_markup=asked.markup)
        draft.question_id = sent.message_id
        await keep(state, draft)
        return
    await keep(state, None)
    await session.commit()
    await message.reply(views.extended(tr, consultation))


async def replacement_received(
    message: Message,
    draft: Draft,
    target: int,
    session: AsyncSession,
    state: FSMContext,
    tr: Translator,
    now: datetime,
) -> None:
    """What the new version changes, before anything is changed."""
    consultation = await session.get(Consultation, target)
    if consultation is None:
        await keep(state, None)
        await message.reply(views.draft_gone(tr))
        return
    intake.replacement(draft, consultation)
    finished = intake.finish(draft, now=now)
    if finished.consultation is None:
        await message.reply(views.invalid(tr, finished.problems))
        return
    current = [section.number for section in await SectionRepository(session).plan(target)]
    diff = intake.section_diff(current, finished.consultation)
    await keep(state, draft)
    screen = views.replacement(tr, draft, consultation, diff)
    await message.reply(screen.text, reply_markup=screen.markup)


async def replace_confirmed(
    message: Message,
    actor: Actor,
    draft: Draft,
    session: AsyncSession,
    state: FSMContext,
    tr: Translator,
    settings: Settings,
    now: datetime,
) -> None:
    consultation = await session.get(Consultation, draft.target) if draft.target else None
    finished = intake.finish(draft, now=now)
    await keep(state, None)
    if consultation is None or finished.consultation is None:
        await message.answer(views.draft_gone(tr))
        return
    try:
        report = await running.replace(
            session, consultation, finished.consultation, actor, settings
        )
    except running.SlugMismatch as mismatch:
        await message.answer(views.other_consultation(tr, mismatch.slug))
        return
    except running.NotRunning:
        await message.answer(views.not_running(tr))
        return
    await session.commit()
    await message.answer(views.replaced(tr, report))


async def _taken(session: AsyncSession, slug: str) -> bool:
    return await ConsultationRepository(session).by_slug(slug) is not None


def _card_text(tr: Translator, source: ConsultationFile, now: datetime) -> str:
    """The residents' card, made from the draft (nothing is stored)."""
    preview = Consultation(
        id=0,
        slug=source.slug,
        kind=source.kind,
        status=ConsultationStatus.PUBLISHED,
        original_language=source.original_language,
        timezone=source.timezone,
        organizer=dict(source.organizer),
        title=dict(source.title),
        summary=dict(source.summary),
        contact=dict(source.contact or {}),
        short_period_reason=dict(source.short_period_reason or {}),
        version=1,
        link=source.link,
        opens_at=source.opens_at_utc,
        closes_at=source.closes_at_utc,
    )
    return resident_views.consultation_card(tr, preview, [], now, None).text


def _scheduled_for(tr: Translator, finished: intake.Finished) -> str | None:
    source = finished.consultation
    if source is None or not finished.scheduled:
        return None
    return tr.datetime(source.opens_at_utc, source.timezone)


def build() -> Router:
    router = in_staff_language(Router(name="staff-intake"))
    # The cheap looks first: only then is Telegram asked whether the sender is staff.
    private = F.chat.type == "private"
    router.message.register(document_received, F.document, StaffOnly(), SentForIntake())
    router.message.register(
        answer_typed,
        F.text,
        ~F.text.startswith("/"),
        private | F.reply_to_message.from_user.is_bot,
        StaffOnly(),
        AnswersQuestion(),
    )
    router.callback_query.register(
        intake_button, F.data.startswith(f"{IntakeCb.__prefix__}:"), StaffOnly(), IntakeCb.filter()
    )
    router.callback_query.register(
        run_button,
        F.data.startswith(f"{RunCb.__prefix__}:"),
        StaffOnly(),
        RunCb.filter(F.act.in_({RunAct.EXTEND, RunAct.REPLACE})),
    )
    return router


def build_refusals() -> Router:
    router = Router(name="staff-intake-refusals")
    router.callback_query.register(refuse, IntakeCb.filter())
    router.callback_query.register(refuse, RunCb.filter(F.act.in_({RunAct.EXTEND, RunAct.REPLACE})))
    return router
