"""Telegram's limits on text: whatever people write, every message the bot sends fits,
and what a person wrote stays in its place on the screen.

Telegram counts UTF-16 code units of the parsed text (an emoji is two); the stand-in
counts the same way and refuses what Telegram would refuse.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from html import escape

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.config import Settings
from bot.sandbox import SentMessage, TelegramStandIn
from bot.sandbox.html_entities import clean_and_trim, parse_html, utf16_len
from bot.telegram_client import build_bot
from bot.telegram_text import (
    MAX_MESSAGE,
    fold_html,
    in_messages,
    measure,
    split,
    units,
    visible_length,
)
from storage.models import OutboxMessage, OutboxStatus, Submission, SubmissionStatus
from tests import test_staff
from tests.conftest import NOW, TOKEN, Chat, RunningBot
from tests.test_staff import Staff, propose
from tests.test_submissions import stored

# The staff chat (it speaks Bulgarian) and Maria in it.
staff_room = test_staff.staff_room
bot_settings = test_staff.bot_settings
maria = test_staff.maria

EMOJI = "😀"
ZERO_WIDTH_SPACE = "\u200b"
RIGHT_TO_LEFT_OVERRIDE = "\u202e"
RIGHT_TO_LEFT_ISOLATE = "\u2067"
ISOLATE_OPENERS = "\u2066\u2067\u2068"
POP_ISOLATE = "\u2069"


def telegram_count(html: str) -> int:
    """How long Telegram (the stand-in's copy of its parser) says a message is."""
    return utf16_len(clean_and_trim(parse_html(html)).text)


def words(count: int, stem: str = "word") -> str:
    """A text of distinct words, so that a test can tell which parts arrived."""
    return " ".join(f"{stem}{n:04d}" for n in range(count))


def unclosed_isolates(line: str) -> int:
    """Isolates a line leaves open: each reorders what follows it on the line."""
    opened = 0
    for char in line:
        if char in ISOLATE_OPENERS:
            opened += 1
        elif char == POP_ISOLATE and opened:
            opened -= 1
    return opened


# --- counting as Telegram counts -------------------------------------------------------

PIECES = st.sampled_from(
    [
        *["a", " ", "\n", "\t", "\r", "Ж", "é", "\u0301", "<", ">", "&", '"', ZERO_WIDTH_SPACE],
        *[EMOJI, "👍🏽", "🇧🇬", "\u2028", RIGHT_TO_LEFT_OVERRIDE, RIGHT_TO_LEFT_ISOLATE],
    ]
)
PLAIN = st.lists(PIECES, max_size=30).map("".join)


@st.composite
def html_texts(draw: st.DrawFn) -> str:
    """HTML as the bot writes it: escaped text, some of it formatted."""
    parts = []
    for text in draw(st.lists(PLAIN, min_size=1, max_size=6)):
        tag = draw(st.sampled_from([None, "b", "i", "code"]))
        escaped = escape(text, quote=False)
        # The bot formats what shows; a tag around nothing Telegram keeps is not made.
        shows = text.strip(" \n\r\t\u2028\u202e")
        parts.append(f"<{tag}>{escaped}</{tag}>" if tag and shows else escaped)
    return "".join(parts)


@settings(max_examples=500, deadline=None)
@given(html_texts())
def test_the_bot_measures_a_message_as_telegram_does(html: str) -> None:
    assert measure(html) == telegram_count(html)


@settings(max_examples=300, deadline=None)
@given(html_texts(), st.integers(min_value=1, max_value=60))
def test_a_folded_message_fits_and_keeps_its_tags_valid(html: str, limit: int) -> None:
    folded = fold_html(html, limit)
    assert telegram_count(folded) <= limit  # parse_html raises on a broken tag
    if measure(html) > limit:
        assert folded.replace("</b>", "").replace("</i>", "").replace("</code>", "").endswith("…")


@settings(max_examples=200, deadline=None)
@given(PLAIN, st.integers(min_value=4, max_value=40))
def test_a_split_text_fits_each_part_and_never_breaks_a_character(text: str, limit: int):
    parts = split(text, limit)
    assert all(units(part) <= limit for part in parts)
    # No emoji loses its second half, no flag or skin tone is torn from its base.
    assert "".join(parts).count(EMOJI) == text.count(EMOJI)
    assert "".join(parts).count("🇧🇬") == text.count("🇧🇬")


def test_what_a_person_sees_is_what_is_counted() -> None:
    assert visible_length(ZERO_WIDTH_SPACE * 10) == 0
    assert visible_length("\u2800\u3164 \u200d\u2066 \u00ad") == 0  # blank letters, controls
    assert visible_length("👨‍👩‍👧‍👦🇧🇬👍🏽") == 3  # a family, a flag, a thumb
    assert visible_length("café") == visible_length("cafe\u0301") == 4
    assert visible_length(EMOJI * 3000) == 3000 and units(EMOJI * 3000) == 6000


def test_texts_in_several_messages_keep_every_word() -> None:
    answer = words(900)  # about 8,000 units: two messages at least
    messages = in_messages([("<b>Text</b>", words(10, "text")), ("<b>Answer</b>", answer)])
    assert len(messages) >= 2
    assert all(telegram_count(message) <= MAX_MESSAGE for message in messages)
    shown = " ".join(clean_and_trim(parse_html(message)).text for message in messages)
    assert shown.split().count("word0899") == 1
    assert [word for word in shown.split() if word.startswith("word")] == answer.split()


# --- residents ---------------------------------------------------------------------------


async def _write(chat: Chat, text: str) -> SentMessage:
    """Open section 3.1, start a proposal and write `text`; the bot's answer."""
    await chat.send("/start stara-zagora-pid-strategy__3-1")
    await chat.tap(chat.label_starting("💡"))
    if chat.last.text.startswith("🔒"):
        await chat.tap(chat.label_starting("✅"))
    return await chat.send(text)


@pytest.mark.parametrize(
    "text",
    [EMOJI * 3000, EMOJI * 1000 + "a" * 2000, ("Ж" + EMOJI) * 1500],
    ids=["3000-emoji", "1000-emoji-2000-letters", "cyrillic-and-emoji"],
)
async def test_a_near_limit_text_of_emoji_is_previewed_and_sent(
    resident, maria: Staff, running_bot: RunningBot, text: str
) -> None:
    ana: Chat = resident("Ana", "en")
    preview = await _write(ana, text)
    assert preview.text.startswith("📝 Your proposal: check it before sending")
    assert "✂️ Shortened here to fit in one message; all of it will be sent." in preview.text
    assert telegram_count(preview.html or "") <= MAX_MESSAGE
    receipt = await ana.tap("✅ Send")
    assert receipt.text.startswith("✅ Received.")
    [submission] = await stored(running_bot)
    assert submission.text == text, "all of it is stored, not what the preview showed"
    card = await maria.card_of(submission.public_number or "")
    assert "📄 Пълен текст" in [button.text for button in card.flat_buttons]


async def test_zero_width_spaces_are_not_a_proposal(resident, running_bot) -> None:
    ana: Chat = resident("Ana", "en")
    answer = await _write(ana, ZERO_WIDTH_SPACE * 10)
    assert answer.text.startswith("This is 0 characters; please write at least 10")
    answer = await ana.send("\u2800" * 5 + "\u3164" * 5 + "\u202e\u2066" * 3)
    assert answer.text.startswith("This is 0 characters")
    assert await stored(running_bot) == []


@pytest.mark.parametrize(
    ("language", "words_of_the_answer"),
    [
        ("en", "Please shorten it by about 500 characters."),
        ("bg", "Моля, съкратете го с около 500 знака."),
        ("sl", "Prosim, skrajšajte ga za približno 500 znakov."),
    ],
)
async def test_a_text_telegram_counts_as_too_long_is_refused_with_how_much_to_cut(
    resident, running_bot, language: str, words_of_the_answer: str
) -> None:
    chat: Chat = resident("Ana", language)
    # 2,000 letters, each with three accents: 2,000 characters to see, 8,000 to Telegram.
    heavy = "e\u0301\u0302\u0303" * 2000
    answer = await _write(chat, heavy)
    assert words_of_the_answer in answer.text
    assert await stored(running_bot) == []
    # Shortened as asked, it goes through.
    preview = await chat.send("e\u0301\u0302\u0303" * 1500)
    assert len(preview.buttons) > 1, "the preview, with its buttons"


async def test_my_list_pages_by_what_fits_and_shows_a_long_answer_in_full(
    resident, maria: Staff, running_bot: RunningBot
) -> None:
    ana: Chat = resident("Ana", "en")
    for n in range(6):
        await propose(ana, f"Proposal {n}: benches and shade along the river, please.")
    submissions = await stored(running_bot)
    long_answer = words(330)  # about 3,000 characters
    assert running_bot.app is not None
    async with running_bot.app.session_factory.begin() as session:
        for item in await session.scalars(select(Submission)):
            item.answer = long_answer if item.id == submissions[0].id else words(100, "ans")
            item.status = SubmissionStatus.ANSWERED
            item.answered_at = NOW + timedelta(hours=1)

    page = await ana.send("/my")
    seen, pages = [], 0
    while True:
        pages += 1
        assert page.text.startswith("Your proposals and questions")
        seen += [s.public_number for s in submissions if f"№ {s.public_number}" in page.text]
        if "Next page ▶️" not in ana.labels:
            break
        page = await ana.tap("Next page ▶️")
    assert sorted(seen) == sorted(s.public_number for s in submissions), "each exactly once"
    assert pages >= 2, "six answers of 800 characters do not fit in one message"

    oldest = submissions[0].public_number
    in_full = f"📄 № {oldest} in full"
    assert in_full in ana.labels and "…" in ana.text, "the long answer is shortened"
    before = len(ana.standin.messages(ana.user))
    await ana.tap(in_full)
    shown = " ".join(m.text for m in ana.standin.messages(ana.user)[before:])
    assert [w for w in shown.split() if w.startswith("word")] == long_answer.split()
    assert "📂 My submissions" in ana.labels

    # The same button forged by someone else shows them their own list, nothing of Ana's.
    bob: Chat = resident("Bob", "en")
    menu = await bob.send("/start")
    await bob.tap_data(f"myf:{submissions[0].id}:0", message=menu)
    assert bob.text.startswith("You have not sent any proposals or questions yet.")


# --- staff -------------------------------------------------------------------------------


async def test_a_long_text_with_a_long_answer_keeps_its_card_current(
    resident, maria: Staff, running_bot: RunningBot
) -> None:
    ana: Chat = resident("Ana", "en")
    text = words(328, "text")  # 2,951 characters
    number = await propose(ana, text)
    card = await maria.card_of(number)
    await maria.press(card, "💬 Отговор")
    answer = words(333)  # 2,997 characters
    await maria.reply(maria.messages[-1], answer)

    card = maria.card(number)
    assert card.edit_count >= 1 and "word0000" in card.text, "the card shows the answer"
    assert "✂️" in card.text and "…" in card.text
    async with running_bot.app.session_factory() as session:  # type: ignore[union-attr]
        statuses = set(await session.scalars(select(OutboxMessage.status)))
    assert OutboxStatus.FAILED not in statuses
    assert answer in ana.last.text, "the resident got all of the answer"

    before = len(maria.messages)
    await maria.press(card, "📄 Пълен текст")
    full = maria.messages[before:]
    assert full and all(message.reply_to_message_id == card.message_id for message in full)
    shown = " ".join(message.text for message in full).split()
    assert [w for w in shown if w.startswith("text")] == text.split()
    assert [w for w in shown if w.startswith("word")] == answer.split()


async def test_an_answer_telegram_counts_as_too_long_is_refused_politely(
    resident, maria: Staff, running_bot: RunningBot
) -> None:
    ana: Chat = resident("Ana", "en")
    number = await propose(ana)
    await maria.press(maria.card(number), "💬 Отговор")
    said = await maria.reply(maria.messages[-1], EMOJI * 3000)
    assert "Моля, съкратете го с около" in said.text
    [submission] = await stored(running_bot)
    assert submission.answer is None and submission.status is SubmissionStatus.RECEIVED


async def test_a_name_with_bidi_controls_stays_in_its_place(
    resident, maria: Staff, running_bot: RunningBot
) -> None:
    name = f"Ana {RIGHT_TO_LEFT_OVERRIDE}evil {RIGHT_TO_LEFT_ISOLATE}more"
    ana: Chat = resident(name, "en")
    text = f"Benches by the river {RIGHT_TO_LEFT_ISOLATE}please{POP_ISOLATE}{POP_ISOLATE} now"
    await _write(ana, text + f" {RIGHT_TO_LEFT_ISOLATE}and shade")
    preview = await ana.tap("👤 Sign with my name")
    receipt = await ana.tap("✅ Send")
    number = next(w for w in receipt.text.split() if w[:4].isdigit() and "-" in w).rstrip(".")
    card = await maria.card_of(number)
    for message in (preview, card):
        assert RIGHT_TO_LEFT_OVERRIDE not in (message.html or "")
        assert [unclosed_isolates(line) for line in message.text.split("\n")] == [0] * len(
            message.text.split("\n")
        ), "no line leaves an isolate open for the next one"
        assert f"\u2068Ana evil {RIGHT_TO_LEFT_ISOLATE}more{POP_ISOLATE}\u2069" in message.text

    await maria.press(card, "💬 Отговор")
    prompt = maria.messages[-1]
    assert all(unclosed_isolates(line) == 0 for line in prompt.text.split("\n"))


# --- the last guard ----------------------------------------------------------------------


async def test_a_message_too_long_goes_out_shortened_and_is_logged_as_a_warning(
    standin: TelegramStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    reader = standin.add_user("Ana")
    standin.send_text(reader, "/start")  # a person the bot may write to
    bot = build_bot(Settings(bot_token=TOKEN, bot_api_url=standin.base_url))
    try:
        with caplog.at_level(logging.WARNING):
            await bot.send_message(reader.id, "<b>" + EMOJI * 2100 + "</b>")
    finally:
        await bot.session.close()
    [message] = standin.messages(reader)
    assert message.text.endswith("…") and utf16_len(message.text) <= MAX_MESSAGE
    assert any(
        record.levelno == logging.WARNING and "shortened" in record.getMessage()
        for record in caplog.records
    )
    assert standin.invalid_requests == []
