"""The outbox worker against the stand-in, with Telegram failing on purpose: every
consequence of a commit arrives once, or at most twice when Telegram failed after it may
have delivered (and then it says so); refusals are final; nothing is posted twice
because a later step failed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiogram import Bot
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import bot.notify.outbox as outbox_module
from bot.config import Settings
from bot.i18n import Catalogs
from bot.notify.outbox import (
    OutboxWorker,
    queue_card,
    queue_card_refresh,
    queue_reply,
    queue_screen,
)
from bot.sandbox import SimChat, SimUser, TelegramStandIn
from bot.telegram_client import build_bot
from handlers.staff import render_card
from storage.database import create_engine, create_session_factory
from storage.models import (
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    Resident,
    Submission,
    SubmissionKind,
    utcnow,
)
from tests.conftest import TOKEN, migrate


@dataclass
class Desk:
    factory: async_sessionmaker[AsyncSession]
    worker: OutboxWorker
    bot: Bot
    staff: SimChat
    ana: SimUser
    submission_id: int
    resident_id: int

    async def deliver_all(self, rounds: int = 20) -> None:
        """Run the worker until nothing is due (retries made due at once)."""
        for _ in range(rounds):
            async with self.factory.begin() as session:
                await session.execute(
                    OutboxMessage.__table__.update()
                    .where(OutboxMessage.status == OutboxStatus.PENDING)
                    .values(not_before=utcnow())
                )
            self.worker._paused_until.clear()
            if not await self.worker.deliver_due():
                return

    async def rows(self) -> list[OutboxMessage]:
        async with self.factory() as session:
            return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))

    async def submission(self) -> Submission:
        async with self.factory() as session:
            found = await session.get(Submission, self.submission_id)
        assert found is not None
        return found


@pytest.fixture
async def desk(
    standin: TelegramStandIn, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Desk]:
    monkeypatch.setattr(outbox_module, "FIRST_BACKOFF", 0.0)
    await migrate(database_url)
    engine = create_engine(database_url)
    factory = create_session_factory(engine)
    ana = standin.add_user("Ana", language_code="en")
    staff = standin.add_group("Staff", members=[standin.add_user("Maria")])
    # A photo Ana sent the bot (nobody handles the update): its file id is real.
    sent = standin.sent_update(standin.send_photo(ana))
    photo = sent["message"]["photo"][-1]["file_id"]
    async with factory.begin() as session:
        resident = Resident(telegram_user_id=ana.id, chat_id=ana.id, telegram_language="en")
        session.add(resident)
        await session.flush()
        submission = Submission(
            public_number="2026-00001",
            draft_key="k1",
            resident_id=resident.id,
            kind=SubmissionKind.PROPOSAL,
            text="More benches in the park, please.",
            text_digest="d",
            attachments=[{"type": "photo", "file_id": photo}, {"type": "photo", "file_id": photo}],
            language="en",
        )
        session.add(submission)
        await session.flush()
        ids = submission.id, resident.id
    settings = Settings(bot_token=TOKEN, bot_api_url=standin.base_url, database_url=database_url)
    bot = build_bot(settings, wait_on_429=False)
    tr = Catalogs.load().translator("en")
    worker = OutboxWorker(bot, factory, render_card, tr)
    yield Desk(factory, worker, bot, staff, ana, *ids)
    await bot.session.close()
    await engine.dispose()
    # 403s are the resident who blocked the bot, on purpose.
    assert [r for r in standin.invalid_requests if r.status != 403] == []


def texts(standin: TelegramStandIn, chat: SimUser | SimChat) -> list[str]:
    return [message.text or "" for message in standin.messages(chat)]


async def queue_reply_to_ana(desk: Desk, text: str) -> None:
    async with desk.factory.begin() as session:
        submission = await session.get(Submission, desk.submission_id)
        assert submission is not None
        await queue_reply(session, submission, desk.ana.id, text)


async def test_a_reply_that_failed_before_delivery_is_retried_until_it_arrives(
    desk: Desk, standin: TelegramStandIn
) -> None:
    for _ in range(3):
        standin.faults.once("sendMessage", error_before=502)
    await queue_reply_to_ana(desk, "Your answer.")
    await desk.deliver_all()
    assert texts(standin, desk.ana) == ["Your answer."]
    [row] = await desk.rows()
    assert (row.status, row.attempts, row.ambiguous_failures) == (OutboxStatus.SENT, 4, 0)
    assert (await desk.submission()).reply_status == "sent"


async def test_after_a_500_once_delivered_one_more_copy_at_most(
    desk: Desk, standin: TelegramStandIn
) -> None:
    standin.faults.once("sendMessage", error_after=500)
    await queue_reply_to_ana(desk, "Your answer.")
    await desk.deliver_all()
    # Telegram delivered, then failed: the bot cannot tell, so it tries once more.
    assert texts(standin, desk.ana) == ["Your answer.", "Your answer."]
    [row] = await desk.rows()
    assert (row.status, row.ambiguous_failures) == (OutboxStatus.SENT, 1)


async def test_two_failures_that_may_have_delivered_end_as_uncertain(
    desk: Desk, standin: TelegramStandIn
) -> None:
    standin.faults.once("sendMessage", error_after=500)
    standin.faults.once("sendMessage", disconnect_after=True)
    standin.faults.once("sendMessage", error_after=500)
    await queue_reply_to_ana(desk, "Your answer.")
    await desk.deliver_all()
    assert texts(standin, desk.ana) == ["Your answer.", "Your answer."]  # never a third
    [row] = await desk.rows()
    assert (row.status, row.ambiguous_failures) == (OutboxStatus.UNCERTAIN, 2)
    assert (await desk.submission()).reply_status == "uncertain"


async def test_a_resident_who_blocked_the_bot_is_unreachable_and_the_card_says_so(
    desk: Desk, standin: TelegramStandIn
) -> None:
    async with desk.factory.begin() as session:
        submission = await session.get(Submission, desk.submission_id)
        assert submission is not None
        await queue_card(session, submission, desk.staff.id)
    await desk.deliver_all()
    standin.block_bot(desk.ana)
    await queue_reply_to_ana(desk, "Your answer.")
    await desk.deliver_all()
    async with desk.factory() as session:
        resident = await session.get(Resident, desk.resident_id)
        assert resident is not None and resident.reachable is False
    assert (await desk.submission()).reply_status == "unreachable"
    kinds = [(row.kind, row.status) for row in await desk.rows()]
    assert (OutboxKind.REPLY, OutboxStatus.UNREACHABLE) in kinds
    assert kinds[-1] == (OutboxKind.CARD_REFRESH, OutboxStatus.SENT)


async def test_a_failed_attachment_never_posts_the_card_again(
    desk: Desk, standin: TelegramStandIn
) -> None:
    """Issue 9, observation 5: a photo that failed was never retried, and a photo failure
    in the start-up sweep posted the card twice."""
    standin.faults.once("sendPhoto", error_before=502)
    standin.faults.once("sendPhoto", too_many=True, retry_after=1)
    async with desk.factory.begin() as session:
        submission = await session.get(Submission, desk.submission_id)
        assert submission is not None
        await queue_card(session, submission, desk.staff.id)
        await queue_card(session, submission, desk.staff.id)  # queued twice: kept once
    await desk.deliver_all()
    staff_messages = standin.messages(desk.staff)
    cards = [m for m in staff_messages if (m.text or "").startswith("📥")]
    photos = [m for m in staff_messages if m.kind == "photo"]
    assert len(cards) == 1 and len(photos) == 2
    assert all(photo.reply_to_message_id == cards[0].message_id for photo in photos)
    submission = await desk.submission()
    assert submission.staff_message_id == cards[0].message_id
    assert {row.status for row in await desk.rows()} == {OutboxStatus.SENT}


async def test_a_refresh_before_the_card_is_posted_changes_nothing(
    desk: Desk, standin: TelegramStandIn
) -> None:
    async with desk.factory.begin() as session:
        submission = await session.get(Submission, desk.submission_id)
        assert submission is not None
        await queue_card_refresh(session, submission)  # no card yet: nothing queued
    assert await desk.rows() == []


async def test_a_screen_that_cannot_be_edited_comes_as_a_new_message(
    desk: Desk, standin: TelegramStandIn
) -> None:
    async with desk.factory.begin() as session:
        await queue_screen(session, desk.ana.id, "✅ Received", edit_message_id=999_999)
    await desk.deliver_all()
    assert texts(standin, desk.ana) == ["✅ Received"]
    [row] = await desk.rows()
    assert row.status is OutboxStatus.SENT
    # The edit Telegram refused, on purpose here (the message was gone), and no other.
    refused = [r.description for r in standin.invalid_requests]
    assert refused == ["Bad Request: message to edit not found"]
    standin.invalid_requests.clear()


async def test_what_was_in_flight_at_a_crash_goes_once_more_counted_ambiguous(
    desk: Desk, standin: TelegramStandIn
) -> None:
    await queue_reply_to_ana(desk, "Your answer.")
    async with desk.factory.begin() as session:  # a sender claimed it, then died
        await session.execute(OutboxMessage.__table__.update().values(status="sending"))
    await desk.worker.take_over()
    [row] = await desk.rows()
    assert (row.status, row.ambiguous_failures) == (OutboxStatus.PENDING, 1)
    standin.faults.once("sendMessage", error_after=500)
    await desk.deliver_all()
    # It may have arrived before the crash: after one more ambiguous failure, no more.
    assert texts(standin, desk.ana) == ["Your answer."]
    [row] = await desk.rows()
    assert row.status is OutboxStatus.UNCERTAIN


async def test_an_erased_submission_takes_its_queued_messages_with_it(
    desk: Desk, standin: TelegramStandIn
) -> None:
    await queue_reply_to_ana(desk, "Your answer.")
    async with desk.factory.begin() as session:
        submission = await session.get(Submission, desk.submission_id)
        await session.delete(submission)
    await desk.deliver_all()
    assert texts(standin, desk.ana) == []
    assert await desk.rows() == []
