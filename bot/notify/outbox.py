"""The outbox: what must reach Telegram because a change was committed.

A handler (or a service it calls) queues a message in the transaction of its change:
a submission's staff card, an answer or decision for the resident, the receipt that
replaces a preview. The worker below delivers it afterwards, in order per chat, within
Telegram's limits, with back-off, until it is delivered or refused for good; each step
is committed. A failure after which Telegram may have delivered is tried once more
only, so a person gets at most one extra copy, and such a message is marked uncertain
when no attempt was confirmed. Nothing here holds a transaction across a network call.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiogram.types import InlineKeyboardMarkup, ReplyParameters
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from bot.i18n import Translator
from bot.metrics import Metrics
from bot.notify.verdict import AMBIGUOUS_LIMIT, Verdict, verdict
from bot.plan import pick
from storage.models import (
    Consultation,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    Submission,
    utcnow,
)
from storage.repositories import ConsultationRepository, OutboxRepository, ResidentRepository

log = logging.getLogger(__name__)

# Back-off for a message that surely did not arrive: from a second, up to ten minutes.
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 600.0
# A message still undelivered after a day is given up (Telegram keeps nothing longer).
GIVE_UP_AFTER = timedelta(days=1)
CHATS_AT_ONCE = 8
BATCH = 64
IDLE_POLL_SECONDS = 0.5
_QUEUED = "outbox_queued"
ON_QUEUED = "on_outbox_queued"


@dataclass(frozen=True)
class Rendered:
    """A message as the chat will show it (the card renderer's answer)."""

    text: str
    markup: InlineKeyboardMarkup | None


CardRenderer = Callable[[AsyncSession, Submission, Translator], Awaitable[Rendered]]


# --- queueing, in the caller's transaction ---------------------------------------------


def _queued(session: AsyncSession) -> None:
    session.sync_session.info[_QUEUED] = True


async def queue_card(session: AsyncSession, submission: Submission, staff_chat_id: int) -> None:
    """The submission's card for the staff chat (once, whatever happens)."""
    await OutboxRepository(session).add(
        OutboxKind.CARD,
        staff_chat_id,
        submission_id=submission.id,
        dedup_key=f"card:{submission.id}",
    )
    _queued(session)


async def queue_card_refresh(session: AsyncSession, submission: Submission) -> None:
    """The card shown again as the submission is now (no-op while it is not posted; one
    refresh waiting is enough, it renders the card when it is sent)."""
    if submission.staff_chat_id is None:
        return
    await OutboxRepository(session).add(
        OutboxKind.CARD_REFRESH,
        submission.staff_chat_id,
        submission_id=submission.id,
        dedup_key=_refresh_key(submission.id),
    )
    _queued(session)


def _refresh_key(submission_id: int) -> str:
    return f"refresh:{submission_id}"


def _shown(card: Rendered) -> str:
    """What a card shows, as a digest: an edit that would change nothing is not sent."""
    markup = card.markup.model_dump_json(exclude_none=True) if card.markup else ""
    return hashlib.sha256(f"{card.text}\0{markup}".encode()).hexdigest()


async def queue_reply(session: AsyncSession, submission: Submission, chat_id: int, text: str):
    """An answer or decision for the resident; the card shows what became of it."""
    await OutboxRepository(session).add(
        OutboxKind.REPLY, chat_id, submission_id=submission.id, payload={"text": text}
    )
    submission.reply_status = OutboxStatus.PENDING.value
    _queued(session)


async def queue_screen(
    session: AsyncSession,
    chat_id: int,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
    *,
    edit_message_id: int | None = None,
) -> None:
    """A screen for a person: it replaces `edit_message_id` where Telegram still lets the
    bot edit it, and comes as a new message otherwise."""
    payload: dict[str, Any] = {"text": text, "edit": edit_message_id}
    if markup is not None:
        payload["markup"] = markup.model_dump(mode="json", exclude_none=True)
    await OutboxRepository(session).add(OutboxKind.SCREEN, chat_id, payload=payload)
    _queued(session)


async def queue_delete(session: AsyncSession, chat_id: int, message_id: int) -> None:
    """A message that must disappear from a chat (an erased resident's photo)."""
    await OutboxRepository(session).add(
        OutboxKind.DELETE,
        chat_id,
        payload={"message_id": message_id},
        dedup_key=f"delete:{chat_id}:{message_id}",
    )
    _queued(session)


def wake_on_commit(session_factory: async_sessionmaker[AsyncSession], wake: Callable[[], None]):
    """Every session of `session_factory` calls `wake` after committing something queued."""
    info = dict(session_factory.kw.get("info") or {})
    info[ON_QUEUED] = wake
    session_factory.configure(info=info)


def _after_commit(session: Session) -> None:
    if session.info.pop(_QUEUED, False):
        wake = session.info.get(ON_QUEUED)
        if wake is not None:
            wake()


def _after_rollback(session: Session) -> None:
    session.info.pop(_QUEUED, None)


# Registered once for every session (cheap: a dict look-up); see wake_on_commit.
event.listen(Session, "after_commit", _after_commit)
event.listen(Session, "after_rollback", _after_rollback)


# --- delivering ------------------------------------------------------------------------


class _Gone(Exception):
    """What the message was about no longer exists (a submission erased meanwhile)."""


@dataclass
class _Outcome:
    status: OutboxStatus
    message_id: int | None = None
    error: str | None = None
    retry_in: float | None = None  # back to pending, not before this many seconds
    ambiguous: bool = False
    told_to_wait: bool = False  # a 429: Telegram said when, it is not a failed attempt
    shown: str | None = None  # a card's digest as it now shows


class OutboxWorker:
    def __init__(
        self,
        bot: Bot,
        session_factory: async_sessionmaker[AsyncSession],
        render_card: CardRenderer | None,
        staff_tr: Translator,
        *,
        metrics: Metrics | None = None,
    ) -> None:
        self.bot = bot
        self.session_factory = session_factory
        self.render_card = render_card
        self.staff_tr = staff_tr
        self.metrics = metrics
        self._paused_until: dict[int, float] = {}
        self._sending = asyncio.Semaphore(CHATS_AT_ONCE)
        self.working = False  # delivering now (tests wait for it)

    async def take_over(self) -> None:
        """A new sender: what the last one had in flight goes out once more."""
        async with self.session_factory.begin() as session:
            again = await OutboxRepository(session).in_flight_back_to_pending()
        if again:
            log.warning("%s outbox messages in flight at the last stop are sent again", again)

    async def deliver_due(self) -> int:
        """Deliver what is due, chat by chat (in order within a chat); how many were tried."""
        loop = asyncio.get_running_loop()
        async with self.session_factory() as session:
            rows = await OutboxRepository(session).due(utcnow(), BATCH)
        by_chat: dict[int, list[int]] = {}
        for row in rows:
            if self._paused_until.get(row.chat_id, 0.0) > loop.time():
                continue
            by_chat.setdefault(row.chat_id, []).append(row.id)
        if not by_chat:
            return 0
        await asyncio.gather(*(self._chat(ids) for ids in by_chat.values()))
        return sum(len(ids) for ids in by_chat.values())

    async def _chat(self, ids: Sequence[int]) -> None:
        async with self._sending:
            for message_id in ids:
                if not await self._deliver(message_id):
                    return  # a 429: the rest of this chat waits as Telegram asked

    async def _deliver(self, message_id: int) -> bool:
        """Claim, send, record; False when Telegram asked this chat to wait."""
        async with self.session_factory.begin() as session:
            repository = OutboxRepository(session)
            if not await repository.claim(message_id, utcnow()):
                return True  # another sender took it
            row = await repository.get(message_id)
            assert row is not None
            row_data = _RowData.of(row)
            if row.kind is OutboxKind.CARD_REFRESH:
                row.dedup_key = None  # a change from now on needs a refresh of its own
        try:
            outcome = await self._send(row_data)
        except _Gone:
            outcome = _Outcome(OutboxStatus.FAILED, error="its submission was erased")
        except Exception as error:
            outcome = self._failed(row_data, error)
        await self._record(row_data, outcome)
        return not outcome.told_to_wait

    def _failed(self, row: _RowData, error: BaseException) -> _Outcome:
        kind = verdict(error)
        text = f"{type(error).__name__}: {error}"
        if kind is Verdict.WAIT:
            assert isinstance(error, TelegramRetryAfter)
            self._paused_until[row.chat_id] = asyncio.get_running_loop().time() + error.retry_after
            return _Outcome(
                OutboxStatus.PENDING,
                error=text,
                retry_in=float(error.retry_after),
                told_to_wait=True,
            )
        if kind is Verdict.UNREACHABLE:
            return _Outcome(OutboxStatus.UNREACHABLE, error=text)
        if kind is Verdict.REFUSED:
            log.warning("outbox %s %s refused by Telegram: %s", row.kind, row.id, error)
            return _Outcome(OutboxStatus.FAILED, error=text)
        if utcnow() - row.created_at > GIVE_UP_AFTER:
            return _Outcome(OutboxStatus.FAILED, error=f"given up after a day: {text}")
        backoff = min(FIRST_BACKOFF * 2 ** (row.attempts - 1), MAX_BACKOFF)
        # An edit is the same whether it arrives once or twice: only a send can double.
        if kind is Verdict.AMBIGUOUS and row.kind not in (
            OutboxKind.SCREEN,
            OutboxKind.CARD_REFRESH,
            OutboxKind.DELETE,
        ):
            if row.ambiguous_failures + 1 >= AMBIGUOUS_LIMIT:
                return _Outcome(OutboxStatus.UNCERTAIN, error=text, ambiguous=True)
            return _Outcome(OutboxStatus.PENDING, error=text, retry_in=backoff, ambiguous=True)
        return _Outcome(OutboxStatus.PENDING, error=text, retry_in=backoff)

    async def _send(self, row: _RowData) -> _Outcome:
        if row.kind is OutboxKind.CARD:
            return await self._send_card(row)
        if row.kind is OutboxKind.ATTACHMENT:
            return await self._send_attachment(row)
        if row.kind is OutboxKind.CARD_REFRESH:
            return await self._refresh_card(row)
        if row.kind is OutboxKind.REPLY:
            sent = await self.bot.send_message(row.chat_id, str(row.payload["text"]))
            return _Outcome(OutboxStatus.SENT, sent.message_id)
        if row.kind is OutboxKind.DELETE:
            return await self._delete(row)
        return await self._show_screen(row)

    async def _delete(self, row: _RowData) -> _Outcome:
        message_id = int(row.payload["message_id"])
        try:
            await self.bot.delete_message(row.chat_id, message_id)
        except TelegramBadRequest as error:
            if "not found" not in error.message:
                raise
            # Deleted already: by staff, or by an earlier try whose answer was lost.
        return _Outcome(OutboxStatus.SENT, message_id)

    async def _show_screen(self, row: _RowData) -> _Outcome:
        text = str(row.payload["text"])
        raw_markup = row.payload.get("markup")
        markup = InlineKeyboardMarkup.model_validate(raw_markup) if raw_markup else None
        edit = row.payload.get("edit")
        if isinstance(edit, int):
            try:
                await self.bot.edit_message_text(
                    text, chat_id=row.chat_id, message_id=edit, reply_markup=markup
                )
                return _Outcome(OutboxStatus.SENT, edit)
            except TelegramBadRequest as error:
                if "not modified" in error.message:
                    return _Outcome(OutboxStatus.SENT, edit)
                log.info("screen %s not editable, sent anew: %s", row.id, error.message)
        sent = await self.bot.send_message(row.chat_id, text, reply_markup=markup)
        return _Outcome(OutboxStatus.SENT, sent.message_id)

    async def _card_screen(
        self, submission_id: int
    ) -> tuple[Submission, Rendered, Consultation | None]:
        assert self.render_card is not None
        async with self.session_factory() as session:
            submission = await session.get(Submission, submission_id)
            if submission is None:
                raise _Gone
            consultation = (
                await session.get(Consultation, submission.consultation_id)
                if submission.consultation_id
                else None
            )
            rendered = await self.render_card(session, submission, self.staff_tr)
        return submission, rendered, consultation

    async def _send_card(self, row: _RowData) -> _Outcome:
        assert row.submission_id is not None
        submission, card, consultation = await self._card_screen(row.submission_id)
        if submission.staff_message_id is not None:  # posted by an earlier version's sweep
            return _Outcome(OutboxStatus.SENT, submission.staff_message_id)
        thread = await self._topic(row.chat_id, consultation)
        sent = await self.bot.send_message(
            row.chat_id, card.text, reply_markup=card.markup, message_thread_id=thread
        )
        return _Outcome(OutboxStatus.SENT, sent.message_id, shown=_shown(card))

    async def _topic(self, chat_id: int, consultation: Consultation | None) -> int | None:
        """In a forum staff chat, each consultation has its own topic, made on first use."""
        if consultation is None:
            return None
        if consultation.staff_topic_id is not None:
            return consultation.staff_topic_id
        chat = await self.bot.get_chat(chat_id)
        if not chat.is_forum:
            return None
        title = pick(consultation.title, self.staff_tr.locale, consultation.original_language)
        topic = await self.bot.create_forum_topic(chat_id, name=title.text[:128])
        async with self.session_factory.begin() as session:
            await ConsultationRepository(session).set_staff_topic(
                consultation.id, topic.message_thread_id
            )
        return topic.message_thread_id

    async def _send_attachment(self, row: _RowData) -> _Outcome:
        async with self.session_factory() as session:
            submission = await session.get(Submission, row.submission_id)
            if submission is None or submission.staff_message_id is None:
                raise _Gone
            consultation = (
                await session.get(Consultation, submission.consultation_id)
                if submission.consultation_id
                else None
            )
        item = submission.attachments[int(row.payload["index"])]
        common: dict[str, Any] = {
            "reply_parameters": ReplyParameters(message_id=submission.staff_message_id),
            "message_thread_id": consultation.staff_topic_id if consultation else None,
        }
        if item["type"] == "photo":
            sent = await self.bot.send_photo(row.chat_id, str(item["file_id"]), **common)
        elif item["type"] == "document":
            sent = await self.bot.send_document(row.chat_id, str(item["file_id"]), **common)
        else:
            sent = await self.bot.send_location(
                row.chat_id, float(item["latitude"]), float(item["longitude"]), **common
            )
        return _Outcome(OutboxStatus.SENT, sent.message_id)

    async def _refresh_card(self, row: _RowData) -> _Outcome:
        assert row.submission_id is not None
        submission, card, _ = await self._card_screen(row.submission_id)
        if submission.staff_message_id is None:
            return _Outcome(OutboxStatus.SENT)  # the card, when posted, shows it as it is
        shown = _shown(card)
        async with self.session_factory() as session:
            posted = await OutboxRepository(session).by_key(f"card:{submission.id}")
            if posted is not None and posted.payload.get("shown") == shown:
                return _Outcome(OutboxStatus.SENT, submission.staff_message_id, shown=shown)
        try:
            await self.bot.edit_message_text(
                card.text,
                chat_id=row.chat_id,
                message_id=submission.staff_message_id,
                reply_markup=card.markup,
            )
        except TelegramBadRequest as error:
            if "not modified" not in error.message:
                raise
        return _Outcome(OutboxStatus.SENT, submission.staff_message_id, shown=shown)

    async def _record(self, row: _RowData, outcome: _Outcome) -> None:
        now = utcnow()
        if self.metrics is not None:
            self.metrics.deliveries.labels(f"outbox_{outcome.status.value}").inc()
        async with self.session_factory.begin() as session:
            message = await session.get(OutboxMessage, row.id)
            if message is None:  # its submission was erased meanwhile (cascade)
                return
            message.status = outcome.status
            message.last_error = outcome.error[:500] if outcome.error else None
            if outcome.ambiguous:
                message.ambiguous_failures += 1
            if outcome.retry_in is not None:
                message.not_before = now + timedelta(seconds=outcome.retry_in)
                if outcome.told_to_wait:
                    message.attempts -= 1
                return
            if outcome.status is OutboxStatus.SENT:
                message.telegram_message_id = outcome.message_id
                message.sent_at = now
            await self._consequences(session, message, outcome)

    async def _consequences(
        self, session: AsyncSession, message: OutboxMessage, outcome: _Outcome
    ) -> None:
        """What a finished message changes, in the same transaction as its status."""
        submission = (
            await session.get(Submission, message.submission_id) if message.submission_id else None
        )
        if outcome.shown is not None and submission is not None:
            card = await OutboxRepository(session).by_key(f"card:{submission.id}")
            if card is not None:
                card.payload = {**card.payload, "shown": outcome.shown}
        if message.kind is OutboxKind.CARD and submission is not None:
            if outcome.status is OutboxStatus.SENT and submission.staff_message_id is None:
                submission.staff_chat_id = message.chat_id
                submission.staff_message_id = outcome.message_id
                repository = OutboxRepository(session)
                for index in range(len(submission.attachments)):
                    await repository.add(
                        OutboxKind.ATTACHMENT,
                        message.chat_id,
                        submission_id=submission.id,
                        payload={"index": index},
                        dedup_key=f"attachment:{submission.id}:{index}",
                    )
                if submission.attachments:
                    _queued(session)
        elif message.kind is OutboxKind.REPLY:
            if outcome.status in (OutboxStatus.SENT, OutboxStatus.UNREACHABLE):
                await ResidentRepository(session).set_reachable(
                    message.chat_id, outcome.status is OutboxStatus.SENT
                )
            if submission is not None:
                submission.reply_status = outcome.status.value
                await queue_card_refresh(session, submission)
        elif message.kind is OutboxKind.SCREEN and outcome.status is OutboxStatus.UNREACHABLE:
            await ResidentRepository(session).set_reachable(message.chat_id, False)


@dataclass(frozen=True)
class _RowData:
    """The claimed row's values, read in the claim's transaction and used outside it."""

    id: int
    kind: OutboxKind
    chat_id: int
    submission_id: int | None
    payload: dict[str, Any]
    attempts: int
    ambiguous_failures: int
    created_at: datetime

    @classmethod
    def of(cls, row: OutboxMessage) -> _RowData:
        return cls(
            row.id,
            row.kind,
            row.chat_id,
            row.submission_id,
            dict(row.payload),
            row.attempts,
            row.ambiguous_failures,
            row.created_at,
        )


async def deliver_forever(
    worker: OutboxWorker,
    wake: asyncio.Event,
    is_leader: Callable[[], bool],
    stopping: Callable[[], bool],
) -> None:
    """The worker's loop: woken by a commit that queued something, else every half second
    (for retries whose back-off is over, and rows queued by other processes)."""
    while not stopping():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(IDLE_POLL_SECONDS):
                await wake.wait()
        wake.clear()
        if stopping() or not is_leader():
            continue
        worker.working = True
        try:
            while await worker.deliver_due() and not stopping():
                pass
        except Exception:  # the loop outlives one bad message; the log says which
            log.exception("outbox delivery failed; trying again shortly")
        finally:
            worker.working = False
