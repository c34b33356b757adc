"""Wiring: Bot + Dispatcher + middlewares + database, and the polling loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramNetworkError,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import Clock, system_clock
from bot.commands import register_commands
from bot.config import Settings
from bot.conversation import create_storage
from bot.flood import MessageRateMiddleware
from bot.groups import SimilarProposals
from bot.i18n import Catalogs
from bot.metrics import Metrics
from bot.middlewares import DatabaseMiddleware, MetricsMiddleware, ResidentMiddleware
from bot.notify.notifier import Notifier, sync_all
from bot.notify.outbox import wake_on_commit
from bot.reading import ReadingCache
from bot.shown import ShownMessages
from bot.telegram_client import build_bot
from bot.updates import CommitBeforeNetwork, UpdateRunner, poll
from bot.webhook import register_webhook, webhook_app
from handlers import build_router
from handlers.callbacks import AnswerCallbackMiddleware
from handlers.staff import queue_missing_cards, render_card
from storage.database import create_engine, create_session_factory
from storage.migrate import current_revision, head_revision, upgrade

log = logging.getLogger(__name__)

# How long a stop waits for updates already being handled.
DRAIN_SECONDS = 10.0
STARTUP_SECONDS = 30.0


class StartupError(Exception):
    """The bot cannot start; the message is one line that says why and what to check."""


class DatabaseNotReady(StartupError):
    """The schema is behind the code; `civicbot db upgrade` fixes it."""


@contextlib.contextmanager
def telegram_at_start(api_url: str) -> Iterator[None]:
    """Telegram's failures while the bot starts, as one line for the administrator."""
    try:
        yield
    except TelegramUnauthorizedError:
        raise StartupError(
            f"Telegram at {_origin(api_url)} refused BOT_TOKEN (401 Unauthorized): the token "
            "is wrong or was revoked; copy it again from @BotFather (/mybots, API Token)"
        ) from None
    except (TelegramNetworkError, TelegramServerError, TimeoutError) as error:
        reason = getattr(error, "message", None) or "no answer in time"
        raise StartupError(
            f"Telegram cannot be reached at {_origin(api_url)}: {reason}; check the network "
            "(a proxy or firewall) or BOT_API_URL"
        ) from None
    except TelegramAPIError as error:
        raise StartupError(
            f"Telegram refused {error.method.__api_method__} at start-up: {error.message}"
        ) from None


def _origin(url: str) -> str:
    """Scheme and host only: a URL's user part may hold a password."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")


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
    metrics: Metrics | None = None,
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
        metrics=metrics or Metrics(),
        similar=SimilarProposals(),
    )
    dispatcher.update.outer_middleware(MetricsMiddleware(dispatcher["metrics"]))
    dispatcher.update.outer_middleware(DatabaseMiddleware(ReadingCache()))
    dispatcher.update.outer_middleware(ResidentMiddleware(settings, catalogs))
    if settings.messages_per_minute:
        dispatcher.message.outer_middleware(MessageRateMiddleware(settings.messages_per_minute))
    dispatcher.callback_query.middleware(AnswerCallbackMiddleware())
    dispatcher.include_router(build_router())
    return dispatcher


@dataclass
class Application:
    """One running bot: start it with `run()`, stop it with `stop()` or a signal."""

    settings: Settings
    clock: Clock = system_clock
    catalogs: Catalogs | None = None

    def __post_init__(self) -> None:
        if self.catalogs is None:
            self.catalogs = Catalogs.load(home_zone=self.settings.timezone)
        self.engine = create_engine(self.settings.database_url)
        self.session_factory = create_session_factory(self.engine)
        self.metrics = Metrics()
        self.dispatcher = build_dispatcher(
            self.settings,
            self.session_factory,
            self.catalogs,
            clock=self.clock,
            metrics=self.metrics,
        )
        self.runner = UpdateRunner(self.dispatcher, self.session_factory, self.clock)
        self.started = asyncio.Event()
        self._stop_requested = asyncio.Event()

    async def run(self, *, handle_signals: bool = True, webhook: bool = False) -> None:
        """Long-poll Telegram, or (`webhook`) serve Telegram's webhook, until stopped."""
        # The only process writing to its chats (long polling) knows what each message
        # shows; with several (webhook mode) Telegram's own answer decides.
        shown = None if webhook else ShownMessages()
        bot = build_bot(self.settings, metrics=self.metrics, shown=shown)
        bot.session.middleware(CommitBeforeNetwork())
        sender_bot = build_bot(self.settings, wait_on_429=False, shown=shown)
        self.notifier = Notifier(
            sender_bot,
            self.session_factory,
            self.catalogs,
            self.settings,
            self.clock,
            metrics=self.metrics,
            render_card=render_card,
        )
        self.dispatcher["notifier"] = self.notifier
        wake_on_commit(self.session_factory, self.notifier.wake_outbox)
        try:
            await prepare_database(self.engine)
            async with self.session_factory.begin() as session:
                await sync_all(session, self.settings)
                queued = await queue_missing_cards(session, self.settings)
            if queued:
                log.info("%s staff cards were waiting: queued", queued)
            with telegram_at_start(self.settings.bot_api_url):
                await bot.me()  # the token and the way to Telegram, before anything else
                await register_commands(
                    bot, self.catalogs, self.settings.default_locale, self.settings.staff_chat_id
                )
            if handle_signals:
                loop = asyncio.get_running_loop()
                for stop_signal in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(stop_signal, self._stop_requested.set)
            await self.notifier.start()
            await self.runner.start(bot, only_consumer=not webhook)
            await self.dispatcher.emit_startup(bot=bot, dispatcher=self.dispatcher, bots=[bot])
            self.started.set()
            try:
                if webhook:
                    await self._serve_webhook(bot)
                else:
                    # A webhook left from webhook mode would make getUpdates fail forever.
                    with telegram_at_start(self.settings.bot_api_url):
                        await bot.delete_webhook(drop_pending_updates=False)
                    allowed = self.dispatcher.resolve_used_update_types()
                    await poll(bot, self.runner, allowed, self._stop_requested)
            finally:
                if not await self.runner.drain(DRAIN_SECONDS):
                    log.warning("stopped with updates still in hand after %s s", DRAIN_SECONDS)
                await self.notifier.stop()
                await self.dispatcher.emit_shutdown(bot=bot, dispatcher=self.dispatcher, bots=[bot])
        finally:
            await bot.session.close()
            await sender_bot.session.close()
            await self.engine.dispose()

    async def _serve_webhook(self, bot: Bot) -> None:
        app = webhook_app(self.runner, bot, self.settings, self.engine, self.metrics)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        host, port = self.settings.webhook_host, self.settings.webhook_port
        site = web.TCPSite(runner, host, port)
        try:
            try:
                await site.start()
            except OSError as error:
                raise StartupError(
                    f"cannot serve the webhook on {host}:{port}: {error.strerror or error}; "
                    "check WEBHOOK_HOST and WEBHOOK_PORT"
                ) from None
            # Registered once the server listens, so Telegram's first delivery finds it.
            with telegram_at_start(self.settings.bot_api_url):
                await register_webhook(bot, self.dispatcher, self.settings)
            await self._stop_requested.wait()
        finally:
            await runner.cleanup()

    def busy(self) -> bool:
        """Handling an update, or delivering what one queued (tests wait for this)."""
        notifier = getattr(self, "notifier", None)
        return self.runner.busy() or (notifier is not None and notifier.busy())

    async def stop(self) -> None:
        # A stop asked for while the bot is still starting waits for it to begin.
        try:
            async with asyncio.timeout(STARTUP_SECONDS):
                await self.started.wait()
        except TimeoutError:
            return
        self._stop_requested.set()
