"""The update path: from Telegram to a committed change, at least once and acting once.

    Telegram --getUpdates / webhook--> inbox_update (committed, then confirmed)
        --> UpdateRunner: the dispatcher, one short transaction per change
        --> the answer to the person in front of us, after the commit

- An update is recorded in the inbox before Telegram is told it arrived (the next
  getUpdates offset, or the webhook's 200), and deleted once handled (together with
  those handled in the same FORGET_AFTER_SECONDS): after a crash, what is left there is
  handled again.
- Each update has one database session, opened before aiogram's own middlewares read
  the conversation state in it; reading a plan writes nothing, so it takes no lock.
- The first transaction of an update that writes anything also records the update as
  acted (`processed_update`, same transaction); a second delivery of an update that
  acted is dropped, one that only read is simply handled again.
- No transaction stays open while the bot waits for Telegram: every Bot API call made
  while an update is handled commits the update's session first (CommitBeforeNetwork).
- A transient failure (a lock held elsewhere, a lost connection to the database or to
  Telegram) before the update acted is retried with back-off; after it acted, or after
  the last attempt, the person gets a polite word instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import (
    TelegramConflictError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Update
from sqlalchemy import event
from sqlalchemy import exc as db_errors
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import ORMExecuteState, Session

from bot.clock import Clock
from storage.models import utcnow
from storage.repositories import InboxRepository, UpdateLog

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 30.0
# How long a process keeps an update it took before another may take it (webhook mode,
# where several processes share the inbox; the only poller releases everything at start).
CLAIM_SECONDS = 120.0
SWEEP_SECONDS = 1.0
POLL_TIMEOUT = 10
MAX_CONCURRENT_UPDATES = 64
# Handled updates are deleted from the inbox together, this long after the first.
FORGET_AFTER_SECONDS = 0.05

# The session of the update being handled, for code that is not handed it as a
# parameter (the conversation state storage, the request middleware below).
update_session: ContextVar[AsyncSession | None] = ContextVar("update_session", default=None)


class AlreadyActed(Exception):
    """Another delivery of this update committed its changes first."""


# SQLSTATEs of PostgreSQL's transient failures: serialization, deadlock, lock not
# available, and the server starting or shutting down.
_TRANSIENT_SQLSTATES = {"40001", "40P01", "55P03", "57P01", "57P03", "08000", "08003", "08006"}


def is_transient(error: BaseException) -> bool:
    """A failure that says nothing about the update itself: trying again may work."""
    if isinstance(error, TelegramNetworkError | TelegramServerError | TelegramRetryAfter):
        return True
    if isinstance(error, db_errors.TimeoutError):  # no pooled connection in time
        return True
    if isinstance(error, db_errors.DBAPIError):
        if error.connection_invalidated or isinstance(error, db_errors.OperationalError):
            return True
        orig = error.orig
        codes = {getattr(orig, "pgcode", None), getattr(orig, "sqlstate", None)}
        codes.add(getattr(getattr(orig, "__cause__", None), "sqlstate", None))
        return bool(codes & _TRANSIENT_SQLSTATES)
    return isinstance(error, ConnectionError | TimeoutError)


@dataclass
class UpdateUnit:
    """One attempt at handling one update, handed to middlewares and the error handler."""

    update_id: int
    attempt: int = 1
    clock: Clock | None = None
    # A transaction with this update's changes was committed: it must not act again.
    acted: bool = False

    def will_retry(self, error: BaseException) -> bool:
        return not self.acted and self.attempt < MAX_ATTEMPTS and is_transient(error)


# --- the acted mark, in the first transaction that writes ----------------------------

_UNIT = "update_unit"
_WROTE = "update_wrote"
_MARKED = "update_marked"


def bind_session(session: AsyncSession, unit: UpdateUnit) -> None:
    """From now on, the first commit of `session` that writes records `unit` as acted."""
    session.sync_session.info[_UNIT] = unit


@event.listens_for(Session, "do_orm_execute")
def _note_statement(state: ORMExecuteState) -> None:
    if _UNIT in state.session.info and (state.is_insert or state.is_update or state.is_delete):
        state.session.info[_WROTE] = True


@event.listens_for(Session, "after_flush")
def _note_flush(session: Session, _context: object) -> None:
    if _UNIT in session.info:
        session.info[_WROTE] = True


@event.listens_for(Session, "before_commit")
def _mark_acted(session: Session) -> None:
    unit: UpdateUnit | None = session.info.get(_UNIT)
    if unit is None or unit.acted:
        return
    session.flush()  # what the flush writes counts too
    if not session.info.get(_WROTE):
        return
    now = unit.clock() if unit.clock else utcnow()
    mark = UpdateLog.mark_statement(session.get_bind().dialect.name, unit.update_id, now)
    if session.execute(mark).scalar() is None:
        raise AlreadyActed(unit.update_id)
    session.info[_MARKED] = True


@event.listens_for(Session, "after_commit")
def _acted(session: Session) -> None:
    unit: UpdateUnit | None = session.info.get(_UNIT)
    if unit is not None and session.info.pop(_MARKED, False):
        unit.acted = True
    session.info.pop(_WROTE, None)


@event.listens_for(Session, "after_rollback")
def _not_acted(session: Session) -> None:
    session.info.pop(_WROTE, None)
    session.info.pop(_MARKED, None)


class CommitBeforeNetwork(BaseRequestMiddleware):
    """Whatever the handler did so far is committed before the bot talks to Telegram:
    waiting 100 ms (or 20 s) for the network never holds a database lock."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> TelegramType:
        session = update_session.get()
        if session is not None and session.in_transaction():
            await session.commit()
        return await make_request(bot, method)


# --- the inbox and the runner ---------------------------------------------------------


@dataclass
class InHand:
    """An update the runner took from the inbox."""

    payload: dict[str, Any]
    attempts: int = 0
    # Just recorded, and known not to have acted before: no need to look that up.
    checked: bool = False
    # The payload as aiogram's object, when getUpdates gave it so.
    update: Update | None = None


def retry_delay(attempt: int) -> float:
    """Back-off after the `attempt`-th failure, with jitter so retries do not march."""
    base = min(FIRST_RETRY_SECONDS * 2 ** (attempt - 1), MAX_RETRY_SECONDS)
    return base * random.uniform(0.8, 1.2)


async def with_retries(
    session_factory: async_sessionmaker[AsyncSession],
    work: Callable[[AsyncSession], Awaitable[Any]],
    *,
    attempts: int = MAX_ATTEMPTS,
) -> Any:
    """`work` in a transaction of its own, tried again while the database is busy."""
    for attempt in range(1, attempts + 1):
        try:
            async with session_factory.begin() as session:
                return await work(session)
        except Exception as error:
            if attempt == attempts or not is_transient(error):
                raise
            await asyncio.sleep(retry_delay(attempt))
    raise AssertionError("unreachable")


class UpdateRunner:
    """Hands recorded updates to the dispatcher, retries what failed for a passing
    reason, and deletes from the inbox what is done."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        session_factory: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        concurrency: int = MAX_CONCURRENT_UPDATES,
    ) -> None:
        self.dispatcher = dispatcher
        self.session_factory = session_factory
        self.clock = clock
        self.bot: Bot | None = None
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_hand: set[int] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._handled: list[int] = []
        self._forgetting: asyncio.Task[None] | None = None

    async def start(self, bot: Bot, *, only_consumer: bool) -> None:
        """Handle what was left in the inbox, then whatever is recorded. The only consumer
        (the process that polls) takes over everything left at once; in webhook mode a
        claim of another process is let expire first."""
        self.bot = bot
        if only_consumer:
            await with_retries(
                self.session_factory, lambda s: InboxRepository(s).release_all(self._now())
            )
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="inbox-sweeper")

    async def record(
        self, payloads: Sequence[dict[str, Any]], parsed: Sequence[Update] | None = None
    ) -> None:
        """Keep the updates (committed) and start handling the new ones. Raises when the
        database cannot take them: then they must not be confirmed to Telegram.
        `parsed`: the same updates as aiogram objects, when the caller has them."""
        claim_until = self._now() + timedelta(seconds=CLAIM_SECONDS)

        async def keep(session: AsyncSession) -> set[int]:
            inbox = InboxRepository(session)
            fresh = set(await inbox.record(payloads, claim_until))
            # Telegram may deliver again an update that acted before a crash.
            acted = await UpdateLog(session).acted_among(fresh) if fresh else set()
            if acted:
                await inbox.done(acted)
            return fresh - acted

        fresh = await with_retries(self.session_factory, keep)
        for payload, update in zip(payloads, parsed or [None] * len(payloads), strict=True):
            if payload["update_id"] in fresh:
                self._submit(InHand(payload, checked=True, update=update))

    def _submit(self, item: InHand) -> None:
        update_id = item.payload["update_id"]
        if update_id in self._in_hand:
            return
        self._in_hand.add(update_id)
        task = asyncio.create_task(self._handle(item), name=f"update-{update_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, item: InHand) -> None:
        update_id = item.payload["update_id"]
        unit = UpdateUnit(update_id, attempt=item.attempts + 1, clock=self.clock)
        try:
            async with self._slots:
                outcome = await self._feed(item, unit)
            if outcome is not None:
                delay = retry_delay(unit.attempt)
                log.warning(
                    "update %s failed (%s), trying again in %.1f s",
                    update_id,
                    type(outcome).__name__,
                    delay,
                )
                await self._later(update_id, unit.attempt, delay, outcome)
            else:
                self._forget(update_id)
                return
        except Exception:  # the inbox keeps it; the sweep takes it again after its claim
            log.exception("update %s could not be settled in the inbox", update_id)
        self._in_hand.discard(update_id)

    def _forget(self, update_id: int) -> None:
        """Delete a handled update from the inbox, together with those handled at about
        the same time: one write instead of one per update."""
        self._handled.append(update_id)
        if self._forgetting is None:
            self._forgetting = asyncio.create_task(self._forget_handled(), name="inbox-forget")
            self._tasks.add(self._forgetting)
            self._forgetting.add_done_callback(self._tasks.discard)

    async def _forget_handled(self) -> None:
        await asyncio.sleep(FORGET_AFTER_SECONDS)
        try:
            while self._handled:
                handled, self._handled = self._handled, []
                try:
                    await with_retries(
                        self.session_factory, lambda s, ids=handled: InboxRepository(s).done(ids)
                    )
                except Exception:  # the sweep takes them again after their claim
                    log.exception("%s handled updates could not be deleted", len(handled))
                self._in_hand.difference_update(handled)
        finally:
            self._forgetting = None

    async def _feed(self, item: InHand, unit: UpdateUnit) -> BaseException | None:
        """None when done (handled, or answered politely); the error to retry after.

        The update's one session is opened here, before aiogram's own middlewares, so
        that the conversation state is read in it too (see bot.conversation)."""
        assert self.bot is not None
        try:
            async with self.session_factory() as session:
                bind_session(session, unit)
                if not item.checked and await UpdateLog(session).acted(unit.update_id):
                    return None
                token = update_session.set(session)
                try:
                    update = item.update or Update.model_validate(
                        item.payload, context={"bot": self.bot}
                    )
                    await self.dispatcher.feed_update(
                        self.bot, update, session=session, update_unit=unit
                    )
                finally:
                    update_session.reset(token)
        except Exception as error:
            if unit.will_retry(error):
                return error
            # The error handler answered the person; what is left is for the log.
            log.error("update %s failed for good", unit.update_id, exc_info=error)
        return None

    async def _later(self, update_id: int, attempt: int, delay: float, error: BaseException):
        not_before = self._now() + timedelta(seconds=delay)
        await with_retries(
            self.session_factory,
            lambda s: InboxRepository(s).later(update_id, attempt, not_before, repr(error)),
        )
        asyncio.get_running_loop().call_later(delay, self._wake.set)

    async def _sweep_forever(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SWEEP_SECONDS):
                    await self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            try:
                await self._sweep()
            except Exception:  # the next sweep tries again; the log says why
                log.exception("the inbox sweep failed")

    async def _sweep(self) -> None:
        """Updates left from a crash, retries whose back-off is over, and claims of a
        process that died (webhook mode)."""
        now = self._now()
        until = now + timedelta(seconds=CLAIM_SECONDS)

        async def claim_due(session: AsyncSession) -> list[tuple[dict[str, Any], int]]:
            inbox = InboxRepository(session)
            taken = []
            for row in await inbox.due(now):
                if row.update_id in self._in_hand:
                    continue
                if await inbox.claim(row.update_id, now, until):
                    taken.append((dict(row.payload), row.attempts))
            return taken

        for payload, attempts in await with_retries(self.session_factory, claim_due):
            self._submit(InHand(payload, attempts))

    def busy(self) -> bool:
        return bool(self._tasks)

    async def settled(self, seconds: float) -> bool:
        """Wait until no update is in hand (new ones may come meanwhile); False if
        `seconds` were not enough."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while self._tasks:
            left = deadline - loop.time()
            if left <= 0:
                return False
            await asyncio.wait(set(self._tasks), timeout=left)
        return True

    async def drain(self, seconds: float) -> bool:
        """Let the updates in hand finish; False if `seconds` were not enough (what is
        left stays in the inbox for the next start)."""
        self._stopping = True
        self._wake.set()
        if self._sweeper is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if not self._tasks:
            return True
        _, pending = await asyncio.wait(set(self._tasks), timeout=seconds)
        return not pending

    def _now(self) -> datetime:
        # Claims and back-off are real time: the injected clock may stand still in tests.
        return utcnow()


async def poll(bot: Bot, runner: UpdateRunner, allowed_updates: list[str], stop: asyncio.Event):
    """Long-poll Telegram until `stop` is set. An update is confirmed (by the next call's
    offset) only after the runner recorded it; until then Telegram keeps it."""
    offset: int | None = None
    failures = 0
    stopped = asyncio.create_task(stop.wait())
    try:
        while not stop.is_set():
            request = GetUpdates(
                offset=offset, timeout=POLL_TIMEOUT, allowed_updates=allowed_updates
            )
            fetch = asyncio.create_task(
                bot(request, request_timeout=int((bot.session.timeout or 60) + POLL_TIMEOUT))
            )
            await asyncio.wait({fetch, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not fetch.done():  # stopping: what this poll would bring stays with Telegram
                fetch.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await fetch
                break
            try:
                updates = fetch.result()
                if updates:
                    await runner.record(
                        [
                            u.model_dump(mode="json", exclude_unset=True, by_alias=True)
                            for u in updates
                        ],
                        updates,
                    )
                    offset = updates[-1].update_id + 1
                failures = 0
            except Exception as error:
                failures += 1
                delay = retry_delay(min(failures, 6))
                level = (
                    logging.ERROR if isinstance(error, TelegramConflictError) else logging.WARNING
                )
                log.log(level, "getting updates failed (%s); again in %.1f s", error, delay)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await stop.wait()
    finally:
        stopped.cancel()
    if offset is not None:
        await _confirm(bot, offset)


async def _confirm(bot: Bot, offset: int) -> None:
    """Tell Telegram what was recorded, so the next start does not get it again."""
    try:
        async with asyncio.timeout(5):
            await bot(GetUpdates(offset=offset, limit=1, timeout=0))
    except Exception as error:  # the next start gets them again; the inbox knows them
        log.info("could not confirm the last updates at stop: %s", error)
