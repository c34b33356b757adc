"""End to end: /pending in the staff chat lists what still needs an answer or a decision
(by the report's own rules), oldest first, by consultation and section, with counts;
each item opens its card; the list shrinks as staff answer and decide."""
# ruff: noqa: F811 (the fixtures of tests/test_staff.py, imported, are parameters here)

from __future__ import annotations

from sqlalchemy import select

from bot.pending import pending
from bot.sandbox import SentMessage, TelegramStandIn
from storage.models import Consultation
from storage.repositories import ReportRepository
from tests.conftest import NOW, Chat, RunningBot
from tests.test_staff import (  # noqa: F401 (fixtures)
    MovingClock,
    Staff,
    StaffRoom,
    _label,
    _number,
    arrived,
    ask,
    bot_settings,
    inbox,
    maria,
    propose,
    staff_room,
)


async def propose_on(chat: Chat, section: str, text: str) -> str:
    """A resident's proposal on another section of the Stara Zagora strategy."""
    await chat.send(f"/start stara-zagora-pid-strategy__{section}")
    await chat.tap(_label(chat, "💡"))
    if chat.last.text.startswith("🔒"):
        await chat.tap(_label(chat, "✅"))
    await chat.send(text)
    receipt = await chat.tap(_label(chat, "✅"))
    return _number(receipt.text)


async def pending_list(maria: Staff) -> SentMessage:
    [listing] = await maria.say("/pending")
    return listing


def order(text: str, *numbers: str) -> list[int]:
    return [text.index(f"№ {number} ") for number in numbers]


async def open_items_counted_by_the_report(running_bot: RunningBot) -> int:
    assert running_bot.app is not None
    async with running_bot.app.session_factory() as session:
        consultation_ids = (await session.scalars(select(Consultation.id))).all()
        repository = ReportRepository(session)
        counted = [sum(await repository.open_items(cid)) for cid in consultation_ids]
        listed = sum(len(group.items) for group in await pending(session))
    assert listed == sum(counted)  # one definition: what the report misses is what is listed
    return listed


async def test_pending_lists_open_items_oldest_first_and_shrinks(
    resident, maria: Staff, running_bot: RunningBot
) -> None:
    clock = MovingClock(NOW)
    running_bot.clock = clock
    await running_bot.restart()
    ana, ben, cveta = resident("Ana", "en"), resident("Ben", "bg"), resident("Cveta", "sl")
    first = await propose(ana, "A bus line to the industrial zone, please.")
    clock.advance(hours=1)
    other_section = await propose_on(ben, "3-2", "More co-working space near the station.")
    clock.advance(hours=1)
    question = await ask(cveta, "When will the incubator open?")
    clock.advance(hours=1)
    last = await propose(ben, "Free Wi-Fi in the central park.")
    clock.advance(hours=1)
    spam = await propose(cveta, "Buy cheap watches at example.com")
    await maria.press(await maria.card_of(spam), "🚫 Спам")
    for number in (first, other_section, question, last):
        await maria.card_of(number)

    listing = await pending_list(maria)
    text = listing.text
    assert text.startswith("📌 Чакат отговор или решение: 4")
    # Section 3.1 first (its oldest item waits longest), three items, oldest first;
    # then section 3.2 with its one.
    assert "3.1. " in text and "3.2. " in text
    assert text.index("3.1. ") < text.index("3.2. ")
    assert order(text, first, question, last, other_section) == sorted(
        order(text, first, question, last, other_section)
    )
    assert "· 3\n" in text and "· 1\n" in text
    assert "чака решение" in text and "чака отговор" in text
    assert spam not in text  # spam needs nothing
    labels = [button.text for button in listing.flat_buttons]
    assert labels == [f"💡 № {first}", f"❓ № {question}", f"💡 № {last}", f"💡 № {other_section}"]
    assert await open_items_counted_by_the_report(running_bot) == 4

    # A button shows the card again here; replying to it answers the question.
    before = len(maria.messages)
    await maria.press(listing, f"❓ № {question}")
    [card] = maria.messages[before:]
    assert card.text.startswith(f"📥 № {question}") and "When will the incubator open?" in card.text
    assert "💬 Отговор" in [button.text for button in card.flat_buttons]
    sent = len(inbox(cveta))
    await maria.reply(card, "През септември.")
    [notice] = await arrived(cveta, sent)
    assert f"št. {question}" in notice.text and "През септември." in notice.text

    # An answered proposal still needs a decision; a decided one with its reason does not.
    await maria.reply(await maria.card_of(first), "Благодарим, ще го разгледаме.")
    await maria.press(await maria.card_of(last), "❌ Неприемане")
    await maria.reply(maria.messages[-1], "Няма бюджет за 2025 г.")

    listing = await pending_list(maria)
    assert listing.text.startswith("📌 Чакат отговор или решение: 2")
    assert question not in listing.text and last not in listing.text
    assert [button.text for button in listing.flat_buttons] == [
        f"💡 № {first}",
        f"💡 № {other_section}",
    ]
    assert await open_items_counted_by_the_report(running_bot) == 2

    for number in (first, other_section):
        await maria.press(await maria.card_of(number), "✅ Приемане")
        await maria.reply(maria.messages[-1], "Влиза в плана.")
    listing = await pending_list(maria)
    assert listing.text.startswith("✅ Нищо не чака")
    assert listing.flat_buttons == []
    assert await open_items_counted_by_the_report(running_bot) == 0


async def test_a_long_pending_list_comes_in_pages(
    resident, maria: Staff, running_bot: RunningBot
) -> None:
    numbers = []
    for index in range(9):
        chat = resident(f"Resident{index}", "en")
        numbers.append(await propose(chat, f"Proposal number {index}: " + "more trees " * 60))
    for number in numbers:
        await maria.card_of(number)
    listing = await pending_list(maria)
    assert "Чакат отговор или решение: 9" in listing.text and "Страница 1 от 2" in listing.text
    labels = [button.text for button in listing.flat_buttons]
    assert labels[:8] == [f"💡 № {number}" for number in numbers[:8]]
    assert labels[8:] == ["Напред ➡️"]
    await maria.press(listing, "Напред ➡️")
    page_two = maria.messages[-1]
    assert page_two.message_id == listing.message_id  # the same message, edited
    assert "Страница 2 от 2" in page_two.text and f"№ {numbers[8]}" in page_two.text
    assert [button.text for button in page_two.flat_buttons] == [
        f"💡 № {numbers[8]}",
        "⬅️ Назад",
    ]


async def test_pending_is_for_staff_only(
    resident, standin: TelegramStandIn, staff_room: StaffRoom, running_bot: RunningBot
) -> None:
    ana: Chat = resident("Ana", "en")
    answer = await ana.send("/pending")
    assert answer.text == "Only the municipality's staff can do this."
    forged = await ana.tap_data("po:1")
    assert forged == "Only the municipality's staff can do this."


async def test_staff_help_and_menu_name_pending_and_templates(
    maria: Staff, standin: TelegramStandIn, staff_room: StaffRoom
) -> None:
    [help_text] = await maria.say("/help")
    assert "/pending – " in help_text.text and "/templates – " in help_text.text
    scope = {"type": "chat", "chat_id": staff_room.chat.id}
    for language in ("bg", "sl", "en"):
        described = {
            c["command"]: c["description"]
            for c in standin.commands(scope=scope, language_code=language)
        }
        assert {"pending", "templates", "export", "report", "add"} <= set(described)
    english = {
        c["command"]: c["description"] for c in standin.commands(scope=scope, language_code="en")
    }
    assert english["pending"] == "What still needs an answer or a decision"
