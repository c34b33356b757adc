"""Fuzzing the running bot with random and malformed updates, drawn and shrunk by Hypothesis.

Each Hypothesis example is a batch of actions (about 20 on average, from 1 to 120) by one
to three fresh residents (random names, Telegram language en, bg, sl, de or none) and a
group they share with the bot:

- texts: odd Unicode (RTL, combining marks, emoji sequences, zero-width joiners), HTML
  and Markdown look-alikes, 1 to 5000 characters (around the bot's limits of 10 and 3000
  and Telegram's 4096), known and unknown commands, /start with random payloads of up to
  64 characters and beyond, /start@civicbot_demo_bot;
- photos and documents with captions, stickers, voice, video, video notes, animations,
  audio, locations, venues, contacts, polls, dice, forwarded, web app and service
  messages; edited messages;
- button presses with forged data: random bytes, every CallbackData factory of
  handlers/keyboards.py well-formed with ids from -3 to beyond 64 bits, and malformed
  (wrong values, a field too few or too many); on the bot's newest message, an older
  one, or a message that does not exist; in the private chat and in the group;
- real button taps, and walks into the drafting states (a real "Suggest" or "Ask"
  button, then the privacy notice), so that what follows hits a draft;
- messages and commands in the group, replies to the bot there, the bot's membership
  of the group changing, a resident blocking and unblocking the bot.

Every batch goes to the real Application (polling loop, HTTP client) through the
Telegram stand-in, one action after another or all at once. Afterwards:

1. nothing was logged at ERROR (the errors router logs every exception it catches;
   aiogram logs what even the errors router let through);
2. every private message a resident wrote got at least one new message from the bot in
   that chat (flood control is off here), and every button press was answered;
3. the stand-in saw no request Telegram would refuse.

A failure is raised as an exception class of its own per kind of bug (the exception and
the project function it came from, or the refused request), so Hypothesis shrinks each
bug separately and reports them all, each with the transcript of its shrunk batch.

SQLite only (see the `database_url` fixture below). The seed is fixed, so CI feeds the
same batches every run (80 of them, about 2,300 updates, in about a minute);
CIVICBOT_FUZZ_RANDOM=1 draws new ones (Hypothesis prints the seed of a failure),
CIVICBOT_FUZZ_EXAMPLES=500 hunts longer, CIVICBOT_FUZZ_SHRINK=0 reports the first
failing batch unshrunk.
"""

from __future__ import annotations

import logging
import os
import random
import re
import shutil
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiogram.filters.callback_data import CallbackData
from aiogram.types import ChatMemberAdministrator, Update
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from bot.config import Settings
from bot.sandbox import InvalidRequest, SentMessage, SimChat, SimUser, TelegramStandIn
from bot.sandbox.simulation import text_content
from handlers import keyboards
from tests.conftest import RunningBot

pytestmark = [
    # Passing takes about a minute; shrinking a bug it found, up to five minutes more.
    pytest.mark.timeout(1200),
    # Hypothesis describes the (big) strategy when it reports a failure: harmless.
    pytest.mark.filterwarnings(
        "ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning"
    ),
]

FUZZ = settings(
    max_examples=int(os.environ.get("CIVICBOT_FUZZ_EXAMPLES", "80")),
    # No "explain" phase: its tracing slows the bot down while shrinking.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target]
    + ([] if os.environ.get("CIVICBOT_FUZZ_SHRINK") == "0" else [Phase.shrink]),
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

BOT_USERNAME = "civicbot_demo_bot"
MAX_RESIDENTS = 3
ANSWER_SECONDS = 5.0
SETTLE_SECONDS = 30.0
# Ids of user messages the stand-in never stored, and of messages that never existed.
RAW_MESSAGE_IDS = 1_000_000
MISSING_MESSAGE_IDS = 500_000_000
PROJECT = Path(__file__).resolve().parents[1]
PROJECT_CODE = tuple(str(PROJECT / part) for part in ("bot", "handlers", "storage"))


# --- what residents write -------------------------------------------------------------

# fmt: off
HTML_LOOKALIKES = [
    "<b>", "</b>", "</i>", "<i>bold?</b>", "<script>alert(1)</script>", "&amp;", "&",
    "&lt;", "&gt", "&#x1F600;", "&#128512;", "&#0;", "&nbsp;", "<", ">", "<<>>", "</",
    "<!-- -->", '<a href="javascript:alert(1)">x</a>', '<a href="tg://user?id=1">',
    "<tg-spoiler>", '<pre><code class="language-python">', "<blockquote expandable>",
    "<br/>", "<u><s>", '"', "'",
]
MARKDOWN_LOOKALIKES = [
    "*bold*", "_italic_", "__underline__", "~strike~", "||spoiler||", "`code`",
    "```\ncode\n```", "[link](http://example.com)", "[me](tg://user?id=1)", "\\", "*", "_",
    "`", "[", "](", "> quote", "**", "#hashtag", "$cashtag",
    "https://t.me/civicbot_demo_bot?start=x",
]
ODD_UNICODE = [
    "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff",  # zero-width characters, BOM
    "\u202e", "\u2066", "\u2069",  # right-to-left override, isolates
    "\u0301", "e\u0301\u0302\u0303\u0304\u0305", "Z̷̢͉a̵͈͝l̶g̸o̷",  # combining marks
    "שלום עולם", "مرحبا بالعالم", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇧🇬🇸🇮", "👍🏽", "😀", "𝕳𝖊𝖑𝖑𝖔",
    "\u00a0", "\u202f", "\u3000", "\r\n", "\n", "\t", "\ufffd", "\uffff",
    "Стара Загора", "Šentjernej",
]
WORDS = [
    "hello", "a proposal for the park", "Кога ще има автобус?", "/start", "/help",
    "@civicbot_demo_bot", "@someone_else", "#1", "   ",
]
COMMANDS = [
    "/start", "/help", "/consultations", "/my", "/language", "/mydata", "/forget",
    "/cancel", f"/start@{BOT_USERNAME}", f"/help@{BOT_USERNAME}", f"/my@{BOT_USERNAME}",
    "/start@other_bot", "/START", "/frobnicate", "/", "//", "/ start", "/start\n",
]
DEEP_LINKS = [
    "stara-zagora-pid-strategy", "stara-zagora-pid-strategy__3-1",
    "stara-zagora-vision-2027", "kazanlak-ipd-2021-2027", "kazanlak-ipd-2021-2027__1",
    "kazanlak-ipd-2021-2027__5-3", "kranj-vprasaj-predlagaj",
    "kazanlak-ipd-2021-2027__9-9", "kazanlak-ipd-2021-2027__", "no-such-consultation",
    "%%%", "-", "__", "a" * 64,
]
# Around the bot's limits (10 and 3000 characters) and Telegram's (4096).
LIMITS = [9, 10, 11, 2999, 3000, 3001, 4095, 4096, 4097, 5000]
# fmt: on

# Telegram drops control characters other than line breaks and tabs from what people
# write, and a lone surrogate cannot even be sent as JSON.
UNICODE = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))


@dataclass(frozen=True)
class Long:
    """A long text: `unit` repeated to `length` characters (cheap to draw and to print)."""

    unit: str
    length: int

    def __str__(self) -> str:
        return (self.unit * (self.length // len(self.unit) + 1))[: self.length]


Text = str | Long

fragments = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(HTML_LOOKALIKES),
    st.sampled_from(MARKDOWN_LOOKALIKES),
    st.sampled_from(ODD_UNICODE),
    st.text(UNICODE, min_size=1, max_size=12),
)
short_texts = st.lists(fragments, min_size=1, max_size=6).map("".join)
long_texts = st.builds(
    Long, unit=short_texts, length=st.one_of(st.sampled_from(LIMITS), st.integers(1, 5000))
)
payloads = st.one_of(
    st.sampled_from(DEEP_LINKS),
    st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9_-]{65,100}", fullmatch=True),
    short_texts,
)
commands = st.one_of(
    st.sampled_from(COMMANDS),
    st.builds(
        lambda command, payload: f"{command} {payload}",
        st.sampled_from(["/start", f"/start@{BOT_USERNAME}", "/help", "/frobnicate"]),
        payloads,
    ),
    st.from_regex(r"/[A-Za-z0-9_]{1,70}(@[A-Za-z0-9_]{1,40})?", fullmatch=True),
    short_texts.map(lambda text: "/" + text),
)
texts: st.SearchStrategy[Text] = st.one_of(short_texts, commands, long_texts)
# Captions: 1024 characters, 4096 for Telegram Premium.
captions: st.SearchStrategy[Text | None] = st.one_of(
    st.none(),
    short_texts,
    commands,
    st.builds(
        Long,
        unit=short_texts,
        length=st.one_of(st.sampled_from([*LIMITS[:6], 1024]), st.integers(1, 4096)),
    ),
)
names = st.one_of(
    st.sampled_from(["Ana", "Иван", "Špela", "<b>Ana</b> & co", "\u202eevil", "👩‍💻", "_*Ana*_"]),
    st.text(UNICODE, min_size=1, max_size=64).filter(str.strip),
)


# --- forged button data ---------------------------------------------------------------

# fmt: off
KNOWN_FORGERIES = [
    "s:-1:99", "s:1:-1", "s:1:999999", "d:send:nonexistent", "d:agree:", "d:agree",
    "w:proposal:999:0", "w:proposal:1:999", "w:question:0:0", "w:proposal:0:0",
    "w:complaint:0:0", "f:delete", "f:keep", "f:cancel", "my:-3", "my:99999", "l:de",
    "l:en", "l:", "m:draft", "m:home", "m:ask", "ls:999", "c:0", "t:-1",
    "c:9223372036854775808", "s:99999999999999999999:0",
]
WRONG_VALUES = [
    "0", "-0", "-1", "2147483648", "9223372036854775807", "9223372036854775808",
    "-9223372036854775809", "99999999999999999999", "1e3", "0x1F", "１２", "٣", "", " 1",
    "1.5", "nan", "None", "true", "home", "help", "lang", "ask", "mine", "draft", "agree",
    "decline", "send", "edit", "sign", "anon", "cancel", "keep", "delete", "proposal",
    "question", "en", "bg", "sl", "de", "xx", "nonexistent",
]
# Ids and pages: small ones (real rows among them) and the edges of 32 and 64 bits.
EXTREMES = [2**31 - 1, 2**31, 2**63 - 1, 2**63, 10**20, -(2**31) - 1, -(2**63) - 1]
# fmt: on

# Every CallbackData factory of the bot (the list grows with the bot).
FACTORIES = sorted(
    (
        factory
        for factory in vars(keyboards).values()
        if isinstance(factory, type)
        and issubclass(factory, CallbackData)
        and factory is not CallbackData
    ),
    key=lambda factory: factory.__prefix__,
)
integers = st.one_of(st.integers(-3, 60), st.sampled_from(EXTREMES)).map(str)
wrong_values = st.one_of(
    st.integers(-5, 60).map(str), st.sampled_from(WRONG_VALUES), st.text(UNICODE, max_size=8)
)


def field_values(annotation: Any, numbers: st.SearchStrategy[str] = integers) -> Any:
    """Valid values of one CallbackData field, as they appear in callback data."""
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return st.sampled_from([str(member.value) for member in annotation])
    if annotation is bool:
        return st.sampled_from(["1", "0", "true", "false"])
    if annotation is int:
        return numbers
    return st.text(UNICODE, max_size=16).map(lambda text: text.replace(":", ""))


def forged_for(factory: type[CallbackData]) -> st.SearchStrategy[str]:
    """Data of one factory: well-formed (every field a valid value, numbers anything from
    -3 to beyond 64 bits), or malformed (wrong values, a field too few or too many)."""
    prefix = factory.__prefix__
    annotations = [info.annotation for info in factory.model_fields.values()]
    well_formed = st.tuples(*map(field_values, annotations))
    mixed = st.tuples(*(st.one_of(field_values(a), wrong_values) for a in annotations))
    return st.one_of(
        well_formed.map(lambda values: ":".join([prefix, *values])),
        st.builds(
            lambda values, cut, extra: ":".join([prefix, *values[:cut], *extra]),
            mixed,
            st.integers(max(0, len(annotations) - 1), len(annotations)),
            st.lists(wrong_values, max_size=1),
        ),
    )


def out_of_range_for(factory: type[CallbackData]) -> st.SearchStrategy[str]:
    """Well-formed data of a factory, every number at an edge of 32 or 64 bits."""
    extremes = st.sampled_from(EXTREMES).map(str)
    annotations = [info.annotation for info in factory.model_fields.values()]
    return st.tuples(*(field_values(a, extremes) for a in annotations)).map(
        lambda values: ":".join([factory.__prefix__, *values])
    )


def at_most_64_bytes(data: str) -> str:
    """Telegram's limit for callback_data: 1-64 bytes."""
    return data.encode()[:64].decode(errors="ignore") or "x"


callback_data = st.one_of(
    st.sampled_from(KNOWN_FORGERIES),
    st.one_of([forged_for(factory) for factory in FACTORIES]),
    st.one_of(
        [
            out_of_range_for(factory)
            for factory in FACTORIES
            if int in [info.annotation for info in factory.model_fields.values()]
        ]
    ),
    st.binary(min_size=1, max_size=64).map(lambda raw: raw.decode(errors="replace")),
    st.text(UNICODE, min_size=1, max_size=64),
).map(at_most_64_bytes)


@dataclass(frozen=True)
class OnMessage:
    """The message a button press comes from: the bot's newest, the `back`-th before it
    (counting round), or one that does not exist."""

    back: int = 0
    missing: bool = False


press_targets = st.one_of(
    st.builds(OnMessage, back=st.integers(0, 20)), st.just(OnMessage(missing=True))
)


# --- playing a batch ------------------------------------------------------------------


@dataclass
class Fuzz:
    """One batch being played: its residents, their group, and what was observed."""

    standin: TelegramStandIn
    users: list[SimUser]
    group: SimChat
    burst: bool
    updates: int = 0
    queries: dict[str, str] = field(default_factory=dict)  # query id -> what it was
    expected: Counter[int] = field(default_factory=Counter)  # chat id -> answers owed
    problems: list[tuple[str, str]] = field(default_factory=list)  # (kind, details)
    transcript: list[str] = field(default_factory=list)
    written: dict[int, list[int]] = field(default_factory=dict)  # chat id -> message ids
    raw_ids: int = RAW_MESSAGE_IDS
    missing_ids: int = MISSING_MESSAGE_IDS

    def user(self, who: int) -> SimUser:
        return self.users[who % len(self.users)]

    def push(self, payload: dict[str, Any]) -> int:
        """A raw update, checked to be valid Bot API first (else the test is wrong)."""
        Update.model_validate({"update_id": 1, **payload})
        self.updates += 1
        return self.standin.push_update(payload)

    def raw_message(self, user: SimUser, chat: SimChat, content: dict[str, Any]) -> dict[str, Any]:
        self.raw_ids += 1
        return {
            "message_id": self.raw_ids,
            "from": user.to_api(),
            "chat": chat.to_api(),
            "date": int(time.time()),
            **content,
        }

    def bot_message(self, chat: SimUser | SimChat, back: int) -> SentMessage | None:
        shown = self.standin.messages(chat)
        return shown[-1 - back % len(shown)] if shown else None

    def missing_message_id(self) -> int:
        self.missing_ids += 1
        return self.missing_ids

    def remember(self, chat_id: int, update_id: int) -> None:
        """The id of a message a resident sent through the stand-in (to reply to, edit)."""
        try:
            self.written.setdefault(chat_id, []).append(self.standin.message_id_of(update_id))
        except KeyError:
            pass

    async def private(self, user: SimUser, label: str, send: Callable[[], int]) -> None:
        """A message in a resident's private chat: the bot owes it an answer."""
        before = len(self.standin.messages(user))
        self.remember(user.id, send())
        self.updates += 1
        self.expected[user.id] += 1
        if self.burst:
            self.transcript.append(label)
            return
        try:
            await self.standin.wait_for(
                lambda: len(self.standin.messages(user)) > before, ANSWER_SECONDS
            )
        except TimeoutError:
            self.problems.append(("no answer", f"no answer within {ANSWER_SECONDS} s to {label}"))
            self.transcript.append(f"{label}\n      -> (no answer)")
            return
        self.transcript.append(f"{label}\n      -> {self.newest(user)}")

    async def press(self, user: SimUser, label: str, press: Callable[[], str]) -> bool:
        """A button press: the bot owes it an answer (the popup, possibly empty)."""
        query_id = press()
        self.updates += 1
        self.queries[query_id] = label
        if self.burst:
            self.transcript.append(label)
            return True
        try:
            answer = await self.standin.wait_callback_answer(query_id, ANSWER_SECONDS)
        except TimeoutError:
            self.transcript.append(f"{label}\n      -> (not answered)")
            return False
        popup = f" [popup {answer.text!r}]" if answer.text else ""
        self.transcript.append(f"{label}\n      ->{popup} {self.newest(user)}")
        return True

    def newest(self, chat: SimUser | SimChat) -> str:
        """The bot's newest message in a chat, in one line for the transcript."""
        last = self.standin.last_message(chat)
        if last is None:
            return "(nothing)"
        lines = last.text.strip().splitlines()
        first = lines[0] if lines else f"<{last.kind}>"
        return f"#{last.message_id}{' (edited)' if last.edited else ''}: {shorten(first)}"


def shorten(value: object, limit: int = 90) -> str:
    text = repr(str(value))
    return text if len(text) <= limit else f"{text[: limit - 5]}...' ({len(str(value))})"


def who(user: SimUser) -> str:
    return f"{user.first_name!r}({user.language_code})"


class Action:
    """One thing a resident does; `play` feeds it to the bot."""

    async def play(self, fuzz: Fuzz) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class Say(Action):
    """A text in the private chat."""

    resident: int
    text: Text

    async def play(self, fuzz: Fuzz) -> None:
        user = fuzz.user(self.resident)
        text = str(self.text)
        label = f"{who(user)} says {shorten(text)}"
        await fuzz.private(user, label, lambda: fuzz.standin.send_text(user, text))


MEDIA = ["photo", "document", "voice", "sticker", "location", "contact"]


@dataclass(frozen=True)
class Send(Action):
    """A photo or a document (with a caption), a voice note, a sticker, a location or a
    contact, as the stand-in builds them; in the private chat or in the group."""

    resident: int
    kind: str
    caption: Text | None = None
    number: float = 0.0
    name: str = "file.txt"
    in_group: bool = False

    async def play(self, fuzz: Fuzz) -> None:
        user = fuzz.user(self.resident)
        standin = fuzz.standin
        chat = fuzz.group if self.in_group else None
        caption = None if self.caption is None else str(self.caption)

        def send() -> int:
            if self.kind == "photo":
                return standin.send_photo(user, caption=caption, chat=chat)
            if self.kind == "document":
                data = self.name.encode() or b"x"
                return standin.send_document(
                    user, data, filename=self.name, caption=caption, chat=chat
                )
            if self.kind == "voice":
                return standin.send_voice(user, duration=int(abs(self.number)), chat=chat)
            if self.kind == "sticker":
                return standin.send_sticker(user, emoji=self.name[:2] or "👍", chat=chat)
            if self.kind == "location":
                latitude = max(-90.0, min(90.0, self.number))
                longitude = max(-180.0, min(180.0, self.number * 2))
                return standin.send_location(user, latitude, longitude, chat=chat)
            phone = f"+359{int(abs(self.number))}"
            return standin.send_contact(user, phone, first_name=self.name or None, chat=chat)

        captioned = caption and self.kind in ("photo", "document")
        label = f"{who(user)} sends a {self.kind}" + (
            f" with caption {shorten(caption)}" if captioned else ""
        )
        if self.in_group:
            fuzz.transcript.append(f"{label} in the group")
            fuzz.remember(fuzz.group.id, send())
            fuzz.updates += 1
            return
        await fuzz.private(user, label, send)


def file_json(kind: str, number: int) -> dict[str, Any]:
    return {"file_id": f"FUZZ{kind.upper()}{number:08d}", "file_unique_id": f"FZ{number:08d}"}


def raw_content(kind: str, number: int, caption: str | None, user: SimUser) -> dict[str, Any]:
    """Valid Bot API content of the kinds the stand-in has no helper for."""
    file = file_json(kind, number)
    if kind == "video":
        return {"video": {**file, "width": 640, "height": 360, "duration": 5}, "caption": caption}
    if kind == "video_note":
        return {"video_note": {**file, "length": 240, "duration": 3}}
    if kind == "animation":  # Telegram sends an animation as a document too
        return {
            "animation": {**file, "width": 320, "height": 240, "duration": 2},
            "document": {**file, "file_name": "a.gif.mp4", "mime_type": "video/mp4"},
            "caption": caption,
        }
    if kind == "audio":
        return {"audio": {**file, "duration": 180, "title": caption or "song"}}
    if kind == "poll":
        options = [
            {"persistent_id": str(i), "text": option[:100], "voter_count": 0}
            for i, option in enumerate([caption or "yes", "no"])
        ]
        poll = {
            "id": str(number),
            "question": (caption or "?")[:300],
            "options": options,
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": True,
            "type": "regular",
            "allows_multiple_answers": False,
            "allows_revoting": False,
            "members_only": False,
        }
        return {"poll": poll}
    if kind == "dice":
        return {"dice": {"emoji": "🎲", "value": number % 6 + 1}}
    if kind == "venue":  # Telegram sends a venue's location too
        location = {"latitude": 42.4258, "longitude": 25.6345}
        venue = {"location": location, "title": caption or "Town hall", "address": "Square 1"}
        return {"location": location, "venue": venue}
    if kind == "forwarded":
        origin = {"type": "hidden_user", "sender_user_name": caption or "Someone", "date": 1}
        return {"forward_origin": origin, **text_content(caption or "forwarded words")}
    if kind == "web_app_data":
        return {"web_app_data": {"data": caption or "{}", "button_text": "Open"}}
    if kind == "story":
        return {"story": {"chat": {"id": user.id, "type": "private"}, "id": number}}
    if kind == "auto_delete_timer":
        return {"message_auto_delete_timer_changed": {"message_auto_delete_time": 86400}}
    raise AssertionError(kind)


RAW_KINDS = [
    "video", "video_note", "animation", "audio", "poll", "dice", "venue", "forwarded",
    "web_app_data", "story", "auto_delete_timer",
]  # fmt: skip
# Service messages are Telegram's doing, not the resident's: no answer is owed.
SERVICE_KINDS = {"auto_delete_timer"}


@dataclass(frozen=True)
class SendRaw(Action):
    """A kind of message the stand-in has no helper for, as raw Bot API JSON."""

    resident: int
    kind: str
    caption: str | None = None
    number: int = 1

    async def play(self, fuzz: Fuzz) -> None:
        user = fuzz.user(self.resident)
        content = raw_content(self.kind, self.number, self.caption, user)
        content = {key: value for key, value in content.items() if value is not None}
        payload = {"message": fuzz.raw_message(user, fuzz.standin.chat(user), content)}
        Update.model_validate({"update_id": 1, **payload})
        label = f"{who(user)} sends a {self.kind}" + (
            f" ({shorten(self.caption)})" if self.caption else ""
        )
        if self.kind in SERVICE_KINDS:
            fuzz.transcript.append(label)
            fuzz.push(payload)
            return
        await fuzz.private(user, label, lambda: fuzz.standin.push_update(payload))


@dataclass(frozen=True)
class Edit(Action):
    """The resident edits their latest message (or one the bot never saw) into a text, or
    into a photo's caption."""

    resident: int
    text: Text
    as_caption: bool = False

    async def play(self, fuzz: Fuzz) -> None:
        user = fuzz.user(self.resident)
        text = str(self.text)
        content: dict[str, Any] = (
            {"photo": [{**file_json("photo", 1), "width": 90, "height": 90}], "caption": text}
            if self.as_caption
            else text_content(text)
        )
        message = fuzz.raw_message(user, fuzz.standin.chat(user), content)
        message["message_id"] = (fuzz.written.get(user.id) or [1])[-1]
        message["edit_date"] = message["date"]
        fuzz.transcript.append(f"{who(user)} edits a message into {shorten(text)}")
        fuzz.push({"edited_message": message})


@dataclass(frozen=True)
class Press(Action):
    """A button press with forged (or stale) data, in the private chat or in the group."""

    resident: int
    data: str
    target: OnMessage = OnMessage()
    in_group: bool = False

    async def play(self, fuzz: Fuzz) -> None:
        user = fuzz.user(self.resident)
        chat: SimUser | SimChat = fuzz.group if self.in_group else user
        message = None if self.target.missing else fuzz.bot_message(chat, self.target.back)
        message_id = message.message_id if message else fuzz.missing_message_id()
        label = (
            f"{who(user)} presses forged {self.data!r}"
            f"{' in the group' if self.in_group else ''} on message #{message_id}"
            f"{'' if message else ' (missing)'}"
        )
        standin = fuzz.standin
        await fuzz.press(
            user, label, lambda: standin.press_forged(user, chat, self.data, message_id=message_id)
        )


def callback_buttons(message: SentMessage) -> list[str]:
    rows = (message.reply_markup or {}).get("inline_keyboard", [])
    return [raw["callback_data"] for row in rows for raw in row if "callback_data" in raw]


@dataclass(frozen=True)
class Tap(Action):
    """A real button of one of the bot's messages in the private chat."""

    resident: int
    pick: int

    async def play(self, fuzz: Fuzz) -> None:
        user = fuzz.user(self.resident)
        shown = [
            message
            for message in fuzz.standin.messages(user, include_deleted=False)
            if callback_buttons(message)
        ]
        if not shown:
            return
        message = shown[-1 - (self.pick // 8) % len(shown)]
        buttons = callback_buttons(message)
        data = buttons[self.pick % len(buttons)]
        label = f"{who(user)} taps {data!r} on message #{message.message_id}"
        await fuzz.press(user, label, lambda: fuzz.standin.press(user, message, data=data))


# Where a draft can start: a consultation, a section, the Kranj channel, or (empty) the
# general channel through the menu's "Ask or suggest".
WALKS = [
    "stara-zagora-pid-strategy",
    "stara-zagora-pid-strategy__3-1",
    "kranj-vprasaj-predlagaj",
    "",
]


@dataclass(frozen=True)
class Walk(Action):
    """Into the drafting states through real buttons: "Suggest" or "Ask" and, if
    `agree`, past the privacy notice (shown only before a resident's first draft)."""

    resident: int
    link: str
    question: bool = False
    agree: bool = True

    async def play(self, fuzz: Fuzz) -> None:
        user = fuzz.user(self.resident)
        standin = fuzz.standin
        if fuzz.burst:  # the buttons are read from the newest message: let it come first
            await standin.wait_idle(quiet=0.05, timeout=SETTLE_SECONDS)
        command = f"/start {self.link}" if self.link else "/start"
        before = len(standin.messages(user))
        standin.send_text(user, command)
        fuzz.updates += 1
        fuzz.expected[user.id] += 1
        label = f"{who(user)} walks in: says {command!r}"
        try:
            await standin.wait_for(lambda: len(standin.messages(user)) > before, ANSWER_SECONDS)
        except TimeoutError:
            fuzz.problems.append(("no answer", f"no answer within {ANSWER_SECONDS} s to {label}"))
            return
        fuzz.transcript.append(f"{label}\n      -> {fuzz.newest(user)}")
        if not self.link and not await self.tap(fuzz, user, "m:ask"):
            return
        kind = "w:question:" if self.question else "w:proposal:"
        if await self.tap(fuzz, user, kind) and self.agree:
            await self.tap(fuzz, user, "d:agree:")

    async def tap(self, fuzz: Fuzz, user: SimUser, prefix: str) -> bool:
        """The button whose data starts with `prefix` on the newest message, if any."""
        last = fuzz.standin.last_message(user)
        data = (
            next((d for d in callback_buttons(last) if d.startswith(prefix)), None)
            if last
            else None
        )
        if last is None or data is None:
            return False
        label = f"{who(user)} taps {data!r} on message #{last.message_id}"
        burst, fuzz.burst = fuzz.burst, False  # a walk always waits for each answer
        try:
            return await fuzz.press(user, label, lambda: fuzz.standin.press(user, last, data=data))
        finally:
            fuzz.burst = burst


@dataclass(frozen=True)
class InGroup(Action):
    """A text in the group: a command, a mention, chatter; maybe replying to the bot's
    newest message there, or to the resident's own latest one."""

    resident: int
    text: Text
    reply: str | None = None  # "bot" or "own"

    async def play(self, fuzz: Fuzz) -> None:
        user = fuzz.user(self.resident)
        text = str(self.text)
        reply_to: int | None = None
        if self.reply == "bot":
            message = fuzz.bot_message(fuzz.group, 0)
            reply_to = message.message_id if message else None
        elif self.reply == "own" and fuzz.written.get(fuzz.group.id):
            reply_to = fuzz.written[fuzz.group.id][-1]
        fuzz.transcript.append(
            f"{who(user)} says {shorten(text)} in the group"
            + (f" (replying to #{reply_to})" if reply_to else "")
        )
        fuzz.remember(
            fuzz.group.id, fuzz.standin.send_text(user, text, chat=fuzz.group, reply_to=reply_to)
        )
        fuzz.updates += 1


def chat_member(status: str, bot: SimUser) -> dict[str, Any]:
    member: dict[str, Any] = {"status": status, "user": bot.to_api()}
    if status == "kicked":
        member["until_date"] = 0
    elif status == "administrator":  # every right aiogram's model requires, none granted
        for name, info in ChatMemberAdministrator.model_fields.items():
            if name not in member and info.is_required() and info.annotation is bool:
                member[name] = False
    return member


@dataclass(frozen=True)
class Membership(Action):
    """The resident blocks the bot and unblocks it again, or the bot's status in the group
    changes."""

    resident: int
    in_group: bool = False
    old: str = "member"
    new: str = "left"

    async def play(self, fuzz: Fuzz) -> None:
        user = fuzz.user(self.resident)
        if not self.in_group:
            fuzz.transcript.append(f"{who(user)} blocks the bot and unblocks it")
            fuzz.standin.block_bot(user)
            fuzz.standin.unblock_bot(user)
            fuzz.updates += 2
            return
        fuzz.transcript.append(f"the bot's status in the group: {self.old} -> {self.new}")
        bot = fuzz.standin.bot_user
        update = {
            "chat": fuzz.group.to_api(),
            "from": user.to_api(),
            "date": int(time.time()),
            "old_chat_member": chat_member(self.old, bot),
            "new_chat_member": chat_member(self.new, bot),
        }
        fuzz.push({"my_chat_member": update})


resident = st.integers(0, MAX_RESIDENTS - 1)
statuses = st.sampled_from(["member", "left", "kicked", "administrator"])
actions: st.SearchStrategy[Action] = st.one_of(
    st.builds(Say, resident, texts),
    st.builds(Press, resident, callback_data, press_targets),
    st.builds(Tap, resident, st.integers(0, 63)),
    st.builds(Walk, resident, st.sampled_from(WALKS), st.booleans(), st.booleans()),
    st.builds(
        Send,
        resident,
        st.sampled_from(MEDIA),
        captions,
        st.floats(-200, 200, allow_nan=False),
        st.one_of(st.sampled_from(["report.pdf", "<b>x</b>.html", "..", "a/b\\c"]), short_texts),
    ),
    st.builds(
        SendRaw,
        resident,
        st.sampled_from(RAW_KINDS),
        st.one_of(st.none(), short_texts),
        st.integers(1, 10**6),
    ),
    st.builds(Edit, resident, texts, st.booleans()),
    st.builds(
        InGroup,
        resident,
        st.one_of(texts, st.sampled_from(COMMANDS), st.just(f"hey @{BOT_USERNAME}")),
        st.sampled_from([None, "bot", "own"]),
    ),
    st.builds(Send, resident, st.sampled_from(MEDIA), captions, in_group=st.just(True)),
    st.builds(Press, resident, callback_data, press_targets, in_group=st.just(True)),
    st.builds(Membership, resident, st.booleans(), statuses, statuses),
)


@dataclass(frozen=True)
class Resident:
    first_name: str
    language: str | None
    last_name: str | None = None


@dataclass(frozen=True)
class Batch:
    residents: list[Resident]
    group_kind: str
    burst: bool  # all actions at once rather than each after the answer to the last
    actions: list[Action]


batches = st.builds(
    Batch,
    residents=st.lists(
        st.builds(
            Resident,
            names,
            st.sampled_from(["en", "bg", "sl", "de", None]),
            st.one_of(st.none(), names),
        ),
        min_size=1,
        max_size=MAX_RESIDENTS,
    ),
    group_kind=st.sampled_from(["supergroup", "group"]),
    burst=st.booleans(),
    # Chunks of actions rather than one list: batches of about 20 actions, yet a failing
    # batch can shrink down to a single action.
    actions=st.lists(st.lists(actions, min_size=1, max_size=12), min_size=1, max_size=10).map(
        lambda chunks: [action for chunk in chunks for action in chunk]
    ),
)


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """SQLite only, unlike conftest's SQLite and PostgreSQL: the properties are about the
    dispatcher and the handlers, the other end-to-end tests cover PostgreSQL, and one
    database keeps CI time down. In RAM where the machine has /dev/shm: every update
    commits, and an fsync per commit on a disk is a third of the run time."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield f"sqlite+aiosqlite:///{tmp_path / 'civicbot.db'}"
        return
    directory = Path(tempfile.mkdtemp(prefix="civicbot-fuzz-", dir=shm))
    try:
        yield f"sqlite+aiosqlite:///{directory / 'civicbot.db'}"
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def bot_settings(bot_settings: Settings) -> Settings:
    """Flood control off: the fuzz writes far faster than 30 messages a minute, and a
    message over that limit is rightly left unanswered."""
    return bot_settings.model_copy(update={"messages_per_minute": 0})


class ErrorRecords(logging.Handler):
    """Every record at ERROR or above, from any logger (the bot's, aiogram's, the stand-in's)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def logged_errors() -> Iterator[ErrorRecords]:
    handler = ErrorRecords()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


@pytest.fixture
def fed(request: pytest.FixtureRequest) -> Iterator[Counter[str]]:
    """Counts what the test fed the bot, and says so at the end of the test."""
    counts = Counter[str]()
    yield counts
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and counts:
        reporter.write_line(
            f"\nfuzz: {counts['updates']} updates in {counts['batches']} batches", bold=True
        )


# --- judging a batch ------------------------------------------------------------------


class BotBug(AssertionError):
    """A property of the bot failed; subclassed per kind of bug (see `bug`)."""

    kinds: ClassVar[dict[str, type[BotBug]]] = {}


def bug(kind: str) -> type[BotBug]:
    """One exception class per kind of bug, so Hypothesis shrinks and reports each."""
    if kind not in BotBug.kinds:
        name = "Bug_" + re.sub(r"\W+", "_", kind)[:80]
        BotBug.kinds[kind] = type(name, (BotBug,), {"__module__": __name__})
    return BotBug.kinds[kind]


def logged_problem(record: logging.LogRecord) -> tuple[str, str]:
    """(kind, details) of an ERROR record: the exception, and where in the project."""
    if not record.exc_info or record.exc_info[1] is None:
        return f"logged by {record.name}: {record.msg}", record.getMessage()
    error = record.exc_info[1]
    frames = traceback.extract_tb(error.__traceback__)
    ours = [frame for frame in frames if frame.filename.startswith(PROJECT_CODE)]
    where = ours[-1] if ours else (frames[-1] if frames else None)
    place = f"{Path(where.filename).stem}.{where.name}" if where else record.name
    # The project's frames only (the whole traceback is in the captured log).
    stack = [
        f"    {Path(frame.filename).relative_to(PROJECT)}:{frame.lineno} in {frame.name}: "
        f"{frame.line}"
        for frame in ours
    ]
    details = "\n".join([record.getMessage(), *stack, f"    {type(error).__name__}: {error}"])
    return f"{type(error).__name__} in {place}", details


def refused_problem(refused: InvalidRequest) -> tuple[str, str]:
    kind = f"refused {refused.method}: {re.sub(r'[0-9]+', 'N', refused.description)[:80]}"
    details = (
        f"{refused.status} {refused.method}: {refused.description}\n"
        f"      params: {shorten(refused.params, 400)}"
    )
    return kind, details


def refused_since(standin: TelegramStandIn, since: int, burst: bool) -> list[InvalidRequest]:
    """The refused requests since `since`, less those a burst makes unavoidable.

    Two presses of one button in quick succession both carry the message as it was before
    either was handled, so the second edit repeats the first and Telegram answers "not
    modified", which `respond.show` expects and ignores (as does
    test_a_double_tap_on_send_makes_one_submission). A press at a time carries the
    message as it is, so there that refusal is a bug. The tolerated ones are removed, so
    that the running_bot fixture's final check passes.
    """
    new = standin.invalid_requests[since:]
    if not burst:
        return new
    kept = [refused for refused in new if "message is not modified" not in refused.description]
    standin.invalid_requests[since:] = kept
    return kept


async def settle(fuzz: Fuzz, running_bot: RunningBot, messages_before: dict[int, int]) -> None:
    """Until the bot has handled every update of the batch and finished its requests.

    The stand-in's idle (every update fetched, no request for a moment) is not enough
    alone: a handler may wait on a lock without a request. So the app's count of updates
    in flight must reach zero too, and what is still owed gets a last grace.
    """
    standin = fuzz.standin
    assert running_bot.app is not None
    settled_at = time.monotonic()
    try:
        await standin.wait_idle(quiet=0.1, timeout=SETTLE_SECONDS)
        if not await running_bot.app.runner.settled(SETTLE_SECONDS):
            raise TimeoutError(f"updates still in flight after {SETTLE_SECONDS} s")
        settled_at = time.monotonic()
        await standin.wait_for(
            lambda: (
                all(query in standin.callback_answers for query in fuzz.queries)
                and all(
                    len(standin.messages(user)) - messages_before[user.id] >= fuzz.expected[user.id]
                    for user in fuzz.users
                )
            ),
            ANSWER_SECONDS,
        )
    except TimeoutError as error:
        if "condition not met" not in str(error):  # what is still owed is judged below
            fuzz.problems.append(("did not settle", str(error)))
    if time.monotonic() - settled_at > 0.1:  # something came late: let it finish too
        try:
            await standin.wait_idle(timeout=SETTLE_SECONDS)
        except TimeoutError as error:
            fuzz.problems.append(("did not settle", str(error)))


@seed(random.randrange(2**32) if os.environ.get("CIVICBOT_FUZZ_RANDOM") else 20240601)
@FUZZ
@given(batch=st.deferred(lambda: batches))  # deferred: a short repr in Hypothesis' reports
async def test_random_updates_never_break_the_bot(
    batch: Batch,
    standin: TelegramStandIn,
    running_bot: RunningBot,
    logged_errors: ErrorRecords,
    fed: Counter[str],
) -> None:
    users = [
        standin.add_user(r.first_name, last_name=r.last_name, language_code=r.language)
        for r in batch.residents
    ]
    group = standin.add_group("Fuzz <b>&</b> friends", members=users, kind=batch.group_kind)
    fuzz = Fuzz(standin, users, group, batch.burst)
    refused_before = len(standin.invalid_requests)
    messages_before = {user.id: len(standin.messages(user)) for user in users}
    logged_errors.records.clear()
    mode = "all at once" if batch.burst else "one after another"
    fuzz.transcript.append(f"{len(users)} resident(s), {len(batch.actions)} actions, {mode}")

    for action in batch.actions:
        await action.play(fuzz)
    await settle(fuzz, running_bot, messages_before)
    fed.update(updates=fuzz.updates, batches=1)

    problems = list(fuzz.problems)
    problems += [logged_problem(record) for record in logged_errors.records]
    problems += [refused_problem(r) for r in refused_since(standin, refused_before, batch.burst)]
    for query_id, label in fuzz.queries.items():
        if query_id not in standin.callback_answers:
            problems.append(("unanswered button", f"not answered: {label}"))
    for user in users:
        owed = fuzz.expected[user.id]
        sent = len(standin.messages(user)) - messages_before[user.id]
        if sent < owed:
            problems.append(
                ("no answer", f"{who(user)} wrote {owed} messages, the bot sent {sent}")
            )
    if problems:
        kind = problems[0][0]
        details = "\n".join(f"- {kind}: {detail}" for kind, detail in problems)
        transcript = "\n".join(f"  {line}" for line in fuzz.transcript)
        raise bug(kind)(f"{kind}\n\nevery problem of the batch:\n{details}\n\n{transcript}")
