"""A local stand-in for the Telegram Bot API: an aiohttp server plus a simulation API.

The bot talks to it over real HTTP, exactly as to ``api.telegram.org`` (point aiogram's
``AiohttpSession`` at ``TelegramAPIServer.from_base(standin.base_url)``). Tests and the
demo drive the other side in-process: they add residents and groups, make residents
write, press buttons and share things, and observe what the bot sent.

Every request is checked against the published Bot API spec (``bot_api_methods.json``)
and Telegram's own rules; whatever a careful bot would not send is listed in
:attr:`TelegramStandIn.invalid_requests`, so an end-to-end test can assert it is empty.
:attr:`TelegramStandIn.faults` makes it misbehave like Telegram over the internet does
(latency, 5xx, 429, hanging calls, dropped connections); see :mod:`bot.sandbox.faults`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, NamedTuple, Self, TypeVar

from aiohttp import web

from .api import BotApi, Call, ChatAction, IssuedQuery, WebhookConfig, scope_key
from .errors import ApiError
from .faults import Faults, Plan
from .models import (
    ApiRequest,
    CallbackAnswer,
    ChatType,
    InvalidRequest,
    MemberStatus,
    MessageRecord,
    SentMessage,
    SimChat,
    SimTopic,
    SimUser,
    StoredFile,
    WebhookDelivery,
)
from .ratelimit import FloodControl, RateLimits
from .simulation import (
    SAMPLE_OGG,
    caption_content,
    contact_content,
    document_content,
    location_content,
    photo_content,
    sample_png,
    sticker_content,
    text_content,
    voice_content,
)
from .spec import BotApiSpec, MethodSpec, UploadedFile, default_spec
from .updates import UpdateQueue
from .webhook import WebhookSettings, is_executed_in_answer
from .world import DEFAULT_TOPIC_ICON_COLOR, ChatState, World

logger = logging.getLogger(__name__)

T = TypeVar("T")
ChatRef = int | SimChat | SimUser
MessageRef = int | SentMessage
ParamsReader = Callable[[], Awaitable[tuple[dict[str, Any], dict[str, UploadedFile]]]]
# Telegram accepts uploads of up to 50 MB.
MAX_REQUEST_BYTES = 50 * 1024 * 1024
_MEMBER_STATUSES = ("creator", "administrator", "member")
_IDLE_POLL_INTERVAL = 0.02
# The status of an injected dropped connection: no HTTP answer at all.
NO_ANSWER = 0


class _Answer(NamedTuple):
    status: int
    payload: dict[str, Any]
    injected: bool = False
    """Whether ``standin.faults`` made this answer (it is not the bot's fault then)."""


class TelegramStandIn:
    """A fake Telegram for one bot (identified by ``token``).

    Rate limits apply to methods that send or edit messages; pass ``None`` to switch one
    off. ``per_chat_burst`` is how many messages a private chat takes back to back before
    ``per_chat_rate`` applies (Telegram tolerates short bursts); the global and group
    limits allow a burst of one window's worth (``global_rate`` messages, or
    ``group_rate_per_minute``). ``strict_html=False`` accepts a bare ``&`` as Telegram does.

    Once the bot calls ``setWebhook`` (``http://`` is allowed for loopback addresses, as
    on a local Bot API server), updates are POSTed to it instead; a failed delivery is
    retried after ``webhook_retry_delay`` seconds, doubling up to
    ``webhook_max_retry_delay``, and an answer slower than ``webhook_timeout`` seconds
    counts as a failure (Telegram waits about 60 s and then retries).
    """

    def __init__(
        self,
        token: str,
        *,
        bot_username: str = "civicbot_demo_bot",
        bot_first_name: str = "Civicbot",
        global_rate: float | None = 30.0,
        per_chat_rate: float | None = 1.0,
        group_rate_per_minute: int | None = 20,
        per_chat_burst: int = 3,
        strict_html: bool = True,
        spec: BotApiSpec | None = None,
        webhook_timeout: float = 60.0,
        webhook_retry_delay: float = 0.1,
        webhook_max_retry_delay: float = 5.0,
    ) -> None:
        self.token = token
        self.bot_user = SimUser(
            id=_bot_id(token),
            first_name=bot_first_name,
            username=bot_username,
            language_code=None,
            is_bot=True,
        )
        self.spec = spec or default_spec()
        self._world = World(self.bot_user)
        self._queue = UpdateQueue()
        self._api = BotApi(
            self._world,
            self._queue,
            FloodControl(
                RateLimits(
                    global_rate=global_rate,
                    per_chat_rate=per_chat_rate,
                    group_rate_per_minute=group_rate_per_minute,
                    per_chat_burst=per_chat_burst,
                )
            ),
            strict_html=strict_html,
        )
        self._api.webhook_settings = WebhookSettings(
            retry_delay=webhook_retry_delay,
            max_retry_delay=webhook_max_retry_delay,
            timeout=webhook_timeout,
        )
        self._api.on_webhook_activity = self._touch
        self._api.on_webhook_answer = self._execute_webhook_answer
        self.requests: list[ApiRequest] = []
        """Every HTTP call to the Bot API, in arrival order."""
        self.invalid_requests: list[InvalidRequest] = []
        """Every 4xx served except 429, plus requests Telegram would silently tolerate."""
        self.too_many_requests = 0
        """How many 429 answers were served (injected ones included)."""
        self.faults = Faults()
        """Faults to inject into Bot API calls; none until configured."""
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._in_flight = 0
        self._last_activity = time.monotonic()
        self._retry_expected_until = 0.0
        self._changed = asyncio.Event()
        self._busy_checks: list[Callable[[], bool]] = []
        self._message_of_update: dict[int, tuple[int, int]] = {}

    # --- server lifecycle --------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0 picks a free port) and return the base URL."""
        if self._runner is not None:
            raise RuntimeError("the stand-in is already running")
        self._api.start_serving()
        runner = web.AppRunner(
            self._build_app(),
            access_log=None,
            handle_signals=False,
            shutdown_timeout=1.0,
            # A client that hangs up (a stopped bot) abandons its long poll; without this
            # the poll would stay parked and its successor would "terminate" it with a
            # 409 that nobody receives.
            handler_cancellation=True,
        )
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        self._base_url = f"http://{_url_host(bound_host)}:{bound_port}"
        return self._base_url

    async def stop(self) -> None:
        """Release any long poll and stop listening. Safe to call twice."""
        if self._runner is None:
            return
        self._api.shut_down()
        await self._api.stop_webhook_delivery()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> Self:
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """E.g. ``http://127.0.0.1:41234``; for ``TelegramAPIServer.from_base``."""
        if self._base_url is None:
            raise RuntimeError("the stand-in is not started")
        return self._base_url

    def set_rate_limits(
        self,
        *,
        global_rate: float | None = 30.0,
        per_chat_rate: float | None = 1.0,
        group_rate_per_minute: int | None = 20,
        per_chat_burst: int = 3,
    ) -> None:
        """Replace the flood limits (and forget what was already spent)."""
        self._api.flood = FloodControl(
            RateLimits(
                global_rate=global_rate,
                per_chat_rate=per_chat_rate,
                group_rate_per_minute=group_rate_per_minute,
                per_chat_burst=per_chat_burst,
            )
        )

    # --- the simulated world -----------------------------------------------------------

    def add_user(
        self,
        first_name: str,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        hides_forwards: bool = False,
        is_bot: bool = False,
    ) -> SimUser:
        """A new resident; their private chat with the bot has the same id as they do.

        ``hides_forwards``: their privacy setting hides their account in forwards, so a
        forward of their message carries only their name (``forward_origin`` hidden_user).
        ``is_bot``: another bot (Telegram marks its messages ``from.is_bot``).
        """
        return self._world.add_user(
            first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
            hides_forwards=hides_forwards,
            is_bot=is_bot,
        )

    def add_group(
        self,
        title: str,
        *,
        members: list[SimUser] | tuple[SimUser, ...] = (),
        admins: list[SimUser] | tuple[SimUser, ...] = (),
        kind: ChatType = "supergroup",
        is_forum: bool = False,
        creator: SimUser | None = None,
        username: str | None = None,
        bot_is_admin: bool = False,
        bot_can_manage_topics: bool = True,
    ) -> SimChat:
        """A group the bot is in; ``members`` are plain members, ``admins`` administrators.

        ``is_forum=True`` makes a supergroup with topics. The bot may create and manage
        topics when it is an administrator with ``bot_can_manage_topics``.
        """
        state = self._world.add_group(
            title, kind=kind, is_forum=is_forum, username=username, bot_is_admin=bot_is_admin
        )
        state.bot_can_manage_topics = bot_can_manage_topics
        for user in members:
            state.members[user.id] = "member"
        for user in admins:
            state.members[user.id] = "administrator"
        if creator is not None:
            state.members[creator.id] = "creator"
        return state.chat

    def set_member_status(self, chat: ChatRef, user: SimUser, status: MemberStatus) -> None:
        """Change a user's membership of a group (e.g. ``"left"``)."""
        state = self._state(chat)
        if not state.chat.is_group:
            raise ValueError("memberships exist only in groups")
        state.members[user.id] = status
        self._touch()

    def block_bot(self, user: SimUser) -> int:
        """The user blocks the bot: sends to them get 403; the bot gets a my_chat_member update."""
        self._world.blocked_by.add(user.id)
        return self._push_my_chat_member(user, old="member", new="kicked")

    def unblock_bot(self, user: SimUser) -> int:
        """The user unblocks (restarts) the bot."""
        self._world.blocked_by.discard(user.id)
        return self._push_my_chat_member(user, old="kicked", new="member")

    def chat(self, chat: ChatRef) -> SimChat:
        """The SimChat for a chat id, a SimChat, or a user (their private chat)."""
        return self._state(chat).chat

    # --- residents act -----------------------------------------------------------------

    def send_text(
        self,
        user: SimUser,
        text: str,
        *,
        chat: ChatRef | None = None,
        reply_to: MessageRef | None = None,
        thread_id: int | None = None,
    ) -> int:
        """The user writes ``text``; returns the update_id.

        ``/command`` and ``/command@botname`` get bot_command entities, as Telegram adds them.
        In a forum, ``thread_id`` picks the topic; a reply goes to the replied message's
        topic. Every ``send_*`` takes ``chat``, ``reply_to`` and ``thread_id`` alike.
        """
        return self._user_message(
            user, chat, "text", text_content(text), reply_to=reply_to, thread_id=thread_id
        )

    def send_photo(
        self,
        user: SimUser,
        *,
        data: bytes | None = None,
        caption: str | None = None,
        chat: ChatRef | None = None,
        reply_to: MessageRef | None = None,
        thread_id: int | None = None,
    ) -> int:
        """The user sends a picture (a tiny PNG unless ``data`` is given)."""
        content, stored = photo_content(self._world, data or sample_png())
        content.update(caption_content(caption))
        return self._user_message(
            user, chat, "photo", content, file=stored, reply_to=reply_to, thread_id=thread_id
        )

    def send_album(
        self,
        user: SimUser,
        photos: int,
        *,
        caption: str | None = None,
        chat: ChatRef | None = None,
        group_id: str | None = None,
    ) -> list[int]:
        """The user sends ``photos`` pictures at once (an album, 2 to 10 in a Telegram
        client): one message and one update each, sharing a ``media_group_id``, the
        caption on the first, as Telegram delivers them. Returns the update_ids.
        Sent again with the same ``group_id``, more photos of that album follow, as when
        Telegram hands an album over in two deliveries."""
        if not 2 <= photos <= 10:
            raise ValueError("an album has 2 to 10 items")
        continued = group_id is not None
        group_id = group_id or self._world.next_media_group_id()
        update_ids = []
        for index in range(photos):
            content, stored = photo_content(self._world, sample_png())
            if index == 0 and not continued:
                content.update(caption_content(caption))
            update_ids.append(
                self._user_message(
                    user, chat, "photo", content, file=stored, media_group_id=group_id
                )
            )
        return update_ids

    def send_document(
        self,
        user: SimUser,
        data: bytes = b"Sample document from the sandbox.\n",
        *,
        filename: str = "document.txt",
        mime_type: str | None = None,
        caption: str | None = None,
        chat: ChatRef | None = None,
        reply_to: MessageRef | None = None,
        thread_id: int | None = None,
    ) -> int:
        """The user sends a file; the bot can getFile and download it."""
        content, stored = document_content(self._world, data, filename, mime_type)
        content.update(caption_content(caption))
        return self._user_message(
            user, chat, "document", content, file=stored, reply_to=reply_to, thread_id=thread_id
        )

    def send_voice(
        self,
        user: SimUser,
        *,
        duration: int = 3,
        data: bytes = SAMPLE_OGG,
        chat: ChatRef | None = None,
        reply_to: MessageRef | None = None,
        thread_id: int | None = None,
    ) -> int:
        """The user sends a voice note."""
        content, stored = voice_content(self._world, data, duration)
        return self._user_message(
            user, chat, "voice", content, file=stored, reply_to=reply_to, thread_id=thread_id
        )

    def send_sticker(
        self,
        user: SimUser,
        *,
        emoji: str = "👍",
        chat: ChatRef | None = None,
        reply_to: MessageRef | None = None,
        thread_id: int | None = None,
    ) -> int:
        """The user sends a sticker."""
        content, stored = sticker_content(self._world, emoji)
        return self._user_message(
            user, chat, "sticker", content, file=stored, reply_to=reply_to, thread_id=thread_id
        )

    def send_location(
        self,
        user: SimUser,
        latitude: float = 52.3676,
        longitude: float = 4.9041,
        *,
        chat: ChatRef | None = None,
        reply_to: MessageRef | None = None,
        thread_id: int | None = None,
    ) -> int:
        """The user shares a location."""
        content = location_content(latitude, longitude)
        return self._user_message(
            user, chat, "location", content, reply_to=reply_to, thread_id=thread_id
        )

    def send_contact(
        self,
        user: SimUser,
        phone_number: str = "+15550100",
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        user_id: int | None = None,
        chat: ChatRef | None = None,
        reply_to: MessageRef | None = None,
        thread_id: int | None = None,
    ) -> int:
        """The user shares a contact; by default their own (as a "share phone" button does)."""
        content = contact_content(user, phone_number, first_name, last_name, user_id)
        return self._user_message(
            user, chat, "contact", content, reply_to=reply_to, thread_id=thread_id
        )

    def edit_text(
        self, user: SimUser, message_id: int, new_text: str, *, chat: ChatRef | None = None
    ) -> int:
        """The user edits one of their text messages; the bot gets an edited_message update."""
        state = self._state(chat if chat is not None else user)
        record = state.messages.get(message_id)
        if record is None or record.deleted:
            raise LookupError(f"no message {message_id} in chat {state.chat.id}")
        if record.sender.id != user.id or record.kind != "text":
            raise ValueError(f"message {message_id} is not a text message of {user.first_name}")
        record.content = text_content(new_text)
        record.edit_date = int(time.time())
        record.edit_count += 1
        return self._push({"edited_message": self._world.message_json(record)})

    def create_topic(
        self,
        user: SimUser,
        chat: ChatRef,
        name: str,
        *,
        icon_color: int = DEFAULT_TOPIC_ICON_COLOR,
    ) -> SimTopic:
        """A member who manages topics opens one; the bot gets the forum_topic_created
        service message (whose message_thread_id is the new topic's)."""
        state = self._state(chat)
        if not state.is_forum:
            raise ValueError(f"chat {state.chat.id} is not a forum")
        if not state.can_manage_topics(user.id, bot_id=self.bot_user.id):
            raise ValueError(f"{user.first_name} may not create topics in {state.chat.title!r}")
        topic, record = self._world.create_topic(state, user, name, icon_color=icon_color)
        self._push({"message": self._world.message_json(record)})
        return self._world.topic_snapshot(state, topic)

    def press(
        self,
        user: SimUser,
        message: MessageRef,
        *,
        text: str | None = None,
        data: str | None = None,
        chat: ChatRef | None = None,
    ) -> str:
        """The user presses an inline button of a bot message; returns the callback query id.

        ``message`` is a SentMessage or a message id (in ``chat``, by default the user's
        private chat). The button is picked by its ``text`` and/or ``data`` among the
        buttons the message has *now*.
        """
        record = self._message_record(user, message, chat)
        if record.deleted:
            raise LookupError(f"message {record.message_id} was deleted; its buttons are gone")
        snapshot = self._world.snapshot(record)
        button = snapshot.button(text=text, data=data)
        raw_buttons = [b for row in (record.reply_markup or {})["inline_keyboard"] for b in row]
        raw = raw_buttons[snapshot.flat_buttons.index(button)]
        if "callback_data" not in raw:
            raise ValueError(f"button {button.text!r} sends nothing to the bot: {raw}")
        message = self._world.message_json(record)
        return self._push_callback(user, record.chat.id, raw["callback_data"], message)

    def press_forged(
        self, user: SimUser, chat: ChatRef, data: str, *, message_id: int | None = None
    ) -> str:
        """A callback query with arbitrary ``data`` (stale or forged buttons).

        It points at ``message_id`` (default: the bot's latest message in the chat); a
        message that does not exist is sent as an InaccessibleMessage (``date`` 0).
        """
        state = self._state(chat)
        if message_id is None:
            bot_messages = self._bot_records(state)
            if not bot_messages:
                raise LookupError(
                    f"the bot has sent nothing in chat {state.chat.id}; pass message_id"
                )
            message_id = bot_messages[-1].message_id
        record = state.messages.get(message_id)
        if record is not None and not record.deleted:
            message = self._world.message_json(record)
        else:
            message = {"chat": state.chat.to_api(), "message_id": message_id, "date": 0}
        return self._push_callback(user, state.chat.id, data, message)

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue a raw Update (its ``update_id``, if any, is replaced); returns the update_id."""
        payload = {key: value for key, value in update.items() if key != "update_id"}
        return self._push(payload)

    def message_id_of(self, update_id: int) -> int:
        """The message id of the user message a send_* call created."""
        return self._message_of_update[update_id][1]

    # --- observing ---------------------------------------------------------------------

    def messages(self, chat: ChatRef, *, include_deleted: bool = True) -> list[SentMessage]:
        """The bot's messages in ``chat``, oldest first, as they are now (edits applied)."""
        records = self._bot_records(self._state(chat))
        return [self._world.snapshot(r) for r in records if include_deleted or not r.deleted]

    def last_message(self, chat: ChatRef) -> SentMessage | None:
        """The bot's newest message in ``chat`` that is not deleted."""
        for record in reversed(self._bot_records(self._state(chat))):
            if not record.deleted:
                return self._world.snapshot(record)
        return None

    def message_count(self, chat: ChatRef) -> int:
        """How many messages the bot sent in ``chat`` (deleted ones too): cheaper than
        ``len(messages(chat))``, which copies every one of them."""
        return len(self._bot_records(self._state(chat)))

    def message(self, chat: ChatRef, message_id: int) -> SentMessage:
        """One message of the bot by id (KeyError if the bot did not send it)."""
        record = self._state(chat).messages.get(message_id)
        if record is None or record.sender.id != self.bot_user.id:
            raise KeyError(
                f"the bot sent no message {message_id} in chat {self._state(chat).chat.id}"
            )
        return self._world.snapshot(record)

    def commands(
        self, *, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, str]]:
        """The commands the bot set for ``scope`` (default scope when None) and language."""
        key = (scope_key(scope or {"type": "default"}), language_code)
        return [dict(c) for c in self._api.commands.get(key, [])]

    def topics(self, chat: ChatRef) -> list[SimTopic]:
        """The forum topics of a group (created by the bot or by members), oldest first."""
        state = self._state(chat)
        return [self._world.topic_snapshot(state, t) for t in state.topics.values()]

    def file(self, file_id: str) -> StoredFile:
        """A stored file (uploaded by the bot or sent by a user)."""
        return self._world.files[file_id]

    @property
    def callback_answers(self) -> dict[str, CallbackAnswer]:
        """query id -> (text, show_alert) for every answered callback query."""
        return self._api.callback_answers

    @property
    def chat_actions(self) -> list[ChatAction]:
        """Every sendChatAction, in order."""
        return self._api.chat_actions

    @property
    def webhook(self) -> WebhookConfig | None:
        return self._api.webhook

    @property
    def webhook_deliveries(self) -> list[WebhookDelivery]:
        """Every attempt to deliver an update to the webhook, in order."""
        return self._api.webhook_deliveries

    @property
    def webhook_timeout(self) -> float:
        """Seconds the stand-in waits for the webhook's answer before it counts as failed."""
        return self._api.webhook_settings.timeout

    @webhook_timeout.setter
    def webhook_timeout(self, seconds: float) -> None:
        self._api.webhook_settings.timeout = seconds

    @property
    def webhook_retry_delay(self) -> float:
        """Seconds before the first retry of an update (doubling with every failure)."""
        return self._api.webhook_settings.retry_delay

    @webhook_retry_delay.setter
    def webhook_retry_delay(self, seconds: float) -> None:
        self._api.webhook_settings.retry_delay = seconds

    @property
    def webhook_max_retry_delay(self) -> float:
        return self._api.webhook_settings.max_retry_delay

    @webhook_max_retry_delay.setter
    def webhook_max_retry_delay(self, seconds: float) -> None:
        self._api.webhook_settings.max_retry_delay = seconds

    def redeliver(self, update_id: int) -> None:
        """Deliver an already delivered update once more to the webhook.

        Telegram does so when the bot answered too slowly (or not with a 2xx); a bot
        must not act twice on the same update. Needs a webhook; raises ValueError while
        the update is still undelivered.
        """
        self._api.redeliver(update_id)
        self._touch()

    def sent_update(self, update_id: int) -> dict[str, Any]:
        """An update as the stand-in queued it (a copy)."""
        return copy.deepcopy(self._queue.history[update_id])

    @property
    def is_long_polling(self) -> bool:
        """Whether the bot has a getUpdates call parked here, waiting for updates."""
        return self._api.long_polling

    @property
    def pending_updates(self) -> int:
        """Updates not yet confirmed by the bot (getUpdates offset)."""
        return len(self._queue)

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:  # noqa: ASYNC109
        """Wait until ``predicate()`` is truthy (re-checked after every change); return it."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout} s; {self._diagnosis()}")
            changed = self._changed
            # Not asyncio.wait_for: it makes a task per wait, and every change wakes
            # every waiter (a benchmark's hundreds of residents).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, 0.05)):
                    await changed.wait()

    async def wait_messages(
        self,
        chat: ChatRef,
        count: int,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[SentMessage]:
        """Wait until the bot has sent ``count`` messages in ``chat`` (deleted ones count)."""
        await self.wait_for(lambda: len(self.messages(chat)) >= count, timeout)
        return self.messages(chat)

    async def wait_callback_answer(
        self,
        query_id: str,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> CallbackAnswer:
        """Wait for the bot to answer the callback query ``query_id``."""
        return await self.wait_for(lambda: self.callback_answers.get(query_id), timeout)

    def add_busy_check(self, busy: Callable[[], bool]) -> None:
        """A bot running in the test's own process may say it is still working (say, on
        messages queued after a commit): :meth:`wait_idle` waits for it too."""
        self._busy_checks.append(busy)

    async def wait_idle(
        self,
        *,
        quiet: float = 0.2,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> None:
        """Return once every update is confirmed and no request came for ``quiet`` seconds.

        That is how a test knows the bot finished reacting. After a 429 the bot is
        presumed busy until its ``retry_after`` has passed (it may be sleeping before a
        retry). A handler that computes for longer than ``quiet`` before its first
        request would still fool it: raise ``quiet`` for such a bot.
        """
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            idle = (
                self.pending_updates == 0
                and self._in_flight == 0
                and now >= self._retry_expected_until + quiet
                and now - self._last_activity >= quiet
                and not any(busy() for busy in self._busy_checks)
            )
            if idle:
                return
            if now >= deadline:
                raise TimeoutError(
                    f"the bot did not settle within {timeout} s; {self._diagnosis()}"
                )
            await asyncio.sleep(_IDLE_POLL_INTERVAL)

    # --- HTTP --------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_file)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown_route)
        return app

    async def _handle_api(self, request: web.Request) -> web.Response:
        async def read() -> tuple[dict[str, Any], dict[str, UploadedFile]]:
            return await _read_params(request)

        status, payload = await self._execute(
            request.match_info["method"], read, token_ok=request.match_info["token"] == self.token
        )
        if status == NO_ANSWER:
            return _drop_connection(request)
        return web.json_response(payload, status=status)

    async def _execute_webhook_answer(
        self, method: str, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> None:
        """Run the Bot API call a webhook answered with (nobody sees its result)."""

        async def read() -> tuple[dict[str, Any], dict[str, UploadedFile]]:
            return params, files

        if not is_executed_in_answer(method):
            self.invalid_requests.append(
                InvalidRequest(
                    method,
                    _loggable(params, files),
                    f"{method} in a webhook answer (Telegram ignores it)",
                    200,
                )
            )
            return
        # No HTTP exchange of its own to break: faults do not apply here.
        await self._execute(method, read, token_ok=True, faults=False)

    async def _execute(
        self, name: str, read_params: ParamsReader, *, token_ok: bool, faults: bool = True
    ) -> tuple[int, dict[str, Any]]:
        """Serve one call and log it; status :data:`NO_ANSWER` means: drop the connection."""
        method = self.spec.method(name)
        entry = ApiRequest(method.name if method else name, {}, time.time())
        self.requests.append(entry)
        # A parked long poll is not work in progress: it must not keep wait_idle waiting.
        # An injected delay or hang of getUpdates does not count either: the bot is idle.
        counts_as_work = entry.method != "getUpdates"
        self._in_flight += counts_as_work
        self._touch()
        warnings: list[str] = []
        try:
            answer = await self._serve(method, read_params, token_ok, entry, warnings, faults)
        finally:
            self._in_flight -= counts_as_work
        if answer.status != NO_ANSWER:
            entry.status = answer.status
        self._record_outcome(entry, answer, warnings)
        self._touch()
        return answer.status, answer.payload

    async def _serve(
        self,
        method: MethodSpec | None,
        read_params: ParamsReader,
        token_ok: bool,
        entry: ApiRequest,
        warnings: list[str],
        faults: bool,
    ) -> _Answer:
        try:
            if not token_ok:
                raise ApiError(401, "Unauthorized")
            if method is None:
                raise ApiError(404, "Not Found")
            raw, files = await read_params()
            entry.params = _loggable(raw, files)
            checked = self.spec.check_params(method, raw, files)
            entry.params = _loggable(checked.values, {})
            warnings.extend(f"{problem} (Telegram ignores it)" for problem in checked.ignored)
            call = Call(method.name, checked.values, warnings, files=files)
            plan = self.faults.plan(method.name, checked.values) if faults else None
            if plan is not None:
                return await self._call_with_faults(call, plan, entry)
            return self._success(call, await self._api.call(call))
        except ApiError as error:
            return _Answer(error.error_code, error.to_payload())
        except Exception as error:  # a bug of the stand-in itself: make it loud
            logger.exception("stand-in failed on %s", entry.method)
            description = f"Internal Server Error: stand-in bug: {type(error).__name__}: {error}"
            return _Answer(500, {"ok": False, "error_code": 500, "description": description})

    async def _call_with_faults(self, call: Call, plan: Plan, entry: ApiRequest) -> _Answer:
        """Serve ``call`` as ``plan`` says: delayed, not executed, or executed but answered
        with an error (or no answer at all), as Telegram does over a real network."""
        entry.injected = plan.injected(outcome_applied=False)
        self.faults.count(plan.delay_labels)
        if plan.delay > 0:
            # Inside the in-flight count, so wait_idle knows the bot is waiting on us.
            await asyncio.sleep(plan.delay)
        outcome = plan.outcome
        if outcome is None:
            return self._success(call, await self._api.call(call))
        if outcome.executed:
            # A genuine error (ApiError) propagates: the outcome is not injected then.
            await self._api.call(call)
        entry.injected = plan.injected(outcome_applied=True)
        self.faults.count([outcome.label])
        if outcome.drops_connection:
            return _Answer(NO_ANSWER, {}, injected=True)
        return _Answer(outcome.http_status, outcome.payload(), injected=True)

    @staticmethod
    def _success(call: Call, result: Any) -> _Answer:
        payload: dict[str, Any] = {"ok": True, "result": result}
        if call.description:
            payload["description"] = call.description
        return _Answer(200, payload)

    def _record_outcome(self, entry: ApiRequest, answer: _Answer, warnings: list[str]) -> None:
        status, payload = answer.status, answer.payload
        if status == 429:
            self.too_many_requests += 1
            retry_after = payload["parameters"]["retry_after"]
            self._retry_expected_until = max(
                self._retry_expected_until, time.monotonic() + retry_after
            )
        elif status >= 400 and not answer.injected:
            invalid = InvalidRequest(entry.method, entry.params, payload["description"], status)
            self.invalid_requests.append(invalid)
            logger.warning("invalid request %s: %s", entry.method, payload["description"])
        for warning in warnings:
            self.invalid_requests.append(
                InvalidRequest(entry.method, entry.params, warning, status)
            )
            logger.warning("questionable request %s: %s", entry.method, warning)

    async def _handle_file(self, request: web.Request) -> web.Response:
        stored = self._world.files_by_path.get(request.match_info["file_path"])
        if request.match_info["token"] != self.token or stored is None:
            return _not_found()
        return web.Response(
            body=stored.data, content_type=stored.mime_type or "application/octet-stream"
        )

    async def _handle_unknown_route(self, request: web.Request) -> web.Response:
        return _not_found()

    # --- internals ---------------------------------------------------------------------

    def _touch(self) -> None:
        self._last_activity = time.monotonic()
        # A fresh event per change, so waiters re-check their predicate.
        self._changed.set()
        self._changed = asyncio.Event()

    def _push(self, payload: dict[str, Any]) -> int:
        update_id = self._queue.push(payload)
        self._touch()
        return update_id

    def _state(self, chat: ChatRef) -> ChatState:
        chat_id = chat if isinstance(chat, int) else chat.id
        state = self._world.chats.get(chat_id)
        if state is None:
            raise LookupError(f"no chat {chat_id} in the stand-in (add_user / add_group first)")
        return state

    def _bot_records(self, state: ChatState) -> list[MessageRecord]:
        """The bot's messages, without service messages (topic created, closed ...)."""
        return [
            r for r in state.messages.values() if r.sender.id == self.bot_user.id and not r.service
        ]

    def _user_message(
        self,
        user: SimUser,
        chat: ChatRef | None,
        kind: str,
        content: dict[str, Any],
        *,
        reply_to: MessageRef | None = None,
        file: StoredFile | None = None,
        thread_id: int | None = None,
        media_group_id: str | None = None,
    ) -> int:
        state = self._state(chat if chat is not None else user)
        if state.chat.is_group and state.status_of(user.id) not in _MEMBER_STATUSES:
            raise ValueError(f"{user.first_name} is not a member of {state.chat.title!r}")
        if not state.chat.is_group and state.chat.id != user.id:
            raise ValueError("a user can only write in their own private chat with the bot")
        if user.id in self._world.blocked_by and not state.chat.is_group:
            # Writing to a blocked bot means pressing "Restart" first.
            self.unblock_bot(user)
        target = None
        if reply_to is not None:
            target = state.messages.get(
                reply_to if isinstance(reply_to, int) else reply_to.message_id
            )
            if target is None:
                raise LookupError(f"no message {reply_to} to reply to in chat {state.chat.id}")
        thread_id = self._user_thread(state, user, thread_id, target)
        record = self._world.new_message(
            state,
            user,
            kind,
            content,
            reply_to=target,
            file=file,
            thread_id=thread_id,
            media_group_id=media_group_id,
        )
        update_id = self._push({"message": self._world.message_json(record)})
        self._message_of_update[update_id] = (state.chat.id, record.message_id)
        return update_id

    def _user_thread(
        self,
        state: ChatState,
        user: SimUser,
        thread_id: int | None,
        reply_to: MessageRecord | None,
    ) -> int | None:
        """The topic a user's message lands in, checked like a Telegram client would."""
        if thread_id is not None and not state.is_forum:
            raise ValueError(f"chat {state.chat.id} has no topics")
        if reply_to is not None and state.is_forum:
            if thread_id is not None and thread_id != reply_to.thread_id:
                raise ValueError(
                    f"message {reply_to.message_id} is in topic {reply_to.thread_id}, "
                    f"not {thread_id}; a reply goes to the replied message's topic"
                )
            thread_id = reply_to.thread_id
        if thread_id is None:
            return None
        topic = state.topics.get(thread_id)
        if topic is None:
            raise LookupError(f"no topic {thread_id} in chat {state.chat.id}")
        if topic.closed and not state.can_manage_topics(user.id, bot_id=self.bot_user.id):
            raise ValueError(f"topic {topic.name!r} is closed")
        return thread_id

    def _message_record(
        self, user: SimUser, message: MessageRef, chat: ChatRef | None
    ) -> MessageRecord:
        if isinstance(message, SentMessage):
            state = self._state(message.chat_id)
            message_id = message.message_id
        else:
            state = self._state(chat if chat is not None else user)
            message_id = message
        record = state.messages.get(message_id)
        if record is None or record.sender.id != self.bot_user.id:
            raise LookupError(f"the bot sent no message {message_id} in chat {state.chat.id}")
        if state.chat.is_group and state.status_of(user.id) not in _MEMBER_STATUSES:
            raise ValueError(f"{user.first_name} cannot see chat {state.chat.title!r}")
        return record

    def _push_callback(
        self, user: SimUser, chat_id: int, data: str, message: dict[str, Any]
    ) -> str:
        query_id = self._world.next_callback_query_id()
        self._api.issued_queries[query_id] = IssuedQuery(
            user, chat_id, message.get("message_id"), data
        )
        self._push(
            {
                "callback_query": {
                    "id": query_id,
                    "from": user.to_api(),
                    "message": message,
                    "chat_instance": str(abs(chat_id) * 7919 % 10**18),
                    "data": data,
                }
            }
        )
        return query_id

    def _push_my_chat_member(self, user: SimUser, *, old: str, new: str) -> int:
        now = int(time.time())
        bot = self.bot_user.to_api()
        return self._push(
            {
                "my_chat_member": {
                    "chat": self._state(user).chat.to_api(),
                    "from": user.to_api(),
                    "date": now,
                    "old_chat_member": {"status": old, "user": bot, **_until(old)},
                    "new_chat_member": {"status": new, "user": bot, **_until(new)},
                }
            }
        )

    def _diagnosis(self) -> str:
        recent = "; ".join(f"{r.method}: {r.description}" for r in self.invalid_requests[-3:])
        return (
            f"{self.pending_updates} unconfirmed updates, {self._in_flight} requests in progress, "
            f"{len(self.requests)} requests so far"
            + (f", recent invalid requests: {recent}" if recent else "")
        )


def _until(status: str) -> dict[str, Any]:
    # A "kicked" ChatMember needs until_date; 0 means forever.
    return {"until_date": 0} if status == "kicked" else {}


def _bot_id(token: str) -> int:
    prefix = token.split(":", 1)[0]
    return int(prefix) if prefix.isdigit() else 1_000_000_001


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _drop_connection(request: web.Request) -> web.Response:
    """Hang up without answering, like a connection that breaks mid-call.

    The client sees the server disconnect (aiohttp: ServerDisconnectedError, which aiogram
    raises as TelegramNetworkError). aiohttp then fails to write the returned response to
    the closed transport and drops it quietly (a ConnectionError in finish_response).
    """
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=204)


def _not_found() -> web.Response:
    return web.json_response(
        {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
    )


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    """Query string plus body (JSON, urlencoded or multipart) as Telegram reads them."""
    params: dict[str, Any] = dict(request.query)
    files: dict[str, UploadedFile] = {}
    if not request.can_read_body:
        return params, files
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise ApiError.bad_request("can't parse JSON encoded request") from None
        if not isinstance(body, dict):
            raise ApiError.bad_request("JSON object expected as request body")
        params.update(body)
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                files[key] = UploadedFile(
                    key, value.filename, value.content_type, value.file.read()
                )
            else:
                params[key] = value
    return params, files


def _loggable(values: dict[str, Any], files: dict[str, UploadedFile]) -> dict[str, Any]:
    """Parameters for logs: uploads shown as name and size rather than bytes."""
    shown = {
        key: (f"<file {v.filename!r}, {len(v.data)} bytes>" if isinstance(v, UploadedFile) else v)
        for key, v in values.items()
    }
    shown.update({key: f"<file {f.filename!r}, {len(f.data)} bytes>" for key, f in files.items()})
    return shown
