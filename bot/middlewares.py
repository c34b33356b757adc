"""Dispatcher middlewares: a database session per update, and the resident with their
language."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.enums import ChatType
from aiogram.types import Chat, TelegramObject, Update, User
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.i18n import Catalogs
from bot.metrics import Metrics
from bot.privacy import restore_restrictions
from bot.reading import Reading, ReadingCache
from bot.updates import update_session
from storage.repositories import ResidentRepository

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

__all__ = ["DatabaseMiddleware", "MetricsMiddleware", "ResidentMiddleware", "update_session"]


class DatabaseMiddleware(BaseMiddleware):
    """The update's session (opened by bot.updates.UpdateRunner) is committed when the
    handler returns (and before each call to Telegram, see bot.updates), and rolled
    back before an error is handled: its polite answer must not commit half a change.
    Handlers read consultations through `reading`, which the process's cache serves."""

    def __init__(self, reading_cache: ReadingCache) -> None:
        self.reading_cache = reading_cache

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        session: AsyncSession = data["session"]
        data["reading"] = Reading(session, self.reading_cache)
        try:
            result = await handler(event, data)
        except BaseException:
            await session.rollback()
            raise
        await session.commit()
        return result


class ResidentMiddleware(BaseMiddleware):
    """Injects `tr` (the translator) for everyone and `resident` for private chats.

    Only people who talk to the bot privately become residents: members of a group
    who never wrote to the bot are not stored.
    """

    def __init__(self, settings: Settings, catalogs: Catalogs) -> None:
        self.settings = settings
        self.default_locale = settings.default_locale
        self.catalogs = catalogs

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        telegram_language = user.language_code if user else None
        chosen = None
        if user is not None and not user.is_bot and (chat is None or chat.type == ChatType.PRIVATE):
            residents = ResidentRepository(data["session"])
            resident = await residents.seen(user.id, chat.id if chat else None, telegram_language)
            if residents.created:  # perhaps someone erased before: a block comes back
                await restore_restrictions(data["session"], resident, self.settings)
            chosen = resident.language
            data["resident"] = resident
        data["tr"] = self.catalogs.for_person(chosen, telegram_language, self.default_locale)
        return await handler(event, data)


class MetricsMiddleware(BaseMiddleware):
    """Counts updates by type and times their handling."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        kind = event.event_type
        started = time.perf_counter()
        try:
            return await handler(event, data)
        finally:
            self.metrics.updates.labels(kind).inc()
            self.metrics.handling_seconds.labels(kind).observe(time.perf_counter() - started)
