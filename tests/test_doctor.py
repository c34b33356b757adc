"""`civicbot doctor` against the Telegram stand-in and real databases: a healthy setup
passes; each thing that would stop the bot is one "problem" line and exit code 1."""

from __future__ import annotations

import asyncio
import io
import sqlite3
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot.config import Settings
from bot.doctor import run_doctor
from bot.sandbox import SimChat, TelegramStandIn
from tests.conftest import TOKEN, migrate
from tests.processes import CIVICBOT, environment
from tests.servers import free_port

ADMIN_ID = 4242
WRONG_TOKEN = "7654321:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawX"  # shaped like a real one


class Report:
    """What the doctor printed, by check: {"database": "ok: …", …}."""

    def __init__(self, code: int, output: str) -> None:
        self.code = code
        self.output = output
        self.lines = output.splitlines()
        self.checks = {
            name.strip(): rest.strip()
            for name, sep, rest in (line.partition(":") for line in self.lines[:-1])
            if sep
        }

    def status(self, check: str) -> str:
        return self.checks[check].split(":", 1)[0]

    def problems(self) -> dict[str, str]:
        return {name: line for name, line in self.checks.items() if line.startswith("problem")}


async def diagnose(settings: Settings) -> Report:
    out = io.StringIO()
    code = await run_doctor(settings, out=out)
    report = Report(code, out.getvalue())
    assert "Traceback" not in report.output
    assert TOKEN.partition(":")[2] not in report.output, "the token must never be printed"
    assert WRONG_TOKEN.partition(":")[2] not in report.output
    return report


def staff_group(standin: TelegramStandIn, **options: object) -> SimChat:
    options.setdefault("bot_is_admin", True)
    return standin.add_group("Staff of the municipality", **options)  # type: ignore[arg-type]


def settings_for(standin: TelegramStandIn, database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "bot_token": TOKEN,
        "bot_api_url": standin.base_url,
        "database_url": database_url,
        "admin_ids": frozenset({ADMIN_ID}),
        "controller": "Община Стара Загора",
        "privacy_contact": "dpo@starazagora.bg",
        "pseudonym_key": "a-random-secret-for-the-tests",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def healthy(standin: TelegramStandIn, database_url: str) -> Settings:
    await migrate(database_url)
    return settings_for(standin, database_url, staff_chat_id=staff_group(standin).id)


def unreachable(database_url: str, tmp_path: Path) -> str:
    if database_url.startswith("sqlite"):
        return f"sqlite+aiosqlite:///{tmp_path / 'no-such-folder' / 'civicbot.db'}"
    return f"postgresql+asyncpg://postgres:a-password@127.0.0.1:{free_port()}/civicbot"


# ---------------------------------------------------------------- healthy


async def test_a_healthy_setup_passes(healthy: Settings, standin: TelegramStandIn) -> None:
    report = await diagnose(healthy)
    assert report.code == 0, report.output
    assert report.lines[-1] == "ready"
    assert set(report.checks) == {
        "configuration",
        "translations",
        "time zone",
        "bot token",
        "staff",
        "privacy",
        "database",
        "migrations",
        "redis",
        "telegram",
        "webhook",
        "staff chat",
    }
    assert {name for name, line in report.checks.items() if not line.startswith("ok")} == {
        "redis"  # not configured: skipped
    }
    assert "@civicbot_demo_bot" in report.checks["telegram"]
    assert report.checks["time zone"].startswith("ok: Europe/Sofia (Sofia time, UTC+")
    assert "administrator" in report.checks["staff chat"]
    assert report.checks["redis"].startswith("skipped: REDIS_URL is not set")
    # It looked and changed nothing: only questions were asked of Telegram.
    assert {request.method for request in standin.requests} == {
        "getMe",
        "getWebhookInfo",
        "getChat",
        "getChatMember",
    }
    assert standin.invalid_requests == []


async def test_missing_staff_settings_are_warnings(
    standin: TelegramStandIn, database_url: str
) -> None:
    await migrate(database_url)
    settings = settings_for(standin, database_url, admin_ids=frozenset())
    report = await diagnose(settings)
    assert report.code == 0, report.output
    assert report.status("staff") == "warning"
    assert "STAFF_CHAT_ID is not set" in report.checks["staff"]
    assert "ADMIN_IDS is not set" in report.checks["staff"]
    assert report.status("staff chat") == "skipped"
    assert report.lines[-1] == "ready (1 warning)"


async def test_missing_privacy_settings_are_warnings(
    standin: TelegramStandIn, database_url: str
) -> None:
    await migrate(database_url)
    settings = settings_for(
        standin,
        database_url,
        staff_chat_id=staff_group(standin).id,
        controller=None,
        pseudonym_key=None,
    )
    report = await diagnose(settings)
    assert report.code == 0, report.output
    assert report.status("privacy") == "warning"
    assert "CONTROLLER and PRIVACY_CONTACT" in report.checks["privacy"]
    assert "PSEUDONYM_KEY is not set" in report.checks["privacy"]
    assert report.lines[-1] == "ready (1 warning)"


async def test_a_bot_that_is_a_plain_member_of_an_ordinary_group_is_fine(
    standin: TelegramStandIn, database_url: str
) -> None:
    await migrate(database_url)
    group = staff_group(standin, bot_is_admin=False)
    report = await diagnose(settings_for(standin, database_url, staff_chat_id=group.id))
    assert report.code == 0, report.output
    assert "the bot is a member" in report.checks["staff chat"]


# ---------------------------------------------------------------- configuration


async def test_without_a_token_run_cannot_start(
    standin: TelegramStandIn, database_url: str
) -> None:
    await migrate(database_url)
    report = await diagnose(settings_for(standin, database_url, bot_token=None))
    assert report.code == 1
    assert report.problems().keys() == {"bot token"}
    assert "@BotFather" in report.checks["bot token"]
    assert {report.status(name) for name in ("telegram", "webhook", "staff chat")} == {"skipped"}


async def test_a_wrong_setting_is_a_problem_when_the_doctor_loads_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REMINDER_HOUR", "25")
    out = io.StringIO()
    assert await run_doctor(out=out) == 1
    assert out.getvalue().splitlines() == [
        "configuration: problem: setting REMINDER_HOUR: Input should be less than or equal "
        "to 23: fix it in the environment or .env"
    ]


async def test_the_configured_time_zone_is_reported(
    standin: TelegramStandIn, database_url: str
) -> None:
    await migrate(database_url)
    settings = settings_for(standin, database_url, timezone="Europe/Ljubljana")
    report = await diagnose(settings)
    line = report.checks["time zone"]
    assert line.startswith("ok: Europe/Ljubljana (Ljubljana time, UTC+"), line
    assert "TIMEZONE" in line


async def test_missing_translations_are_a_problem(
    healthy: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # What a plain `pip install .` gives: the package without the source tree's locales/.
    monkeypatch.setattr("bot.i18n.LOCALES_DIR", tmp_path / "site-packages" / "locales")
    report = await diagnose(healthy)
    assert report.code == 1
    assert report.problems().keys() == {"translations"}
    assert "no catalog for bg, sl, en" in report.checks["translations"]


# ---------------------------------------------------------------- Telegram


async def test_a_wrong_token_is_a_problem(standin: TelegramStandIn, database_url: str) -> None:
    await migrate(database_url)
    settings = settings_for(
        standin, database_url, bot_token=WRONG_TOKEN, staff_chat_id=staff_group(standin).id
    )
    report = await diagnose(settings)
    assert report.code == 1
    assert report.problems().keys() == {"telegram"}
    assert "refused BOT_TOKEN (401 Unauthorized)" in report.checks["telegram"]
    assert "@BotFather" in report.checks["telegram"]
    assert report.status("staff chat") == "skipped"


async def test_an_unreachable_bot_api_is_a_problem(database_url: str) -> None:
    await migrate(database_url)
    settings = Settings(
        bot_token=TOKEN, bot_api_url=f"http://127.0.0.1:{free_port()}", database_url=database_url
    )
    report = await diagnose(settings)
    assert report.code == 1
    assert report.problems().keys() == {"telegram"}
    assert "cannot reach http://127.0.0.1:" in report.checks["telegram"]


async def test_a_webhook_left_at_telegram_stops_polling(
    standin: TelegramStandIn, database_url: str
) -> None:
    await migrate(database_url)
    session = AiohttpSession(api=TelegramAPIServer.from_base(standin.base_url))
    async with Bot(TOKEN, session=session) as bot:
        await bot.set_webhook(f"http://127.0.0.1:{free_port()}/telegram")
    report = await diagnose(settings_for(standin, database_url))
    assert report.code == 1
    assert report.problems().keys() == {"webhook"}
    assert "deleteWebhook" in report.checks["webhook"]
    assert "/telegram" not in report.checks["webhook"], "only the origin: a path may be secret"


# ---------------------------------------------------------------- staff chat


async def test_a_staff_chat_the_bot_is_not_in_is_a_problem(
    standin: TelegramStandIn, database_url: str
) -> None:
    await migrate(database_url)
    group = staff_group(standin)
    standin.set_member_status(group, standin.bot_user, "left")
    report = await diagnose(settings_for(standin, database_url, staff_chat_id=group.id))
    assert report.code == 1
    assert report.problems().keys() == {"staff chat"}
    assert "the bot is not in «Staff of the municipality»" in report.checks["staff chat"]
    assert "add @civicbot_demo_bot" in report.checks["staff chat"]


async def test_a_staff_chat_telegram_does_not_know_is_a_problem(
    standin: TelegramStandIn, database_url: str
) -> None:
    await migrate(database_url)
    report = await diagnose(settings_for(standin, database_url, staff_chat_id=-1009999999999))
    assert report.code == 1
    assert report.problems().keys() == {"staff chat"}
    assert "chat not found" in report.checks["staff chat"]
    assert "-100" in report.checks["staff chat"]


async def test_a_forum_needs_the_bot_to_manage_topics(
    standin: TelegramStandIn, database_url: str
) -> None:
    await migrate(database_url)
    forum = staff_group(standin, is_forum=True, bot_can_manage_topics=False)
    report = await diagnose(settings_for(standin, database_url, staff_chat_id=forum.id))
    assert report.code == 1
    assert report.problems().keys() == {"staff chat"}
    assert "manage topics" in report.checks["staff chat"]


# ---------------------------------------------------------------- database


async def test_an_unmigrated_database(standin: TelegramStandIn, database_url: str) -> None:
    if database_url.startswith("sqlite"):
        path = database_url.removeprefix("sqlite+aiosqlite:///")
        sqlite3.connect(path).close()  # an empty database file
    settings = settings_for(standin, database_url, staff_chat_id=staff_group(standin).id)
    report = await diagnose(settings)
    assert report.status("database") == "ok"
    assert "the database is at revision none, the code needs" in report.checks["migrations"]
    assert "`civicbot db upgrade`" in report.checks["migrations"]
    if database_url.startswith("sqlite"):
        # `civicbot run` migrates SQLite itself: worth saying, not a reason to fail.
        assert report.code == 0, report.output
        assert report.status("migrations") == "warning"
    else:
        assert report.code == 1
        assert report.problems().keys() == {"migrations"}


async def test_an_unreachable_database_is_a_problem(
    standin: TelegramStandIn, database_url: str, tmp_path: Path
) -> None:
    settings = settings_for(standin, unreachable(database_url, tmp_path))
    report = await diagnose(settings)
    assert report.code == 1
    assert report.problems().keys() == {"database"}
    assert report.status("migrations") == "skipped"
    assert "a-password" not in report.output
    if database_url.startswith("sqlite"):
        assert "does not exist: create it or fix DATABASE_URL" in report.checks["database"]
    else:
        assert "cannot connect" in report.checks["database"]
        assert "check DATABASE_URL" in report.checks["database"]


async def test_a_missing_sqlite_file_is_a_warning_and_is_not_created(
    standin: TelegramStandIn, tmp_path: Path
) -> None:
    path = tmp_path / "later.db"
    report = await diagnose(settings_for(standin, f"sqlite+aiosqlite:///{path}"))
    assert report.code == 0, report.output
    assert report.status("database") == "warning"
    assert "does not exist yet" in report.checks["database"]
    assert not path.exists()


# ---------------------------------------------------------------- Redis


async def test_redis_answering_ping(
    standin: TelegramStandIn, database_url: str, clean_redis_url: str
) -> None:
    await migrate(database_url)
    report = await diagnose(settings_for(standin, database_url, redis_url=clean_redis_url))
    assert report.code == 0, report.output
    assert report.checks["redis"] == f"ok: {clean_redis_url} answers PING"


async def test_an_unreachable_redis_is_a_problem(
    standin: TelegramStandIn, database_url: str
) -> None:
    await migrate(database_url)
    redis_url = f"redis://:a-password@127.0.0.1:{free_port()}/0"
    report = await diagnose(settings_for(standin, database_url, redis_url=redis_url))
    assert report.code == 1
    assert report.problems().keys() == {"redis"}
    assert "PING failed" in report.checks["redis"]
    assert "a-password" not in report.output


# ---------------------------------------------------------------- the command


async def _civicbot_doctor(env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        CIVICBOT,
        "doctor",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_the_command(standin: TelegramStandIn, tmp_path: Path) -> None:
    # One database is enough here: the checks themselves ran on both above.
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'civicbot.db'}"
    await migrate(database_url)
    group = staff_group(standin)
    env = environment(
        standin,
        database_url,
        STAFF_CHAT_ID=str(group.id),
        ADMIN_IDS="1,2",
        CONTROLLER="Община Стара Загора",
        PRIVACY_CONTACT="dpo@starazagora.bg",
        PSEUDONYM_KEY="a-random-secret-for-the-tests",
    )
    # Side by side (each start imports aiogram, which takes seconds): healthy, wrong token.
    healthy, wrong = await asyncio.gather(
        _civicbot_doctor(env), _civicbot_doctor({**env, "BOT_TOKEN": WRONG_TOKEN})
    )
    code, out, errors = healthy
    assert (code, errors) == (0, ""), out
    assert out.splitlines()[-1] == "ready"
    assert "telegram:      ok: the token belongs to @civicbot_demo_bot" in out

    code, out, errors = wrong
    assert code == 1
    assert errors == ""
    assert "telegram:      problem:" in out
    assert out.splitlines()[-1].startswith("1 problem")
    assert WRONG_TOKEN.partition(":")[2] not in out + errors
