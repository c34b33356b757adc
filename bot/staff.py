"""What staff do to submissions: answer, decide with a reason, mark spam, block the
sender. Every action is written to the audit log in the same transaction.

An answer or a reason is asked for with a prompt: a message in the staff chat, bound to
one submission and one act. Only a reply to that message (or to the card itself) answers,
once, within PROMPT_MINUTES; the submission comes from the message replied to.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.privacy import lift_ban
from bot.telegram_text import MAX_MESSAGE, cut_to_fit, visible_length
from storage.models import (
    Resident,
    StaffAction,
    StaffActionKind,
    StaffPrompt,
    Submission,
    SubmissionKind,
    SubmissionStatus,
)
from storage.repositories import ReportRepository, StaffRepository

DECISIONS = (
    SubmissionStatus.ACCEPTED,
    SubmissionStatus.PARTLY_ACCEPTED,
    SubmissionStatus.REJECTED,
)


MAX_STAFF_TEXT = 3000
# Telegram's count of an answer or reason: the resident's notice around it must fit too.
MAX_STAFF_UNITS = MAX_MESSAGE - 400


def text_problem(text: str) -> str | None:
    """Why an answer or reason cannot be sent to the resident as it is: "length" (not 1
    to MAX_STAFF_TEXT characters) or "heavy" (its markup makes it too long for
    Telegram); None when it can."""
    length = visible_length(text)
    if length < 1 or length > MAX_STAFF_TEXT:
        return "length"
    if cut_to_fit(text.strip(), MAX_STAFF_UNITS):
        return "heavy"
    return None


@dataclass(frozen=True)
class Actor:
    """A staff member acting, as Telegram names them."""

    telegram_id: int
    name: str


async def answer(
    session: AsyncSession, submission: Submission, text: str, actor: Actor, now: datetime
) -> None:
    submission.answer = text.strip()
    if submission.status in (SubmissionStatus.RECEIVED, SubmissionStatus.SPAM):
        submission.status = SubmissionStatus.ANSWERED
    _signed(submission, actor, now)
    await _log(session, submission, actor, StaffActionKind.ANSWER, submission.answer)


async def published_on(session: AsyncSession, submission: Submission) -> datetime | None:
    """When the report that holds this submission's decision or answer was published:
    from then on they are part of a public document, sent to every participant, and no
    longer change. None while they still may."""
    if submission.consultation_id is None:
        return None
    report = await ReportRepository(session).of(submission.consultation_id)
    return report.published_at if report is not None else None


def decidable(submission: Submission) -> bool:
    """Proposals are decided on (with a reason); questions are only answered."""
    return submission.kind is not SubmissionKind.QUESTION


async def decide(
    session: AsyncSession,
    submission: Submission,
    decision: SubmissionStatus,
    reason: str,
    actor: Actor,
    now: datetime,
) -> None:
    if decision not in DECISIONS:
        raise ValueError(f"{decision} is not a decision")
    if not decidable(submission):
        raise ValueError(f"submission {submission.id} is a question: it gets an answer only")
    submission.status = decision
    submission.decision_reason = reason.strip()
    _signed(submission, actor, now)
    await _log(session, submission, actor, StaffActionKind.DECIDE, f"{decision}: {reason}")


async def mark_spam(
    session: AsyncSession, submission: Submission, actor: Actor, now: datetime
) -> None:
    submission.status = SubmissionStatus.SPAM
    _signed(submission, actor, now)
    await _log(session, submission, actor, StaffActionKind.SPAM, None)


async def set_blocked(
    session: AsyncSession,
    submission: Submission,
    resident: Resident,
    blocked: bool,
    actor: Actor,
    settings: Settings,
) -> None:
    resident.banned = blocked
    if not blocked:  # nor may an erasure bring the block back
        await lift_ban(session, resident, settings)
    detail = "blocked" if blocked else "unblocked"
    await _log(session, submission, actor, StaffActionKind.BLOCK, detail)


async def refused(
    session: AsyncSession, actor: Actor, what: str, submission_id: int | None = None
) -> None:
    """Someone without staff rights tried a staff action: nothing changes but the log."""
    await log_action(
        session, actor, StaffActionKind.REFUSED, what[:500], submission_id=submission_id or None
    )


# --- prompts ---------------------------------------------------------------------------

# A prompt waits this long for its reply; then the button on the card must be pressed again.
PROMPT_MINUTES = 30
# What a reply to a card does (the value of handlers.keyboards.StaffAct.ANSWER).
ANSWER_ACT = "answer"


class Reply(enum.Enum):
    """What a reply in the staff chat is to."""

    PROMPT = "prompt"  # an open prompt: its act, on its submission
    CARD = "card"  # a card: answers it
    EXPIRED = "expired"  # a prompt older than PROMPT_MINUTES
    CLOSED = "closed"  # a prompt already used or cancelled
    UNKNOWN = "unknown"  # neither (another message, or its submission was erased)


@dataclass(frozen=True)
class ReplyTarget:
    kind: Reply
    submission: Submission | None = None
    act: str | None = None  # the prompt's act (a StaffAct value); "answer" for a card
    prompt_id: int | None = None


async def open_prompt(
    session: AsyncSession,
    submission_id: int,
    act: str,
    chat_id: int,
    message_id: int,
    asked_by: int,
    now: datetime,
) -> StaffPrompt | None:
    """Record the prompt just sent as `message_id`; None if its submission was erased
    meanwhile (the prompt then answers nobody)."""
    if await StaffRepository(session).submission(submission_id) is None:
        return None
    prompt = StaffPrompt(
        chat_id=chat_id,
        message_id=message_id,
        submission_id=submission_id,
        act=act,
        asked_by=asked_by,
        created_at=now,
        expires_at=now + timedelta(minutes=PROMPT_MINUTES),
    )
    session.add(prompt)
    await session.flush()
    return prompt


async def reply_target(
    session: AsyncSession,
    chat_id: int,
    message_id: int,
    now: datetime,
    card_number: str | None = None,
) -> ReplyTarget:
    """What a reply to `message_id` of the chat answers. `card_number` is the number a
    card of the bot shows: a card whose posting Telegram never confirmed (uncertain: its
    message id is unknown, perhaps it is there twice) is recognised by it, and linked."""
    repository = StaffRepository(session)
    prompt = await repository.prompt_at(chat_id, message_id)
    if prompt is not None:
        if prompt.closed_at is not None:
            return ReplyTarget(Reply.CLOSED)
        if prompt.expires_at <= now:
            return ReplyTarget(Reply.EXPIRED)
        submission = await repository.submission(prompt.submission_id)
        if submission is None:
            return ReplyTarget(Reply.UNKNOWN)
        return ReplyTarget(Reply.PROMPT, submission, prompt.act, prompt.id)
    submission = await repository.by_card(chat_id, message_id)
    if submission is None and card_number is not None:
        submission = await repository.by_number(card_number)
        if submission is not None and submission.staff_message_id is None:
            submission.staff_chat_id, submission.staff_message_id = chat_id, message_id
        elif submission is not None and submission.staff_chat_id != chat_id:
            submission = None
    if submission is not None:
        return ReplyTarget(Reply.CARD, submission, ANSWER_ACT)
    return ReplyTarget(Reply.UNKNOWN)


async def take(session: AsyncSession, target: ReplyTarget, now: datetime) -> bool:
    """Close the target's prompt, in the caller's transaction, before its act is applied
    (both commit together); False when another reply or /cancel took it first. A card
    has no prompt to close: always True."""
    if target.prompt_id is None:
        return target.kind is Reply.CARD
    return await StaffRepository(session).close_prompt(target.prompt_id, now)


async def cancel_prompt(
    session: AsyncSession, chat_id: int, message_id: int, now: datetime
) -> Reply | None:
    """/cancel as a reply to a prompt: PROMPT when it was open and is now cancelled,
    else why not (EXPIRED, CLOSED); None when `message_id` is not a prompt."""
    repository = StaffRepository(session)
    prompt = await repository.prompt_at(chat_id, message_id)
    if prompt is None:
        return None
    if prompt.closed_at is None and prompt.expires_at <= now:
        return Reply.EXPIRED
    return Reply.PROMPT if await repository.close_prompt(prompt.id, now) else Reply.CLOSED


async def cancel_open_prompts(
    session: AsyncSession, chat_id: int, user_id: int, now: datetime
) -> int:
    """/cancel on its own: every open prompt the sender asked for in the chat; how many."""
    repository = StaffRepository(session)
    cancelled = 0
    for prompt in await repository.open_prompts_of(chat_id, user_id, now):
        cancelled += await repository.close_prompt(prompt.id, now)
    return cancelled


async def history(session: AsyncSession, submission: Submission) -> Sequence[StaffAction]:
    return await StaffRepository(session).actions_on(submission.id)


def _signed(submission: Submission, actor: Actor, now: datetime) -> None:
    submission.answered_by = actor.name
    submission.answered_at = now


async def log_action(
    session: AsyncSession,
    actor: Actor,
    kind: StaffActionKind,
    detail: str | None = None,
    *,
    submission_id: int | None = None,
    consultation_id: int | None = None,
) -> None:
    """A line of the audit log: who did what, and to which submission or consultation."""
    session.add(
        StaffAction(
            submission_id=submission_id,
            consultation_id=consultation_id,
            actor_telegram_id=actor.telegram_id,
            actor_name=actor.name,
            kind=kind,
            detail=detail,
        )
    )
    await session.flush()


async def _log(
    session: AsyncSession,
    submission: Submission,
    actor: Actor,
    kind: StaffActionKind,
    detail: str | None,
) -> None:
    await log_action(session, actor, kind, detail, submission_id=submission.id)
