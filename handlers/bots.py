"""Other bots. Telegram can bring a bot's message to a private chat, but a bot is not a
resident: it is not stored, and it is not answered."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import Message


async def ignore(message: Message) -> None:
    """Nothing to say: a bot reads no answer, and two bots answering each other would
    never stop."""


def build() -> Router:
    router = Router(name="bots")
    router.message.filter(F.chat.type == "private", F.from_user.is_bot)
    router.edited_message.filter(F.chat.type == "private", F.from_user.is_bot)
    router.message.register(ignore)
    router.edited_message.register(ignore)
    return router
