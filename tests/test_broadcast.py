"""/broadcast in the staff chat, end to end: the audience, the preview with its count,
the confirmation, one message kept up to date with progress and ending with the summary;
every recipient gets exactly one message, whether staff press "send" twice or cancel,
a resident blocked the bot, or Telegram's flood limits answer 429. At the end, the
sender alone against a Telegram that fails on purpose (5xx, network errors, 429 after
429), which the stand-in does not simulate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.methods import SendMessage
from sqlalchemy import delete, event, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.i18n import Catalogs
from bot.notify.sender import Sender, SendLimits
from bot.sandbox import SentMessage, SimChat, SimUser, TelegramStandIn
from storage.database import create_engine, create_session_factory
from storage.models import (
    Audience,
    Consultation,
    Delivery,
    DeliveryStatus,
    Follow,
    Notice,
    NoticeKind,
    NoticeStatus,
    Resident,
    Submission,
    SubmissionKind,
)
from storage.repositories import DeliveryRepository, NoticeRepository
from tests.conftest import NOW, Chat, RunningBot, flat, migrate
from tests.test_staff import propose

STRATEGY = "stara-zagora-pid-strategy"
KRANJ = "kranj-vprasaj-predlagaj"
# The staff chat speaks Bulgarian (DEFAULT_LOCALE); these are its words.
MENU = "📣 Разпращане. Кой да го получи?"
EVERYONE = "👥 Всички"
FOLLOWERS = "🔔 Абонати: "
TOOK_PART = "✍️ Участвали: "
PROMPT = "✍️ Отговорете на това съобщение с текста за изпращане (до 4000 знака)."
PREVIEW = "Преглед (жителите получават точно това):"
CANCEL = "✖️ Отказ"
NOTHING_SENT = "Нищо не беше изпратено."
STARTING = "📣 Разпращането започва…"
FINISHED = "📣 Разпращането приключи."


def send_label(count: int) -> str:
    return f"✅ Изпращане до {count} {'жител' if count == 1 else 'жители'}"


def summary(sent: int, failed: int) -> str:
    return f"{FINISHED} Изпратени: {sent}. Недоставени: {failed}."


@dataclass
class StaffRoom:
    chat: SimChat
    maria: SimUser
    petar: SimUser
    admin: SimUser  # in ADMIN_IDS: broadcasts from her private chat with the bot


@pytest.fixture
def staff_room(standin: TelegramStandIn) -> StaffRoom:
    maria = standin.add_user("Мария", language_code="bg")
    petar = standin.add_user("Петър", language_code="bg")
    admin = standin.add_user("Елена", language_code="bg")
    chat = standin.add_group("Община — консултации", members=[petar], admins=[maria])
    return StaffRoom(chat, maria, petar, admin)


@pytest.fixture
def broadcast_per_second() -> float:
    """The sender's rate over all chats; 0 is no limit (fast). A test parametrizes it."""
    return 0.0


@pytest.fixture
def bot_settings(
    bot_settings: Settings, staff_room: StaffRoom, broadcast_per_second: float
) -> Settings:
    return bot_settings.model_copy(
        update={
            "staff_chat_id": staff_room.chat.id,
            "admin_ids": frozenset({staff_room.admin.id}),
            "default_locale": "bg",
            "broadcast_per_second": broadcast_per_second,
        }
    )


class Desk:
    """A staff member broadcasting from the staff chat (or an administrator from her
    private chat with the bot)."""

    def __init__(self, standin: TelegramStandIn, chat: SimChat, user: SimUser) -> None:
        self.standin, self.chat, self.user = standin, chat, user

    @property
    def messages(self) -> list[SentMessage]:
        return self.standin.messages(self.chat)

    async def say(self, text: str, reply_to: SentMessage | None = None) -> SentMessage:
        """Write in the staff chat; the bot's answer."""
        before = len(self.messages)
        self.standin.send_text(
            self.user, text, chat=self.chat, reply_to=reply_to.message_id if reply_to else None
        )
        await self.standin.wait_for(lambda: len(self.messages) > before, 10)
        await self.standin.wait_idle()
        return self.messages[before]

    def push(self, message: SentMessage, label: str, by: SimUser | None = None) -> str:
        """Press a button without waiting: the callback query's id."""
        return self.standin.press(by or self.user, message, text=label, chat=self.chat)

    async def press(self, message: SentMessage, label: str) -> SentMessage:
        """Press a button; the bot's next message in the staff chat."""
        before = len(self.messages)
        await self.standin.wait_callback_answer(self.push(message, label))
        await self.standin.wait_for(lambda: len(self.messages) > before, 10)
        return self.messages[before]

    async def prepare(self, audience: str, text: str) -> SentMessage:
        """/broadcast, the audience (a button label, or its start), the text: the preview."""
        menu = await self.say("/broadcast")
        assert menu.text == MENU
        label = next(b.text for b in menu.flat_buttons if b.text.startswith(audience))
        prompt = await self.press(menu, label)
        assert prompt.text == PROMPT
        assert prompt.reply_markup is not None and prompt.reply_markup.get("force_reply")
        await self.standin.wait_idle()
        return await self.say(text, reply_to=prompt)

    async def confirm(self, preview: SentMessage, count: int) -> SentMessage:
        """Press "send"; the progress message once it shows the summary."""
        progress = await self.press(preview, send_label(count))
        await self.finished(progress, count)
        await self.standin.wait_idle()
        return self.standin.message(self.chat, progress.message_id)

    async def finished(self, progress: SentMessage, count: int) -> None:
        """Wait for the summary: a few seconds, and more for a long broadcast."""

        def shown() -> str:
            return self.standin.message(self.chat, progress.message_id).text

        try:
            await self.standin.wait_for(lambda: shown().startswith(FINISHED), 5 + count / 10)
        except TimeoutError:
            pytest.fail(f"the broadcast did not end with its summary; the message says {shown()!r}")

    def progress_texts(self, progress: SentMessage) -> list[str]:
        """What the progress message said, edit after edit (as sent, HTML)."""
        return [
            request.params["text"]
            for request in self.standin.requests
            if request.method == "editMessageText"
            and request.status == 200
            and request.params.get("message_id") == progress.message_id
        ]

    async def broadcast(self, audience: str, text: str, count: int) -> SentMessage:
        preview = await self.prepare(audience, text)
        return await self.confirm(preview, count)


@pytest.fixture
def desk(standin: TelegramStandIn, staff_room: StaffRoom, running_bot: RunningBot) -> Desk:
    return Desk(standin, staff_room.chat, staff_room.maria)


# --- residents ------------------------------------------------------------------------


async def consultation_id(running_bot: RunningBot, slug: str) -> int:
    assert running_bot.app is not None
    async with running_bot.app.session_factory() as session:
        found = await session.scalar(select(Consultation.id).where(Consultation.slug == slug))
    assert found is not None
    return found


async def residents(
    running_bot: RunningBot,
    standin: TelegramStandIn,
    count: int,
    *,
    follow: str | None = None,
    took_part_in: str | None = None,
    follows_all: bool = False,
    reachable: bool = True,
) -> list[SimUser]:
    """`count` people of the stand-in stored as residents (as /start would have made them,
    without the conversation), following or having written to a consultation."""
    assert running_bot.app is not None
    users = [standin.add_user(f"Жител {n}", language_code="bg") for n in range(count)]
    follow_id = await consultation_id(running_bot, follow) if follow else None
    took_part_id = await consultation_id(running_bot, took_part_in) if took_part_in else None
    async with running_bot.app.session_factory.begin() as session:
        rows = [
            Resident(
                telegram_user_id=user.id,
                chat_id=user.id,
                telegram_language="bg",
                follows_all=follows_all,
                reachable=reachable,
            )
            for user in users
        ]
        session.add_all(rows)
        await session.flush()
        for row in rows:
            if follow_id:
                session.add(Follow(resident_id=row.id, consultation_id=follow_id))
            if took_part_id:
                session.add(
                    Submission(
                        draft_key=f"broadcast-test-{row.id}",
                        consultation_id=took_part_id,
                        resident_id=row.id,
                        kind=SubmissionKind.PROPOSAL,
                        text="По-чести автобуси до индустриалната зона.",
                        text_digest=f"{row.id:064x}",
                        language="bg",
                    )
                )
    return users


async def follow_through_the_bot(chat: Chat, slug: str = STRATEGY) -> None:
    await chat.send(f"/start {slug}")
    await chat.tap(next(label for label in chat.labels if label.startswith("🔔")))
    assert any(label.startswith("🔕") for label in chat.labels)


def received(standin: TelegramStandIn, users: Iterable[SimUser], text: str) -> dict[int, int]:
    """How many messages with exactly `text` each user got from the bot."""
    return {
        user.id: sum(1 for message in standin.messages(user) if message.text == text)
        for user in users
    }


async def deliveries(running_bot: RunningBot) -> list[Delivery]:
    assert running_bot.app is not None
    async with running_bot.app.session_factory() as session:
        return list(await session.scalars(select(Delivery).order_by(Delivery.id)))


async def broadcasts(running_bot: RunningBot) -> list[Notice]:
    assert running_bot.app is not None
    async with running_bot.app.session_factory() as session:
        return list(
            await session.scalars(select(Notice).where(Notice.kind == NoticeKind.BROADCAST))
        )


def assert_once_each(
    standin: TelegramStandIn, recipients: list[SimUser], others: list[SimUser], text: str
) -> None:
    got = received(standin, recipients, text)
    assert sorted(set(got.values())) == [1], {k: v for k, v in got.items() if v != 1}
    assert set(received(standin, others, text).values()) <= {0}


# --- the tests --------------------------------------------------------------------------


async def test_each_audience_gets_the_broadcast_once(
    resident, desk: Desk, staff_room: StaffRoom, running_bot: RunningBot, standin: TelegramStandIn
) -> None:
    # Through the bot: Ana follows the strategy and proposes, Ivan follows, Mojca
    # proposes, Bo only said hello.
    ana, ivan, mojca, bo = (
        resident("Ana", "en"),
        resident("Иван", "bg"),
        resident("Mojca", "sl"),
        resident("Bo", "en"),
    )
    await follow_through_the_bot(ana)
    await follow_through_the_bot(ivan)
    await propose(ana)
    await propose(mojca)
    await bo.send("/start")
    # Stored directly, for numbers.
    plain = await residents(running_bot, standin, 12)
    followers = await residents(running_bot, standin, 6, follow=STRATEGY)
    took_part = await residents(running_bot, standin, 4, took_part_in=STRATEGY)
    everything = await residents(running_bot, standin, 2, follows_all=True)
    elsewhere = await residents(running_bot, standin, 3, follow=KRANJ, took_part_in=KRANJ)
    gone = await residents(running_bot, standin, 2, follow=STRATEGY, reachable=False)
    staff = [staff_room.maria, staff_room.petar]
    reachable = [
        *(chat.user for chat in (ana, ivan, mojca, bo)),
        *plain,
        *followers,
        *took_part,
        *everything,
        *elsewhere,
    ]
    assert len(reachable) == 31

    # Everyone: the preview shows the text as residents will get it, and the count.
    text = "Спиране на водата в понеделник 8–12 ч. <ул. „Гурко“ & бул. „Руски“>."
    preview = await desk.prepare(EVERYONE, text)
    assert preview.text == f"{PREVIEW}\n\n{text}"
    assert [b.text for b in preview.flat_buttons] == [send_label(31), CANCEL]
    progress = await desk.confirm(preview, 31)
    assert progress.html == "📣 <b>Разпращането приключи.</b> Изпратени: 31. Недоставени: 0."
    assert progress.text == summary(31, 0)
    assert_once_each(standin, reachable, [*gone, *staff], text)
    for user in reachable:  # exactly what was previewed, nothing added
        message = next(m for m in standin.messages(user) if m.text == text)
        assert message.buttons == ()

    # Followers of the strategy: those following it, and those following everything.
    title = "Стратегия за развитие"
    text = "Напомняне: срокът за предложения по стратегията изтича в сряда."
    progress = await desk.broadcast(FOLLOWERS + title, text, 10)
    assert progress.text == summary(10, 0)
    strategy_followers = [ana.user, ivan.user, *followers, *everything]
    others = [user for user in reachable if user not in strategy_followers]
    assert_once_each(standin, strategy_followers, [*others, *gone, *staff], text)
    # A broadcast about a consultation comes with a button that opens it.
    message = next(m for m in standin.messages(ana.user) if m.text == text)
    assert message.flat_buttons[0].value.endswith(f"?start={STRATEGY}")

    # Those who took part: who sent a proposal or a question on it.
    text = "Благодарим за предложенията! Справката е публикувана."
    progress = await desk.broadcast(TOOK_PART + title, text, 6)
    assert progress.text == summary(6, 0)
    participants = [ana.user, mojca.user, *took_part]
    others = [user for user in reachable if user not in participants]
    assert_once_each(standin, participants, [*others, *gone, *staff], text)

    # The database agrees: one delivery a recipient, sent, with Telegram's message id.
    rows = await deliveries(running_bot)
    assert len(rows) == 31 + 10 + 6
    assert {row.status for row in rows} == {DeliveryStatus.SENT}
    assert all(row.telegram_message_id is not None for row in rows)
    assert {n.status for n in await broadcasts(running_bot)} == {NoticeStatus.DONE}


async def test_progress_is_one_message_edited_up_to_the_summary(
    desk: Desk, running_bot: RunningBot, standin: TelegramStandIn
) -> None:
    users = await residents(running_bot, standin, 70)
    text = "Публично обсъждане на бюджета: четвъртък, 18 ч., зала 1."
    progress = await desk.broadcast(EVERYONE, text, 70)
    # Nothing was posted in the staff chat after it: the progress is one message,
    # edited (it started as "starting").
    assert desk.messages[-1].message_id == progress.message_id
    assert progress.edited
    shown = desk.progress_texts(progress)
    assert shown[-1] == "📣 <b>Разпращането приключи.</b> Изпратени: 70. Недоставени: 0."
    # On the way: sent, not delivered, left, and the time to go.
    assert any(
        "Разпращане…" in s and "Остават: " in s and "Остават около " in s for s in shown[:-1]
    ), shown
    assert STARTING not in progress.text
    assert_once_each(standin, users, [], text)
    # The Telegram message id of every delivery is the message the resident got.
    by_chat = {
        user.id: next(m.message_id for m in standin.messages(user) if m.text == text)
        for user in users
    }
    assert running_bot.app is not None
    async with running_bot.app.session_factory() as session:
        pairs = (
            await session.execute(
                select(Resident.chat_id, Delivery.telegram_message_id).join(
                    Delivery, Delivery.resident_id == Resident.id
                )
            )
        ).all()
    assert dict(pairs) == by_chat


async def test_a_second_press_of_send_sends_nothing_more(
    desk: Desk, staff_room: StaffRoom, running_bot: RunningBot, standin: TelegramStandIn
) -> None:
    users = await residents(running_bot, standin, 5)
    text = "Утре няма сметосъбиране в кв. „Три чучура“."
    preview = await desk.prepare(EVERYONE, text)
    # Two presses arrive together (a double tap), a colleague presses too, and later
    # the same button once more.
    first = desk.push(preview, send_label(5))
    second = desk.push(preview, send_label(5))
    colleague = desk.push(preview, send_label(5), by=staff_room.petar)
    for query in (first, second, colleague):
        await standin.wait_callback_answer(query)
    progress = next(
        m for m in desk.messages if m.message_id > preview.message_id and m.text != NOTHING_SENT
    )
    await desk.finished(progress, 5)
    await standin.wait_idle()
    later = await desk.press(preview, send_label(5))
    assert later.text == NOTHING_SENT
    await standin.wait_idle()

    assert_once_each(standin, users, [], text)
    assert [m.text for m in desk.messages].count(NOTHING_SENT) == 3
    assert len(await broadcasts(running_bot)) == 1
    assert len(await deliveries(running_bot)) == 5


async def test_a_cancelled_broadcast_sends_nothing(
    desk: Desk, running_bot: RunningBot, standin: TelegramStandIn
) -> None:
    users = await residents(running_bot, standin, 5)
    text = "Този текст не трябва да стигне до никого."
    preview = await desk.prepare(EVERYONE, text)
    answer = await desk.press(preview, CANCEL)
    assert answer.text == NOTHING_SENT
    # The preview's "send" button, pressed after the cancel, sends nothing either.
    assert (await desk.press(preview, send_label(5))).text == NOTHING_SENT
    await standin.wait_idle()
    assert set(received(standin, users, text).values()) == {0}
    assert await broadcasts(running_bot) == []
    assert await deliveries(running_bot) == []


async def test_a_resident_who_blocked_the_bot_is_marked_unreachable_and_the_rest_get_it(
    desk: Desk, running_bot: RunningBot, standin: TelegramStandIn
) -> None:
    users = await residents(running_bot, standin, 10)
    blocker = users[3]
    standin.block_bot(blocker)
    await standin.wait_idle()
    # The bot learnt it from the my_chat_member update; as if that update had been lost
    # (the bot was down longer than Telegram keeps updates), it still believes her reachable.
    assert running_bot.app is not None
    async with running_bot.app.session_factory.begin() as session:
        row = await session.scalar(select(Resident).where(Resident.telegram_user_id == blocker.id))
        assert row is not None and row.reachable is False
        row.reachable = True

    text = "Нов график на автобус № 12 от понеделник."
    progress = await desk.broadcast(EVERYONE, text, 10)
    assert progress.text == summary(9, 1)
    others = [user for user in users if user is not blocker]
    assert_once_each(standin, others, [blocker], text)

    async with running_bot.app.session_factory() as session:
        row = await session.scalar(select(Resident).where(Resident.telegram_user_id == blocker.id))
        assert row is not None and row.reachable is False
        statuses = dict(
            (
                await session.execute(
                    select(Delivery.status, func.count()).group_by(Delivery.status)
                )
            ).all()
        )
        failed = await session.scalar(
            select(Delivery).where(Delivery.status == DeliveryStatus.UNREACHABLE)
        )
    assert statuses == {DeliveryStatus.SENT: 9, DeliveryStatus.UNREACHABLE: 1}
    assert failed is not None and failed.resident_id == row.id
    assert failed.telegram_message_id is None and "blocked" in (failed.last_error or "")
    # The one 403 was Telegram's answer to the message for her: expected here, and the
    # running_bot fixture checks that no other request was refused.
    refused = list(standin.invalid_requests)
    assert [(r.method, r.status, r.params.get("chat_id")) for r in refused] == [
        ("sendMessage", 403, blocker.id)
    ]
    standin.invalid_requests.clear()

    # The next broadcast leaves her out from the start.
    preview = await desk.prepare(EVERYONE, "Още едно съобщение.")
    assert preview.flat_buttons[0].text == send_label(9)
    await desk.press(preview, CANCEL)


@pytest.mark.parametrize("broadcast_per_second", [50.0])
async def test_under_telegrams_flood_limits_every_message_arrives_once(
    desk: Desk, running_bot: RunningBot, standin: TelegramStandIn
) -> None:
    users = await residents(running_bot, standin, 60)
    # Telegram's limits, well under the sender's own 50/s (even on a slow machine): it
    # meets 429s, pauses everything for retry_after, and goes on.
    standin.set_rate_limits(global_rate=15, per_chat_rate=1)
    text = "Обществено обсъждане: тази вечер от 18 ч. в читалището."
    progress = await desk.broadcast(EVERYONE, text, 60)
    assert standin.too_many_requests > 0
    assert progress.text == summary(60, 0)
    assert_once_each(standin, users, [], text)
    rows = await deliveries(running_bot)
    assert [row.status for row in rows] == [DeliveryStatus.SENT] * 60
    assert all(row.telegram_message_id is not None for row in rows)

    # After a 429 (retry_after is at least a second) nothing more went to any resident
    # until the pause was over, but what was already on its way.
    sends = [
        r
        for r in standin.requests
        if r.method == "sendMessage" and int(r.params.get("chat_id", 0)) > 0
    ]
    refused = [r.time for r in sends if r.status == 429]
    assert refused
    early = [r.time - t for r in sends for t in refused if t + 0.15 < r.time < t + 0.85]
    assert early == []


async def test_a_broadcast_nobody_is_left_to_receive_still_ends_with_a_summary(
    desk: Desk, running_bot: RunningBot, standin: TelegramStandIn
) -> None:
    await residents(running_bot, standin, 3)  # none of them follows Kazanlak's plan
    progress = await desk.broadcast(FOLLOWERS + "План за интегрирано", "Никой.", 0)
    assert progress.text == summary(0, 0)


async def test_the_summary_arrives_even_when_telegram_answers_its_edit_with_429(
    staff_room: StaffRoom, running_bot: RunningBot, standin: TelegramStandIn
) -> None:
    """An administrator (ADMIN_IDS) broadcasts from her private chat, where Telegram
    allows about one message a second: the summary, edited right after the last
    delivery, meets a 429. It must be shown after retry_after, not dropped."""
    users = await residents(running_bot, standin, 5)
    elena = Desk(standin, standin.chat(staff_room.admin), staff_room.admin)
    text = "Днес общинската администрация работи до 15 ч."
    preview = await elena.prepare(EVERYONE, text)
    # Having written to the bot in private, she is a resident too.
    assert preview.flat_buttons[0].text == send_label(6)
    standin.set_rate_limits(
        global_rate=None, per_chat_rate=1, per_chat_burst=1, group_rate_per_minute=None
    )
    progress = await elena.confirm(preview, 6)
    assert progress.text == summary(6, 0)
    assert_once_each(standin, [*users, staff_room.admin], [staff_room.maria], text)


async def test_500s_after_delivery_make_at_most_one_extra_copy_counted_uncertain(
    desk: Desk, running_bot: RunningBot, standin: TelegramStandIn
) -> None:
    """Issue 9, observation 6: Telegram delivered, then answered 500. Before, the sender
    tried again up to five times (residents got it two or three times) and the summary
    said "Sent: 40"."""
    users = await residents(running_bot, standin, 40)
    text = "Обществено обсъждане: утре от 18 ч. в читалището."
    preview = await desk.prepare(EVERYONE, text)
    to_residents = {str(user.id) for user in users}
    standin.faults.configure(
        error_after={500: 0.4}, methods={"sendMessage"}, chats=[u.id for u in users], seed=9
    )
    progress = await desk.press(preview, send_label(40))
    assert progress.text.startswith(STARTING)

    def finished() -> bool:
        return desk.standin.message(desk.chat, progress.message_id).text.startswith(FINISHED)

    await standin.wait_for(finished, 60)
    await standin.wait_idle()
    standin.faults.clear()
    copies = {user.id: sum(1 for m in standin.messages(user) if m.text == text) for user in users}
    rows = {row.resident_id: row for row in await deliveries(running_bot)}
    injected = [
        r for r in standin.requests if r.injected and str(r.params.get("chat_id")) in to_residents
    ]
    assert injected, "the faults must have met some deliveries"
    assert all(1 <= count <= 2 for count in copies.values()), copies
    statuses = [row.status for row in rows.values()]
    uncertain = statuses.count(DeliveryStatus.UNCERTAIN)
    sent = statuses.count(DeliveryStatus.SENT)
    assert sent + uncertain == 40
    assert uncertain == sum(1 for count in copies.values() if count == 2) > 0
    shown = flat(desk.standin.message(desk.chat, progress.message_id).text)
    assert shown.startswith(summary(sent, 0)) and f"Несигурни: {uncertain} " in shown


# --- the sender alone, against a Telegram that fails on purpose ---------------------------


class FailingTelegram:
    """In place of aiogram's Bot: each send raises the next of `failures`, then succeeds."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls: list[float] = []
        self.delivered: list[int] = []

    async def me(self) -> Any:
        return SimpleNamespace(username="civicbot_demo_bot")

    async def send_message(self, chat_id: int, text: str, reply_markup: Any = None) -> Any:
        self.calls.append(time.monotonic())
        if self.failures:
            raise self.failures.pop(0)
        self.delivered.append(chat_id)
        return SimpleNamespace(message_id=100 + len(self.delivered))


def _method() -> SendMessage:
    return SendMessage(chat_id=7001, text="…")


def too_many_requests() -> TelegramRetryAfter:
    return TelegramRetryAfter(_method(), "Too Many Requests: retry after 0", 0)


def server_error() -> TelegramServerError:
    """A 500: Telegram may have delivered before it failed."""
    return TelegramServerError(_method(), "Internal Server Error")


def bad_gateway() -> TelegramServerError:
    """A 502 from Telegram's front: the request never reached the Bot API."""
    return TelegramServerError(_method(), "Bad Gateway")


def network_error() -> TelegramNetworkError:
    """A timeout: the message may have arrived."""
    return TelegramNetworkError(_method(), "Request timeout error")


def refused_connection() -> TelegramNetworkError:
    """No connection at all: nothing was sent."""
    return TelegramNetworkError(_method(), "ClientConnectorError: Cannot connect to host")


@pytest.fixture
async def session_factory(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await migrate(database_url)
    engine = create_engine(database_url)
    yield create_session_factory(engine)
    await engine.dispose()


async def addressed_broadcast(factory: async_sessionmaker[AsyncSession], residents: int) -> int:
    """A broadcast to everyone, as /broadcast leaves it for the sender, with this many
    residents (chats 7001, 7002, …): its id."""
    async with factory.begin() as session:
        session.add_all(
            Resident(telegram_user_id=chat, chat_id=chat, telegram_language="en")
            for chat in range(7001, 7001 + residents)
        )
        notice = Notice(
            kind=NoticeKind.BROADCAST,
            offset_key="sender-test",
            audience=Audience.EVERYONE,
            due_at=NOW,
            status=NoticeStatus.SENDING,
            text="The library is closed on Friday.",
        )
        session.add(notice)
        await session.flush()
        await NoticeRepository(session).address(notice)
        return notice.id


async def send_one(
    factory: async_sessionmaker[AsyncSession], telegram: FailingTelegram
) -> tuple[Any, Delivery]:
    """A broadcast to one resident, sent by the real Sender: its progress and delivery."""
    notice_id = await addressed_broadcast(factory, residents=1)
    # No spacing per chat: every retry goes to the same chat, a second apart otherwise.
    limits = SendLimits(per_second=None, per_chat_seconds=0.0, first_backoff=0.02)
    sender = Sender(telegram, factory, Catalogs.load(), "en", lambda: NOW, limits)  # type: ignore[arg-type]
    progress = await sender.send(notice_id)
    async with factory() as session:
        delivery = await session.scalar(select(Delivery))
    assert delivery is not None
    return progress, delivery


async def test_failures_before_delivery_are_retried_with_back_off(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    telegram = FailingTelegram(bad_gateway(), refused_connection())
    progress, delivery = await send_one(session_factory, telegram)
    assert telegram.delivered == [7001] and len(telegram.calls) == 3
    first, second = (b - a for a, b in zip(telegram.calls, telegram.calls[1:], strict=False))
    assert first >= 0.02 and second >= 0.04  # the wait doubles
    assert delivery.status is DeliveryStatus.SENT and delivery.telegram_message_id == 101
    assert (progress.sent, progress.failed, progress.uncertain) == (1, 0, 0)


async def test_retries_are_bounded_then_the_delivery_fails(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    attempts = SendLimits().max_attempts
    telegram = FailingTelegram(*(bad_gateway() for _ in range(attempts + 1)))
    progress, delivery = await send_one(session_factory, telegram)
    assert telegram.delivered == [] and len(telegram.calls) == attempts
    assert telegram.calls[-1] - telegram.calls[0] >= 0.02 * (2 ** (attempts - 1) - 1)
    assert delivery.status is DeliveryStatus.FAILED and "Bad Gateway" in (delivery.last_error or "")
    assert (progress.sent, progress.failed) == (0, 1)


@pytest.mark.parametrize("first", [server_error, network_error])
async def test_after_a_failure_that_may_have_delivered_one_more_try_counted_uncertain(
    session_factory: async_sessionmaker[AsyncSession], first: Any
) -> None:
    telegram = FailingTelegram(first())
    progress, delivery = await send_one(session_factory, telegram)
    assert telegram.delivered == [7001] and len(telegram.calls) == 2
    # It arrived (the second try says so), perhaps twice: not "sent" in the summary.
    assert delivery.status is DeliveryStatus.UNCERTAIN and delivery.telegram_message_id == 101
    assert (progress.sent, progress.failed, progress.uncertain) == (0, 0, 1)


async def test_two_failures_that_may_have_delivered_stop_the_retries(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    telegram = FailingTelegram(server_error(), network_error(), server_error())
    progress, delivery = await send_one(session_factory, telegram)
    assert len(telegram.calls) == 2  # never a third copy
    assert delivery.status is DeliveryStatus.UNCERTAIN
    assert (progress.sent, progress.failed, progress.uncertain) == (0, 0, 1)


async def test_429_after_429_the_message_waits_and_is_sent_not_given_up(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """Telegram asks to wait, again and again (its budget is the whole bot's: answers to
    residents use it too). A 429 is no failure of the message: it is sent once the
    waiting is over, however many times that took."""
    refusals = SendLimits().max_attempts + 1
    telegram = FailingTelegram(*(too_many_requests() for _ in range(refusals)))
    progress, delivery = await send_one(session_factory, telegram)
    assert progress.too_many_requests == refusals
    assert telegram.delivered == [7001]
    assert delivery.status is DeliveryStatus.SENT and delivery.telegram_message_id == 101


# --- two senders at once (a lease take-over) -------------------------------------------


def statement_started(connection: AsyncConnection) -> asyncio.Event:
    """Set when the connection sends its next statement to the database."""
    started = asyncio.Event()
    event.listen(connection.sync_connection, "before_cursor_execute", lambda *_: started.set())
    return started


async def test_two_senders_claiming_at_once_take_different_deliveries(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """At a lease take-over the old sender may still be claiming when the new one does:
    neither may get a delivery the other took (its resident would get the message twice),
    and the second must get the next ones, not nothing (it would end the broadcast)."""
    notice_id = await addressed_broadcast(session_factory, residents=10)
    async with session_factory() as old, session_factory() as new:
        taken_by_old = await DeliveryRepository(old).claim(notice_id, 4)  # not committed yet
        started = statement_started(await new.connection())
        claiming = asyncio.create_task(DeliveryRepository(new).claim(notice_id, 4))
        await started.wait()  # the new sender's claim is under way
        await old.commit()
        taken_by_new = await claiming
        await new.commit()

    old_ids = [delivery.id for delivery, _ in taken_by_old]
    new_ids = [delivery.id for delivery, _ in taken_by_new]
    assert len(old_ids) == len(new_ids) == 4
    assert set(old_ids).isdisjoint(new_ids)
    assert [resident.id for _, resident in taken_by_new] == [
        delivery.resident_id for delivery, _ in taken_by_new
    ]
    async with session_factory() as session:
        rows = list(await session.scalars(select(Delivery).order_by(Delivery.id)))
    claimed = [(row.id, row.status, row.attempts) for row in rows[:8]]
    assert claimed == [(id_, DeliveryStatus.SENDING, 1) for id_ in sorted(old_ids + new_ids)]
    assert {row.status for row in rows[8:]} == {DeliveryStatus.PENDING}


async def test_a_stopped_sender_records_what_it_sent_and_gives_back_what_it_did_not(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """A graceful stop in the middle of a broadcast: the messages sent are recorded as
    sent, and the deliveries claimed ahead whose messages never went out are pending
    again (not "sending", which the next sender would count as possibly sent)."""
    notice_id = await addressed_broadcast(session_factory, residents=300)
    telegram = FailingTelegram()
    limits = SendLimits(per_second=None, per_chat_seconds=0.0)
    sender = Sender(telegram, session_factory, Catalogs.load(), "en", lambda: NOW, limits)  # type: ignore[arg-type]
    deliver = telegram.send_message

    async def deliver_then_stop_at_the_40th(chat_id: int, text: str, reply_markup: Any = None):
        sent = await deliver(chat_id, text, reply_markup)
        if len(telegram.delivered) == 40:
            sender.stop()
        return sent

    telegram.send_message = deliver_then_stop_at_the_40th  # type: ignore[method-assign]
    progress = await sender.send(notice_id)

    async with session_factory() as session:
        rows = (
            await session.execute(
                select(Resident.chat_id, Delivery.status, Delivery.attempts).join(
                    Delivery, Delivery.resident_id == Resident.id
                )
            )
        ).all()
        notice = await session.get(Notice, notice_id)
    sent = {chat for chat, status, _ in rows if status is DeliveryStatus.SENT}
    assert len(telegram.delivered) >= 40 and sent == set(telegram.delivered)
    assert progress.sent == len(sent)
    untouched = [(status, attempts) for chat, status, attempts in rows if chat not in sent]
    assert set(untouched) == {(DeliveryStatus.PENDING, 0)}
    assert notice is not None and notice.status is NoticeStatus.SENDING  # the next one ends it


async def test_a_resident_erased_while_their_message_is_on_its_way_stops_nothing(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """/forget during a broadcast takes the resident's delivery with it: its outcome,
    written with the others', finds no row, and the others are written all the same."""
    notice_id = await addressed_broadcast(session_factory, residents=3)
    telegram = FailingTelegram()
    deliver = telegram.send_message

    async def erase_7002_meanwhile(chat_id: int, text: str, reply_markup: Any = None):
        if chat_id == 7002:
            async with session_factory.begin() as session:
                await session.execute(delete(Resident).where(Resident.chat_id == 7002))
        return await deliver(chat_id, text, reply_markup)

    telegram.send_message = erase_7002_meanwhile  # type: ignore[method-assign]
    limits = SendLimits(per_second=None, per_chat_seconds=0.0)
    sender = Sender(telegram, session_factory, Catalogs.load(), "en", lambda: NOW, limits)  # type: ignore[arg-type]
    progress = await sender.send(notice_id)

    assert sorted(telegram.delivered) == [7001, 7002, 7003]
    async with session_factory() as session:
        rows = (
            await session.execute(
                select(Resident.chat_id, Delivery.status).join(
                    Delivery, Delivery.resident_id == Resident.id
                )
            )
        ).all()
        notice = await session.get(Notice, notice_id)
    assert sorted(rows) == [(7001, DeliveryStatus.SENT), (7003, DeliveryStatus.SENT)]
    assert notice is not None and notice.status is NoticeStatus.DONE
    assert (progress.sent, progress.failed) == (3, 0)
