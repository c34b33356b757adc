"""Queries. Handlers and services ask these; nothing else writes SQL."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    AnswerTemplate,
    Audience,
    Consultation,
    ConsultationReport,
    ConsultationStatus,
    ContentVersion,
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
    Restriction,
    Section,
    SimilarMember,
    StaffAction,
    StaffActionKind,
    StaffPrompt,
    Submission,
    SubmissionKind,
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

    async def content_version(self) -> int:
        """Moves on every change to consultations and sections (migration 0008)."""
        version = await self.session.scalar(
            select(ContentVersion.version).where(ContentVersion.id == 1)
        )
        return version or 0

    async def set_staff_topic(self, consultation_id: int, topic_id: int) -> None:
        await self.session.execute(
            update(Consultation)
            .where(Consultation.id == consultation_id)
            .values(staff_topic_id=topic_id)
        )

    async def for_staff(self) -> Sequence[Consultation]:
        """Every consultation, withdrawn ones too, the newest first."""
        rows = await self.session.scalars(
            select(Consultation).order_by(Consultation.opens_at.desc(), Consultation.id.desc())
        )
        return rows.all()

    async def for_change(self, consultation_id: int) -> Consultation | None:
        """The consultation, held until the transaction ends: two staff members acting
        on it at once act one after the other, the second on what the first left."""
        return await self.session.scalar(
            select(Consultation)
            .where(Consultation.id == consultation_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    async def submission_counts(self) -> dict[int, Counter[SubmissionKind]]:
        """Proposals and questions received per consultation (spam left out)."""
        rows = await self.session.execute(
            select(Submission.consultation_id, Submission.kind, func.count())
            .where(
                Submission.consultation_id.is_not(None),
                Submission.status != SubmissionStatus.SPAM,
            )
            .group_by(Submission.consultation_id, Submission.kind)
        )
        counts: dict[int, Counter[SubmissionKind]] = {}
        for consultation_id, kind, count in rows.all():
            counts.setdefault(consultation_id, Counter())[SubmissionKind(kind)] = count
        return counts

    async def published(self, now: datetime) -> list[Consultation]:
        """Open ones first (nearest deadline first), then upcoming, then closed (newest first)."""
        rows = await self.session.scalars(
            select(Consultation).where(Consultation.status == ConsultationStatus.PUBLISHED)
        )
        return sorted(rows, key=lambda c: listing_order(c, now))


def listing_order(consultation: Consultation, now: datetime) -> tuple[int, float]:
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
        """A section residents can read and write on: not removed, nor its consultation
        withdrawn."""
        section = await self.session.get(Section, section_id)
        if section is None or section.removed_in_version is not None:
            return None
        consultation = await self.session.get(Consultation, section.consultation_id)
        if consultation is None or consultation.status is ConsultationStatus.WITHDRAWN:
            return None
        return section

    async def consultation_of(self, section_id: int) -> int | None:
        return await self.session.scalar(
            select(Section.consultation_id).where(Section.id == section_id)
        )

    async def by_number(self, consultation_id: int, number: str) -> Section | None:
        return await self.session.scalar(
            select(Section).where(
                Section.consultation_id == consultation_id,
                Section.number == number,
                Section.removed_in_version.is_(None),
            )
        )

    async def plan(self, consultation_id: int) -> Sequence[Section]:
        """Every section of a consultation's current version, in reading order (the ones
        a later version removed are kept for their submissions, not read)."""
        rows = await self.session.scalars(
            select(Section)
            .where(Section.consultation_id == consultation_id, Section.removed_in_version.is_(None))
            .order_by(Section.position)
        )
        return rows.all()

    async def removed_of(self, consultation_id: int) -> Sequence[Section]:
        """The sections later versions of the document dropped, kept for their submissions."""
        rows = await self.session.scalars(
            select(Section)
            .where(
                Section.consultation_id == consultation_id,
                Section.removed_in_version.is_not(None),
            )
            .order_by(Section.position)
        )
        return rows.all()

    async def children(self, consultation_id: int, parent_id: int | None) -> Sequence[Section]:
        parent_clause = (
            Section.parent_id.is_(None) if parent_id is None else Section.parent_id == parent_id
        )
        rows = await self.session.scalars(
            select(Section)
            .where(
                Section.consultation_id == consultation_id,
                parent_clause,
                Section.removed_in_version.is_(None),
            )
            .order_by(Section.position)
        )
        return rows.all()


LAST_SEEN_PRECISION = timedelta(minutes=10)


class ResidentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        # Whether seen() met this person for the first time (a row was inserted).
        self.created = False

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
        inserted = await self.session.execute(
            _insert_for(self.session)(Resident)
            .values(telegram_user_id=telegram_user_id)
            .on_conflict_do_nothing(index_elements=["telegram_user_id"])
        )
        self.created = bool(inserted.rowcount)
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

    async def of_resident_by_id(self, resident_id: int, submission_id: int) -> Submission | None:
        """One submission, if it is this resident's."""
        return await self.session.scalar(
            select(Submission).where(
                Submission.id == submission_id, Submission.resident_id == resident_id
            )
        )

    async def count_of_resident(self, resident_id: int) -> int:
        return (
            await self.session.scalar(
                select(func.count())
                .select_from(Submission)
                .where(Submission.resident_id == resident_id)
            )
            or 0
        )


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

    async def drop_if_empty(self, key: str) -> None:
        """A conversation back at its start keeps no row (its key holds the user id)."""
        row = await self.get(key)
        if row is not None and row.state is None and not row.data:
            await self.session.delete(row)
            await self.session.flush()


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


def open_item_conditions() -> tuple[ColumnElement[bool], ColumnElement[bool], ColumnElement[bool]]:
    """What still keeps a report from final, as conditions on a submission: (a proposal
    without a decision, a proposal not (fully) accepted without reasons, a question
    without an answer whose sender can still read one). Spam meets none. An answered
    proposal is still undecided: the law wants accepted / partly / not accepted, and
    reasons for what was not accepted (чл. 26, ал. 5 ЗНА). The report's checklist
    counts these and /pending lists them."""
    proposal = Submission.kind == SubmissionKind.PROPOSAL
    no_reason = or_(
        Submission.decision_reason.is_(None), func.trim(Submission.decision_reason) == ""
    )
    needs_reasons = (SubmissionStatus.PARTLY_ACCEPTED, SubmissionStatus.REJECTED)
    return (
        and_(
            proposal,
            Submission.status.in_((SubmissionStatus.RECEIVED, SubmissionStatus.ANSWERED)),
        ),
        and_(proposal, Submission.status.in_(needs_reasons), no_reason),
        and_(
            Submission.kind == SubmissionKind.QUESTION,
            Submission.status == SubmissionStatus.RECEIVED,
            # Its sender erased their data: nobody is left to read an answer.
            Submission.anonymised_at.is_(None),
        ),
    )


class PendingRepository:
    """What staff still owe an answer or a decision, by the report's own rules."""

    DECISION, REASON, ANSWER = "decision", "reason", "answer"

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def items(
        self,
    ) -> Sequence[tuple[Submission, Consultation | None, Section | None, str]]:
        """Every open item, oldest first: the submission, where it belongs and what it
        needs (DECISION, REASON or ANSWER)."""
        undecided, without_reasons, unanswered = open_item_conditions()
        need = case(
            (undecided, literal(self.DECISION)),
            (without_reasons, literal(self.REASON)),
            else_=literal(self.ANSWER),
        )
        rows = await self.session.execute(
            select(Submission, Consultation, Section, need)
            .outerjoin(Consultation, Consultation.id == Submission.consultation_id)
            .outerjoin(Section, Section.id == Submission.section_id)
            .where(or_(undecided, without_reasons, unanswered))
            .order_by(Submission.created_at, Submission.id)
        )
        return [(row[0], row[1], row[2], row[3]) for row in rows.all()]


class TemplateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def all(self) -> Sequence[AnswerTemplate]:
        return (
            await self.session.scalars(
                select(AnswerTemplate).order_by(AnswerTemplate.language, AnswerTemplate.name)
            )
        ).all()

    async def of_language(self, language: str) -> Sequence[AnswerTemplate]:
        return (
            await self.session.scalars(
                select(AnswerTemplate)
                .where(AnswerTemplate.language == language)
                .order_by(AnswerTemplate.name)
            )
        ).all()

    async def get(self, template_id: int) -> AnswerTemplate | None:
        return await self.session.get(AnswerTemplate, template_id)

    async def save(self, language: str, name: str, text: str, by: str, now: datetime) -> bool:
        """Store the template, replacing the one of the same language and name (two staff
        members at once do not collide); True when it is new."""
        exists = await self.session.scalar(
            select(AnswerTemplate.id).where(
                AnswerTemplate.language == language, AnswerTemplate.name == name
            )
        )
        statement = _insert_for(self.session)(AnswerTemplate).values(
            language=language, name=name, text=text, updated_by=by, updated_at=now
        )
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["language", "name"],
                set_={"text": text, "updated_by": by, "updated_at": now},
            )
        )
        return exists is None

    async def delete(self, template_id: int) -> AnswerTemplate | None:
        """The template removed; None when it was gone already."""
        template = await self.get(template_id)
        if template is None:
            return None
        result = await self.session.execute(
            delete(AnswerTemplate).where(AnswerTemplate.id == template_id)
        )
        return template if result.rowcount else None


class ReportRepository:
    """The report ("справка") of a consultation: how far its review is, and the row that
    records its closing, who prepared and approved it, and its publication."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def of(self, consultation_id: int) -> ConsultationReport | None:
        return await self.session.get(ConsultationReport, consultation_id)

    async def open_items(self, consultation_id: int) -> tuple[int, int, int]:
        """(proposals without a decision, proposals not (fully) accepted without reasons,
        questions without an answer), spam left out (see `open_item_conditions`)."""
        undecided, without_reasons, unanswered = open_item_conditions()
        row = (
            await self.session.execute(
                select(
                    func.count().filter(undecided),
                    func.count().filter(without_reasons),
                    func.count().filter(unanswered),
                ).where(Submission.consultation_id == consultation_id)
            )
        ).one()
        return int(row[0]), int(row[1]), int(row[2])

    async def _row(self, consultation_id: int) -> ConsultationReport:
        # Two staff members at once must not collide on the primary key.
        await self.session.execute(
            _insert_for(self.session)(ConsultationReport)
            .values(consultation_id=consultation_id)
            .on_conflict_do_nothing(index_elements=["consultation_id"])
        )
        row = await self.session.get(ConsultationReport, consultation_id, populate_existing=True)
        assert row is not None
        return row

    async def close_review(self, consultation_id: int, by: str, now: datetime) -> None:
        row = await self._row(consultation_id)
        row.review_closed_at, row.review_closed_by = now, by

    async def set_prepared(self, consultation_id: int, name: str) -> None:
        row = await self._row(consultation_id)
        row.prepared_by = name

    async def set_approved(self, consultation_id: int, name: str, now: datetime) -> None:
        row = await self._row(consultation_id)
        row.approved_by, row.approved_at = name, now

    async def mark_published(self, consultation_id: int, by: str, now: datetime) -> bool:
        """Record the publication, unless it is recorded already: False then. One UPDATE,
        so two staff members (or a button and the command line) at once publish once."""
        await self._row(consultation_id)
        result = await self.session.execute(
            update(ConsultationReport)
            .where(
                ConsultationReport.consultation_id == consultation_id,
                ConsultationReport.published_at.is_(None),
            )
            .values(published_at=now, published_by=by)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)

    async def outcomes_of(
        self, consultation_id: int, resident_ids: Collection[int]
    ) -> dict[int, list[Submission]]:
        """What each of these residents sent to the consultation (spam left out), in the
        order they sent it: what the published report tells them."""
        rows = await self.session.scalars(
            select(Submission)
            .where(
                Submission.consultation_id == consultation_id,
                Submission.resident_id.in_(list(resident_ids)),
                Submission.status != SubmissionStatus.SPAM,
            )
            .order_by(Submission.id)
        )
        outcomes: dict[int, list[Submission]] = {}
        for submission in rows:
            assert submission.resident_id is not None
            outcomes.setdefault(submission.resident_id, []).append(submission)
        return outcomes


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
                Notice.consultation_id == consultation_id,
                # Staff's own notices are not planned from the dates: the planner leaves them.
                Notice.kind.not_in((NoticeKind.BROADCAST, NoticeKind.REPORT, NoticeKind.EXTENDED)),
            )
        )
        return rows.all()

    async def cancel_report_of(self, consultation_id: int) -> None:
        """The consultation's published report, not yet sent (or not to everyone), is sent
        no further."""
        await self.session.execute(
            update(Notice)
            .where(
                Notice.consultation_id == consultation_id,
                Notice.kind == NoticeKind.REPORT,
                Notice.status.in_((NoticeStatus.PLANNED, NoticeStatus.SENDING)),
            )
            .values(status=NoticeStatus.CANCELLED)
            .execution_options(synchronize_session="fetch")
        )

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
    followers = select(Follow.resident_id).where(Follow.consultation_id == notice.consultation_id)
    # A new consultation is news for those following everything, and for whoever
    # followed it while it was upcoming.
    following = or_(Resident.id.in_(followers), Resident.follows_all.is_(True))
    if notice.audience is Audience.INVOLVED:
        # Whoever sent something that counts (spam does not) or follows it: one row each,
        # as a resident who did both is selected once.
        took_part = select(Submission.resident_id).where(
            Submission.consultation_id == notice.consultation_id,
            Submission.status != SubmissionStatus.SPAM,
        )
        return reachable.where(or_(Resident.id.in_(took_part), following))
    return reachable.where(following)


class DeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, notice_id: int, limit: int) -> Sequence[tuple[Delivery, Resident]]:
        """The next pending deliveries of a notice, marked as being sent: only those this
        statement took. Another sender claiming at the same moment (the old one at a lease
        take-over) gets the next ones: PostgreSQL skips the rows a claim has locked, and
        SQLite runs one writer at a time."""
        next_pending = (
            select(Delivery.id)
            .where(Delivery.notice_id == notice_id, Delivery.status == DeliveryStatus.PENDING)
            .order_by(Delivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            # Run once: as a plain subquery PostgreSQL may run it again for each row it
            # updates, each run skipping the rows the last one locked: `limit` times over.
            .cte("next_pending")
            .prefix_with("MATERIALIZED", dialect="postgresql")
        )
        claimed = (
            await self.session.scalars(
                update(Delivery)
                .where(
                    Delivery.id.in_(select(next_pending.c.id)),
                    Delivery.status == DeliveryStatus.PENDING,
                )
                .values(status=DeliveryStatus.SENDING, attempts=Delivery.attempts + 1)
                .returning(Delivery)
                .execution_options(synchronize_session=False)
            )
        ).all()
        if not claimed:
            return []
        residents = {
            resident.id: resident
            for resident in await self.session.scalars(
                select(Resident).where(Resident.id.in_({d.resident_id for d in claimed}))
            )
        }
        return [
            (delivery, residents[delivery.resident_id])
            for delivery in sorted(claimed, key=lambda delivery: delivery.id)
        ]

    async def release(self, delivery_ids: Sequence[int]) -> None:
        """Claimed deliveries whose message never went out (the sender stopped): pending
        again, as if never claimed."""
        await self.session.execute(
            update(Delivery)
            .where(Delivery.id.in_(delivery_ids), Delivery.status == DeliveryStatus.SENDING)
            .values(status=DeliveryStatus.PENDING, attempts=Delivery.attempts - 1)
        )

    async def in_flight_back_to_pending(self) -> int:
        """After a crash: deliveries that were being sent may or may not have arrived;
        they go out again (the only case where a resident can get a notice twice)."""
        result = await self.session.execute(
            update(Delivery)
            .where(Delivery.status == DeliveryStatus.SENDING)
            .values(status=DeliveryStatus.PENDING)
        )
        return result.rowcount or 0

    async def record(self, deliveries: Sequence[Delivery]) -> None:
        """Write what became of these deliveries, as set on them (status, Telegram's message
        id or the error, when sent), in one UPDATE; the residents of those that found the
        bot blocked are unreachable from now on. A delivery erased meanwhile (with its
        resident) is no longer there to update."""
        if not deliveries:
            return
        await self.session.execute(
            update(Delivery)
            .where(Delivery.id == bindparam("delivery_id"))
            .values(
                status=bindparam("outcome"),
                telegram_message_id=bindparam("message_id"),
                last_error=bindparam("error"),
                sent_at=bindparam("at"),
            )
            # Plain executemany: the ORM's bulk UPDATE would fail on an erased row.
            .execution_options(dml_strategy="core_only"),
            [
                {
                    "delivery_id": delivery.id,
                    "outcome": delivery.status,
                    "message_id": delivery.telegram_message_id,
                    "error": delivery.last_error[:500] if delivery.last_error else None,
                    "at": delivery.sent_at,
                }
                for delivery in deliveries
            ],
        )
        blocked = {d.resident_id for d in deliveries if d.status is DeliveryStatus.UNREACHABLE}
        if blocked:
            await self.session.execute(
                update(Resident).where(Resident.id.in_(blocked)).values(reachable=False)
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
        return update_id in await self.acted_among([update_id])

    async def acted_among(self, update_ids: Collection[int]) -> set[int]:
        rows = await self.session.scalars(
            select(ProcessedUpdate.update_id).where(ProcessedUpdate.update_id.in_(update_ids))
        )
        return set(rows)

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

    async def done(self, update_ids: Collection[int]) -> None:
        await self.session.execute(delete(InboxUpdate).where(InboxUpdate.update_id.in_(update_ids)))

    async def count(self) -> int:
        return await self.session.scalar(select(func.count()).select_from(InboxUpdate)) or 0

    async def album(self, chat_id: int, media_group_id: str) -> list[dict[str, Any]]:
        """The messages of an album (one update each) recorded and not yet handled, in
        the order they were sent."""
        rows = await self.session.scalars(
            select(InboxUpdate.payload)
            .where(InboxUpdate.payload[("message", "media_group_id")].as_string() == media_group_id)
            .order_by(InboxUpdate.update_id)
        )
        # The chat is compared here: its id may not fit the SQL integer of a JSON cast.
        messages = (payload["message"] for payload in rows)
        return [dict(message) for message in messages if message["chat"]["id"] == chat_id]


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


class PrivacyRepository:
    """What erasure, the access request (/mydata) and the retention job ask."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- restrictions that outlive an erasure ------------------------------------------

    async def restriction(self, pseudonym: str) -> Restriction | None:
        return await self.session.get(Restriction, pseudonym)

    async def keep_restriction(
        self, pseudonym: str, *, banned: bool, recent: list[str], expires_at: datetime | None
    ) -> None:
        row = await self.restriction(pseudonym)
        if row is None:
            row = Restriction(pseudonym=pseudonym, recent_submissions=[])
            self.session.add(row)
        row.banned = row.banned or banned
        row.recent_submissions = sorted({*row.recent_submissions, *recent})
        row.expires_at = None if row.banned else expires_at
        await self.session.flush()

    async def lift_ban(self, pseudonym: str) -> None:
        await self.session.execute(
            update(Restriction).where(Restriction.pseudonym == pseudonym).values(banned=False)
        )

    async def forget_expired_restrictions(self, now: datetime) -> int:
        result = await self.session.execute(
            delete(Restriction).where(
                Restriction.banned.is_(False),
                or_(Restriction.expires_at.is_(None), Restriction.expires_at < now),
            )
        )
        return result.rowcount or 0

    # --- a resident's traces ---------------------------------------------------------

    async def posted_attachments(self, submission_ids: Sequence[int]) -> list[tuple[int, int]]:
        """(chat id, message id) of each attachment posted under these submissions' cards."""
        if not submission_ids:
            return []
        rows = await self.session.execute(
            select(OutboxMessage.chat_id, OutboxMessage.telegram_message_id).where(
                OutboxMessage.kind == OutboxKind.ATTACHMENT,
                OutboxMessage.submission_id.in_(submission_ids),
                OutboxMessage.telegram_message_id.is_not(None),
            )
        )
        return [(chat_id, message_id) for chat_id, message_id in rows.all()]

    async def anonymise(self, submission_ids: Sequence[int], now: datetime) -> None:
        """Keep the text, the decision and its reason (the report the law requires);
        drop what points to the person: the link, the name, attachments, the answer."""
        if not submission_ids:
            return
        await self.session.execute(
            update(Submission)
            .where(Submission.id.in_(submission_ids))
            .values(
                resident_id=None,
                author_name=None,
                # An organisation is named with its author: both go (its kind stays).
                organisation_name=None,
                attachments=[],
                answer=None,
                anonymised_at=now,
            )
            .execution_options(synchronize_session="fetch")
        )
        await self.forget_action_details(submission_ids)
        # Attachments not posted yet never will be; answers not sent yet have no reader.
        await self.session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.submission_id.in_(submission_ids),
                OutboxMessage.kind.in_((OutboxKind.ATTACHMENT, OutboxKind.REPLY)),
            )
        )

    async def forget_action_details(self, submission_ids: Sequence[int]) -> None:
        """The audit log keeps who did what and when, not the words sent to the person."""
        await self.session.execute(
            update(StaffAction)
            .where(StaffAction.submission_id.in_(submission_ids))
            .values(detail=None)
        )

    async def refused_attempts(self, telegram_user_id: int) -> Sequence[StaffAction]:
        rows = await self.session.scalars(
            select(StaffAction)
            .where(
                StaffAction.actor_telegram_id == telegram_user_id,
                StaffAction.kind == StaffActionKind.REFUSED,
            )
            .order_by(StaffAction.created_at)
        )
        return rows.all()

    async def delete_refused_attempts(self, telegram_user_id: int) -> None:
        await self.session.execute(
            delete(StaffAction).where(
                StaffAction.actor_telegram_id == telegram_user_id,
                StaffAction.kind == StaffActionKind.REFUSED,
            )
        )

    async def delete_messages_to(self, chat_id: int) -> None:
        """Whatever the outbox holds for a private chat: sent or waiting, it has a text."""
        await self.session.execute(delete(OutboxMessage).where(OutboxMessage.chat_id == chat_id))

    async def follows_of(self, resident_id: int) -> Sequence[tuple[Follow, Consultation]]:
        rows = await self.session.execute(
            select(Follow, Consultation)
            .join(Consultation, Consultation.id == Follow.consultation_id)
            .where(Follow.resident_id == resident_id)
            .order_by(Follow.created_at)
        )
        return [(follow, consultation) for follow, consultation in rows.all()]

    async def deliveries_of(
        self, resident_id: int
    ) -> Sequence[tuple[Delivery, Notice, Consultation | None]]:
        rows = await self.session.execute(
            select(Delivery, Notice, Consultation)
            .join(Notice, Notice.id == Delivery.notice_id)
            .outerjoin(Consultation, Consultation.id == Notice.consultation_id)
            .where(Delivery.resident_id == resident_id)
            .order_by(Notice.due_at, Delivery.id)
        )
        return [(delivery, notice, consultation) for delivery, notice, consultation in rows.all()]

    async def consultations(self, ids: Sequence[int]) -> dict[int, Consultation]:
        if not ids:
            return {}
        rows = await self.session.scalars(select(Consultation).where(Consultation.id.in_(ids)))
        return {consultation.id: consultation for consultation in rows.all()}

    # --- retention -------------------------------------------------------------------

    async def submissions_past_retention(self, cutoff: datetime) -> Sequence[Submission]:
        """Not yet anonymised, of a consultation closed before `cutoff`, or sent to the
        general channel (or a consultation since deleted) before it."""
        rows = await self.session.scalars(
            select(Submission)
            .outerjoin(Consultation, Consultation.id == Submission.consultation_id)
            .where(
                Submission.anonymised_at.is_(None),
                or_(
                    Consultation.closes_at < cutoff,
                    (Consultation.closes_at.is_(None) & (Submission.created_at < cutoff)),
                ),
            )
        )
        return rows.all()

    async def residents_gone_quiet(self, cutoff: datetime) -> Sequence[Resident]:
        """Not seen since `cutoff` and following nothing: nothing of theirs is in use."""
        rows = await self.session.scalars(
            select(Resident).where(
                Resident.last_seen_at < cutoff,
                Resident.follows_all.is_(False),
                ~select(Follow.id).where(Follow.resident_id == Resident.id).exists(),
            )
        )
        return rows.all()

    async def forget_old_traffic(self, cutoff: datetime) -> int:
        """Messages to residents once delivered, refused staff attempts, and the
        deliveries of finished notices, older than `cutoff`. Cards and their
        attachments stay: an erasure needs to know where they are."""
        removed = 0
        for statement in (
            delete(OutboxMessage).where(
                OutboxMessage.kind.in_((OutboxKind.REPLY, OutboxKind.SCREEN, OutboxKind.DELETE)),
                OutboxMessage.status.not_in((OutboxStatus.PENDING, OutboxStatus.SENDING)),
                OutboxMessage.created_at < cutoff,
            ),
            delete(StaffAction).where(
                StaffAction.kind == StaffActionKind.REFUSED, StaffAction.created_at < cutoff
            ),
            delete(Delivery).where(
                Delivery.notice_id.in_(
                    select(Notice.id).where(
                        Notice.status.in_(
                            (NoticeStatus.DONE, NoticeStatus.CANCELLED, NoticeStatus.EXPIRED)
                        ),
                        Notice.due_at < cutoff,
                    )
                )
            ),
        ):
            result = await self.session.execute(statement)
            removed += result.rowcount or 0
        return removed


class SimilarRepository:
    """Groups of near-duplicate proposals (bot/groups.py decides them)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @staticmethod
    def _groupable(consultation_id: int | None) -> list[Any]:
        """The proposals of a consultation (None: the general channel) that can be
        grouped: not spam."""
        return [
            Submission.consultation_id.is_(None)
            if consultation_id is None
            else Submission.consultation_id == consultation_id,
            Submission.kind == SubmissionKind.PROPOSAL,
            Submission.status != SubmissionStatus.SPAM,
        ]

    async def proposal_ids(self, consultation_id: int | None) -> set[int]:
        rows = await self.session.scalars(
            select(Submission.id).where(*self._groupable(consultation_id))
        )
        return set(rows)

    async def texts(self, ids: Collection[int]) -> dict[int, str]:
        rows = await self.session.execute(
            select(Submission.id, Submission.text).where(Submission.id.in_(ids))
        )
        return {row.id: row.text for row in rows}

    async def memberships(self, consultation_id: int | None) -> Sequence[SimilarMember]:
        rows = await self.session.scalars(
            select(SimilarMember)
            .join(Submission, SimilarMember.submission_id == Submission.id)
            .where(*self._groupable(consultation_id))
        )
        return rows.all()

    async def member(self, submission_id: int) -> SimilarMember | None:
        return await self.session.get(SimilarMember, submission_id)

    async def group_id_of(self, submission_id: int) -> int | None:
        """The group a proposal is in as the database has it now (not as this session
        loaded it)."""
        return await self.session.scalar(
            select(SimilarMember.group_id).where(SimilarMember.submission_id == submission_id)
        )

    async def put(self, submission_id: int, group_id: int | None) -> None:
        """Record a proposal's group. One alone until now joins it; one in a group keeps
        its own (two arriving together may both name it), one taken apart stays apart."""
        insert = _insert_for(self.session)(SimilarMember).values(
            submission_id=submission_id, group_id=group_id, apart=False
        )
        await self.session.execute(
            insert.on_conflict_do_update(
                index_elements=["submission_id"],
                set_={"group_id": insert.excluded.group_id},
                where=SimilarMember.group_id.is_(None) & ~SimilarMember.apart,
            )
        )

    async def members(self, group_id: int) -> Sequence[Submission]:
        """The proposals of a group, oldest first (spam left out)."""
        rows = await self.session.scalars(
            select(Submission)
            .join(SimilarMember, SimilarMember.submission_id == Submission.id)
            .where(
                SimilarMember.group_id == group_id,
                Submission.status != SubmissionStatus.SPAM,
            )
            .order_by(Submission.id)
        )
        return rows.all()

    async def groups_of(self, consultation_id: int) -> dict[int, int]:
        """Each grouped proposal of a consultation and its group (groups of two or more)."""
        rows = (
            await self.session.execute(
                select(SimilarMember.submission_id, SimilarMember.group_id)
                .join(Submission, SimilarMember.submission_id == Submission.id)
                .where(
                    Submission.consultation_id == consultation_id,
                    SimilarMember.group_id.is_not(None),
                    Submission.status != SubmissionStatus.SPAM,
                )
            )
        ).all()
        sizes = Counter(group for _, group in rows)
        return {submission: group for submission, group in rows if sizes[group] > 1}

    async def claim_undecided(self, ids: Collection[int], decision: SubmissionStatus) -> list[int]:
        """Set `decision` on those of `ids` still without one, in one statement: of two
        staff deciding at once, each proposal goes to one of them. The ids it was set on."""
        rows = await self.session.scalars(
            update(Submission)
            .where(
                Submission.id.in_(ids),
                Submission.status.in_([SubmissionStatus.RECEIVED, SubmissionStatus.ANSWERED]),
            )
            .values(status=decision)
            .returning(Submission.id)
            .execution_options(synchronize_session=False)
        )
        return sorted(rows)
