"""What staff do to submissions: answer, decide with a reason, mark spam, block the
sender. Every action is written to the audit log in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Resident,
    StaffAction,
    StaffActionKind,
    Submission,
    SubmissionStatus,
)
from storage.repositories import StaffRepository

DECISIONS = (
    SubmissionStatus.ACCEPTED,
    SubmissionStatus.PARTLY_ACCEPTED,
    SubmissionStatus.REJECTED,
)


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
) -> None:
    resident.banned = blocked
    detail = "blocked" if blocked else "unblocked"
    await _log(session, submission, actor, StaffActionKind.BLOCK, detail)


async def refused(
    session: AsyncSession, actor: Actor, what: str, submission_id: int | None = None
) -> None:
    """Someone without staff rights tried a staff action: nothing changes but the log."""
    session.add(
        StaffAction(
            submission_id=submission_id if submission_id else None,
            actor_telegram_id=actor.telegram_id,
            actor_name=actor.name,
            kind=StaffActionKind.REFUSED,
            detail=what[:500],
        )
    )
    await session.flush()


async def history(session: AsyncSession, submission: Submission) -> Sequence[StaffAction]:
    return await StaffRepository(session).actions_on(submission.id)


def _signed(submission: Submission, actor: Actor, now: datetime) -> None:
    submission.answered_by = actor.name
    submission.answered_at = now


async def _log(
    session: AsyncSession,
    submission: Submission,
    actor: Actor,
    kind: StaffActionKind,
    detail: str | None,
) -> None:
    session.add(
        StaffAction(
            submission_id=submission.id,
            actor_telegram_id=actor.telegram_id,
            actor_name=actor.name,
            kind=kind,
            detail=detail,
        )
    )
    await session.flush()
