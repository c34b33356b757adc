"""The staff side: cards in the staff chat, answers and decisions, exports and stats.

Staff are the members of STAFF_CHAT_ID and the users in ADMIN_IDS. Telegram is asked
on every staff update whether the person is (still) a member: a button proves nothing.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiogram import BaseMiddleware, Bot, F, Router
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters import BaseFilter, Command, CommandObject
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    Chat,
    Message,
    ReplyParameters,
    TelegramObject,
    User,
)
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import export, groups, staff, templates
from bot.clock import Clock
from bot.config import Settings
from bot.export import report
from bot.i18n import Catalogs, Translator
from bot.notify.outbox import Rendered, queue_card, queue_card_refresh, queue_reply
from bot.reading import Reading
from bot.staff import MAX_STAFF_TEXT, MAX_STAFF_UNITS, Actor, Reply, ReplyTarget, text_problem
from bot.telegram_text import cut_to_fit
from bot.zones import zone_of
from handlers import staff_templates_views as template_screens
from handlers import staff_views as screens
from handlers.keyboards import StaffAct, StaffCb, StaffTool, StaffToolCb
from handlers.respond import alert
from handlers.submission_views import text_too_heavy
from storage.models import (
    Consultation,
    OutboxStatus,
    Resident,
    Section,
    Submission,
    SubmissionStatus,
)
from storage.repositories import ConsultationRepository, StaffRepository

log = logging.getLogger(__name__)
MEMBER_STATUSES = {"creator", "administrator", "member"}
# Bots may upload files up to 50 MB.
TELEGRAM_UPLOAD_LIMIT = 50 * 1024 * 1024
# The acts that ask for a text with a prompt, and those of them that are decisions.
PROMPTED = (StaffAct.ANSWER, StaffAct.ACCEPT, StaffAct.PARTLY, StaffAct.REJECT)
DECISIONS = (StaffAct.ACCEPT, StaffAct.PARTLY, StaffAct.REJECT)


async def is_staff(bot: Bot, settings: Settings, user_id: int) -> bool:
    if user_id in settings.admin_ids:
        return True
    if settings.staff_chat_id is None:
        return False
    try:
        member = await bot.get_chat_member(settings.staff_chat_id, user_id)
    except (TelegramNetworkError, TelegramServerError, TelegramRetryAfter):
        raise  # Telegram could not say: the update is tried again, nobody is refused
    except TelegramAPIError:
        return False
    return member.status in MEMBER_STATUSES or bool(getattr(member, "is_member", False))


def chat_of(event: Message | CallbackQuery) -> Chat | None:
    if isinstance(event, Message):
        return event.chat
    return event.message.chat if event.message else None


class StaffOnly(BaseFilter):
    """The staff chat (from a member) or an administrator's private chat."""

    async def __call__(self, event: Message | CallbackQuery, bot: Bot, settings: Settings) -> bool:
        chat, user = chat_of(event), event.from_user
        if chat is None or user is None:
            return False
        if chat.type == "private":
            return user.id in settings.admin_ids
        return chat.id == settings.staff_chat_id and await is_staff(bot, settings, user.id)


def actor_of(user: User) -> Actor:
    return Actor(user.id, user.full_name)


class StaffLanguage(BaseMiddleware):
    """The staff chat is shared: it speaks the municipality's language, whoever writes;
    an administrator's private chat speaks its reader's. The staff routers' handlers
    get that translator as their `tr`."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        chat = chat_of(event) if isinstance(event, Message | CallbackQuery) else None
        if chat is not None and chat.type != "private":
            data["tr"] = data["catalogs"].translator(data["settings"].default_locale)
        return await handler(event, data)


def in_staff_language(router: Router) -> Router:
    """Every handler of this staff router gets the staff's translator as `tr`."""
    router.message.middleware(StaffLanguage())
    router.callback_query.middleware(StaffLanguage())
    return router


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


async def published_note(
    session: AsyncSession, tr: Translator, submission: Submission, published: datetime
) -> str:
    consultation = await session.get(Consultation, submission.consultation_id)
    return screens.in_published_report(tr, published, zone_of(consultation, tr.home_zone))


async def render_card(session: AsyncSession, submission: Submission, tr: Translator) -> Rendered:
    """The card as the staff chat shows it now (the outbox worker renders it when it
    sends or refreshes it)."""
    consultation, section, resident = await _card_parts(session, submission)
    similar = await groups.similar_to(session, submission)
    screen = screens.card(tr, submission, consultation, section, resident, similar)
    return Rendered(screen.text, screen.markup)


async def queue_missing_cards(session: AsyncSession, settings: Settings) -> int:
    """Cards of submissions that came while no staff chat was set: queued at start."""
    if settings.staff_chat_id is None:
        return 0
    missing = await StaffRepository(session).without_queued_card()
    for submission in missing:
        await queue_card(session, submission, settings.staff_chat_id)
    return len(missing)


async def queue_resident_reply(
    session: AsyncSession,
    catalogs: Catalogs,
    settings: Settings,
    submission: Submission,
    act: StaffAct,
) -> bool:
    """The answer or decision for the resident, in their language; False when they
    cannot be reached (erased, or they blocked the bot)."""
    resident = (
        await session.get(Resident, submission.resident_id) if submission.resident_id else None
    )
    if resident is None or resident.chat_id is None or not resident.reachable:
        submission.reply_status = OutboxStatus.UNREACHABLE.value if resident else None
        return False
    tr = catalogs.for_person(resident.language, resident.telegram_language, settings.default_locale)
    notice = (
        screens.answer_notice(tr, submission)
        if act is StaffAct.ANSWER
        else screens.decision_notice(tr, submission)
    )
    await queue_reply(session, submission, resident.chat_id, notice)
    return True


# --- staff actions ----------------------------------------------------------------


async def on_card_button(
    query: CallbackQuery,
    callback_data: StaffCb,
    session: AsyncSession,
    bot: Bot,
    settings: Settings,
    catalogs: Catalogs,
    tr: Translator,
    clock: Clock,
    callback_answer: CallbackAnswer,
) -> None:
    submission = await StaffRepository(session).submission(callback_data.id)
    if submission is None:
        alert(callback_answer, screens.erased(tr))
        return
    act, actor = callback_data.act, actor_of(query.from_user)
    if act is StaffAct.ANSWER and submission.anonymised_at is not None:
        alert(callback_answer, screens.erased(tr))  # nobody is there to read an answer
        return
    if act in DECISIONS and not staff.decidable(submission):
        alert(callback_answer, screens.question_not_decided(tr))
        return
    if act in PROMPTED or act is StaffAct.SPAM:
        published = await staff.published_on(session, submission)
        if published is not None:
            alert(callback_answer, await published_note(session, tr, submission, published))
            return
    if act in PROMPTED:
        await _prompt(
            query, act, submission, session, bot, catalogs, settings, tr, clock, callback_answer
        )
        return
    if act is StaffAct.FULL:
        await _show_in_full(query, submission, bot, tr)
        return
    if act is StaffAct.SPAM:
        await staff.mark_spam(session, submission, actor, clock())
    else:
        resident = (
            await session.get(Resident, submission.resident_id) if submission.resident_id else None
        )
        if resident is None:
            alert(callback_answer, screens.undelivered(tr))
            return
        await staff.set_blocked(
            session, submission, resident, act is StaffAct.BLOCK, actor, settings
        )
    await queue_card_refresh(session, submission)
    await session.commit()
    callback_answer.text = screens.done(tr, submission)


async def _prompt(
    query: CallbackQuery,
    act: StaffAct,
    submission: Submission,
    session: AsyncSession,
    bot: Bot,
    catalogs: Catalogs,
    settings: Settings,
    tr: Translator,
    clock: Clock,
    callback_answer: CallbackAnswer,
) -> None:
    """Ask for the text as a reply to the card; the prompt is bound to this message.
    Under it, the answer templates in the resident's language, ready to send."""
    chat = chat_of(query)
    assert chat is not None
    screen = screens.ask_for_text(tr, submission, act, query.from_user.full_name)
    card = query.message.message_id if query.message else None
    sent = await bot.send_message(
        chat.id,
        screen.text,
        reply_markup=screens.force_reply(tr),
        reply_parameters=(
            ReplyParameters(message_id=card, allow_sending_without_reply=True) if card else None
        ),
    )
    prompt = await staff.open_prompt(
        session, submission.id, act.value, chat.id, sent.message_id, query.from_user.id, clock()
    )
    offered = await templates.offer(session, submission, catalogs, settings)
    await session.commit()
    if prompt is None:
        alert(callback_answer, screens.erased(tr))
    elif offered.filled:
        under = template_screens.offer(tr, offered, sent.message_id)
        await bot.send_message(
            chat.id,
            under.text,
            reply_markup=under.markup,
            reply_parameters=ReplyParameters(
                message_id=sent.message_id, allow_sending_without_reply=True
            ),
        )


async def _show_in_full(
    query: CallbackQuery, submission: Submission, bot: Bot, tr: Translator
) -> None:
    """The whole text and answer of a shortened card, as replies to it."""
    chat = chat_of(query)
    assert chat is not None
    card = query.message.message_id if query.message else None
    for text in screens.in_full(tr, submission):
        await bot.send_message(
            chat.id,
            text,
            reply_parameters=(
                ReplyParameters(message_id=card, allow_sending_without_reply=True) if card else None
            ),
        )


def replied_to(message: Message) -> Message | None:
    """The message this one replies to; None when it is no reply (in a forum topic,
    Telegram shows every message as a reply to the topic's first one)."""
    replied = message.reply_to_message
    if replied is None:
        return None
    if message.is_topic_message and replied.message_id == message.message_thread_id:
        return None
    return replied


async def on_staff_reply(
    message: Message,
    session: AsyncSession,
    bot: Bot,
    settings: Settings,
    catalogs: Catalogs,
    tr: Translator,
    clock: Clock,
) -> None:
    """A reply to a prompt does its act on its submission; a reply to a card answers it.
    Anything else is never sent to anyone."""
    replied = replied_to(message)
    if replied is None:
        return  # not a reply: staff talking among themselves
    now = clock()
    from_bot = replied.from_user is not None and replied.from_user.id == bot.id
    number = screens.card_number(replied.text) if from_bot else None
    target = await staff.reply_target(session, message.chat.id, replied.message_id, now, number)
    if target.kind in (Reply.PROMPT, Reply.CARD):
        assert message.from_user is not None
        actor = actor_of(message.from_user)
        note = await reply_with_text(
            message.text or "", target, actor, session, settings, catalogs, tr, clock
        )
        await message.reply(note)
    elif target.kind is Reply.EXPIRED:
        await message.reply(screens.prompt_expired(tr))
    elif target.kind is Reply.CLOSED:
        await message.reply(screens.prompt_closed(tr))
    elif from_bot:
        await message.reply(screens.not_a_card(tr))
    # A reply to a person's message: staff talking among themselves.


async def reply_with_text(
    text: str,
    target: ReplyTarget,
    actor: Actor,
    session: AsyncSession,
    settings: Settings,
    catalogs: Catalogs,
    tr: Translator,
    clock: Clock,
) -> str:
    """What a text given to a prompt or a card does (a typed reply, or a template's
    button): the act applied once, whoever else answers at the same moment; the note
    for staff."""
    assert target.submission is not None and target.act is not None
    now = clock()
    if target.act == StaffAct.ANSWER and target.submission.anonymised_at is not None:
        return screens.erased(tr)  # nobody is there to read an answer
    # Only a text that _apply accepts uses the prompt (it explains what it does not).
    if text_problem(text) is None and not await staff.take(session, target, now):
        return screens.prompt_closed(tr)
    act = StaffAct(target.act)
    return await _apply(text, act, target.submission, actor, session, settings, catalogs, tr, now)


def text_refusal(tr: Translator, text: str) -> str | None:
    """What staff are told when their answer or reason cannot go to a resident as it is."""
    problem = text_problem(text)
    if problem == "heavy":
        return text_too_heavy(tr, cut_to_fit(text, MAX_STAFF_UNITS))
    if problem is not None:
        return tr("Please reply with a text of 1 to %(max)s characters.", max=MAX_STAFF_TEXT)
    return None


async def _apply(
    text: str,
    act: StaffAct,
    submission: Submission,
    actor: Actor,
    session: AsyncSession,
    settings: Settings,
    catalogs: Catalogs,
    tr: Translator,
    now: datetime,
) -> str:
    text = text.strip()
    refusal = text_refusal(tr, text)
    if refusal is not None:
        return refusal
    published = await staff.published_on(session, submission)
    if published is not None:  # the prompt was opened before the report was published
        return await published_note(session, tr, submission, published)
    if act is StaffAct.ANSWER:
        await staff.answer(session, submission, text, actor, now)
    else:
        await staff.decide(session, submission, SubmissionStatus(act.value), text, actor, now)
    reachable = await queue_resident_reply(session, catalogs, settings, submission, act)
    await queue_card_refresh(session, submission)
    await session.commit()
    note = screens.done(tr, submission)
    if screens.received_elsewhere(submission):
        note += "\n" + screens.not_sent_offline(tr)
    elif not reachable:
        note += "\n" + screens.undelivered(tr)
    return note


async def cancel(
    message: Message,
    session: AsyncSession,
    tr: Translator,
    clock: Clock,
) -> None:
    """/cancel as a reply to a prompt cancels it; on its own, the sender's open prompts."""
    assert message.from_user is not None
    now, replied = clock(), replied_to(message)
    outcome = (
        await staff.cancel_prompt(session, message.chat.id, replied.message_id, now)
        if replied is not None
        else None
    )
    if outcome is None:
        count = await staff.cancel_open_prompts(session, message.chat.id, message.from_user.id, now)
        text = screens.prompts_cancelled(tr, count)
    elif outcome is Reply.PROMPT:
        text = screens.staff_cancelled(tr)
    elif outcome is Reply.EXPIRED:
        text = screens.prompt_expired(tr)
    else:
        text = screens.prompt_closed(tr)
    await session.commit()
    await message.reply(text)


async def staff_help(
    message: Message, tr: Translator, catalogs: Catalogs, settings: Settings
) -> None:
    await message.answer(screens.staff_help(tr))


# --- exports, report, stats ---------------------------------------------------------


async def tool_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    reading: Reading,
    tr: Translator,
    clock: Clock,
) -> None:
    tool = StaffTool(command.command)
    if tool is StaffTool.REPORT and command.args:
        await _report_command(message, command.args, session, tr, clock)
        return
    consultations = await reading.listing(clock())
    screen = screens.pick_consultation(tr, tool, consultations)
    await message.answer(screen.text, reply_markup=screen.markup)


async def _report_command(
    message: Message, args: str, session: AsyncSession, tr: Translator, clock: Clock
) -> None:
    """/report SLUG (the checklist), /report SLUG prepared NAME, /report SLUG approved NAME."""
    slug, _, rest = args.strip().partition(" ")
    role, _, name = rest.strip().partition(" ")
    name = " ".join(name.split())
    if rest and (role not in ("prepared", "approved") or not 1 <= len(name) <= 200):
        await message.answer(screens.report_usage(tr))
        return
    try:
        if rest:
            review = await report.sign(session, slug, role, name, clock())  # type: ignore[arg-type]
            await session.commit()
            await message.answer(screens.signed(tr, role, name))
        else:
            review = await report.review(session, slug, clock())
    except export.ExportError as error:
        await message.answer(screens.report_refusal(tr, error))
        return
    screen = screens.report_review(tr, review)
    await message.answer(screen.text, reply_markup=screen.markup)


async def tool_button(
    query: CallbackQuery,
    callback_data: StaffToolCb,
    session: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    bot: Bot,
    tr: Translator,
    catalogs: Catalogs,
    clock: Clock,
    callback_answer: CallbackAnswer,
) -> None:
    chat = chat_of(query)
    assert chat is not None
    slug = export.GENERAL_SLUG
    if callback_data.consultation_id:
        consultation = await ConsultationRepository(session).by_id(callback_data.consultation_id)
        if consultation is None:
            alert(callback_answer, tr("This consultation no longer exists."))
            return
        slug = consultation.slug
    tool, fmt = callback_data.tool, callback_data.format
    if tool is StaffTool.REPORT and fmt in ("", screens.CLOSE):
        close = fmt == screens.CLOSE
        await _report_review(query, chat.id, close, session, bot, tr, clock, slug, callback_answer)
        return
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
        alert(callback_answer, tr("This cannot be done: %(reason)s", reason=str(error)))


async def _report_review(
    query: CallbackQuery,
    chat_id: int,
    close: bool,
    session: AsyncSession,
    bot: Bot,
    tr: Translator,
    clock: Clock,
    slug: str,
    callback_answer: CallbackAnswer,
) -> None:
    """The report's checklist; with «Close the review», closes it when nothing is missing
    (else the checklist, sent again, says what is)."""
    try:
        if close:
            review = await report.close_review(session, slug, query.from_user.full_name, clock())
            await session.commit()
        else:
            review = await report.review(session, slug, clock())
    except report.ReviewNotClean as refused:
        alert(callback_answer, screens.review_refused(tr))
        review = refused.review
    except export.ExportError as error:
        alert(callback_answer, screens.report_refusal(tr, error))
        return
    screen = screens.report_review(tr, review)
    await bot.send_message(chat_id, screen.text, reply_markup=screen.markup)


async def _send_stats(
    bot: Bot, chat_id: int, session: AsyncSession, slug: str, tr: Translator
) -> None:
    stats = await export.consultation_stats(session, slug, home_zone=tr.home_zone)
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
        ready = await export.consultation_report(session_factory, slug, fmt, output, catalogs)  # type: ignore[arg-type]
        name = report.report_filename(slug, fmt, ready)
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
    # No user id here: log files are not erased with a person (the audit row is).
    log.warning("refused staff action %r", what)
    await staff.refused(session, actor_of(event.from_user), str(what))
    if callback_answer is not None:
        alert(callback_answer, screens.not_staff(tr))
    else:
        await event.answer(screens.not_staff(tr))


def _not_a_command(message: Message) -> bool:
    return not (message.text or "").startswith("/")


TOOLS = Command(*(tool.value for tool in StaffTool))


def build() -> Router:
    router = in_staff_language(Router(name="staff"))
    router.message.filter(StaffOnly())
    router.callback_query.filter(StaffOnly())
    router.callback_query.register(on_card_button, StaffCb.filter())
    router.callback_query.register(tool_button, StaffToolCb.filter())
    in_group = F.chat.type != "private"
    router.message.register(cancel, Command("cancel"), in_group)
    router.message.register(tool_command, TOOLS)
    router.message.register(staff_help, Command("help"), in_group)
    router.message.register(on_staff_reply, in_group, F.reply_to_message, F.func(_not_a_command))
    return router


def build_refusals() -> Router:
    router = Router(name="staff-refusals")
    # A message posted as a channel or as the group itself has no person to refuse.
    router.message.filter(F.from_user)
    router.callback_query.register(refuse, StaffCb.filter())
    router.callback_query.register(refuse, StaffToolCb.filter())
    router.message.register(refuse, TOOLS)
    return router
