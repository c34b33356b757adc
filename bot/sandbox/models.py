"""Value objects the stand-in hands to tests: simulated users and chats, the bot's messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

ChatType = Literal["private", "group", "supergroup"]
MemberStatus = Literal["creator", "administrator", "member", "left"]


@dataclass(frozen=True)
class SimUser:
    """A simulated Telegram user (a resident). Their private chat with the bot has their id."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "en"
    is_bot: bool = False
    hides_forwards: bool = False
    """Privacy "forwarded messages: nobody": forwards of their messages name no account."""

    def to_api(self) -> dict[str, Any]:
        """The Bot API ``User`` object."""
        user: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}" if self.last_name else self.first_name


@dataclass(frozen=True)
class SimChat:
    """A simulated chat: a user's private chat with the bot, or a group."""

    id: int
    type: ChatType
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    is_forum: bool = False

    @property
    def is_group(self) -> bool:
        return self.type != "private"

    def to_api(self) -> dict[str, Any]:
        """The Bot API ``Chat`` object."""
        chat: dict[str, Any] = {"id": self.id, "type": self.type}
        for key in ("title", "username", "first_name", "last_name"):
            value = getattr(self, key)
            if value:
                chat[key] = value
        if self.is_forum:
            chat["is_forum"] = True
        return chat


class Button(NamedTuple):
    """An inline button as ``(text, value)``: value is the callback_data, else the URL
    (or the payload of rarer kinds); compare it with a plain 2-tuple in tests."""

    text: str
    value: str | None


class NoSuchButton(LookupError):
    """The message has no inline button matching the given text / callback_data."""


class CallbackAnswer(NamedTuple):
    """What the bot answered to a button press (``answerCallbackQuery``)."""

    text: str | None
    show_alert: bool


@dataclass(frozen=True)
class SentMessage:
    """A snapshot of one message the bot sent, in its current state.

    ``text`` is the plain text (caption for media) after entity parsing; ``html`` is the
    text exactly as the bot sent it (whatever its parse_mode); ``buttons`` are the rows of
    the inline keyboard; ``keyboard`` the rows of a reply keyboard, if any.
    """

    chat_id: int
    message_id: int
    kind: str
    date: int
    text: str = ""
    html: str | None = None
    parse_mode: str | None = None
    entities: tuple[dict[str, Any], ...] = ()
    buttons: tuple[tuple[Button, ...], ...] = ()
    keyboard: tuple[tuple[str, ...], ...] = ()
    reply_markup: dict[str, Any] | None = None
    edited: bool = False
    edit_count: int = 0
    deleted: bool = False
    reply_to_message_id: int | None = None
    file_id: str | None = None
    filename: str | None = None
    mime_type: str | None = None
    document: bytes | None = None
    location: tuple[float, float] | None = None
    thread_id: int | None = None
    """The forum topic (message_thread_id) the message is in; None outside topics."""
    media_group_id: str | None = None
    forward_origin: dict[str, Any] | None = None
    """For a forwarded message, its MessageOrigin (``{"type": "user", ...}``)."""

    @property
    def flat_buttons(self) -> list[Button]:
        """All inline buttons, row after row (how the terminal numbers them)."""
        return [button for row in self.buttons for button in row]

    def button(self, *, text: str | None = None, data: str | None = None) -> Button:
        """The inline button with this label and/or callback_data (NoSuchButton if none)."""
        for candidate in self.flat_buttons:
            if (text is None or candidate.text == text) and (
                data is None or candidate.value == data
            ):
                return candidate
        raise NoSuchButton(
            f"message {self.message_id} has no button with text={text!r} data={data!r}; "
            f"buttons: {self.flat_buttons}"
        )


@dataclass(frozen=True)
class InvalidRequest:
    """A request a careful bot would not make.

    ``status`` is what the stand-in answered: a 4xx (every one but 429 is recorded),
    or 200 when Telegram would have accepted the request anyway (e.g. an unknown
    parameter, which Telegram silently ignores).
    """

    method: str
    params: dict[str, Any]
    description: str
    status: int


@dataclass
class ApiRequest:
    """One HTTP call to the Bot API; ``status`` is set once answered (None while it is in
    progress, if the client hung up first, or if an injected fault dropped the connection)."""

    method: str
    params: dict[str, Any]
    time: float
    status: int | None = None
    injected: str | None = None
    """The faults ``standin.faults`` injected into this call, e.g. ``"error_after:500"`` or
    ``"hang,disconnect_before"`` (plain latency is not listed); None for a normal call."""


@dataclass
class StoredFile:
    """A file the stand-in can serve under ``/file/bot<token>/<file_path>``."""

    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    file_name: str | None = None
    mime_type: str | None = None
    source_url: str | None = None
    kind: str = "document"
    """What the file is to Telegram: photo, document, voice or sticker."""

    def to_api(self) -> dict[str, Any]:
        """The Bot API ``File`` object."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
            "file_path": self.file_path,
        }


@dataclass
class MessageRecord:
    """The stand-in's own, mutable record of any message in a chat (bot's or a user's)."""

    chat: SimChat
    message_id: int
    sender: SimUser
    date: int
    kind: str
    content: dict[str, Any]
    html: str | None = None
    parse_mode: str | None = None
    reply_markup: dict[str, Any] | None = None
    reply_to: MessageRecord | None = None
    edit_date: int | None = None
    edit_count: int = 0
    deleted: bool = False
    file: StoredFile | None = None
    thread_id: int | None = None
    media_group_id: str | None = None
    forward_origin: dict[str, Any] | None = None
    service: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def text_and_entities(self) -> tuple[str, list[dict[str, Any]]]:
        """The message's text (or caption) and its entities."""
        if "text" in self.content:
            return self.content["text"], self.content.get("entities", [])
        return self.content.get("caption", ""), self.content.get("caption_entities", [])


@dataclass(frozen=True)
class SimTopic:
    """A forum topic of a supergroup, as it is now."""

    chat_id: int
    thread_id: int
    name: str
    icon_color: int
    icon_custom_emoji_id: str | None = None
    is_closed: bool = False
    creator_id: int | None = None


class WebhookDelivery(NamedTuple):
    """One attempt to deliver an update to the webhook.

    ``result`` is the HTTP status the webhook answered, or the error Telegram would
    report (e.g. ``"Read timeout expired"``, ``"Connection refused"``).
    """

    update_id: int
    result: int | str
    time: float

    @property
    def ok(self) -> bool:
        return isinstance(self.result, int) and 200 <= self.result <= 299
