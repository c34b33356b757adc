"""The clock (APScheduler) and the loop that sends whatever fell due.

Only one process of a deployment sends: the one holding the "notifier" lease in the
database, renewed while it lives. Another process takes over when a lease expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramRetryAfter
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.config import Settings
from bot.export.report import consultation_report
from bot.i18n import Catalogs
from bot.metrics import Metrics
from bot.notify import planner
from bot.notify.messages import progress_text
from bot.notify.outbox import CardRenderer, OutboxWorker, deliver_forever
from bot.notify.sender import Progress, Sender, SendLimits
from bot.privacy import RetentionResult, apply_retention
from storage.models import Consultation, ConsultationReport, Notice, NoticeStatus
from storage.repositories import (
    DeliveryRepository,
    LeaseRepository,
    NoticeRepository,
    UpdateLog,
)

log = logging.getLogger(__name__)
LEASE = "notifier"
OUTBOX_FLUSH_SECONDS = 5.0
RETENTION_EVERY = timedelta(hours=1)


class Notifier:
    """The scheduler, the broadcast sender and the outbox worker: the engine room that
    talks to Telegram on its own (not in answer to an update). It runs in the process
    holding the lease."""

    def __init__(
        self,
        bot: Bot,
        session_factory: async_sessionmaker[AsyncSession],
        catalogs: Catalogs,
        settings: Settings,
        clock: Clock,
        limits: SendLimits | None = None,
        metrics: Metrics | None = None,
        render_card: CardRenderer | None = None,
    ) -> None:
        self.bot = bot
        self.session_factory = session_factory
        self.catalogs = catalogs
        self.settings = settings
        self.clock = clock
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.sender = Sender(
            bot,
            session_factory,
            catalogs,
            settings.default_locale,
            clock,
            limits or SendLimits(per_second=settings.broadcast_per_second or None),
            metrics=metrics,
            report_file=self._report_file,
        )
        self.outbox = OutboxWorker(
            bot,
            session_factory,
            render_card,
            catalogs.translator(settings.default_locale),
            metrics=metrics,
        )
        self._outbox_wake = asyncio.Event()
        self._outbox_loop: asyncio.Task[None] | None = None
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self._wake = asyncio.Event()
        self._tick_lock = asyncio.Lock()
        self._ticks = 0  # ticks under way, and an event set while there are none
        self._no_tick = asyncio.Event()
        self._no_tick.set()
        self._loop: asyncio.Task[None] | None = None
        self._leader = False
        self._retention_due_at: datetime | None = None

    # --- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        self.scheduler.start()
        self.scheduler.add_job(
            self.tick,
            "interval",
            seconds=self.settings.notifier_poll_seconds,
            id="poll",
            replace_existing=True,
        )
        self._loop = asyncio.create_task(self._send_forever(), name="notifier")
        self._outbox_loop = asyncio.create_task(
            deliver_forever(
                self.outbox, self._outbox_wake, lambda: self._leader, lambda: self.sender.stopping
            ),
            name="outbox",
        )
        await self.tick()

    async def stop(self) -> None:
        if self._leader:  # what the last updates queued goes out before the stop, if it can
            with contextlib.suppress(Exception):
                async with asyncio.timeout(OUTBOX_FLUSH_SECONDS):
                    while await self.outbox.deliver_due():
                        pass
        self.sender.stop()  # from now on a tick does nothing and the sender claims no more
        self.scheduler.pause()
        self._wake.set()
        # APScheduler's shutdown cancels a job that is running: a tick in the middle of its
        # transaction is let finish first (one just handed to the loop starts meanwhile).
        await asyncio.sleep(0.1)
        try:
            async with asyncio.timeout(30):
                await self._no_tick.wait()
        except TimeoutError:
            log.warning("a notifier tick was still running at stop")
        self.scheduler.shutdown(wait=False)
        self._outbox_wake.set()
        for loop in (self._loop, self._outbox_loop):
            if loop is None:
                continue
            try:
                await asyncio.wait_for(loop, 15)
            except TimeoutError:
                loop.cancel()
        if self._leader:
            async with self.session_factory.begin() as session:
                await LeaseRepository(session).release(LEASE, self.holder)

    async def _report_file(self, slug: str) -> tuple[bytes, str]:
        """The published report, attached to its notice: DOCX, the format an official
        prints and signs, in the consultation's original language. Made as of its
        publication, so that every round (after a restart too) sends the same report."""
        async with self.session_factory() as session:
            published_at = await session.scalar(
                select(ConsultationReport.published_at)
                .join(Consultation, Consultation.id == ConsultationReport.consultation_id)
                .where(Consultation.slug == slug)
            )
        output = io.BytesIO()
        await consultation_report(
            self.session_factory,
            slug,
            "docx",
            output,
            self.catalogs,
            now=published_at or self.clock(),
        )
        return output.getvalue(), f"{slug}-report.docx"

    def wake(self) -> None:
        """Something is ready to send (a broadcast was confirmed)."""
        self._wake.set()

    def wake_outbox(self) -> None:
        """A commit queued something in the outbox."""
        self._outbox_wake.set()

    def busy(self) -> bool:
        """Delivering from the outbox, or woken to."""
        return self._leader and (self._outbox_wake.is_set() or self.outbox.working)

    # --- the clock -------------------------------------------------------------------

    async def tick(self) -> None:
        """Renew the lease; turn what fell due into deliveries; schedule what comes."""
        self._ticks += 1
        self._no_tick.clear()
        try:
            async with self._tick_lock:  # the poll and a due job may fire together
                if not self.sender.stopping:
                    await self._tick()
        finally:
            self._ticks -= 1
            if not self._ticks:
                self._no_tick.set()

    async def _tick(self) -> None:
        if not await self._hold_lease():
            return
        now = self.clock()
        async with self.session_factory.begin() as session:
            # Consultation files may have been loaded since: their dates decide the plan.
            await sync_all(session, self.settings)
            # Telegram keeps an update for a day at most: older records can go.
            await UpdateLog(session).forget_before(now - timedelta(days=2))
            notices = NoticeRepository(session)
            for notice in await notices.due(now):
                consultation = (
                    await session.get(Consultation, notice.consultation_id)
                    if notice.consultation_id
                    else None
                )
                if planner.still_makes_sense(notice, consultation, now):
                    await notices.address(notice)
                    notice.status = NoticeStatus.SENDING
                else:
                    notice.status = NoticeStatus.EXPIRED
            planned = [(notice.id, notice.due_at) for notice in await notices.planned()]
        real_now = datetime.now(UTC)
        for notice_id, due_at in planned:
            if due_at <= now:
                continue  # the next tick takes it
            # The injected clock says when; the scheduler waits in real time that long
            # (the same moment in production, where the clock is the system's).
            self.scheduler.add_job(
                self.tick,
                DateTrigger(run_date=real_now + (due_at - now), timezone=UTC),
                id=f"notice-{notice_id}",
                replace_existing=True,
                misfire_grace_time=None,
            )
        self._wake.set()
        if self._retention_due_at is None or now >= self._retention_due_at:
            try:
                await self.apply_retention(now)
            except Exception:  # notices go on; the job tries again at the next tick
                log.exception("the retention job failed")

    async def apply_retention(self, now: datetime) -> RetentionResult:
        """What the privacy notice promises about time (hourly, in the lease holder)."""
        async with self.session_factory.begin() as session:
            result = await apply_retention(session, self.settings, self.outbox.staff_tr, now)
        self._retention_due_at = now + RETENTION_EVERY
        return result

    async def _hold_lease(self) -> bool:
        ttl = timedelta(seconds=self.settings.notifier_lease_seconds)
        async with self.session_factory.begin() as session:
            leader = await LeaseRepository(session).acquire(LEASE, self.holder, self.clock(), ttl)
            if leader and not self._leader:
                # Taking over: what the last holder had in flight goes out again.
                again = await DeliveryRepository(session).in_flight_back_to_pending()
                if again:
                    log.warning(
                        "%s deliveries claimed before the last stop are sent again (those "
                        "already out, %s at most, arrive twice)",
                        again,
                        self.sender.limits.max_doubled_by_a_kill,
                    )
        if leader and not self._leader:
            await self.outbox.take_over()
        self._leader = leader
        if leader:
            self._outbox_wake.set()
        return leader

    # --- the sender loop -----------------------------------------------------------

    async def _send_forever(self) -> None:
        while not self.sender.stopping:
            await self._wake.wait()
            self._wake.clear()
            if not self._leader:
                continue
            try:
                await self.send_due()
            except Exception:  # the loop must outlive one bad notice; the log says what
                log.exception("sending notices failed; retrying at the next tick")

    async def send_due(self) -> None:
        async with self.session_factory() as session:
            notice_ids = [notice.id for notice in await NoticeRepository(session).sending()]
        for notice_id in notice_ids:
            if self.sender.stopping:
                return
            try:
                await self.sender.send(notice_id, await self._progress_reporter(notice_id))
            except Exception:  # one notice that fails holds up none after it
                log.exception("sending notice %s failed; retrying at the next tick", notice_id)

    async def _progress_reporter(self, notice_id: int) -> Callable[[Progress], object] | None:
        async with self.session_factory() as session:
            notice = await session.get(Notice, notice_id)
        if notice is None or notice.progress_chat_id is None or notice.progress_message_id is None:
            return None
        chat_id, message_id = notice.progress_chat_id, notice.progress_message_id
        tr = self.catalogs.translator(self.settings.default_locale)
        last_shown = [0.0]

        async def report(progress: Progress) -> None:
            loop_time = asyncio.get_running_loop().time()
            finished = progress.left == 0
            if not finished and loop_time - last_shown[0] < 2.0:
                return
            last_shown[0] = loop_time
            text = progress_text(
                tr,
                progress.sent,
                progress.failed,
                progress.left,
                progress.eta(time.monotonic()),
                finished,
                progress.uncertain,
            )
            # The summary must arrive: it waits out a 429 (a busy staff group's limit is
            # 20 messages a minute); a progress step in between may simply be skipped.
            for _ in range(5 if finished else 1):
                try:
                    await self.bot.edit_message_text(text, chat_id=chat_id, message_id=message_id)
                    return
                except TelegramRetryAfter as error:
                    if not finished:
                        return
                    await asyncio.sleep(error.retry_after)
                except TelegramAPIError as error:  # e.g. deleted by staff: sending goes on
                    log.warning("broadcast progress not shown: %s", error)
                    return

        return report


async def sync_all(session: AsyncSession, settings: Settings) -> None:
    """Plan the notices of every consultation (after a content load, at start-up)."""
    for consultation in await session.scalars(select(Consultation)):
        await planner.sync(session, consultation, settings.reminder_days, settings.reminder_hour)
