"""Sends a notice's deliveries within Telegram's limits, or as fast as Telegram answers.

Three kinds of task share a broadcast, so the workers never wait for the database:
- the claimer marks the next `claim_size` pending deliveries "sending" in one commit, a
  batch ahead of the workers (it claims again as soon as they start on the last batch);
- `workers` tasks send, each one message at a time, within the rate limits;
- the recorder writes the outcomes (sent with Telegram's message id, failed, the resident
  unreachable, uncertain) in one UPDATE and one commit per window of `record_every`
  seconds, and at once when `unrecorded` outcomes are waiting.

Crash safety: a delivery is committed as "sending" before its message goes out. Each
delivery takes one of `max_doubled_by_a_kill` places (workers + unrecorded: 24) before its
message goes out and gives it back only once its outcome is committed, so Telegram never
has more than 24 deliveries the database does not know were sent; a worker waits for the
recorder rather than start a 25th. Killed at any moment, the sender sends every
undelivered message once after a restart, and only those 24 deliveries at most may arrive
twice (claimed deliveries whose message had not gone out are sent once). A delivery of
the published report is two messages (the resident's, then the file): up to 48 messages.
Stopped, it finishes the messages on their way and gives back to "pending" what it
claimed and did not send.

A failure after which Telegram may have delivered (a 500, a lost answer) is tried once
more only, and the delivery is counted as uncertain rather than sent: a resident gets a
broadcast at most twice, and the summary says how many may have.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter
from aiogram.types import BufferedInputFile, ReplyParameters
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.export.report import WithdrawnConsultation
from bot.i18n import Catalogs, Translator
from bot.metrics import Metrics
from bot.notify import messages
from bot.notify.verdict import AMBIGUOUS_LIMIT, Verdict, verdict
from bot.updates import with_retries
from storage.models import (
    Consultation,
    ConsultationStatus,
    Delivery,
    DeliveryStatus,
    Notice,
    NoticeKind,
    NoticeStatus,
    Resident,
    Submission,
)
from storage.repositories import DeliveryRepository, NoticeRepository, ReportRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendLimits:
    per_second: float | None = 30.0  # Telegram's bulk limit over all chats; None: no limit
    per_chat_seconds: float = 1.0  # at most one message a second to one chat
    workers: int = 8  # messages on their way to Telegram at once
    unrecorded: int = 16  # outcomes that may wait, besides the workers' messages, for a write
    record_every: float = 0.05  # seconds an outcome waits at most for others to share a write
    claim_size: int = 64  # deliveries claimed in one commit
    max_attempts: int = 5  # for network errors and Telegram's 5xx
    first_backoff: float = 0.5

    @property
    def max_doubled_by_a_kill(self) -> int:
        """The most deliveries Telegram may have while the database does not know they
        were sent (on their way, or answered and not yet recorded): after a kill, at most
        this many arrive twice. A delivery is one message, or two for the published report
        (the resident's message and the file after it, under one place): at most twice as
        many messages then, 48 with the defaults."""
        return self.workers + self.unrecorded


class RateGate:
    """Spaces messages over all chats `1 / per_second` apart; a 429 closes it for its
    retry_after."""

    def __init__(self, per_second: float | None, clock: Callable[[], float] = time.monotonic):
        self.per_second = per_second
        self.clock = clock
        self._next_slot = clock()  # the earliest moment the next message may go
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self.clock() + seconds)

    async def wait(self) -> None:
        async with self._lock:  # one waiter at a time keeps the spacing even
            while True:
                now = self.clock()
                if now < self._paused_until:
                    await asyncio.sleep(self._paused_until - now)
                    continue
                if self.per_second is None:
                    return
                interval = 1.0 / self.per_second
                if now >= self._next_slot:
                    # The slots keep their schedule when a sleep wakes a little late (else
                    # every late wake-up would cost rate: 3 % at 30/s); after a pause or an
                    # idle spell they start again from now, with no burst saved up.
                    slot = self._next_slot if now - self._next_slot < interval else now
                    self._next_slot = slot + interval
                    return
                await asyncio.sleep(self._next_slot - now)


@dataclass
class Progress:
    sent: int = 0
    failed: int = 0
    uncertain: int = 0
    left: int = 0
    started: float = 0.0
    too_many_requests: int = 0

    def eta(self, now: float) -> float | None:
        done = self.sent + self.failed + self.uncertain
        if not done or not self.left:
            return None
        return (now - self.started) / done * self.left

    def count(self, status: DeliveryStatus) -> None:
        self.left -= 1
        if status is DeliveryStatus.SENT:
            self.sent += 1
        elif status is DeliveryStatus.UNCERTAIN:
            self.uncertain += 1
        else:
            self.failed += 1


class OutcomeRecorder:
    """Writes the outcomes of sent messages together: one UPDATE and one commit for all
    those known within `every` seconds of the first, sooner when `write_at` are waiting.

    A message takes a place (`take_place`) before it goes out, and its place comes back
    once its outcome is committed: Telegram never has more than `places` messages the
    database does not know were sent."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        places: int,
        write_at: int,
        every: float,
    ) -> None:
        self.session_factory = session_factory
        self.write_at = write_at
        self.every = every
        self.written = asyncio.Event()  # after each write, and once all is written
        self.finished = False
        self._places = asyncio.Semaphore(places)
        self._outcomes: list[Delivery] = []
        self._waiting = asyncio.Event()  # an outcome waits, or no more will come
        self._due = asyncio.Event()  # write without waiting for the window to end
        self._closed = False

    async def take_place(self) -> None:
        await self._places.acquire()

    def give_back_place(self) -> None:
        """For a message that did not go out after all."""
        self._places.release()

    def add(self, delivery: Delivery) -> None:
        """The outcome set on `delivery` (status, message id or error, time), to write."""
        self._outcomes.append(delivery)
        self._waiting.set()
        if len(self._outcomes) >= self.write_at:
            self._due.set()

    def close(self) -> None:
        """No more outcomes will come: write what waits, then end."""
        self._closed = True
        self._waiting.set()
        self._due.set()

    async def run(self) -> None:
        while True:
            await self._waiting.wait()
            if not self._outcomes:  # closed, and everything written
                break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.every):
                    await self._due.wait()
            outcomes, self._outcomes = self._outcomes, []
            if not self._closed:
                self._waiting.clear()
                self._due.clear()
            # A lock held elsewhere for a moment must not end the broadcast.
            await with_retries(
                self.session_factory,
                lambda session, done=outcomes: DeliveryRepository(session).record(done),
            )
            for _ in outcomes:
                self._places.release()
            self.written.set()
        self.finished = True
        self.written.set()


@dataclass
class _Broadcast:
    """One notice being sent: what the claimer, the workers and the recorder share."""

    notice: Notice
    consultation: Consultation | None
    bot_username: str | None
    progress: Progress
    recorder: OutcomeRecorder
    # Claimed deliveries for the workers, in order; None tells a worker to end.
    queue: asyncio.Queue[tuple[Delivery, Resident] | None] = field(default_factory=asyncio.Queue)
    claim_more: asyncio.Event = field(default_factory=asyncio.Event)
    # Claimed deliveries whose message has not gone out: "pending" again if it never does.
    unsent: set[int] = field(default_factory=set)
    texts: dict[str, tuple[str, object]] = field(default_factory=dict)
    # A published report: the file sent after each resident's message, and what each
    # claimed resident sent to the consultation (their outcomes), by resident id.
    document: Attachment | None = None
    outcomes: dict[int, list[Submission]] = field(default_factory=dict)


@dataclass
class Attachment:
    """A file every recipient gets: uploaded with the first message that carries it,
    then sent by the file_id Telegram gave it, as Telegram asks of a file sent to many.
    After a restart it is uploaded once more."""

    data: bytes
    filename: str
    file_id: str | None = None
    upload: asyncio.Lock = field(default_factory=asyncio.Lock)


class Sender:
    def __init__(
        self,
        bot: Bot,
        session_factory: async_sessionmaker[AsyncSession],
        catalogs: Catalogs,
        default_locale: str,
        clock: Clock,
        limits: SendLimits | None = None,
        metrics: Metrics | None = None,
        report_file: ReportFile | None = None,
    ) -> None:
        self.bot = bot
        self.metrics = metrics
        self.report_file = report_file
        self.session_factory = session_factory
        self.catalogs = catalogs
        self.default_locale = default_locale
        self.clock = clock
        self.limits = limits or SendLimits()
        self.gate = RateGate(self.limits.per_second)
        self._last_to_chat: dict[int, float] = {}
        self._stopping = False
        self._broadcast: _Broadcast | None = None

    def stop(self) -> None:
        """Finish the messages on their way, send and claim no more."""
        self._stopping = True
        if self._broadcast is not None:
            self._broadcast.claim_more.set()  # the claimer sees the stop

    @property
    def stopping(self) -> bool:
        return self._stopping

    async def send(
        self, notice_id: int, on_progress: Callable[[Progress], object] | None = None
    ) -> Progress:
        async with self.session_factory() as session:
            notice = await session.get(Notice, notice_id)
            assert notice is not None
            consultation = (
                await session.get(Consultation, notice.consultation_id)
                if notice.consultation_id
                else None
            )
            counts = await NoticeRepository(session).progress(notice_id)
        progress = Progress(
            sent=counts.get(DeliveryStatus.SENT, 0),
            failed=counts.get(DeliveryStatus.FAILED, 0) + counts.get(DeliveryStatus.UNREACHABLE, 0),
            uncertain=counts.get(DeliveryStatus.UNCERTAIN, 0),
            left=counts.get(DeliveryStatus.PENDING, 0),
            started=time.monotonic(),
        )
        me = await self.bot.me()
        recorder = OutcomeRecorder(
            self.session_factory,
            places=self.limits.max_doubled_by_a_kill,
            write_at=self.limits.unrecorded,
            every=self.limits.record_every,
        )
        broadcast = _Broadcast(notice, consultation, me.username, progress, recorder)
        if notice.kind is NoticeKind.REPORT and (
            consultation is None or consultation.status is ConsultationStatus.WITHDRAWN
        ):
            # Withdrawn since it was published: residents no longer see the consultation.
            await self._cancel(notice_id)
            return progress
        if notice.kind is NoticeKind.REPORT and consultation is not None and progress.left:
            if self.report_file is not None:
                # Made once per round, as it was published (the report is final).
                try:
                    broadcast.document = Attachment(*await self.report_file(consultation.slug))
                except WithdrawnConsultation:  # withdrawn a moment ago
                    await self._cancel(notice_id)
                    return progress
                except Exception as error:
                    # Sent without its file, the report would never reach anyone: the
                    # notice waits for the next round, and the notices after it go out.
                    # The error's type only: its text may quote what residents wrote.
                    log.error(
                        "the report file of %s could not be made (%s): its notice %s "
                        "waits for the next round",
                        consultation.slug,
                        type(error).__name__,
                        notice_id,
                    )
                    return progress
        self._broadcast = broadcast
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._claim_ahead(broadcast))
                recording = tasks.create_task(recorder.run())
                if on_progress is not None:
                    tasks.create_task(self._report(broadcast, on_progress))
                workers = [
                    tasks.create_task(self._work(broadcast)) for _ in range(self.limits.workers)
                ]
                await asyncio.gather(*workers)
                recorder.close()
                await recording
        finally:
            self._broadcast = None
            if broadcast.unsent:
                async with self.session_factory.begin() as session:
                    await DeliveryRepository(session).release(sorted(broadcast.unsent))
        if not self._stopping:
            await self._finish(notice_id)
            progress.left = 0
            if on_progress is not None:  # the summary, also for an audience of nobody
                await _maybe_await(on_progress(progress))
        return progress

    async def _claim_ahead(self, broadcast: _Broadcast) -> None:
        """Keeps the workers' queue a batch ahead: claims the next batch when they start on
        the last one claimed, until none is left (or the sender stops)."""
        try:
            while not self._stopping:
                batch = await with_retries(
                    self.session_factory,
                    lambda session: DeliveryRepository(session).claim(
                        broadcast.notice.id, self.limits.claim_size
                    ),
                )
                if not batch:
                    return
                # Committed as "sending": given back to "pending" if anything fails before
                # their messages go out (loading their outcomes, say).
                broadcast.unsent.update(delivery.id for delivery, _ in batch)
                if broadcast.notice.kind is NoticeKind.REPORT:
                    await self._load_outcomes(broadcast, [resident.id for _, resident in batch])
                broadcast.claim_more.clear()
                for delivery, resident in batch:
                    broadcast.queue.put_nowait((delivery, resident))
                if self._stopping:
                    return
                await broadcast.claim_more.wait()
        finally:
            for _ in range(self.limits.workers):
                broadcast.queue.put_nowait(None)

    async def _load_outcomes(self, broadcast: _Broadcast, resident_ids: list[int]) -> None:
        """What the residents of a claimed batch sent, read with the batch (one query),
        so that no worker waits for the database."""
        consultation_id = broadcast.notice.consultation_id
        assert consultation_id is not None
        found = await with_retries(
            self.session_factory,
            lambda session: ReportRepository(session).outcomes_of(consultation_id, resident_ids),
        )
        broadcast.outcomes.update(found)

    async def _work(self, broadcast: _Broadcast) -> None:
        while True:
            claimed = await broadcast.queue.get()
            if claimed is None or self._stopping:
                return
            if broadcast.queue.qsize() < self.limits.claim_size:
                broadcast.claim_more.set()
            delivery, resident = claimed
            await broadcast.recorder.take_place()
            if self._stopping:
                broadcast.recorder.give_back_place()
                return
            broadcast.unsent.discard(delivery.id)
            text, markup = self._text_for(broadcast, resident)
            await self._deliver(broadcast, delivery, resident, text, markup)
            broadcast.outcomes.pop(resident.id, None)
            broadcast.progress.count(delivery.status)
            if self.metrics is not None:
                self.metrics.deliveries.labels(delivery.status.value).inc()
            broadcast.recorder.add(delivery)

    def _text_for(self, broadcast: _Broadcast, resident: Resident) -> tuple[str, object]:
        tr = self._tr(resident)
        own = broadcast.outcomes.get(resident.id)
        if own and broadcast.consultation is not None:  # a participant: their own outcome
            return (
                messages.report_text(tr, broadcast.consultation, own),
                messages.notice_markup(tr, broadcast.consultation, broadcast.bot_username),
            )
        if tr.locale not in broadcast.texts:
            broadcast.texts[tr.locale] = (
                messages.notice_text(tr, broadcast.notice, broadcast.consultation),
                messages.notice_markup(tr, broadcast.consultation, broadcast.bot_username),
            )
        return broadcast.texts[tr.locale]

    async def _report(
        self, broadcast: _Broadcast, on_progress: Callable[[Progress], object]
    ) -> None:
        """Shows the progress after the recorder's writes, in a task of its own: a slow
        answer from Telegram to the progress message holds up no delivery."""
        written = broadcast.recorder.written
        while True:
            await written.wait()
            written.clear()
            if broadcast.recorder.finished:
                return
            if broadcast.progress.left > 0:
                await _maybe_await(on_progress(broadcast.progress))

    def _tr(self, resident: Resident) -> Translator:
        return self.catalogs.for_person(
            resident.language, resident.telegram_language, self.default_locale
        )

    async def _deliver(
        self,
        broadcast: _Broadcast,
        delivery: Delivery,
        resident: Resident,
        text: str,
        markup: object,
    ) -> None:
        """Sends the message (and the notice's file after it, as a reply); what became of
        them is set on `delivery`, for the recorder."""
        chat_id = resident.chat_id
        assert chat_id is not None
        status, sent, error = await self._attempt(
            chat_id,
            lambda: self.bot.send_message(chat_id, text, reply_markup=markup),  # type: ignore[arg-type]
            broadcast.progress,
        )
        document = broadcast.document
        if sent is not None and document is not None and broadcast.consultation is not None:
            caption = messages.report_caption(self._tr(resident), broadcast.consultation)
            file_status, file_error = await self._send_file(
                broadcast, document, chat_id, sent.message_id, caption
            )
            # The worse of the two counts: the resident must have both.
            if _SEVERITY[file_status] > _SEVERITY[status]:
                status, error = file_status, file_error
        self._outcome(delivery, status, message_id=sent.message_id if sent else None, error=error)

    async def _send_file(
        self, broadcast: _Broadcast, document: Attachment, chat_id: int, reply_to: int, caption: str
    ) -> tuple[DeliveryStatus, str | None]:
        def send(file: str | BufferedInputFile) -> Callable[[], Awaitable[Any]]:
            return lambda: self.bot.send_document(
                chat_id,
                file,
                caption=caption,
                reply_parameters=ReplyParameters(
                    message_id=reply_to, allow_sending_without_reply=True
                ),
            )

        if document.file_id is None:
            # One upload at a time: the others wait for its file_id rather than upload too.
            async with document.upload:
                if document.file_id is None:
                    upload = BufferedInputFile(document.data, filename=document.filename)
                    status, sent, error = await self._attempt(
                        chat_id, send(upload), broadcast.progress
                    )
                    if sent is not None and sent.document is not None:
                        document.file_id = sent.document.file_id
                    return status, error
        assert document.file_id is not None
        status, _, error = await self._attempt(chat_id, send(document.file_id), broadcast.progress)
        return status, error

    async def _attempt(
        self, chat_id: int, call: Callable[[], Awaitable[Any]], progress: Progress
    ) -> tuple[DeliveryStatus, Any, str | None]:
        """One message to one chat within the limits, tried again as the verdict on a
        failure says: the status, Telegram's answer (None when nothing surely arrived)
        and the last error."""
        backoff = self.limits.first_backoff
        failures = ambiguous = 0
        while True:
            await self._space_out(chat_id)
            await self.gate.wait()
            try:
                sent = await call()
            except Exception as error:
                kind = verdict(error)
                if kind is Verdict.WAIT:
                    # Not a failure: Telegram says when; everyone waits, then this goes again.
                    assert isinstance(error, TelegramRetryAfter)
                    progress.too_many_requests += 1
                    if self.metrics is not None:
                        self.metrics.too_many_requests.inc()
                    self.gate.pause(error.retry_after)
                    continue
                if kind is Verdict.UNREACHABLE:
                    return DeliveryStatus.UNREACHABLE, None, str(error)
                if kind is Verdict.REFUSED:
                    return DeliveryStatus.FAILED, None, str(error)
                failures += 1
                if kind is Verdict.AMBIGUOUS:
                    ambiguous += 1
                    if ambiguous >= AMBIGUOUS_LIMIT:
                        return DeliveryStatus.UNCERTAIN, None, str(error)
                if failures >= self.limits.max_attempts:
                    status = DeliveryStatus.UNCERTAIN if ambiguous else DeliveryStatus.FAILED
                    return status, None, str(error)
                await asyncio.sleep(backoff)
                backoff *= 2
                continue
            # Delivered; after an ambiguous failure perhaps twice: said as uncertain.
            return (DeliveryStatus.UNCERTAIN if ambiguous else DeliveryStatus.SENT), sent, None

    def _outcome(
        self,
        delivery: Delivery,
        status: DeliveryStatus,
        *,
        message_id: int | None = None,
        error: str | None = None,
    ) -> None:
        delivery.status = status
        delivery.telegram_message_id = message_id
        delivery.last_error = error
        delivery.sent_at = self.clock() if message_id is not None else None

    async def _space_out(self, chat_id: int) -> None:
        last = self._last_to_chat.get(chat_id)
        now = time.monotonic()
        if last is not None and now - last < self.limits.per_chat_seconds:
            await asyncio.sleep(self.limits.per_chat_seconds - (now - last))
        self._last_to_chat[chat_id] = time.monotonic()
        if len(self._last_to_chat) > 10_000:  # forget chats not written to in the last second
            horizon = time.monotonic() - self.limits.per_chat_seconds
            self._last_to_chat = {c: t for c, t in self._last_to_chat.items() if t > horizon}

    async def _cancel(self, notice_id: int) -> None:
        async with self.session_factory.begin() as session:
            await session.execute(
                update(Notice)
                .where(Notice.id == notice_id)
                .values(status=NoticeStatus.CANCELLED, finished_at=self.clock())
            )

    async def _finish(self, notice_id: int) -> None:
        async with self.session_factory.begin() as session:
            await session.execute(
                update(Notice)
                .where(Notice.id == notice_id)
                .values(status=NoticeStatus.DONE, finished_at=self.clock())
            )


# Which outcome of a message and its file counts for the delivery: the worse.
_SEVERITY = {
    DeliveryStatus.SENT: 0,
    DeliveryStatus.UNCERTAIN: 1,
    DeliveryStatus.FAILED: 2,
    DeliveryStatus.UNREACHABLE: 3,
}

# Makes a report's file for a consultation: (its bytes, its file name).
ReportFile = Callable[[str], Awaitable[tuple[bytes, str]]]


async def _maybe_await(value: object) -> None:
    if asyncio.iscoroutine(value):
        await value
