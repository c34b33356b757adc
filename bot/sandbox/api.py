"""The Bot API methods the stand-in simulates, each answering as Telegram does.

Handlers receive parameters already converted by ``spec.py`` and either return the
``result`` of ``{"ok": true, "result": ...}`` or raise :class:`ApiError`. Texts of the
errors are Telegram's (from the Bot API server and TDLib sources) wherever known.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError
from .html_entities import (
    MAX_CAPTION_LENGTH,
    MAX_MESSAGE_LENGTH,
    MAX_RAW_TEXT_BYTES,
    FormattedText,
    clean_and_trim,
    parse_html,
    utf16_len,
)
from .markup import ParsedMarkup, parse_reply_markup
from .models import CallbackAnswer, MessageRecord, SimUser, StoredFile
from .ratelimit import FloodControl
from .spec import UploadedFile
from .updates import UpdateQueue
from .world import ChatState, World, document_json, is_image, photo_sizes_json

MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_COMMANDS = 100
LONG_POLL_MAX_TIMEOUT = 50
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)
GET_UPDATES_CONFLICT = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance "
    "is running"
)
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
    "delete the webhook first"
)
CHAT_ACTIONS = frozenset(
    {
        "cancel",
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "record_audio",
        "upload_audio",
        "upload_document",
        "choose_sticker",
        "find_location",
        "pick_up_location",
        "record_video_note",
        "upload_video_note",
    }
)
COMMAND_SCOPES = frozenset(
    {
        "default",
        "all_private_chats",
        "all_group_chats",
        "all_chat_administrators",
        "chat",
        "chat_administrators",
        "chat_member",
    }
)
_COMMAND_RE = re.compile(r"[a-z0-9_]+")
_SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]*")
_LANGUAGE_CODE_RE = re.compile(r"[a-z]{2}")


@dataclass
class Call:
    """One API call: its parameters, and notes on what Telegram would silently accept."""

    method: str
    params: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ChatAction:
    chat_id: int
    action: str
    time: float


@dataclass
class WebhookConfig:
    url: str
    secret_token: str | None
    max_connections: int
    allowed_updates: list[str] | None


@dataclass
class IssuedQuery:
    """A callback query the stand-in sent to the bot."""

    user: SimUser
    chat_id: int | None
    message_id: int | None
    data: str | None
    answered: bool = False


class _LongPoll:
    """A parked getUpdates call that a newer one (or setWebhook) can terminate."""

    def __init__(self) -> None:
        self.terminated_with: str | None = None
        self.woken = asyncio.Event()

    def terminate(self, description: str) -> None:
        self.terminated_with = description
        self.woken.set()


Handler = Callable[[Call], Awaitable[Any]]


class BotApi:
    """State the Bot API methods share, and the methods themselves."""

    def __init__(
        self,
        world: World,
        queue: UpdateQueue,
        flood: FloodControl,
        *,
        strict_html: bool = True,
    ) -> None:
        self.world = world
        self.queue = queue
        self.flood = flood
        self.strict_html = strict_html
        self.callback_answers: dict[str, CallbackAnswer] = {}
        self.issued_queries: dict[str, IssuedQuery] = {}
        self.commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self.chat_actions: list[ChatAction] = []
        self.webhook: WebhookConfig | None = None
        self._long_poll: _LongPoll | None = None
        self._shutting_down = False
        self.handlers: dict[str, Handler] = {
            "getme": self.get_me,
            "getupdates": self.get_updates,
            "sendmessage": self.send_message,
            "editmessagetext": self.edit_message_text,
            "editmessagereplymarkup": self.edit_message_reply_markup,
            "answercallbackquery": self.answer_callback_query,
            "deletemessage": self.delete_message,
            "setmycommands": self.set_my_commands,
            "getmycommands": self.get_my_commands,
            "deletemycommands": self.delete_my_commands,
            "senddocument": self.send_document,
            "sendphoto": self.send_photo,
            "sendlocation": self.send_location,
            "sendchataction": self.send_chat_action,
            "getfile": self.get_file,
            "setwebhook": self.set_webhook,
            "deletewebhook": self.delete_webhook,
            "getwebhookinfo": self.get_webhook_info,
            "getchatmember": self.get_chat_member,
            "getchat": self.get_chat,
            "close": self.close,
            "logout": self.log_out,
        }

    async def call(self, call: Call) -> Any:
        handler = self.handlers.get(call.method.lower())
        if handler is None:
            raise ApiError(
                501, f"Not Implemented: the Telegram stand-in does not simulate {call.method}"
            )
        _refuse_unsimulated(call)
        return await handler(call)

    @property
    def long_polling(self) -> bool:
        """Whether a getUpdates call is parked, waiting for updates."""
        return self._long_poll is not None

    def start_serving(self) -> None:
        self._shutting_down = False

    def shut_down(self) -> None:
        """Release a parked getUpdates so the server can stop without waiting for it."""
        self._shutting_down = True
        if self._long_poll is not None:
            self._long_poll.woken.set()
        self.queue.wake_waiters()

    # --- identity and lifecycle --------------------------------------------------------

    async def get_me(self, call: Call) -> dict[str, Any]:
        return self.world.bot_api_user()

    async def close(self, call: Call) -> bool:
        return True

    async def log_out(self, call: Call) -> bool:
        return True

    # --- updates -----------------------------------------------------------------------

    async def get_updates(self, call: Call) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise ApiError(409, WEBHOOK_CONFLICT)
        params = call.params
        offset = params.get("offset", 0)
        limit = min(max(params.get("limit", 100), 1), 100)
        timeout = min(max(params.get("timeout", 0), 0), LONG_POLL_MAX_TIMEOUT)
        if "limit" in params and not 1 <= params["limit"] <= 100:
            call.warnings.append(f"limit={params['limit']} is outside 1-100; Telegram clamps it")
        if offset < 0:
            self.queue.keep_last(-offset)
        elif offset > 0:
            self.queue.confirm_below(offset)
        self.queue.set_allowed_updates(params.get("allowed_updates"))

        updates = self.queue.peek(limit)
        if updates or timeout == 0 or self._shutting_down:
            return updates
        return await self._long_poll_updates(limit, poll_seconds=timeout)

    async def _long_poll_updates(self, limit: int, *, poll_seconds: float) -> list[dict[str, Any]]:
        if self._long_poll is not None:
            self._long_poll.terminate(GET_UPDATES_CONFLICT)
        poll = self._long_poll = _LongPoll()
        deadline = time.monotonic() + poll_seconds
        try:
            while True:
                if poll.terminated_with is not None:
                    raise ApiError(409, poll.terminated_with)
                updates = self.queue.peek(limit)
                remaining = deadline - time.monotonic()
                if updates or remaining <= 0 or self._shutting_down:
                    return updates
                pushed = self.queue.next_push()
                waiters = {
                    asyncio.ensure_future(pushed.wait()),
                    asyncio.ensure_future(poll.woken.wait()),
                }
                try:
                    await asyncio.wait(
                        waiters, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    for waiter in waiters:
                        waiter.cancel()
        finally:
            if self._long_poll is poll:
                self._long_poll = None

    async def set_webhook(self, call: Call) -> bool:
        params = call.params
        url = params.get("url", "")
        if params.get("drop_pending_updates"):
            self.queue.clear()
        if not url:
            self.webhook = None
            return True
        # Telegram insists on HTTPS; plain HTTP is accepted so that a local webhook
        # receiver can be tested without certificates.
        if not re.match(r"https?://[^/\s]+", url):
            raise ApiError.bad_request("invalid webhook URL specified")
        secret = params.get("secret_token")
        if secret is not None and len(secret) > 256:
            raise ApiError.bad_request("secret token is too long")
        if secret is not None and not _SECRET_TOKEN_RE.fullmatch(secret):
            raise ApiError.bad_request("secret token contains unallowed characters")
        self.queue.set_allowed_updates(params.get("allowed_updates"))
        self.webhook = WebhookConfig(
            url=url,
            secret_token=secret,
            max_connections=min(max(params.get("max_connections", 40), 1), 100),
            allowed_updates=params.get("allowed_updates"),
        )
        if self._long_poll is not None:
            self._long_poll.terminate("Conflict: terminated by setWebhook request")
        return True

    async def delete_webhook(self, call: Call) -> bool:
        if call.params.get("drop_pending_updates"):
            self.queue.clear()
        self.webhook = None
        return True

    async def get_webhook_info(self, call: Call) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook.url if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self.queue),
        }
        if self.webhook is not None:
            info["max_connections"] = self.webhook.max_connections
            if self.webhook.allowed_updates:
                info["allowed_updates"] = self.webhook.allowed_updates
        return info

    # --- sending -----------------------------------------------------------------------

    async def send_message(self, call: Call) -> dict[str, Any]:
        params = call.params
        formatted = self._format_text(params, "text", "entities", is_caption=False)
        markup = self._markup(call, inline_only=False)
        state = self._writable_chat(params["chat_id"])
        reply_to = self._reply_target(state, params)
        self._take_flood_token(state)
        record = self.world.new_message(
            state,
            self.world.bot,
            "text",
            _text_content(formatted, "text", "entities"),
            html=params["text"],
            parse_mode=params.get("parse_mode"),
            reply_to=reply_to,
        )
        _apply_markup(record, markup)
        return self.world.message_json(record)

    async def send_document(self, call: Call) -> dict[str, Any]:
        stored = self._input_file(call.params["document"], kind="document")
        return self._send_media(call, "document", stored, document_json(stored))

    async def send_photo(self, call: Call) -> dict[str, Any]:
        stored = self._input_file(call.params["photo"], kind="photo")
        if stored.data and not is_image(stored.data):
            raise ApiError.bad_request("IMAGE_PROCESS_FAILED")
        return self._send_media(call, "photo", stored, photo_sizes_json(self.world, stored))

    def _send_media(self, call: Call, kind: str, stored: StoredFile, media: Any) -> dict[str, Any]:
        params = call.params
        caption = self._format_text(params, "caption", "caption_entities", is_caption=True)
        markup = self._markup(call, inline_only=False)
        state = self._writable_chat(params["chat_id"])
        reply_to = self._reply_target(state, params)
        self._take_flood_token(state)
        content: dict[str, Any] = {kind: media}
        content.update(_text_content(caption, "caption", "caption_entities"))
        record = self.world.new_message(
            state,
            self.world.bot,
            kind,
            content,
            html=params.get("caption"),
            parse_mode=params.get("parse_mode"),
            reply_to=reply_to,
            file=stored,
        )
        _apply_markup(record, markup)
        return self.world.message_json(record)

    async def send_location(self, call: Call) -> dict[str, Any]:
        params = call.params
        latitude, longitude = params["latitude"], params["longitude"]
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise ApiError.bad_request("wrong location specified")
        markup = self._markup(call, inline_only=False)
        state = self._writable_chat(params["chat_id"])
        reply_to = self._reply_target(state, params)
        self._take_flood_token(state)
        location: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
        for key in ("horizontal_accuracy", "live_period", "heading", "proximity_alert_radius"):
            if key in params:
                location[key] = params[key]
        record = self.world.new_message(
            state, self.world.bot, "location", {"location": location}, reply_to=reply_to
        )
        _apply_markup(record, markup)
        return self.world.message_json(record)

    async def send_chat_action(self, call: Call) -> bool:
        action = call.params["action"]
        if action not in CHAT_ACTIONS:
            raise ApiError.bad_request("wrong parameter action in request")
        state = self._writable_chat(call.params["chat_id"])
        self.chat_actions.append(ChatAction(state.chat.id, action, time.time()))
        return True

    # --- editing and deleting ----------------------------------------------------------

    async def edit_message_text(self, call: Call) -> dict[str, Any]:
        params = call.params
        if "rich_message" in params:
            raise ApiError(
                501, "Not Implemented: the Telegram stand-in does not simulate rich_message"
            )
        if "text" not in params:
            raise ApiError.bad_request("message text is empty")
        formatted = self._format_text(params, "text", "entities", is_caption=False)
        markup = self._markup(call, inline_only=True)
        record = self._message_to_edit(params)
        if record.kind != "text":
            raise ApiError.bad_request("there is no text in the message to edit")
        new_content = _text_content(formatted, "text", "entities")
        self._ensure_modified(record, new_content, markup)
        self._take_flood_token(self.world.chats[record.chat.id])
        record.content = new_content
        record.html = params["text"]
        record.parse_mode = params.get("parse_mode")
        _apply_markup(record, markup)
        _mark_edited(record)
        return self.world.message_json(record)

    async def edit_message_reply_markup(self, call: Call) -> dict[str, Any]:
        markup = self._markup(call, inline_only=True)
        record = self._message_to_edit(call.params)
        self._ensure_modified(record, record.content, markup)
        self._take_flood_token(self.world.chats[record.chat.id])
        _apply_markup(record, markup)
        _mark_edited(record)
        return self.world.message_json(record)

    async def delete_message(self, call: Call) -> bool:
        state = self._chat(call.params["chat_id"])
        record = state.messages.get(call.params["message_id"])
        if record is None or record.deleted:
            raise ApiError.bad_request("message to delete not found")
        if state.chat.is_group and record.sender.id != self.world.bot.id and not state.bot_is_admin:
            raise ApiError.bad_request("message can't be deleted")
        record.deleted = True
        return True

    def _message_to_edit(self, params: dict[str, Any]) -> MessageRecord:
        if "inline_message_id" in params:
            # The stand-in never hands out inline message ids, so none can be valid.
            raise ApiError.bad_request("MESSAGE_ID_INVALID")
        if "chat_id" not in params and "message_id" not in params:
            raise ApiError.bad_request("message identifier is not specified")
        if "chat_id" not in params:
            raise ApiError.bad_request("chat_id is empty")
        state = self._chat(params["chat_id"])
        record = state.messages.get(params.get("message_id", 0))
        if record is None or record.deleted:
            raise ApiError.bad_request("message to edit not found")
        if record.sender.id != self.world.bot.id:
            raise ApiError.bad_request("message can't be edited")
        return record

    def _ensure_modified(
        self, record: MessageRecord, new_content: dict[str, Any], markup: ParsedMarkup | None
    ) -> None:
        new_inline = markup.inline_markup if markup else None
        old_inline = (
            record.reply_markup
            if record.reply_markup and "inline_keyboard" in record.reply_markup
            else None
        )
        if new_content == record.content and new_inline == old_inline:
            raise ApiError.bad_request(NOT_MODIFIED)

    # --- callback queries --------------------------------------------------------------

    async def answer_callback_query(self, call: Call) -> bool:
        params = call.params
        query_id = params["callback_query_id"]
        issued = self.issued_queries.get(query_id)
        if issued is None or issued.answered:
            raise ApiError.bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        text = params.get("text")
        if text is not None and len(text) > MAX_CALLBACK_ANSWER_LENGTH:
            raise ApiError.bad_request("MESSAGE_TOO_LONG")
        if "url" in params:
            raise ApiError.bad_request("URL_INVALID")
        issued.answered = True
        self.callback_answers[query_id] = CallbackAnswer(text, bool(params.get("show_alert")))
        return True

    # --- commands ----------------------------------------------------------------------

    async def set_my_commands(self, call: Call) -> bool:
        params = call.params
        commands = [_checked_command(raw) for raw in params["commands"]]
        if len(commands) > MAX_COMMANDS:
            raise ApiError.bad_request("BOT_COMMANDS_TOO_MUCH")
        key = self._commands_key(params)
        if commands:
            self.commands[key] = commands
        else:
            self.commands.pop(key, None)
        return True

    async def get_my_commands(self, call: Call) -> list[dict[str, str]]:
        return [dict(c) for c in self.commands.get(self._commands_key(call.params), [])]

    async def delete_my_commands(self, call: Call) -> bool:
        self.commands.pop(self._commands_key(call.params), None)
        return True

    def _commands_key(self, params: dict[str, Any]) -> tuple[str, str]:
        language_code = params.get("language_code", "")
        if language_code and not _LANGUAGE_CODE_RE.fullmatch(language_code):
            raise ApiError.bad_request("invalid language code specified")
        return scope_key(self._checked_scope(params.get("scope"))), language_code

    def _checked_scope(self, scope: dict[str, Any] | None) -> dict[str, Any]:
        if scope is None:
            return {"type": "default"}
        kind = scope.get("type")
        if kind not in COMMAND_SCOPES:
            raise ApiError.bad_request("can't parse BotCommandScope: Unsupported type specified")
        checked: dict[str, Any] = {"type": kind}
        if kind in ("chat", "chat_administrators", "chat_member"):
            if "chat_id" not in scope:
                raise ApiError.bad_request(
                    "can't parse BotCommandScope: Can't find field \"chat_id\""
                )
            checked["chat_id"] = self._chat(scope["chat_id"]).chat.id
        if kind == "chat_member":
            user_id = scope.get("user_id")
            if not isinstance(user_id, int) or user_id not in self.world.users:
                raise ApiError.bad_request("user not found")
            checked["user_id"] = user_id
        return checked

    # --- files, chats, members ---------------------------------------------------------

    async def get_file(self, call: Call) -> dict[str, Any]:
        stored = self.world.files.get(call.params["file_id"])
        if stored is None:
            raise ApiError.bad_request("invalid file_id")
        return stored.to_api()

    async def get_chat(self, call: Call) -> dict[str, Any]:
        state = self._chat(call.params["chat_id"])
        return {
            **state.chat.to_api(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    async def get_chat_member(self, call: Call) -> dict[str, Any]:
        state = self._chat(call.params["chat_id"])
        user_id = call.params["user_id"]
        if user_id <= 0:
            raise ApiError.bad_request("invalid user_id specified")
        user = self.world.bot if user_id == self.world.bot.id else self.world.users.get(user_id)
        if user is None:
            raise ApiError.bad_request("user not found")
        if user is self.world.bot and not state.chat.is_group:
            return _chat_member_json(user, "member")
        return _chat_member_json(user, state.status_of(user_id))

    # --- shared checks -----------------------------------------------------------------

    def _chat(self, chat_id: int | str) -> ChatState:
        state = self.world.resolve_chat(chat_id)
        if state is None:
            raise ApiError.bad_request("chat not found")
        return state

    def _writable_chat(self, chat_id: int | str) -> ChatState:
        state = self._chat(chat_id)
        if not state.chat.is_group and state.chat.id in self.world.blocked_by:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if state.chat.is_group and state.status_of(self.world.bot.id) == "left":
            raise ApiError(403, "Forbidden: bot is not a member of the supergroup chat")
        return state

    def _reply_target(self, state: ChatState, params: dict[str, Any]) -> MessageRecord | None:
        reply = params.get("reply_parameters")
        if not reply:
            return None
        message_id = reply.get("message_id")
        target = state.messages.get(message_id) if isinstance(message_id, int) else None
        if "chat_id" in reply and self.world.resolve_chat(reply["chat_id"]) is not state:
            raise ApiError(
                501,
                "Not Implemented: the Telegram stand-in does not simulate replies to other chats",
            )
        if target is None or target.deleted:
            if reply.get("allow_sending_without_reply"):
                return None
            raise ApiError.bad_request("message to be replied not found")
        return target

    def _take_flood_token(self, state: ChatState) -> None:
        retry_after = self.flood.acquire(state.chat.id, is_group=state.chat.is_group)
        if retry_after is not None:
            raise ApiError(
                429,
                f"Too Many Requests: retry after {retry_after}",
                {"retry_after": retry_after},
            )

    def _markup(self, call: Call, *, inline_only: bool) -> ParsedMarkup | None:
        markup = parse_reply_markup(call.params.get("reply_markup"), inline_only=inline_only)
        if markup is not None:
            call.warnings.extend(markup.warnings)
        return markup

    def _format_text(
        self, params: dict[str, Any], text_key: str, entities_key: str, *, is_caption: bool
    ) -> FormattedText:
        text = params.get(text_key, "")
        if len(text.encode("utf-8")) > MAX_RAW_TEXT_BYTES:
            raise ApiError.bad_request("text is too long")
        parse_mode = (params.get("parse_mode") or "").lower()
        if text and parse_mode and parse_mode != "none":
            if parse_mode == "html":
                formatted = parse_html(text, strict_ampersand=self.strict_html)
            elif parse_mode in ("markdown", "markdownv2"):
                # Not parsed: the project uses HTML; the text is stored as sent.
                formatted = FormattedText(text, [])
            else:
                raise ApiError.bad_request("unsupported parse_mode")
        else:
            formatted = FormattedText(text, _checked_entities(params.get(entities_key), text))
        formatted = clean_and_trim(formatted)
        if not formatted.text and not is_caption:
            raise ApiError.bad_request("text must be non-empty")
        limit = MAX_CAPTION_LENGTH if is_caption else MAX_MESSAGE_LENGTH
        if utf16_len(formatted.text) > limit:
            raise ApiError.bad_request(
                "message caption is too long" if is_caption else "message is too long"
            )
        return formatted

    def _input_file(self, value: UploadedFile | str, *, kind: str) -> StoredFile:
        if isinstance(value, UploadedFile):
            if not value.data:
                raise ApiError.bad_request("file must be non-empty")
            content_type = value.content_type
            if content_type in ("", "application/octet-stream"):
                content_type = None
            return self.world.store_file(
                value.data, kind=kind, file_name=value.filename, mime_type=content_type
            )
        existing = self.world.files.get(value)
        if existing is not None:
            return existing
        if re.match(r"https?://", value):
            # No network here: remember the URL, serve no content.
            return self.world.store_file(b"", kind=kind, source_url=value)
        raise ApiError.bad_request("wrong file identifier/HTTP URL specified")


def scope_key(scope: dict[str, Any]) -> str:
    """A stable key for a BotCommandScope."""
    return "|".join(f"{k}={scope[k]}" for k in ("type", "chat_id", "user_id") if k in scope)


def _refuse_unsimulated(call: Call) -> None:
    if "business_connection_id" in call.params:
        raise ApiError(
            501, "Not Implemented: the Telegram stand-in does not simulate business connections"
        )


def _text_content(formatted: FormattedText, text_key: str, entities_key: str) -> dict[str, Any]:
    if not formatted.text:
        return {}
    content: dict[str, Any] = {text_key: formatted.text}
    if formatted.entities:
        content[entities_key] = formatted.entities
    return content


def _apply_markup(record: MessageRecord, markup: ParsedMarkup | None) -> None:
    if markup is None:
        record.reply_markup = None
        record.extra.pop("buttons", None)
        return
    record.reply_markup = markup.markup
    record.extra["buttons"] = markup.buttons
    if markup.keyboard:
        record.extra["keyboard"] = markup.keyboard


def _mark_edited(record: MessageRecord) -> None:
    record.edit_date = int(time.time())
    record.edit_count += 1


def _checked_entities(entities: Any, text: str) -> list[dict[str, Any]]:
    if not entities:
        return []
    checked = []
    for entity in entities:
        if not isinstance(entity, dict):
            raise ApiError.bad_request("can't parse MessageEntity: expected an Object")
        for key in ("type", "offset", "length"):
            if key not in entity:
                raise ApiError.bad_request(f"can't parse MessageEntity: Can't find field \"{key}\"")
        offset, length = entity["offset"], entity["length"]
        if not isinstance(offset, int) or not isinstance(length, int):
            raise ApiError.bad_request(
                'can\'t parse MessageEntity: Field "offset" must be a Number'
            )
        if length > 0 and 0 <= offset and offset + length <= utf16_len(text):
            checked.append(dict(entity))
    return checked


def _checked_command(raw: dict[str, Any]) -> dict[str, str]:
    command = raw.get("command")
    description = raw.get("description")
    if not isinstance(command, str):
        raise ApiError.bad_request(
            'can\'t parse BotCommand: Field "command" must be of type String'
        )
    if not isinstance(description, str):
        raise ApiError.bad_request(
            'can\'t parse BotCommand: Field "description" must be of type String'
        )
    command = command.strip().removeprefix("/")
    description = description.strip()
    if not command:
        raise ApiError.bad_request("command must be non-empty")
    if len(command) > 32:
        raise ApiError.bad_request("command length must not exceed 32")
    if not _COMMAND_RE.fullmatch(command):
        raise ApiError.bad_request("BOT_COMMAND_INVALID")
    if not description:
        raise ApiError.bad_request("command description must be non-empty")
    if len(description) > 256:
        raise ApiError.bad_request("command description length must not exceed 256")
    return {"command": command, "description": description}


_ADMIN_RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_pin_messages",
    "can_manage_topics",
    # Newer than the shipped spec (Bot API 10.1), but required by current clients.
    "can_send_welcome_messages",
)


def _chat_member_json(user: SimUser, status: str) -> dict[str, Any]:
    member: dict[str, Any] = {"status": status, "user": user.to_api()}
    if status == "creator":
        member["is_anonymous"] = False
    elif status == "administrator":
        member.update({"can_be_edited": False, "is_anonymous": False})
        member.update(dict.fromkeys(_ADMIN_RIGHTS, True))
        member["can_promote_members"] = False
    return member
