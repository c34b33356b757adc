"""Conversation state (aiogram FSM) kept in our database, so drafts survive a restart.

aiogram ships memory, Redis and MongoDB storages but none for SQL; this adapter puts
the state on the same database as everything else. With REDIS_URL set, aiogram's own
RedisStorage is used instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import (
    BaseEventIsolation,
    BaseStorage,
    DefaultKeyBuilder,
    StateType,
    StorageKey,
)
from aiogram.fsm.storage.memory import SimpleEventIsolation
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.middlewares import update_session
from storage.repositories import ConversationStateRepository

KEY_BUILDER = DefaultKeyBuilder(with_bot_id=True, with_destiny=True)


class DatabaseStorage(BaseStorage):
    """Inside an update, state changes join the update's transaction, so a draft and the
    submission made from it are committed (or rolled back) together."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.session_factory = session_factory

    @asynccontextmanager
    async def _states(self) -> AsyncIterator[ConversationStateRepository]:
        session = update_session.get()
        if session is not None:
            yield ConversationStateRepository(session)
            return
        async with self.session_factory.begin() as own_session:
            yield ConversationStateRepository(own_session)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        async with self._states() as states:
            await states.put(KEY_BUILDER.build(key), state=value)
            if value is None:
                await states.drop_if_empty(KEY_BUILDER.build(key))

    async def get_state(self, key: StorageKey) -> str | None:
        async with self._states() as states:
            row = await states.get(KEY_BUILDER.build(key))
            return row.state if row else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        async with self._states() as states:
            await states.put(KEY_BUILDER.build(key), data=dict(data))
            if not data:
                await states.drop_if_empty(KEY_BUILDER.build(key))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        async with self._states() as states:
            row = await states.get(KEY_BUILDER.build(key))
            return dict(row.data) if row else {}

    async def close(self) -> None:
        """Sessions are opened per call; nothing stays open."""


def create_storage(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> tuple[BaseStorage, BaseEventIsolation]:
    """Where conversations are kept, and how one person's updates are handled one at a
    time (two taps on "send", or an album arriving as several updates, would otherwise
    read the same draft side by side)."""
    if settings.redis_url:
        from aiogram.fsm.storage.redis import RedisEventIsolation, RedisStorage

        redis_storage = RedisStorage.from_url(settings.redis_url, key_builder=KEY_BUILDER)
        return redis_storage, RedisEventIsolation(redis_storage.redis, key_builder=KEY_BUILDER)
    return DatabaseStorage(session_factory), SimpleEventIsolation()
