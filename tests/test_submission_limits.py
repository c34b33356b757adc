"""Flood control: a resident who sends too much is told so politely, and loses nothing."""

from __future__ import annotations

import pytest

from bot.config import Settings
from bot.sandbox import TelegramStandIn
from tests.conftest import Chat, RunningBot
from tests.test_submissions import stored

TEXTS = [f"Proposal number {n}: more benches along the river, please." for n in range(4)]


@pytest.fixture
def bot_settings(bot_settings: Settings) -> Settings:
    return bot_settings.model_copy(update={"submissions_per_hour": 2, "messages_per_minute": 8})


async def _propose(chat: Chat, text: str) -> str:
    await chat.send("/start stara-zagora-pid-strategy__2")
    await chat.tap("💡 Suggest")
    if "✅ I agree" in chat.labels:
        await chat.tap("✅ I agree")
    await chat.send(text)
    return (await chat.tap("✅ Send")).text


async def test_submissions_per_hour_are_limited_and_the_draft_is_kept(
    resident, running_bot: RunningBot
) -> None:
    chat: Chat = resident()
    assert (await _propose(chat, TEXTS[0])).startswith("✅ Received.")
    assert (await _propose(chat, TEXTS[1])).startswith("✅ Received.")
    refused = await _propose(chat, TEXTS[2])
    assert refused.startswith("You have sent many submissions in the last hour.")
    # An hour after the first (09:00 UTC), in Sofia's summer time.
    assert "1 June 2024, 13:00" in refused.replace("\u202f", " ")
    assert TEXTS[2] in refused and "✅ Send" in chat.labels, "the draft is still there"
    assert len(await stored(running_bot)) == 2


async def test_messages_per_minute_are_limited_with_one_friendly_word(
    resident, standin: TelegramStandIn
) -> None:
    chat: Chat = resident()
    for _ in range(8):
        await chat.send("hello")
    before = len(standin.messages(chat.user))
    for _ in range(5):
        standin.send_text(chat.user, "hello again")
    await standin.wait_idle()
    answers = standin.messages(chat.user)[before:]
    assert [answer.text for answer in answers] == [
        "You are sending messages very quickly. Please wait a minute; "
        "nothing you wrote before is lost."
    ]
