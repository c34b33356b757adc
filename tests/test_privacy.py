"""A resident's rights, end to end: erasure leaves no trace in any table, log or staff
message; /mydata is complete and readable; a block and the hourly limit outlive an
erasure under a keyed hash; the notice says who, why and how long; retention runs."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.privacy import apply_retention, pseudonym
from bot.sandbox import TelegramStandIn
from storage.models import (
    Audience,
    Base,
    ConversationState,
    Delivery,
    DeliveryStatus,
    Notice,
    NoticeKind,
    NoticeStatus,
    Resident,
    Restriction,
    StaffAction,
    StaffActionKind,
)
from tests import test_staff
from tests.conftest import NOW, Chat, RunningBot
from tests.test_staff import Staff, propose
from tests.test_submissions import PROPOSAL, stored

NAME = "Zlatomira"
ANSWER = "We will look at the crossing next week."
REASON = "The crossing is already in the 2025 plan."
LATITUDE, LONGITUDE = 42.4258, 25.6345

# The staff chat (Bulgarian) and Maria in it, as the staff tests set them up.
staff_room = test_staff.staff_room
bot_settings = test_staff.bot_settings
maria = test_staff.maria


async def _table_dump(session: AsyncSession) -> str:
    """Every row of every table, as text: what a data-protection officer would grep."""
    lines = []
    for table in Base.metadata.sorted_tables:
        for row in (await session.execute(select(table))).all():
            lines.append(f"{table.name}: {tuple(row)!r}")
    return "\n".join(lines)


async def _submit_with_photo_and_location(chat: Chat, standin: TelegramStandIn) -> str:
    await chat.send("/start stara-zagora-pid-strategy__3-1")
    await chat.tap("💡 Suggest")
    await chat.tap("✅ I agree")
    await chat.expect_answer(lambda: standin.send_photo(chat.user))
    await chat.send(PROPOSAL)
    await chat.expect_answer(lambda: standin.send_location(chat.user, LATITUDE, LONGITUDE))
    await chat.tap("👤 Sign with my name")
    receipt = await chat.tap("✅ Send")
    return next(word.rstrip(".") for word in receipt.text.split() if word[:4].isdigit())


async def _staff_answer_and_decide(maria: Staff, number: str) -> None:
    card = await maria.card_of(number)
    prompt = await maria.prompt(card, "💬 Отговор")
    await maria.reply(prompt, ANSWER)
    prompt = await maria.prompt(maria.card(number), "✅ Приемане")
    await maria.reply(prompt, REASON)


@pytest.mark.parametrize("keep", [True, False], ids=["keep-anonymously", "erase-all"])
async def test_erasure_leaves_no_trace_in_tables_logs_or_the_staff_chat(
    resident,
    standin: TelegramStandIn,
    maria: Staff,
    running_bot: RunningBot,
    caplog: pytest.LogCaptureFixture,
    keep: bool,
) -> None:
    caplog.set_level(logging.INFO)  # what a deployment logs
    ana: Chat = resident(NAME, "en")
    number = await _submit_with_photo_and_location(ana, standin)
    await _staff_answer_and_decide(maria, number)
    await ana.send("/notifications")
    await ana.tap("🔔 Tell me about every new consultation")
    await ana.send("/export")  # not staff: refused, and recorded with her name
    card = await maria.card_of(number)
    attachments = [m for m in maria.messages if m.reply_to_message_id == card.message_id]
    assert {m.kind for m in attachments} >= {"photo", "location"}
    [submission] = await stored(running_bot)
    photo_file_id = str(submission.attachments[0]["file_id"])
    async with running_bot.app.session_factory() as session:  # type: ignore[union-attr]
        before = await _table_dump(session)
    for trace in (str(ana.user.id), NAME, photo_file_id, str(LATITUDE), ANSWER):
        assert trace in before  # the test looks for what really was there

    await ana.send("/forget")
    label = (
        "🗑 Erase me, keep my submissions anonymously" if keep else "🗑 Erase me and my submissions"
    )
    done = await ana.tap(label)
    assert done.text.startswith("Done.")
    await standin.wait_idle()

    async with running_bot.app.session_factory() as session:  # type: ignore[union-attr]
        after = await _table_dump(session)
    for trace in (str(ana.user.id), NAME, photo_file_id, str(LATITUDE), str(LONGITUDE), ANSWER):
        assert trace not in after, trace
    kept = await stored(running_bot)
    if keep:
        [anonymous] = kept
        assert anonymous.text == PROPOSAL and anonymous.attachments == []
        assert anonymous.author_name is None and anonymous.answer is None
        assert anonymous.decision_reason == REASON  # the report the law requires keeps it
        assert anonymous.anonymised_at is not None
    else:
        assert kept == [] and REASON not in after
    assert str(ana.user.id) not in caplog.text

    # The staff chat: the card no longer names her, her photo and location are gone.
    card = (
        maria.card(number)
        if keep
        else next(m for m in maria.messages if m.message_id == card.message_id)
    )
    assert NAME not in card.text and ANSWER not in card.text
    if keep:
        assert PROPOSAL in card.text and "Анонимизирано" in card.text
        assert "💬 Отговор" not in [button.text for button in card.flat_buttons]
    else:
        assert card.text == f"🗑 № {number} е изтрито по искане на жителя."
        assert PROPOSAL not in card.text and card.flat_buttons == []
    visible = standin.messages(maria.room.chat, include_deleted=False)
    assert not [
        m
        for m in visible
        if m.reply_to_message_id == card.message_id
        and m.kind
        in (
            "photo",
            "location",
        )
    ]


async def test_a_block_outlives_an_erasure_without_keeping_an_identity(
    resident, maria: Staff, running_bot: RunningBot, bot_settings: Settings
) -> None:
    ana: Chat = resident("Ana", "en")
    number = await propose(ana)
    card = await maria.card_of(number)
    await maria.press(card, "⛔ Блокиране на подателя")
    await ana.send("/forget")
    await ana.tap("🗑 Erase me and my submissions")

    async with running_bot.app.session_factory() as session:  # type: ignore[union-attr]
        [kept] = (await session.scalars(select(Restriction))).all()
        dump = await _table_dump(session)
    assert kept.banned and kept.pseudonym == pseudonym(bot_settings, ana.user.id)
    assert str(ana.user.id) not in dump

    await ana.send("/start stara-zagora-pid-strategy__3-1")
    refused = await ana.tap("💡 Suggest")
    assert refused.text.startswith("You can no longer send proposals or questions here.")


async def test_the_hourly_limit_counts_what_was_sent_before_an_erasure(
    resident, standin: TelegramStandIn, bot_settings: Settings, running_bot: RunningBot
) -> None:
    await running_bot.stop()
    running_bot.settings = bot_settings.model_copy(update={"submissions_per_hour": 1})
    await running_bot.start()
    ana: Chat = resident("Ana", "en")

    async def suggest(text: str) -> str:
        await ana.send("/start stara-zagora-pid-strategy__3-1")
        await ana.tap("💡 Suggest")
        if "✅ I agree" in ana.labels:
            await ana.tap("✅ I agree")
        await ana.send(text)
        return (await ana.tap("✅ Send")).text

    assert (await suggest(PROPOSAL)).startswith("✅ Received")
    await ana.send("/forget")
    await ana.tap("🗑 Erase me and my submissions")
    second = await suggest("A second proposal about the bus stops on the ring road.")
    assert not second.startswith("✅ Received")
    assert "hour" in second


async def test_my_data_is_complete_and_readable_in_the_residents_language(
    resident, standin: TelegramStandIn, running_bot: RunningBot
) -> None:
    ana: Chat = resident("Ана", "bg")
    await ana.send("/start stara-zagora-pid-strategy__3-1")
    await ana.tap("💡 Предложение")
    await ana.tap("✅ Съгласявам се")
    await ana.expect_answer(lambda: standin.send_location(ana.user, LATITUDE, LONGITUDE))
    await ana.send(PROPOSAL)
    await ana.tap("✅ Изпращане")
    await ana.send("/notifications")
    await ana.tap(ana.label_starting("🔔"))
    await ana.send("/export")
    async with running_bot.app.session_factory.begin() as session:  # type: ignore[union-attr]
        resident_row = await session.scalar(
            select(Resident).where(Resident.telegram_user_id == ana.user.id)
        )
        assert resident_row is not None

        notice = Notice(
            kind=NoticeKind.BROADCAST,
            audience=Audience.EVERYONE,
            text="No water on Monday.",
            due_at=NOW,
            status=NoticeStatus.DONE,
        )
        session.add(notice)
        await session.flush()
        session.add(
            Delivery(
                notice_id=notice.id,
                resident_id=resident_row.id,
                status=DeliveryStatus.SENT,
                telegram_message_id=777,
                sent_at=NOW,
            )
        )

    before = len(standin.messages(ana.user))
    standin.send_text(ana.user, "/mydata")
    await standin.wait_idle()
    files = [m for m in standin.messages(ana.user)[before:] if m.kind == "document"]
    [as_json] = [m for m in files if m.filename == "civicbot-my-data.json"]
    [as_text] = [m for m in files if m.filename == "civicbot-my-data.txt"]
    data = json.loads(as_json.document or b"{}")
    profile = data["profile"]
    assert profile["telegram_user_id"] == ana.user.id
    assert profile["told_about_every_new_consultation"] is True
    assert profile["blocked_by_staff"] is False
    [mine] = data["submissions"]
    assert mine["consultation"].startswith("Стратегия")  # a title, not an id
    assert "consultation_id" not in json.dumps(data)
    assert mine["attachments"] == [
        {"type": "местоположение", "latitude": LATITUDE, "longitude": LONGITUDE}
    ]
    assert "юни 2024" in mine["sent"]  # a date in her language
    [delivery] = data["notices_sent_to_you"]
    assert delivery["telegram_message_id"] == 777 and delivery["status"] == "изпратено"
    assert delivery["notice"] == "съобщение от общината"
    [refused] = data["refused_staff_actions"]
    assert refused["name_recorded"] == "Ана" and refused["what"] == "/export"
    readable = (as_text.document or b"").decode()
    assert "Вашите предложения и въпроси" in readable and PROPOSAL in readable


async def test_declining_the_notice_keeps_nothing_written_and_says_what_is_kept(
    resident, running_bot: RunningBot
) -> None:
    ana: Chat = resident("Ana", "en")
    await ana.send("/start stara-zagora-pid-strategy__3-1")
    notice = await ana.tap("💡 Suggest")
    assert "Controller:" in notice.text
    declined = await ana.tap("✖️ No, thanks")
    assert "nothing was stored" not in declined.text
    assert "Telegram id" in declined.text
    async with running_bot.app.session_factory() as session:  # type: ignore[union-attr]
        assert (await session.scalars(select(ConversationState))).all() == []


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("en", ("Controller:", "400 days", "HMAC", "/forget")),
        ("bg", ("Администратор", "400 дни", "HMAC", "/forget")),
        ("sl", ("Upravljavec", "400 dni", "HMAC", "/forget")),
    ],
)
async def test_the_privacy_notice_names_controller_contact_and_retention(
    resident, bot_settings: Settings, running_bot: RunningBot, language: str, words: tuple
) -> None:
    await running_bot.stop()
    running_bot.settings = bot_settings.model_copy(
        update={
            "controller": "Община Стара Загора",
            "privacy_contact": "dpo@starazagora.bg",
            "retention_days": 400,
        }
    )
    await running_bot.start()
    ana: Chat = resident("Ana", language)
    notice = await ana.send("/privacy")
    for word in (*words, "Община Стара Загора", "dpo@starazagora.bg"):
        assert word in notice.text, word


async def test_retention_anonymises_old_submissions_and_erases_quiet_residents(
    resident, maria: Staff, running_bot: RunningBot, bot_settings: Settings
) -> None:
    ana: Chat = resident("Ana", "en")
    await ana.send("/start stara-zagora-pid-strategy__3-1")
    await ana.tap("💡 Suggest")
    await ana.tap("✅ I agree")
    await ana.send(PROPOSAL)
    await ana.tap("👤 Sign with my name")
    await ana.tap("✅ Send")
    await ana.send("/export")
    app = running_bot.app
    assert app is not None and app.notifier is not None
    # A tick at start-up ran the job once: nothing was old enough.
    assert [s.anonymised_at for s in await stored(running_bot)] == [None]

    # "Last seen" is the real time of the last update; the consultation closed in 2024.
    later = datetime.now(UTC) + timedelta(days=bot_settings.retention_days + 1)
    result = await app.notifier.apply_retention(later)
    assert result.anonymised == 1 and result.residents_erased == 1
    [old] = await stored(running_bot)
    assert old.author_name is None and old.resident_id is None and old.anonymised_at
    async with app.session_factory() as session:
        assert await session.scalar(select(Resident)) is None
        refused = (
            await session.scalars(
                select(StaffAction).where(StaffAction.kind == StaffActionKind.REFUSED)
            )
        ).all()
        assert refused == []
        # A second run finds nothing more to do.
        again = await apply_retention(session, bot_settings, app.notifier.outbox.staff_tr, later)
        assert again.anonymised == 0 and again.residents_erased == 0


async def test_erasure_empties_a_conversation_kept_in_redis(
    resident, running_bot: RunningBot, bot_settings: Settings, clean_redis_url: str
) -> None:
    await running_bot.stop()
    running_bot.settings = bot_settings.model_copy(update={"redis_url": clean_redis_url})
    await running_bot.start()
    ana: Chat = resident("Ana", "en")
    await ana.send("/start stara-zagora-pid-strategy__3-1")
    await ana.tap("💡 Suggest")
    await ana.tap("✅ I agree")
    await ana.send(PROPOSAL)  # a draft, waiting in Redis
    redis = Redis.from_url(clean_redis_url)
    try:

        async def keys_naming_her() -> list[bytes]:
            return [key async for key in redis.scan_iter() if str(ana.user.id).encode() in key]

        assert await keys_naming_her()
        await ana.send("/forget")
        await ana.tap("🗑 Erase me and my submissions")
        assert await keys_naming_her() == []
    finally:
        await redis.aclose()


async def test_an_anonymised_submission_takes_no_more_answers(
    resident, maria: Staff, running_bot: RunningBot
) -> None:
    ana: Chat = resident(NAME, "en")
    number = await propose(ana)
    card = await maria.card_of(number)
    prompt = await maria.prompt(card, "💬 Отговор")
    await ana.send("/forget")
    await ana.tap("🗑 Erase me, keep my submissions anonymously")

    for reply_to in (prompt.message_id, card.message_id):
        [response] = await maria.say(ANSWER, reply_to=reply_to)
        assert response.text == "Този запис е изтрит."
    [anonymous] = await stored(running_bot)
    assert anonymous.answer is None and anonymous.anonymised_at is not None
