"""Wiring: Bot + Dispatcher + middlewares + database, and the polling loop."""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from dataclasses import dataclass, field

from aiogram import Bot, Dispatcher
from aiogram.utils.callback_answer import CallbackAnswerMiddleware
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import Clock, system_clock
from bot.commands import register_commands
from bot.config import Settings
from bot.conversation import create_storage
from bot.flood import MessageRateMiddleware
from bot.i18n import Catalogs
from bot.middlewares import DatabaseMiddleware, InFlightMiddleware, ResidentMiddleware
from bot.notify.notifier import Notifier, sync_all
from bot.telegram_client import build_bot
from handlers import build_router
from handlers.staff import post_missing_cards
from storage.database import create_engine, create_session_factory
from storage.migrate import current_revision, head_revision, upgrade

log = logging.getLogger(__name__)

# How long a stop waits for updates already being handled.
DRAIN_SECONDS = 10.0
STARTUP_SECONDS = 30.0


class DatabaseNotReady(Exception):
    """The schema is behind the code; `civicbot db upgrade` fixes it."""


async def prepare_database(engine: AsyncEngine) -> None:
    """SQLite (the embedded default) is migrated on start; a server database must be
    migrated by its administrator, so only the revision is checked there."""
    if engine.dialect.name == "sqlite":
        await upgrade(engine)
        return
    current, head = await current_revision(engine), head_revision()
    if current != head:
        raise DatabaseNotReady(
            f"the database is at revision {current or 'none'}, the code needs {head}: "
            "run `civicbot db upgrade`"
        )


def build_dispatcher(
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    catalogs: Catalogs,
    *,
    clock: Clock = system_clock,
    in_flight: InFlightMiddleware | None = None,
) -> Dispatcher:
    """The dispatcher with everything a handler may ask for as a parameter."""
    storage, isolation = create_storage(settings, session_factory)
    dispatcher = Dispatcher(
        storage=storage,
        events_isolation=isolation,
        settings=settings,
        catalogs=catalogs,
        clock=clock,
        session_factory=session_factory,
    )
    dispatcher.update.outer_middleware(in_flight or InFlightMiddleware())
    dispatcher.update.outer_middleware(DatabaseMiddleware(session_factory))
    dispatcher.update.outer_middleware(ResidentMiddleware(settings, catalogs))
    if settings.messages_per_minute:
        dispatcher.message.outer_middleware(MessageRateMiddleware(settings.messages_per_minute))
    dispatcher.callback_query.middleware(CallbackAnswerMiddleware())
    dispatcher.include_router(build_router())
    return dispatcher


@dataclass
class Application:
    """One running bot: start it with `run()`, stop it with `stop()` or a signal."""

    settings: Settings
    clock: Clock = system_clock
    catalogs: Catalogs = field(default_factory=Catalogs.load)

    def __post_init__(self) -> None:
        self.engine = create_engine(self.settings.database_url)
        self.session_factory = create_session_factory(self.engine)
        self.in_flight = InFlightMiddleware()
        self.dispatcher = build_dispatcher(
            self.settings,
            self.session_factory,
            self.catalogs,
            clock=self.clock,
            in_flight=self.in_flight,
        )
        self.polling = asyncio.Event()
        self.dispatcher.startup.register(self._polling_began)
        self.dispatcher.startup.register(self._post_missing_cards)
        self.dispatcher.startup.register(self._start_notifier)
        self.dispatcher.shutdown.register(self._stop_notifier)
        self.dispatcher.shutdown.register(self._let_updates_finish)

    async def run(self, *, handle_signals: bool = True) -> None:
        bot = build_bot(self.settings)
        sender_bot = build_bot(self.settings, wait_on_429=False)
        self.notifier = Notifier(
            sender_bot, self.session_factory, self.catalogs, self.settings, self.clock
        )
        self.dispatcher["notifier"] = self.notifier
        try:
            await prepare_database(self.engine)
            async with self.session_factory.begin() as session:
                await sync_all(session, self.settings)
            await register_commands(bot, self.catalogs, self.settings.default_locale)
            await self.dispatcher.start_polling(
                bot,
                handle_signals=handle_signals,
                allowed_updates=self.dispatcher.resolve_used_update_types(),
            )
        finally:
            await bot.session.close()
            await sender_bot.session.close()
            await self.engine.dispose()

    async def stop(self) -> None:
        # A stop asked for while the bot is still starting waits for polling to begin.
        try:
            async with asyncio.timeout(STARTUP_SECONDS):
                await self.polling.wait()
        except TimeoutError:
            return
        with suppress(RuntimeError):  # polling already ended
            await self.dispatcher.stop_polling()

    async def _polling_began(self) -> None:
        self.polling.set()

    async def _start_notifier(self) -> None:
        await self.notifier.start()

    async def _stop_notifier(self) -> None:
        await self.notifier.stop()

    async def _post_missing_cards(self, bot: Bot) -> None:
        posted = await post_missing_cards(bot, self.session_factory, self.settings, self.catalogs)
        if posted:
            log.info("posted %s staff cards that were waiting", posted)

    async def _let_updates_finish(self) -> None:
        if not await self.in_flight.drain(DRAIN_SECONDS):
            log.warning("stopped with updates still in flight after %s s", DRAIN_SECONDS)
