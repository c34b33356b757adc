"""A resident's rights over their data: access (/mydata), erasure (/forget), what
outlives an erasure without an identity (a block, the hourly limit), and the retention
period after which the rest is anonymised or erased."""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.i18n import Translator
from bot.notify.outbox import queue_card_refresh, queue_delete, queue_screen
from storage.models import (
    Consultation,
    Delivery,
    Follow,
    Notice,
    Resident,
    StaffAction,
    Submission,
)
from storage.repositories import PrivacyRepository, SubmissionRepository

log = logging.getLogger(__name__)

# How long the hourly submission limit remembers an erased resident's submissions.
LIMIT_WINDOW = timedelta(hours=1)


def pseudonym(settings: Settings, telegram_user_id: int) -> str:
    """A keyed hash of a Telegram user id: recognises the same person again, names nobody
    to whoever lacks the key (a plain hash of a number is reversed by trying them all)."""
    return hmac.new(
        settings.pseudonym_secret, str(telegram_user_id).encode(), hashlib.sha256
    ).hexdigest()


# --- erasure (/forget) ---------------------------------------------------------------


@dataclass(frozen=True)
class Erased:
    submissions: int
    kept_anonymously: bool


async def erase(
    session: AsyncSession,
    resident: Resident,
    *,
    keep_submissions: bool,
    settings: Settings,
    staff_tr: Translator,
    now: datetime,
) -> Erased:
    """Erase a resident and every trace of them; their submissions stay as text only,
    or go, as they chose. The staff chat's copies are edited or deleted by the outbox.
    The caller clears the conversation state and commits."""
    privacy = PrivacyRepository(session)
    submissions = list(await SubmissionRepository(session).of_resident(resident.id))
    ids = [submission.id for submission in submissions]
    await _delete_posted_attachments(session, ids)
    if keep_submissions:
        await anonymise(session, submissions, now)
    else:
        await privacy.forget_action_details(ids)
        for submission in submissions:
            if submission.staff_chat_id and submission.staff_message_id:
                await queue_screen(
                    session,
                    submission.staff_chat_id,
                    erased_card(staff_tr, submission),
                    edit_message_id=submission.staff_message_id,
                )
            await session.delete(submission)
    await _keep_restrictions(session, resident, submissions, settings, now)
    await privacy.delete_refused_attempts(resident.telegram_user_id)
    if resident.chat_id is not None:
        await privacy.delete_messages_to(resident.chat_id)
    # Follows and deliveries go with the row (ON DELETE CASCADE).
    await session.delete(resident)
    await session.flush()
    return Erased(len(submissions), keep_submissions)


async def anonymise(session: AsyncSession, submissions: list[Submission], now: datetime) -> None:
    """Keep each submission as its text, decision and reason; its card shows that."""
    await PrivacyRepository(session).anonymise([item.id for item in submissions], now)
    for submission in submissions:
        await queue_card_refresh(session, submission)


async def _delete_posted_attachments(session: AsyncSession, submission_ids: list[int]) -> None:
    """The photos, documents and locations posted under these submissions' cards."""
    privacy = PrivacyRepository(session)
    for chat_id, message_id in await privacy.posted_attachments(submission_ids):
        await queue_delete(session, chat_id, message_id)


def erased_card(tr: Translator, submission: Submission) -> str:
    return tr(
        "🗑 № %(number)s was erased at the resident's request.",
        number=submission.public_number or "",
    )


async def _keep_restrictions(
    session: AsyncSession,
    resident: Resident,
    submissions: list[Submission],
    settings: Settings,
    now: datetime,
) -> None:
    """A block, and the submissions that count against the hourly limit, stay under a
    pseudonym: erasing oneself is not a way around either."""
    recent = [
        item.created_at.isoformat() for item in submissions if item.created_at > now - LIMIT_WINDOW
    ]
    if not resident.banned and not (recent and settings.submissions_per_hour):
        return
    await PrivacyRepository(session).keep_restriction(
        pseudonym(settings, resident.telegram_user_id),
        banned=resident.banned,
        recent=recent,
        expires_at=now + LIMIT_WINDOW,
    )


async def restore_restrictions(
    session: AsyncSession, resident: Resident, settings: Settings
) -> None:
    """A new resident row for someone erased before: their block comes back."""
    kept = await PrivacyRepository(session).restriction(
        pseudonym(settings, resident.telegram_user_id)
    )
    if kept is not None and kept.banned and not resident.banned:
        resident.banned = True


async def earlier_submissions_since(
    session: AsyncSession, resident: Resident, settings: Settings, since: datetime
) -> list[datetime]:
    """When submissions counted against the hourly limit were sent before an erasure."""
    kept = await PrivacyRepository(session).restriction(
        pseudonym(settings, resident.telegram_user_id)
    )
    if kept is None:
        return []
    moments = [datetime.fromisoformat(value) for value in kept.recent_submissions]
    return [moment for moment in moments if moment >= since]


async def lift_ban(session: AsyncSession, resident: Resident, settings: Settings) -> None:
    await PrivacyRepository(session).lift_ban(pseudonym(settings, resident.telegram_user_id))


# --- access (/mydata) ----------------------------------------------------------------


@dataclass(frozen=True)
class PersonalData:
    """Everything stored about one resident, as rows; handlers render it."""

    resident: Resident
    submissions: list[Submission]
    consultations: dict[int, Consultation]
    follows: list[tuple[Follow, Consultation]]
    deliveries: list[tuple[Delivery, Notice, Consultation | None]]
    refused_attempts: list[StaffAction]
    restricted: bool


async def personal_data(
    session: AsyncSession, resident: Resident, settings: Settings
) -> PersonalData:
    privacy = PrivacyRepository(session)
    submissions = list(await SubmissionRepository(session).of_resident(resident.id))
    consultation_ids = sorted(
        {item.consultation_id for item in submissions if item.consultation_id}
    )
    return PersonalData(
        resident=resident,
        submissions=submissions,
        consultations=await privacy.consultations(consultation_ids),
        follows=list(await privacy.follows_of(resident.id)),
        deliveries=list(await privacy.deliveries_of(resident.id)),
        refused_attempts=list(await privacy.refused_attempts(resident.telegram_user_id)),
        restricted=await privacy.restriction(pseudonym(settings, resident.telegram_user_id))
        is not None,
    )


# --- retention -----------------------------------------------------------------------


@dataclass(frozen=True)
class RetentionResult:
    anonymised: int
    residents_erased: int
    old_records: int
    restrictions: int


async def apply_retention(
    session: AsyncSession, settings: Settings, staff_tr: Translator, now: datetime
) -> RetentionResult:
    """What the privacy notice promises about time: RETENTION_DAYS after a consultation
    closed, its submissions keep their text only; residents not seen for as long, who
    follow nothing, are erased; transport records of that age go."""
    privacy = PrivacyRepository(session)
    cutoff = now - timedelta(days=settings.retention_days)
    old = list(await privacy.submissions_past_retention(cutoff))
    await _delete_posted_attachments(session, [submission.id for submission in old])
    await anonymise(session, old, now)
    quiet = await privacy.residents_gone_quiet(cutoff)
    for resident in quiet:
        await erase(
            session,
            resident,
            keep_submissions=True,
            settings=settings,
            staff_tr=staff_tr,
            now=now,
        )
    records = await privacy.forget_old_traffic(cutoff)
    restrictions = await privacy.forget_expired_restrictions(now)
    result = RetentionResult(len(old), len(quiet), records, restrictions)
    if any((result.anonymised, result.residents_erased, result.old_records)):
        log.info(
            "retention: %s submissions anonymised, %s residents erased, %s old records removed",
            result.anonymised,
            result.residents_erased,
            result.old_records,
        )
    return result
