"""Running a published consultation: extending its deadline, closing it now, withdrawing
it, replacing its document with a new version. Each change is one step of the caller's
transaction: the audit log says who did it and when, and the planned notices follow the
new dates (bot/notify/planner.sync)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.content import ConsultationFile, put_consultation
from bot.notify import planner
from bot.staff import Actor, log_action
from storage.models import (
    Audience,
    Consultation,
    ConsultationKind,
    ConsultationStatus,
    Notice,
    NoticeKind,
    NoticeStatus,
    StaffActionKind,
)
from storage.repositories import NoticeRepository, ReportRepository


class NotRunning(Exception):
    """The consultation cannot take this change: withdrawn, a channel (no deadline),
    already closed (close_now), or its report published (extend)."""


@dataclass(frozen=True)
class NotLater(Exception):
    """A new deadline must be later than the current one and than now."""

    closes_at: datetime


@dataclass(frozen=True)
class SlugMismatch(Exception):
    """A replacement document names another consultation."""

    slug: str


@dataclass(frozen=True)
class ReplaceReport:
    """Section numbers, in reading order."""

    kept: list[str]
    added: list[str]
    removed: list[str]
    version: int


async def extend(
    session: AsyncSession,
    consultation: Consultation,
    closes_at: datetime,
    actor: Actor,
    settings: Settings,
    now: datetime | None = None,
) -> None:
    """A later deadline. Its followers and the residents who took part are told once
    (a notice to both, each resident once); the reminders move with the deadline."""
    now = now or datetime.now(UTC)
    _dated(consultation)
    assert consultation.closes_at is not None
    report = await ReportRepository(session).of(consultation.id)
    if report is not None and report.published_at is not None:
        raise NotRunning()  # its report is out: the consultation is over for good
    if closes_at <= consultation.closes_at or closes_at <= now:
        raise NotLater(consultation.closes_at)
    before = consultation.closes_at
    consultation.closes_at = closes_at
    await _replan(session, consultation, settings)
    notice = Notice(
        kind=NoticeKind.EXTENDED,
        consultation_id=consultation.id,
        # One notice per new deadline: the same extension never reaches anyone twice.
        offset_key=closes_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S"),
        audience=Audience.INVOLVED,
        due_at=now,
        # Addressed here and sent by the notifier's next round, not planned by its clock.
        status=NoticeStatus.SENDING,
        created_by=actor.name,
    )
    session.add(notice)
    await session.flush()
    await NoticeRepository(session).address(notice)
    await _log(
        session,
        consultation,
        actor,
        StaffActionKind.EXTEND,
        f"closes_at {before.isoformat()} -> {closes_at.astimezone(UTC).isoformat()}",
    )


async def close_now(
    session: AsyncSession,
    consultation: Consultation,
    actor: Actor,
    settings: Settings,
    now: datetime | None = None,
) -> None:
    """The deadline becomes now: the reminders still ahead are cancelled and the
    followers get the closing notice."""
    now = now or datetime.now(UTC)
    _dated(consultation)
    assert consultation.closes_at is not None
    if consultation.closes_at <= now:
        raise NotRunning()
    before = consultation.closes_at
    consultation.closes_at = now
    if consultation.opens_at > now:  # closed before it opened: it never opens
        consultation.opens_at = now
    await _replan(session, consultation, settings)
    await _log(
        session,
        consultation,
        actor,
        StaffActionKind.CLOSE,
        f"closes_at {before.isoformat()} -> {now.isoformat()}",
    )


async def withdraw(
    session: AsyncSession, consultation: Consultation, actor: Actor, settings: Settings
) -> None:
    """Hidden from residents; its planned notices (and an unsent report) cancelled."""
    if consultation.status is ConsultationStatus.WITHDRAWN:
        raise NotRunning()
    await take_down(session, consultation, settings)
    await _log(session, consultation, actor, StaffActionKind.WITHDRAW, None)


async def take_down(session: AsyncSession, consultation: Consultation, settings: Settings) -> None:
    """A withdrawal's change, shared with `civicbot content withdraw` (no staff member)."""
    consultation.status = ConsultationStatus.WITHDRAWN
    # The next load of its file publishes it again, even if nothing in the file changed.
    consultation.source_digest = ""
    await _replan(session, consultation, settings)


async def replace(
    session: AsyncSession,
    consultation: Consultation,
    source: ConsultationFile,
    actor: Actor,
    settings: Settings,
) -> ReplaceReport:
    """A new document: sections matched by number keep their identity and submissions;
    removed ones stay, marked with the new version, for the submissions on them."""
    if consultation.status is ConsultationStatus.WITHDRAWN:
        raise NotRunning()
    if source.slug != consultation.slug:
        raise SlugMismatch(source.slug)
    consultation, changes = await put_consultation(session, source, consultation)
    await _replan(session, consultation, settings)
    report = ReplaceReport(
        kept=changes.kept,
        added=changes.added,
        removed=changes.removed,
        version=consultation.version,
    )
    await _log(
        session,
        consultation,
        actor,
        StaffActionKind.REPLACE,
        f"version {report.version}: kept {len(report.kept)}, added "
        f"{', '.join(report.added) or '-'}, removed {', '.join(report.removed) or '-'}",
    )
    return report


async def log_publication(
    session: AsyncSession, consultation: Consultation, actor: Actor, *, scheduled: bool
) -> None:
    """The audit entry of a consultation published from the staff chat (now or to open
    later)."""
    kind = StaffActionKind.SCHEDULE if scheduled else StaffActionKind.PUBLISH
    await _log(session, consultation, actor, kind, f"opens_at {consultation.opens_at.isoformat()}")


def _dated(consultation: Consultation) -> None:
    if (
        consultation.status is ConsultationStatus.WITHDRAWN
        or consultation.kind is ConsultationKind.CHANNEL
        or consultation.closes_at is None
    ):
        raise NotRunning()


async def _replan(session: AsyncSession, consultation: Consultation, settings: Settings) -> None:
    await session.flush()
    await planner.sync(session, consultation, settings.reminder_days, settings.reminder_hour)


async def _log(
    session: AsyncSession,
    consultation: Consultation,
    actor: Actor,
    kind: StaffActionKind,
    detail: str | None,
) -> None:
    await log_action(session, actor, kind, detail, consultation_id=consultation.id)
