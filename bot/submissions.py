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
from bot.privacy import earlier_submissions_since
from bot.telegram_text import cut_to_fit, visible_length
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
# Telegram's own count of a text (UTF-16 units): two per visible character covers emoji
# and letters outside the Basic Multilingual Plane; beyond it are walls of combining
# marks and joined emoji, which the visible limit never meant to allow.
MAX_TEXT_UNITS = 2 * MAX_TEXT
MAX_PHOTOS = 5
MAX_DOCUMENTS = 1
MAX_LOCATIONS = 1
# Bump when the privacy notice changes: residents are asked to agree again.
PRIVACY_NOTICE_VERSION = "2026-12"


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
    """When a text is outside the limits: ("short" | "long", its visible length), or
    ("heavy", how many visible characters to cut) when Telegram would count it too long."""
    length = visible_length(text)
    if length < MIN_TEXT:
        return "short", length
    if length > MAX_TEXT:
        return "long", length
    excess = cut_to_fit(text.strip(), MAX_TEXT_UNITS)
    if excess:
        return "heavy", excess
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
        # What they sent before erasing themselves within the hour counts too.
        before_erasure = await earlier_submissions_since(session, resident, settings, hour_ago)
        count = await submissions.count_since(resident.id, hour_ago) + len(before_erasure)
        if count >= settings.submissions_per_hour:
            oldest = min(
                [*before_erasure, await submissions.oldest_since(resident.id, hour_ago) or now]
            )
            return TooMany(oldest + timedelta(hours=1))
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
            "received_at": now,
            "created_at": now,
            "updated_at": now,
        }
    )
    if not created:  # the same draft, sent at the same moment from another device
        return AlreadySent(submission)
    submission.public_number = f"{now.year}-{submission.id:05d}"
    await session.flush()
    return Sent(submission)
