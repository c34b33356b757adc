"""Per-resident flood control of incoming messages."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import Message, TelegramObject

from bot.i18n import Translator
from bot.middlewares import Handler


class SlidingWindow:
    """How many events a key had in the last `seconds`."""

    # Past this many keys, the idle ones are dropped so memory stays bounded.
    TRACKED = 10_000

    def __init__(self, limit: int, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.seconds = seconds
        self.clock = clock
        self._events: dict[int, deque[float]] = {}

    def hit(self, key: int) -> bool:
        """Count an event; False when it is over the limit."""
        now = self.clock()
        if len(self._events) > self.TRACKED:
            self._forget_idle(now)
        events = self._events.setdefault(key, deque())
        while events and events[0] <= now - self.seconds:
            events.popleft()
        if len(events) >= self.limit:
            return False
        events.append(now)
        return True

    def _forget_idle(self, now: float) -> None:
        idle = [
            key
            for key, events in self._events.items()
            if not events or events[-1] <= now - self.seconds
        ]
        for key in idle:
            del self._events[key]


class MessageRateMiddleware(BaseMiddleware):
    """At most `per_minute` messages a minute from one resident.

    The first message over the limit gets a friendly word; the rest of that minute is
    dropped unanswered (answering each would be the flood). Drafts are untouched.
    """

    def __init__(self, per_minute: int) -> None:
        self.window = SlidingWindow(per_minute, 60.0)
        self._warned: set[int] = set()

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if (
            not isinstance(event, Message)
            or event.from_user is None
            or event.chat.type != "private"
        ):
            return await handler(event, data)
        user_id = event.from_user.id
        if self.window.hit(user_id):
            self._warned.discard(user_id)
            return await handler(event, data)
        if user_id not in self._warned:
            self._warned.add(user_id)
            tr: Translator = data["tr"]
            await event.answer(
                tr(
                    "You are sending messages very quickly. Please wait a minute; "
                    "nothing you wrote before is lost."
                )
            )
        return None
