"""Logging: plain text or JSON lines, and never the bot token.

`LOG_FORMAT=json` (in the environment or `.env`) writes one JSON object a line, with
`time` (UTC, ISO 8601), `level`, `logger` and `message` (and `exception` when there is
one), for journald, Loki, Elasticsearch and the like; anything else is plain text.

Every record is redacted before any handler formats it: the value of `BOT_TOKEN` (and
its secret half alone), anything shaped like a bot token (`<digits>:<35 characters>`),
`WEBHOOK_SECRET`, the password of a URL (`scheme://user:password@host`) and the bound
parameters SQLAlchemy appends to a database error (they can be what a resident wrote).
Log lines name updates and submissions by id, never by what residents wrote (aiogram
logs only update ids and durations at INFO); this filter cannot tell a resident's words
from ours, so keeping them out of log calls is the rule for every module.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import traceback
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FORMATS = ("text", "json")
REDACTED = "<redacted>"
# Telegram's tokens: the bot's id, a colon, 35 characters of A-Z a-z 0-9 _ - (the colon
# may arrive URL-encoded). The id is the bot's public user id: it is kept, so a log still
# says which bot it was.
TOKEN_SHAPE = re.compile(r"(?<!\d)(\d{3,20})(:|%3[Aa])[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])")
URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)[^@\s/]+@")
SQL_PARAMETERS = re.compile(r"\[parameters: [^\n]*")
# Secrets shorter than this are not searched for: they would match ordinary words.
MIN_SECRET_CHARS = 8


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without the given secrets (and a token's secret half alone), bot tokens,
    URL passwords and SQL parameters."""
    for secret in _longest_first(secrets):
        text = text.replace(secret, REDACTED)
    text = TOKEN_SHAPE.sub(rf"\1\2{REDACTED}", text)
    text = URL_PASSWORD.sub(rf"\1{REDACTED}@", text)
    return SQL_PARAMETERS.sub("[parameters: hidden]", text)


def _longest_first(secrets: Iterable[str]) -> list[str]:
    expanded = set()
    for secret in secrets:
        expanded.add(secret)
        bot_id, colon, half = secret.partition(":")
        if colon and bot_id.isdigit():
            expanded.add(half)
    return sorted((s for s in expanded if len(s) >= MIN_SECRET_CHARS), key=len, reverse=True)


def secrets_from_environment(environ: Mapping[str, str] | None = None) -> set[str]:
    """The values to hide: BOT_TOKEN (whole, and the part after the colon) and
    WEBHOOK_SECRET and PSEUDONYM_KEY, from the environment or `.env` as the settings
    read them."""
    values = _setting_values(("BOT_TOKEN", "WEBHOOK_SECRET", "PSEUDONYM_KEY"), environ)
    secrets: set[str] = set()
    for name, value in values.items():
        value = value.strip()
        if not value:
            continue
        secrets.add(value)
        if name == "BOT_TOKEN" and ":" in value:
            secrets.add(value.partition(":")[2])
    return secrets


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and exception text) without secrets.

    Put it on handlers: a filter on a logger misses records of its child loggers.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = set(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep what was given, redacted
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = redact(message, self.secrets), None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text once set, so the traceback is redacted once here.
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message[, exception, stack]."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


def log_format(environ: Mapping[str, str] | None = None) -> str:
    """LOG_FORMAT from the environment or `.env`, lower-cased ("text" when unset)."""
    value = _setting_values(("LOG_FORMAT",), environ).get("LOG_FORMAT", "")
    return value.strip().lower() or "text"


def configure_logging(level: int, *, stream: TextIO | None = None) -> logging.Handler | None:
    """Logging for the `civicbot` command, like `logging.basicConfig`: nothing changes
    when the root logger already has handlers. The handler it added, if any."""
    root = logging.getLogger()
    if root.handlers:
        return None
    chosen = log_format()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if chosen == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RedactingFilter(secrets_from_environment()))
    root.addHandler(handler)
    root.setLevel(level)
    if chosen not in LOG_FORMATS:
        logging.getLogger(__name__).warning(
            "setting LOG_FORMAT: %r is neither text nor json; writing text", chosen
        )
    return handler


def _setting_values(names: Iterable[str], environ: Mapping[str, str] | None) -> dict[str, str]:
    """Settings are case-insensitive and may come from `.env` in the working directory;
    the environment wins, as in bot/config.py."""
    wanted = {name.upper() for name in names}
    found: dict[str, str] = {}
    if environ is None:
        environ = os.environ
        found.update(_dotenv(wanted))
    for key, value in environ.items():
        if key.upper() in wanted:
            found[key.upper()] = value
    return found


def _dotenv(wanted: set[str]) -> dict[str, str]:
    path = Path(".env")
    if not path.is_file():
        return {}
    try:
        from dotenv import dotenv_values

        values = dotenv_values(path, encoding="utf-8")
    except Exception:  # an unreadable .env: the settings will say so
        return {}
    return {
        key.upper(): value
        for key, value in values.items()
        if key.upper() in wanted and value is not None
    }
