"""Shared fixtures: a clean environment, the databases, the Telegram stand-in, the real bot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bot.app import Application, prepare_database
from bot.config import Settings
from bot.content import load_consultations, read_consultation_files
from bot.sandbox import SentMessage, SimUser, TelegramStandIn
from storage.database import create_engine
from storage.migrate import upgrade

if TYPE_CHECKING:
    from tests.servers import PostgresServer

# The real PostgreSQL and Redis servers of the test run (started on first use).
pytest_plugins = ["tests.servers", "tests.processes"]

TOKEN = "1234567:test-token-for-the-local-stand-in"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# At this moment Stara Zagora's strategy is open (until 19.06.2024), its vision is
# upcoming (from 02.09.2024), Kazanlak's plan is closed and Kranj's channel is open.
NOW = datetime(2024, 6, 1, 9, 0, tzinfo=UTC)
SETTING_NAMES = (
    "BOT_TOKEN",
    "BOT_API_URL",
    "DATABASE_URL",
    "DEFAULT_LOCALE",
    "STAFF_CHAT_ID",
    "ADMIN_IDS",
    "SECTION_PAGE_CHARS",
    "TIMEZONE",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting leaks in from the developer's shell or a .env file."""
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind the bot runs on: a SQLite file, or a database of
    its own on the test run's PostgreSQL server (dropped after the test)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'civicbot.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.create_database()
    yield url
    server.drop_database(url)


async def migrate(database_url: str) -> None:
    """What `civicbot db upgrade` does."""
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def standin() -> AsyncIterator[TelegramStandIn]:
    # Flood limits off: the tests tap faster than a person; tests of limits turn them on.
    async with TelegramStandIn(
        TOKEN, global_rate=None, per_chat_rate=None, group_rate_per_minute=None
    ) as server:
        yield server


class RunningBot:
    """The real Application polling the stand-in over HTTP, restartable on the same DB."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self.clock = clock
        self.app: Application | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.app = Application(self.settings, clock=self.clock)
        self._task = asyncio.create_task(self.app.run(handle_signals=False))
        await asyncio.wait_for(self.app.started.wait(), 10)

    async def stop(self) -> None:
        if self.app is not None and self._task is not None:
            await self.app.stop()
            await asyncio.wait_for(self._task, 15)
            self._task = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()


async def load_examples(settings: Settings) -> None:
    app = Application(settings)
    try:
        await prepare_database(app.engine)
        files = [item.consultation for item in read_consultation_files([EXAMPLES])]
        async with app.session_factory.begin() as session:
            await load_consultations(session, files)
    finally:
        await app.engine.dispose()


@pytest.fixture
async def bot_settings(standin: TelegramStandIn, database_url: str) -> Settings:
    if not database_url.startswith("sqlite"):
        # The bot migrates SQLite itself; a server database is migrated by its
        # administrator before the bot starts.
        await migrate(database_url)
    return Settings(
        bot_token=TOKEN,
        bot_api_url=standin.base_url,
        database_url=database_url,
        default_locale="en",
    )


@pytest.fixture
async def running_bot(
    standin: TelegramStandIn, bot_settings: Settings
) -> AsyncIterator[RunningBot]:
    await load_examples(bot_settings)
    running = RunningBot(bot_settings, clock=lambda: NOW)
    # "Idle" includes the outbox: what a commit queued has gone out.
    standin.add_busy_check(lambda: running.app is not None and running.app.busy())
    await running.start()
    yield running
    await running.stop()
    assert standin.invalid_requests == [], "the bot made requests Telegram would refuse"


def flat(text: str) -> str:
    return text.replace("\u202f", " ").replace("\u00a0", " ")


class Chat:
    """One resident's private chat, driven like a person would."""

    def __init__(self, standin: TelegramStandIn, user: SimUser) -> None:
        self.standin = standin
        self.user = user

    async def send(self, text: str) -> SentMessage:
        """Write `text` and wait for the bot's answer."""
        return await self.expect_answer(lambda: self.standin.send_text(self.user, text))

    async def expect_answer(self, act: Callable[[], object]) -> SentMessage:
        before = len(self.standin.messages(self.user))
        act()
        await self.standin.wait_for(lambda: len(self.standin.messages(self.user)) > before, 10)
        return await self.settled()

    async def tap(self, label: str, message: SentMessage | None = None) -> SentMessage:
        """Press the button labelled `label` on `message` (default: the newest one)."""
        target = message or self.last
        query_id = self.standin.press(self.user, target, text=label)
        await self.standin.wait_callback_answer(query_id)
        return await self.settled()

    async def tap_data(self, data: str, message: SentMessage | None = None) -> str | None:
        """Press a button with arbitrary (stale or forged) data; the answer's text."""
        message_id = message.message_id if message else None
        query_id = self.standin.press_forged(self.user, self.user, data, message_id=message_id)
        answer = await self.standin.wait_callback_answer(query_id)
        await self.settled()
        return answer.text

    async def settled(self) -> SentMessage:
        await self.standin.wait_idle()
        return self.last

    @property
    def last(self) -> SentMessage:
        message = self.standin.last_message(self.user)
        assert message is not None, "the bot has not written to this chat"
        return message

    @property
    def text(self) -> str:
        """The newest message's text with every kind of space as one plain space
        (Babel puts no-break spaces in dates: "11:59\u202fPM")."""
        return flat(self.last.text)

    @property
    def labels(self) -> list[str]:
        return [button.text for button in self.last.flat_buttons]

    def label_starting(self, prefix: str) -> str:
        return next(label for label in self.labels if label.startswith(prefix))


@pytest.fixture
def resident(standin: TelegramStandIn, running_bot: RunningBot) -> Callable[..., Chat]:
    def make(first_name: str = "Ana", language_code: str | None = "en") -> Chat:
        return Chat(standin, standin.add_user(first_name, language_code=language_code))

    return make
