"""`civicbot doctor`: is this installation ready to run?

One line per check, each "ok", "warning", "problem" (with what is wrong and how to fix
it) or "skipped" (when what it needs failed or is not configured); the exit code is 1
when there is a problem, else 0. Nothing it prints contains the token, nor a password
of DATABASE_URL or REDIS_URL; no check raises a traceback. It changes nothing: it does
not create a SQLite file, migrate, set a webhook or send a message.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TextIO
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.config import SUPPORTED_LOCALES, Settings, SettingsError, load_settings
from bot.logs import redact, secrets_from_environment
from storage.database import create_engine
from storage.migrate import current_revision, head_revision

Status = Literal["ok", "warning", "problem", "skipped"]

DATABASE_SECONDS = 10.0
REDIS_SECONDS = 5.0
TELEGRAM_SECONDS = 10.0
# The bot's statuses in a group in which it can post (restricted: if it may send).
MEMBER_STATUSES = ("creator", "administrator", "member", "restricted")


@dataclass(frozen=True)
class Finding:
    check: str
    status: Status
    detail: str = ""

    def line(self) -> str:
        return f"{self.check + ':':<14} {self.status}" + (f": {self.detail}" if self.detail else "")


@dataclass
class Doctor:
    """Runs the checks in order; later ones use what earlier ones learnt."""

    settings: Settings
    report: Callable[[Finding], None] = lambda finding: None
    findings: list[Finding] = field(default_factory=list)
    bot_user: Any = None  # aiogram User of getMe, once Telegram answered
    _bot: Any = None

    def note(self, check: str, status: Status, detail: str = "") -> None:
        finding = Finding(check, status, redact(detail, self._secrets()))
        self.findings.append(finding)
        self.report(finding)

    async def run(self) -> list[Finding]:
        self.note("configuration", "ok", _configuration_source())
        self._check_translations()
        self._check_time_zone()
        self._check_token()
        self._check_staff_settings()
        self._check_privacy_settings()
        database_ok = await self._guard("database", self._check_database)
        if database_ok:
            await self._guard("migrations", self._check_migrations)
        else:
            self.note("migrations", "skipped", "no database to look at")
        await self._guard("redis", self._check_redis)
        try:
            await self._telegram_checks()
        finally:
            if self._bot is not None:
                await self._bot.session.close()
        return self.findings

    # --- configuration -----------------------------------------------------------------

    def _check_translations(self) -> None:
        from bot import i18n

        missing = i18n.missing_catalogs()
        if missing:
            self.note("translations", "problem", translations_missing(missing))
        else:
            self.note("translations", "ok", ", ".join(SUPPORTED_LOCALES))

    def _check_time_zone(self) -> None:
        from bot.i18n import Catalogs

        zone = self.settings.timezone
        english = Catalogs.load(home_zone=zone).translator("en")
        offset = datetime.now(ZoneInfo(zone)).strftime("%z")
        self.note(
            "time zone",
            "ok",
            f"{zone} ({english.zone_name(zone)}, UTC{offset[:3]}:{offset[3:]} now): TIMEZONE, "
            "for the times that belong to no consultation (the general channel)",
        )

    def _check_token(self) -> None:
        if self.settings.token is None:
            self.note(
                "bot token",
                "problem",
                "BOT_TOKEN is not set: `civicbot run` needs the token @BotFather gave "
                "(without one, `civicbot` runs the local demo)",
            )
        else:
            self.note("bot token", "ok", "set")

    def _check_staff_settings(self) -> None:
        staff_chat, admins = self.settings.staff_chat_id, self.settings.admin_ids
        missing = []
        if staff_chat is None:
            missing.append(
                "STAFF_CHAT_ID is not set, so submissions are posted to no staff group "
                "(set it to the group's id, e.g. -1001234567890)"
            )
        if not admins:
            missing.append(
                "ADMIN_IDS is not set, so nobody can use /export, /report, /stats in a "
                "private chat (set the Telegram user ids of administrators, comma-separated)"
            )
        if missing:
            self.note("staff", "warning", "; ".join(missing))
            return
        self.note("staff", "ok", f"STAFF_CHAT_ID {staff_chat}, {len(admins)} ADMIN_IDS")

    def _check_privacy_settings(self) -> None:
        settings, missing = self.settings, []
        if not settings.controller or not settings.privacy_contact:
            missing.append(
                "CONTROLLER and PRIVACY_CONTACT name the municipality and its data protection "
                'contact in the privacy notice (now it says only "the municipality")'
            )
        if settings.pseudonym_key is None or not settings.pseudonym_key.get_secret_value():
            missing.append(
                "PSEUDONYM_KEY is not set, so a new BOT_TOKEN would forget the blocks of "
                "residents who erased themselves (set a random secret: openssl rand -hex 32)"
            )
        if missing:
            self.note("privacy", "warning", "; ".join(missing))
            return
        self.note("privacy", "ok", f"retention {settings.retention_days} days")

    # --- database ----------------------------------------------------------------------

    async def _check_database(self) -> bool:
        url = make_url(self.settings.database_url)
        shown = url.render_as_string(hide_password=True)
        sqlite_file = _sqlite_file(url.database) if url.get_backend_name() == "sqlite" else None
        if sqlite_file is not None:
            status, detail = sqlite_file
            self.note("database", status, f"{shown}: {detail}")
            return False
        engine = create_engine(self.settings.database_url)
        try:
            async with asyncio.timeout(DATABASE_SECONDS), engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except TimeoutError:
            self.note(
                "database",
                "problem",
                f"{shown}: no answer in {DATABASE_SECONDS:g} s: is the server running and "
                "reachable from here (host, port, firewall)?",
            )
            return False
        except Exception as error:
            self.note(
                "database",
                "problem",
                f"{shown}: cannot connect: {_first_line(error)}: "
                + (
                    "check the path in DATABASE_URL"
                    if url.get_backend_name() == "sqlite"
                    else "check DATABASE_URL (host, port, user, password, database name) "
                    "and that PostgreSQL is running"
                ),
            )
            return False
        finally:
            await engine.dispose()
        self.note("database", "ok", shown)
        return True

    async def _check_migrations(self) -> bool:
        engine = create_engine(self.settings.database_url)
        try:
            async with asyncio.timeout(DATABASE_SECONDS):
                current = await current_revision(engine)
        finally:
            await engine.dispose()
        head = head_revision()
        if current == head:
            self.note("migrations", "ok", f"at revision {head}, the newest")
            return True
        if current is not None and not _known_revision(current):
            self.note(
                "migrations",
                "problem",
                f"the database is at revision {current}, which this version of civicbot does "
                "not know: a newer version migrated it; install that version again",
            )
            return False
        behind = f"the database is at revision {current or 'none'}, the code needs {head}"
        if make_url(self.settings.database_url).get_backend_name() == "sqlite":
            self.note(
                "migrations",
                "warning",
                f"{behind}: `civicbot run` upgrades SQLite when it starts; or run "
                "`civicbot db upgrade` now",
            )
            return True
        self.note(
            "migrations",
            "problem",
            f"{behind}: run `civicbot db upgrade` (after a backup), then start the bot",
        )
        return False

    # --- Redis -------------------------------------------------------------------------

    async def _check_redis(self) -> bool:
        if self.settings.redis_url is None:
            self.note(
                "redis",
                "skipped",
                "REDIS_URL is not set: conversations are kept in the database (enough for "
                "one process)",
            )
            return True
        from redis.asyncio import Redis

        shown = make_url(self.settings.redis_url).render_as_string(hide_password=True)
        client = Redis.from_url(
            self.settings.redis_url,
            socket_connect_timeout=REDIS_SECONDS,
            socket_timeout=REDIS_SECONDS,
        )
        try:
            async with asyncio.timeout(REDIS_SECONDS * 2):
                await client.ping()
        except Exception as error:
            reason = (
                f"no answer in {REDIS_SECONDS * 2:g} s"
                if isinstance(error, TimeoutError)
                else _first_line(error)
            )
            self.note(
                "redis",
                "problem",
                f"{shown}: PING failed: {reason}: check REDIS_URL (host, port, password, "
                "database number) and that Redis is running",
            )
            return False
        finally:
            await client.aclose()
        self.note("redis", "ok", f"{shown} answers PING")
        return True

    # --- Telegram ----------------------------------------------------------------------

    async def _telegram_checks(self) -> None:
        if self.settings.token is None:
            for check in ("telegram", "webhook", "staff chat"):
                self.note(check, "skipped", "no BOT_TOKEN")
            return
        if await self._guard("telegram", self._check_telegram):
            await self._guard("webhook", self._check_webhook)
            await self._guard("staff chat", self._check_staff_chat)
        else:
            for check in ("webhook", "staff chat"):
                self.note(check, "skipped", "Telegram did not answer getMe")

    async def _check_telegram(self) -> bool:
        from aiogram import Bot
        from aiogram.client.telegram import TelegramAPIServer
        from aiogram.exceptions import (
            TelegramNetworkError,
            TelegramServerError,
            TelegramUnauthorizedError,
        )

        from bot.bot_api_session import BotApiSession

        api = self.settings.bot_api_url
        # Its errors quote no proxy's page (which may quote the URL, token and all).
        session = BotApiSession(api=TelegramAPIServer.from_base(api), timeout=TELEGRAM_SECONDS)
        self._bot = Bot(str(self.settings.token), session=session)
        try:
            async with asyncio.timeout(TELEGRAM_SECONDS + 1):
                self.bot_user = await self._bot.get_me()
        except TelegramUnauthorizedError:
            self.note(
                "telegram",
                "problem",
                f"{api} refused BOT_TOKEN (401 Unauthorized): the token is wrong or was "
                "revoked; copy it again from @BotFather (/mybots → API Token)",
            )
            return False
        except (TelegramNetworkError, TelegramServerError, OSError, TimeoutError) as error:
            reason = (
                "no answer in time"
                if isinstance(error, TimeoutError)
                else getattr(error, "message", error)
            )
            self.note(
                "telegram",
                "problem",
                f"cannot reach {api}: {_first_line(reason)}: check the network, a proxy or "
                "firewall, and BOT_API_URL",
            )
            return False
        except Exception as error:
            self.note("telegram", "problem", f"{api} answered getMe with: {_first_line(error)}")
            return False
        self.note("telegram", "ok", f"the token belongs to @{self.bot_user.username}")
        return True

    async def _check_webhook(self) -> bool:
        """Polling gets nothing while Telegram has a webhook set, and the other way round."""
        info = await self._telegram(self._bot.get_webhook_info())
        registered = info.url or ""
        webhook_url = getattr(self.settings, "webhook_url", None)
        if webhook_url is None:
            if registered:
                self.note(
                    "webhook",
                    "problem",
                    f"Telegram delivers updates to a webhook ({_origin(registered)}), so long "
                    "polling gets none: set WEBHOOK_URL to use webhook mode, or delete the "
                    "webhook (Bot API method deleteWebhook)",
                )
                return False
            self.note("webhook", "ok", "none set: `civicbot run` long-polls")
            return True
        if getattr(self.settings, "webhook_secret", None) is None:
            self.note(
                "webhook",
                "problem",
                "WEBHOOK_URL is set but WEBHOOK_SECRET is not: set a random secret of "
                "letters, digits, _ and - (e.g. `openssl rand -hex 32`)",
            )
            return False
        expected = webhook_url + getattr(self.settings, "webhook_path", "")
        if registered != expected:
            self.note(
                "webhook",
                "ok",
                f"`civicbot run` registers {expected} when it starts"
                + (f" (Telegram has {_origin(registered)} now)" if registered else ""),
            )
            return True
        if info.last_error_message:
            self.note(
                "webhook",
                "warning",
                f"Telegram's last delivery to {expected} failed: {info.last_error_message} "
                f"({info.pending_update_count} updates waiting): is the bot running and "
                "the proxy in front of it forwarding to WEBHOOK_HOST:WEBHOOK_PORT?",
            )
            return True
        self.note("webhook", "ok", f"Telegram delivers to {expected}")
        return True

    async def _check_staff_chat(self) -> bool:
        from aiogram.exceptions import (
            TelegramBadRequest,
            TelegramForbiddenError,
            TelegramMigrateToChat,
        )

        chat_id = self.settings.staff_chat_id
        if chat_id is None:
            self.note("staff chat", "skipped", "STAFF_CHAT_ID is not set")
            return True
        try:
            chat = await self._telegram(self._bot.get_chat(chat_id))
            member = await self._telegram(self._bot.get_chat_member(chat_id, self.bot_user.id))
        except TelegramMigrateToChat as error:
            # Turning on topics (or growing) makes a group a supergroup with a new id.
            self.note(
                "staff chat",
                "problem",
                f"the group {chat_id} became a supergroup: set STAFF_CHAT_ID="
                f"{error.migrate_to_chat_id}",
            )
            return False
        except (TelegramBadRequest, TelegramForbiddenError) as error:
            self.note(
                "staff chat",
                "problem",
                f"Telegram cannot show chat {chat_id} to the bot ({error.message}): add "
                f"@{self.bot_user.username} to the staff group, and check STAFF_CHAT_ID "
                "(a supergroup's id starts with -100)",
            )
            return False
        name = f"«{chat.title or chat.id}» ({chat.type})"
        if chat.type == "channel":
            self.note("staff chat", "problem", f"{name} is a channel: staff need a group")
            return False
        if chat.type == "private":
            self.note(
                "staff chat",
                "warning",
                f"{chat_id} is a private chat, not a group: cards go to one person only",
            )
            return True
        status = member.status
        if status not in MEMBER_STATUSES or (
            status == "restricted" and not getattr(member, "is_member", True)
        ):
            self.note(
                "staff chat",
                "problem",
                f"the bot is not in {name} (status: {status}): add @{self.bot_user.username} "
                "to the group",
            )
            return False
        if status == "restricted" and not getattr(member, "can_send_messages", True):
            self.note(
                "staff chat",
                "problem",
                f"the bot may not send messages in {name}: lift its restriction",
            )
            return False
        is_admin = status in ("creator", "administrator")
        if chat.is_forum and not (
            status == "creator" or (is_admin and getattr(member, "can_manage_topics", False))
        ):
            self.note(
                "staff chat",
                "problem",
                f"{name} has topics, and the bot makes one per consultation: make "
                f"@{self.bot_user.username} an administrator with the right to manage topics",
            )
            return False
        role = "an administrator" if is_admin else "a member"
        self.note("staff chat", "ok", f"{name}, the bot is {role}")
        return True

    # --- helpers -----------------------------------------------------------------------

    async def _telegram(self, call: Awaitable[Any]) -> Any:
        async with asyncio.timeout(TELEGRAM_SECONDS + 1):
            return await call

    async def _guard(self, check: str, run: Callable[[], Awaitable[bool]]) -> bool:
        """A check that fails unexpectedly is a problem line, never a traceback."""
        try:
            return await run()
        except TimeoutError:
            self.note(check, "problem", "no answer in time")
        except Exception as error:
            self.note(check, "problem", f"{type(error).__name__}: {_first_line(error)}")
        return False

    def _secrets(self) -> list[str]:
        token = self.settings.token
        return [token, token.partition(":")[2]] if token else []


async def run_doctor(settings: Settings | None = None, *, out: TextIO | None = None) -> int:
    """Check everything and print one line per check: 1 if any is a problem, else 0.
    Without `settings`, they are loaded here, and a wrong one is the first problem."""
    stream = out or sys.stdout

    def report(finding: Finding) -> None:
        print(finding.line(), file=stream, flush=True)

    if settings is None:
        try:
            settings = load_settings()
        except SettingsError as error:
            report(
                Finding("configuration", "problem", f"{error}: fix it in the environment or .env")
            )
            return 1
    try:
        findings = await Doctor(settings, report).run()
    except Exception as error:  # a bug of the doctor itself: still one line
        detail = f"{type(error).__name__}: {_first_line(error)}"
        report(Finding("doctor", "problem", redact(detail, secrets_from_environment())))
        return 1
    problems = sum(finding.status == "problem" for finding in findings)
    warnings = sum(finding.status == "warning" for finding in findings)
    if problems:
        print(f"{_count(problems, 'problem')}, {_count(warnings, 'warning')}", file=stream)
        return 1
    print("ready" + (f" ({_count(warnings, 'warning')})" if warnings else ""), file=stream)
    return 0


def _configuration_source() -> str:
    env_file = Path(".env")
    where = f"the environment and {env_file.resolve()}" if env_file.is_file() else "the environment"
    return f"settings read from {where}"


def _sqlite_file(database: str | None) -> tuple[Status, str] | None:
    """What stands in the way of a SQLite file, before connecting (which would create
    it): None when it exists and can be written."""
    if database in (None, "", ":memory:"):
        return None
    path = Path(database)
    folder = path.parent
    if path.exists():
        if os.access(path, os.W_OK) and os.access(folder, os.W_OK):
            return None
        # SQLite writes its -wal and -shm files next to the database.
        return "problem", "the file or its folder is not writable by this user (SQLite needs both)"
    if not folder.is_dir():
        return "problem", f"the folder {folder} does not exist: create it or fix DATABASE_URL"
    if not os.access(folder, os.W_OK):
        return "problem", (
            f"the folder {folder} is not writable by this user, so the database cannot be "
            "created there"
        )
    return "warning", (
        "the file does not exist yet: `civicbot db upgrade` (or the first `civicbot run`) "
        "creates it, `civicbot content load` fills it"
    )


def _known_revision(revision: str) -> bool:
    from alembic.script import ScriptDirectory

    from storage.migrate import alembic_config

    try:
        return (
            ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision(revision)
            is not None
        )
    except Exception:
        return False


def _origin(url: str) -> str:
    """A webhook URL's scheme and host only: its path may hold a secret."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}" if rest else url


def _count(number: int, word: str) -> str:
    return f"{number} {word}" + ("" if number == 1 else "s")


def _first_line(error: object) -> str:
    source = getattr(error, "orig", None) or error
    text_ = str(source).strip().removeprefix("HTTP Client says - ")
    line = text_.splitlines()[0] if text_ else ""
    return line or type(source).__name__


def translations_missing(locales: list[str]) -> str:
    from bot import i18n

    return (
        f"no catalog for {', '.join(locales)} in {i18n.LOCALES_DIR}, so residents would be "
        "answered in English: reinstall civicbot from its wheel (`pip install civicbot-*.whl`; "
        "the wheel carries the translations, see deploy/README.md)"
    )
