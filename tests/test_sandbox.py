"""Tests of the Telegram stand-in itself, over real HTTP (aiogram and raw aiohttp)."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from aiogram.filters import Command, CommandStart
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    CopyTextButton,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from bot.sandbox import (
    NoSuchButton,
    TelegramStandIn,
    parse_html,
    run_terminal_chat,
    utf16_len,
)
from bot.sandbox.simulation import sample_png

TOKEN = "123456:TEST-sandbox-token"


class FastCloseSession(AiohttpSession):
    async def close(self) -> None:
        # aiogram waits 250 ms for TLS connections to wind down; the stand-in is plain HTTP.
        if self._session is not None and not self._session.closed:
            await self._session.close()


@pytest.fixture
async def standin() -> AsyncIterator[TelegramStandIn]:
    async with TelegramStandIn(
        TOKEN, global_rate=None, per_chat_rate=None, group_rate_per_minute=None
    ) as server:
        yield server


@pytest.fixture
async def bot(standin: TelegramStandIn) -> AsyncIterator[Bot]:
    session = FastCloseSession(api=TelegramAPIServer.from_base(standin.base_url))
    yield Bot(TOKEN, session=session)
    await session.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession,
    standin: TelegramStandIn,
    method: str,
    params: dict[str, Any] | None = None,
    *,
    token: str = TOKEN,
) -> tuple[int, dict[str, Any]]:
    """POST a JSON body, like curl would, and return (HTTP status, JSON answer)."""
    url = f"{standin.base_url}/bot{token}/{method}"
    async with http.post(url, json=params or {}) as response:
        return response.status, await response.json()


def keyboard(*rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=text, callback_data=data) for text, data in row]
            for row in rows
        ]
    )


# --- basics -------------------------------------------------------------------------------


async def test_get_me_answers_the_bot_user(standin: TelegramStandIn, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.first_name, me.is_bot) == (
        123456,
        "civicbot_demo_bot",
        "Civicbot",
        True,
    )
    assert standin.invalid_requests == []


async def test_wrong_token_is_unauthorized(
    standin: TelegramStandIn, http: aiohttp.ClientSession
) -> None:
    status, body = await call(http, standin, "getMe", token="999:wrong")
    assert status == 401
    assert body == {"ok": False, "error_code": 401, "description": "Unauthorized"}


async def test_unknown_method_is_not_found_but_names_are_case_insensitive(
    standin: TelegramStandIn, http: aiohttp.ClientSession
) -> None:
    status, body = await call(http, standin, "sendTelepathy")
    assert (status, body) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    status, body = await call(http, standin, "GETME")
    assert status == 200 and body["result"]["username"] == "civicbot_demo_bot"
    assert [r.status for r in standin.invalid_requests] == [404]


async def test_form_and_query_string_requests_are_understood(
    standin: TelegramStandIn, http: aiohttp.ClientSession
) -> None:
    anna = standin.add_user("Anna")
    url = f"{standin.base_url}/bot{TOKEN}/sendMessage"
    async with http.post(url, data={"chat_id": str(anna.id), "text": "form"}) as response:
        assert response.status == 200
    async with http.get(url, params={"chat_id": str(anna.id), "text": "query"}) as response:
        assert response.status == 200
    assert [m.text for m in standin.messages(anna)] == ["form", "query"]


@pytest.mark.parametrize(
    ("method", "params", "description"),
    [
        ("sendMessage", {"text": "hi"}, "Bad Request: chat_id is empty"),
        ("sendMessage", {"chat_id": "@anna"}, "Bad Request: message text is empty"),
        ("sendMessage", {"chat_id": 42, "text": "hi"}, "Bad Request: chat not found"),
        ("deleteMessage", {"chat_id": 42}, "Bad Request: message identifier is not specified"),
        ("sendLocation", {"chat_id": 42, "longitude": 1.0}, "Bad Request: latitude is empty"),
        (
            "deleteMessage",
            {"chat_id": 42, "message_id": "seven"},
            'Bad Request: field "message_id" must be of type Integer',
        ),
        (
            "sendMessage",
            {"chat_id": 42, "text": "hi", "reply_markup": "{not json"},
            "Bad Request: can't parse reply keyboard markup JSON object",
        ),
        (
            "sendMessage",
            {"chat_id": 42, "text": "x", "parse_mode": "BBCode"},
            "Bad Request: unsupported parse_mode",
        ),
    ],
)
async def test_bad_parameters_are_refused_in_telegrams_words(
    standin: TelegramStandIn,
    http: aiohttp.ClientSession,
    method: str,
    params: dict[str, Any],
    description: str,
) -> None:
    status, body = await call(http, standin, method, params)
    assert (status, body["description"]) == (400, description)
    assert [r.description for r in standin.invalid_requests] == [description]


async def test_unknown_parameters_are_answered_like_telegram_but_recorded(
    standin: TelegramStandIn, http: aiohttp.ClientSession
) -> None:
    anna = standin.add_user("Anna")
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a", "colour": "red"}]]}
    status, _ = await call(
        http,
        standin,
        "sendMessage",
        {
            "chat_id": anna.id,
            "text": "hi",
            "disable_web_page_previews": True,
            "reply_markup": markup,
        },
    )
    assert status == 200
    assert [r.description for r in standin.invalid_requests] == [
        "unknown parameter 'disable_web_page_previews' (Telegram ignores it)",
        "unknown field 'colour' in reply_markup.inline_keyboard[0][0] (InlineKeyboardButton) "
        "(Telegram ignores it)",
    ]
    assert {r.status for r in standin.invalid_requests} == {200}


# --- getUpdates ------------------------------------------------------------------------------


async def test_get_updates_offset_limit_and_redelivery(standin: TelegramStandIn, bot: Bot) -> None:
    anna = standin.add_user("Anna")
    first, second, third = (standin.send_text(anna, text) for text in ("one", "two", "three"))

    assert [u.update_id for u in await bot.get_updates(limit=2)] == [first, second]
    # Nothing was confirmed, so the same updates come again.
    assert [u.update_id for u in await bot.get_updates(limit=2)] == [first, second]
    updates = await bot.get_updates(offset=second + 1)
    assert [u.message.text for u in updates] == ["three"]
    assert standin.pending_updates == 1
    assert await bot.get_updates(offset=third + 1) == []
    assert standin.pending_updates == 0


async def test_get_updates_negative_offset_keeps_only_the_newest(
    standin: TelegramStandIn, bot: Bot
) -> None:
    anna = standin.add_user("Anna")
    for text in ("old", "older", "newest"):
        standin.send_text(anna, text)
    assert [u.message.text for u in await bot.get_updates(offset=-1)] == ["newest"]
    assert [u.message.text for u in await bot.get_updates()] == ["newest"]


async def test_long_poll_returns_when_an_update_arrives_or_after_timeout(
    standin: TelegramStandIn, bot: Bot
) -> None:
    anna = standin.add_user("Anna")
    started = time.monotonic()
    polling = asyncio.create_task(bot.get_updates(timeout=5))
    await standin.wait_for(lambda: standin.is_long_polling)
    standin.send_text(anna, "wake up")
    updates = await polling
    assert [u.message.text for u in updates] == ["wake up"]
    assert time.monotonic() - started < 2

    started = time.monotonic()
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=1) == []
    assert 0.9 < time.monotonic() - started < 3


async def test_a_second_poller_terminates_the_first_with_409(
    standin: TelegramStandIn, http: aiohttp.ClientSession
) -> None:
    anna = standin.add_user("Anna")
    first = asyncio.create_task(call(http, standin, "getUpdates", {"timeout": 5}))
    await standin.wait_for(lambda: standin.is_long_polling)
    second = asyncio.create_task(call(http, standin, "getUpdates", {"timeout": 5}))
    status, body = await first
    assert status == 409
    assert body["description"].startswith("Conflict: terminated by other getUpdates request")
    standin.send_text(anna, "for the survivor")
    status, body = await second
    assert status == 200 and body["result"][0]["message"]["text"] == "for the survivor"


async def test_an_abandoned_long_poll_is_no_conflict(
    standin: TelegramStandIn, http: aiohttp.ClientSession
) -> None:
    # A stopped bot hangs up while polling; its successor must not be told of a conflict.
    abandoned = asyncio.create_task(call(http, standin, "getUpdates", {"timeout": 5}))
    await standin.wait_for(lambda: standin.is_long_polling)
    abandoned.cancel()
    await standin.wait_for(lambda: not standin.is_long_polling)
    status, body = await call(http, standin, "getUpdates", {"timeout": 0})
    assert (status, body["result"]) == (200, [])
    assert standin.invalid_requests == []


async def test_webhook_blocks_get_updates_until_deleted(standin: TelegramStandIn, bot: Bot) -> None:
    await bot.set_webhook("https://example.org/hook", secret_token="s3cret_token")
    info = await bot.get_webhook_info()
    assert info.url == "https://example.org/hook"
    assert standin.webhook is not None and standin.webhook.secret_token == "s3cret_token"
    with pytest.raises(Exception, match="can't use getUpdates method while webhook is active"):
        await bot.get_updates()
    await bot.delete_webhook()
    assert await bot.get_updates() == []
    assert (await bot.get_webhook_info()).url == ""


# --- sendMessage and HTML --------------------------------------------------------------------


async def test_send_message_parses_telegram_html(standin: TelegramStandIn, bot: Bot) -> None:
    anna = standin.add_user("Anna")
    html = (
        "<b>Bold</b> <i>it</i> <u>u</u> <s>s</s> <tg-spoiler>sp</tg-spoiler> "
        '<a href="https://example.org/a?x=1&amp;y=2">link</a> '
        "&lt;&gt;&amp;&quot; &#128512; &#x41;\n"
        '<pre><code class="language-python">print(1)</code></pre>\n'
        "<blockquote expandable>quote</blockquote>"
    )
    sent = await bot.send_message(anna.id, html, parse_mode="HTML")
    plain = 'Bold it u s sp link <>&" 😀 A\nprint(1)\nquote'
    assert sent.text == plain
    stored = standin.last_message(anna)
    assert stored is not None and (stored.text, stored.html) == (plain, html)
    types = [(e.type, e.offset, e.length) for e in sent.entities]
    assert types == [
        ("bold", 0, 4),
        ("italic", 5, 2),
        ("underline", 8, 1),
        ("strikethrough", 10, 1),
        ("spoiler", 12, 2),
        ("text_link", 15, 4),
        ("pre", 30, 8),
        ("expandable_blockquote", 39, 5),
    ]
    assert sent.entities[5].url == "https://example.org/a?x=1&y=2"
    assert sent.entities[6].language == "python"
    assert standin.invalid_requests == []


@pytest.mark.parametrize(
    ("html", "error"),
    [
        ("<div>x</div>", 'Unsupported start tag "div" at byte offset 0'),
        ("é<br>", 'Unsupported start tag "br" at byte offset 2'),
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b", "Unclosed start tag at byte offset 0"),
        ('<a href="x', "Unclosed start tag at byte offset 0"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("<tg-emoji emoji-id=abc>x</tg-emoji>", "Invalid custom emoji identifier specified"),
        ("AT&T", 'Character "&" at byte offset 2 is not part of an entity; escape it as "&amp;"'),
        ("&nbsp;", 'Character "&" at byte offset 0 is not part of an entity; escape it as "&amp;"'),
    ],
)
async def test_invalid_html_cannot_be_parsed(
    standin: TelegramStandIn, bot: Bot, html: str, error: str
) -> None:
    anna = standin.add_user("Anna")
    with pytest.raises(TelegramBadRequest) as raised:
        await bot.send_message(anna.id, html, parse_mode="HTML")
    assert raised.value.message == f"Bad Request: can't parse entities: {error}"
    assert standin.messages(anna) == []
    assert len(standin.invalid_requests) == 1


async def test_lenient_html_keeps_a_bare_ampersand_like_telegram() -> None:
    assert parse_html("AT&T &copy; &lt", strict_ampersand=False).text == "AT&T &copy; <"


async def test_length_is_counted_in_utf16_units_after_parsing(
    standin: TelegramStandIn, bot: Bot
) -> None:
    anna = standin.add_user("Anna")
    # 2000 units of emoji in a tag, 2000 "<" written as entities, then plain letters.
    body = "<b>" + "😀" * 1000 + "</b>" + "&lt;" * 2000
    exact = body + "a" * 96
    sent = await bot.send_message(anna.id, exact, parse_mode="HTML")
    assert utf16_len(sent.text) == 4096
    with pytest.raises(TelegramBadRequest, match="Bad Request: message is too long"):
        await bot.send_message(anna.id, exact + "a", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="Bad Request: text must be non-empty"):
        await bot.send_message(anna.id, "<b> </b>\n", parse_mode="HTML")


async def test_callback_data_is_limited_to_64_bytes(standin: TelegramStandIn, bot: Bot) -> None:
    anna = standin.add_user("Anna")
    fits = "é" * 32  # 32 characters, 64 bytes
    await bot.send_message(anna.id, "ok", reply_markup=keyboard([("A", fits)]))
    with pytest.raises(TelegramBadRequest, match="Bad Request: BUTTON_DATA_INVALID"):
        await bot.send_message(anna.id, "too long", reply_markup=keyboard([("A", fits + "x")]))
    with pytest.raises(TelegramBadRequest, match="Text buttons are unallowed"):
        await bot.send_message(
            anna.id,
            "no kind",
            reply_markup=InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="A")]]),
        )
    assert standin.last_message(anna).buttons == ((("A", fits),),)


async def test_a_copy_text_button_copies_1_to_256_characters(
    standin: TelegramStandIn, bot: Bot
) -> None:
    anna = standin.add_user("Anna")

    def copying(text: str) -> InlineKeyboardMarkup:
        button = InlineKeyboardButton(text="📋", copy_text=CopyTextButton(text=text))
        return InlineKeyboardMarkup(inline_keyboard=[[button]])

    await bot.send_message(anna.id, "ok", reply_markup=copying("ж" * 256))
    assert standin.last_message(anna).buttons == ((("📋", "ж" * 256),),)
    for wrong in ("", "ж" * 257):
        with pytest.raises(TelegramBadRequest, match="COPY_TEXT_INVALID"):
            await bot.send_message(anna.id, "no", reply_markup=copying(wrong))


# --- editing, deleting, callbacks ------------------------------------------------------------


async def test_edits_and_not_modified(standin: TelegramStandIn, bot: Bot) -> None:
    anna = standin.add_user("Anna")
    markup = keyboard([("Yes", "y"), ("No", "n")])
    sent = await bot.send_message(anna.id, "<b>Vote</b>", parse_mode="HTML", reply_markup=markup)

    with pytest.raises(TelegramBadRequest, match="Bad Request: message is not modified: specified"):
        await bot.edit_message_text(
            text="<b>Vote</b>",
            chat_id=anna.id,
            message_id=sent.message_id,
            parse_mode="HTML",
            reply_markup=markup,
        )
    # Same text but no longer bold is a change; leaving out reply_markup drops the keyboard.
    edited = await bot.edit_message_text(text="Vote", chat_id=anna.id, message_id=sent.message_id)
    assert edited.edit_date is not None and edited.reply_markup is None
    current = standin.message(anna, sent.message_id)
    assert (current.text, current.entities, current.buttons, current.edited) == (
        "Vote",
        (),
        (),
        True,
    )

    await bot.edit_message_reply_markup(
        chat_id=anna.id, message_id=sent.message_id, reply_markup=markup
    )
    assert standin.message(anna, sent.message_id).buttons[0][1] == ("No", "n")
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(
            chat_id=anna.id, message_id=sent.message_id, reply_markup=markup
        )


async def test_edit_and_delete_of_missing_messages(standin: TelegramStandIn, bot: Bot) -> None:
    anna = standin.add_user("Anna")
    with pytest.raises(TelegramBadRequest, match="Bad Request: message to edit not found"):
        await bot.edit_message_text(text="x", chat_id=anna.id, message_id=99)
    with pytest.raises(TelegramBadRequest, match="Bad Request: message to delete not found"):
        await bot.delete_message(anna.id, 99)
    user_message = standin.message_id_of(standin.send_text(anna, "mine"))
    with pytest.raises(TelegramBadRequest, match="Bad Request: message can't be edited"):
        await bot.edit_message_text(text="x", chat_id=anna.id, message_id=user_message)

    sent = await bot.send_message(anna.id, "bye")
    assert await bot.delete_message(anna.id, sent.message_id) is True
    assert standin.messages(anna)[-1].deleted is True
    assert standin.last_message(anna) is None
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text(text="again", chat_id=anna.id, message_id=sent.message_id)


async def test_callback_query_can_be_answered_once(standin: TelegramStandIn, bot: Bot) -> None:
    anna = standin.add_user("Anna")
    sent = await bot.send_message(anna.id, "Vote", reply_markup=keyboard([("Yes", "y")]))
    query_id = standin.press(anna, standin.message(anna, sent.message_id), text="Yes")
    with pytest.raises(TelegramBadRequest, match="MESSAGE_TOO_LONG"):
        await bot.answer_callback_query(query_id, text="x" * 201)
    assert await bot.answer_callback_query(query_id, text="Thanks!", show_alert=True)
    assert standin.callback_answers[query_id] == ("Thanks!", True)
    with pytest.raises(TelegramBadRequest, match="query is too old and response timeout expired"):
        await bot.answer_callback_query(query_id)
    with pytest.raises(TelegramBadRequest, match="query ID is invalid"):
        await bot.answer_callback_query("12345")


# --- rate limits -----------------------------------------------------------------------------


async def test_global_rate_limit_answers_429_with_retry_after(
    standin: TelegramStandIn, bot: Bot, http: aiohttp.ClientSession
) -> None:
    standin.set_rate_limits(global_rate=5, per_chat_rate=None, group_rate_per_minute=None)
    residents = [standin.add_user(f"User {n}") for n in range(7)]
    for resident in residents[:5]:
        await bot.send_message(resident.id, "news")
    with pytest.raises(TelegramRetryAfter) as raised:
        await bot.send_message(residents[5].id, "news")
    assert raised.value.retry_after >= 1
    status, body = await call(
        http, standin, "sendMessage", {"chat_id": residents[6].id, "text": "x"}
    )
    retry_after = body["parameters"]["retry_after"]
    assert (status, body) == (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": f"Too Many Requests: retry after {retry_after}",
            "parameters": {"retry_after": retry_after},
        },
    )
    assert standin.too_many_requests == 2
    assert standin.invalid_requests == []


async def test_per_chat_and_group_rate_limits(standin: TelegramStandIn, bot: Bot) -> None:
    standin.set_rate_limits(
        global_rate=None, per_chat_rate=1.0, per_chat_burst=1, group_rate_per_minute=2
    )
    anna, ben = standin.add_user("Anna"), standin.add_user("Ben")
    town = standin.add_group("Town", members=[anna, ben])
    await bot.send_message(anna.id, "one")
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(anna.id, "two")
    await bot.send_message(ben.id, "another chat is fine")
    await bot.send_message(town.id, "g1")
    await bot.send_message(town.id, "g2")
    with pytest.raises(TelegramRetryAfter) as raised:
        await bot.send_message(town.id, "g3")
    assert raised.value.retry_after >= 1
    assert standin.too_many_requests == 2


async def test_rate_limits_switched_off(standin: TelegramStandIn, bot: Bot) -> None:
    anna = standin.add_user("Anna")
    for number in range(40):
        await bot.send_message(anna.id, f"message {number}")
    assert len(standin.messages(anna)) == 40
    assert standin.too_many_requests == 0


# --- files -----------------------------------------------------------------------------------


async def test_send_document_round_trip(standin: TelegramStandIn, bot: Bot) -> None:
    anna = standin.add_user("Anna")
    content = "résumé;votes\nA;3\n".encode()
    sent = await bot.send_document(
        anna.id,
        BufferedInputFile(content, filename="results.csv"),
        caption="<b>Results</b>",
        parse_mode="HTML",
    )
    assert sent.document is not None and sent.document.file_name == "results.csv"
    stored = standin.last_message(anna)
    assert (stored.kind, stored.document, stored.filename, stored.text) == (
        "document",
        content,
        "results.csv",
        "Results",
    )
    file = await bot.get_file(sent.document.file_id)
    downloaded = await bot.download_file(file.file_path)
    assert downloaded.read() == content
    assert standin.invalid_requests == []


async def test_send_photo_needs_an_image(standin: TelegramStandIn, bot: Bot) -> None:
    anna = standin.add_user("Anna")
    sent = await bot.send_photo(anna.id, BufferedInputFile(sample_png(), filename="p.png"))
    assert sent.photo[-1].width == 1
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(anna.id, BufferedInputFile(b"not a picture", filename="p.png"))


# --- commands and members --------------------------------------------------------------------


async def test_commands_are_stored_per_scope_and_language(
    standin: TelegramStandIn, bot: Bot
) -> None:
    await bot.set_my_commands([{"command": "start", "description": "Start"}])
    await bot.set_my_commands([{"command": "help", "description": "Hilfe"}], language_code="de")
    assert [c.command for c in await bot.get_my_commands()] == ["start"]
    assert [c.command for c in await bot.get_my_commands(language_code="de")] == ["help"]
    assert standin.commands(language_code="de") == [{"command": "help", "description": "Hilfe"}]
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([{"command": "Start", "description": "Start"}])
    with pytest.raises(TelegramBadRequest, match="command description length must not exceed 256"):
        await bot.set_my_commands([{"command": "start", "description": "x" * 257}])
    await bot.delete_my_commands()
    assert await bot.get_my_commands() == []


async def test_chat_member_statuses(standin: TelegramStandIn, bot: Bot) -> None:
    anna, ben, cleo, dan = (standin.add_user(name) for name in ("Anna", "Ben", "Cleo", "Dan"))
    town = standin.add_group("Town", members=[anna], admins=[ben], creator=cleo)
    statuses = [(await bot.get_chat_member(town.id, u.id)).status for u in (anna, ben, cleo, dan)]
    assert statuses == ["member", "administrator", "creator", "left"]
    assert (await bot.get_chat(town.id)).title == "Town"


# --- the simulation side ---------------------------------------------------------------------


async def test_press_by_text_or_data_and_forged_presses(standin: TelegramStandIn, bot: Bot) -> None:
    anna = standin.add_user("Anna")
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text="Yes", callback_data="vote:y")],
            [InlineKeyboardButton(text="Site", url="https://example.org")],
        ]
    )
    sent = await bot.send_message(anna.id, "Vote", reply_markup=markup)
    message = standin.message(anna, sent.message_id)
    by_text = standin.press(anna, message, text="Yes")
    by_data = standin.press(anna, sent.message_id, data="vote:y")
    forged = standin.press_forged(anna, anna, "vote:nonsense", message_id=77)
    with pytest.raises(NoSuchButton, match="no button with text='Maybe'"):
        standin.press(anna, message, text="Maybe")
    with pytest.raises(ValueError, match="sends nothing to the bot"):
        standin.press(anna, message, text="Site")

    updates = await bot.get_updates()
    queries = [u.callback_query for u in updates]
    assert [q.id for q in queries] == [by_text, by_data, forged]
    assert [q.data for q in queries] == ["vote:y", "vote:y", "vote:nonsense"]
    assert queries[0].message.message_id == sent.message_id
    assert queries[2].message.date == 0  # an InaccessibleMessage


async def test_user_messages_of_every_kind_parse_as_updates(
    standin: TelegramStandIn, bot: Bot
) -> None:
    anna = standin.add_user("Anna", username="anna")
    town = standin.add_group("Town", members=[anna])
    first = standin.send_text(anna, "/vote@civicbot_demo_bot now", chat=town)
    standin.send_photo(anna, caption="pothole")
    standin.send_document(anna, b"data", filename="plan.txt")
    standin.send_voice(anna)
    standin.send_sticker(anna)
    standin.send_location(anna, 1.5, 2.5)
    standin.send_contact(anna)
    standin.edit_text(anna, standin.message_id_of(first), "/vote changed", chat=town)

    updates = await bot.get_updates()
    kinds = [u.event_type for u in updates]
    assert kinds == ["message"] * 7 + ["edited_message"]
    command = updates[0].message
    assert command.chat.id == town.id and command.entities[0].length == len(
        "/vote@civicbot_demo_bot"
    )
    assert updates[1].message.photo and updates[1].message.caption == "pothole"
    document = updates[2].message.document
    assert document.file_name == "plan.txt"
    assert (await bot.download(document.file_id)).read() == b"data"
    assert updates[5].message.location.latitude == 1.5
    assert updates[6].message.contact.user_id == anna.id
    assert updates[7].edited_message.text == "/vote changed"
    assert updates[7].edited_message.edit_date is not None


async def test_blocked_users_and_group_permissions(standin: TelegramStandIn, bot: Bot) -> None:
    anna, ben = standin.add_user("Anna"), standin.add_user("Ben")
    standin.block_bot(anna)
    with pytest.raises(TelegramForbiddenError, match="Forbidden: bot was blocked by the user"):
        await bot.send_message(anna.id, "hello?")
    (update,) = await bot.get_updates(allowed_updates=["my_chat_member"])
    assert update.my_chat_member.new_chat_member.status == "kicked"

    town = standin.add_group("Town", members=[ben])
    ben_wrote = standin.message_id_of(standin.send_text(ben, "hi all", chat=town))
    with pytest.raises(TelegramBadRequest, match="message can't be deleted"):
        await bot.delete_message(town.id, ben_wrote)
    with pytest.raises(ValueError, match="not a member"):
        standin.send_text(anna, "let me in", chat=town)


async def test_raw_updates_can_be_pushed(standin: TelegramStandIn, bot: Bot) -> None:
    anna = standin.add_user("Anna")
    update_id = standin.push_update(
        {
            "update_id": 1,
            "my_chat_member": {
                "chat": {"id": anna.id, "type": "private", "first_name": "Anna"},
                "from": anna.to_api(),
                "date": 0,
                "old_chat_member": {"status": "member", "user": standin.bot_user.to_api()},
                "new_chat_member": {
                    "status": "kicked",
                    "user": standin.bot_user.to_api(),
                    "until_date": 0,
                },
            },
        }
    )
    (update,) = await bot.get_updates()
    assert (
        update.update_id == update_id and update.my_chat_member.new_chat_member.status == "kicked"
    )


def civic_router() -> Router:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer(
            '<b>Welcome</b>, see <a href="https://example.org">the plan</a>.',
            reply_markup=keyboard([("Agree", "vote:yes"), ("Disagree", "vote:no")]),
        )

    @router.callback_query(F.data.startswith("vote:"))
    async def vote(query: CallbackQuery) -> None:
        await query.message.edit_text(f"You chose <i>{query.data[5:]}</i>.")
        await query.answer("Thanks!")

    @router.message(Command("twice"))
    async def twice(message: Message) -> None:
        for text in ("first", "second"):
            try:
                await message.answer(text)
            except TelegramRetryAfter as flood:
                await asyncio.sleep(flood.retry_after)
                await message.answer(text)

    @router.message(F.photo)
    async def photo(message: Message) -> None:
        await message.answer("Nice photo &amp; thanks.")

    return router


@pytest.fixture
async def running_bot(standin: TelegramStandIn) -> AsyncIterator[Bot]:
    session = FastCloseSession(api=TelegramAPIServer.from_base(standin.base_url))
    bot = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode="HTML"))
    dispatcher = Dispatcher()
    dispatcher.include_router(civic_router())
    polling = asyncio.create_task(
        dispatcher.start_polling(bot, handle_signals=False, polling_timeout=1)
    )
    await standin.wait_for(lambda: standin.is_long_polling)
    yield bot
    await dispatcher.stop_polling()
    await polling


async def test_wait_idle_sees_the_bot_finish(standin: TelegramStandIn, running_bot: Bot) -> None:
    anna = standin.add_user("Anna")
    standin.send_text(anna, "/start")
    await standin.wait_idle()
    welcome = standin.last_message(anna)
    assert welcome is not None and welcome.text == "Welcome, see the plan."
    query_id = standin.press(anna, welcome, data="vote:no")
    assert await standin.wait_callback_answer(query_id) == ("Thanks!", False)
    await standin.wait_idle()
    assert standin.message(anna, welcome.message_id).text == "You chose no."
    assert standin.invalid_requests == []


async def test_wait_idle_outlasts_a_retry_after_429(
    standin: TelegramStandIn, running_bot: Bot
) -> None:
    standin.set_rate_limits(
        global_rate=None, per_chat_rate=1.0, per_chat_burst=1, group_rate_per_minute=None
    )
    anna = standin.add_user("Anna")
    standin.send_text(anna, "/twice")
    await standin.wait_idle()
    assert [m.text for m in standin.messages(anna)] == ["first", "second"]
    assert standin.too_many_requests == 1


async def test_terminal_chat_with_piped_input(standin: TelegramStandIn, running_bot: Bot) -> None:
    anna = standin.add_user("Anna", last_name="Berg")
    stdout = io.StringIO()
    stdin = io.StringIO("/start\n>2\n>7\n:photo\n:help\n")
    await run_terminal_chat(standin, anna, stdin=stdin, stdout=stdout)
    transcript = stdout.getvalue()
    expected = [
        "Anna> /start",
        "[bot #2] Welcome, see the plan <https://example.org/>.",
        "  [1] Agree  [2] Disagree",
        "Anna> >2",
        "(you pressed [2] Disagree)",
        "[bot #2 (edited)] You chose no.",
        "[toast] Thanks!",
        "Anna> >7",
        "(no message with buttons yet)",
        "Anna> :photo",
        "(you sent a photo)",
        "[bot #4] Nice photo & thanks.",
        "Anna> :help",
        "(chat ended)",
    ]
    positions = [transcript.find(line) for line in expected]
    assert -1 not in positions, transcript
    assert positions == sorted(positions), transcript
    assert standin.invalid_requests == []
