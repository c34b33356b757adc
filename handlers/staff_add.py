"""/add in the staff chat: register a proposal or question the municipality received by
e-mail, letter, phone or at a public meeting. A short guided conversation (buttons where
the choice is finite, replies to prompts for what is typed), a confirmation, then it is
stored and its card is queued like a resident's."""

from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.config import Settings
from bot.groups import SimilarProposals
from bot.i18n import Catalogs, Translator
from bot.notify.outbox import queue_card
from bot.reading import Reading
from bot.submissions import (
    OFFLINE_CHANNELS,
    Draft,
    Received,
    find_target,
    one_line,
    organisation_problem,
    parse_received,
    received_problem,
    register_received,
    text_problem,
)
from handlers import staff_add_views as screens
from handlers import staff_views
from handlers.keyboards import AddCb, AddStep
from handlers.respond import alert, show
from handlers.staff import StaffOnly, in_staff_language, refuse
from handlers.submission_views import text_refused
from handlers.views import Screen
from storage.models import (
    Consultation,
    Phase,
    StakeholderKind,
    SubmissionChannel,
    SubmissionKind,
)
from storage.repositories import ReportRepository, SectionRepository


class Adding(StatesGroup):
    choosing = State()  # buttons: consultation, section, kind, stakeholder, channel
    text = State()
    author = State()
    organisation = State()
    date = State()
    confirming = State()


async def start(
    message: Message,
    state: FSMContext,
    reading: Reading,
    tr: Translator,
    clock: Clock,
) -> None:
    now = clock()
    consultations = [c for c in await reading.listing(now) if c.phase(now) is not Phase.UPCOMING]
    key = secrets.token_urlsafe(6)
    await state.set_state(Adding.choosing)
    await state.set_data({"key": key})
    screen = screens.pick_consultation(tr, consultations, key)
    await message.answer(screen.text, reply_markup=screen.markup)


async def on_step(
    query: CallbackQuery,
    callback_data: AddCb,
    state: FSMContext,
    session: AsyncSession,
    bot: Bot,
    tr: Translator,
    settings: Settings,
    clock: Clock,
    callback_answer: CallbackAnswer,
    similar: SimilarProposals,
) -> None:
    data = await state.get_data()
    step = callback_data.step
    if data.get("key") != callback_data.key or not _valid(callback_data):
        # A button of a registration saved, cancelled or replaced: it stays as it is.
        alert(callback_answer, screens.stale(tr))
        return
    if step is AddStep.CANCEL:
        await state.clear()
        await show(query, Screen(staff_views.staff_cancelled(tr)))
        return
    where = _where(query)
    if step is AddStep.CONSULTATION:
        target = await find_target(
            session, Draft(kind="proposal", consultation_id=callback_data.id)
        )
        if target is None or target.consultation is None:
            await show(query, Screen(screens.stale(tr)))
            return
        published = await _report_published(session, target.consultation, tr)
        if published is not None:
            # Its decisions are locked: a proposal added now could never be decided.
            await state.clear()
            await show(query, Screen(published))
            return
        await state.update_data(consultation_id=target.consultation.id, section_id=None)
        sections = await _sections(session, target.consultation.id)
        await show(query, screens.pick_section(tr, target.consultation, sections, data["key"]))
    elif step is AddStep.SECTION:
        await state.update_data(section_id=callback_data.id or None)
        await show(query, screens.pick_kind(tr, data["key"]))
    elif step is AddStep.KIND:
        await state.update_data(kind=SubmissionKind(callback_data.value).value)
        await state.set_state(Adding.text)
        await _ask(bot, where, screens.ask_text(tr), tr, state)
    elif step is AddStep.ANONYMOUS and await state.get_state() == Adding.author.state:
        await state.update_data(author=None)
        await state.set_state(Adding.choosing)
        await _send(bot, where, screens.pick_stakeholder(tr, data["key"]))
    elif step is AddStep.STAKEHOLDER:
        kind = StakeholderKind(callback_data.value)
        await state.update_data(stakeholder=kind.value, organisation=None)
        if kind is StakeholderKind.INDIVIDUAL:
            await show(query, screens.pick_channel(tr, data["key"]))
        else:
            await state.set_state(Adding.organisation)
            await _ask(bot, where, screens.ask_organisation(tr), tr, state)
    elif step is AddStep.CHANNEL:
        await state.update_data(channel=SubmissionChannel(callback_data.value).value)
        await state.set_state(Adding.date)
        await _ask(bot, where, screens.ask_date(tr), tr, state)
    elif step is AddStep.SAVE and await state.get_state() == Adding.confirming.state:
        if not _complete(data) or "received" not in data:
            await state.clear()
            await show(query, Screen(screens.stale(tr)))
            return
        if data["stakeholder"] != StakeholderKind.INDIVIDUAL.value and not data.get("organisation"):
            # Steps skipped with a button of an older screen: an organisation needs its
            # name (stored without one, it would silently become an individual).
            await state.set_state(Adding.organisation)
            await _ask(bot, where, screens.ask_organisation(tr), tr, state)
            return
        await _save(query, data, state, session, tr, settings, clock, similar)


async def _save(
    query: CallbackQuery,
    data: dict[str, Any],
    state: FSMContext,
    session: AsyncSession,
    tr: Translator,
    settings: Settings,
    clock: Clock,
    similar: SimilarProposals,
) -> None:
    target = await _target(session, data)
    if target is None:
        await state.clear()
        await show(query, Screen(screens.stale(tr)))
        return
    published = None
    if target.consultation is not None:
        published = await _report_published(session, target.consultation, tr)
    if published is not None:
        # Published while the registration was in progress.
        await state.clear()
        await show(query, Screen(published))
        return
    received = Received(
        kind=SubmissionKind(data["kind"]),
        text=data["text"],
        channel=SubmissionChannel(data["channel"]),
        received_on=date.fromisoformat(data["received"]),
        author_name=data.get("author"),
        stakeholder=StakeholderKind(data["stakeholder"]),
        organisation_name=data.get("organisation"),
    )
    submission, created = await register_received(
        session,
        target,
        received,
        key=f"add-{data['key']}",
        registered_by=query.from_user.full_name,
        language=settings.default_locale,
        now=clock(),
        home_zone=settings.timezone,
    )
    if created:
        await similar.place(session, submission)
    # The card follows the commit through the outbox, as for a resident's submission.
    if created and settings.staff_chat_id is not None:
        await queue_card(session, submission, settings.staff_chat_id)
    await state.clear()
    await session.commit()
    await show(query, Screen(screens.saved(tr, submission)))


async def on_text(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    tr: Translator,
    clock: Clock,
) -> None:
    current, data = await state.get_state(), await state.get_data()
    text = (message.text or "").strip()
    if current == Adding.text.state:
        problem = text_problem(text)
        if problem is not None:
            await _prompted(state, await message.reply(text_refused(tr, problem)))
            return
        await state.update_data(text=text)
        await state.set_state(Adding.author)
        screen = screens.ask_author(tr, data["key"])
        await _prompted(state, await message.reply(screen.text, reply_markup=screen.markup))
    elif current in (Adding.author.state, Adding.organisation.state):
        name = one_line(text)
        if organisation_problem(name) is not None:
            await _prompted(state, await message.reply(screens.name_refused(tr)))
            return
        await state.set_state(Adding.choosing)
        if current == Adding.author.state:
            await state.update_data(author=name)
            screen = screens.pick_stakeholder(tr, data["key"])
        elif data.get("received") and data.get("channel"):
            # The name asked for again at saving: back to the confirmation.
            await state.update_data(organisation=name)
            await _on_date(message, data["received"], data, state, session, tr, clock())
            return
        else:
            await state.update_data(organisation=name)
            screen = screens.pick_channel(tr, data["key"])
        await message.reply(screen.text, reply_markup=screen.markup)
    elif current == Adding.date.state:
        await _on_date(message, text, data, state, session, tr, clock())


async def _on_date(
    message: Message,
    text: str,
    data: dict[str, Any],
    state: FSMContext,
    session: AsyncSession,
    tr: Translator,
    now: datetime,
) -> None:
    target = await _target(session, data)
    if target is None or target.consultation is None or not _complete(data):
        await state.clear()  # gone meanwhile, or steps skipped with buttons of older screens
        await message.reply(screens.stale(tr))
        return
    received = parse_received(text)
    if received is None:
        refusal = await message.reply(
            screens.date_refused(tr, "format"), reply_markup=staff_views.force_reply(tr)
        )
        await _prompted(state, refusal)
        return
    problem = received_problem(target, received, now, tr.home_zone)
    if problem is not None:
        opened = tr.date(target.consultation.opens_at, target.consultation.timezone)
        refusal = await message.reply(
            screens.date_refused(tr, problem, opened), reply_markup=staff_views.force_reply(tr)
        )
        await _prompted(state, refusal)
        return
    await state.update_data(received=received.isoformat())
    await state.set_state(Adding.confirming)
    data = await state.get_data()
    screen = screens.preview(tr, data, target.consultation, target.section, received, data["key"])
    await message.reply(screen.text, reply_markup=screen.markup)


async def _report_published(
    session: AsyncSession, consultation: Consultation, tr: Translator
) -> str | None:
    """Why nothing can be added to the consultation (its report is published), or None."""
    report = await ReportRepository(session).of(consultation.id)
    if report is None or report.published_at is None:
        return None
    return screens.report_published(tr, tr.date(report.published_at, consultation.timezone))


# The /add prompts a staff member may reply to, newest last (a few: older ones still work).
MAX_PROMPTS = 10


async def _prompted(state: FSMContext, prompt: Message) -> None:
    """Remember a message of the bot that asks for a typed reply in this registration."""
    prompts = (await state.get_data()).get("prompts", [])
    await state.update_data(prompts=[*prompts, prompt.message_id][-MAX_PROMPTS:])


async def for_add(message: Message, state: FSMContext) -> bool:
    """A message for the registration in progress: one that replies to nothing, or to one
    of its prompts. A reply to anything else (a card, another prompt) is left to the next
    routers: the staff router applies it to its card."""
    replied = message.reply_to_message
    if replied is None:
        return True
    if message.is_topic_message and replied.message_id == message.message_thread_id:
        return True  # in a forum topic every message "replies" to the topic's first one
    return replied.message_id in (await state.get_data()).get("prompts", [])


def _valid(data: AddCb) -> bool:
    """A button's value is one of its step's choices (forged data is stale data)."""
    choices = {
        AddStep.KIND: set(SubmissionKind),
        AddStep.STAKEHOLDER: set(StakeholderKind),
        AddStep.CHANNEL: set(OFFLINE_CHANNELS),
    }.get(data.step)
    return choices is None or data.value in choices


STEPS = ("consultation_id", "kind", "text", "stakeholder", "channel")


def _complete(data: dict[str, Any]) -> bool:
    return all(data.get(name) for name in STEPS) and "author" in data


async def cancel(
    message: Message, state: FSMContext, tr: Translator, catalogs: Catalogs, settings: Settings
) -> None:
    await state.clear()
    await message.reply(staff_views.staff_cancelled(tr))


async def _target(session: AsyncSession, data: dict[str, Any]):
    draft = Draft(
        kind="proposal",
        consultation_id=data.get("consultation_id"),
        section_id=data.get("section_id"),
    )
    return await find_target(session, draft)


async def _sections(session: AsyncSession, consultation_id: int):
    return await SectionRepository(session).plan(consultation_id)


def _where(query: CallbackQuery) -> tuple[int, int | None]:
    """The chat of the button, and its forum topic: the next question goes there."""
    message = query.message
    if message is None:
        return query.from_user.id, None
    thread = message.message_thread_id if isinstance(message, Message) else None
    return message.chat.id, thread if thread and message.is_topic_message else None


async def _ask(
    bot: Bot, where: tuple[int, int | None], text: str, tr: Translator, state: FSMContext
) -> None:
    prompt = await bot.send_message(
        where[0], text, message_thread_id=where[1], reply_markup=staff_views.force_reply(tr)
    )
    await _prompted(state, prompt)


async def _send(bot: Bot, where: tuple[int, int | None], screen: Screen) -> None:
    await bot.send_message(
        where[0], screen.text, message_thread_id=where[1], reply_markup=screen.markup
    )


def build() -> Router:
    router = in_staff_language(Router(name="staff-add"))
    router.message.filter(StaffOnly())
    router.callback_query.filter(StaffOnly())
    router.message.register(start, Command("add"))
    router.callback_query.register(on_step, AddCb.filter())
    adding = StateFilter(*Adding.__all_states__)
    router.message.register(cancel, Command("cancel"), adding)
    typing = StateFilter(Adding.text, Adding.author, Adding.organisation, Adding.date)
    router.message.register(on_text, typing, F.text, ~F.text.startswith("/"), for_add)
    return router


def build_refusals() -> Router:
    router = Router(name="staff-add-refusals")
    router.message.filter(F.from_user)
    router.callback_query.register(refuse, AddCb.filter())
    router.message.register(refuse, Command("add"))
    return router
