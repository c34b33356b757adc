"""A resident who blocks the bot is marked unreachable, and reachable again on return."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import ChatMemberUpdated

from storage.models import Resident


async def bot_blocked_or_unblocked(event: ChatMemberUpdated, resident: Resident) -> None:
    resident.reachable = event.new_chat_member.status not in {"kicked", "left"}


def build() -> Router:
    router = Router(name="membership")
    router.my_chat_member.filter(F.chat.type == "private")
    router.my_chat_member.register(bot_blocked_or_unblocked)
    return router
