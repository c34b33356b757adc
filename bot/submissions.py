"""Proposals and questions: drafts, the checks before sending, the send itself,
and what a resident can see of and do with their own data."""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from storage.models import (
    Consultation,
    Phase,
    Resident,
    Section,
    Submission,
    SubmissionKind,
)
from storage.repositories import ConsultationRepository, SectionRepository, SubmissionRepository

MIN_TEXT = 10
MAX_TEXT = 3000
MAX_PHOTOS = 5
MAX_DOCUMENTS = 1
MAX_LOCATIONS = 1
# Bump when the privacy notice changes: residents are asked to agree again.
PRIVACY_NOTICE_VERSION = "2026-11"


@dataclass
class Draft:
    """A submission being written; lives in the conversation state until sent."""

    kind: str
    consultation_id: int | None = None
    section_id: int | None = None
    text: str = ""
    attachments: list[dict[str, Any]] = field(default_factory=list)
    signed: bool = False
    key: str = field(default_factory=lambda: secrets.token_urlsafe(12))

    def to_state(self) -> dict[str, Any]:
        return {"draft": asdict(self)}

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> Draft | None:
        raw = data.get("draft")
        if not isinstance(raw, dict):
            return None
        try:
            return cls(**raw)
        except TypeError:  # a draft saved by an older version of the bot
            return None

    def count(self, kind: str) -> int:
        return sum(1 for item in self.attachments if item["type"] == kind)

    def room_for(self, kind: str) -> bool:
        limits = {"photo": MAX_PHOTOS, "document": MAX_DOCUMENTS, "location": MAX_LOCATIONS}
        return self.count(kind) < limits[kind]


def text_problem(text: str) -> tuple[str, int] | None:
    """("short" | "long", length) when the text is outside the limits."""
    length = len(text.strip())
    if length < MIN_TEXT:
        return "short", length
    if length > MAX_TEXT:
        return "long", length
    return None


@dataclass(frozen=True)
class Target:
    """What a draft is about: a consultation (and section), or the general channel."""

    consultation: Consultation | None = None
    section: Section | None = None

    @property
    def is_general(self) -> bool:
        return self.consultation is None


async def find_target(session: AsyncSession, draft: Draft) -> Target | None:
    """The draft's consultation and section as they are now; None if they are gone."""
    if draft.consultation_id is None:
        return Target()
    consultation = await ConsultationRepository(session).by_id(draft.consultation_id)
    if consultation is None:
        return None
    section = None
    if draft.section_id is not None:
        section = await SectionRepository(session).by_id(draft.section_id)
        if section is None or section.consultation_id != consultation.id:
            return None
    return Target(consultation, section)


async def target_of(session: AsyncSession, submission: Submission) -> Target:
    if submission.consultation_id is None:
        return Target()
    consultation = await ConsultationRepository(session).by_id(submission.consultation_id)
    return Target(consultation)


def not_accepting(target: Target, now: datetime) -> Phase | None:
    """UPCOMING or CLOSED when the target does not take submissions now."""
    if target.consultation is None:
        return None
    phase = target.consultation.phase(now)
    return phase if phase is not Phase.OPEN else None


@dataclass(frozen=True)
class Sent:
    submission: Submission


@dataclass(frozen=True)
class AlreadySent:
    """This very draft was sent before (a second tap, a redelivered update)."""

    submission: Submission


@dataclass(frozen=True)
class Duplicate:
    """The same text was sent a moment ago from another draft."""

    submission: Submission


@dataclass(frozen=True)
class TooMany:
    retry_at: datetime


Outcome = Sent | AlreadySent | Duplicate | TooMany


def digest(text: str) -> str:
    """Equal for texts that differ only in case, spacing or Unicode form."""
    normal = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return hashlib.sha256(normal.encode()).hexdigest()


async def send(
    session: AsyncSession,
    resident: Resident,
    draft: Draft,
    target: Target,
    *,
    author_name: str | None,
    language: str,
    now: datetime,
    settings: Settings,
) -> Outcome:
    """Store the draft as a submission, once. The caller commits, then says "received"."""
    submissions = SubmissionRepository(session)
    earlier = await submissions.by_draft_key(draft.key)
    if earlier is not None:
        return AlreadySent(earlier)
    text_digest = digest(draft.text)
    if settings.duplicate_window_minutes:
        since = now - timedelta(minutes=settings.duplicate_window_minutes)
        same = await submissions.same_text_since(resident.id, text_digest, since)
        if same is not None:
            return Duplicate(same)
    if settings.submissions_per_hour:
        hour_ago = now - timedelta(hours=1)
        if await submissions.count_since(resident.id, hour_ago) >= settings.submissions_per_hour:
            oldest = await submissions.oldest_since(resident.id, hour_ago)
            return TooMany((oldest or now) + timedelta(hours=1))
    submission, created = await submissions.add_once(
        {
            "draft_key": draft.key,
            "consultation_id": target.consultation.id if target.consultation else None,
            "section_id": target.section.id if target.section else None,
            "section_number": target.section.number if target.section else None,
            "resident_id": resident.id,
            "kind": SubmissionKind(draft.kind),
            "text": draft.text.strip(),
            "text_digest": text_digest,
            "attachments": draft.attachments,
            "author_name": author_name if draft.signed else None,
            "language": language,
            "created_at": now,
            "updated_at": now,
        }
    )
    if not created:  # the same draft, sent at the same moment from another device
        return AlreadySent(submission)
    submission.public_number = f"{now.year}-{submission.id:05d}"
    await session.flush()
    return Sent(submission)


# --- the resident's own data -----------------------------------------------------


async def personal_data(session: AsyncSession, resident: Resident, draft: Draft | None) -> dict:
    """Everything stored about a resident, as a JSON-ready document."""
    submissions = await SubmissionRepository(session).of_resident(resident.id)
    return {
        "resident": {
            "telegram_user_id": resident.telegram_user_id,
            "chat_id": resident.chat_id,
            "language_chosen": resident.language,
            "telegram_language": resident.telegram_language,
            "privacy_notice_agreed_at": _iso(resident.consent_at),
            "privacy_notice_version": resident.consent_version,
            "reachable": resident.reachable,
            "first_seen_at": _iso(resident.first_seen_at),
            "last_seen_at": _iso(resident.last_seen_at),
        },
        "submissions": [_submission_record(item) for item in submissions],
        "draft": asdict(draft) if draft else None,
    }


def _submission_record(submission: Submission) -> dict[str, Any]:
    return {
        "number": submission.public_number,
        "kind": submission.kind.value,
        "consultation_id": submission.consultation_id,
        "section": submission.section_number,
        "text": submission.text,
        "attachments": submission.attachments,
        "signed_as": submission.author_name,
        "status": submission.status.value,
        "decision_reason": submission.decision_reason,
        "answer": submission.answer,
        "answered_at": _iso(submission.answered_at),
        "sent_at": _iso(submission.created_at),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


@dataclass(frozen=True)
class Erased:
    submissions: int
    kept_anonymously: bool


async def forget(session: AsyncSession, resident: Resident, *, keep_submissions: bool) -> Erased:
    """Erase a resident; their submissions stay unlinked, or go, as they chose."""
    submissions = SubmissionRepository(session)
    if keep_submissions:
        count = await submissions.unlink_resident(resident.id)
    else:
        count = await submissions.delete_of_resident(resident.id)
    await session.delete(resident)
    await session.flush()
    return Erased(count, keep_submissions)
