"""Publishing the report ("справка"), end to end with the real bot and the stand-in: from
the staff chat's report tool (in Bulgarian) and with `civicbot report publish` (in
English); each participant gets their own outcome in their language, each follower the
news, both with the report attached (uploaded once, then sent by its file_id); nobody
else gets anything; a draft or a second publication is refused and sends nothing; a
bot killed in the middle of sending sends the rest after its restart."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from docx import Document
from sqlalchemy import select

from bot.config import Settings
from bot.content import withdraw
from bot.export import report
from bot.notify.sender import SendLimits
from bot.publication import publish
from bot.sandbox import SentMessage, SimChat, SimUser, TelegramStandIn
from storage.database import create_engine, create_session_factory
from storage.models import (
    Audience,
    Consultation,
    ConsultationReport,
    Delivery,
    DeliveryStatus,
    Follow,
    Notice,
    NoticeKind,
    NoticeStatus,
    Resident,
    Submission,
    SubmissionKind,
    SubmissionStatus,
)
from storage.repositories import NoticeRepository, ReportRepository
from tests.conftest import EXAMPLES, NOW, Chat, RunningBot, load_examples, migrate
from tests.processes import civicbot, environment, finish, polling
from tests.test_staff import ask, propose

STRATEGY = "stara-zagora-pid-strategy"
AFTER = datetime(2024, 6, 25, 9, 0, tzinfo=UTC)  # the strategy closed on 19.06.2024
REPORT_FILE = f"{STRATEGY}-report.docx"
ACCEPTED_BECAUSE = "It is now measure 3.1.4 of the strategy."
REJECTED_BECAUSE = "The municipality has no say over national taxes."
ANSWER = "Yes: the fund opens to start-ups in the autumn."


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def staff_room(standin: TelegramStandIn) -> tuple[SimChat, SimUser]:
    maria = standin.add_user("Мария", language_code="bg")
    return standin.add_group("Община — консултации", admins=[maria]), maria


@pytest.fixture
def bot_settings(
    request: pytest.FixtureRequest, bot_settings: Settings, staff_room: tuple[SimChat, SimUser]
) -> Settings:
    changes = {"staff_chat_id": staff_room[0].id, "default_locale": "bg"}
    changes |= getattr(request, "param", {"broadcast_per_second": 0.0})
    return bot_settings.model_copy(update=changes)


@pytest.fixture
async def running_bot(
    standin: TelegramStandIn, bot_settings: Settings, clock: Clock
) -> AsyncIterator[RunningBot]:
    await load_examples(bot_settings)
    running = RunningBot(bot_settings, clock=clock)
    standin.add_busy_check(lambda: running.app is not None and running.app.busy())
    await running.start()
    yield running
    await running.stop()
    assert standin.invalid_requests == [], "the bot made requests Telegram would refuse"


# --- the staff chat -------------------------------------------------------------------


class Desk:
    def __init__(self, standin: TelegramStandIn, chat: SimChat, user: SimUser) -> None:
        self.standin, self.chat, self.user = standin, chat, user

    async def say(self, text: str) -> SentMessage:
        before = len(self.standin.messages(self.chat))
        self.standin.send_text(self.user, text, chat=self.chat)
        await self.standin.wait_for(lambda: len(self.standin.messages(self.chat)) > before, 10)
        return self.standin.messages(self.chat)[before]

    async def press(self, message: SentMessage, starts: str) -> SentMessage:
        """Press the button whose label starts so; the bot's next message here."""
        label = next(b.text for b in message.flat_buttons if b.text.startswith(starts))
        before = len(self.standin.messages(self.chat))
        query = self.standin.press(self.user, message, text=label, chat=self.chat)
        await self.standin.wait_callback_answer(query)
        await self.standin.wait_for(lambda: len(self.standin.messages(self.chat)) > before, 10)
        return self.standin.messages(self.chat)[before]

    async def publish_button(self) -> SentMessage:
        """/report, the strategy: the message with the formats and the publish button."""
        menu = await self.say("/report")
        return await self.press(menu, "Стратегия за развитие на предприемачеството")


@pytest.fixture
def desk(
    standin: TelegramStandIn, staff_room: tuple[SimChat, SimUser], running_bot: RunningBot
) -> Desk:
    return Desk(standin, *staff_room)


# --- the consultation's review, as staff would have done it ---------------------------


async def decide_everything(running_bot: RunningBot, *, close_review: bool = True) -> None:
    """Every proposal of the strategy decided with reasons (the first accepted, the rest
    not), every question answered, and the review closed."""
    assert running_bot.app is not None
    async with running_bot.app.session_factory.begin() as session:
        consultation = await session.scalar(
            select(Consultation).where(Consultation.slug == STRATEGY)
        )
        assert consultation is not None
        submissions = await session.scalars(
            select(Submission)
            .where(Submission.consultation_id == consultation.id)
            .order_by(Submission.id)
        )
        first = True
        for submission in submissions:
            if submission.kind is SubmissionKind.QUESTION:
                submission.status, submission.answer = SubmissionStatus.ANSWERED, ANSWER
            elif first:
                submission.status = SubmissionStatus.ACCEPTED
                submission.decision_reason = ACCEPTED_BECAUSE
                first = False
            else:
                submission.status = SubmissionStatus.REJECTED
                submission.decision_reason = REJECTED_BECAUSE
            submission.answered_by = "Мария"
            submission.answered_at = AFTER
        if close_review:
            await ReportRepository(session).close_review(consultation.id, "Мария", AFTER)


async def report_notice(running_bot: RunningBot) -> Notice | None:
    assert running_bot.app is not None
    async with running_bot.app.session_factory() as session:
        return await session.scalar(select(Notice).where(Notice.kind == NoticeKind.REPORT))


async def sent_out(running_bot: RunningBot, standin: TelegramStandIn) -> None:
    """Wait until the report's notice is done and the stand-in is quiet."""

    async def done() -> bool:
        notice = await report_notice(running_bot)
        return notice is not None and notice.status is NoticeStatus.DONE

    async with asyncio.timeout(20):
        while not await done():  # noqa: ASYNC110 - the sender lives in the bot: poll the DB
            await asyncio.sleep(0.05)
    await standin.wait_idle()


def report_messages(standin: TelegramStandIn, chat: Chat, marker: str) -> list[SentMessage]:
    return [m for m in standin.messages(chat.user) if marker in m.text and m.kind != "document"]


def documents(standin: TelegramStandIn, chat: Chat) -> list[SentMessage]:
    return [m for m in standin.messages(chat.user) if m.kind == "document"]


async def test_published_from_the_staff_chat_each_gets_their_own_outcome_once(
    resident, desk: Desk, running_bot: RunningBot, standin: TelegramStandIn, clock: Clock
) -> None:
    ana: Chat = resident("Ana", "en")
    ivan: Chat = resident("Иван", "bg")
    mojca: Chat = resident("Mojca", "sl")
    bo: Chat = resident("Bo", "en")
    first = await propose(ana, "A co-working space in the old tobacco warehouse, please.")
    second = await propose(ana, "Lower the local business tax for start-ups in their first year.")
    question = await ask(ivan, "Ще има ли фонд за стартиращи фирми през тази година?")
    await mojca.send(f"/start {STRATEGY}")
    await mojca.tap(next(label for label in mojca.labels if label.startswith("🔔")))
    await bo.send("/start")
    clock.now = AFTER
    await decide_everything(running_bot)
    before = {chat.user.id: len(standin.messages(chat.user)) for chat in (ana, ivan, mojca, bo)}

    formats = await desk.publish_button()
    confirmation = await desk.press(formats, "📢 Публикуване на справката")
    assert confirmation.text.startswith("Да се публикува ли справката по Стратегия")
    done = await desk.press(confirmation, "✅ Публикуване и изпращане до 3 жители")
    assert done.text.startswith("📢 Справката по Стратегия") and "3 жители" in done.text
    await sent_out(running_bot, standin)

    # Ana: one message with both outcomes, in English, and the report after it.
    [outcome] = report_messages(standin, ana, "The report on the consultation")
    assert "Strategy for the development of entrepreneurship" in outcome.text
    assert f"№ {first}, proposal: accepted" in outcome.text
    assert f"Reasons: {ACCEPTED_BECAUSE}" in outcome.text
    assert f"№ {second}, proposal: not accepted" in outcome.text
    assert f"Reasons: {REJECTED_BECAUSE}" in outcome.text
    assert "the file below" in outcome.text
    [document] = documents(standin, ana)
    assert document.filename == REPORT_FILE and document.document
    assert document.document.startswith(b"PK")  # a DOCX is a zip
    assert document.reply_to_message_id == outcome.message_id
    assert "The report on the consultation" in document.text  # the caption

    # Ivan: his question's answer, in Bulgarian.
    [outcome] = report_messages(standin, ivan, "Справката по консултацията")
    assert f"№ {question}, въпрос: отговорено" in outcome.text
    assert f"Отговор: {ANSWER}" in outcome.text
    assert len(documents(standin, ivan)) == 1

    # Mojca follows without taking part: the news, in Slovenian, and the report.
    [news] = report_messages(standin, mojca, "Poročilo o posvetovanju")
    assert "Hvala, ker ste spremljali posvetovanje" in news.text and "Št." not in news.text
    assert len(documents(standin, mojca)) == 1

    # /mydata names the notice among those sent.
    before_mydata = len(standin.messages(ana.user))
    await ana.send("/mydata")
    await standin.wait_idle()
    assert any(
        b"the report on a consultation" in (m.document or b"")
        for m in standin.messages(ana.user)[before_mydata:]
    )

    # Bo neither took part nor follows: nothing.
    assert standin.messages(bo.user)[before[bo.user.id] :] == []

    # The file went up once; the others got it by its file_id.
    uploads = [
        r
        for r in standin.requests
        if r.method == "sendDocument" and str(r.params.get("document", "")).startswith("<file")
    ]
    by_id = [
        r
        for r in standin.requests
        if r.method == "sendDocument" and r.params.get("document", "").startswith("SB")
    ]
    assert len(uploads) == 1 and len(by_id) == 2, [r.params for r in uploads]

    # The record: published once, by whom.
    assert running_bot.app is not None
    async with running_bot.app.session_factory() as session:
        record = await session.scalar(select(ConsultationReport))
        deliveries = list(await session.scalars(select(Delivery)))
    assert record is not None and record.published_by == "Мария"
    assert record.published_at == AFTER
    assert len(deliveries) == 3 and {d.status for d in deliveries} == {DeliveryStatus.SENT}

    # Publishing again: the date and the name, and nothing goes out.
    count = len(standin.requests)
    again = await desk.press(confirmation, "✅ Публикуване")  # the old confirmation
    assert again.text.startswith("Справката вече е публикувана на 25 юни 2024")
    assert "от Мария" in again.text and "Нищо не беше изпратено отново" in again.text
    formats = await desk.publish_button()
    again = await desk.press(formats, "📢 Публикуване на справката")
    assert again.text.startswith("Справката вече е публикувана")
    await standin.wait_idle()
    sent_since = [r for r in standin.requests[count:] if r.params.get("chat_id") != desk.chat.id]
    assert [r for r in sent_since if r.method in ("sendMessage", "sendDocument")] == []

    # The published decisions no longer change: a card's buttons say why.
    [card] = [m for m in standin.messages(desk.chat) if m.text.startswith(f"📥 № {second}")][-1:]
    for label in ("◐", "💬", "🚫"):
        pressed = next(b.text for b in card.flat_buttons if b.text.startswith(label))
        query = standin.press(desk.user, card, text=pressed, chat=desk.chat)
        alert = await standin.wait_callback_answer(query)
        assert alert.text and alert.text.startswith("Справката по тази консултация е публикувана")
    async with running_bot.app.session_factory() as session:
        kept = await session.scalar(select(Submission).where(Submission.public_number == second))
    assert kept is not None and kept.status is SubmissionStatus.REJECTED


async def test_a_draft_is_not_published_and_nothing_is_sent(
    resident, desk: Desk, running_bot: RunningBot, standin: TelegramStandIn, clock: Clock
) -> None:
    ana: Chat = resident("Ana", "en")
    await propose(ana, "A co-working space in the old tobacco warehouse, please.")
    await ask(ana, "Will there be a fund for start-ups this year?")
    before = len(standin.messages(ana.user))

    # Still open, nothing decided, the review not closed.
    formats = await desk.publish_button()
    refusal = await desk.press(formats, "📢 Публикуване на справката")
    assert refusal.text.startswith("Справката още не може да бъде публикувана")
    for line in (
        "• Консултацията е отворена до 19 юни 2024",
        "• 1 предложение без решение",
        "• 1 въпрос без отговор",
        "• Прегледът още не е приключен.",
    ):
        assert line in refusal.text
    assert refusal.flat_buttons == []

    # Closed and decided, but the review is not closed: still a draft.
    clock.now = AFTER
    await decide_everything(running_bot, close_review=False)
    formats = await desk.publish_button()
    refusal = await desk.press(formats, "📢 Публикуване на справката")
    assert refusal.text.endswith("\n• Прегледът още не е приключен.")

    await standin.wait_idle()
    assert standin.messages(ana.user)[before:] == []
    assert await report_notice(running_bot) is None


async def test_a_long_outcome_fits_in_one_message(
    resident, desk: Desk, running_bot: RunningBot, standin: TelegramStandIn, clock: Clock
) -> None:
    """Three long reasons: shortened fairly into one message, which says so."""
    ana: Chat = resident("Ana", "en")
    numbers = [
        await propose(ana, f"Proposal number {n} about the start-up fund.") for n in range(3)
    ]
    clock.now = AFTER
    await decide_everything(running_bot)
    assert running_bot.app is not None
    async with running_bot.app.session_factory.begin() as session:
        for submission in await session.scalars(select(Submission)):
            submission.decision_reason = "Because of the budget. " * 150  # 3,450 characters
    formats = await desk.publish_button()
    confirmation = await desk.press(formats, "📢 Публикуване на справката")
    await desk.press(confirmation, "✅ Публикуване и изпращане до 1 жител")
    await sent_out(running_bot, standin)
    [outcome] = report_messages(standin, ana, "The report on the consultation")
    assert all(f"№ {number}" in outcome.text for number in numbers)
    assert "Some texts are shortened here" in outcome.text
    assert len(outcome.text) <= 4096
    assert len(documents(standin, ana)) == 1


@pytest.mark.parametrize("bot_settings", [{"broadcast_per_second": 10.0}], indirect=True)
async def test_a_restart_in_the_middle_of_sending_delivers_each_once(
    desk: Desk, running_bot: RunningBot, standin: TelegramStandIn, clock: Clock
) -> None:
    users = [standin.add_user(f"Follower {n}", language_code="en") for n in range(40)]
    assert running_bot.app is not None
    async with running_bot.app.session_factory.begin() as session:
        consultation = await session.scalar(
            select(Consultation).where(Consultation.slug == STRATEGY)
        )
        assert consultation is not None
        for user in users:
            resident = Resident(telegram_user_id=user.id, chat_id=user.id, language="en")
            session.add(resident)
            await session.flush()
            session.add(Follow(resident_id=resident.id, consultation_id=consultation.id))
    clock.now = AFTER
    await decide_everything(running_bot)
    formats = await desk.publish_button()
    confirmation = await desk.press(formats, "📢 Публикуване на справката")
    await desk.press(confirmation, "✅ Публикуване и изпращане до 40 жители")

    def files() -> int:
        return sum(1 for r in standin.requests if r.method == "sendDocument" and r.status == 200)

    await standin.wait_for(lambda: files() >= 8, timeout=20)
    await running_bot.restart()
    assert files() < len(users), "the restart must come in the middle of the sending"
    await sent_out(running_bot, standin)
    for user in users:
        received = standin.messages(user)
        assert [m.kind for m in received] == ["text", "document"], received
        assert received[1].reply_to_message_id == received[0].message_id


# --- the command line, and a kill in the middle ---------------------------------------

RESIDENTS = 120


async def prepare_closed_consultation(
    database_url: str, users: list[SimUser], participants: int
) -> dict[int, str]:
    """The examples loaded; the first `participants` users each sent a proposal to the
    strategy, decided with reasons, the rest follow it; the review closed. The public
    number of each participant's proposal, by chat id."""
    engine = create_engine(database_url)
    numbers: dict[int, str] = {}
    try:
        async with create_session_factory(engine).begin() as session:
            consultation = await session.scalar(
                select(Consultation).where(Consultation.slug == STRATEGY)
            )
            assert consultation is not None
            # This process runs on the real clock: the consultation closed three days
            # ago (its closing news no longer due, its submissions well within retention).
            today = datetime.now(UTC)
            consultation.opens_at = today - timedelta(days=40)
            consultation.closes_at = today - timedelta(days=3)
            for index, user in enumerate(users):
                resident = Resident(telegram_user_id=user.id, chat_id=user.id, language="en")
                session.add(resident)
                await session.flush()
                if index >= participants:
                    session.add(Follow(resident_id=resident.id, consultation_id=consultation.id))
                    continue
                numbers[user.id] = f"2024-{index + 1:05d}"
                session.add(
                    Submission(
                        public_number=numbers[user.id],
                        draft_key=f"draft-{index}",
                        consultation_id=consultation.id,
                        resident_id=resident.id,
                        kind=SubmissionKind.PROPOSAL,
                        text=f"Proposal {index} for the start-up fund.",
                        text_digest=f"{index:064d}",
                        language="en",
                        status=SubmissionStatus.REJECTED,
                        decision_reason=REJECTED_BECAUSE,
                        received_at=NOW,
                    )
                )
            await session.flush()
            await ReportRepository(session).close_review(consultation.id, "Maria", AFTER)
    finally:
        await engine.dispose()
    return numbers


async def test_published_from_the_command_line_and_killed_mid_sending(
    standin: TelegramStandIn, tmp_path: Path
) -> None:
    started = time.monotonic()
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    await migrate(database_url)
    env = environment(
        standin,
        database_url,
        DEFAULT_LOCALE="en",
        BROADCAST_PER_SECOND="40",  # slow enough for the kill to find it sending
        NOTIFIER_LEASE_SECONDS="2",
        NOTIFIER_POLL_SECONDS="0.5",
    )
    code, errors = await finish(await civicbot(env, "content", "load", str(EXAMPLES)))
    assert code == 0, errors
    users = [standin.add_user(f"Resident {n}", language_code="en") for n in range(RESIDENTS)]
    numbers = await prepare_closed_consultation(database_url, users, participants=RESIDENTS // 2)
    bystander = standin.add_user("Bo", language_code="en")

    first = await civicbot(env, "run")
    await polling(standin)
    code, errors = await finish(
        await civicbot(env, "report", "publish", STRATEGY, "--by", "Maria Ivanova")
    )
    assert code == 0, errors

    def documents_sent() -> int:
        return sum(1 for r in standin.requests if r.method == "sendDocument" and r.status == 200)

    await standin.wait_for(lambda: documents_sent() >= RESIDENTS // 4, timeout=30)
    first.kill()
    assert (await finish(first))[0] == -9
    await asyncio.sleep(0.2)
    at_kill = documents_sent()
    assert at_kill < RESIDENTS, "the kill must come in the middle of the sending"

    code, errors = await finish(await civicbot(env, "report", "publish", "no-such-thing"))
    assert code == 1 and "no consultation has the slug 'no-such-thing'" in errors
    # Kazanlak's closed long ago, but its review was never closed: a draft.
    code, errors = await finish(await civicbot(env, "report", "publish", "kazanlak-ipd-2021-2027"))
    assert code == 1
    assert errors.splitlines() == [
        "civicbot: the report of kazanlak-ipd-2021-2027 is a draft and cannot be published yet:",
        "  - The review has not been closed yet.",
    ]

    # Publishing again from the command line: refused with the date, nothing queued.
    code, errors = await finish(await civicbot(env, "report", "publish", STRATEGY))
    assert code == 1
    assert "already published on" in errors and "by Maria Ivanova" in errors

    second = await civicbot(env, "run")
    engine = create_engine(database_url)
    try:
        async with asyncio.timeout(60):
            while True:
                async with engine.connect() as connection:
                    status = await connection.scalar(
                        select(Notice.status).where(Notice.kind == NoticeKind.REPORT)
                    )
                if NoticeStatus(status) is NoticeStatus.DONE:
                    break
                await asyncio.sleep(0.1)
    finally:
        await engine.dispose()
    await standin.wait_idle(timeout=15)
    second.terminate()
    code, errors = await finish(second)
    assert code == 0, errors
    assert "Traceback" not in errors, errors

    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            outcomes = (
                await connection.execute(
                    select(Resident.chat_id, Delivery.status, Delivery.last_error).join(
                        Delivery, Delivery.resident_id == Resident.id
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    assert len(outcomes) == RESIDENTS
    assert {status for _, status, _ in outcomes} == {DeliveryStatus.SENT.value}, outcomes[:5]

    doubled = 0
    for user in users:
        received = standin.messages(user)
        texts = [m for m in received if m.kind != "document"]
        files = [m for m in received if m.kind == "document"]
        # The kill may have come between a resident's message and its file: then the
        # message arrives twice and the file once.
        assert 1 <= len(texts) <= 2 and 1 <= len(files) <= 2, (user.id, received)
        doubled += len(texts) == 2 or len(files) == 2
        if user.id in numbers:
            assert f"№ {numbers[user.id]}, proposal: not accepted" in texts[0].text
        else:
            assert "Thank you for following the consultation" in texts[0].text
    assert standin.messages(bystander) == []
    assert doubled <= SendLimits().max_doubled_by_a_kill
    print(
        f"\n{at_kill} files had arrived at the kill; {doubled} residents got the report "
        f"twice; {time.monotonic() - started:.1f} s in all"
    )
    assert standin.invalid_requests == []


# --- what a published report no longer lets happen, and what it never holds up ----------


async def broadcast_to_everyone(running_bot: RunningBot, text: str) -> None:
    """A broadcast confirmed after the report was published, as staff confirm one."""
    assert running_bot.app is not None
    async with running_bot.app.session_factory.begin() as session:
        notice = Notice(
            kind=NoticeKind.BROADCAST,
            offset_key="after-the-report",
            audience=Audience.EVERYONE,
            due_at=AFTER,
            status=NoticeStatus.SENDING,
            text=text,
            created_by="Мария",
        )
        session.add(notice)
        await session.flush()
        await NoticeRepository(session).address(notice)
    running_bot.app.notifier.wake()


async def test_a_report_withdrawn_before_it_went_out_is_cancelled_and_holds_up_nothing(
    resident, running_bot: RunningBot, standin: TelegramStandIn, clock: Clock
) -> None:
    ana: Chat = resident("Ana", "en")
    await propose(ana, "A co-working space in the old tobacco warehouse, please.")
    clock.now = AFTER
    await decide_everything(running_bot)
    assert running_bot.app is not None
    # Published, then withdrawn by an administrator before the notifier's next round.
    async with running_bot.app.session_factory.begin() as session:
        await publish(session, STRATEGY, "Мария", AFTER)
        assert await withdraw(session, STRATEGY, running_bot.settings)

    await broadcast_to_everyone(running_bot, "The town hall is closed on Monday.")
    await standin.wait_for(
        lambda: any("closed on Monday" in m.text for m in standin.messages(ana.user)), 10
    )
    notice = await report_notice(running_bot)
    assert notice is not None and notice.status is NoticeStatus.CANCELLED
    await standin.wait_idle()
    assert report_messages(standin, ana, "The report on the consultation") == []
    assert documents(standin, ana) == []


async def test_a_report_file_that_cannot_be_made_waits_and_holds_up_nothing(
    resident,
    desk: Desk,
    running_bot: RunningBot,
    standin: TelegramStandIn,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ana: Chat = resident("Ana", "en")
    text = "A co-working space in the old tobacco warehouse, please."
    await propose(ana, text)
    clock.now = AFTER
    await decide_everything(running_bot)
    assert running_bot.app is not None
    sender = running_bot.app.notifier.sender
    make_file = sender.report_file

    async def broken(slug: str) -> tuple[bytes, str]:
        raise RuntimeError(f"the disk is full while writing {text!r}")

    sender.report_file = broken
    formats = await desk.publish_button()
    confirmation = await desk.press(formats, "📢 Публикуване на справката")
    await desk.press(confirmation, "✅ Публикуване и изпращане до 1 жител")

    await broadcast_to_everyone(running_bot, "The town hall is closed on Monday.")
    await standin.wait_for(
        lambda: any("closed on Monday" in m.text for m in standin.messages(ana.user)), 10
    )
    notice = await report_notice(running_bot)
    assert notice is not None and notice.status is NoticeStatus.SENDING
    assert report_messages(standin, ana, "The report on the consultation") == []
    assert "could not be made (RuntimeError)" in caplog.text
    assert text not in caplog.text  # what residents wrote stays out of the log

    sender.report_file = make_file  # the disk has room again: the next round sends it
    running_bot.app.notifier.wake()
    await sent_out(running_bot, standin)
    assert len(report_messages(standin, ana, "The report on the consultation")) == 1
    assert len(documents(standin, ana)) == 1


async def test_a_batch_whose_outcomes_could_not_be_read_is_sent_in_the_next_round(
    resident, desk: Desk, running_bot: RunningBot, standin: TelegramStandIn, clock: Clock
) -> None:
    ana: Chat = resident("Ana", "en")
    await propose(ana, "A co-working space in the old tobacco warehouse, please.")
    clock.now = AFTER
    await decide_everything(running_bot)
    assert running_bot.app is not None
    sender = running_bot.app.notifier.sender
    load = sender._load_outcomes
    failed = asyncio.Event()

    async def fails_once(broadcast, resident_ids):  # the database went away a moment
        sender._load_outcomes = load
        failed.set()
        raise ConnectionError("the database went away")

    sender._load_outcomes = fails_once  # type: ignore[method-assign]
    formats = await desk.publish_button()
    confirmation = await desk.press(formats, "📢 Публикуване на справката")
    await desk.press(confirmation, "✅ Публикуване и изпращане до 1 жител")
    await asyncio.wait_for(failed.wait(), 10)
    await asyncio.sleep(0.2)
    running_bot.app.notifier.wake()  # the next tick
    await sent_out(running_bot, standin)
    assert len(report_messages(standin, ana, "The report on the consultation")) == 1
    assert len(documents(standin, ana)) == 1


def docx_text(data: bytes) -> list[str]:
    document = Document(io.BytesIO(data))
    lines = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        lines += [cell.text for row in table.rows for cell in row.cells]
    return lines


async def test_a_published_report_no_longer_changes(
    resident, desk: Desk, running_bot: RunningBot, standin: TelegramStandIn, clock: Clock
) -> None:
    ana: Chat = resident("Ana", "en")
    await propose(ana, "A co-working space in the old tobacco warehouse, please.")
    clock.now = AFTER
    await decide_everything(running_bot)
    assert running_bot.app is not None
    await desk.say(f"/report {STRATEGY} prepared Мария Петрова")
    await standin.wait_idle()  # and the checklist after it
    formats = await desk.publish_button()
    confirmation = await desk.press(formats, "📢 Публикуване на справката")
    await desk.press(confirmation, "✅ Публикуване и изпращане до 1 жител")
    await sent_out(running_bot, standin)
    [received] = documents(standin, ana)
    async with running_bot.app.session_factory() as session:
        before = await session.scalar(select(ConsultationReport))
    assert before is not None and before.published_at == AFTER

    # Weeks later: neither its signatures nor its review change.
    clock.now = AFTER + timedelta(days=40)
    for command in (f"/report {STRATEGY} approved Иван Иванов", f"/report {STRATEGY} prepared X"):
        refusal = await desk.say(command)
        await standin.wait_idle()
        assert refusal.text.startswith(
            "Справката по тази консултация е публикувана на 25 юни 2024"
        ), refusal.text
        assert "прегледът и подписите в нея не се променят" in refusal.text
    async with running_bot.app.session_factory() as session:
        with pytest.raises(report.ReportPublished):
            await report.close_review(session, STRATEGY, "Иван", clock.now)
    async with running_bot.app.session_factory() as session:
        after = await session.scalar(select(ConsultationReport))
    assert after is not None
    assert (after.prepared_by, after.approved_by, after.approved_at, after.review_closed_at) == (
        "Мария Петрова",
        None,
        None,
        before.review_closed_at,
    )

    # The file a later round (after a restart) sends is the report as it was published.
    data, filename = await running_bot.app.notifier._report_file(STRATEGY)
    assert filename == REPORT_FILE
    assert received.document is not None
    assert docx_text(data) == docx_text(received.document)
