"""Queries. Handlers and services ask these; nothing else writes SQL."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, func, literal, or_, select, true, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Audience,
    Consultation,
    ConsultationStatus,
    ConversationState,
    Delivery,
    DeliveryStatus,
    Follow,
    InboxUpdate,
    Lease,
    Notice,
    NoticeKind,
    NoticeStatus,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    Phase,
    ProcessedUpdate,
    Resident,
    Section,
    StaffAction,
    StaffPrompt,
    Submission,
    SubmissionStatus,
    utcnow,
)


class ConsultationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_slug(self, slug: str) -> Consultation | None:
        return await self.session.scalar(select(Consultation).where(Consultation.slug == slug))

    async def by_id(self, consultation_id: int) -> Consultation | None:
        consultation = await self.session.get(Consultation, consultation_id)
        if consultation is None or consultation.status is ConsultationStatus.WITHDRAWN:
            return None
        return consultation

    async def set_staff_topic(self, consultation_id: int, topic_id: int) -> None:
        await self.session.execute(
            update(Consultation)
            .where(Consultation.id == consultation_id)
            .values(staff_topic_id=topic_id)
        )

    async def published(self, now: datetime) -> list[Consultation]:
        """Open ones first (nearest deadline first), then upcoming, then closed (newest first)."""
        rows = await self.session.scalars(
            select(Consultation).where(Consultation.status == ConsultationStatus.PUBLISHED)
        )
        return sorted(rows, key=lambda c: _listing_order(c, now))


def _listing_order(consultation: Consultation, now: datetime) -> tuple[int, float]:
    phase = consultation.phase(now)
    if phase is Phase.OPEN:
        # Permanent channels have no deadline: after every dated consultation.
        deadline = consultation.closes_at.timestamp() if consultation.closes_at else float("inf")
        return (0, deadline)
    if phase is Phase.UPCOMING:
        return (1, consultation.opens_at.timestamp())
    assert consultation.closes_at is not None
    return (2, -consultation.closes_at.timestamp())


class SectionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_id(self, section_id: int) -> Section | None:
        section = await self.session.get(Section, section_id)
        if section is None:
            return None
        consultation = await self.session.get(Consultation, section.consultation_id)
        if consultation is None or consultation.status is ConsultationStatus.WITHDRAWN:
            return None
        return section

    async def by_number(self, consultation_id: int, number: str) -> Section | None:
        return await self.session.scalar(
            select(Section).where(
                Section.consultation_id == consultation_id, Section.number == number
            )
        )

    async def plan(self, consultation_id: int) -> Sequence[Section]:
        """Every section of a consultation in reading order."""
        rows = await self.session.scalars(
            select(Section)
            .where(Section.consultation_id == consultation_id)
            .order_by(Section.position)
        )
        return rows.all()

    async def children(self, consultation_id: int, parent_id: int | None) -> Sequence[Section]:
        parent_clause = (
            Section.parent_id.is_(None) if parent_id is None else Section.parent_id == parent_id
        )
        rows = await self.session.scalars(
            select(Section)
            .where(Section.consultation_id == consultation_id, parent_clause)
            .order_by(Section.position)
        )
        return rows.all()


LAST_SEEN_PRECISION = timedelta(minutes=10)


class ResidentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_telegram_id(self, telegram_user_id: int) -> Resident | None:
        return await self.session.scalar(
            select(Resident).where(Resident.telegram_user_id == telegram_user_id)
        )

    async def seen(
        self, telegram_user_id: int, chat_id: int | None, telegram_language: str | None
    ) -> Resident:
        """The resident behind an update, created on first contact.

        Written only when something changed (or "last seen" is older than
        LAST_SEEN_PRECISION): reading a plan takes no write lock and leaves nothing to
        commit, so such an update can simply be handled again after a crash.
        """
        resident = await self.by_telegram_id(telegram_user_id) or await self._create(
            telegram_user_id
        )
        now = utcnow()
        if now - resident.last_seen_at >= LAST_SEEN_PRECISION:
            resident.last_seen_at = now
        if chat_id is not None and resident.chat_id != chat_id:
            resident.chat_id = chat_id
        if telegram_language and resident.telegram_language != telegram_language:
            resident.telegram_language = telegram_language
        return resident

    async def set_reachable(self, chat_id: int, reachable: bool) -> None:
        """What Telegram said when the bot last wrote to this private chat."""
        await self.session.execute(
            update(Resident).where(Resident.chat_id == chat_id).values(reachable=reachable)
        )

    async def _create(self, telegram_user_id: int) -> Resident:
        # Two first updates of one person can race: insert-or-nothing, then read.
        # (No SAVEPOINT: on SQLite its release would commit the update's transaction.)
        await self.session.execute(
            _insert_for(self.session)(Resident)
            .values(telegram_user_id=telegram_user_id)
            .on_conflict_do_nothing(index_elements=["telegram_user_id"])
        )
        resident = await self.by_telegram_id(telegram_user_id)
        assert resident is not None
        return resident


def _insert_for(session: AsyncSession) -> Callable[..., Any]:
    dialect = session.get_bind().dialect.name
    return postgresql_insert if dialect == "postgresql" else sqlite_insert


class SubmissionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_draft_key(self, draft_key: str) -> Submission | None:
        return await self.session.scalar(
            select(Submission).where(Submission.draft_key == draft_key)
        )

    async def add_once(self, values: dict[str, Any]) -> tuple[Submission, bool]:
        """Insert unless a submission of the same draft exists; (submission, created)."""
        inserted = await self.session.scalar(
            _insert_for(self.session)(Submission)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["draft_key"])
            .returning(Submission.id)
        )
        submission = await self.by_draft_key(values["draft_key"])
        assert submission is not None
        return submission, inserted is not None

    async def count_since(self, resident_id: int, since: datetime) -> int:
        return (
            await self.session.scalar(
                select(func.count())
                .select_from(Submission)
                .where(Submission.resident_id == resident_id, Submission.created_at >= since)
            )
            or 0
        )

    async def oldest_since(self, resident_id: int, since: datetime) -> datetime | None:
        return await self.session.scalar(
            select(func.min(Submission.created_at)).where(
                Submission.resident_id == resident_id, Submission.created_at >= since
            )
        )

    async def same_text_since(
        self, resident_id: int, text_digest: str, since: datetime
    ) -> Submission | None:
        return await self.session.scalar(
            select(Submission)
            .where(
                Submission.resident_id == resident_id,
                Submission.text_digest == text_digest,
                Submission.created_at >= since,
            )
            .order_by(Submission.created_at.desc())
            .limit(1)
        )

    async def of_resident(
        self, resident_id: int, *, offset: int = 0, limit: int | None = None
    ) -> Sequence[Submission]:
        rows = await self.session.scalars(
            select(Submission)
            .where(Submission.resident_id == resident_id)
            .order_by(Submission.created_at.desc(), Submission.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return rows.all()

    async def count_of_resident(self, resident_id: int) -> int:
        return (
            await self.session.scalar(
                select(func.count())
                .select_from(Submission)
                .where(Submission.resident_id == resident_id)
            )
            or 0
        )

    async def unlink_resident(self, resident_id: int) -> int:
        """Keep a resident's submissions with nothing that points to the person."""
        result = await self.session.execute(
            update(Submission)
            .where(Submission.resident_id == resident_id)
            .values(resident_id=None, author_name=None)
        )
        return result.rowcount or 0

    async def delete_of_resident(self, resident_id: int) -> int:
        result = await self.session.execute(
            delete(Submission).where(Submission.resident_id == resident_id)
        )
        return result.rowcount or 0


class ConversationStateRepository:
    """Plain string keys: the FSM adapter in bot/ builds them from aiogram's keys."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, key: str) -> ConversationState | None:
        # put() writes with a Core upsert, which an already loaded object would not show.
        return await self.session.scalar(
            select(ConversationState)
            .where(ConversationState.key == key)
            .execution_options(populate_existing=True)
        )

    async def put(self, key: str, **values: Any) -> None:
        """Set some of `state` and `data`, creating the row when it is new."""
        now = utcnow()
        await self.session.execute(
            _insert_for(self.session)(ConversationState)
            .values(key=key, state=None, data={}, updated_at=now)
            .values(**values)
            .on_conflict_do_update(index_elements=["key"], set_={**values, "updated_at": now})
        )


class StaffRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def submission(self, submission_id: int) -> Submission | None:
        return await self.session.get(Submission, submission_id)

    async def by_number(self, public_number: str) -> Submission | None:
        return await self.session.scalar(
            select(Submission).where(Submission.public_number == public_number)
        )

    async def by_card(self, chat_id: int, message_id: int) -> Submission | None:
        return await self.session.scalar(
            select(Submission).where(
                Submission.staff_chat_id == chat_id, Submission.staff_message_id == message_id
            )
        )

    async def without_queued_card(self) -> Sequence[Submission]:
        """Submissions with no card posted nor queued (not spam), oldest first."""
        queued = select(OutboxMessage.id).where(
            OutboxMessage.kind == OutboxKind.CARD, OutboxMessage.submission_id == Submission.id
        )
        rows = await self.session.scalars(
            select(Submission)
            .where(
                Submission.staff_message_id.is_(None),
                Submission.status != SubmissionStatus.SPAM,
                ~queued.exists(),
            )
            .order_by(Submission.id)
        )
        return rows.all()

    async def actions_on(self, submission_id: int) -> Sequence[StaffAction]:
        rows = await self.session.scalars(
            select(StaffAction)
            .where(StaffAction.submission_id == submission_id)
            .order_by(StaffAction.id)
        )
        return rows.all()

    async def prompt_at(self, chat_id: int, message_id: int) -> StaffPrompt | None:
        """The prompt that is this message of the staff chat, if it is one."""
        return await self.session.scalar(
            select(StaffPrompt).where(
                StaffPrompt.chat_id == chat_id, StaffPrompt.message_id == message_id
            )
        )

    async def open_prompts_of(
        self, chat_id: int, user_id: int, now: datetime
    ) -> Sequence[StaffPrompt]:
        """The prompts a staff member asked for in a chat that still wait for a reply."""
        rows = await self.session.scalars(
            select(StaffPrompt)
            .where(
                StaffPrompt.chat_id == chat_id,
                StaffPrompt.asked_by == user_id,
                StaffPrompt.closed_at.is_(None),
                StaffPrompt.expires_at > now,
            )
            .order_by(StaffPrompt.id)
        )
        return rows.all()

    async def close_prompt(self, prompt_id: int, now: datetime) -> bool:
        """Closes a prompt still open; False when another reply or /cancel closed it first."""
        result = await self.session.execute(
            update(StaffPrompt)
            .where(StaffPrompt.id == prompt_id, StaffPrompt.closed_at.is_(None))
            .values(closed_at=now)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]


class FollowRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def follows(self, resident_id: int, consultation_id: int) -> bool:
        found = await self.session.scalar(
            select(Follow.id).where(
                Follow.resident_id == resident_id, Follow.consultation_id == consultation_id
            )
        )
        return found is not None

    async def follow(self, resident_id: int, consultation_id: int) -> None:
        await self.session.execute(
            _insert_for(self.session)(Follow)
            .values(resident_id=resident_id, consultation_id=consultation_id, created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["resident_id", "consultation_id"])
        )

    async def unfollow(self, resident_id: int, consultation_id: int) -> None:
        await self.session.execute(
            delete(Follow).where(
                Follow.resident_id == resident_id, Follow.consultation_id == consultation_id
            )
        )

    async def followed(self, resident_id: int) -> Sequence[Consultation]:
        rows = await self.session.scalars(
            select(Consultation)
            .join(Follow, Follow.consultation_id == Consultation.id)
            .where(Follow.resident_id == resident_id)
            .order_by(Consultation.closes_at)
        )
        return rows.all()


class NoticeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def automatic_of(self, consultation_id: int) -> Sequence[Notice]:
        rows = await self.session.scalars(
            select(Notice).where(
                Notice.consultation_id == consultation_id, Notice.kind != NoticeKind.BROADCAST
            )
        )
        return rows.all()

    async def planned(self) -> Sequence[Notice]:
        rows = await self.session.scalars(
            select(Notice).where(Notice.status == NoticeStatus.PLANNED).order_by(Notice.due_at)
        )
        return rows.all()

    async def due(self, now: datetime) -> Sequence[Notice]:
        rows = await self.session.scalars(
            select(Notice)
            .where(Notice.status == NoticeStatus.PLANNED, Notice.due_at <= now)
            .order_by(Notice.due_at)
        )
        return rows.all()

    async def sending(self) -> Sequence[Notice]:
        rows = await self.session.scalars(
            select(Notice).where(Notice.status == NoticeStatus.SENDING).order_by(Notice.id)
        )
        return rows.all()

    async def address(self, notice: Notice) -> int:
        """One delivery row per recipient of the notice (again: nothing doubles)."""
        recipients = _recipients(notice).subquery()
        result = await self.session.execute(
            _insert_for(self.session)(Delivery)
            .from_select(
                ["notice_id", "resident_id", "status", "attempts"],
                select(
                    literal(notice.id),
                    recipients.c.id,
                    literal(DeliveryStatus.PENDING.value),
                    literal(0),
                )
                # SQLite reads "SELECT .. ON CONFLICT" as a join unless a WHERE stands between.
                .where(true()),
            )
            .on_conflict_do_nothing(index_elements=["notice_id", "resident_id"])
        )
        return result.rowcount or 0

    async def count_recipients(self, notice: Notice) -> int:
        recipients = _recipients(notice).subquery()
        return await self.session.scalar(select(func.count()).select_from(recipients)) or 0

    async def progress(self, notice_id: int) -> dict[DeliveryStatus, int]:
        rows = await self.session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.notice_id == notice_id)
            .group_by(Delivery.status)
        )
        return {DeliveryStatus(status): count for status, count in rows.all()}


def _recipients(notice: Notice) -> Select[tuple[int]]:
    """The residents a notice is for: reachable ones, each once."""
    reachable = select(Resident.id).where(Resident.reachable.is_(True))
    if notice.audience is Audience.EVERYONE:
        return reachable
    if notice.audience is Audience.PARTICIPANTS:
        took_part = select(Submission.resident_id).where(
            Submission.consultation_id == notice.consultation_id
        )
        return reachable.where(Resident.id.in_(took_part))
    if notice.kind is NoticeKind.OPENED:  # a new consultation: for those following everything
        return reachable.where(Resident.follows_all.is_(True))
    followers = select(Follow.resident_id).where(Follow.consultation_id == notice.consultation_id)
    return reachable.where(or_(Resident.id.in_(followers), Resident.follows_all.is_(True)))


class DeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, notice_id: int, limit: int) -> Sequence[tuple[Delivery, Resident]]:
        """The next pending deliveries of a notice, marked as being sent."""
        rows = (
            await self.session.execute(
                select(Delivery, Resident)
                .join(Resident, Resident.id == Delivery.resident_id)
                .where(Delivery.notice_id == notice_id, Delivery.status == DeliveryStatus.PENDING)
                .order_by(Delivery.id)
                .limit(limit)
            )
        ).all()
        ids = [delivery.id for delivery, _ in rows]
        if ids:
            await self.session.execute(
                update(Delivery)
                .where(Delivery.id.in_(ids), Delivery.status == DeliveryStatus.PENDING)
                .values(status=DeliveryStatus.SENDING, attempts=Delivery.attempts + 1)
            )
        return [(delivery, resident) for delivery, resident in rows]

    async def in_flight_back_to_pending(self) -> int:
        """After a crash: deliveries that were being sent may or may not have arrived;
        they go out again (the only case where a resident can get a notice twice)."""
        result = await self.session.execute(
            update(Delivery)
            .where(Delivery.status == DeliveryStatus.SENDING)
            .values(status=DeliveryStatus.PENDING)
        )
        return result.rowcount or 0

    async def finish(
        self,
        delivery_id: int,
        status: DeliveryStatus,
        *,
        message_id: int | None = None,
        error: str | None = None,
        sent_at: datetime | None = None,
    ) -> None:
        await self.session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id)
            .values(
                status=status,
                telegram_message_id=message_id,
                last_error=error[:500] if error else None,
                sent_at=sent_at,
            )
        )


class LeaseRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def acquire(self, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
        """Take or renew the lease when it is free, expired or already ours."""
        await self.session.execute(
            _insert_for(self.session)(Lease)
            .values(name=name, holder=holder, expires_at=now + ttl)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        result = await self.session.execute(
            update(Lease)
            .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at < now))
            .values(holder=holder, expires_at=now + ttl)
        )
        return bool(result.rowcount)

    async def release(self, name: str, holder: str) -> None:
        await self.session.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))


class UpdateLog:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def acted(self, update_id: int) -> bool:
        """Whether a transaction of this update's changes was committed already."""
        found = await self.session.scalar(
            select(ProcessedUpdate.update_id).where(ProcessedUpdate.update_id == update_id)
        )
        return found is not None

    @staticmethod
    def mark_statement(dialect: str, update_id: int, now: datetime) -> Any:
        """Record that the update acts; RETURNING nothing when it acted already (or is
        acting elsewhere: the unique key makes the second one wait for the first to
        commit). A statement, for the commit hook that runs it (bot/updates.py)."""
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        return (
            insert(ProcessedUpdate)
            .values(update_id=update_id, processed_at=now)
            .on_conflict_do_nothing(index_elements=["update_id"])
            .returning(ProcessedUpdate.update_id)
        )

    async def forget_before(self, moment: datetime) -> int:
        result = await self.session.execute(
            delete(ProcessedUpdate).where(ProcessedUpdate.processed_at < moment)
        )
        return result.rowcount or 0


class InboxRepository:
    """Updates received and not yet handled (see InboxUpdate)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, payloads: Sequence[dict[str, Any]], not_before: datetime) -> list[int]:
        """Keep each update once; the ids of those not kept before (a webhook retry or a
        getUpdates answer seen again are not new). `not_before` reserves them for the
        process that records them, which handles them at once."""
        fresh = []
        for payload in payloads:
            inserted = await self.session.scalar(
                _insert_for(self.session)(InboxUpdate)
                .values(
                    update_id=payload["update_id"],
                    payload=payload,
                    received_at=utcnow(),
                    attempts=0,
                    not_before=not_before,
                )
                .on_conflict_do_nothing(index_elements=["update_id"])
                .returning(InboxUpdate.update_id)
            )
            if inserted is not None:
                fresh.append(inserted)
        return fresh

    async def due(self, now: datetime, limit: int = 100) -> Sequence[InboxUpdate]:
        rows = await self.session.scalars(
            select(InboxUpdate)
            .where(InboxUpdate.not_before <= now)
            .order_by(InboxUpdate.update_id)
            .limit(limit)
        )
        return rows.all()

    async def claim(self, update_id: int, now: datetime, until: datetime) -> bool:
        """Take a due update for handling until `until`; False if another took it."""
        result = await self.session.execute(
            update(InboxUpdate)
            .where(InboxUpdate.update_id == update_id, InboxUpdate.not_before <= now)
            .values(not_before=until)
        )
        return bool(result.rowcount)

    async def release_all(self, now: datetime) -> int:
        """Everything left is due now (at the start of the only process that polls)."""
        result = await self.session.execute(
            update(InboxUpdate).where(InboxUpdate.not_before > now).values(not_before=now)
        )
        return result.rowcount or 0

    async def later(self, update_id: int, attempts: int, not_before: datetime, error: str) -> None:
        await self.session.execute(
            update(InboxUpdate)
            .where(InboxUpdate.update_id == update_id)
            .values(attempts=attempts, not_before=not_before, last_error=error[:500])
        )

    async def done(self, update_id: int) -> None:
        await self.session.execute(delete(InboxUpdate).where(InboxUpdate.update_id == update_id))

    async def count(self) -> int:
        return await self.session.scalar(select(func.count()).select_from(InboxUpdate)) or 0


class OutboxRepository:
    """What must reach Telegram because a change was committed (see OutboxMessage)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self,
        kind: OutboxKind,
        chat_id: int,
        *,
        submission_id: int | None = None,
        payload: dict[str, Any] | None = None,
        dedup_key: str | None = None,
    ) -> None:
        """Queue a message in the caller's transaction; a key already queued is kept."""
        now = utcnow()
        statement = _insert_for(self.session)(OutboxMessage).values(
            kind=kind,
            chat_id=chat_id,
            submission_id=submission_id,
            payload=payload or {},
            dedup_key=dedup_key,
            status=OutboxStatus.PENDING,
            attempts=0,
            ambiguous_failures=0,
            not_before=now,
            created_at=now,
        )
        if dedup_key is not None:
            statement = statement.on_conflict_do_nothing(index_elements=["dedup_key"])
        await self.session.execute(statement)

    async def due(self, now: datetime, limit: int) -> Sequence[OutboxMessage]:
        rows = await self.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.not_before <= now)
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
        return rows.all()

    async def claim(self, message_id: int, now: datetime) -> bool:
        result = await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.status == OutboxStatus.PENDING)
            .values(status=OutboxStatus.SENDING, attempts=OutboxMessage.attempts + 1)
        )
        return bool(result.rowcount)

    async def in_flight_back_to_pending(self) -> int:
        """After a crash: what was being sent may have arrived; it goes out once more,
        counted as an ambiguous failure (a second one makes it uncertain)."""
        result = await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.SENDING)
            .values(
                status=OutboxStatus.PENDING,
                ambiguous_failures=OutboxMessage.ambiguous_failures + 1,
                last_error="in flight when the sender stopped",
            )
        )
        return result.rowcount or 0

    async def get(self, message_id: int) -> OutboxMessage | None:
        return await self.session.get(OutboxMessage, message_id)

    async def by_key(self, dedup_key: str) -> OutboxMessage | None:
        return await self.session.scalar(
            select(OutboxMessage).where(OutboxMessage.dedup_key == dedup_key)
        )

    async def pending_count(self) -> int:
        return (
            await self.session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]))
            )
            or 0
        )
