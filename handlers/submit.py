"""Proposals and questions: from a consultation, a section or the general channel,
through the privacy notice, the text, attachments and a preview, to the receipt."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot import albums
from bot.clock import Clock
from bot.config import Settings
from bot.groups import SimilarProposals
from bot.i18n import Translator
from bot.metrics import Metrics
from bot.notify.outbox import queue_card, queue_screen
from bot.notify.planner import FollowersGet, followers_get
from bot.submissions import (
    MAX_PHOTOS,
    PRIVACY_NOTICE_VERSION,
    Draft,
    Duplicate,
    Sent,
    Target,
    TooMany,
    find_target,
    not_accepting,
    one_line,
    organisation_problem,
    send,
    target_of,
    text_problem,
)
from bot.zones import zone_of
from handlers import privacy_views as privacy_screens
from handlers import staff_views as staff_screens
from handlers import submission_views as screens
from handlers import views
from handlers.keyboards import (
    DraftAction,
    DraftCb,
    MenuAction,
    MenuCb,
    OrganisationCb,
    SubmitCb,
)
from handlers.respond import show
from storage.models import Resident, StakeholderKind, Submission
from storage.repositories import FollowRepository, SubmissionRepository

ATTACHABLE = {"photo", "document", "location"}


class Drafting(StatesGroup):
    consent = State()
    writing = State()
    reviewing = State()
    organisation = State()  # the name of the organisation a signed draft speaks for


async def choose_kind(query: CallbackQuery, tr: Translator) -> None:
    await show(query, screens.choose_kind(tr))


async def begin(
    query: CallbackQuery,
    callback_data: SubmitCb,
    state: FSMContext,
    session: AsyncSession,
    resident: Resident,
    settings: Settings,
    tr: Translator,
    clock: Clock,
) -> None:
    draft = Draft(
        kind=callback_data.kind.value,
        consultation_id=callback_data.consultation_id or None,
        section_id=callback_data.section_id or None,
    )
    await open_draft(query, draft, state, session, resident, settings, tr, clock)


async def open_draft(
    query: CallbackQuery,
    draft: Draft,
    state: FSMContext,
    session: AsyncSession,
    resident: Resident,
    settings: Settings,
    tr: Translator,
    clock: Clock,
) -> None:
    """A new draft, kept in the conversation and shown at its first step: the privacy
    notice (until agreed to), then the prompt for its text, or the preview when the
    draft has its text already (one the resident wrote before choosing where it goes)."""
    if resident.banned:
        await show(query, staff_screens.banned(tr))
        return
    target = await find_target(session, draft)
    if target is None:
        await show(query, views.gone(tr))
        return
    phase = not_accepting(target, clock())
    if phase is not None:
        assert target.consultation is not None
        await show(query, screens.not_accepting(tr, target.consultation, phase))
        return
    await state.set_data(draft.to_state())
    if resident.consent_version != PRIVACY_NOTICE_VERSION:
        await state.set_state(Drafting.consent)
        await show(query, privacy_screens.consent(tr, draft, settings))
        return
    await _ask_for_text_or_preview(query, draft, target, state, tr)


async def _ask_for_text_or_preview(
    query: CallbackQuery, draft: Draft, target: Target, state: FSMContext, tr: Translator
) -> None:
    if draft.text and text_problem(draft.text) is None:
        await state.set_state(Drafting.reviewing)
        await show(query, screens.preview(tr, draft, target, query.from_user.full_name))
        return
    await state.set_state(Drafting.writing)
    await show(query, screens.write_prompt(tr, draft, target))


async def resume(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    tr: Translator,
) -> None:
    """ "Continue your draft" from the menu: the screen the draft was at."""
    current_draft = await _current_draft(query, state, session, tr)
    if current_draft is None:
        return
    draft, target = current_draft
    current = await state.get_state()
    if current == Drafting.consent.state:
        await show(query, privacy_screens.consent(tr, draft, settings))
    elif current == Drafting.reviewing.state:
        await show(query, screens.preview(tr, draft, target, query.from_user.full_name))
    elif current == Drafting.organisation.state:
        await show(query, screens.ask_organisation(tr, draft))
    else:
        await show(query, screens.write_prompt(tr, draft, target))


async def on_draft_button(
    query: CallbackQuery,
    callback_data: DraftCb,
    state: FSMContext,
    session: AsyncSession,
    resident: Resident,
    tr: Translator,
    clock: Clock,
    settings: Settings,
    metrics: Metrics,
    similar: SimilarProposals,
) -> None:
    earlier = await SubmissionRepository(session).by_draft_key(callback_data.key)
    if earlier is not None:  # sent already: a second tap, or the update came twice
        target = await target_of(session, earlier)
        # The very receipt the first tap queued, so that one of the two edits is no change.
        offer = await _may_follow(session, resident, target, clock(), settings)
        await show(query, screens.receipt(tr, earlier, target, clock(), follow_offer=offer))
        return
    draft = Draft.from_state(await state.get_data())
    if draft is None or draft.key != callback_data.key:
        await show(query, screens.draft_gone(tr))
        return
    target = await find_target(session, draft)
    if target is None:
        await state.clear()
        await show(query, views.gone(tr))
        return
    action = callback_data.action
    needs_text = action not in (
        DraftAction.CANCEL,
        DraftAction.DECLINE,
        DraftAction.AGREE,
        DraftAction.EDIT,
    )
    if needs_text and text_problem(draft.text) is not None:
        # Only a forged or very old button gets here: the preview comes after the text.
        await state.set_state(Drafting.writing)
        await show(query, screens.write_prompt(tr, draft, target))
    elif action in (DraftAction.CANCEL, DraftAction.DECLINE):
        await state.clear()
        cancelled = (
            privacy_screens.declined(tr) if action is DraftAction.DECLINE else screens.cancelled(tr)
        )
        await show(query, cancelled)
    elif action is DraftAction.AGREE:
        resident.consent_at = clock()
        resident.consent_version = PRIVACY_NOTICE_VERSION
        await _ask_for_text_or_preview(query, draft, target, state, tr)
    elif action is DraftAction.EDIT:
        await state.set_state(Drafting.writing)
        await show(query, screens.write_prompt(tr, draft, target))
    elif action in (DraftAction.SIGN, DraftAction.ANONYMOUS, DraftAction.NO_ORGANISATION):
        draft.signed = action is not DraftAction.ANONYMOUS
        if action is not DraftAction.SIGN:  # an anonymous text speaks for nobody
            draft.stakeholder, draft.organisation = StakeholderKind.INDIVIDUAL.value, None
        await state.set_data(draft.to_state())
        await state.set_state(Drafting.reviewing)
        await show(query, screens.preview(tr, draft, target, query.from_user.full_name))
    elif action is DraftAction.ORGANISATION:
        draft.signed = True
        await state.set_data(draft.to_state())
        await show(query, screens.pick_organisation_kind(tr, draft))
    elif action is DraftAction.SEND:
        sent = await _send(
            query, draft, target, state, session, resident, tr, clock, settings, similar
        )
        if sent is not None:
            metrics.submissions.labels(sent.kind.value).inc()


async def _send(
    query: CallbackQuery,
    draft: Draft,
    target: Target,
    state: FSMContext,
    session: AsyncSession,
    resident: Resident,
    tr: Translator,
    clock: Clock,
    settings: Settings,
    similar: SimilarProposals,
) -> Submission | None:
    """Store the draft and answer the resident; the new submission, if one was made."""
    now = clock()
    if resident.banned:
        await state.clear()
        await show(query, staff_screens.banned(tr))
        return None
    phase = not_accepting(target, now)
    if phase is not None:  # it closed while the resident was writing
        assert target.consultation is not None
        await state.clear()
        await show(query, screens.not_accepting(tr, target.consultation, phase))
        return None
    outcome = await send(
        session,
        resident,
        draft,
        target,
        author_name=query.from_user.full_name,
        language=tr.locale,
        now=now,
        settings=settings,
    )
    if isinstance(outcome, TooMany):
        zone = zone_of(target.consultation, tr.home_zone)
        preview = screens.preview(tr, draft, target, query.from_user.full_name)
        await show(query, preview.after(screens.too_many(tr, outcome.retry_at, zone)))
        return None
    await state.clear()
    if isinstance(outcome, Duplicate):
        await show(query, screens.duplicate(tr, outcome.submission))
        return None
    offer = await _may_follow(session, resident, target, now, settings)
    receipt = screens.receipt(tr, outcome.submission, target, now, follow_offer=offer)
    # The receipt and the staff card follow the commit through the outbox: "received" is
    # said only once the submission is in the database, and is said even if the bot
    # stops right after.
    await queue_screen(
        session, query.from_user.id, receipt.text, receipt.markup, edit_message_id=_editable(query)
    )
    if isinstance(outcome, Sent):
        await similar.place(session, outcome.submission)
        if settings.staff_chat_id is not None:
            await queue_card(session, outcome.submission, settings.staff_chat_id)
    await session.commit()
    return outcome.submission if isinstance(outcome, Sent) else None


async def _may_follow(
    session: AsyncSession, resident: Resident, target: Target, now: datetime, settings: Settings
) -> FollowersGet | None:
    """A receipt offers to follow its consultation to whoever does not follow it yet,
    saying what that brings."""
    consultation = target.consultation
    if consultation is None or await FollowRepository(session).follows(
        resident.id, consultation.id
    ):
        return None
    return followers_get(consultation, now, settings.reminder_days, settings.reminder_hour)


def _editable(query: CallbackQuery) -> int | None:
    """The message a button was on, when it is a text the bot may edit into a new screen."""
    message = query.message
    if isinstance(message, Message) and message.text is not None:
        return message.message_id
    return None


async def organisation_kind(
    query: CallbackQuery,
    callback_data: OrganisationCb,
    state: FSMContext,
    session: AsyncSession,
    tr: Translator,
) -> None:
    """A kind of organisation chosen: its name is asked for next."""
    current = await _current_draft(query, state, session, tr)
    if current is None:
        return
    draft, _ = current
    kind = _organisation_kind(callback_data.kind)
    if draft.key != callback_data.key or not draft.signed or kind is None:
        # A button of another draft, or forged data: nothing to do with this draft.
        await show(query, screens.draft_gone(tr))
        return
    draft.stakeholder = kind.value
    await state.set_data(draft.to_state())
    await state.set_state(Drafting.organisation)
    await show(query, screens.ask_organisation(tr, draft))


def _organisation_kind(value: str) -> StakeholderKind | None:
    """The kind of organisation a button names; None for anything the buttons never offer."""
    try:
        kind = StakeholderKind(value)
    except ValueError:
        return None
    return None if kind is StakeholderKind.INDIVIDUAL else kind


async def write_organisation(
    message: Message, state: FSMContext, session: AsyncSession, tr: Translator
) -> None:
    current = await _current_draft(message, state, session, tr)
    if current is None:
        return
    draft, target = current
    name = one_line(message.text or "")
    if organisation_problem(name) is not None:
        await message.answer(screens.organisation_refused(tr))
        return
    draft.organisation = name
    await state.set_data(draft.to_state())
    await state.set_state(Drafting.reviewing)
    await show(message, screens.preview(tr, draft, target, _name(message)))


async def write_text(
    message: Message, state: FSMContext, session: AsyncSession, tr: Translator
) -> None:
    current = await _current_draft(message, state, session, tr)
    if current is None:
        return
    draft, target = current
    text = message.text or ""
    problem = text_problem(text)
    if problem is not None:
        await message.answer(screens.text_refused(tr, problem))
        return
    draft.text = text.strip()
    await state.set_data(draft.to_state())
    await state.set_state(Drafting.reviewing)
    await show(message, screens.preview(tr, draft, target, _name(message)))


async def text_while_reviewing(
    message: Message, state: FSMContext, session: AsyncSession, tr: Translator
) -> None:
    current = await _current_draft(message, state, session, tr)
    if current is None:
        return
    draft, target = current
    preview = screens.preview(tr, draft, target, _name(message))
    await show(message, preview.after(screens.text_while_reviewing(tr)))


async def attach(
    message: Message, state: FSMContext, session: AsyncSession, tr: Translator
) -> None:
    current = await _current_draft(message, state, session, tr)
    if current is None:
        return
    draft, target = current
    # An album comes as one message per photo: the first handled takes them all.
    album = await albums.unhandled_part(session, state, message)
    if not album.messages:
        return  # attached (or refused) with the rest of its album
    left_out = _attach_all(draft, album.messages)
    await state.set_data({**draft.to_state(), **album.mark()})
    refusals = [_refused(tr, kind, count, album.id) for kind, count in left_out.items()]
    if sum(left_out.values()) == len(album.messages) and not album.answer_id:  # none added
        if not album.answered:
            refused = await message.answer("\n".join(refusals))
            await state.update_data(album.mark(refused.message_id))
        return
    notice = "\n".join([screens.attached(tr, draft), *refusals])
    if draft.text:
        await state.set_state(Drafting.reviewing)
        screen = screens.preview(tr, draft, target, _name(message)).after(notice)
    else:
        screen = views.Screen(notice + "\n" + tr("Now write your text."))
    if album.answer_id is not None:
        # A later part of an album already answered: that answer changes, none is added.
        await queue_screen(
            session, message.chat.id, screen.text, screen.markup, edit_message_id=album.answer_id
        )
        return
    answer = await message.answer(screen.text, reply_markup=screen.markup)
    await state.update_data(album.mark(answer.message_id))


def _attach_all(draft: Draft, messages: list[Message]) -> Counter[str]:
    """Adds what fits (a caption may be the text); how many of each kind did not fit."""
    left_out: Counter[str] = Counter()
    for item in messages:
        attachment = _attachment_of(item)
        if not draft.room_for(attachment["type"]):
            left_out[attachment["type"]] += 1
            continue
        draft.attachments.append(attachment)
        caption = (item.caption or "").strip()
        if caption and not draft.text and text_problem(caption) is None:
            draft.text = caption
    return left_out


def _refused(tr: Translator, kind: str, count: int, album: str | None) -> str:
    if album is None:
        return screens.attachment_refused(tr, kind)
    if kind == "photo":
        return tr.plural(
            "%(count)s photo of the album was not added: a submission can have at most "
            "%(max)s photos.",
            "%(count)s photos of the album were not added: a submission can have at most "
            "%(max)s photos.",
            count,
            max=MAX_PHOTOS,
        )
    return tr.plural(
        "%(count)s file of the album was not added: a submission can have one document.",
        "%(count)s files of the album were not added: a submission can have one document.",
        count,
    )


async def unusable(message: Message, state: FSMContext, tr: Translator) -> None:
    if await albums.answered_before(state, message):
        return  # one answer for an album, not one per item
    await message.answer(screens.unusable_in_draft(tr))


async def _current_draft(
    event: Message | CallbackQuery, state: FSMContext, session: AsyncSession, tr: Translator
) -> tuple[Draft, Target] | None:
    """The draft in progress and what it is about; when either is gone, says so."""
    draft = Draft.from_state(await state.get_data())
    target = await find_target(session, draft) if draft else None
    if draft is None or target is None:
        await state.clear()
        await show(event, screens.draft_gone(tr))
        return None
    return draft, target


async def cancel_command(message: Message, state: FSMContext, tr: Translator) -> None:
    if await state.get_state() is None:
        await show(message, screens.nothing_to_cancel(tr))
        return
    await state.clear()
    await show(message, screens.cancelled(tr))


def _attachment_of(message: Message) -> dict[str, object]:
    if message.photo:
        largest = message.photo[-1]
        return {
            "type": "photo",
            "file_id": largest.file_id,
            "file_unique_id": largest.file_unique_id,
        }
    if message.document:
        document = message.document
        return {
            "type": "document",
            "file_id": document.file_id,
            "file_unique_id": document.file_unique_id,
            "file_name": document.file_name,
            "mime_type": document.mime_type,
            "file_size": document.file_size,
        }
    assert message.location is not None
    return {
        "type": "location",
        "latitude": message.location.latitude,
        "longitude": message.location.longitude,
    }


def _name(message: Message) -> str:
    return message.from_user.full_name if message.from_user else ""


def _has_attachment(message: Message) -> bool:
    return bool(message.photo or message.document or message.location)


def build() -> Router:
    router = Router(name="submit")
    router.message.filter(F.chat.type == "private")
    router.callback_query.filter(F.message.chat.type == "private")
    drafting = StateFilter(Drafting.writing, Drafting.reviewing)
    router.callback_query.register(choose_kind, MenuCb.filter(F.action == MenuAction.ASK))
    router.callback_query.register(resume, MenuCb.filter(F.action == MenuAction.DRAFT))
    router.callback_query.register(begin, SubmitCb.filter())
    router.callback_query.register(on_draft_button, DraftCb.filter())
    router.message.register(cancel_command, Command("cancel"))
    router.callback_query.register(organisation_kind, OrganisationCb.filter())
    router.message.register(write_text, Drafting.writing, F.text, ~F.text.startswith("/"))
    router.message.register(
        write_organisation, Drafting.organisation, F.text, ~F.text.startswith("/")
    )
    router.message.register(
        text_while_reviewing, Drafting.reviewing, F.text, ~F.text.startswith("/")
    )
    router.message.register(attach, drafting, F.func(_has_attachment))
    router.message.register(unusable, drafting, ~F.text)
    return router
