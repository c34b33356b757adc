"""The staff side: cards in the staff chat, answers and decisions, exports and stats.

Staff are the members of STAFF_CHAT_ID and the users in ADMIN_IDS. Telegram is asked
on every staff update whether the person is (still) a member: a button proves nothing.
"""

from __future__ import annotations

import asyncio
import io
import logging

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError
from aiogram.filters import BaseFilter, Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    Chat,
    Message,
    ReplyParameters,
    User,
)
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import export, staff
from bot.clock import Clock
from bot.config import Settings
from bot.i18n import Catalogs, Translator
from bot.plan import pick
from bot.reading import listing
from bot.staff import Actor
from handlers import staff_views as screens
from handlers.keyboards import StaffAct, StaffCb, StaffTool, StaffToolCb
from storage.models import Consultation, Resident, Section, Submission, SubmissionStatus
from storage.repositories import ConsultationRepository, StaffRepository

log = logging.getLogger(__name__)
MEMBER_STATUSES = {"creator", "administrator", "member"}
MAX_STAFF_TEXT = 3000
# Bots may upload files up to 50 MB.
TELEGRAM_UPLOAD_LIMIT = 50 * 1024 * 1024


class StaffFlow(StatesGroup):
    """A staff member was asked for the text of an answer or of a decision's reason."""

    writing = State()


async def is_staff(bot: Bot, settings: Settings, user_id: int) -> bool:
    if user_id in settings.admin_ids:
        return True
    if settings.staff_chat_id is None:
        return False
    try:
        member = await bot.get_chat_member(settings.staff_chat_id, user_id)
    except TelegramAPIError:
        return False
    return member.status in MEMBER_STATUSES or bool(getattr(member, "is_member", False))


def _chat_of(event: Message | CallbackQuery) -> Chat | None:
    if isinstance(event, Message):
        return event.chat
    return event.message.chat if event.message else None


class StaffOnly(BaseFilter):
    """The staff chat (from a member) or an administrator's private chat."""

    async def __call__(self, event: Message | CallbackQuery, bot: Bot, settings: Settings) -> bool:
        chat, user = _chat_of(event), event.from_user
        if chat is None or user is None:
            return False
        if chat.type == "private":
            return user.id in settings.admin_ids
        return chat.id == settings.staff_chat_id and await is_staff(bot, settings, user.id)


def _actor(user: User) -> Actor:
    return Actor(user.id, user.full_name)


def staff_translator(chat: Chat | None, tr: Translator, catalogs: Catalogs, settings: Settings):
    """The staff chat is shared: it speaks the municipality's language; a private chat
    speaks its reader's."""
    if chat is not None and chat.type == "private":
        return tr
    return catalogs.translator(settings.default_locale)


# --- cards ----------------------------------------------------------------------------


async def _card_parts(
    session: AsyncSession, submission: Submission
) -> tuple[Consultation | None, Section | None, Resident | None]:
    consultation = (
        await session.get(Consultation, submission.consultation_id)
        if submission.consultation_id
        else None
    )
    section = await session.get(Section, submission.section_id) if submission.section_id else None
    resident = (
        await session.get(Resident, submission.resident_id) if submission.resident_id else None
    )
    return consultation, section, resident


async def publish_card(
    bot: Bot, session: AsyncSession, settings: Settings, catalogs: Catalogs, submission: Submission
) -> bool:
    """Post a new submission's card (and what it has attached) to the staff chat.

    When Telegram cannot be reached the card stays unposted and the next sweep posts it;
    the caller commits.
    """
    if settings.staff_chat_id is None or submission.staff_message_id is not None:
        return False
    tr = catalogs.translator(settings.default_locale)
    consultation, section, resident = await _card_parts(session, submission)
    screen = screens.card(tr, submission, consultation, section, resident)
    try:
        thread = await _topic_of(bot, session, settings, consultation, tr)
        sent = await bot.send_message(
            settings.staff_chat_id,
            screen.text,
            reply_markup=screen.markup,
            message_thread_id=thread,
        )
        submission.staff_chat_id = settings.staff_chat_id
        submission.staff_message_id = sent.message_id
        await session.flush()
        await _send_attachments(bot, settings.staff_chat_id, sent.message_id, thread, submission)
    except TelegramAPIError as error:
        log.warning("card of submission %s not posted yet: %s", submission.id, error)
        return False
    return True


async def _topic_of(
    bot: Bot,
    session: AsyncSession,
    settings: Settings,
    consultation: Consultation | None,
    tr: Translator,
) -> int | None:
    """In a forum staff chat, each consultation has its own topic, made on first use."""
    assert settings.staff_chat_id is not None
    if consultation is None:
        return None
    if consultation.staff_topic_id is not None:
        return consultation.staff_topic_id
    chat = await bot.get_chat(settings.staff_chat_id)
    if not chat.is_forum:
        return None
    title = pick(consultation.title, tr.locale, consultation.original_language).text
    topic = await bot.create_forum_topic(settings.staff_chat_id, name=title[:128])
    consultation.staff_topic_id = topic.message_thread_id
    await session.flush()
    return topic.message_thread_id


async def _send_attachments(
    bot: Bot, chat_id: int, card_id: int, thread: int | None, submission: Submission
) -> None:
    for item in submission.attachments:
        common = {
            "reply_parameters": ReplyParameters(message_id=card_id),
            "message_thread_id": thread,
        }
        if item["type"] == "photo":
            await bot.send_photo(chat_id, str(item["file_id"]), **common)
        elif item["type"] == "document":
            await bot.send_document(chat_id, str(item["file_id"]), **common)
        elif item["type"] == "location":
            await bot.send_location(
                chat_id, float(item["latitude"]), float(item["longitude"]), **common
            )


async def post_missing_cards(
    bot: Bot,
    session_factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    catalogs: Catalogs,
) -> int:
    """Cards that could not be posted when their submission arrived (Telegram was down,
    the bot restarted): posted now, oldest first."""
    if settings.staff_chat_id is None:
        return 0
    posted = 0
    async with session_factory() as session:
        for submission in await StaffRepository(session).without_card():
            if submission.status is SubmissionStatus.SPAM:
                continue
            if not await publish_card(bot, session, settings, catalogs, submission):
                break
            await session.commit()
            posted += 1
    return posted


async def _refresh_card(
    bot: Bot, session: AsyncSession, tr: Translator, submission: Submission
) -> None:
    if submission.staff_chat_id is None or submission.staff_message_id is None:
        return
    consultation, section, resident = await _card_parts(session, submission)
    screen = screens.card(tr, submission, consultation, section, resident)
    try:
        await bot.edit_message_text(
            screen.text,
            chat_id=submission.staff_chat_id,
            message_id=submission.staff_message_id,
            reply_markup=screen.markup,
        )
    except TelegramAPIError as error:  # not modified, or deleted by someone: the log says
        log.info("card of submission %s not refreshed: %s", submission.id, error)


async def _notify_resident(
    bot: Bot,
    session: AsyncSession,
    catalogs: Catalogs,
    settings: Settings,
    submission: Submission,
    act: StaffAct,
) -> bool:
    resident = (
        await session.get(Resident, submission.resident_id) if submission.resident_id else None
    )
    if resident is None or resident.chat_id is None or not resident.reachable:
        return False
    tr = catalogs.for_person(resident.language, resident.telegram_language, settings.default_locale)
    notice = (
        screens.answer_notice(tr, submission)
        if act is StaffAct.ANSWER
        else screens.decision_notice(tr, submission)
    )
    try:
        await bot.send_message(resident.chat_id, notice)
    except TelegramForbiddenError:
        resident.reachable = False
        return False
    except TelegramAPIError as error:
        log.warning("answer to submission %s not delivered: %s", submission.id, error)
        return False
    resident.reachable = True
    return True


# --- staff actions ----------------------------------------------------------------


async def on_card_button(
    query: CallbackQuery,
    callback_data: StaffCb,
    session: AsyncSession,
    state: FSMContext,
    bot: Bot,
    settings: Settings,
    catalogs: Catalogs,
    tr: Translator,
    clock: Clock,
    callback_answer: CallbackAnswer,
) -> None:
    tr = staff_translator(_chat_of(query), tr, catalogs, settings)
    submission = await StaffRepository(session).submission(callback_data.id)
    if submission is None:
        _alert(callback_answer, tr("This submission no longer exists."))
        return
    act, actor = callback_data.act, _actor(query.from_user)
    if act in (StaffAct.ANSWER, StaffAct.ACCEPT, StaffAct.PARTLY, StaffAct.REJECT):
        await state.set_state(StaffFlow.writing)
        await state.set_data({"submission_id": submission.id, "act": act.value})
        prompt = screens.ask_for_text(tr, submission, act, actor.name)
        await bot.send_message(
            _chat_of(query).id,  # type: ignore[union-attr]
            prompt.text,
            reply_markup=screens.force_reply(tr),
            reply_parameters=(
                ReplyParameters(message_id=query.message.message_id) if query.message else None
            ),
        )
        return
    if act is StaffAct.SPAM:
        await staff.mark_spam(session, submission, actor, clock())
    else:
        resident = (
            await session.get(Resident, submission.resident_id) if submission.resident_id else None
        )
        if resident is None:
            _alert(callback_answer, screens.undelivered(tr))
            return
        await staff.set_blocked(session, submission, resident, act is StaffAct.BLOCK, actor)
    await session.commit()
    await _refresh_card(bot, session, tr, submission)
    callback_answer.text = screens.done(tr, submission)


async def on_staff_text(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    bot: Bot,
    settings: Settings,
    catalogs: Catalogs,
    tr: Translator,
    clock: Clock,
) -> None:
    tr = staff_translator(message.chat, tr, catalogs, settings)
    data = await state.get_data()
    submission = await StaffRepository(session).submission(int(data.get("submission_id", 0)))
    if submission is None:
        await state.clear()
        await message.reply(tr("This submission no longer exists."))
        return
    await _apply(
        message, StaffAct(data["act"]), submission, session, bot, settings, catalogs, tr, clock
    )
    await state.clear()


async def on_reply_to_card(
    message: Message,
    session: AsyncSession,
    bot: Bot,
    settings: Settings,
    catalogs: Catalogs,
    tr: Translator,
    clock: Clock,
) -> None:
    """Replying to a card with text answers it."""
    assert message.reply_to_message is not None
    submission = await StaffRepository(session).by_card(
        message.chat.id, message.reply_to_message.message_id
    )
    if submission is None:
        return  # a reply to something else: staff talking among themselves
    tr = staff_translator(message.chat, tr, catalogs, settings)
    await _apply(message, StaffAct.ANSWER, submission, session, bot, settings, catalogs, tr, clock)


async def _apply(
    message: Message,
    act: StaffAct,
    submission: Submission,
    session: AsyncSession,
    bot: Bot,
    settings: Settings,
    catalogs: Catalogs,
    tr: Translator,
    clock: Clock,
) -> None:
    text = (message.text or "").strip()
    if not text or len(text) > MAX_STAFF_TEXT:
        await message.reply(
            tr("Please reply with a text of 1 to %(max)s characters.", max=MAX_STAFF_TEXT)
        )
        return
    assert message.from_user is not None
    actor, now = _actor(message.from_user), clock()
    if act is StaffAct.ANSWER:
        await staff.answer(session, submission, text, actor, now)
    else:
        await staff.decide(session, submission, SubmissionStatus(act.value), text, actor, now)
    await session.commit()
    delivered = await _notify_resident(bot, session, catalogs, settings, submission, act)
    await session.commit()
    await _refresh_card(bot, session, tr, submission)
    note = screens.done(tr, submission)
    if not delivered:
        note += "\n" + screens.undelivered(tr)
    await message.reply(note)


async def cancel(
    message: Message, state: FSMContext, tr: Translator, catalogs: Catalogs, settings: Settings
) -> None:
    await state.clear()
    await message.reply(
        screens.staff_cancelled(staff_translator(message.chat, tr, catalogs, settings))
    )


async def staff_help(
    message: Message, tr: Translator, catalogs: Catalogs, settings: Settings
) -> None:
    await message.answer(screens.staff_help(staff_translator(message.chat, tr, catalogs, settings)))


# --- exports, report, stats ---------------------------------------------------------


async def tool_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    tr: Translator,
    catalogs: Catalogs,
    settings: Settings,
    clock: Clock,
) -> None:
    tr = staff_translator(message.chat, tr, catalogs, settings)
    consultations = await listing(session, clock())
    screen = screens.pick_consultation(tr, StaffTool(command.command), consultations)
    await message.answer(screen.text, reply_markup=screen.markup)


async def tool_button(
    query: CallbackQuery,
    callback_data: StaffToolCb,
    session: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    bot: Bot,
    tr: Translator,
    catalogs: Catalogs,
    settings: Settings,
    callback_answer: CallbackAnswer,
) -> None:
    chat = _chat_of(query)
    assert chat is not None
    tr = staff_translator(chat, tr, catalogs, settings)
    slug = export.GENERAL_SLUG
    if callback_data.consultation_id:
        consultation = await ConsultationRepository(session).by_id(callback_data.consultation_id)
        if consultation is None:
            _alert(callback_answer, tr("This consultation no longer exists."))
            return
        slug = consultation.slug
    tool, fmt = callback_data.tool, callback_data.format
    if tool is not StaffTool.STATS and not fmt:
        screen = screens.pick_format(tr, tool, callback_data.consultation_id)
        await bot.send_message(chat.id, screen.text, reply_markup=screen.markup)
        return
    try:
        if tool is StaffTool.STATS:
            await _send_stats(bot, chat.id, session, slug, tr)
        else:
            await _send_file(bot, chat.id, session_factory, catalogs, tool, slug, fmt, tr)
    except export.ExportError as error:
        log.info("staff %s of %s refused: %s", tool, slug, error)
        _alert(callback_answer, tr("This cannot be made: %(reason)s", reason=str(error)))


async def _send_stats(
    bot: Bot, chat_id: int, session: AsyncSession, slug: str, tr: Translator
) -> None:
    stats = await export.consultation_stats(session, slug)
    await bot.send_message(chat_id, export.stats_text(stats, tr))
    # Drawing takes a moment: off the event loop, so other residents are not kept waiting.
    chart = await asyncio.to_thread(export.stats_chart, stats, tr)
    await bot.send_photo(chat_id, BufferedInputFile(chart, filename=f"{slug}-stats.png"))


async def _send_file(
    bot: Bot,
    chat_id: int,
    session_factory: async_sessionmaker[AsyncSession],
    catalogs: Catalogs,
    tool: StaffTool,
    slug: str,
    fmt: str,
    tr: Translator,
) -> None:
    output = io.BytesIO()
    if tool is StaffTool.EXPORT:
        await export.export_submissions(session_factory, slug, fmt, output, tr)  # type: ignore[arg-type]
        name = f"{slug}-submissions.{fmt}"
    else:
        await export.consultation_report(session_factory, slug, fmt, output, catalogs)  # type: ignore[arg-type]
        name = f"{slug}-report.{fmt}"
    if output.tell() > TELEGRAM_UPLOAD_LIMIT:
        await bot.send_message(
            chat_id,
            tr(
                "The file is larger than Telegram lets bots send (50 MB). XLSX is much "
                "smaller; on the server, <code>civicbot export</code> has no limit."
            ),
        )
        return
    await bot.send_document(chat_id, BufferedInputFile(output.getvalue(), filename=name))


# --- whoever else tries -------------------------------------------------------------


async def refuse(
    event: Message | CallbackQuery,
    session: AsyncSession,
    tr: Translator,
    callback_answer: CallbackAnswer | None = None,
) -> None:
    """A staff button or command from someone without staff rights: refused, logged."""
    assert event.from_user is not None
    # The button's data, or the command word only: what follows it is a person's text.
    what = event.data if isinstance(event, CallbackQuery) else (event.text or "").split()[0]
    log.warning("refused staff action %r from user %s", what, event.from_user.id)
    await staff.refused(session, _actor(event.from_user), str(what))
    if callback_answer is not None:
        _alert(callback_answer, screens.not_staff(tr))
    else:
        await event.answer(screens.not_staff(tr))


def _alert(callback_answer: CallbackAnswer, text: str) -> None:
    callback_answer.text = text
    callback_answer.show_alert = True


TOOLS = Command(*(tool.value for tool in StaffTool))


def build() -> Router:
    router = Router(name="staff")
    router.message.filter(StaffOnly())
    router.callback_query.filter(StaffOnly())
    router.callback_query.register(on_card_button, StaffCb.filter())
    router.callback_query.register(tool_button, StaffToolCb.filter())
    router.message.register(cancel, StaffFlow.writing, Command("cancel"))
    router.message.register(tool_command, TOOLS)
    router.message.register(staff_help, Command("help"), F.chat.type != "private")
    router.message.register(on_staff_text, StaffFlow.writing, F.text, ~F.text.startswith("/"))
    router.message.register(on_reply_to_card, F.reply_to_message, F.text, ~F.text.startswith("/"))
    return router


def build_refusals() -> Router:
    router = Router(name="staff-refusals")
    router.callback_query.register(refuse, StaffCb.filter())
    router.callback_query.register(refuse, StaffToolCb.filter())
    router.message.register(refuse, TOOLS)
    return router
