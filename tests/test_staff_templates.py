"""End to end: staff save, change and delete answer templates per language in the staff
chat; a prompt offers those in the resident's language, filled with the number and the
section; one tap sends one the way a typed reply does, once, whoever else taps."""
# ruff: noqa: F811 (the fixtures of tests/test_staff.py, imported, are parameters here)

from __future__ import annotations

import asyncio

from sqlalchemy import select

from bot.sandbox import SentMessage, TelegramStandIn
from storage.models import AnswerTemplate, StaffActionKind, SubmissionStatus
from tests.conftest import Chat, RunningBot
from tests.test_staff import (  # noqa: F401 (fixtures)
    Staff,
    StaffRoom,
    arrived,
    ask,
    audit,
    bot_settings,
    inbox,
    maria,
    propose,
    staff_room,
)
from tests.test_submissions import stored

REJECTION_SL = "Predlog št. {number} ({section}) ni sprejet: za leto 2025 ni sredstev."
REJECTION_BG = "Предложение № {number} ({section}) не се приема: няма бюджет за 2025 г."
THANKS_EN = "Thank you for your question № {number} on {section}. We answer it at the June meeting."


async def saved_templates(running_bot: RunningBot) -> list[AnswerTemplate]:
    assert running_bot.app is not None
    async with running_bot.app.session_factory() as session:
        return list(await session.scalars(select(AnswerTemplate).order_by(AnswerTemplate.id)))


async def say_one(staff: Staff, text: str) -> str:
    [answer] = await staff.say(text)
    return answer.text


async def press_prompt(
    staff: Staff, card: SentMessage, label: str
) -> tuple[SentMessage, SentMessage]:
    """Press `label` on the card: the prompt, and the templates offered under it."""
    before = len(staff.messages)
    await staff.press(card, label)
    prompt, offer = staff.messages[before:]
    assert prompt.reply_markup is not None and prompt.reply_markup.get("force_reply")
    assert offer.reply_to_message_id == prompt.message_id
    return prompt, offer


def copied(message: SentMessage, label: str) -> str:
    """What a copy_text button puts on the clipboard."""
    for row in message.reply_markup["inline_keyboard"]:
        for button in row:
            if button["text"] == label:
                return button["copy_text"]["text"]
    raise AssertionError(f"no button {label!r}")


async def test_templates_are_saved_changed_listed_and_deleted(
    maria: Staff, running_bot: RunningBot
) -> None:
    answer = await say_one(maria, f"/template sl zavrnitev\n{REJECTION_SL}")
    assert answer == "📝 Шаблонът „zavrnitev“ (Slovenščina) е запазен."
    answer = await say_one(maria, "/template sl zavrnitev Ni sprejeto (№ {number}).")
    assert answer == "📝 Шаблонът „zavrnitev“ (Slovenščina) е променен."
    assert await say_one(maria, f"/template BG отказ\n{REJECTION_BG}") == (
        "📝 Шаблонът „отказ“ (Български) е запазен."
    )
    [(language, name, text), _] = [
        (t.language, t.name, t.text) for t in await saved_templates(running_bot)
    ]
    assert (language, name, text) == ("sl", "zavrnitev", "Ni sprejeto (№ {number}).")

    head, bulgarian, slovenian = await maria.say("/templates")
    assert head.text.startswith("📝 Шаблони за отговор")
    assert "Български: 1 · Slovenščina: 1 · English: 0" in head.text
    assert "отказ" in bulgarian.text and REJECTION_BG in bulgarian.text
    assert "Ni sprejeto (№ {number})." in slovenian.text
    assert copied(slovenian, "✏️ Промяна: zavrnitev") == (
        "/template sl zavrnitev\nNi sprejeto (№ {number})."
    )

    before = len(maria.messages)
    await maria.press(slovenian, "🗑 Изтриване: zavrnitev")
    [deleted] = maria.messages[before:]
    assert deleted.text == "🗑 Шаблонът „zavrnitev“ (Slovenščina) е изтрит."
    assert [t.name for t in await saved_templates(running_bot)] == ["отказ"]
    # The same button again: nothing left to delete, and it says so.
    await maria.press(slovenian, "🗑 Изтриване: zavrnitev")
    assert maria.messages[-1].text == "Този шаблон вече е изтрит."

    actions = [a for a in await audit(running_bot) if a.kind is StaffActionKind.TEMPLATE]
    assert [a.detail.split(":")[0] for a in actions] == [
        "saved sl/zavrnitev",
        "saved sl/zavrnitev",
        "saved bg/отказ",
        "deleted sl/zavrnitev",
    ]
    assert all(a.actor_name == "Мария" for a in actions)


async def test_bad_templates_are_refused_with_a_clear_answer(
    maria: Staff, running_bot: RunningBot
) -> None:
    usage = "За да добавите шаблон"
    assert (await say_one(maria, "/template")).startswith(usage)
    assert (await say_one(maria, "/template bg")).startswith(usage)
    assert await say_one(maria, "/template de danke Danke für № {number}") == (
        "Не е запазено: езикът трябва да е един от bg, sl, en."
    )
    assert (await say_one(maria, "/template bg отказ")).startswith(
        "Не е запазено: шаблонът няма текст."
    )
    assert await say_one(maria, "/template bg отказ Уважаеми {name}, № {number} {date!r}") == (
        "Не е запазено: {name}, {date!r} не може да бъде попълнено. Шаблонът може да "
        "съдържа само {number}, {section}."
    )
    assert (await say_one(maria, "/template bg отказ № {number")).startswith(
        "Не е запазено: има фигурна скоба без двойка."
    )
    assert (await say_one(maria, "/template bg " + "x" * 31 + " Текст")).startswith(
        "Не е запазено: името трябва да е една дума до 30 знака."
    )
    # Fits as typed, but not once {section} is filled with a long title.
    too_long = "Отговор за {section}. " + "б" * 2900
    assert (await say_one(maria, f"/template bg дълъг {too_long}")).startswith(
        "Не е запазено: след попълване на номера и раздела шаблонът е твърде дълъг"
    )
    assert await saved_templates(running_bot) == []
    assert [a for a in await audit(running_bot) if a.kind is StaffActionKind.TEMPLATE] == []

    # A language holds twenty; a twenty-first is refused, changing one still works.
    for index in range(20):
        await maria.say(f"/template en t{index} Answer {index} to № {{number}}.")
    assert (await say_one(maria, "/template en t20 One more.")).startswith(
        "Не е запазено: един език може да има най-много 20 шаблона."
    )
    assert (await say_one(maria, "/template en t3 Changed.")).endswith("е променен.")
    assert len(await saved_templates(running_bot)) == 20


async def test_a_template_in_the_residents_language_is_sent_with_one_tap(
    resident, maria: Staff, running_bot: RunningBot
) -> None:
    await maria.say(f"/template sl zavrnitev\n{REJECTION_SL}")
    await maria.say(f"/template bg отказ\n{REJECTION_BG}")
    await maria.say(f"/template en thanks\n{THANKS_EN}")
    ana: Chat = resident("Ana", "sl")
    number = await propose(ana)

    prompt, offer = await press_prompt(maria, await maria.card_of(number), "❌ Неприемане")
    assert "Slovenščina" in offer.text
    assert [b.text for b in offer.flat_buttons] == ["▶ zavrnitev", "📋 zavrnitev"]
    filled = copied(offer, "📋 zavrnitev")
    assert filled.startswith(f"Predlog št. {number} (3.1 ") and filled.endswith("ni sredstev.")

    sent = len(inbox(ana))
    await maria.press(offer, "▶ zavrnitev")
    assert maria.messages[-1].text.startswith(f"Записано за № {number}")
    [notice] = await arrived(ana, sent)
    assert notice.text.startswith("📋 ") and f"št. {number}: ni sprejeto" in notice.text
    assert filled in notice.text
    [submission] = await stored(running_bot)
    assert submission.status is SubmissionStatus.REJECTED
    assert submission.decision_reason == filled
    card = await maria.card_of(number)
    await maria.standin.wait_for(lambda: "ni sredstev" in maria.card(number).text, 10)
    assert [a.kind for a in await audit(running_bot)][-1] is StaffActionKind.DECIDE

    # The prompt is used: the button, or a typed reply, does nothing more.
    again = await maria.press(offer, "▶ zavrnitev")
    assert again is not None and again.startswith("На това искане за текст вече е отговорено")
    late = await maria.reply(prompt, "Друга причина.")
    assert late.text.startswith("На това искане за текст вече е отговорено")
    assert len(inbox(ana)) == sent + 1
    assert card.message_id == maria.card(number).message_id


async def test_a_question_in_english_is_offered_english_templates(
    resident, maria: Staff, running_bot: RunningBot
) -> None:
    await maria.say(f"/template bg отказ\n{REJECTION_BG}")
    await maria.say(f"/template en thanks\n{THANKS_EN}")
    long_one = "Dear resident, about № {number}: " + "we will look at it closely. " * 12
    await maria.say(f"/template en long\n{long_one}")
    ben: Chat = resident("Ben", "en")
    number = await ask(ben)
    _, offer = await press_prompt(maria, await maria.card_of(number), "💬 Отговор")
    assert "English" in offer.text
    assert [b.text for b in offer.flat_buttons] == ["▶ long", "📋 long", "▶ thanks", "📋 thanks"]
    assert copied(offer, "📋 thanks").startswith(f"Thank you for your question № {number} on 3.1 ")
    # Too long for Telegram's copy button (256 characters): shown as a message to copy.
    await maria.press(offer, "📋 long")
    shown = maria.messages[-1]
    assert f"Dear resident, about № {number}: we will look" in shown.text
    assert "<code>" in shown.html

    sent = len(inbox(ben))
    await maria.press(offer, "▶ thanks")
    [notice] = await arrived(ben, sent)
    assert f"An answer to your question № {number}" in notice.text
    assert f"Thank you for your question № {number} on 3.1 " in notice.text


async def test_two_staff_tapping_a_template_at_once_answer_once(
    resident, maria: Staff, standin: TelegramStandIn, staff_room: StaffRoom, running_bot
) -> None:
    await maria.say(f"/template sl zavrnitev\n{REJECTION_SL}")
    petar = Staff(standin, staff_room, staff_room.petar)
    ana: Chat = resident("Ana", "sl")
    number = await propose(ana)
    _, offer = await press_prompt(maria, await maria.card_of(number), "❌ Неприемане")
    sent = len(inbox(ana))
    before = len(maria.messages)
    queries = [
        standin.press(staff.user, offer, text="▶ zavrnitev", chat=staff_room.chat)
        for staff in (maria, petar)
    ]
    answers = await asyncio.gather(*(standin.wait_callback_answer(q) for q in queries))
    await standin.wait_idle()
    notes = [message.text for message in maria.messages[before:]]
    # The one who comes second is told, as a note or (when the first had already
    # committed) on the button, that the prompt was used.
    told = notes + [answer.text for answer in answers if answer.text]
    assert sum(text.startswith(f"Записано за № {number}") for text in told) == 1
    closed = "На това искане за текст вече е отговорено"
    assert sum(text.startswith(closed) for text in told) == 1
    await arrived(ana, sent)
    await asyncio.sleep(0.5)
    await standin.wait_idle()
    assert len(inbox(ana)) == sent + 1
    decisions = [a for a in await audit(running_bot) if a.kind is StaffActionKind.DECIDE]
    assert len(decisions) == 1
