"""End to end: the staff group reviews, answers and decides; residents hear back."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.sandbox import SentMessage, SimChat, SimUser, TelegramStandIn
from storage.models import Resident, StaffAction, StaffActionKind, SubmissionStatus
from tests.conftest import Chat, RunningBot
from tests.test_submissions import PROPOSAL, stored


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

    async def press(self, card: SentMessage, label: str) -> str | None:
        query = self.standin.press(self.user, card, text=label, chat=self.room.chat)
        answer = await self.standin.wait_callback_answer(query)
        await self.standin.wait_idle()
        return answer.text

    async def reply(self, to: SentMessage, text: str) -> SentMessage:
        before = len(self.messages)
        self.standin.send_text(self.user, text, chat=self.room.chat, reply_to=to.message_id)
        await self.standin.wait_for(lambda: len(self.messages) > before, 10)
        await self.standin.wait_idle()
        return self.messages[-1]


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
    assert "🙈 Анонимно за обществото" in card.text
    labels = [button.text for button in card.flat_buttons]
    assert labels[:4] == ["💬 Отговор", "✅ Приемане", "◐ Частично", "❌ Неприемане"]


async def test_answer_by_button_reaches_the_resident_in_their_language(
    resident, maria: Staff, running_bot: RunningBot
) -> None:
    ana: Chat = resident("Ana", "sl")
    number = await propose(ana)
    await maria.press(maria.card(number), "💬 Отговор")
    prompt = maria.messages[-1]
    assert prompt.text.startswith("✍️ Мария") and prompt.reply_markup.get("force_reply")
    before = len(ana.standin.messages(ana.user))
    saved = await maria.reply(prompt, "Благодарим! Ще го обсъдим на 12 юни.")
    assert saved.text.startswith(f"Записано за № {number}")
    notice = ana.standin.messages(ana.user)[before]
    assert notice.text.startswith(f"💬 Odgovor na predlog № {number}")
    assert "Благодарим! Ще го обсъдим на 12 юни." in notice.text
    card = maria.card(number)
    assert "💬 Отговор: Благодарим!" in card.text and "От Мария" in card.text
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
    document = await _use_tool(maria, "/export", title[:59] + "…", fmt)
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
    document = await _use_tool(maria, "/report", title[:59] + "…", fmt)
    assert document.kind == "document" and document.filename.endswith(f".{fmt.lower()}")
    assert (document.document or b"")[:2] == b"PK"


async def test_stats_from_the_staff_chat(resident, maria: Staff, standin: TelegramStandIn):
    ana: Chat = resident("Ana", "en")
    await propose(ana)
    title = "Стратегия за развитие на предприемачеството, иновациите и дигитализацията в областта"
    chart = await _use_tool(maria, "/stats", title[:59] + "…", None)
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
