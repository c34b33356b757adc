"""What a failed Bot API call means for a message: wait, try again, or stop.

Shared by the outbox worker and the broadcast sender, so cards, answers, notices and
broadcasts treat Telegram's failures alike.
"""

from __future__ import annotations

import enum

from aiogram.exceptions import (
    TelegramAPIError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)

# Answers of Telegram's front servers when the request did not reach the bot API
# behind them: nothing was done, so sending again cannot make a second copy.
_NOT_PROCESSED = ("bad gateway", "service unavailable", "gateway timeout")
# Connection failures before a request was sent (aiogram names the aiohttp error).
_NOT_SENT = ("ClientConnectorError", "ClientConnectionResetError: Cannot write")


class Verdict(enum.StrEnum):
    WAIT = "wait"  # 429: again after retry_after; not a failed attempt
    AGAIN = "again"  # surely not delivered (a gateway error, no connection): again, back-off
    AMBIGUOUS = "ambiguous"  # may have been delivered (500, a lost answer or a timeout)
    UNREACHABLE = "unreachable"  # 403: the person blocked the bot
    REFUSED = "refused"  # 400 and the like: sending again would be refused again


def verdict(error: BaseException) -> Verdict:
    if isinstance(error, TelegramRetryAfter):
        return Verdict.WAIT
    if isinstance(error, TelegramForbiddenError):
        return Verdict.UNREACHABLE
    if isinstance(error, TelegramServerError):
        if error.message.lower().startswith(_NOT_PROCESSED):
            return Verdict.AGAIN
        return Verdict.AMBIGUOUS
    if isinstance(error, TelegramNetworkError):
        if error.message.startswith(_NOT_SENT):
            return Verdict.AGAIN
        return Verdict.AMBIGUOUS
    if isinstance(error, TelegramAPIError):
        return Verdict.REFUSED
    # A connection problem below aiogram, or our own timeout around the call.
    return Verdict.AMBIGUOUS


# After this many failures that may have delivered, a message is not sent again: at most
# one extra copy can reach the person, and it is counted as uncertain.
AMBIGUOUS_LIMIT = 2
