"""Albums: several photos (or files) a person sends at once arrive as one message, and one
update, each, sharing a `media_group_id`. The person sent one thing and gets one answer.

The first message of an album to be handled takes the album's other messages from the
inbox, where they wait recorded (Telegram hands them over together), and handles them
all; their own updates then find them handled and stay quiet. Which message comes first
does not matter, and nothing waits for a timer. When Telegram splits an album across two
deliveries, the part that came later changes the answer already given (its message id is
kept with the album) instead of giving a second one.

What was handled is kept in the conversation state, next to the draft, and is committed
with it (handled one person's update at a time, see bot/conversation.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from storage.repositories import InboxRepository

# The key in the conversation data: the newest album and its messages handled so far.
ALBUM = "album"


@dataclass
class Album:
    """The part of an album still to handle, from one of its messages."""

    id: str | None
    messages: list[Message]
    # Messages of this album handled (or answered for) earlier; none: it is new.
    handled: list[int] = field(default_factory=list)
    # The bot's message that answered the album's earlier part, to change for a later one.
    answer_id: int | None = None

    @property
    def answered(self) -> bool:
        return bool(self.handled)

    def mark(self, answer_id: int | None = None) -> dict[str, Any]:
        """The conversation data that records these messages as handled (and answered
        by the bot's message `answer_id`)."""
        if self.id is None:
            return {}
        done = self.handled + [
            m.message_id for m in self.messages if m.message_id not in self.handled
        ]
        return {ALBUM: {"id": self.id, "handled": done, "answer": answer_id or self.answer_id}}


async def unhandled_part(session: AsyncSession, state: FSMContext, message: Message) -> Album:
    """`message` with the other messages of its album waiting in the inbox, without those
    handled already (then empty); just `message` when it is not part of an album."""
    group = message.media_group_id
    if group is None:
        return Album(None, [message])
    data = await state.get_data()
    handled, answer_id = _handled(data, group), _answer_id(data, group)
    if message.message_id in handled:
        return Album(group, [], handled, answer_id)
    waiting = await InboxRepository(session).album(message.chat.id, group)
    others = [Message.model_validate(raw) for raw in waiting]
    messages = {m.message_id: m for m in [message, *others] if m.message_id not in handled}
    return Album(group, [messages[key] for key in sorted(messages)], handled, answer_id)


async def answered_before(state: FSMContext, message: Message) -> bool:
    """For a message of an album: whether the album was answered already (then this
    message needs no answer of its own). Records it as answered otherwise."""
    group = message.media_group_id
    if group is None:
        return False
    if _handled(await state.get_data(), group):
        return True
    await state.update_data({ALBUM: {"id": group, "handled": [message.message_id]}})
    return False


def _handled(data: dict[str, Any], group: str) -> list[int]:
    mark = data.get(ALBUM)
    if isinstance(mark, dict) and mark.get("id") == group:
        return [int(item) for item in mark.get("handled") or []]
    return []


def _answer_id(data: dict[str, Any], group: str) -> int | None:
    mark = data.get(ALBUM)
    if isinstance(mark, dict) and mark.get("id") == group and mark.get("answer"):
        return int(mark["answer"])
    return None
