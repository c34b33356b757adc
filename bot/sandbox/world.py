"""The simulated Telegram world: users, chats, memberships, messages and files.

Everything here is plain state plus builders of Bot API JSON; the HTTP side
(``api.py``) and the simulation side (``server.py``) both work on one ``World``.
"""

from __future__ import annotations

import hashlib
import mimetypes
import struct
import time
from dataclasses import dataclass, field
from typing import Any

from .models import (
    Button,
    ChatType,
    MemberStatus,
    MessageRecord,
    SentMessage,
    SimChat,
    SimTopic,
    SimUser,
    StoredFile,
)

_FIRST_USER_ID = 200_000_001
_FIRST_BASIC_GROUP_ID = -500_000_001
_FIRST_SUPERGROUP_ID = -1_001_000_000_001
_FIRST_MEDIA_GROUP_ID = 13_900_000_000_000_000
# The first of the topic icon colours Telegram offers; what a topic gets by default.
DEFAULT_TOPIC_ICON_COLOR = 0x6FB9F0
_FILE_FOLDERS = {
    "document": "documents",
    "photo": "photos",
    "voice": "voice",
    "sticker": "stickers",
}


@dataclass
class TopicState:
    """A forum topic; its id is the id of the service message that created it."""

    thread_id: int
    name: str
    icon_color: int
    icon_custom_emoji_id: str | None
    creator_id: int
    closed: bool = False

    def to_api(self) -> dict[str, Any]:
        """The Bot API ``ForumTopic`` object."""
        topic: dict[str, Any] = {
            "message_thread_id": self.thread_id,
            "name": self.name,
            "icon_color": self.icon_color,
        }
        if self.icon_custom_emoji_id:
            topic["icon_custom_emoji_id"] = self.icon_custom_emoji_id
        return topic


@dataclass
class ChatState:
    """A chat and what happened in it; message ids are per chat, as in Telegram."""

    chat: SimChat
    members: dict[int, MemberStatus] = field(default_factory=dict)
    messages: dict[int, MessageRecord] = field(default_factory=dict)
    next_message_id: int = 1
    bot_is_admin: bool = False
    bot_can_manage_topics: bool = True
    topics: dict[int, TopicState] = field(default_factory=dict)

    @property
    def is_forum(self) -> bool:
        return self.chat.type == "supergroup" and self.chat.is_forum

    def can_manage_topics(self, user_id: int, *, bot_id: int) -> bool:
        """Whether the user (or the bot) may create, edit, close topics and post in closed ones."""
        status = self.status_of(user_id)
        if status == "creator":
            return True
        if status != "administrator":
            return False
        return self.bot_can_manage_topics if user_id == bot_id else True

    def take_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id

    def status_of(self, user_id: int) -> MemberStatus:
        if not self.chat.is_group:
            return "member" if user_id == self.chat.id else "left"
        return self.members.get(user_id, "left")


class World:
    def __init__(self, bot: SimUser) -> None:
        self.bot = bot
        self.users: dict[int, SimUser] = {}
        self.chats: dict[int, ChatState] = {}
        self.files: dict[str, StoredFile] = {}
        self.files_by_path: dict[str, StoredFile] = {}
        self.blocked_by: set[int] = set()
        self._next_user_id = _FIRST_USER_ID
        self._next_basic_group_id = _FIRST_BASIC_GROUP_ID
        self._next_supergroup_id = _FIRST_SUPERGROUP_ID
        self._file_counter = 0
        self._query_counter = 0
        self._media_group_counter = 0
        self.media: dict[str, tuple[str, Any]] = {}
        """file_id -> (message kind, its media JSON) as first sent; photos under every size."""

    # --- users and chats ---------------------------------------------------------------

    def add_user(
        self,
        first_name: str,
        *,
        last_name: str | None,
        username: str | None,
        language_code: str | None,
        hides_forwards: bool = False,
        is_bot: bool = False,
    ) -> SimUser:
        user = SimUser(
            id=self._next_user_id,
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
            is_bot=is_bot,
            hides_forwards=hides_forwards,
        )
        self._next_user_id += 1
        self.users[user.id] = user
        private = SimChat(
            id=user.id,
            type="private",
            username=username,
            first_name=first_name,
            last_name=last_name,
        )
        self.chats[user.id] = ChatState(private)
        return user

    def add_group(
        self,
        title: str,
        *,
        kind: ChatType,
        is_forum: bool,
        username: str | None,
        bot_is_admin: bool,
    ) -> ChatState:
        if kind == "supergroup":
            chat_id = self._next_supergroup_id
            self._next_supergroup_id -= 1
        elif kind == "group":
            chat_id = self._next_basic_group_id
            self._next_basic_group_id -= 1
        else:
            raise ValueError(f"kind must be 'group' or 'supergroup', not {kind!r}")
        if is_forum and kind != "supergroup":
            raise ValueError("only supergroups can be forums")
        chat = SimChat(id=chat_id, type=kind, title=title, username=username, is_forum=is_forum)
        state = ChatState(chat, bot_is_admin=bot_is_admin)
        if is_forum:
            # Message 1 opened the chat; it is also the id of the General topic.
            state.next_message_id = 2
        state.members[self.bot.id] = "administrator" if bot_is_admin else "member"
        self.chats[chat_id] = state
        return state

    def resolve_chat(self, chat_id: int | str) -> ChatState | None:
        """The chat for a ``chat_id`` parameter: a number, or ``@username`` of a group."""
        if isinstance(chat_id, int):
            return self.chats.get(chat_id)
        if chat_id.startswith("@"):
            name = chat_id[1:].lower()
            for state in self.chats.values():
                if state.chat.is_group and (state.chat.username or "").lower() == name:
                    return state
            return None
        try:
            return self.chats.get(int(chat_id))
        except ValueError:
            return None

    def bot_api_user(self) -> dict[str, Any]:
        """getMe's answer: the bot's User object with the bot-only flags."""
        return {
            **self.bot.to_api(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    # --- messages ----------------------------------------------------------------------

    def new_message(
        self,
        state: ChatState,
        sender: SimUser,
        kind: str,
        content: dict[str, Any],
        **fields: Any,
    ) -> MessageRecord:
        record = MessageRecord(
            chat=state.chat,
            message_id=state.take_message_id(),
            sender=sender,
            date=int(time.time()),
            kind=kind,
            content=content,
            **fields,
        )
        state.messages[record.message_id] = record
        return record

    def message_json(self, record: MessageRecord, *, with_reply: bool = True) -> dict[str, Any]:
        """The Bot API ``Message`` object for a stored message."""
        message: dict[str, Any] = {
            "message_id": record.message_id,
            "from": record.sender.to_api(),
            "chat": record.chat.to_api(),
            "date": record.date,
        }
        if record.thread_id is not None:
            message["message_thread_id"] = record.thread_id
            message["is_topic_message"] = True
        if record.forward_origin is not None:
            message["forward_origin"] = record.forward_origin
            message.update(_legacy_forward_fields(record.forward_origin))
        reply_to = self.replied_message(record) if with_reply else None
        if reply_to is not None:
            message["reply_to_message"] = self.message_json(reply_to, with_reply=False)
        if record.edit_date is not None:
            message["edit_date"] = record.edit_date
        if record.media_group_id is not None:
            message["media_group_id"] = record.media_group_id
        message.update(record.content)
        if record.reply_markup is not None and "inline_keyboard" in record.reply_markup:
            message["reply_markup"] = record.reply_markup
        return message

    def replied_message(self, record: MessageRecord) -> MessageRecord | None:
        """What ``reply_to_message`` shows: the explicit reply, else (in a forum topic) the
        service message that created the topic, as the Bot API adds it; never a deleted one."""
        target = record.reply_to
        if (
            target is None
            and record.thread_id is not None
            and record.thread_id != record.message_id
        ):
            state = self.chats.get(record.chat.id)
            target = state.messages.get(record.thread_id) if state else None
        if target is None or target.deleted:
            return None
        return target

    # --- forum topics --------------------------------------------------------------------

    def create_topic(
        self,
        state: ChatState,
        creator: SimUser,
        name: str,
        *,
        icon_color: int = DEFAULT_TOPIC_ICON_COLOR,
        icon_custom_emoji_id: str | None = None,
    ) -> tuple[TopicState, MessageRecord]:
        """Open a topic: a ``forum_topic_created`` service message whose id is the thread id."""
        created: dict[str, Any] = {"name": name, "icon_color": icon_color}
        if icon_custom_emoji_id:
            created["icon_custom_emoji_id"] = icon_custom_emoji_id
        record = self.new_message(
            state, creator, "forum_topic_created", {"forum_topic_created": created}, service=True
        )
        record.thread_id = record.message_id
        topic = TopicState(record.message_id, name, icon_color, icon_custom_emoji_id, creator.id)
        state.topics[topic.thread_id] = topic
        return topic, record

    def topic_snapshot(self, state: ChatState, topic: TopicState) -> SimTopic:
        return SimTopic(
            chat_id=state.chat.id,
            thread_id=topic.thread_id,
            name=topic.name,
            icon_color=topic.icon_color,
            icon_custom_emoji_id=topic.icon_custom_emoji_id,
            is_closed=topic.closed,
            creator_id=topic.creator_id,
        )

    def next_media_group_id(self) -> str:
        self._media_group_counter += 1
        return str(_FIRST_MEDIA_GROUP_ID + self._media_group_counter)

    def snapshot(self, record: MessageRecord) -> SentMessage:
        """A frozen copy of a message as tests see it."""
        text, entities = record.text_and_entities
        markup = record.reply_markup or {}
        buttons: tuple[tuple[Button, ...], ...] = record.extra.get("buttons", ())
        keyboard: tuple[tuple[str, ...], ...] = record.extra.get("keyboard", ())
        location = record.content.get("location")
        return SentMessage(
            chat_id=record.chat.id,
            message_id=record.message_id,
            kind=record.kind,
            date=record.date,
            text=text,
            html=record.html,
            parse_mode=record.parse_mode,
            entities=tuple(dict(e) for e in entities),
            buttons=buttons if "inline_keyboard" in markup else (),
            keyboard=keyboard,
            reply_markup=dict(markup) if markup else None,
            edited=record.edit_count > 0,
            edit_count=record.edit_count,
            deleted=record.deleted,
            reply_to_message_id=record.reply_to.message_id if record.reply_to else None,
            file_id=record.file.file_id if record.file else None,
            filename=record.file.file_name if record.file else None,
            mime_type=record.file.mime_type if record.file else None,
            document=record.file.data if record.file else None,
            location=(location["latitude"], location["longitude"]) if location else None,
            thread_id=record.thread_id,
            media_group_id=record.media_group_id,
            forward_origin=dict(record.forward_origin) if record.forward_origin else None,
        )

    # --- files -------------------------------------------------------------------------

    def store_file(
        self,
        data: bytes,
        *,
        kind: str,
        file_name: str | None = None,
        mime_type: str | None = None,
        source_url: str | None = None,
    ) -> StoredFile:
        self._file_counter += 1
        number = self._file_counter
        digest = hashlib.sha1(data + str(number).encode()).hexdigest()[:12]
        extension = _extension(file_name, mime_type, kind)
        stored = StoredFile(
            file_id=f"SB{kind[:3].upper()}{number:06d}{digest}",
            file_unique_id=f"AgAD{number:06d}",
            file_path=f"{_FILE_FOLDERS.get(kind, 'files')}/file_{number}{extension}",
            data=data,
            file_name=file_name,
            mime_type=mime_type or _guess_mime(file_name),
            source_url=source_url,
            kind=kind,
        )
        self.files[stored.file_id] = stored
        self.files_by_path[stored.file_path] = stored
        return stored

    def next_callback_query_id(self) -> str:
        # Telegram's ids are long decimal strings; these are unique per stand-in.
        self._query_counter += 1
        return str(4_300_000_000_000_000_000 + self._query_counter)

    def remember_media(self, kind: str, media: Any, *file_ids: str) -> None:
        """Remember how a file appears in a message, for sending it again by file_id."""
        for file_id in file_ids:
            self.media[file_id] = (kind, media)


def _legacy_forward_fields(origin: dict[str, Any]) -> dict[str, Any]:
    """The pre-7.0 forward fields the Bot API server still sends beside ``forward_origin``."""
    fields: dict[str, Any] = {"forward_date": origin["date"]}
    if origin["type"] == "user":
        fields["forward_from"] = origin["sender_user"]
    elif origin["type"] == "hidden_user":
        fields["forward_sender_name"] = origin["sender_user_name"]
    return fields


def document_json(stored: StoredFile) -> dict[str, Any]:
    document: dict[str, Any] = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": len(stored.data),
    }
    if stored.file_name:
        document["file_name"] = stored.file_name
    if stored.mime_type:
        document["mime_type"] = stored.mime_type
    return document


def photo_sizes_json(world: World, stored: StoredFile) -> list[dict[str, Any]]:
    """PhotoSize objects, smallest first: a thumbnail plus the original.

    A photo sent again (by the file_id of any of its sizes) keeps the same sizes.
    """
    known = world.media.get(stored.file_id)
    if known is not None and known[0] == "photo":
        return [dict(size) for size in known[1]]
    width, height = image_size(stored.data) or (800, 600)
    scale = min(1.0, 90 / max(width, height, 1))
    thumb = world.store_file(stored.data, kind="photo", mime_type=stored.mime_type)
    sizes = [
        {
            "file_id": thumb.file_id,
            "file_unique_id": thumb.file_unique_id,
            "file_size": len(thumb.data),
            "width": max(1, round(width * scale)),
            "height": max(1, round(height * scale)),
        },
        {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "width": width,
            "height": height,
        },
    ]
    world.remember_media("photo", sizes, thumb.file_id, stored.file_id)
    return [dict(size) for size in sizes]


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG, GIF or JPEG; None for other data."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return width, height
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    return None


def is_image(data: bytes) -> bool:
    """Whether Telegram could process ``data`` as a photo (by its magic bytes)."""
    return (
        image_size(data) is not None
        or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")
        or data.startswith(b"BM")
    )


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    pos = 2
    while pos + 9 < len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        pos += 2 + length
    return None


def _guess_mime(file_name: str | None) -> str | None:
    if not file_name:
        return None
    return mimetypes.guess_type(file_name)[0]


def _extension(file_name: str | None, mime_type: str | None, kind: str) -> str:
    if file_name and "." in file_name:
        return "." + file_name.rsplit(".", 1)[1]
    if mime_type:
        guessed = mimetypes.guess_extension(mime_type)
        if guessed:
            return guessed
    return {"photo": ".jpg", "voice": ".oga", "sticker": ".webp"}.get(kind, "")
