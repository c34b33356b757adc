"""End to end: a consultation published from a file sent to the staff chat. The bot
downloads it from the stand-in (getFile and the file URL), says what it found, asks
for what is missing one question at a time, shows the card as residents will see it,
and publishes it in one transaction; every bad input gets a clear answer and nothing
is half-published."""
# ruff: noqa: F811 (the fixtures of tests/test_staff.py, imported, are parameters here)

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml
from sqlalchemy import func, select

from bot import running
from bot.config import Settings
from bot.sandbox import SentMessage, SimUser, TelegramStandIn
from bot.staff import Actor
from handlers.keyboards import RunAct, RunCb
from storage.models import (
    Consultation,
    Notice,
    NoticeKind,
    Section,
    StaffAction,
    StaffActionKind,
    Submission,
)
from tests import documents
from tests.conftest import EXAMPLES, RunningBot
from tests.test_staff import (  # noqa: F401 (fixtures)
    Staff,
    StaffRoom,
    maria,
    propose,
    staff_room,
)


@pytest.fixture
def anna(standin: TelegramStandIn) -> SimUser:
    """An administrator who writes to the bot in English, in her private chat."""
    return standin.add_user("Anna", language_code="en")


@pytest.fixture
def bot_settings(bot_settings: Settings, staff_room: StaffRoom, anna: SimUser) -> Settings:
    # The staff chat speaks Bulgarian; Anna's private chat her own English.
    return bot_settings.model_copy(
        update={
            "staff_chat_id": staff_room.chat.id,
            "default_locale": "bg",
            "admin_ids": frozenset({anna.id}),
        }
    )


# NOW in the tests is 1 June 2024, 9:00 UTC.
PLAN_YAML = """\
format: 1
slug: kazanlak-transport-2024
original_language: bg
title:
  bg: Градски транспорт на Казанлък
summary:
  bg: Нова схема на автобусните линии.
organizer:
  bg: Община Казанлък
sections:
  - number: "1"
    title:
      bg: Стратегическа цел 1
    sections:
      - number: "1.1"
        title:
          bg: Приоритет 1.1 Достъпност
        body:
          bg: Линии до индустриалната зона.
  - number: "2"
    title:
      bg: Стратегическа цел 2
"""


async def send_file(maria: Staff, data: bytes, filename: str) -> list[SentMessage]:
    """Maria sends a file to the staff chat; what the bot wrote there in return."""
    before = len(maria.messages)
    maria.standin.send_document(maria.user, data, filename=filename, chat=maria.room.chat)
    await maria.standin.wait_for(lambda: len(maria.messages) > before, 10)
    await maria.standin.wait_idle()
    return maria.messages[before:]


async def consultation(running_bot: RunningBot, slug: str) -> Consultation | None:
    assert running_bot.app is not None
    async with running_bot.app.session_factory() as session:
        return await session.scalar(select(Consultation).where(Consultation.slug == slug))


async def audit(running_bot: RunningBot, consultation_id: int) -> list[tuple[str, StaffActionKind]]:
    assert running_bot.app is not None
    async with running_bot.app.session_factory() as session:
        rows = await session.scalars(
            select(StaffAction).where(StaffAction.consultation_id == consultation_id)
        )
        return [(row.actor_name, row.kind) for row in rows]


async def section_count(running_bot: RunningBot, slug: str) -> int:
    assert running_bot.app is not None
    async with running_bot.app.session_factory() as session:
        return await session.scalar(
            select(func.count())
            .select_from(Section)
            .join(Consultation)
            .where(Consultation.slug == slug)
        )


async def test_a_consultation_file_is_drafted_step_by_step_and_published(
    maria: Staff, running_bot: RunningBot, resident
) -> None:
    found, contact_question = await send_file(maria, PLAN_YAML.encode(), "plan.yaml")
    assert found.text.startswith("📄 plan.yaml\n")
    assert "3 раздела, 2 на най-горното ниво." in found.text
    assert "1.1. Приоритет 1.1 Достъпност" in found.text
    assert "Контакт" in contact_question.text

    before = len(maria.messages)
    await maria.press(contact_question, "⏭ Без контакт")
    [zone_question] = maria.messages[before:]
    assert "часова зона" in zone_question.text
    before = len(maria.messages)
    await maria.press(zone_question, "софийско време")
    [closing_question] = maria.messages[before:]
    assert "10.11.2026 17:30" in closing_question.text
    assert closing_question.reply_markup.get("force_reply")

    # Bad dates: each a clear answer and the question again; nothing stored.
    refusal = await maria.reply(closing_question, "31.02.2025")
    assert "Няма такъв ден" in refusal.text
    refusal = await maria.reply(refusal, "01.05.2024 12:00")
    assert "вече е минал" in refusal.text
    refusal = await maria.reply(refusal, "някой ден")
    assert "Не разпознах дата" in refusal.text
    refusal = await maria.reply(refusal, "10.06.2024")  # 9 days: too short even with a reason
    assert "поне 14 дни" in refusal.text
    # A reply to an older question is not an answer; other talk in the chat is left alone.
    assert await maria.say("Кога беше срещата?") == []

    # 19 days: the law asks for the reason, which residents will see.
    reason_question = await maria.reply(refusal, "20 юни 2024 г. 17:30")
    assert "по-кратка от 30 дни" in reason_question.text
    preview = await maria.reply(reason_question, "Спешна промяна на разписанието.")
    assert preview.text.startswith("👁")
    assert "\n\nГрадски транспорт на Казанлък\nОбщина Казанлък\n\nНова схема" in preview.text
    assert "20 юни 2024" in preview.text and "17:30" in preview.text
    assert "⏱ По-кратък срок от 30 дни, защото: Спешна промяна на разписанието." in preview.text
    assert await consultation(running_bot, "kazanlak-transport-2024") is None  # a draft only

    before = len(maria.messages)
    await maria.press(preview, "✅ Публикуване")
    [done] = maria.messages[before:]
    assert "е публикувана" in done.text
    published = await consultation(running_bot, "kazanlak-transport-2024")
    assert published is not None and published.timezone == "Europe/Sofia"
    assert published.short_period_reason == {"bg": "Спешна промяна на разписанието."}
    assert await audit(running_bot, published.id) == [("Мария", StaffActionKind.PUBLISH)]
    assert await section_count(running_bot, "kazanlak-transport-2024") == 3

    # Residents see it at once; the old preview's button no longer publishes anything.
    ana = resident("Ana", "en")
    await ana.send("/consultations")
    assert "Градски транспорт на Казанлък" in ana.text
    assert await maria.press(preview, "✅ Публикуване") == (
        "Тази чернова вече не е отворена. Изпратете документа отново, за да започнете отначало."
    )


async def test_a_taken_short_name_is_asked_again_and_cancel_publishes_nothing(
    maria: Staff, running_bot: RunningBot
) -> None:
    taken = PLAN_YAML.replace("kazanlak-transport-2024", "stara-zagora-vision-2027")
    complete = taken.replace(
        "sections:",
        "contact:\n  bg: obshtina@kazanlak.bg\ntimezone: Europe/Sofia\n"
        "closes_at: 2024-07-15\nsections:",
        1,
    )
    messages = await send_file(maria, complete.encode(), "plan.yml")
    assert "вече се използва" in messages[-2].text
    assert "stara-zagora-vision-2027" in messages[-2].text
    slug_question = messages[-1]
    refusal = await maria.reply(slug_question, "Казанлък 2024")
    assert "малки латински букви" in refusal.text
    preview = await maria.reply(refusal, "kazanlak-bus-2024")
    assert preview.text.startswith("👁") and "15 юли 2024" in preview.text
    before = len(maria.messages)
    await maria.press(preview, "✖️ Отказ")
    assert maria.messages[before:][0].text == "✖️ Отказано; нищо не е публикувано."
    assert await consultation(running_bot, "kazanlak-bus-2024") is None


async def test_bad_files_get_clear_answers(
    maria: Staff, running_bot: RunningBot, standin: TelegramStandIn
) -> None:
    [answer] = await send_file(maria, b"\x89PNG\r\n", "photo.png")
    assert "Не мога да чета такъв вид файл" in answer.text
    [answer] = await send_file(maria, b"title: [unclosed", "broken.yaml")
    assert "не е файл на консултация" in answer.text
    bad = PLAN_YAML.replace('number: "1.1"', 'number: "2.1"') + (
        "contact:\n  bg: x@y.bg\ntimezone: Europe/Sofia\ncloses_at: 2024-07-15\n"
    )
    [found, answer] = await send_file(maria, bad.encode(), "bad.yaml")
    assert found.text.startswith("📄 bad.yaml")
    assert "нищо не е публикувано" in answer.text
    assert 'section "2.1"' in answer.text
    [answer] = await send_file(maria, b"x" * (20 * 1024 * 1024 + 1), "huge.docx")
    assert "20 MB" in answer.text
    assert await consultation(running_bot, "kazanlak-transport-2024") is None


async def send_privately(
    standin: TelegramStandIn, anna: SimUser, data: bytes, filename: str
) -> list[SentMessage]:
    before = len(standin.messages(anna))
    standin.send_document(anna, data, filename=filename)
    await standin.wait_for(lambda: len(standin.messages(anna)) > before, 10)
    await standin.wait_idle()
    return standin.messages(anna)[before:]


async def say_privately(standin: TelegramStandIn, anna: SimUser, text: str) -> SentMessage:
    before = len(standin.messages(anna))
    standin.send_text(anna, text)
    await standin.wait_for(lambda: len(standin.messages(anna)) > before, 10)
    await standin.wait_idle()
    return standin.messages(anna)[-1]


async def press_privately(
    standin: TelegramStandIn, anna: SimUser, message: SentMessage, label: str
) -> SentMessage:
    before = len(standin.messages(anna))
    query = standin.press(anna, message, text=label)
    await standin.wait_callback_answer(query)
    await standin.wait_idle()
    return standin.messages(anna)[before:][-1]


async def test_a_docx_plan_is_published_from_a_private_chat_in_english(
    anna: SimUser, standin: TelegramStandIn, running_bot: RunningBot
) -> None:
    """Kazanlak's plan as DOCX: its tree, title and summary come from the document; the
    organizer, contact, closing date and zone are asked; notes name what was left out."""
    found, organizer_question = await send_privately(
        standin, anna, documents.to_docx(documents.KAZANLAK), "ПИРО Казанлък.docx"
    )
    assert found.text.startswith("📄 ПИРО Казанлък.docx\n")
    count = len(documents.KAZANLAK_TREE)
    assert f"{count} sections, 3 at the top level." in found.text
    for number, title in documents.KAZANLAK_TREE[:3]:
        assert f"{number}. {title}" in found.text
    assert "Not placed or left out:" in found.text
    assert "section 2: a picture left out (Карта на общината)" in found.text
    assert "section 1.1: a table, kept as text" in found.text
    assert organizer_question.text == "Who runs the consultation (in Български)?"

    contact_question = await say_privately(standin, anna, "Община Казанлък")
    assert contact_question.text.startswith("A contact for questions")
    zone_question = await say_privately(standin, anna, "obshtina@kazanlak.bg")
    assert zone_question.text.startswith("Which time zone")
    refusal = await say_privately(standin, anna, "Mars/Olympus")
    assert refusal.text.startswith("⚠️ I do not know that time zone.")
    closing_question = await press_privately(standin, anna, refusal, "Sofia time")
    assert closing_question.text.startswith("Until when is it open?")
    refusal = await say_privately(standin, anna, "10/07/2024")
    assert refusal.text.startswith("⚠️ I could not read a date in that.")
    preview = await say_privately(standin, anna, "July 10, 2024 5:30 pm")
    assert preview.text.startswith("👁 Preview: the card as residents will see it.")
    assert "План за интегрирано развитие на Община Казанлък 2021–2027" in preview.text
    assert "10 July 2024, 17:30 (Sofia time)" in preview.text
    assert "✉️ Contact: obshtina@kazanlak.bg" in preview.text

    done = await press_privately(standin, anna, preview, "✅ Publish")
    assert done.text == (
        "✅ “План за интегрирано развитие на Община Казанлък 2021–2027” (piro-kazanlak) is "
        "published: residents can read it and take part."
    )
    assert await section_count(running_bot, "piro-kazanlak") == count


async def test_a_document_without_structure_is_offered_as_one_section(
    maria: Staff, running_bot: RunningBot
) -> None:
    data = documents.to_markdown(documents.UNSTRUCTURED)
    found, offer = await send_file(maria, data, "piro.md")
    assert "1 раздел, 1 на най-горното ниво." in found.text
    assert offer.text.startswith("Не открих заглавия или номерирани раздели")
    before = len(maria.messages)
    await maria.press(offer, "✅ Целият текст като един раздел")
    [title_question] = maria.messages[before:]
    assert title_question.text == "Заглавие на консултацията (на език: Български)?"
    before = len(maria.messages)
    await maria.press(offer, "✖️ Отказ")  # the first question's other button, still there
    assert maria.messages[before:][0].text == "✖️ Отказано; нищо не е публикувано."


@pytest.mark.parametrize(
    ("data", "filename", "answer"),
    [
        (documents.scanned_pdf(), "scan.pdf", "This PDF has no text layer"),
        (
            documents.to_odt(documents.KAZANLAK, encrypted=True),
            "plan.odt",
            "protected with a password",
        ),
        (documents.corrupt("docx"), "plan.docx", "damaged and cannot be opened"),
        (documents.to_docx(documents.GERMAN), "plan.docx", "a language I do not speak"),
        (b"", "empty.txt", "no text in this file"),
    ],
)
async def test_documents_that_cannot_be_read_are_explained(
    anna: SimUser,
    standin: TelegramStandIn,
    running_bot: RunningBot,
    data: bytes,
    filename: str,
    answer: str,
) -> None:
    [reply] = await send_privately(standin, anna, data, filename)
    assert answer in reply.text


async def test_two_staff_publishing_the_same_name_at_once_publish_it_once(
    maria: Staff, standin: TelegramStandIn, running_bot: RunningBot
) -> None:
    """Maria and Petar send the same file and press Publish together: one consultation;
    the second is asked for another short name, and nothing of it is half-published."""
    petar = Staff(standin, maria.room, maria.room.petar)
    complete = PLAN_YAML.replace(
        "sections:",
        "contact:\n  bg: obshtina@kazanlak.bg\ntimezone: Europe/Sofia\n"
        "closes_at: 2024-07-15\nsections:",
        1,
    )
    *_, maria_preview = await send_file(maria, complete.encode(), "plan.yaml")
    *_, petar_preview = await send_file(petar, complete.encode(), "plan.yaml")
    assert maria_preview.text.startswith("👁") and petar_preview.text.startswith("👁")
    before = len(maria.messages)
    queries = [
        standin.press(who.user, preview, text="✅ Публикуване", chat=maria.room.chat)
        for who, preview in ((maria, maria_preview), (petar, petar_preview))
    ]
    for query in queries:
        await standin.wait_callback_answer(query)
    await standin.wait_idle()
    answers = [message.text for message in maria.messages[before:]]
    assert sum("е публикувана" in text for text in answers) == 1
    assert sum("вече се използва" in text for text in answers) == 1
    assert await section_count(running_bot, "kazanlak-transport-2024") == 3


# --- running a published consultation: Extend and Replace of /consultations --------

STRATEGY = "stara-zagora-pid-strategy"


async def run_press(maria: Staff, act: RunAct, consultation_id: int) -> SentMessage:
    """/consultations, the consultation's screen, then its Extend or Replace button;
    the question the bot asked in return."""
    [listing] = await maria.say("/consultations")
    opened = RunCb(act=RunAct.OPEN, id=consultation_id).pack()
    query = maria.standin.press(maria.user, listing, data=opened, chat=maria.room.chat)
    await maria.standin.wait_callback_answer(query)
    await maria.standin.wait_idle()
    screen = next(m for m in maria.messages if m.message_id == listing.message_id)
    label = "📅 Удължи срока" if act is RunAct.EXTEND else "📄 Замени документа"
    before = len(maria.messages)
    await maria.press(screen, label)
    [asked] = maria.messages[before:]
    return asked


async def test_extend_takes_a_typed_date_and_tells_who_took_part(
    maria: Staff, running_bot: RunningBot, resident
) -> None:
    ana = resident("Ana", "en")
    await propose(ana)  # Ana took part: she is told of the extension
    strategy = await consultation(running_bot, STRATEGY)
    assert strategy is not None
    question = await run_press(maria, RunAct.EXTEND, strategy.id)
    assert "Нов срок" in question.text and "19 юни 2024" in question.text
    refusal = await maria.reply(question, "10.06.2024")  # earlier than the deadline
    assert "трябва да е по-късен от сегашния" in refusal.text
    refusal = await maria.reply(refusal, "31.06.2024")
    assert "Няма такъв ден" in refusal.text
    done = await maria.reply(refusal, "30 юни 2024 17:00")
    assert "вече е отворена до 30 юни 2024" in done.text
    extended = await consultation(running_bot, STRATEGY)
    assert extended is not None and extended.closes_at is not None
    assert extended.closes_at.replace(tzinfo=UTC) == datetime(2024, 6, 30, 14, 0, tzinfo=UTC)
    assert await audit(running_bot, strategy.id) == [("Мария", StaffActionKind.EXTEND)]
    assert running_bot.app is not None
    async with running_bot.app.session_factory() as session:
        notice = await session.scalar(
            select(Notice).where(
                Notice.consultation_id == strategy.id, Notice.kind == NoticeKind.EXTENDED
            )
        )
    assert notice is not None


def strategy_without_3_1() -> bytes:
    """The strategy's file with section 3.1 taken out and a section 5 added."""
    raw = yaml.safe_load((EXAMPLES / f"{STRATEGY}.yaml").read_text(encoding="utf-8"))
    raw.pop("demo", None)
    goals = next(section for section in raw["sections"] if section["number"] == "3")
    goals["sections"] = [child for child in goals["sections"] if child["number"] != "3.1"]
    raw["sections"].append({"number": "5", "title": {"bg": "Изпълнение", "en": "Delivery"}})
    return yaml.safe_dump(raw, allow_unicode=True).encode()


async def test_replace_keeps_submissions_on_kept_and_removed_sections(
    maria: Staff, running_bot: RunningBot, resident
) -> None:
    ana = resident("Ana", "en")
    number = await propose(ana)  # a proposal on section 3.1
    strategy = await consultation(running_bot, STRATEGY)
    assert strategy is not None
    question = await run_press(maria, RunAct.REPLACE, strategy.id)
    assert "новата версия" in question.text
    before = len(maria.messages)
    maria.standin.send_document(
        maria.user,
        strategy_without_3_1(),
        filename="strategy.yaml",
        chat=maria.room.chat,
        reply_to=question.message_id,
    )
    await maria.standin.wait_for(lambda: len(maria.messages) > before, 10)
    await maria.standin.wait_idle()
    [summary] = maria.messages[before:]
    assert "версия 2" in summary.text
    assert "Добавени: 5" in summary.text
    assert "Премахнати: 3.1" in summary.text
    assert await section_count(running_bot, STRATEGY) == 10  # nothing changed yet

    before = len(maria.messages)
    await maria.press(summary, "✅ Замяна")
    [done] = maria.messages[before:]
    assert "версия 2" in done.text
    assert running_bot.app is not None
    async with running_bot.app.session_factory() as session:
        replaced = await session.scalar(select(Consultation).where(Consultation.slug == STRATEGY))
        assert replaced is not None and replaced.version == 2
        removed = await session.scalar(
            select(Section).where(Section.consultation_id == replaced.id, Section.number == "3.1")
        )
        assert removed is not None and removed.removed_in_version == 2
        submission = await session.scalar(
            select(Submission).where(Submission.public_number == number)
        )
        assert submission is not None and submission.section_id == removed.id
    assert await audit(running_bot, strategy.id) == [("Мария", StaffActionKind.REPLACE)]


@pytest.mark.parametrize(
    ("make", "filename"),
    [
        (documents.to_docx, "vision.docx"),
        (documents.to_odt, "vision.odt"),
        (documents.to_pdf, "vision.pdf"),
        (documents.to_markdown, "vision.md"),
    ],
)
async def test_every_format_shows_the_tree_it_found(
    anna: SimUser, standin: TelegramStandIn, running_bot: RunningBot, make, filename: str
) -> None:
    found, *_ = await send_privately(standin, anna, make(documents.STARA_ZAGORA), filename)
    tree = documents.STARA_ZAGORA_TREE
    assert f"{len(tree)} sections," in found.text
    for number, title in tree[:3]:
        assert f"{number}. {title[:60]}" in found.text  # long titles are cut in this list


SCHEDULED_YAML = PLAN_YAML.replace(
    "sections:",
    "contact:\n  bg: obshtina@kazanlak.bg\ntimezone: Europe/Sofia\nopens_at: 2024-07-01\nsections:",
    1,
)


async def test_a_consultation_opening_later_is_scheduled(
    maria: Staff, running_bot: RunningBot
) -> None:
    *_, closing_question = await send_file(maria, SCHEDULED_YAML.encode(), "plan.yaml")
    refusal = await maria.reply(closing_question, "20.06.2024")  # before it opens
    assert "би приключила, преди да е започнала" in refusal.text
    preview = await maria.reply(refusal, "15.08.2024")
    assert "🕓" in preview.text  # the card says when it opens
    before = len(maria.messages)
    await maria.press(preview, "🗓 Насрочване за 1 юли 2024 г., 0:00")
    [done] = maria.messages[before:]
    assert "е насрочена" in done.text
    scheduled = await consultation(running_bot, "kazanlak-transport-2024")
    assert scheduled is not None
    assert await audit(running_bot, scheduled.id) == [("Мария", StaffActionKind.SCHEDULE)]


async def test_extend_of_a_consultation_withdrawn_meanwhile_changes_nothing(
    maria: Staff, running_bot: RunningBot
) -> None:
    strategy = await consultation(running_bot, STRATEGY)
    assert strategy is not None and strategy.closes_at is not None
    question = await run_press(maria, RunAct.EXTEND, strategy.id)
    petar = Staff(maria.standin, maria.room, maria.room.petar)
    assert running_bot.app is not None
    async with running_bot.app.session_factory.begin() as session:
        withdrawn = await session.get(Consultation, strategy.id)
        assert withdrawn is not None
        await running.withdraw(
            session, withdrawn, Actor(petar.user.id, "Петър"), running_bot.settings
        )
    answer = await maria.reply(question, "30.06.2024")
    assert "вече не може да се променя така" in answer.text
    after = await consultation(running_bot, STRATEGY)
    assert after is not None and after.closes_at == strategy.closes_at
    assert await audit(running_bot, strategy.id) == [("Петър", StaffActionKind.WITHDRAW)]
