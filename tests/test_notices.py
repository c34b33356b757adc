"""Follow, reminders and broadcasts: on time (a controllable clock), once, in each
follower's language, across restarts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.notify.planner import plan
from bot.sandbox import TelegramStandIn
from storage.models import (
    Consultation,
    ConsultationKind,
    ConsultationStatus,
    Delivery,
    Notice,
    NoticeKind,
    NoticeStatus,
)
from tests.conftest import NOW, Chat, RunningBot, load_examples


def _consultation(zone: str, opens: datetime, closes: datetime) -> Consultation:
    return Consultation(
        id=1,
        slug="x",
        kind=ConsultationKind.CONSULTATION,
        status=ConsultationStatus.PUBLISHED,
        timezone=zone,
        opens_at=opens,
        closes_at=closes,
    )


@pytest.mark.parametrize(
    ("zone", "closes_local_utc", "expected_utc"),
    [
        # Sofia leaves summer time on 27.10.2024: the 7-day reminder is in summer time
        # (10:00 = 07:00 UTC), the 1-day one in winter time (10:00 = 08:00 UTC).
        (
            "Europe/Sofia",
            datetime(2024, 10, 30, 21, 59, tzinfo=UTC),
            ["2024-10-23 07:00", "2024-10-29 08:00"],
        ),
        # ... and enters it on 31.03.2024.
        (
            "Europe/Sofia",
            datetime(2024, 4, 2, 20, 59, tzinfo=UTC),
            ["2024-03-26 08:00", "2024-04-01 07:00"],
        ),
        # Ljubljana enters summer time on 31.03.2024 at 02:00: 10:00 that day is 08:00 UTC.
        (
            "Europe/Ljubljana",
            datetime(2024, 4, 1, 21, 59, tzinfo=UTC),
            ["2024-03-25 09:00", "2024-03-31 08:00"],
        ),
        (
            "Europe/Ljubljana",
            datetime(2024, 10, 28, 22, 59, tzinfo=UTC),
            ["2024-10-21 08:00", "2024-10-27 09:00"],
        ),
    ],
)
def test_reminders_fall_at_ten_local_time_across_summer_time_changes(
    zone: str, closes_local_utc: datetime, expected_utc: list[str]
) -> None:
    consultation = _consultation(zone, closes_local_utc - timedelta(days=30), closes_local_utc)
    planned = plan(consultation, reminder_days=(7, 1), reminder_hour=10)
    reminders = [
        p.due_at.strftime("%Y-%m-%d %H:%M") for p in planned if p.kind is NoticeKind.DEADLINE
    ]
    assert reminders == expected_utc
    kinds = [p.kind for p in planned]
    assert kinds[0] is NoticeKind.OPENED and kinds[-1] is NoticeKind.CLOSED


def test_no_reminder_before_opening_nor_for_a_channel() -> None:
    closes = datetime(2024, 6, 19, 20, 59, tzinfo=UTC)
    short = _consultation("Europe/Sofia", closes - timedelta(days=3), closes)
    assert [p.offset_key for p in plan(short, (7, 1), 10) if p.kind is NoticeKind.DEADLINE] == [
        "1d"
    ]
    channel = _consultation("Europe/Ljubljana", closes, closes)
    channel.kind, channel.closes_at = ConsultationKind.CHANNEL, None
    assert plan(channel, (7, 1), 10) == []


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def bot_settings(bot_settings: Settings) -> Settings:
    return bot_settings.model_copy(update={"broadcast_per_second": 0.0})


@pytest.fixture
async def running_bot(
    standin: TelegramStandIn, bot_settings: Settings, clock: Clock
) -> AsyncIterator[RunningBot]:
    await load_examples(bot_settings)
    running = RunningBot(bot_settings, clock=clock)
    await running.start()
    yield running
    await running.stop()
    assert standin.invalid_requests == []


async def _notices(running_bot: RunningBot, slug: str) -> dict[str, Notice]:
    assert running_bot.app is not None
    async with running_bot.app.session_factory() as session:
        consultation = await session.scalar(select(Consultation).where(Consultation.slug == slug))
        assert consultation is not None
        rows = await session.scalars(
            select(Notice).where(Notice.consultation_id == consultation.id)
        )
        return {f"{n.kind.value}{n.offset_key}": n for n in rows}


async def _tick_and_settle(running_bot: RunningBot, standin: TelegramStandIn) -> None:
    """Run the clock's tick now, then wait until every notice it started is sent."""
    app = running_bot.app
    assert app is not None
    await app.notifier.tick()

    async def still_sending() -> bool:
        async with app.session_factory() as session:
            notice = await session.scalar(
                select(Notice.id).where(Notice.status == NoticeStatus.SENDING).limit(1)
            )
        return notice is not None

    async with asyncio.timeout(20):
        while await still_sending():  # noqa: ASYNC110 - the sender lives in the bot: poll the DB
            await asyncio.sleep(0.05)
    await standin.wait_idle()


async def _follow(chat: Chat, slug: str = "stara-zagora-pid-strategy") -> None:
    await chat.send(f"/start {slug}")
    await chat.tap(next(label for label in chat.labels if label.startswith("🔔")))


def _received(standin: TelegramStandIn, chat: Chat, marker: str) -> list[str]:
    return [m.text for m in standin.messages(chat.user) if marker in m.text]


async def test_followers_get_each_reminder_once_in_their_language(
    resident, running_bot: RunningBot, standin: TelegramStandIn, clock: Clock
) -> None:
    ana, ivan, mojca = resident("Ana", "en"), resident("Иван", "bg"), resident("Mojca", "sl")
    bystander = resident("Bo", "en")
    await bystander.send("/start")
    for chat in (ana, ivan, mojca):
        await _follow(chat)
    assert "🔕 Stop following" in ana.labels

    notices = await _notices(running_bot, "stara-zagora-pid-strategy")
    # 19.06.2024 closes; 12.06 and 18.06 at 10:00 Sofia (07:00 UTC) the reminders.
    assert notices["deadline7d"].due_at == datetime(2024, 6, 12, 7, 0, tzinfo=UTC)
    assert notices["deadline1d"].due_at == datetime(2024, 6, 18, 7, 0, tzinfo=UTC)

    clock.now = datetime(2024, 6, 12, 7, 0, 1, tzinfo=UTC)
    await _tick_and_settle(running_bot, standin)
    assert len(_received(standin, ana, "7 days left")) == 1
    assert len(_received(standin, ivan, "Остават 7 дни")) == 1
    assert len(_received(standin, mojca, "Še 7 dni")) == 1
    assert _received(standin, bystander, "to send proposals on") == []

    await _tick_and_settle(running_bot, standin)  # nothing new falls due: nothing is sent
    assert len(_received(standin, ana, "to send proposals on")) == 1

    clock.now = datetime(2024, 6, 18, 7, 0, 1, tzinfo=UTC)
    await _tick_and_settle(running_bot, standin)
    assert len(_received(standin, ana, "1 day left")) == 1
    clock.now = datetime(2024, 6, 19, 21, 0, tzinfo=UTC)
    await _tick_and_settle(running_bot, standin)
    assert len(_received(standin, ivan, "Общината разглежда всяко предложение")) == 1
    closing = standin.messages(ana.user)[-1]
    assert closing.flat_buttons[0].value.endswith("?start=stara-zagora-pid-strategy")


async def test_unfollowing_stops_the_reminders(
    resident, running_bot: RunningBot, standin: TelegramStandIn, clock: Clock
) -> None:
    ana: Chat = resident("Ana", "en")
    await _follow(ana)
    screen = await ana.send("/notifications")
    assert "You follow" in screen.text and "Strategy for the development" in screen.text
    await ana.tap(next(label for label in ana.labels if label.startswith("🔕 ")))
    assert "You follow no consultation" in ana.last.text
    clock.now = datetime(2024, 6, 12, 7, 0, 1, tzinfo=UTC)
    await _tick_and_settle(running_bot, standin)
    assert _received(standin, ana, "to send proposals on") == []


async def test_following_everything_brings_news_of_a_new_consultation(
    resident, running_bot: RunningBot, standin: TelegramStandIn, clock: Clock
) -> None:
    ana: Chat = resident("Ana", "en")
    await ana.send("/notifications")
    await ana.tap("🔔 Tell me about every new consultation")
    assert "You are told about every new consultation" in ana.last.text
    # Stara Zagora's vision opens on 2.9.2024.
    clock.now = datetime(2024, 9, 2, 0, 0, 1, tzinfo=UTC)
    await _tick_and_settle(running_bot, standin)
    [news] = _received(standin, ana, "A new public consultation is open")
    assert "Визия" in news or "vision" in news.lower()


async def test_a_reminder_due_while_the_bot_was_down_is_sent_once_after_restart(
    resident, running_bot: RunningBot, standin: TelegramStandIn, clock: Clock
) -> None:
    ana: Chat = resident("Ana", "en")
    await _follow(ana)
    await running_bot.stop()
    clock.now = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)  # the 7-day reminder fell due on the 12th
    await running_bot.start()
    await _tick_and_settle(running_bot, standin)
    assert len(_received(standin, ana, "7 days left")) == 1
    await running_bot.restart()
    await _tick_and_settle(running_bot, standin)
    assert len(_received(standin, ana, "7 days left")) == 1


async def test_a_reminder_that_no_longer_makes_sense_is_not_sent(
    resident, running_bot: RunningBot, standin: TelegramStandIn, clock: Clock
) -> None:
    ana: Chat = resident("Ana", "en")
    await _follow(ana)
    await running_bot.stop()
    clock.now = datetime(2024, 6, 25, 12, 0, tzinfo=UTC)  # past the deadline and the grace
    await running_bot.start()
    await _tick_and_settle(running_bot, standin)
    assert _received(standin, ana, "to send proposals on") == []
    notices = await _notices(running_bot, "stara-zagora-pid-strategy")
    assert notices["deadline7d"].status is NoticeStatus.EXPIRED


async def test_a_changed_deadline_replans_and_withdrawal_cancels(
    running_bot: RunningBot, bot_settings: Settings
) -> None:
    from bot.notify.notifier import sync_all

    assert running_bot.app is not None
    async with running_bot.app.session_factory.begin() as session:
        consultation = await session.scalar(
            select(Consultation).where(Consultation.slug == "stara-zagora-pid-strategy")
        )
        assert consultation is not None
        consultation.closes_at = datetime(2024, 6, 29, 20, 59, 59, tzinfo=UTC)
        await sync_all(session, bot_settings)
    notices = await _notices(running_bot, "stara-zagora-pid-strategy")
    assert notices["deadline1d"].due_at == datetime(2024, 6, 28, 7, 0, tzinfo=UTC)
    assert notices["closed"].due_at == datetime(2024, 6, 29, 20, 59, 59, tzinfo=UTC)
    async with running_bot.app.session_factory.begin() as session:
        consultation = await session.scalar(
            select(Consultation).where(Consultation.slug == "stara-zagora-pid-strategy")
        )
        assert consultation is not None
        consultation.status = ConsultationStatus.WITHDRAWN
        await sync_all(session, bot_settings)
    notices = await _notices(running_bot, "stara-zagora-pid-strategy")
    assert {n.status for key, n in notices.items() if key != "opened"} == {NoticeStatus.CANCELLED}


async def test_after_a_submission_the_resident_is_offered_to_follow(resident, running_bot):
    ana: Chat = resident("Ana", "en")
    await ana.send("/start stara-zagora-pid-strategy")
    await ana.tap("💡 Suggest")
    await ana.tap("✅ I agree")
    await ana.send("A bench and a water fountain in the central park, please.")
    receipt = await ana.tap("✅ Send")
    assert "Follow it, and you will get: 2 reminders before the deadline" in receipt.text
    card = await ana.tap("🔔 Follow", message=receipt)
    assert "🔕 Stop following" in ana.labels
    # What following brings, above the card shown again.
    assert card.text.startswith("🔔 Done. You will get:") and "\n\nStrategy" in card.text


async def test_deliveries_are_one_per_resident(running_bot: RunningBot, resident, standin, clock):
    ana: Chat = resident("Ana", "en")
    await _follow(ana)
    clock.now = datetime(2024, 6, 12, 7, 0, 1, tzinfo=UTC)
    await _tick_and_settle(running_bot, standin)
    assert running_bot.app is not None
    async with running_bot.app.session_factory() as session:
        deliveries = list(await session.scalars(select(Delivery)))
    assert len(deliveries) == 1 and deliveries[0].telegram_message_id is not None


async def test_an_expired_notice_stays_expired_until_its_date_moves(
    running_bot: RunningBot, bot_settings: Settings, clock: Clock
) -> None:
    from bot.notify.notifier import sync_all

    assert running_bot.app is not None
    await running_bot.app.notifier.tick()  # Kazanlak's notices (2021) expire
    before = await _notices(running_bot, "kazanlak-ipd-2021-2027")
    assert before["deadline7d"].status is NoticeStatus.EXPIRED
    async with running_bot.app.session_factory.begin() as session:
        await sync_all(session, bot_settings)  # what every tick does
    after = await _notices(running_bot, "kazanlak-ipd-2021-2027")
    assert after["deadline7d"].status is NoticeStatus.EXPIRED


async def test_withdrawing_a_consultation_cancels_its_notices_and_hides_it(
    tmp_path, standin: TelegramStandIn
) -> None:
    from tests.conftest import EXAMPLES
    from tests.processes import civicbot, environment, finish

    env = environment(standin, f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    assert (await finish(await civicbot(env, "content", "load", str(EXAMPLES))))[0] == 0
    code, errors = await finish(
        await civicbot(env, "content", "withdraw", "stara-zagora-vision-2027")
    )
    assert code == 0, errors
    code, errors = await finish(await civicbot(env, "content", "withdraw", "no-such-thing"))
    assert code == 1 and errors.strip() == "civicbot: no consultation 'no-such-thing'"

    from storage.database import create_engine, create_session_factory

    engine = create_engine(env["DATABASE_URL"])
    try:
        async with create_session_factory(engine)() as session:
            consultation = await session.scalar(
                select(Consultation).where(Consultation.slug == "stara-zagora-vision-2027")
            )
            assert consultation is not None
            assert consultation.status is ConsultationStatus.WITHDRAWN
            notices = list(
                await session.scalars(
                    select(Notice).where(Notice.consultation_id == consultation.id)
                )
            )
            assert notices and {n.status for n in notices} <= {NoticeStatus.CANCELLED}
    finally:
        await engine.dispose()
    # Loading the file again publishes it again.
    assert (await finish(await civicbot(env, "content", "load", str(EXAMPLES))))[0] == 0


async def test_following_an_upcoming_consultation_brings_the_opening_it_promised(
    resident, running_bot: RunningBot, standin: TelegramStandIn, clock: Clock
) -> None:
    ana: Chat = resident("Ana", "en")
    await _follow(ana, "stara-zagora-vision-2027")  # opens on 2.9.2024
    assert "the news when it opens" in ana.last.text.split("\n\n")[0]
    clock.now = datetime(2024, 9, 2, 0, 0, 1, tzinfo=UTC)
    await _tick_and_settle(running_bot, standin)
    assert len(_received(standin, ana, "A new public consultation is open")) == 1
