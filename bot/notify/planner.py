"""Which notices a consultation's dates call for, and when, in its own time zone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Audience,
    Consultation,
    ConsultationKind,
    ConsultationStatus,
    Notice,
    NoticeKind,
    NoticeStatus,
)
from storage.repositories import NoticeRepository

# A closing notice still makes sense this long after the consultation closed.
CLOSED_NOTICE_GRACE = timedelta(days=2)


@dataclass(frozen=True)
class Planned:
    kind: NoticeKind
    offset_key: str
    audience: Audience
    due_at: datetime


def plan(
    consultation: Consultation, reminder_days: Sequence[int], reminder_hour: int
) -> list[Planned]:
    """The opening, the reminders `reminder_days` before the closing day at
    `reminder_hour` local time (a wall-clock time, so summer time does not move it),
    and the closing."""
    if consultation.kind is ConsultationKind.CHANNEL or consultation.closes_at is None:
        return []
    zone = ZoneInfo(consultation.timezone)
    notices = [Planned(NoticeKind.OPENED, "", Audience.FOLLOWERS, consultation.opens_at)]
    closing_day = consultation.closes_at.astimezone(zone).date()
    for days in sorted(set(reminder_days), reverse=True):
        local = datetime.combine(closing_day - timedelta(days=days), time(reminder_hour), zone)
        due = local.astimezone(UTC)
        if consultation.opens_at < due < consultation.closes_at:
            notices.append(Planned(NoticeKind.DEADLINE, f"{days}d", Audience.FOLLOWERS, due))
    notices.append(Planned(NoticeKind.CLOSED, "", Audience.FOLLOWERS, consultation.closes_at))
    return notices


@dataclass(frozen=True)
class FollowersGet:
    """What following one consultation brings from `now` on, as the notifier will send
    it: what its screens promise a follower, and no more."""

    deadline: bool  # a channel has none: no reminders, no closing, no report
    opening: bool
    reminders: int
    closing: bool
    report: bool  # the published report, for a consultation that closes


def followers_get(
    consultation: Consultation, now: datetime, reminder_days: Sequence[int], reminder_hour: int
) -> FollowersGet:
    """The notices of `plan` still ahead (each goes to the consultation's followers, see
    NoticeRepository.address), and the report published once it has closed. A channel
    has none: its followers get only what the staff send them (/broadcast)."""
    ahead = [p for p in plan(consultation, reminder_days, reminder_hour) if p.due_at > now]
    kinds = {p.kind for p in ahead}
    return FollowersGet(
        deadline=consultation.kind is ConsultationKind.CONSULTATION
        and consultation.closes_at is not None,
        opening=NoticeKind.OPENED in kinds,
        reminders=sum(1 for p in ahead if p.kind is NoticeKind.DEADLINE),
        closing=NoticeKind.CLOSED in kinds,
        # Published once it has closed (bot/publication.py); follow buttons are offered
        # only before that.
        report=consultation.kind is ConsultationKind.CONSULTATION
        and consultation.closes_at is not None,
    )


def still_makes_sense(notice: Notice, consultation: Consultation | None, now: datetime) -> bool:
    """A notice that fell due while the bot was down is sent late only if it still helps."""
    if notice.kind is NoticeKind.BROADCAST:
        return True
    if notice.kind is NoticeKind.REPORT:  # published: the news does not grow old
        return consultation is not None and consultation.status is ConsultationStatus.PUBLISHED
    if consultation is None or consultation.status is ConsultationStatus.WITHDRAWN:
        return False
    if consultation.closes_at is None:
        return False
    if notice.kind is NoticeKind.CLOSED:
        return now < consultation.closes_at + CLOSED_NOTICE_GRACE
    return now < consultation.closes_at  # an opening or a reminder after the deadline: no


async def sync(
    session: AsyncSession,
    consultation: Consultation,
    reminder_days: Sequence[int],
    reminder_hour: int,
) -> None:
    """Bring a consultation's planned notices in line with its dates: new ones added,
    moved dates re-planned, ones no longer called for (or a withdrawn consultation's)
    cancelled. Notices already sent stay as they are."""
    notices = NoticeRepository(session)
    existing = {(n.kind, n.offset_key): n for n in await notices.automatic_of(consultation.id)}
    wanted = (
        {}
        if consultation.status is ConsultationStatus.WITHDRAWN
        else {(p.kind, p.offset_key): p for p in plan(consultation, reminder_days, reminder_hour)}
    )
    for key, planned in wanted.items():
        notice = existing.get(key)
        if notice is None:
            session.add(
                Notice(
                    kind=planned.kind,
                    consultation_id=consultation.id,
                    offset_key=planned.offset_key,
                    audience=planned.audience,
                    due_at=planned.due_at,
                )
            )
        elif _replan(notice, planned):
            notice.due_at = planned.due_at
            notice.status = NoticeStatus.PLANNED
    for key, notice in existing.items():
        if key not in wanted and notice.status is NoticeStatus.PLANNED:
            notice.status = NoticeStatus.CANCELLED
    if consultation.status is ConsultationStatus.WITHDRAWN:
        # Its published report too: residents no longer see the consultation.
        await notices.cancel_report_of(consultation.id)
    await session.flush()


def _replan(notice: Notice, planned: Planned) -> bool:
    """Planned notices follow their date; a cancelled one comes back (the consultation
    was published again); an expired one only when its date moved (it may make sense
    again). Sent ones stay sent."""
    moved = notice.due_at != planned.due_at
    if notice.status is NoticeStatus.PLANNED:
        return moved
    if notice.status is NoticeStatus.CANCELLED:
        return True
    return notice.status is NoticeStatus.EXPIRED and moved
