"""In a group the bot does not consult; it points people to the private chat."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message, User

from bot.i18n import Translator


async def point_to_private_chat(message: Message, tr: Translator, bot: Bot) -> None:
    me = await bot.me()
    replied = message.reply_to_message
    if replied is not None and not _is(replied.from_user, me):
        return  # a command in reply to someone else (or to a channel's post) is for them
    text = tr("I answer in a private chat, so that what you send stays between you and me.")
    button = InlineKeyboardButton(text=tr("Open the chat"), url=f"https://t.me/{me.username}?start")
    await message.reply(text, reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]]))


async def mentioned(message: Message, tr: Translator, bot: Bot) -> None:
    me = await bot.me()
    if f"@{me.username}".lower() in (message.text or "").lower():
        await point_to_private_chat(message, tr, bot)


def _is(sender: User | None, me: User) -> bool:
    # A channel's post or a service message may have no sender at all.
    return sender is not None and sender.id == me.id


def build() -> Router:
    router = Router(name="groups")
    # Only a person can open a private chat: not a channel, nor the group posting as itself.
    router.message.filter(F.chat.type.in_({"group", "supergroup"}), F.from_user, ~F.sender_chat)
    router.message.register(
        point_to_private_chat, F.text.startswith("/") | F.reply_to_message.from_user.is_bot
    )
    router.message.register(mentioned, F.text.contains("@"))
    return router
