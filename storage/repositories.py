"""Queries. Handlers and services ask these; nothing else writes SQL."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Consultation,
    ConsultationStatus,
    ConversationState,
    Phase,
    Resident,
    Section,
    Submission,
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
        """The resident behind an update, created on first contact."""
        resident = await self.by_telegram_id(telegram_user_id) or await self._create(
            telegram_user_id
        )
        resident.last_seen_at = utcnow()
        if chat_id is not None:
            resident.chat_id = chat_id
        if telegram_language:
            resident.telegram_language = telegram_language
        await self.session.flush()
        return resident

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
