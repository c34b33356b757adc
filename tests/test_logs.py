"""Logs: JSON lines that parse, and no token or resident's text in any record."""

from __future__ import annotations

import io
import json
import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert
from sqlalchemy.exc import IntegrityError

from bot.logs import (
    JsonFormatter,
    RedactingFilter,
    configure_logging,
    log_format,
    redact,
    secrets_from_environment,
)
from bot.sandbox import TelegramStandIn
from tests.conftest import TOKEN
from tests.processes import civicbot, environment, finish, polling

# Shaped like a token from @BotFather: 35 characters after the colon.
REAL_SHAPED = "7654321:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawX"
WRITTEN_BY_A_RESIDENT = "Ivan Petrov, +359 888 123 456"


def capture(
    formatter: logging.Formatter | None = None, secrets: tuple[str, ...] = (TOKEN,)
) -> tuple[logging.Logger, io.StringIO]:
    """A logger of its own whose handler redacts and writes to a string."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter or logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    logger = logging.getLogger(f"test_logs.{id(out)}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, out


# ---------------------------------------------------------------- the token


def test_the_token_in_the_message_is_redacted() -> None:
    logger, out = capture()
    logger.info(f"calling https://api.telegram.org/bot{TOKEN}/getMe")
    assert out.getvalue() == (
        f"INFO {logger.name}: calling https://api.telegram.org/bot<redacted>/getMe\n"
    )


def test_the_token_in_the_arguments_is_redacted() -> None:
    logger, out = capture()
    logger.warning("token %s, its secret half %r", TOKEN, TOKEN.partition(":")[2])
    text = out.getvalue()
    assert TOKEN.partition(":")[2] not in text
    assert text.count("<redacted>") == 2


def test_anything_shaped_like_a_token_is_redacted_but_the_bot_id_kept() -> None:
    logger, out = capture(secrets=())
    logger.error("POST /bot%s/sendMessage and /bot7654321%%3A%s", REAL_SHAPED, "A" * 35)
    text = out.getvalue()
    assert REAL_SHAPED.partition(":")[2] not in text
    assert "A" * 35 not in text
    assert "/bot7654321:<redacted>/sendMessage" in text
    assert "/bot7654321%3A<redacted>" in text


def test_ordinary_colons_are_left_alone() -> None:
    text = "update 12:30 at 2024-06-01T09:00:00, ratio 3:1, chat -1001234567890:ok"
    assert redact(text, [TOKEN]) == text


def test_the_token_in_an_exception_is_redacted() -> None:
    logger, out = capture(JsonFormatter())
    try:
        raise RuntimeError(f"cannot reach /bot{TOKEN}/getUpdates")
    except RuntimeError:
        logger.exception("polling failed with %s", TOKEN)
    entry = json.loads(out.getvalue())
    assert entry["message"] == "polling failed with <redacted>"
    assert "Traceback" in entry["exception"]
    assert "RuntimeError: cannot reach /bot<redacted>/getUpdates" in entry["exception"]
    assert TOKEN not in out.getvalue()


def test_url_passwords_are_redacted() -> None:
    text = redact("postgresql+asyncpg://civicbot:s3cr3t-pass@db:5432/civicbot and redis://:pw@r/0")
    assert text == (
        "postgresql+asyncpg://civicbot:<redacted>@db:5432/civicbot and redis://:<redacted>@r/0"
    )


def test_what_a_resident_wrote_does_not_leak_through_a_database_error() -> None:
    # SQLAlchemy puts the statement's parameters in the error's text: a proposal's text,
    # a name. The SQL stays (it is ours); the values go.
    engine = create_engine("sqlite://")
    table = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("text", String))
    table.metadata.create_all(engine)
    logger, out = capture(JsonFormatter())
    with engine.begin() as connection:
        connection.execute(insert(table).values(id=1, text="first"))
        try:
            # (A constant: the traceback shows this line of source.)
            connection.execute(insert(table).values(id=1, text=WRITTEN_BY_A_RESIDENT))
        except IntegrityError as error:
            logger.error("insert failed: %s", error)
            logger.exception("insert failed")
    engine.dispose()
    text = out.getvalue()
    assert "IntegrityError" in text and "INSERT INTO t" in text
    assert "[parameters: hidden]" in text
    assert "Ivan" not in text and "+359 888 123 456" not in text


# ---------------------------------------------------------------- JSON lines


def test_json_lines_parse_with_time_level_logger_message() -> None:
    logger, out = capture(JsonFormatter())
    logger.info("plain")
    logger.warning("two\nlines and «кирилица»")
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        logger.exception("failed %d times", 3)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3, "one line per record, whatever the message holds"
    entries = [json.loads(line) for line in lines]
    assert [entry["level"] for entry in entries] == ["INFO", "WARNING", "ERROR"]
    assert {entry["logger"] for entry in entries} == {logger.name}
    assert entries[1]["message"] == "two\nlines and «кирилица»"
    assert "«кирилица»" in lines[1], "readable, not \\u escapes"
    assert entries[2]["message"] == "failed 3 times"
    assert entries[2]["exception"].endswith("ZeroDivisionError: division by zero")
    assert all(entry["time"].endswith("+00:00") and "T" in entry["time"] for entry in entries)
    assert "exception" not in entries[0]


# ---------------------------------------------------------------- the setting


@contextmanager
def bare_root() -> Iterator[logging.Logger]:
    """The root logger without pytest's handlers, as in a fresh `civicbot` process
    (pytest adds its own at the start of each phase, so this is used in the test body)."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    root.handlers = []
    try:
        yield root
    finally:
        root.handlers = saved
        root.setLevel(level)


def test_log_format_comes_from_the_environment_or_dotenv(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    assert log_format() == "text"
    (tmp_path / ".env").write_text(f"LOG_FORMAT=json\nBOT_TOKEN={REAL_SHAPED}\n")
    assert log_format() == "json"
    assert secrets_from_environment() == {REAL_SHAPED, REAL_SHAPED.partition(":")[2]}
    monkeypatch.setenv("log_format", "TEXT")  # settings are case-insensitive
    assert log_format() == "text"


def test_configure_logging_writes_json_without_the_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    out = io.StringIO()
    with bare_root() as root:
        handler = configure_logging(logging.INFO, stream=out)
        assert handler is not None and root.handlers == [handler]
        logging.getLogger("aiogram.event").info("token %s", TOKEN)
        logging.getLogger("aiogram.event").debug("not at INFO")
    (entry,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert entry["message"] == "token <redacted>"
    assert entry["logger"] == "aiogram.event"


def test_an_unknown_log_format_falls_back_to_text_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOG_FORMAT", "xml")
    out = io.StringIO()
    with bare_root():
        configure_logging(logging.INFO, stream=out)
    assert "WARNING bot.logs: setting LOG_FORMAT: 'xml' is neither text nor json" in out.getvalue()


# ---------------------------------------------------------------- the real bot


async def test_the_running_bot_logs_json_without_token_or_what_residents_wrote(
    standin: TelegramStandIn, tmp_path: Path
) -> None:
    env = environment(standin, f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", LOG_FORMAT="json")
    bot = await civicbot(env, "run")
    await polling(standin)
    secret_words = "Ivan Petrov from Kazanlak, +359 888 123 456"
    resident = standin.add_user("Marija", last_name="Novak", username="marija_n")
    standin.send_text(resident, "/start")
    await standin.wait_messages(resident, 1, timeout=15)
    standin.send_text(resident, secret_words)
    await standin.wait_messages(resident, 2, timeout=15)
    await standin.wait_idle()
    bot.send_signal(signal.SIGTERM)
    code, errors = await finish(bot)
    assert code == 0, errors

    entries = [json.loads(line) for line in errors.splitlines()]
    messages = [entry["message"] for entry in entries]
    assert any(message.startswith("Update id=") for message in messages), messages
    for needle in (TOKEN, TOKEN.partition(":")[2], secret_words, "Ivan", "Marija", "Novak"):
        assert needle not in errors, f"{needle!r} is in the logs"
