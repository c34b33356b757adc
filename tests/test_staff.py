"""End to end: the staff group reviews, answers and decides; residents hear back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.sandbox import SentMessage, SimChat, SimUser, TelegramStandIn
from handlers.keyboards import label as button_label
from storage.models import (
    Resident,
    StaffAction,
    StaffActionKind,
    StaffPrompt,
    SubmissionKind,
    SubmissionStatus,
)
from tests.conftest import NOW, Chat, RunningBot
from tests.test_submissions import PROPOSAL, QUESTION, stored


@dataclass
class StaffRoom:
    chat: SimChat
    maria: SimUser
    petar: SimUser


@pytest.fixture
def staff_room(standin: TelegramStandIn, request: pytest.FixtureRequest) -> StaffRoom:
    """The staff group; `@pytest.mark.parametrize("staff_room", ["forum"], indirect=True)`
    makes it a forum with topics."""
    forum = getattr(request, "param", "group") == "forum"
    maria = standin.add_user("Мария", language_code="bg")
    petar = standin.add_user("Петър", language_code="bg")
    chat = standin.add_group(
        "Община — консултации",
        members=[petar],
        admins=[maria],
        is_forum=forum,
        bot_is_admin=forum,
        bot_can_manage_topics=forum,
    )
    return StaffRoom(chat, maria, petar)


@pytest.fixture
def bot_settings(bot_settings: Settings, staff_room: StaffRoom) -> Settings:
    # The staff chat speaks Bulgarian; residents speak their own languages.
    return bot_settings.model_copy(
        update={"staff_chat_id": staff_room.chat.id, "default_locale": "bg"}
    )


class Staff:
    """A staff member in the staff chat."""

    def __init__(self, standin: TelegramStandIn, room: StaffRoom, user: SimUser) -> None:
        self.standin, self.room, self.user = standin, room, user

    @property
    def messages(self) -> list[SentMessage]:
        return self.standin.messages(self.room.chat)

    def card(self, number: str) -> SentMessage:
        return next(m for m in self.messages if m.text.startswith(f"📥 № {number}"))

    async def card_of(self, number: str) -> SentMessage:
        """The card, once the outbox worker has posted it."""
        prefix = f"📥 № {number}"
        await self.standin.wait_for(
            lambda: any(m.text.startswith(prefix) for m in self.messages), 10
        )
        return self.card(number)

    async def press(self, card: SentMessage, label: str) -> str | None:
        query = self.standin.press(self.user, card, text=label, chat=self.room.chat)
        answer = await self.standin.wait_callback_answer(query)
        await self.standin.wait_idle()
        return answer.text

    async def press_data(self, card: SentMessage, data: str) -> tuple[str | None, bool]:
        """A button with this data on `card`, as an old copy of the card still shows it."""
        query = self.standin.press_forged(
            self.user, self.room.chat, data, message_id=card.message_id
        )
        answer = await self.standin.wait_callback_answer(query)
        await self.standin.wait_idle()
        return answer.text, answer.show_alert

    async def reply(self, to: SentMessage | int, text: str) -> SentMessage:
        before = len(self.messages)
        message_id = to if isinstance(to, int) else to.message_id
        self.standin.send_text(self.user, text, chat=self.room.chat, reply_to=message_id)
        await self.standin.wait_for(lambda: len(self.messages) > before, 10)
        await self.standin.wait_idle()
        return self.messages[-1]

    async def say(self, text: str, reply_to: int | None = None) -> list[SentMessage]:
        """Write in the staff chat; what the bot wrote there in return (maybe nothing)."""
        before = len(self.messages)
        self.standin.send_text(self.user, text, chat=self.room.chat, reply_to=reply_to)
        await self.standin.wait_idle()
        return self.messages[before:]

    async def prompt(self, card: SentMessage, label: str) -> SentMessage:
        """Press `label` on `card`; the prompt it sent, as a reply to the card."""
        before = len(self.messages)
        await self.press(card, label)
        [prompt] = self.messages[before:]
        assert prompt.reply_to_message_id == card.message_id
        assert prompt.reply_markup is not None and prompt.reply_markup.get("force_reply")
        return prompt


@pytest.fixture
def maria(standin: TelegramStandIn, staff_room: StaffRoom, running_bot: RunningBot) -> Staff:
    return Staff(standin, staff_room, staff_room.maria)


async def propose(chat: Chat, text: str = PROPOSAL) -> str:
    """A resident sends a proposal on section 3.1; its public number."""
    await chat.send("/start stara-zagora-pid-strategy__3-1")
    await chat.tap(_label(chat, "💡"))
    if chat.last.text.startswith("🔒"):
        await chat.tap(_label(chat, "✅"))
    await chat.send(text)
    receipt = await chat.tap(_label(chat, "✅"))
    return receipt.text.split("<b>")[-1] if "<b>" in receipt.text else _number(receipt.text)


def _label(chat: Chat, prefix: str) -> str:
    return next(label for label in chat.labels if label.startswith(prefix))


def _number(text: str) -> str:
    return next(word.rstrip(".") for word in text.split() if word[:4].isdigit() and "-" in word)


async def ask(chat: Chat, text: str = QUESTION) -> str:
    """A resident asks a question on section 3.1; its public number."""
    await chat.send("/start stara-zagora-pid-strategy__3-1")
    await chat.tap(_label(chat, "❓"))
    if chat.last.text.startswith("🔒"):
        await chat.tap(_label(chat, "✅"))
    await chat.send(text)
    receipt = await chat.tap(_label(chat, "✅"))
    return _number(receipt.text)


def inbox(chat: Chat) -> list[SentMessage]:
    """What the bot wrote to a resident so far."""
    return chat.standin.messages(chat.user)


async def arrived(chat: Chat, before: int, count: int = 1) -> list[SentMessage]:
    """The messages a resident got after the first `before`, once `count` came (the
    outbox worker delivers them after the commit)."""
    await chat.standin.wait_for(lambda: len(inbox(chat)) >= before + count, 10)
    await chat.standin.wait_idle()
    return inbox(chat)[before:]


class MovingClock:
    """The bot's clock, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


async def prompts(running_bot: RunningBot) -> list[StaffPrompt]:
    assert running_bot.app is not None
    async with running_bot.app.session_factory() as session:
        return list(await session.scalars(select(StaffPrompt).order_by(StaffPrompt.id)))


async def audit(running_bot: RunningBot) -> list[StaffAction]:
    assert running_bot.app is not None
    async with running_bot.app.session_factory() as session:
        return list(await session.scalars(select(StaffAction).order_by(StaffAction.id)))


async def test_a_new_submission_appears_as_a_card(resident, maria: Staff) -> None:
    ana: Chat = resident("Ana", "en")
    number = await propose(ana)
    card = maria.card(number)
    assert "Стратегия за развитие на предприемачеството" in card.text
    assert "3.1." in card.text and PROPOSAL in card.text
    assert "🙈 Без публикуване на името" in card.text
    labels = [button.text for button in card.flat_buttons]
    assert labels[:4] == ["💬 Отговор", "✅ Приемане", "◐ Частично", "❌ Неприемане"]


async def test_answer_by_button_reaches_the_resident_in_their_language(
    resident, maria: Staff, running_bot: RunningBot
) -> None:
    ana: Chat = resident("Ana", "sl")
    number = await propose(ana)
    await maria.press(maria.card(number), "💬 Отговор")
    prompt = maria.messages[-1]
    assert prompt.text.startswith("✍️ \u2068Мария\u2069") and prompt.reply_markup.get("force_reply")
    before = len(ana.standin.messages(ana.user))
    saved = await maria.reply(prompt, "Благодарим! Ще го обсъдим на 12 юни.")
    assert saved.text.startswith(f"Записано за № {number}")
    notice = ana.standin.messages(ana.user)[before]
    assert notice.text.startswith(f"💬 Odgovor na predlog št. {number}")
    assert "Благодарим! Ще го обсъдим на 12 юни." in notice.text
    card = maria.card(number)
    # A name is set apart by invisible isolates (its writing direction stays inside).
    assert "💬 Отговор: Благодарим!" in card.text and "От \u2068Мария\u2069" in card.text
    [action] = await audit(running_bot)
    assert action.kind is StaffActionKind.ANSWER and action.actor_name == "Мария"


async def test_replying_to_a_card_answers_it(resident, maria: Staff, running_bot) -> None:
    ana: Chat = resident("Ana", "en")
    number = await propose(ana)
    await maria.reply(maria.card(number), "Yes, the station area is in the plan for 2025.")
    [submission] = await stored(running_bot)
    assert submission.status is SubmissionStatus.ANSWERED
    assert submission.answer == "Yes, the station area is in the plan for 2025."
    assert "An answer to your proposal" in ana.last.text


@pytest.mark.parametrize(
    ("label", "status", "decision_en"),
    [
        ("✅ Приемане", SubmissionStatus.ACCEPTED, "accepted"),
        ("◐ Частично", SubmissionStatus.PARTLY_ACCEPTED, "partly accepted"),
        ("❌ Неприемане", SubmissionStatus.REJECTED, "not accepted"),
    ],
)
async def test_each_decision_asks_for_a_reason_and_tells_the_resident(
    resident, maria: Staff, running_bot, label: str, status: SubmissionStatus, decision_en: str
) -> None:
    ana: Chat = resident("Ana", "en")
    number = await propose(ana)
    await maria.press(maria.card(number), label)
    await maria.reply(maria.messages[-1], "Причина: бюджетът за 2025 г.")
    [submission] = await stored(running_bot)
    assert submission.status is status
    assert submission.decision_reason == "Причина: бюджетът за 2025 г."
    assert f"A decision on your proposal № {number}: {decision_en}" in ana.last.text
    mine = await ana.send("/my")
    assert "Reason: Причина: бюджетът за 2025 г." in mine.text


async def test_spam_changes_the_card_and_tells_nobody(resident, maria: Staff, running_bot):
    ana: Chat = resident("Ana", "en")
    number = await propose(ana)
    before = len(ana.standin.messages(ana.user))
    await maria.press(maria.card(number), "🚫 Спам")
    [submission] = await stored(running_bot)
    assert submission.status is SubmissionStatus.SPAM
    assert len(ana.standin.messages(ana.user)) == before
    assert "🚫 Спам" not in [b.text for b in maria.card(number).flat_buttons]


async def test_a_blocked_sender_cannot_send_until_unblocked(resident, maria: Staff) -> None:
    ana: Chat = resident("Ana", "en")
    number = await propose(ana)
    await maria.press(maria.card(number), "⛔ Блокиране на подателя")
    assert "⛔" in maria.card(number).text
    await ana.send("/start stara-zagora-pid-strategy")
    refused = await ana.tap("💡 Suggest")
    assert refused.text.startswith("You can no longer send proposals or questions here.")
    await maria.press(maria.card(number), "✅ Отблокиране на подателя")
    await ana.send("/start stara-zagora-pid-strategy")
    assert "Write it in one message" in (await ana.tap("💡 Suggest")).text


async def test_a_forged_staff_button_from_a_resident_changes_nothing(
    resident, maria: Staff, running_bot
) -> None:
    ana: Chat = resident("Ana", "en")
    number = await propose(ana)
    [submission] = await stored(running_bot)
    answer = await ana.tap_data(f"sc:accepted:{submission.id}")
    assert answer == "Only the municipality's staff can do this."
    [unchanged] = await stored(running_bot)
    assert unchanged.status is SubmissionStatus.RECEIVED
    [refusal] = await audit(running_bot)
    assert refusal.kind is StaffActionKind.REFUSED and refusal.actor_telegram_id == ana.user.id
    assert maria.card(number).text == maria.card(number).text  # the card stays as it was


async def test_staff_rights_are_asked_on_every_update(
    resident, maria: Staff, staff_room: StaffRoom, standin: TelegramStandIn, running_bot
) -> None:
    ana: Chat = resident("Ana", "en")
    number = await propose(ana)
    card = maria.card(number)
    spam = card.button(text="🚫 Спам").value
    # She is removed from the staff chat; her press arrives after that.
    standin.set_member_status(staff_room.chat, staff_room.maria, "left")
    query = standin.press_forged(
        staff_room.maria, staff_room.chat, spam, message_id=card.message_id
    )
    answer = (await standin.wait_callback_answer(query)).text
    assert answer == "Само служителите на общината могат да правят това."
    [submission] = await stored(running_bot)
    assert submission.status is SubmissionStatus.RECEIVED


async def test_a_resident_who_blocked_the_bot_breaks_nothing(
    resident, maria: Staff, standin: TelegramStandIn, running_bot
) -> None:
    ana: Chat = resident("Ana", "en")
    number = await propose(ana)
    standin.block_bot(ana.user)
    await standin.wait_idle()
    saved = await maria.reply(maria.card(number), "Отговор, който няма да стигне.")
    assert "не можа да бъде достигнат" in saved.text
    [submission] = await stored(running_bot)
    assert submission.status is SubmissionStatus.ANSWERED
    assert running_bot.app is not None
    async with running_bot.app.session_factory() as session:
        stored_ana = await session.scalar(
            select(Resident).where(Resident.telegram_user_id == ana.user.id)
        )
        assert stored_ana is not None and stored_ana.reachable is False


async def test_cards_missed_while_the_staff_chat_was_not_set_are_posted_at_start(
    resident, standin: TelegramStandIn, staff_room: StaffRoom, running_bot: RunningBot
) -> None:
    running_bot.settings = running_bot.settings.model_copy(update={"staff_chat_id": None})
    await running_bot.restart()
    ana: Chat = resident("Ana", "en")
    number = await propose(ana)
    assert standin.messages(staff_room.chat) == []
    running_bot.settings = running_bot.settings.model_copy(
        update={"staff_chat_id": staff_room.chat.id}
    )
    await running_bot.restart()
    await standin.wait_for(lambda: standin.messages(staff_room.chat), 10)
    assert standin.messages(staff_room.chat)[0].text.startswith(f"📥 № {number}")


async def _use_tool(maria: Staff, command: str, consultation: str, fmt: str | None) -> SentMessage:
    """/export, /report or /stats in the staff chat: pick the consultation and format."""
    before = len(maria.messages)
    maria.standin.send_text(maria.user, command, chat=maria.room.chat)
    await maria.standin.wait_for(lambda: len(maria.messages) > before, 10)
    await maria.standin.wait_idle()
    await maria.press(maria.messages[-1], consultation)
    if fmt is not None:
        await maria.press(maria.messages[-1], fmt)
    return maria.messages[-1]


@pytest.mark.parametrize("fmt", ["CSV", "XLSX", "JSON"])
async def test_export_from_the_staff_chat(resident, maria: Staff, fmt: str) -> None:
    ana: Chat = resident("Ana", "en")
    number = await propose(ana, '=HYPERLINK("http://x") and a bench by the river, please')
    title = "Стратегия за развитие на предприемачеството, иновациите и дигитализацията в областта"
    document = await _use_tool(maria, "/export", button_label(title), fmt)
    assert document.kind == "document" and document.filename.endswith(f".{fmt.lower()}")
    content = document.document or b""
    if fmt == "CSV":
        text = content.decode("utf-8-sig")
        assert number in text and "'=HYPERLINK" in text
    elif fmt == "JSON":
        import json

        [row] = json.loads(content)
        assert row["text"].startswith("=HYPERLINK")
    else:
        assert content[:2] == b"PK"  # a zip: an XLSX workbook


@pytest.mark.parametrize("fmt", ["DOCX", "XLSX"])
async def test_report_from_the_staff_chat(resident, maria: Staff, fmt: str) -> None:
    ana: Chat = resident("Ana", "en")
    await propose(ana)
    title = "Стратегия за развитие на предприемачеството, иновациите и дигитализацията в областта"
    document = await _use_tool(maria, "/report", button_label(title), fmt)
    assert document.kind == "document" and document.filename.endswith(f".{fmt.lower()}")
    assert (document.document or b"")[:2] == b"PK"


async def test_stats_from_the_staff_chat(resident, maria: Staff, standin: TelegramStandIn):
    ana: Chat = resident("Ana", "en")
    await propose(ana)
    title = "Стратегия за развитие на предприемачеството, иновациите и дигитализацията в областта"
    chart = await _use_tool(maria, "/stats", button_label(title), None)
    assert chart.kind == "photo"
    summary = maria.messages[-2]
    assert "1" in summary.text


async def test_an_admin_exports_in_a_private_chat_and_others_are_refused(
    standin: TelegramStandIn, bot_settings: Settings, resident, running_bot: RunningBot
) -> None:
    boss = standin.add_user("Boss", language_code="en")
    running_bot.settings = running_bot.settings.model_copy(update={"admin_ids": {boss.id}})
    await running_bot.restart()
    admin = Chat(standin, boss)
    picker = await admin.send("/export")
    assert picker.text == "Export the submissions of which consultation?"
    stranger: Chat = resident("Eve", "en")
    refused = await stranger.send("/export")
    assert refused.text == "Only the municipality's staff can do this."
    [refusal] = await audit(running_bot)
    assert refusal.kind is StaffActionKind.REFUSED and refusal.detail == "/export"


@pytest.mark.parametrize("staff_room", ["forum"], indirect=True)
async def test_in_a_forum_each_consultation_has_its_topic(
    resident, maria: Staff, standin: TelegramStandIn, staff_room: StaffRoom, running_bot
) -> None:
    ana: Chat = resident("Ana", "en")
    first = await propose(ana)
    second = await propose(ana, "A second idea: a bicycle lane along the main boulevard, please.")
    [topic] = standin.topics(staff_room.chat)
    assert topic.name.startswith("Стратегия за развитие на предприемачеството")
    assert maria.card(first).thread_id == topic.thread_id == maria.card(second).thread_id
    # Answering works in the topic too.
    await maria.reply(maria.card(first), "Благодарим, предаваме го на отдела.")
    assert "An answer to your proposal" in ana.last.text


async def test_attachments_follow_the_card(resident, maria: Staff, standin: TelegramStandIn):
    ana: Chat = resident("Ana", "en")
    await ana.send("/start stara-zagora-pid-strategy")
    await ana.tap("💡 Suggest")
    await ana.tap("✅ I agree")
    await ana.expect_answer(lambda: standin.send_photo(ana.user))
    await ana.send(PROPOSAL)
    await ana.expect_answer(lambda: standin.send_location(ana.user, 42.4258, 25.6345))
    receipt = await ana.tap("✅ Send")
    number = _number(receipt.text)
    await standin.wait_idle()
    card = maria.card(number)
    replies = [m for m in maria.messages if m.reply_to_message_id == card.message_id]
    assert [m.kind for m in replies] == ["photo", "location"]
    assert replies[1].location == pytest.approx((42.4258, 25.6345))


# --- prompts are bound to their message (issue 9) -------------------------------------


async def test_each_prompt_answers_its_own_card(resident, maria: Staff, running_bot) -> None:
    """💬 on Ana's card, ✅ on Clara's, then a reply to Ana's prompt: Ana gets the answer."""
    ana: Chat = resident("Ana", "en")
    clara: Chat = resident("Clara", "en")
    ana_number = await propose(ana)
    clara_number = await propose(clara, "Please plant trees along the river promenade, it is hot.")
    to_ana = await maria.prompt(await maria.card_of(ana_number), "💬 Отговор")
    to_clara = await maria.prompt(await maria.card_of(clara_number), "✅ Приемане")
    ana_before, clara_before = len(inbox(ana)), len(inbox(clara))

    saved = await maria.reply(to_ana, "The station area is in the plan for 2025.")
    assert saved.text.startswith(f"Записано за № {ana_number}")
    [answer] = await arrived(ana, ana_before)
    assert answer.text.startswith(f"💬 An answer to your proposal № {ana_number}")
    assert "The station area is in the plan for 2025." in answer.text
    assert inbox(clara)[clara_before:] == []
    first, second = await stored(running_bot)
    assert first.status is SubmissionStatus.ANSWERED
    assert second.status is SubmissionStatus.RECEIVED and second.decision_reason is None

    # Clara's prompt still waits for its own reply.
    await maria.reply(to_clara, "It fits priority 2.")
    [decision] = await arrived(clara, clara_before)
    assert f"A decision on your proposal № {clara_number}: accepted" in decision.text
    assert "It fits priority 2." in decision.text
    assert len(inbox(ana)) == ana_before + 1


async def test_only_a_reply_answers_and_staff_talk_stays_in_the_room(
    resident, maria: Staff, staff_room: StaffRoom, standin: TelegramStandIn, running_bot
) -> None:
    ana: Chat = resident("Ana", "en")
    number = await propose(ana)
    await maria.prompt(await maria.card_of(number), "💬 Отговор")
    before = len(inbox(ana))
    # Not a reply: the staff talking among themselves, never sent to anyone.
    said = await maria.say("Petar, do you know who this Ana is? Looks like a troll to me")
    assert said == []
    # A reply to a person's message: silence too.
    petar_said = standin.send_text(staff_room.petar, "No idea.", chat=staff_room.chat)
    await standin.wait_idle()
    message_id = standin.message_id_of(petar_said)
    assert await maria.say("Let us ask the mayor's office.", reply_to=message_id) == []
    assert inbox(ana)[before:] == []
    [submission] = await stored(running_bot)
    assert submission.status is SubmissionStatus.RECEIVED and submission.answer is None
    assert await audit(running_bot) == []


async def test_a_prompt_expires_after_30_minutes(
    resident, maria: Staff, running_bot: RunningBot
) -> None:
    clock = MovingClock(NOW)
    running_bot.clock = clock
    await running_bot.restart()
    ana: Chat = resident("Ana", "en")
    number = await propose(ana)
    prompt = await maria.prompt(await maria.card_of(number), "💬 Отговор")
    [row] = await prompts(running_bot)
    assert row.expires_at == NOW + timedelta(minutes=30) and row.closed_at is None
    before = len(inbox(ana))

    clock.advance(minutes=30, seconds=1)
    expired = await maria.reply(prompt, "A late answer.")
    assert "изтече след 30 минути" in expired.text
    assert "натиснете отново бутона на картата" in expired.text
    assert inbox(ana)[before:] == []
    [submission] = await stored(running_bot)
    assert submission.status is SubmissionStatus.RECEIVED and submission.answer is None

    # The button again: a new prompt, which works.
    fresh = await maria.prompt(await maria.card_of(number), "💬 Отговор")
    saved = await maria.reply(fresh, "An answer in time.")
    assert saved.text.startswith(f"Записано за № {number}")
    [answer] = await arrived(ana, before)
    assert "An answer in time." in answer.text


async def test_a_used_or_cancelled_prompt_answers_no_more(
    resident, maria: Staff, running_bot
) -> None:
    ana: Chat = resident("Ana", "en")
    number = await propose(ana)
    card = await maria.card_of(number)
    prompt = await maria.prompt(card, "💬 Отговор")
    # A reply that is no usable text is explained and leaves the prompt open.
    count = len(maria.messages)
    maria.standin.send_sticker(maria.user, chat=maria.room.chat, reply_to=prompt.message_id)
    await maria.standin.wait_for(lambda: len(maria.messages) > count, 10)
    await maria.standin.wait_idle()
    assert maria.messages[-1].text.startswith("Моля, отговорете с текст от 1 до 3000 знака")
    await maria.reply(prompt, "The first answer.")
    before = len(inbox(ana))
    again = await maria.reply(prompt, "A second answer to the same prompt.")
    assert again.text.startswith("На това искане за текст вече е отговорено или е отменено")
    assert inbox(ana)[before:] == []

    # /cancel as a reply to a prompt cancels it.
    cancelled = await maria.prompt(card, "❌ Неприемане")
    said = await maria.say("/cancel", reply_to=cancelled.message_id)
    assert [m.text for m in said] == ["Спряно; нищо не беше записано."]
    late = await maria.reply(cancelled, "Not in the plan.")
    assert late.text.startswith("На това искане за текст вече е отговорено или е отменено")
    assert inbox(ana)[before:] == []
    [submission] = await stored(running_bot)
    assert submission.status is SubmissionStatus.ANSWERED
    assert submission.answer == "The first answer." and submission.decision_reason is None

    # /cancel not as a reply: all of the sender's open prompts in the chat.
    first = await maria.prompt(card, "✅ Приемане")
    await maria.prompt(card, "◐ Частично")
    [response] = await maria.say("/cancel")
    assert response.text == "Отменени са 2 искания за текст; нищо не беше записано."
    [response] = await maria.say("/cancel")
    assert response.text == "Нямате отворено искане за текст тук."
    late = await maria.reply(first, "Accepted after all.")
    assert late.text.startswith("На това искане за текст вече е отговорено или е отменено")
    assert inbox(ana)[before:] == []
    assert all(row.closed_at is not None for row in await prompts(running_bot))


async def test_a_reply_to_another_message_of_the_bot_is_answered_politely(
    resident, maria: Staff, running_bot
) -> None:
    ana: Chat = resident("Ana", "en")
    number = await propose(ana)
    saved = await maria.reply(await maria.card_of(number), "Thank you, we will look at it.")
    before = len(inbox(ana))
    [response] = await maria.say("And one more thing.", reply_to=saved.message_id)
    assert response.text.startswith("Нищо не беше изпратено: това съобщение не е")
    assert inbox(ana)[before:] == []


async def test_a_question_is_answered_not_decided(
    resident, maria: Staff, running_bot: RunningBot
) -> None:
    ana: Chat = resident("Ana", "en")
    number = await ask(ana)
    card = await maria.card_of(number)
    labels = [button.text for button in card.flat_buttons]
    assert "💬 Отговор" in labels
    assert not {"✅ Приемане", "◐ Частично", "❌ Неприемане"} & set(labels)
    [submission] = await stored(running_bot)
    assert submission.kind is SubmissionKind.QUESTION
    before = len(maria.messages)
    answer, alert = await maria.press_data(card, f"sc:accepted:{submission.id}")
    assert answer == "На въпрос се отговаря, по него не се взема решение." and alert
    assert maria.messages[before:] == [] and await prompts(running_bot) == []
    [unchanged] = await stored(running_bot)
    assert unchanged.status is SubmissionStatus.RECEIVED
    # 💬 works.
    prompt = await maria.prompt(card, "💬 Отговор")
    before = len(inbox(ana))
    await maria.reply(prompt, "In September.")
    [answer] = await arrived(ana, before)
    assert f"An answer to your question № {number}" in answer.text


async def test_an_erased_submission_s_card_and_prompt_do_nothing(
    resident, maria: Staff, running_bot: RunningBot
) -> None:
    """Ana erases herself and her submission; Clara's next submission gets a new id and
    number, and Ana's old card and prompt reach nothing."""
    ana: Chat = resident("Ana", "en")
    old_number = await propose(ana)
    old_card = await maria.card_of(old_number)
    buttons = {button.text: button.value for button in old_card.flat_buttons}
    [old] = await stored(running_bot)
    prompt = await maria.prompt(old_card, "💬 Отговор")
    await ana.send("/forget")
    done = await ana.tap("🗑 Erase me and my submissions")
    assert done.text.startswith("Done.")

    clara: Chat = resident("Clara", "en")
    new_number = await propose(clara, "Please plant trees along the river promenade, it is hot.")
    [new] = await stored(running_bot)
    assert new.id != old.id and new_number != old_number
    clara_before = len(inbox(clara))
    before = len(maria.messages)

    for label in ("💬 Отговор", "⛔ Блокиране на подателя", "✅ Приемане", "🚫 Спам"):
        answer, alert = await maria.press_data(old_card, buttons[label])
        assert (answer, alert) == ("Този запис е изтрит.", True), label
    assert maria.messages[before:] == []
    [response] = await maria.say("Answer meant for Ana.", reply_to=prompt.message_id)
    assert response.text.startswith("Нищо не беше изпратено")
    [response] = await maria.say("Also meant for Ana.", reply_to=old_card.message_id)
    assert response.text.startswith("Нищо не беше изпратено")

    [unchanged] = await stored(running_bot)
    assert unchanged.status is SubmissionStatus.RECEIVED and unchanged.answer is None
    assert inbox(clara)[clara_before:] == []
    async with running_bot.app.session_factory() as session:  # type: ignore[union-attr]
        stored_clara = await session.scalar(
            select(Resident).where(Resident.telegram_user_id == clara.user.id)
        )
        assert stored_clara is not None and stored_clara.banned is False


async def test_the_card_shows_what_reached_the_resident(
    resident, maria: Staff, standin: TelegramStandIn
) -> None:
    ana: Chat = resident("Ana", "en")
    number = await propose(ana)
    prompt = await maria.prompt(await maria.card_of(number), "💬 Отговор")
    await maria.reply(prompt, "Thank you.")
    await standin.wait_for(lambda: "✉️ Доставено на жителя." in maria.card(number).text, 10)
    eve: Chat = resident("Eve", "en")
    other = await propose(eve, "A playground in the new quarter, with shade and benches.")
    standin.block_bot(eve.user)
    await standin.wait_idle()
    await maria.reply(await maria.card_of(other), "Thank you too.")
    await standin.wait_for(
        lambda: "✉️ Не е доставено: жителят е блокирал бота." in maria.card(other).text, 10
    )


@pytest.mark.parametrize("staff_room", ["forum"], indirect=True)
async def test_in_a_forum_topic_prompts_work_and_plain_talk_is_silent(
    resident, maria: Staff, standin: TelegramStandIn, staff_room: StaffRoom
) -> None:
    ana: Chat = resident("Ana", "en")
    number = await propose(ana)
    card = await maria.card_of(number)
    prompt = await maria.prompt(card, "💬 Отговор")
    assert prompt.thread_id == card.thread_id is not None
    before = len(inbox(ana))
    # In a topic, Telegram shows every message as a reply to the topic's first message.
    said = standin.send_text(
        maria.user, "Who takes this one?", chat=staff_room.chat, thread_id=card.thread_id
    )
    await standin.wait_idle()
    assert standin.message_id_of(said) and maria.messages[-1] == prompt
    assert inbox(ana)[before:] == []
    await maria.reply(prompt, "Благодарим, предаваме го на отдела.")
    [answer] = await arrived(ana, before)
    assert "An answer to your proposal" in answer.text
