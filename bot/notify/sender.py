"""Sends a notice's deliveries within Telegram's limits.

Crash safety: a delivery is marked "sending" (committed) before its message goes out and
"sent" (committed) right after, one by one. Killed at any moment, the sender sends every
undelivered message once after a restart; only the messages in flight at the moment of
the kill, at most `workers` of them, may arrive twice.

A failure after which Telegram may have delivered (a 500, a lost answer) is tried once
more only, and the delivery is counted as uncertain rather than sent: a resident gets a
broadcast at most twice, and the summary says how many may have.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.i18n import Catalogs
from bot.metrics import Metrics
from bot.notify import messages
from bot.notify.verdict import AMBIGUOUS_LIMIT, Verdict, verdict
from storage.models import (
    Consultation,
    DeliveryStatus,
    Notice,
    NoticeStatus,
    Resident,
)
from storage.repositories import DeliveryRepository, NoticeRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendLimits:
    per_second: float | None = 30.0  # Telegram's bulk limit over all chats; None: no limit
    per_chat_seconds: float = 1.0  # at most one message a second to one chat
    workers: int = 8  # messages in flight at once (and the most that can double on a crash)
    max_attempts: int = 5  # for network errors and Telegram's 5xx
    first_backoff: float = 0.5


class RateGate:
    """A token bucket over all chats, which a 429 closes for its retry_after."""

    def __init__(self, per_second: float | None, clock: Callable[[], float] = time.monotonic):
        self.per_second = per_second
        self.clock = clock
        self._tokens = 1.0
        self._updated = clock()
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
                self._tokens = min(1.0, self._tokens + (now - self._updated) * self.per_second)
                self._updated = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                await asyncio.sleep((1.0 - self._tokens) / self.per_second)


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
    ) -> None:
        self.bot = bot
        self.metrics = metrics
        self.session_factory = session_factory
        self.catalogs = catalogs
        self.default_locale = default_locale
        self.clock = clock
        self.limits = limits or SendLimits()
        self.gate = RateGate(self.limits.per_second)
        self._last_to_chat: dict[int, float] = {}
        self._stopping = False

    def stop(self) -> None:
        """Finish the messages in flight, claim no more."""
        self._stopping = True

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
        texts: dict[str, tuple[str, object]] = {}
        while not self._stopping:
            async with self.session_factory() as session:
                batch = await DeliveryRepository(session).claim(notice_id, self.limits.workers * 4)
                await session.commit()
            if not batch:
                break
            queue: asyncio.Queue[tuple[int, Resident]] = asyncio.Queue()
            for delivery, resident in batch:
                queue.put_nowait((delivery.id, resident))
            workers = [
                asyncio.create_task(
                    self._work(queue, notice, consultation, me.username, texts, progress)
                )
                for _ in range(min(self.limits.workers, len(batch)))
            ]
            await asyncio.gather(*workers)
            if on_progress is not None and progress.left > 0:
                await _maybe_await(on_progress(progress))
        if not self._stopping:
            await self._finish(notice_id)
            progress.left = 0
            if on_progress is not None:  # the summary, also for an audience of nobody
                await _maybe_await(on_progress(progress))
        return progress

    async def _work(
        self,
        queue: asyncio.Queue[tuple[int, Resident]],
        notice: Notice,
        consultation: Consultation | None,
        bot_username: str | None,
        texts: dict[str, tuple[str, object]],
        progress: Progress,
    ) -> None:
        while not queue.empty():
            delivery_id, resident = queue.get_nowait()
            tr = self.catalogs.for_person(
                resident.language, resident.telegram_language, self.default_locale
            )
            if tr.locale not in texts:
                texts[tr.locale] = (
                    messages.notice_text(tr, notice, consultation),
                    messages.notice_markup(tr, consultation, bot_username),
                )
            text, markup = texts[tr.locale]
            status = await self._deliver(delivery_id, resident, text, markup, progress)
            progress.left -= 1
            if status is DeliveryStatus.SENT:
                progress.sent += 1
            elif status is DeliveryStatus.UNCERTAIN:
                progress.uncertain += 1
            else:
                progress.failed += 1

    async def _deliver(
        self, delivery_id: int, resident: Resident, text: str, markup: object, progress: Progress
    ) -> DeliveryStatus:
        assert resident.chat_id is not None
        backoff = self.limits.first_backoff
        failures = ambiguous = 0
        while True:
            await self._space_out(resident.chat_id)
            await self.gate.wait()
            try:
                sent = await self.bot.send_message(resident.chat_id, text, reply_markup=markup)  # type: ignore[arg-type]
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
                    await self._record(delivery_id, DeliveryStatus.UNREACHABLE, error=str(error))
                    await self._unreachable(resident.id)
                    return DeliveryStatus.UNREACHABLE
                if kind is Verdict.REFUSED:
                    await self._record(delivery_id, DeliveryStatus.FAILED, error=str(error))
                    return DeliveryStatus.FAILED
                failures += 1
                if kind is Verdict.AMBIGUOUS:
                    ambiguous += 1
                    if ambiguous >= AMBIGUOUS_LIMIT:
                        await self._record(delivery_id, DeliveryStatus.UNCERTAIN, error=str(error))
                        return DeliveryStatus.UNCERTAIN
                if failures >= self.limits.max_attempts:
                    status = DeliveryStatus.UNCERTAIN if ambiguous else DeliveryStatus.FAILED
                    await self._record(delivery_id, status, error=str(error))
                    return status
                await asyncio.sleep(backoff)
                backoff *= 2
                continue
            # Delivered; after an ambiguous failure perhaps twice: said as uncertain.
            status = DeliveryStatus.UNCERTAIN if ambiguous else DeliveryStatus.SENT
            await self._record(delivery_id, status, message_id=sent.message_id)
            return status

    async def _space_out(self, chat_id: int) -> None:
        last = self._last_to_chat.get(chat_id)
        now = time.monotonic()
        if last is not None and now - last < self.limits.per_chat_seconds:
            await asyncio.sleep(self.limits.per_chat_seconds - (now - last))
        self._last_to_chat[chat_id] = time.monotonic()
        if len(self._last_to_chat) > 10_000:  # forget chats not written to in the last second
            horizon = time.monotonic() - self.limits.per_chat_seconds
            self._last_to_chat = {c: t for c, t in self._last_to_chat.items() if t > horizon}

    async def _record(
        self,
        delivery_id: int,
        status: DeliveryStatus,
        *,
        message_id: int | None = None,
        error: str | None = None,
    ) -> None:
        if self.metrics is not None:
            self.metrics.deliveries.labels(status.value).inc()
        async with self.session_factory.begin() as session:
            await DeliveryRepository(session).finish(
                delivery_id,
                status,
                message_id=message_id,
                error=error,
                sent_at=self.clock() if message_id is not None else None,
            )

    async def _unreachable(self, resident_id: int) -> None:
        async with self.session_factory.begin() as session:
            await session.execute(
                update(Resident).where(Resident.id == resident_id).values(reachable=False)
            )

    async def _finish(self, notice_id: int) -> None:
        async with self.session_factory.begin() as session:
            await session.execute(
                update(Notice)
                .where(Notice.id == notice_id)
                .values(status=NoticeStatus.DONE, finished_at=self.clock())
            )


async def _maybe_await(value: object) -> None:
    if asyncio.iscoroutine(value):
        await value
