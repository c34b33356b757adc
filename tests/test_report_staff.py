"""End to end: staff see the report's checklist in the staff chat, close the review only
when nothing is missing, name who prepared and approved it, and get the report as a
draft or final file (the real bot process and the Telegram stand-in)."""
# ruff: noqa: F811 (the fixtures of tests/test_staff.py, imported, are parameters here)

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from docx import Document
from sqlalchemy import select, update

from bot.sandbox import SentMessage, TelegramStandIn
from handlers.keyboards import label
from storage.models import Consultation, ConsultationReport, ConsultationStatus
from tests.conftest import NOW, Chat, RunningBot
from tests.test_staff import (  # noqa: F401 (fixtures)
    MovingClock,
    Staff,
    StaffRoom,
    _use_tool,
    ask,
    bot_settings,
    maria,
    propose,
    staff_room,
)

SLUG = "stara-zagora-pid-strategy"
TITLE = "Стратегия за развитие на предприемачеството, иновациите и дигитализацията в областта"
AFTER = datetime(2024, 6, 25, 9, tzinfo=UTC)  # the consultation closed on 19 June


async def _say(maria: Staff, text: str) -> list[SentMessage]:
    return await maria.say(text)


async def _record(running_bot: RunningBot) -> ConsultationReport | None:
    assert running_bot.app is not None
    async with running_bot.app.session_factory() as session:
        return await session.scalar(select(ConsultationReport))


async def _decide(maria: Staff, number: str, label: str, text: str) -> None:
    prompt = await maria.prompt(await maria.card_of(number), label)
    await maria.reply(prompt, text)


async def test_the_review_closes_only_when_nothing_is_missing(
    resident, maria: Staff, running_bot: RunningBot
) -> None:
    clock = MovingClock(NOW)
    running_bot.clock = clock
    await running_bot.restart()
    ana: Chat = resident("Ana", "en")
    proposal = await propose(ana)
    question = await ask(resident("Ben", "bg"))

    checklist = await _use_tool(maria, "/report", label(TITLE), None)
    text = checklist.text
    assert text.startswith("📋 Справката по „Стратегия")
    assert "Консултацията е отворена до 19 юни 2024\u202fг., 23:59." in text
    assert "1 предложение без решение" in text and "1 въпрос без отговор" in text
    assert "ПРОЕКТ" in text
    labels = [button.text for button in checklist.flat_buttons]
    assert labels[:3] == ["HTML", "DOCX", "XLSX"]
    assert "🔒 Приключване на прегледа" in labels

    # Closing now is refused: the checklist comes again, nothing is recorded.
    before = len(maria.messages)
    answer = await maria.press(checklist, "🔒 Приключване на прегледа")
    assert answer is not None and answer.startswith("Прегледът още не може да бъде приключен")
    [again] = maria.messages[before:]
    assert "1 предложение без решение" in again.text
    assert await _record(running_bot) is None

    # A draft can still be had: marked as such, in its name too.
    document = await _use_tool(maria, "/report", label(TITLE), "DOCX")
    assert document.filename == f"{SLUG}-report-DRAFT.docx"

    # Staff settle everything; the consultation closes.
    await _decide(maria, proposal, "◐ Частично", "Само в централната част на града.")
    await _decide(maria, question, "💬 Отговор", "През септември.")
    clock.now = AFTER
    checklist = await _use_tool(maria, "/report", label(TITLE), None)
    assert "✅ Нищо не липсва" in checklist.text
    before = len(maria.messages)
    await maria.press(checklist, "🔒 Приключване на прегледа")
    [closed] = maria.messages[before:]
    assert "🔒 Прегледът е приключен на 25 юни 2024\u202fг." in closed.text
    assert "Мария" in closed.text
    assert "🔒 Приключване на прегледа" not in [b.text for b in closed.flat_buttons]
    record = await _record(running_bot)
    assert record is not None and record.review_closed_by == "Мария"

    # Who prepared and who approved it, then the final report.
    [saved, shown] = await _say(maria, f"/report {SLUG} prepared Иван  Петров")
    assert saved.text == "Записано: изготвил \u2068Иван Петров\u2069."
    assert "Изготвил: \u2068Иван Петров\u2069" in shown.text
    [saved, shown] = await _say(maria, f"/report {SLUG} approved Мария Иванова")
    assert "Одобрил: \u2068Мария Иванова\u2069, 25 юни 2024\u202fг." in shown.text
    document = await _use_tool(maria, "/report", label(TITLE), "DOCX")
    assert document.filename == f"{SLUG}-report.docx"
    text = "\n".join(p.text for p in Document(io.BytesIO(document.document or b"")).paragraphs)
    assert "Изготвил: Иван Петров" in text and "Одобрил: Мария Иванова" in text
    assert "ПРОЕКТ" not in text
    html = await _use_tool(maria, "/report", label(TITLE), "HTML")
    assert html.filename == f"{SLUG}-report.html"
    assert (html.document or b"").startswith(b"<!DOCTYPE html>")


async def test_bad_report_commands_get_a_clear_answer(
    maria: Staff, running_bot: RunningBot
) -> None:
    [answer] = await _say(maria, "/report nope")
    assert answer.text == "Няма консултация с идентификатор „nope“."
    [answer] = await _say(maria, "/report general")
    assert answer.text.startswith("Общият канал не е консултация и няма справка")
    [answer] = await _say(maria, f"/report {SLUG} signed Ivan")
    assert answer.text.startswith("Моля, напишете /report SLUG,")
    [answer] = await _say(maria, f"/report {SLUG} prepared")
    assert answer.text.startswith("Моля, напишете")
    assert await _record(running_bot) is None


@pytest.mark.parametrize("language", ["en"])
async def test_the_checklist_in_english(
    resident, standin: TelegramStandIn, staff_room: StaffRoom, running_bot: RunningBot, language
) -> None:
    """An English-speaking staff chat (DEFAULT_LOCALE=en) and a withdrawn consultation."""
    running_bot.settings = running_bot.settings.model_copy(update={"default_locale": language})
    await running_bot.restart()
    staff = Staff(standin, staff_room, staff_room.maria)
    await propose(resident("Ana", "en"))
    # A question's card offers an answer, never a decision.
    question = await staff.card_of(await ask(resident("Ben", "en")))
    labels = [button.text for button in question.flat_buttons]
    assert "💬 Answer" in labels
    assert not {"✅ Accept", "◐ Partly", "❌ Do not accept"} & set(labels)
    [checklist] = await staff.say(f"/report {SLUG}")
    assert checklist.text.startswith("📋 The report on “")
    assert "1 proposal without a decision" in checklist.text
    assert "1 question without an answer" in checklist.text
    assert "The consultation is open until 19 June 2024" in checklist.text
    assert "🔓 The review is not closed: the report is a DRAFT." in checklist.text
    answer = await staff.press(checklist, "🔒 Close the review")
    assert answer == "The review cannot be closed yet: the list below says what is missing."

    assert running_bot.app is not None
    async with running_bot.app.session_factory.begin() as session:
        await session.execute(
            update(Consultation)
            .where(Consultation.slug == SLUG)
            .values(status=ConsultationStatus.WITHDRAWN)
        )
    [answer] = await staff.say(f"/report {SLUG}")
    assert answer.text == f"The consultation “{SLUG}” was withdrawn: it has no report."


async def test_a_question_whose_sender_erased_their_data_holds_up_nothing(
    resident, maria: Staff, running_bot: RunningBot, standin: TelegramStandIn
) -> None:
    """Nobody is left to read its answer (its card has no 💬 Answer): the checklist and
    /pending do not wait for one, and the справка says why it has none."""
    clock = MovingClock(NOW)
    running_bot.clock = clock
    await running_bot.restart()
    ben = resident("Ben", "en")
    question = await ask(ben)
    await ben.send("/forget")
    done = await ben.tap("🗑 Erase me, keep my submissions anonymously")
    assert done.text.startswith("Done.")
    await standin.wait_idle()

    checklist = await _use_tool(maria, "/report", label(TITLE), None)
    assert "въпрос без отговор" not in checklist.text
    [pending] = await _say(maria, "/pending")
    assert question not in pending.text

    clock.now = AFTER
    checklist = await _use_tool(maria, "/report", label(TITLE), None)
    assert "✅ Нищо не липсва" in checklist.text
    html = await _use_tool(maria, "/report", label(TITLE), "HTML")
    page = (html.document or b"").decode()
    assert question in page
    assert "подателят е изтрил данните си" in page
