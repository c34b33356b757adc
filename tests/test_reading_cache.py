"""What residents read is kept in memory (bot/reading.py), and given up as soon as the
content changes in the database, whoever changed it: here a second engine, that is a
connection of its own as another process has, writes behind the running bot's back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, select, update

from bot.sandbox import TelegramStandIn
from storage.database import create_engine
from storage.models import Consultation, ConsultationStatus, Section
from tests.conftest import Chat, RunningBot

READ = "▶️ Read from the beginning"
RENAMED = "Renamed elsewhere"


async def _first_section(chat: Chat) -> str:
    await chat.send("/consultations")
    await chat.tap(chat.label_starting("1."))
    return (await chat.tap(READ)).text


@contextmanager
def statements(running_bot: RunningBot) -> Iterator[list[str]]:
    """The SQL the running bot sends while the block runs."""
    assert running_bot.app is not None
    engine = running_bot.app.engine.sync_engine
    seen: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


async def test_a_plan_read_before_is_not_read_from_the_database_again(
    resident, running_bot: RunningBot
) -> None:
    first = resident("Ana")
    await _first_section(first)
    second = resident("Boris")
    with statements(running_bot) as seen:
        text = await _first_section(second)
        await second.tap("Next ➡️")
    assert "Section 1 of" in text
    assert "Section 2 of" in second.text
    assert not [s for s in seen if "FROM section" in s and "section.body" in s], seen


async def test_a_change_made_elsewhere_is_shown_at_once(
    resident, running_bot: RunningBot, database_url: str
) -> None:
    chat: Chat = resident()
    assert RENAMED not in await _first_section(chat)
    await chat.send("/consultations")
    listed = chat.labels
    assert any("Kazan" in label for label in listed)
    other = create_engine(database_url)
    try:
        async with other.begin() as connection:
            titles = (await connection.execute(select(Section.id, Section.title))).all()
            for section_id, title in titles:
                await connection.execute(
                    update(Section)
                    .where(Section.id == section_id)
                    .values(title=dict.fromkeys(title, RENAMED))
                )
        async with other.begin() as connection:
            await connection.execute(
                update(Consultation)
                .where(Consultation.slug == "kazanlak-ipd-2021-2027")
                .values(status=ConsultationStatus.WITHDRAWN)
            )
    finally:
        await other.dispose()
    await chat.send("/consultations")
    assert len(chat.labels) == len(listed) - 1
    assert not any("Kazan" in label for label in chat.labels)
    await chat.tap(chat.label_starting("1."))
    assert RENAMED in (await chat.tap(READ)).text


async def test_a_crowd_reading_while_nothing_is_kept_yet_is_answered(
    standin: TelegramStandIn, running_bot: RunningBot
) -> None:
    """Forty residents open a consultation at the same moment as the first readers
    after a start: every update fills the cache on its own connection, so none waits
    for another's (the pool holds fifteen)."""
    chats = [Chat(standin, standin.add_user(f"Reader{n}", language_code="en")) for n in range(40)]
    for chat in chats:
        await chat.send("/consultations")
    await running_bot.restart()  # an empty cache
    queries = [
        standin.press(chat.user, chat.last, text=chat.label_starting("1.")) for chat in chats
    ]
    await standin.wait_for(lambda: all(q in standin.callback_answers for q in queries), 20)
    await standin.wait_idle()
    assert all(READ in chat.labels for chat in chats)
