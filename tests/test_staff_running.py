"""End to end: /consultations for staff lists every consultation with its state, version,
deadline and counts; close now and withdraw are asked first, done once and logged;
Download sends the consultation file, which loads unchanged. A replaced document shows
its version to residents and a submission on a removed section as "removed in version 2"
on the staff card."""
# ruff: noqa: F811 (the fixtures of tests/test_staff.py, imported, are parameters here)

from __future__ import annotations

import asyncio

import yaml
from sqlalchemy import select

from bot import running
from bot.content import ConsultationFile, load_consultations
from bot.sandbox import SentMessage, TelegramStandIn
from bot.staff import Actor
from storage.models import Consultation, ConsultationStatus, StaffAction, StaffActionKind
from tests.conftest import EXAMPLES, Chat, RunningBot
from tests.test_staff import (  # noqa: F401 (fixtures)
    Staff,
    StaffRoom,
    bot_settings,
    maria,
    propose,
    staff_room,
)

PID = "stara-zagora-pid-strategy"


def button_starting(message: SentMessage, prefix: str) -> str:
    return next(b.text for b in message.flat_buttons if b.text.startswith(prefix))


async def screen_of(maria: Staff, title_prefix: str) -> SentMessage:
    [listing] = await maria.say("/consultations")
    await maria.press(listing, button_starting(listing, title_prefix))
    return next(m for m in maria.messages if m.message_id == listing.message_id)


async def actions(running_bot: RunningBot) -> list[tuple[StaffActionKind, str, int | None]]:
    assert running_bot.app is not None
    async with running_bot.app.session_factory() as session:
        rows = await session.scalars(select(StaffAction).order_by(StaffAction.id))
        return [(a.kind, a.actor_name, a.consultation_id) for a in rows]


async def test_staff_list_every_consultation_with_state_and_counts(
    resident, maria: Staff, running_bot: RunningBot
) -> None:
    await propose(resident("Ana", "en"), "A bus line to the industrial zone, please.")

    [listing] = await maria.say("/consultations")

    text = listing.text
    assert text.startswith("🗂 Консултации")
    blocks = {block.split("\n")[0]: block for block in text.split("\n\n")[1:]}
    pid = next(b for title, b in blocks.items() if "предприемачеството" in title.lower())
    assert "🟢 отворена" in pid and "срок 19 юни 2024" in pid
    assert "1 предложение · 0 въпроса" in pid
    assert any("🔵 предстояща" in b for b in blocks.values())  # the vision, in September
    assert any("🔴 закрита" in b for b in blocks.values())  # Kazanlak, 2021
    assert len(listing.flat_buttons) == 4

    # A resident's /consultations is still the residents' list.
    ana = resident("Ana", "en")
    await ana.send("/consultations")
    assert "🗂" not in ana.last.text


async def test_close_now_is_asked_first_then_done_once_and_logged(
    maria: Staff, running_bot: RunningBot, staff_room: StaffRoom, standin: TelegramStandIn
) -> None:
    screen = await screen_of(maria, "Стратегия")
    labels = [b.text for b in screen.flat_buttons]
    assert labels[:5] == [
        "📅 Удължи срока",
        "⏹ Закрий сега",
        "📄 Замени документа",
        "⬇️ Изтегли файла",
        "🗑 Оттегли",
    ]
    await maria.press(screen, "⏹ Закрий сега")
    screen = next(m for m in maria.messages if m.message_id == screen.message_id)
    assert screen.text.startswith("Да се закрие ли ")
    assert await actions(running_bot) == []  # asked only

    # Two confirmations at the same moment (a double tap, two copies of the screen):
    # it closes once.
    same_again = Staff(standin, staff_room, staff_room.maria)
    answers = await asyncio.gather(
        maria.press(screen, "⏹ Да, закрий я сега"),
        same_again.press(screen, "⏹ Да, закрий я сега"),
    )
    assert sorted(a or "" for a in answers) == sorted(
        [
            "⏹ Консултацията е закрита. Абонатите ѝ ще бъдат уведомени.",
            "Консултацията вече е закрита или оттеглена; нищо не е променено.",
        ]
    )
    logged = await actions(running_bot)
    assert [(kind, who) for kind, who, _ in logged] == [(StaffActionKind.CLOSE, "Мария")]
    screen = next(m for m in maria.messages if m.message_id == screen.message_id)
    assert "🔴 закрита" in screen.text
    assert "⏹ Закрий сега" not in [b.text for b in screen.flat_buttons]


async def test_withdraw_and_download(maria: Staff, running_bot: RunningBot) -> None:
    screen = await screen_of(maria, "Стратегия")
    before = len(maria.messages)
    await maria.press(screen, "⬇️ Изтегли файла")
    [document] = maria.messages[before:]
    assert document.filename == f"{PID}.yaml"
    dumped = yaml.safe_load((document.document or b"").decode())
    assert dumped["slug"] == PID
    assert running_bot.app is not None
    async with running_bot.app.session_factory.begin() as session:
        report = await load_consultations(session, [ConsultationFile.model_validate(dumped)])
    assert report.unchanged == [PID]

    await maria.press(screen, "🗑 Оттегли")
    await maria.press(screen, "🗑 Да, оттегли я")
    screen = next(m for m in maria.messages if m.message_id == screen.message_id)
    assert screen.text.startswith("🗑 Оттеглена: жителите вече не я виждат.")
    assert "⚫ оттеглена" in screen.text
    async with running_bot.app.session_factory() as session:
        pid = await session.scalar(select(Consultation).where(Consultation.slug == PID))
        assert pid is not None and pid.status is ConsultationStatus.WITHDRAWN
    [(kind, who, consultation_id)] = await actions(running_bot)
    assert (kind, who, consultation_id) == (StaffActionKind.WITHDRAW, "Мария", pid.id)


async def test_a_new_version_shows_on_cards(
    resident, maria: Staff, running_bot: RunningBot
) -> None:
    ana: Chat = resident("Ana", "en")
    number = await propose(ana, "A bus line to the industrial zone, please.")  # on 3.1
    card = await maria.card_of(number)
    assert "(отпаднал" not in card.text

    raw = yaml.safe_load((EXAMPLES / f"{PID}.yaml").read_text(encoding="utf-8"))
    raw.pop("demo", None)
    three = next(s for s in raw["sections"] if s["number"] == "3")
    three["sections"] = [s for s in three["sections"] if s["number"] != "3.1"]
    assert running_bot.app is not None
    async with running_bot.app.session_factory.begin() as session:
        consultation = await session.scalar(select(Consultation).where(Consultation.slug == PID))
        assert consultation is not None
        report = await running.replace(
            session,
            consultation,
            ConsultationFile.model_validate(raw),
            Actor(1, "Мария"),
            running_bot.app.settings,
        )
    assert report.removed == ["3.1"] and report.version == 2

    # The staff card, shown again, names the section as removed.
    [pending] = await maria.say("/pending")
    before = len(maria.messages)
    await maria.press(pending, button_starting(pending, "💡"))
    [again] = maria.messages[before:]
    assert "3.1. " in again.text and "(отпаднал във версия 2)" in again.text

    # Residents see the version on the card.
    await ana.send(f"/start {PID}")
    assert "📄 Version 2 of the document" in ana.last.text
