"""Publishing a consultation's report (the "справка"): the loop closed for everyone.

Publishing records who published it and when, once, and queues one notice (kind
REPORT, audience INVOLVED) in the same transaction: the notifier's sender delivers it
as it delivers every notice, restart-safe, each participant their own outcome and each
follower the news, with the report attached. Nothing here talks to Telegram.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

from sqlalchemy.ext.asyncio import AsyncSession

from bot.export.common import ExportError, resolve
from bot.export.report import Readiness, checklist, readiness
from bot.i18n import Translator
from storage.models import (
    Audience,
    Consultation,
    ConsultationStatus,
    Notice,
    NoticeKind,
    NoticeStatus,
)
from storage.repositories import NoticeRepository, ReportRepository


class Withdrawn(ExportError):
    def __init__(self, slug: str) -> None:
        super().__init__(f"the consultation {slug!r} was withdrawn: it has no report to publish")
        self.slug = slug


class NotFinal(Exception):
    """The report is still a draft: what it lacks is in `readiness`."""

    def __init__(self, readiness: Readiness, zone: str) -> None:
        super().__init__("the report is not final")
        self.readiness, self.zone = readiness, zone


class AlreadyPublished(Exception):
    def __init__(self, at: datetime, by: str | None) -> None:
        super().__init__(f"published on {at:%Y-%m-%d %H:%M} UTC by {by or 'unknown'}")
        self.at, self.by = at, by


@dataclass(frozen=True)
class Published:
    notice_id: int
    recipients: int  # participants and followers who can be reached, each once
    timezone: str  # the consultation's, for saying when


async def check(session: AsyncSession, slug: str, now: datetime) -> Consultation:
    """What publishing the report of `slug` would refuse, writing nothing: the
    consultation, when it can be published.

    Raises UnknownConsultation / NoReport / Withdrawn (ExportError), AlreadyPublished
    (nothing is sent again), or NotFinal (nothing is sent).
    """
    scope = await resolve(session, slug)
    consultation = scope.consultation
    if consultation is not None and consultation.status is ConsultationStatus.WITHDRAWN:
        raise Withdrawn(slug)
    # Said before readiness: a published report stays published even if a decision was
    # changed since.
    await _refuse_if_published(ReportRepository(session), consultation.id if consultation else None)
    state = await readiness(session, scope, now)  # NoReport for the general channel
    if not state.final:
        raise NotFinal(state, scope.zone)
    assert consultation is not None
    return consultation


async def recipients(session: AsyncSession, consultation_id: int) -> int:
    """How many residents the published report would reach: participants and followers
    who can be reached, each once."""
    would_be = Notice(
        kind=NoticeKind.REPORT, consultation_id=consultation_id, audience=Audience.INVOLVED
    )
    return await NoticeRepository(session).count_recipients(would_be)


async def publish(session: AsyncSession, slug: str, by: str, now: datetime) -> Published:
    """Publish the report of `slug` (in the caller's transaction, which commits it);
    refused as `check` says."""
    consultation = await check(session, slug, now)
    reports = ReportRepository(session)
    if not await reports.mark_published(consultation.id, by, now):
        await _refuse_if_published(reports, consultation.id)  # someone else, just now
    notice = Notice(
        kind=NoticeKind.REPORT,
        consultation_id=consultation.id,
        audience=Audience.INVOLVED,
        due_at=now,
        # Addressed here and sent by the notifier's next round, not planned by its clock.
        status=NoticeStatus.SENDING,
        created_by=by,
    )
    session.add(notice)
    await session.flush()
    notices = NoticeRepository(session)
    recipients = await notices.address(notice)
    return Published(notice.id, recipients, consultation.timezone)


async def _refuse_if_published(reports: ReportRepository, consultation_id: int | None) -> None:
    if consultation_id is None:
        return
    row = await reports.of(consultation_id)
    if row is not None:
        await reports.session.refresh(row)
        if row.published_at is not None:
            raise AlreadyPublished(row.published_at, row.published_by)


def not_final_text(tr: Translator, error: NotFinal) -> str:
    lines = checklist(tr, error.readiness, error.zone)
    return (
        tr("The report cannot be published yet: it is still a draft.")
        + "\n"
        + "\n".join(f"• {escape(line, quote=False)}" for line in lines)
    )


def already_text(tr: Translator, error: AlreadyPublished, zone: str) -> str:
    return tr(
        "The report was already published on %(when)s by %(who)s. Nothing was sent again.",
        when=tr.datetime(error.at, zone),
        who=escape(error.by or "?", quote=False),
    )
