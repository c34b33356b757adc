"""The Bot API methods the stand-in simulates, each answering as Telegram does.

Handlers receive parameters already converted by ``spec.py`` and either return the
``result`` of ``{"ok": true, "result": ...}`` or raise :class:`ApiError`. Texts of the
errors are Telegram's (from the Bot API server and TDLib sources) wherever known.
"""

from __future__ import annotations

import asyncio
import copy
import ipaddress
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

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
from .models import CallbackAnswer, MessageRecord, SimUser, StoredFile, WebhookDelivery
from .ratelimit import FloodControl
from .simulation import sticker_json, voice_json
from .spec import ATTACH_PREFIX, UploadedFile
from .updates import UpdateQueue
from .webhook import AnswerHandler, WebhookConfig, WebhookSender, WebhookSettings, is_loopback_host
from .world import (
    DEFAULT_TOPIC_ICON_COLOR,
    ChatState,
    TopicState,
    World,
    document_json,
    is_image,
    photo_sizes_json,
)

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
# Telegram's colours for topic icons (createForumTopic's icon_color).
TOPIC_ICON_COLORS = frozenset({0x6FB9F0, 0xFFD67E, 0xCB86DB, 0x8EEE98, 0xFF93B2, 0xFB6F5F})
MAX_TOPIC_NAME_LENGTH = 128
GENERAL_TOPIC_ID = 1
MAX_ALBUM_SIZE = 10
# TDLib's file types as its error messages name them ("can't use file of type X as Y").
FILE_TYPE_NAMES = {
    "photo": "Photo",
    "document": "Document",
    "voice": "VoiceNote",
    "sticker": "Sticker",
}
# Kinds TDLib treats as interchangeable documents (a voice note's file_id may go to
# sendDocument); photos are a class of their own.
DOCUMENT_CLASS = frozenset({"document", "voice", "sticker"})
# Update types in the order the Bot API lists them (for getWebhookInfo.allowed_updates).
UPDATE_TYPES = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
)
_WEBHOOK_PORTS = frozenset({80, 88, 443, 8443})
_COMMAND_RE = re.compile(r"[a-z0-9_]+")
_SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]*")
_LANGUAGE_CODE_RE = re.compile(r"[a-z]{2}")


@dataclass
class Call:
    """One API call: its parameters, and notes on what Telegram would silently accept.

    ``files`` are all uploaded parts (also those only referenced as ``attach://``);
    a handler may set ``description``, which Telegram adds to some successful answers.
    """

    method: str
    params: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    files: dict[str, UploadedFile] = field(default_factory=dict)
    description: str | None = None


@dataclass(frozen=True)
class ChatAction:
    chat_id: int
    action: str
    time: float
    thread_id: int | None = None


@dataclass
class _AlbumItem:
    """One element of sendMediaGroup's ``media``, parsed."""

    kind: str
    media: UploadedFile | str
    caption: FormattedText
    html: str | None
    parse_mode: str | None


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
        self.webhook_settings = WebhookSettings()
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.webhook_last_error: tuple[int, str] | None = None
        self.on_webhook_activity: Callable[[], None] = lambda: None
        self.on_webhook_answer: AnswerHandler | None = None
        self._webhook_sender: WebhookSender | None = None
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
            "sendvoice": self.send_voice,
            "sendsticker": self.send_sticker,
            "sendmediagroup": self.send_media_group,
            "copymessage": self.copy_message,
            "forwardmessage": self.forward_message,
            "createforumtopic": self.create_forum_topic,
            "editforumtopic": self.edit_forum_topic,
            "closeforumtopic": self.close_forum_topic,
            "reopenforumtopic": self.reopen_forum_topic,
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

    async def stop_webhook_delivery(self) -> None:
        sender, self._webhook_sender = self._webhook_sender, None
        if sender is not None:
            await sender.stop()

    @property
    def webhook_deliveries_in_flight(self) -> int:
        return self._webhook_sender.in_flight if self._webhook_sender else 0

    def redeliver(self, update_id: int) -> None:
        """Deliver an already delivered update again, as Telegram does after a slow answer."""
        if self.webhook is None:
            raise RuntimeError("redelivery needs a webhook (setWebhook); getUpdates never repeats")
        if update_id not in self.queue.history:
            raise KeyError(f"no update {update_id} was ever queued")
        if update_id in self.queue:
            raise ValueError(f"update {update_id} is not delivered yet")
        self.queue.requeue(update_id)

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
        if not url:
            return await self.delete_webhook(call)
        parsed = _parse_webhook_url(url)
        secret = params.get("secret_token")
        if secret is not None and len(secret) > 256:
            raise ApiError.bad_request("secret token is too long")
        if secret is not None and not _SECRET_TOKEN_RE.fullmatch(secret):
            raise ApiError.bad_request("secret token contains unallowed characters")
        _check_webhook_endpoint(*parsed)
        if "certificate" in params:
            raise ApiError(
                501, "Not Implemented: the Telegram stand-in does not simulate custom certificates"
            )
        config = WebhookConfig(
            url=url,
            secret_token=secret or None,
            max_connections=min(max(params.get("max_connections", 40), 1), 100),
            allowed_updates=params.get("allowed_updates"),
        )
        if "max_connections" in params and not 1 <= params["max_connections"] <= 100:
            call.warnings.append(
                f"max_connections={params['max_connections']} is outside 1-100; Telegram clamps it"
            )
        drop = bool(params.get("drop_pending_updates"))
        self.queue.set_allowed_updates(params.get("allowed_updates"))
        if self.webhook is not None and _same_webhook(self.webhook, config) and not drop:
            self.webhook.allowed_updates = config.allowed_updates
            call.description = "Webhook is already set"
            return True
        await self.stop_webhook_delivery()
        if drop:
            self.queue.clear()
        if self._long_poll is not None:
            self._long_poll.terminate("Conflict: terminated by setWebhook request")
        self.webhook = config
        self.webhook_last_error = None
        self._start_webhook_delivery(config)
        call.description = "Webhook was set"
        return True

    async def delete_webhook(self, call: Call) -> bool:
        was_set = self.webhook is not None
        await self.stop_webhook_delivery()
        if call.params.get("drop_pending_updates"):
            self.queue.clear()
        self.webhook = None
        self.webhook_last_error = None
        call.description = "Webhook was deleted" if was_set else "Webhook is already deleted"
        return True

    async def get_webhook_info(self, call: Call) -> dict[str, Any]:
        self.queue.peek(0)  # drop updates the filter excludes, as Telegram never queued them
        info: dict[str, Any] = {
            "url": self.webhook.url if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self.queue),
        }
        if self.webhook_last_error is not None:
            info["last_error_date"], info["last_error_message"] = self.webhook_last_error
        if self.webhook is not None:
            info["max_connections"] = self.webhook.max_connections
            host = _parse_webhook_url(self.webhook.url)[1]
            info["ip_address"] = _ip_address_of(host)
        if self.queue.allowed_updates is not None:
            allowed = self.queue.allowed_updates
            info["allowed_updates"] = [kind for kind in UPDATE_TYPES if kind in allowed] + sorted(
                allowed - set(UPDATE_TYPES)
            )
        return info

    def _start_webhook_delivery(self, config: WebhookConfig) -> None:
        def on_error(message: str) -> None:
            self.webhook_last_error = (int(time.time()), message)

        async def on_answer(
            method: str, params: dict[str, Any], files: dict[str, UploadedFile]
        ) -> None:
            if self.on_webhook_answer is not None:
                await self.on_webhook_answer(method, params, files)

        sender = WebhookSender(
            config,
            self.queue,
            self.webhook_settings,
            self.webhook_deliveries,
            on_activity=self.on_webhook_activity,
            on_error=on_error,
            on_answer=on_answer,
        )
        self._webhook_sender = sender
        sender.start()

    # --- sending -----------------------------------------------------------------------

    async def send_message(self, call: Call) -> dict[str, Any]:
        params = call.params
        formatted = self._format_text(params, "text", "entities", is_caption=False)
        markup = self._markup(call, inline_only=False)
        state, reply_to, thread_id = self._target(call)
        record = self._send(
            state,
            "text",
            _text_content(formatted, "text", "entities"),
            markup,
            reply_to=reply_to,
            thread_id=thread_id,
            html=params["text"],
            parse_mode=params.get("parse_mode"),
        )
        return self.world.message_json(record)

    async def send_document(self, call: Call) -> dict[str, Any]:
        return self._send_file(call, "document", call.params["document"])

    async def send_photo(self, call: Call) -> dict[str, Any]:
        return self._send_file(call, "photo", call.params["photo"])

    async def send_voice(self, call: Call) -> dict[str, Any]:
        return self._send_file(call, "voice", call.params["voice"])

    async def send_sticker(self, call: Call) -> dict[str, Any]:
        return self._send_file(call, "sticker", call.params["sticker"], with_caption=False)

    def _send_file(
        self, call: Call, wanted: str, value: UploadedFile | str, *, with_caption: bool = True
    ) -> dict[str, Any]:
        params = call.params
        caption = (
            self._format_text(params, "caption", "caption_entities", is_caption=True)
            if with_caption
            else FormattedText("", [])
        )
        markup = self._markup(call, inline_only=False)
        state, reply_to, thread_id = self._target(call)
        kind, media, stored = self._media_for(call, value, wanted)
        content: dict[str, Any] = {kind: media}
        if kind != "sticker":  # stickers carry no caption
            content.update(_text_content(caption, "caption", "caption_entities"))
        record = self._send(
            state,
            kind,
            content,
            markup,
            reply_to=reply_to,
            thread_id=thread_id,
            html=params.get("caption") if with_caption else None,
            parse_mode=params.get("parse_mode"),
            file=stored,
        )
        return self.world.message_json(record)

    async def send_location(self, call: Call) -> dict[str, Any]:
        location = _checked_location(call)
        markup = self._markup(call, inline_only=False)
        state, reply_to, thread_id = self._target(call)
        record = self._send(
            state,
            "location",
            {"location": location},
            markup,
            reply_to=reply_to,
            thread_id=thread_id,
        )
        return self.world.message_json(record)

    async def send_media_group(self, call: Call) -> list[dict[str, Any]]:
        items = [self._album_item(raw, call.files) for raw in call.params["media"]]
        state, reply_to, thread_id = self._target(call)
        if not items:
            raise ApiError.bad_request("there are no messages to send")
        if len(items) > MAX_ALBUM_SIZE:
            raise ApiError.bad_request("too many messages to send as an album")
        kinds = {item.kind for item in items}
        if len(kinds) > 1 and "document" in kinds:
            raise ApiError.bad_request("document can't be mixed with other media types")
        if len(items) == 1:
            call.warnings.append("sendMediaGroup with one item; the Bot API asks for 2-10")
        resolved = [self._media_for(call, item.media, item.kind) for item in items]
        if any(kind != item.kind for (kind, _, _), item in zip(resolved, items, strict=True)):
            raise ApiError.bad_request("invalid message content type")
        # An album counts as one message against the flood limits.
        self._take_flood_token(state)
        group_id = self.world.next_media_group_id()
        messages = []
        for item, (kind, media, stored) in zip(items, resolved, strict=True):
            content: dict[str, Any] = {kind: media}
            content.update(_text_content(item.caption, "caption", "caption_entities"))
            record = self.world.new_message(
                state,
                self.world.bot,
                kind,
                content,
                html=item.html,
                parse_mode=item.parse_mode,
                reply_to=reply_to,
                thread_id=thread_id,
                file=stored,
                media_group_id=group_id,
            )
            messages.append(self.world.message_json(record))
        return messages

    def _album_item(self, raw: dict[str, Any], files: dict[str, UploadedFile]) -> _AlbumItem:
        def fail(reason: str) -> ApiError:
            return ApiError.bad_request(f"can't parse InputMedia: {reason}")

        kind = raw.get("type")
        if not isinstance(kind, str):
            raise fail('Can\'t find field "type"')
        media = raw.get("media")
        upload: UploadedFile | str | None = None
        if isinstance(media, str) and media.startswith(ATTACH_PREFIX):
            upload = files.get(media.removeprefix(ATTACH_PREFIX))
        elif isinstance(media, str) and media.strip():
            upload = media.strip()
        try:
            caption = self._format_text(raw, "caption", "caption_entities", is_caption=True)
        except ApiError as error:
            reason = error.description.removeprefix("Bad Request: ")
            if not reason.startswith("can't parse entities"):
                raise
            raise fail(reason[0].upper() + reason[1:]) from None
        if kind == "animation":
            raise fail('type "animation" can\'t be used in sendMediaGroup')
        if kind in ("video", "audio", "live_photo"):
            raise ApiError(
                501, f"Not Implemented: the Telegram stand-in does not simulate {kind} albums"
            )
        if kind not in ("photo", "document"):
            raise fail(f'type "{kind}" is unsupported')
        if upload is None:
            raise fail("media not found")
        return _AlbumItem(kind, upload, caption, raw.get("caption"), raw.get("parse_mode"))

    async def send_chat_action(self, call: Call) -> bool:
        action = call.params["action"]
        if action not in CHAT_ACTIONS:
            raise ApiError.bad_request("wrong parameter action in request")
        state = self._writable_chat(call.params["chat_id"])
        thread_id = self._checked_thread(call, state)
        self.chat_actions.append(ChatAction(state.chat.id, action, time.time(), thread_id))
        return True

    async def forward_message(self, call: Call) -> dict[str, Any]:
        source = self._source_message(call.params, "message to forward")
        if source.service:
            raise ApiError.bad_request("message can't be forwarded")
        state, _, thread_id = self._target(call)
        record = self._send(
            state,
            source.kind,
            copy.deepcopy(source.content),
            None,
            thread_id=thread_id,
            file=source.file,
            forward_origin=source.forward_origin or _origin_of(source),
        )
        return self.world.message_json(record)

    async def copy_message(self, call: Call) -> dict[str, int]:
        params = call.params
        source = self._source_message(params, "message to copy")
        if source.service:
            raise ApiError.bad_request("message can't be copied")
        content = copy.deepcopy(source.content)
        html, parse_mode = None, None
        if "caption" in params or "caption_entities" in params:
            if source.kind in ("photo", "document", "voice"):
                caption = self._format_text(params, "caption", "caption_entities", is_caption=True)
                content.pop("caption", None)
                content.pop("caption_entities", None)
                content.update(_text_content(caption, "caption", "caption_entities"))
                html, parse_mode = params.get("caption"), params.get("parse_mode")
            else:
                call.warnings.append(f"caption for a {source.kind} message (Telegram ignores it)")
        markup = self._markup(call, inline_only=False)
        state, reply_to, thread_id = self._target(call)
        record = self._send(
            state,
            source.kind,
            content,
            markup,
            reply_to=reply_to,
            thread_id=thread_id,
            file=source.file,
            html=html,
            parse_mode=parse_mode,
        )
        return {"message_id": record.message_id}

    def _source_message(self, params: dict[str, Any], what: str) -> MessageRecord:
        state = self._chat(params["from_chat_id"])
        record = state.messages.get(params["message_id"])
        if record is None or record.deleted:
            raise ApiError.bad_request(f"{what} not found")
        return record

    def _send(
        self,
        state: ChatState,
        kind: str,
        content: dict[str, Any],
        markup: ParsedMarkup | None,
        **fields: Any,
    ) -> MessageRecord:
        self._take_flood_token(state)
        record = self.world.new_message(state, self.world.bot, kind, content, **fields)
        _apply_markup(record, markup)
        return record

    # --- forum topics ------------------------------------------------------------------

    async def create_forum_topic(self, call: Call) -> dict[str, Any]:
        params = call.params
        state = self._forum(params["chat_id"])
        if not state.can_manage_topics(self.world.bot.id, bot_id=self.world.bot.id):
            raise ApiError.bad_request("not enough rights to create a topic")
        name = _topic_name(call, params.get("name", ""))
        if not name:
            raise ApiError.bad_request("name must be non-empty")
        color = params.get("icon_color", 0)
        if not 0 <= color <= 0xFFFFFF:
            raise ApiError.bad_request("invalid icon color specified")
        if color == 0:
            color = DEFAULT_TOPIC_ICON_COLOR
        elif color not in TOPIC_ICON_COLORS:
            call.warnings.append(
                f"icon_color {color} is none of the six colours the Bot API allows"
            )
        topic, _ = self.world.create_topic(
            state,
            self.world.bot,
            name,
            icon_color=color,
            icon_custom_emoji_id=params.get("icon_custom_emoji_id") or None,
        )
        return topic.to_api()

    async def edit_forum_topic(self, call: Call) -> bool:
        params = call.params
        state = self._forum(params["chat_id"])
        topic = self._topic_to_change(
            state, params["message_thread_id"], "not enough rights to edit the topic"
        )
        edit_name = "name" in params
        edit_icon = "icon_custom_emoji_id" in params
        name = _topic_name(call, params.get("name", ""))
        if edit_name and not name:
            raise ApiError.bad_request("name must be non-empty")
        if not edit_name and not edit_icon:
            return True
        new_name = name if edit_name else topic.name
        new_icon = (
            (params["icon_custom_emoji_id"] or None) if edit_icon else topic.icon_custom_emoji_id
        )
        if (new_name, new_icon) == (topic.name, topic.icon_custom_emoji_id):
            raise ApiError.bad_request("TOPIC_NOT_MODIFIED")
        edited: dict[str, Any] = {}
        if new_name != topic.name:
            edited["name"] = new_name
        if new_icon != topic.icon_custom_emoji_id:
            edited["icon_custom_emoji_id"] = new_icon or ""
        topic.name, topic.icon_custom_emoji_id = new_name, new_icon
        self._topic_service_message(state, topic, "forum_topic_edited", edited)
        return True

    async def close_forum_topic(self, call: Call) -> bool:
        return self._toggle_topic(call, closed=True)

    async def reopen_forum_topic(self, call: Call) -> bool:
        return self._toggle_topic(call, closed=False)

    def _toggle_topic(self, call: Call, *, closed: bool) -> bool:
        state = self._forum(call.params["chat_id"])
        topic = self._topic_to_change(
            state, call.params["message_thread_id"], "not enough rights to close or open the topic"
        )
        if topic.closed == closed:
            raise ApiError.bad_request("TOPIC_NOT_MODIFIED")
        topic.closed = closed
        kind = "forum_topic_closed" if closed else "forum_topic_reopened"
        self._topic_service_message(state, topic, kind, {})
        return True

    def _forum(self, chat_id: int | str) -> ChatState:
        state = self._writable_chat(chat_id)
        if not state.is_forum:
            raise ApiError.bad_request("the chat is not a forum")
        return state

    def _topic_to_change(self, state: ChatState, thread_id: int, rights_error: str) -> TopicState:
        if thread_id <= 0:
            raise ApiError.bad_request("invalid forum topic identifier specified")
        topic = state.topics.get(thread_id)
        bot_id = self.world.bot.id
        if (
            topic is not None
            and topic.creator_id != bot_id
            and not state.can_manage_topics(bot_id, bot_id=bot_id)
        ):
            raise ApiError.bad_request(rights_error)
        if topic is None:
            raise ApiError.bad_request("TOPIC_ID_INVALID")
        return topic

    def _topic_service_message(
        self, state: ChatState, topic: TopicState, kind: str, body: dict[str, Any]
    ) -> None:
        self.world.new_message(
            state, self.world.bot, kind, {kind: body}, thread_id=topic.thread_id, service=True
        )

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
        if record.sender.id != self.world.bot.id or record.forward_origin or record.service:
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
        member = _chat_member_json(user, state.status_of(user_id))
        if user is self.world.bot and member["status"] == "administrator":
            member["can_manage_topics"] = state.bot_can_manage_topics
        return member

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

    def _target(self, call: Call) -> tuple[ChatState, MessageRecord | None, int | None]:
        """Where a new message goes: the chat, the message it replies to, its forum topic.

        A reply without ``message_thread_id`` goes to the replied message's topic, as
        TDLib sends it; a closed topic takes messages only from those who manage topics.
        """
        state = self._writable_chat(call.params["chat_id"])
        thread_id = self._checked_thread(call, state)
        reply_to = self._reply_target(state, call.params)
        if thread_id is None and reply_to is not None and state.is_forum:
            thread_id = reply_to.thread_id
        topic = state.topics.get(thread_id) if thread_id is not None else None
        bot_id = self.world.bot.id
        if (
            topic is not None
            and topic.closed
            and not state.can_manage_topics(bot_id, bot_id=bot_id)
        ):
            raise ApiError.bad_request("TOPIC_CLOSED")
        return state, reply_to, thread_id

    def _checked_thread(self, call: Call, state: ChatState) -> int | None:
        thread_id = call.params.get("message_thread_id")
        if thread_id is None or thread_id <= 0:  # the Bot API reads a negative id as none
            return None
        if state.is_forum:
            if thread_id == GENERAL_TOPIC_ID or thread_id not in state.topics:
                raise ApiError.bad_request("message thread not found")
            return thread_id
        if not state.chat.is_group:
            raise ApiError.bad_request("message thread not found")
        call.warnings.append(
            "message_thread_id in a group that is not a forum (Telegram ignores it)"
        )
        return None

    def _media_for(
        self, call: Call, value: UploadedFile | str, wanted: str
    ) -> tuple[str, Any, StoredFile]:
        """The file to send as ``wanted`` (photo, document, voice, sticker).

        Returns the kind of message it makes, its media JSON and the stored file. A
        known file_id of another type fails as in TDLib, except that document-like files
        (documents, voice notes, stickers) stand in for each other and keep their kind.
        """
        if isinstance(value, UploadedFile):
            return self._uploaded_media(call, value, wanted)
        existing = self.world.files.get(value)
        if existing is not None:
            real = existing.kind
            if real != wanted and not (real in DOCUMENT_CLASS and wanted in DOCUMENT_CLASS):
                raise ApiError.bad_request(
                    f"can't use file of type {FILE_TYPE_NAMES.get(real, real)} as "
                    f"{FILE_TYPE_NAMES.get(wanted, wanted)}"
                )
            known = self.world.media.get(existing.file_id)
            if known is not None:
                return known[0], copy.deepcopy(known[1]), existing
            return real, self._new_media(call, existing, real), existing
        if re.match(r"https?://", value):
            # No network here: remember the URL, serve no content.
            stored = self.world.store_file(b"", kind=wanted, source_url=value)
            return wanted, self._new_media(call, stored, wanted), stored
        raise ApiError.bad_request("wrong file identifier/HTTP URL specified")

    def _uploaded_media(
        self, call: Call, upload: UploadedFile, wanted: str
    ) -> tuple[str, Any, StoredFile]:
        if not upload.data:
            raise ApiError.bad_request("file must be non-empty")
        kind = wanted
        if wanted == "photo" and not is_image(upload.data):
            raise ApiError.bad_request("IMAGE_PROCESS_FAILED")
        if wanted == "voice" and not _is_voice_audio(upload.data):
            call.warnings.append(
                "the voice note is not OGG/Opus, MP3 or M4A; Telegram sends it as a document"
            )
            kind = "document"
        if wanted == "sticker" and not (
            upload.data[:4] == b"RIFF" and upload.data[8:12] == b"WEBP"
        ):
            raise ApiError(
                501, "Not Implemented: the Telegram stand-in simulates only WEBP sticker uploads"
            )
        content_type = upload.content_type
        if content_type in ("", "application/octet-stream"):
            content_type = None
        stored = self.world.store_file(
            upload.data, kind=kind, file_name=upload.filename, mime_type=content_type
        )
        return kind, self._new_media(call, stored, kind), stored

    def _new_media(self, call: Call, stored: StoredFile, kind: str) -> Any:
        if kind == "photo":
            return photo_sizes_json(self.world, stored)
        if kind == "voice":
            return voice_json(self.world, stored, max(0, call.params.get("duration", 0)))
        if kind == "sticker":
            return sticker_json(self.world, stored, call.params.get("emoji"))
        document = document_json(stored)
        self.world.remember_media("document", document, stored.file_id)
        return document


def scope_key(scope: dict[str, Any]) -> str:
    """A stable key for a BotCommandScope."""
    return "|".join(f"{k}={scope[k]}" for k in ("type", "chat_id", "user_id") if k in scope)


def _checked_location(call: Call) -> dict[str, Any]:
    """sendLocation's Location, checked as TDLib checks it (accuracy silently clamped)."""
    params = call.params
    latitude, longitude = params["latitude"], params["longitude"]
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise ApiError.bad_request("wrong location specified")
    live_period = params.get("live_period", 0)
    if live_period not in (0, 0x7FFFFFFF) and not 60 <= live_period <= 86400:
        raise ApiError.bad_request("wrong live location period specified")
    heading = params.get("heading", 0)
    if heading != 0 and not 1 <= heading <= 360:
        raise ApiError.bad_request("wrong live location heading specified")
    radius = params.get("proximity_alert_radius", 0)
    if not 0 <= radius <= 100000:
        raise ApiError.bad_request("wrong live location proximity alert radius specified")
    location: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    accuracy = params.get("horizontal_accuracy", 0.0)
    if accuracy > 1500 or accuracy < 0:
        call.warnings.append(
            f"horizontal_accuracy {accuracy} is outside 0-1500; Telegram clamps it"
        )
    if accuracy > 0:
        location["horizontal_accuracy"] = min(accuracy, 1500.0)
    if live_period:
        location["live_period"] = live_period
        if heading:
            location["heading"] = heading
        if radius:
            location["proximity_alert_radius"] = radius
    return location


def _is_voice_audio(data: bytes) -> bool:
    """OGG, MP3 or M4A, the formats Telegram shows as a voice note."""
    return (
        data.startswith((b"OggS", b"ID3"))
        or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0)
        or data[4:8] == b"ftyp"
    )


def _origin_of(message: MessageRecord) -> dict[str, Any]:
    """The MessageOrigin of a forward of ``message``, honouring the sender's privacy."""
    sender = message.sender
    if sender.hides_forwards:
        return {"type": "hidden_user", "sender_user_name": sender.full_name, "date": message.date}
    return {"type": "user", "sender_user": sender.to_api(), "date": message.date}


def _topic_name(call: Call, name: str) -> str:
    """TDLib's clean_name: runs of spaces and newlines become one space, 128 characters."""
    cleaned = re.sub(r"[ \n\u00a0]+", " ", name).strip()
    if len(cleaned) > MAX_TOPIC_NAME_LENGTH:
        call.warnings.append(
            f"topic name longer than {MAX_TOPIC_NAME_LENGTH} characters; Telegram truncates it"
        )
        cleaned = cleaned[:MAX_TOPIC_NAME_LENGTH].rstrip()
    return cleaned


def _parse_webhook_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a webhook URL, or Telegram's refusal."""
    try:
        parts = urlsplit(url if "://" in url else f"https://{url}")
        port = parts.port
    except ValueError:
        raise ApiError.bad_request("invalid webhook URL specified") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError.bad_request("invalid webhook URL specified")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _check_webhook_endpoint(scheme: str, host: str, port: int) -> None:
    """Telegram's rules for a public webhook; on loopback the stand-in acts as a local
    Bot API server (``--local``), which allows HTTP and any port."""
    if is_loopback_host(host):
        return
    if scheme != "https":
        raise ApiError.bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    if port not in _WEBHOOK_PORTS:
        raise ApiError.bad_request(
            "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
        )


def _same_webhook(old: WebhookConfig, new: WebhookConfig) -> bool:
    return (old.url, old.secret_token, old.max_connections) == (
        new.url,
        new.secret_token,
        new.max_connections,
    )


def _ip_address_of(host: str) -> str:
    if host.lower() == "localhost":
        return "127.0.0.1"
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return "<unknown>"


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
