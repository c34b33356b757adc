"""Telegram's flood limits for sending and editing messages, as token buckets.

Telegram documents roughly 30 messages per second overall, one per second in a
private chat (short bursts tolerated) and 20 per minute in a group. A bucket holds
``burst`` tokens and refills at ``rate`` per second; a message takes one token from
every bucket that applies, or none at all when any of them is empty, in which case
the caller answers 429 with ``retry_after`` whole seconds, as Telegram does.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class TokenBucket:
    rate: float
    burst: float
    tokens: float
    updated_at: float

    def refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated_at)
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.updated_at = now

    def wait_time(self) -> float:
        """Seconds until one token is available (0 when one is)."""
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate


@dataclass(frozen=True)
class RateLimits:
    """Limits for messages the bot sends or edits; ``None`` switches a limit off.

    ``*_burst`` is how many messages may go out back to back before the rate applies;
    ``None`` means the number the rate allows in its own window (one second, or one
    minute for groups).
    """

    global_rate: float | None = 30.0
    per_chat_rate: float | None = 1.0
    group_rate_per_minute: int | None = 20
    global_burst: int | None = None
    per_chat_burst: int | None = 3
    group_burst: int | None = None


class FloodControl:
    """Keeps one bucket overall and one per chat; ``acquire`` says whether a message may go."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._global: TokenBucket | None = None
        self._per_chat: dict[int, TokenBucket] = {}

    def acquire(self, chat_id: int, *, is_group: bool) -> int | None:
        """Take a token for a message to ``chat_id``; return ``retry_after`` seconds if refused."""
        now = self._clock()
        buckets = [
            b for b in (self._global_bucket(now), self._chat_bucket(chat_id, is_group, now)) if b
        ]
        for bucket in buckets:
            bucket.refill(now)
        wait = max((bucket.wait_time() for bucket in buckets), default=0.0)
        if wait > 0.0:
            return max(1, math.ceil(wait))
        for bucket in buckets:
            bucket.tokens -= 1.0
        return None

    def _global_bucket(self, now: float) -> TokenBucket | None:
        rate = self.limits.global_rate
        if rate is None:
            return None
        if self._global is None:
            burst = self.limits.global_burst or max(1.0, rate)
            self._global = TokenBucket(rate, burst, burst, now)
        return self._global

    def _chat_bucket(self, chat_id: int, is_group: bool, now: float) -> TokenBucket | None:
        if is_group:
            per_minute = self.limits.group_rate_per_minute
            if per_minute is None:
                return None
            rate = per_minute / 60.0
            burst = float(self.limits.group_burst or max(1, per_minute))
        else:
            if self.limits.per_chat_rate is None:
                return None
            rate = self.limits.per_chat_rate
            burst = float(self.limits.per_chat_burst or max(1.0, rate))
        bucket = self._per_chat.get(chat_id)
        if bucket is None:
            bucket = self._per_chat[chat_id] = TokenBucket(rate, burst, burst, now)
        return bucket
