"""The data model. Plain SQLAlchemy: no Telegram types here."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from storage.types import UTCDateTime

# A text in several languages: {"bg": "...", "en": "..."}.
LocalizedText = dict[str, str]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), LocalizedText: JSON}  # noqa: RUF012


def _stored_by_value(enum_class: type[enum.StrEnum]) -> Enum:
    return Enum(
        enum_class,
        native_enum=False,
        length=20,
        values_callable=lambda members: [member.value for member in members],
    )


class ConsultationKind(enum.StrEnum):
    CONSULTATION = "consultation"
    # A permanent "ask, suggest" channel: no deadline, always open.
    CHANNEL = "channel"


class ConsultationStatus(enum.StrEnum):
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"


class Phase(enum.StrEnum):
    UPCOMING = "upcoming"
    OPEN = "open"
    CLOSED = "closed"


class Consultation(Base):
    __tablename__ = "consultation"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[ConsultationKind] = mapped_column(_stored_by_value(ConsultationKind))
    status: Mapped[ConsultationStatus] = mapped_column(
        _stored_by_value(ConsultationStatus), default=ConsultationStatus.PUBLISHED
    )
    original_language: Mapped[str] = mapped_column(String(8))
    timezone: Mapped[str] = mapped_column(String(64))
    organizer: Mapped[LocalizedText]
    title: Mapped[LocalizedText]
    summary: Mapped[LocalizedText]
    contact: Mapped[LocalizedText] = mapped_column(default=dict)
    link: Mapped[str | None] = mapped_column(String(500))
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime | None]
    source_digest: Mapped[str] = mapped_column(String(64))
    # Raised by every change to the sections (a new document); shown from 2 on.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # Why the period is shorter than the law's 30 days; empty when it is not.
    short_period_reason: Mapped[LocalizedText] = mapped_column(default=dict, server_default="{}")
    # The staff chat's forum topic for this consultation, when the staff chat is a forum.
    staff_topic_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    sections: Mapped[list[Section]] = relationship(
        back_populates="consultation",
        cascade="all, delete-orphan",
        # The database's ON DELETE CASCADE removes them (and their subsections).
        passive_deletes=True,
        order_by="Section.position",
    )

    def phase(self, now: datetime) -> Phase:
        if now < self.opens_at:
            return Phase.UPCOMING
        if self.closes_at is not None and now >= self.closes_at:
            return Phase.CLOSED
        return Phase.OPEN


class Section(Base):
    """One node of a plan: strategic goal, priority or measure.

    `position` is the node's place in the whole plan read top to bottom (pre-order),
    which is also the order of the guided walk.
    """

    __tablename__ = "section"
    __table_args__ = (UniqueConstraint("consultation_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(
        ForeignKey("consultation.id", ondelete="CASCADE"), index=True
    )
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("section.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    depth: Mapped[int] = mapped_column(Integer, default=0)
    number: Mapped[str] = mapped_column(String(20))
    title: Mapped[LocalizedText]
    body: Mapped[LocalizedText] = mapped_column(default=dict)
    # The version whose document no longer has this section: hidden from residents, kept
    # for the submissions on it. None while it is part of the consultation.
    removed_in_version: Mapped[int | None] = mapped_column(Integer)

    consultation: Mapped[Consultation] = relationship(back_populates="sections")


class Resident(Base):
    __tablename__ = "resident"
    # Ids are never handed out twice (SQLite reuses the highest one after a delete).
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    # Explicitly chosen with /language; None means "follow Telegram's language_code".
    language: Mapped[str | None] = mapped_column(String(8))
    telegram_language: Mapped[str | None] = mapped_column(String(16))
    consent_at: Mapped[datetime | None]
    consent_version: Mapped[str | None] = mapped_column(String(20))
    reachable: Mapped[bool] = mapped_column(Boolean, default=True)
    banned: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Told about every new consultation that opens ("follow everything").
    follows_all: Mapped[bool] = mapped_column(Boolean, default=False)


class SubmissionKind(enum.StrEnum):
    PROPOSAL = "proposal"
    QUESTION = "question"


class SubmissionChannel(enum.StrEnum):
    """How a submission reached the municipality: the law counts every one received."""

    TELEGRAM = "telegram"
    EMAIL = "email"
    LETTER = "letter"
    PHONE = "phone"
    MEETING = "meeting"  # said at a public meeting


class StakeholderKind(enum.StrEnum):
    """On whose behalf a submission speaks."""

    INDIVIDUAL = "individual"
    BUSINESS = "business"
    EDUCATION = "education"  # a school, a university, a kindergarten
    PUBLIC_BODY = "public_body"
    NGO = "ngo"


class SubmissionStatus(enum.StrEnum):
    RECEIVED = "received"
    ANSWERED = "answered"
    ACCEPTED = "accepted"
    PARTLY_ACCEPTED = "partly_accepted"
    REJECTED = "rejected"
    SPAM = "spam"


class Submission(Base):
    """A proposal or question a resident sent, tied to a consultation and section or
    to the general "ask, suggest" channel (no consultation).

    `section_number` keeps the section a submission was about even if a later version
    of the consultation file drops that section.
    """

    __tablename__ = "submission"
    # Ids and public numbers are never handed out twice: an old card's buttons must not
    # reach a later, unrelated submission.
    __table_args__ = (
        Index("ix_submission_resident_created", "resident_id", "created_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_number: Mapped[str | None] = mapped_column(String(20), unique=True)
    # One draft makes at most one submission, however often "send" arrives.
    draft_key: Mapped[str] = mapped_column(String(40), unique=True)
    consultation_id: Mapped[int | None] = mapped_column(
        ForeignKey("consultation.id", ondelete="SET NULL"), index=True
    )
    section_id: Mapped[int | None] = mapped_column(ForeignKey("section.id", ondelete="SET NULL"))
    section_number: Mapped[str | None] = mapped_column(String(20))
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id", ondelete="SET NULL"))
    kind: Mapped[SubmissionKind] = mapped_column(_stored_by_value(SubmissionKind))
    text: Mapped[str] = mapped_column(Text)
    text_digest: Mapped[str] = mapped_column(String(64))
    attachments: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)
    # The name shown to the public, when the resident chose to sign; None is anonymous.
    author_name: Mapped[str | None] = mapped_column(String(200))
    stakeholder: Mapped[StakeholderKind] = mapped_column(
        _stored_by_value(StakeholderKind), default=StakeholderKind.INDIVIDUAL
    )
    # The organisation a signed submission speaks for, as its author typed it.
    organisation_name: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[SubmissionChannel] = mapped_column(
        _stored_by_value(SubmissionChannel), default=SubmissionChannel.TELEGRAM
    )
    # When the municipality received it: the date staff give for an e-mail, a letter or
    # a meeting; the moment it was sent for one that came through the bot.
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The staff member who registered a submission that did not come through the bot.
    registered_by: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8))
    status: Mapped[SubmissionStatus] = mapped_column(
        _stored_by_value(SubmissionStatus), default=SubmissionStatus.RECEIVED
    )
    decision_reason: Mapped[str | None] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[str | None] = mapped_column(String(200))
    answered_at: Mapped[datetime | None]
    # Where the staff card of this submission is, once it was posted.
    staff_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    staff_message_id: Mapped[int | None] = mapped_column(BigInteger)
    # What became of the latest answer or decision sent to the resident (an OutboxStatus
    # value), shown on the card; None while nothing was sent.
    reply_status: Mapped[str | None] = mapped_column(String(20))
    # When its sender erased themselves (or the retention period ended) and it was kept
    # as its text only: no name, attachments or answer to the person any more.
    anonymised_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class StaffActionKind(enum.StrEnum):
    ANSWER = "answer"
    DECIDE = "decide"
    SPAM = "spam"
    BLOCK = "block"
    REFUSED = "refused"  # someone without staff rights tried a staff action
    TEMPLATE = "template"  # an answer template saved or deleted (no submission)
    NOT_SIMILAR = "not_similar"  # taken out of its group of near-duplicates
    # Changes to a consultation (consultation_id set, no submission).
    PUBLISH = "publish"
    SCHEDULE = "schedule"  # published to open later
    EXTEND = "extend"
    CLOSE = "close"
    WITHDRAW = "withdraw"
    REPLACE = "replace"  # a new version of its document


class StaffAction(Base):
    """The audit log: who did what to which submission or consultation, and when."""

    __tablename__ = "staff_action"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int | None] = mapped_column(
        ForeignKey("submission.id", ondelete="SET NULL"), index=True
    )
    consultation_id: Mapped[int | None] = mapped_column(
        ForeignKey("consultation.id", ondelete="SET NULL"), index=True
    )
    actor_telegram_id: Mapped[int] = mapped_column(BigInteger)
    actor_name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[StaffActionKind] = mapped_column(_stored_by_value(StaffActionKind))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SimilarMember(Base):
    """A proposal's place among its near-duplicates, decided when it arrived (one alone
    then joins the group of a later proposal alike to it; a grouped one never moves, so
    groups stay as staff saw them). `group_id` names the group by one of its proposals'
    ids; None: alike to none. `apart`: staff took it out ("not similar"), and it is never
    grouped again."""

    __tablename__ = "similar_member"

    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submission.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[int | None] = mapped_column(index=True)
    apart: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConversationState(Base):
    """Where a conversation stands (aiogram's FSM state and data), so a half-written
    proposal survives a restart."""

    __tablename__ = "conversation_state"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Follow(Base):
    """A resident follows one consultation: its reminders and its closing."""

    __tablename__ = "follow"
    __table_args__ = (UniqueConstraint("resident_id", "consultation_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id", ondelete="CASCADE"))
    consultation_id: Mapped[int] = mapped_column(
        ForeignKey("consultation.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NoticeKind(enum.StrEnum):
    OPENED = "opened"
    DEADLINE = "deadline"
    CLOSED = "closed"
    BROADCAST = "broadcast"
    # The published report: each participant their own outcome, each follower the news.
    REPORT = "report"
    # Staff extended the deadline: told to followers and participants, once per extension.
    EXTENDED = "extended"


class NoticeStatus(enum.StrEnum):
    PLANNED = "planned"
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"
    # Fell due while the bot was down and no longer makes sense (a reminder after the deadline).
    EXPIRED = "expired"


class Audience(enum.StrEnum):
    EVERYONE = "everyone"
    FOLLOWERS = "followers"  # of the consultation; for OPENED: residents following everything
    PARTICIPANTS = "participants"  # residents who sent a submission to the consultation
    # Participants and followers, each once.
    INVOLVED = "involved"


class Notice(Base):
    """Something to tell many residents at a moment: planned from consultations' dates
    (opening, deadline reminders, closing) or written by staff (a broadcast).

    The database is the truth; the scheduler's jobs are rebuilt from these rows.
    """

    __tablename__ = "notice"
    __table_args__ = (UniqueConstraint("consultation_id", "kind", "offset_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[NoticeKind] = mapped_column(_stored_by_value(NoticeKind))
    consultation_id: Mapped[int | None] = mapped_column(
        ForeignKey("consultation.id", ondelete="CASCADE")
    )
    # Which reminder ("7d", "1d"); the same for every row of other kinds, so that the
    # unique constraint keeps one notice per consultation, kind and offset.
    offset_key: Mapped[str] = mapped_column(String(20), default="")
    audience: Mapped[Audience] = mapped_column(_stored_by_value(Audience))
    due_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[NoticeStatus] = mapped_column(
        _stored_by_value(NoticeStatus), default=NoticeStatus.PLANNED
    )
    text: Mapped[str | None] = mapped_column(Text)  # a broadcast's own words
    created_by: Mapped[str | None] = mapped_column(String(200))
    # Where staff watch a broadcast's progress.
    progress_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    progress_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by the sender; after a crash it is sent again
    SENT = "sent"
    FAILED = "failed"
    UNREACHABLE = "unreachable"
    # Telegram failed after it may have delivered: sent once more at most, so the person
    # has it once, twice, or (when the second try failed the same way) perhaps not.
    UNCERTAIN = "uncertain"


class Delivery(Base):
    """One notice to one resident: exactly one row, whatever happens."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("notice_id", "resident_id"),
        Index("ix_delivery_status_notice", "status", "notice_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notice.id", ondelete="CASCADE"))
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id", ondelete="CASCADE"))
    status: Mapped[DeliveryStatus] = mapped_column(
        _stored_by_value(DeliveryStatus), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    sent_at: Mapped[datetime | None]


class ConsultationReport(Base):
    """The life of a consultation's report (the "справка"): staff close the review,
    name who prepared and who approved it, and publish it once, to every participant
    and follower."""

    __tablename__ = "consultation_report"

    consultation_id: Mapped[int] = mapped_column(
        ForeignKey("consultation.id", ondelete="CASCADE"), primary_key=True
    )
    review_closed_at: Mapped[datetime | None]
    review_closed_by: Mapped[str | None] = mapped_column(String(200))
    prepared_by: Mapped[str | None] = mapped_column(String(200))
    approved_by: Mapped[str | None] = mapped_column(String(200))
    approved_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None]
    published_by: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Lease(Base):
    """Who runs a once-per-deployment job (the scheduler and sender) until when."""

    __tablename__ = "lease"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime]


class ContentVersion(Base):
    """One row: a counter that triggers on `consultation` and `section` move on every
    change (migration 0008), so a process knows whether what it keeps in memory is
    still what the database holds."""

    __tablename__ = "content_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)


class ProcessedUpdate(Base):
    """Updates already acted on: Telegram retries a webhook delivery it thinks failed,
    and polling hands out again what was not confirmed before a crash."""

    __tablename__ = "processed_update"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    processed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class InboxUpdate(Base):
    """An update Telegram handed over, recorded before it is confirmed to Telegram (the
    next getUpdates offset, or the webhook's 200) and deleted once it was handled. After
    a crash, what is left here is handled again; `processed_update` keeps it from acting
    twice."""

    __tablename__ = "inbox_update"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    payload: Mapped[dict[str, object]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Not before then: a retry's back-off, or another process handling it until then.
    not_before: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    last_error: Mapped[str | None] = mapped_column(String(500))


class OutboxKind(enum.StrEnum):
    CARD = "card"  # a submission's card in the staff chat
    ATTACHMENT = "attachment"  # one of its attachments, as a reply to the card
    CARD_REFRESH = "card_refresh"  # the card shown again as it is now
    REPLY = "reply"  # an answer or decision, to the resident
    SCREEN = "screen"  # a screen for a resident: edits their message, or is sent anew
    DELETE = "delete"  # a message that must go (an erased resident's photo on a card)


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed; after a crash it may or may not have arrived
    SENT = "sent"
    UNREACHABLE = "unreachable"  # 403: the person blocked the bot
    FAILED = "failed"  # refused for good (400), or its subject is gone
    UNCERTAIN = "uncertain"  # Telegram failed twice after it may have delivered


class OutboxMessage(Base):
    """Something that must reach Telegram because a change was committed: written in the
    change's own transaction, delivered afterwards by the outbox worker."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_not_before", "status", "not_before"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[OutboxKind] = mapped_column(_stored_by_value(OutboxKind))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    submission_id: Mapped[int | None] = mapped_column(
        ForeignKey("submission.id", ondelete="CASCADE"), index=True
    )
    # What to send, by kind: a text and buttons, which message to edit, which attachment.
    payload: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    # At most one row per key ("card:12"): the same consequence is never queued twice.
    dedup_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    status: Mapped[OutboxStatus] = mapped_column(
        _stored_by_value(OutboxStatus), default=OutboxStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Failures after which Telegram may have delivered (5xx, a lost connection).
    ambiguous_failures: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(500))
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class StaffPrompt(Base):
    """A message in the staff chat asking for an answer's or a decision's text. Only a
    reply to this message answers it, for this submission, until it expires."""

    __tablename__ = "staff_prompt"
    __table_args__ = (UniqueConstraint("chat_id", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int] = mapped_column(BigInteger)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submission.id", ondelete="CASCADE"), index=True
    )
    act: Mapped[str] = mapped_column(String(20))
    asked_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    # Used or cancelled: a second reply to it does nothing.
    closed_at: Mapped[datetime | None]


class AnswerTemplate(Base):
    """A text staff saved to answer or give a reason with, in one language; `{number}`
    and `{section}` in it are filled with the submission's when it is used."""

    __tablename__ = "answer_template"
    __table_args__ = (UniqueConstraint("language", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    language: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Restriction(Base):
    """What must outlive a resident's erasure without their identity: a block by staff,
    and their submissions of the last hour (the hourly limit). Keyed by a keyed hash
    (HMAC) of the Telegram user id: the same person coming back is recognised, but the
    row alone names nobody."""

    __tablename__ = "restriction"

    pseudonym: Mapped[str] = mapped_column(String(64), primary_key=True)
    banned: Mapped[bool] = mapped_column(Boolean, default=False)
    # When their submissions of the last hour were sent (ISO strings), for the limit.
    recent_submissions: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # None while it blocks; otherwise deleted by the retention job after this moment.
    expires_at: Mapped[datetime | None] = mapped_column(index=True)
