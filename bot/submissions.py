"""Proposals and questions: drafts, the checks before sending, the send itself,
and what a resident can see of and do with their own data."""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.privacy import earlier_submissions_since
from bot.telegram_text import cut_to_fit, visible_length
from bot.zones import zone_of
from storage.models import (
    Consultation,
    Phase,
    Resident,
    Section,
    StakeholderKind,
    Submission,
    SubmissionChannel,
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
# An organisation's name as its author types it (the column holds 200).
MAX_ORGANISATION = 120
MAX_NAME_STORED = 200


@dataclass
class Draft:
    """A submission being written; lives in the conversation state until sent."""

    kind: str
    consultation_id: int | None = None
    section_id: int | None = None
    text: str = ""
    attachments: list[dict[str, Any]] = field(default_factory=list)
    signed: bool = False
    # On whose behalf a signed draft speaks (a StakeholderKind value) and, for an
    # organisation, its name as typed.
    stakeholder: str = StakeholderKind.INDIVIDUAL.value
    organisation: str | None = None
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
            **_speaking_for(draft),
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


def _speaking_for(draft: Draft) -> dict[str, Any]:
    """An organisation only with a signature: an anonymous text speaks for nobody."""
    if not draft.signed or not draft.organisation:
        return {"stakeholder": StakeholderKind.INDIVIDUAL, "organisation_name": None}
    return {
        "stakeholder": StakeholderKind(draft.stakeholder),
        "organisation_name": draft.organisation,
    }


def organisation_problem(name: str) -> str | None:
    """Why a typed organisation name is refused ("length"), None when it is fine."""
    length = visible_length(name)
    if length < 2 or length > MAX_ORGANISATION or "\n" in name.strip():
        return "length"
    # The column counts code points: joined emoji and combining marks count many each.
    if len(name) > MAX_NAME_STORED:
        return "length"
    return None


def one_line(name: str) -> str:
    """A name typed by a person, as one line without stray spaces."""
    return " ".join(name.split())


# --- received elsewhere: e-mail, letter, phone, a public meeting -----------------------

OFFLINE_CHANNELS = tuple(c for c in SubmissionChannel if c is not SubmissionChannel.TELEGRAM)


def parse_received(text: str) -> date | None:
    """A date received as staff write it: dd.mm.yyyy, or yyyy-mm-dd."""
    for pattern in ("%d.%m.%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text.strip(), pattern).date()
        except ValueError:
            continue
    return None


def received_problem(
    target: Target, received_on: date, now: datetime, home_zone: str
) -> str | None:
    """Why a date received cannot be: "future", "before_opening"; None when it can.
    Days are the consultation's, the general channel's in `home_zone`."""
    zone = ZoneInfo(zone_of(target.consultation, home_zone))
    if received_on > now.astimezone(zone).date():
        return "future"
    consultation = target.consultation
    if consultation is not None and received_on < consultation.opens_at.astimezone(zone).date():
        return "before_opening"
    return None


def received_moment(target: Target, received_on: date, now: datetime, home_zone: str) -> datetime:
    """The day received as a moment: its start in the consultation's time zone (the
    municipality's, `home_zone`, for the general channel), not before the opening nor
    after now."""
    zone = ZoneInfo(zone_of(target.consultation, home_zone))
    moment = datetime.combine(received_on, time(), zone)
    if target.consultation is not None:
        moment = max(moment, target.consultation.opens_at)
    return min(moment, now)


@dataclass(frozen=True)
class Received:
    """A proposal or question the municipality received by another way than the bot."""

    kind: SubmissionKind
    text: str
    channel: SubmissionChannel
    received_on: date
    author_name: str | None = None
    stakeholder: StakeholderKind = StakeholderKind.INDIVIDUAL
    organisation_name: str | None = None


async def register_received(
    session: AsyncSession,
    target: Target,
    received: Received,
    *,
    key: str,
    registered_by: str,
    language: str,
    now: datetime,
    home_zone: str,
) -> tuple[Submission, bool]:
    """Store a submission received elsewhere, once per `key` (a second tap on "save"
    finds the first): (the submission, whether it was made now). It has no resident
    and a public number like the bot's. The caller queues its card and commits."""
    if received.channel is SubmissionChannel.TELEGRAM:
        raise ValueError("a submission from Telegram is sent by its resident")
    organisation = received.organisation_name or None
    stakeholder = received.stakeholder if organisation else StakeholderKind.INDIVIDUAL
    submission, created = await SubmissionRepository(session).add_once(
        {
            "draft_key": key,
            "consultation_id": target.consultation.id if target.consultation else None,
            "section_id": target.section.id if target.section else None,
            "section_number": target.section.number if target.section else None,
            "resident_id": None,
            "kind": received.kind,
            "text": received.text.strip(),
            "text_digest": digest(received.text),
            "attachments": [],
            "author_name": received.author_name or None,
            "stakeholder": stakeholder,
            "organisation_name": organisation,
            "channel": received.channel,
            "received_at": received_moment(target, received.received_on, now, home_zone),
            "registered_by": registered_by,
            "language": language,
            "created_at": now,
            "updated_at": now,
        }
    )
    if created:
        submission.public_number = f"{now.year}-{submission.id:05d}"
        await session.flush()
    return submission, created
