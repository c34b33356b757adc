"""Odd but real input, end to end against the stand-in: an album arrives as one update
per photo, a group message replies to a channel post, another bot writes privately,
and two taps on one button race. Each gets one calm answer (or none), never an error.
"""

from __future__ import annotations

import logging
import time

import pytest

from bot.config import Settings
from bot.sandbox import SimChat, TelegramStandIn
from bot.telegram_client import build_bot
from tests.conftest import Chat, RunningBot
from tests.test_submissions import PROPOSAL, _to_prompt, stored

pytestmark = pytest.mark.usefixtures("running_bot")


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]


async def new_messages(chat: Chat, act) -> list[str]:
    """What the bot wrote in the chat after `act`, once it is idle again."""
    before = len(chat.standin.messages(chat.user))
    act()
    await chat.standin.wait_for(lambda: len(chat.standin.messages(chat.user)) > before, 10)
    await chat.settled()
    return [message.text for message in chat.standin.messages(chat.user)[before:]]


# --- an album -------------------------------------------------------------------------


async def test_an_album_with_the_text_is_one_preview_with_five_photos_and_one_refusal(
    resident, standin: TelegramStandIn, running_bot: RunningBot
) -> None:
    chat: Chat = resident()
    await _to_prompt(chat)

    answers = await new_messages(chat, lambda: standin.send_album(chat.user, 10, caption=PROPOSAL))

    assert len(answers) == 1, answers
    [answer] = answers
    assert PROPOSAL in answer and "5 photos" in answer
    assert "5 photos of the album were not added" in answer
    await chat.tap("✅ Send")
    [submission] = await stored(running_bot)
    assert [item["type"] for item in submission.attachments] == ["photo"] * 5


async def test_an_album_before_the_text_is_one_answer_asking_for_the_text(
    resident, standin: TelegramStandIn
) -> None:
    chat: Chat = resident()
    await _to_prompt(chat)

    answers = await new_messages(chat, lambda: standin.send_album(chat.user, 3))

    assert len(answers) == 1, answers
    assert "3 photos" in answers[0] and "Now write your text" in answers[0]
    assert "not added" not in answers[0]


async def test_an_album_after_some_photos_fills_up_to_the_limit(
    resident, standin: TelegramStandIn, running_bot: RunningBot
) -> None:
    chat: Chat = resident()
    await _to_prompt(chat)
    await chat.send(PROPOSAL)
    await chat.expect_answer(lambda: standin.send_photo(chat.user))
    await chat.expect_answer(lambda: standin.send_photo(chat.user))

    answers = await new_messages(chat, lambda: standin.send_album(chat.user, 4))

    assert len(answers) == 1, answers
    assert "5 photos" in answers[0]
    assert "1 photo of the album was not added" in answers[0]
    await chat.tap("✅ Send")
    [submission] = await stored(running_bot)
    assert len(submission.attachments) == 5


async def test_an_album_outside_a_draft_is_answered_once(
    resident, standin: TelegramStandIn
) -> None:
    chat: Chat = resident()
    await chat.send("/start")

    answers = await new_messages(chat, lambda: standin.send_album(chat.user, 6))

    assert len(answers) == 1, answers
    assert answers[0].startswith("I can only read text messages and buttons here")


# --- messages without a person behind them ----------------------------------------------

CHANNEL = {"id": -1001987654321, "type": "channel", "title": "Община — новини"}


def group_message(group: SimChat, message_id: int, **fields: object) -> dict[str, object]:
    return {
        "message_id": message_id,
        "chat": group.to_api(),
        "date": int(time.time()),
        **fields,
    }


@pytest.mark.parametrize(
    ("command", "answer"),
    [
        # A command in reply to someone else's message is not for the bot: it stays quiet.
        ("/help", None),
        ("/start", None),
        # A staff command from someone who is not staff is refused, as anywhere.
        ("/export", "Only the municipality's staff"),
    ],
)
async def test_a_command_replying_to_a_channel_post_in_a_group_is_no_error(
    standin: TelegramStandIn, caplog: pytest.LogCaptureFixture, command: str, answer: str | None
) -> None:
    ana = standin.add_user("Ana")
    group = standin.add_group("Discussion", members=[ana])
    # A channel's post as a discussion group shows it: a sender chat, no sender.
    post = group_message(group, 900, sender_chat=CHANNEL, text="Нов план за центъра")
    standin.push_update(
        {
            "message": group_message(
                group,
                901,
                **{"from": ana.to_api()},
                text=command,
                entities=[{"type": "bot_command", "offset": 0, "length": len(command)}],
                reply_to_message=post,
            )
        }
    )
    await standin.wait_idle()

    assert errors_logged(caplog) == []
    assert [m.text.startswith(answer) for m in standin.messages(group)] == (
        [True] if answer else []
    )


@pytest.mark.parametrize("command", ["/help", "/export"])
async def test_a_command_from_a_channel_in_a_group_is_no_error(
    standin: TelegramStandIn, caplog: pytest.LogCaptureFixture, command: str
) -> None:
    group = standin.add_group("Discussion")
    standin.push_update(
        {
            "message": group_message(
                group,
                902,
                sender_chat=CHANNEL,
                text=command,
                entities=[{"type": "bot_command", "offset": 0, "length": len(command)}],
            )
        }
    )
    await standin.wait_idle()

    assert errors_logged(caplog) == []
    # Nobody to point to the private chat, nor to refuse: a channel has no private chat.
    assert standin.messages(group) == []


async def test_another_bot_in_a_private_chat_is_ignored(
    standin: TelegramStandIn, caplog: pytest.LogCaptureFixture, running_bot: RunningBot
) -> None:
    other = standin.add_user("Other bot", username="other_bot", is_bot=True)
    standin.send_text(other, "/start stara-zagora-pid-strategy")
    standin.send_text(other, "/my")
    standin.send_text(other, "/mydata")
    standin.send_text(other, "Hello, bot")
    standin.send_photo(other)
    await standin.wait_idle()

    assert errors_logged(caplog) == []
    # Bots do not read answers, and two bots answering each other would never stop.
    assert standin.messages(other) == []
    assert await stored(running_bot) == []


# --- edits that would change nothing -----------------------------------------------------


async def test_two_quick_taps_on_one_button_edit_once(resident, standin: TelegramStandIn) -> None:
    chat: Chat = resident()
    menu = await chat.send("/start")
    # Both presses carry the menu as it was: the second asks for the screen the first
    # already put there.
    first = standin.press(chat.user, menu, text="❓ Help")
    second = standin.press(chat.user, menu, text="❓ Help")
    await standin.wait_callback_answer(first)
    await standin.wait_callback_answer(second)
    await chat.settled()

    edits = [r for r in standin.requests if r.method == "editMessageText"]
    assert len(edits) == 1
    assert standin.invalid_requests == []
    assert chat.text.startswith("How to use this bot")


async def test_telegram_saying_not_modified_is_success(
    standin: TelegramStandIn, bot_settings: Settings
) -> None:
    ana = standin.add_user("Ana")
    # A client that does not remember what it showed (as after a restart): Telegram
    # itself says the edit changes nothing, and that is the edit done.
    bot = build_bot(bot_settings)
    try:
        sent = await bot.send_message(ana.id, "<b>Same</b> screen")
        assert await bot.edit_message_text(
            "<b>Same</b> screen", chat_id=ana.id, message_id=sent.message_id
        )
    finally:
        await bot.session.close()
    assert ["message is not modified" in r.description for r in standin.invalid_requests] == [True]
    standin.invalid_requests.clear()
