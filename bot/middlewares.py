"""Dispatcher middlewares: a database session per update, and the resident with their
language."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.enums import ChatType
from aiogram.types import Chat, TelegramObject, Update, User
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.i18n import Catalogs
from bot.metrics import Metrics
from bot.privacy import restore_restrictions
from bot.updates import UpdateUnit, bind_session, update_session
from storage.repositories import ResidentRepository, UpdateLog

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

__all__ = ["DatabaseMiddleware", "MetricsMiddleware", "ResidentMiddleware", "update_session"]


class DatabaseMiddleware(BaseMiddleware):
    """One session per update, committed when the handler returns (and before each call
    to Telegram, see bot.updates), rolled back on error. An update that acted already
    (delivered again after a crash, or retried by Telegram) is dropped here."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.session_factory = session_factory

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        unit: UpdateUnit = data.get("update_unit") or UpdateUnit(event.update_id)
        unit.clock = unit.clock or data.get("clock")
        data["update_unit"] = unit
        async with self.session_factory() as session:
            bind_session(session, unit)
            if await UpdateLog(session).acted(event.update_id):
                return None
            data["session"] = session
            token = update_session.set(session)
            try:
                result = await handler(event, data)
                await session.commit()
                return result
            finally:
                update_session.reset(token)


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
