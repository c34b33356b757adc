"""The bot's queue of updates, consumed by getUpdates or by the webhook sender.

Updates stay queued until confirmed, exactly like Telegram's: a consumer *peeks*
at the oldest ones and confirms them by id afterwards (getUpdates confirms with the
next call's ``offset``; the webhook sender removes each one after a 2xx answer).
Waiters are woken whenever something is pushed, so long polling returns at once.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

# What Telegram sends when allowed_updates was never set (or set to an empty list).
DEFAULT_EXCLUDED_TYPES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


def update_type(update: dict[str, Any]) -> str:
    """The kind of an Update dict: its one key besides ``update_id``."""
    return next((key for key in update if key != "update_id"), "")


class UpdateQueue:
    def __init__(self, first_update_id: int = 1) -> None:
        self._updates: deque[dict[str, Any]] = deque()
        self._next_id = first_update_id
        self._pushed = asyncio.Event()
        self.allowed_updates: frozenset[str] | None = None
        self.history: dict[int, dict[str, Any]] = {}
        """Every update ever pushed, by update_id (for redelivery)."""

    def __len__(self) -> int:
        return len(self._updates)

    def push(self, payload: dict[str, Any]) -> int:
        """Queue ``payload`` (an Update without ``update_id``); return the new update_id."""
        update_id = self._next_id
        self._next_id += 1
        update = {"update_id": update_id, **payload}
        self._updates.append(update)
        self.history[update_id] = update
        self._wake()
        return update_id

    def __contains__(self, update_id: object) -> bool:
        return any(u["update_id"] == update_id for u in self._updates)

    def remove(self, update_id: int) -> None:
        """Forget one update (delivered to the webhook); the others keep their order."""
        self._updates = deque(u for u in self._updates if u["update_id"] != update_id)

    def requeue(self, update_id: int) -> None:
        """Queue an update that was already delivered once more, in update_id order."""
        update = self.history[update_id]
        if update_id in self:
            return
        kept = sorted([*self._updates, update], key=lambda u: u["update_id"])
        self._updates = deque(kept)
        self._wake()

    def confirm_below(self, offset: int) -> None:
        """Forget every update whose id is lower than ``offset``."""
        while self._updates and self._updates[0]["update_id"] < offset:
            self._updates.popleft()

    def keep_last(self, count: int) -> None:
        """Forget all but the newest ``count`` updates (getUpdates with a negative offset)."""
        while len(self._updates) > count:
            self._updates.popleft()

    def clear(self) -> None:
        self._updates.clear()

    def set_allowed_updates(self, allowed: list[str] | None) -> None:
        """Remember the consumer's filter; an empty list restores Telegram's default."""
        if allowed is not None:
            self.allowed_updates = frozenset(allowed) if allowed else None

    def is_allowed(self, kind: str) -> bool:
        if self.allowed_updates is None:
            return kind not in DEFAULT_EXCLUDED_TYPES
        return kind in self.allowed_updates

    def peek(self, limit: int) -> list[dict[str, Any]]:
        """The oldest ``limit`` deliverable updates; ones the filter excludes are dropped.

        Telegram never queues an update the bot did not ask for, so dropping them here
        is the same as never having queued them.
        """
        kept = deque(u for u in self._updates if self.is_allowed(update_type(u)))
        self._updates = kept
        return [dict(u) for u in list(kept)[:limit]]

    def next_push(self) -> asyncio.Event:
        """An event that is set by the next push (or :meth:`wake_waiters`).

        Take it synchronously right after finding the queue empty, so no push can
        slip in between the check and the wait.
        """
        return self._pushed

    def wake_waiters(self) -> None:
        """Release every waiter without a new update (used on shutdown)."""
        self._wake()

    def _wake(self) -> None:
        # A fresh event per round, so a waiter that re-checks never sees a stale "set".
        self._pushed.set()
        self._pushed = asyncio.Event()
