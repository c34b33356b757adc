"""Settings from the environment or a `.env` file in the working directory."""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Locale = Literal["bg", "sl", "en"]
SUPPORTED_LOCALES: tuple[Locale, ...] = ("bg", "sl", "en")
PUBLIC_BOT_API_URL = "https://api.telegram.org"
DEFAULT_TIMEZONE = "Europe/Sofia"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    bot_token: SecretStr | None = None
    bot_api_url: str = PUBLIC_BOT_API_URL
    database_url: str = "sqlite+aiosqlite:///civicbot.db"
    default_locale: Locale = "en"
    staff_chat_id: int | None = None
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    section_page_chars: int = Field(default=1800, ge=300, le=3000)
    # The municipality's time zone: for every time that belongs to no consultation (the
    # general channel, lists across consultations); a consultation's are in its own.
    timezone: str = DEFAULT_TIMEZONE
    redis_url: str | None = None
    # Flood control per resident; 0 switches a limit off.
    submissions_per_hour: int = Field(default=10, ge=0)
    messages_per_minute: int = Field(default=30, ge=0)
    duplicate_window_minutes: int = Field(default=10, ge=0)
    # The privacy notice: who is responsible for the data and whom to ask about it.
    controller: str | None = None
    privacy_contact: str | None = None
    # What people sent is anonymised this many days after its consultation closed (after
    # it was sent, for the general channel); residents not seen for as long are erased.
    retention_days: int = Field(default=365, ge=1, le=3650)
    # The key of the keyed hash that lets a block outlive an erasure; when unset it is
    # derived from BOT_TOKEN (so a new token forgets blocks of erased residents).
    pseudonym_key: SecretStr | None = None
    # Notices: reminders this many days before a consultation's closing day, at this hour
    # of the consultation's local time; the sender's rate over all chats (0: no limit).
    reminder_days: Annotated[tuple[int, ...], NoDecode] = (7, 1)
    reminder_hour: int = Field(default=10, ge=0, le=23)
    broadcast_per_second: float = Field(default=30.0, ge=0)
    notifier_poll_seconds: float = Field(default=30.0, gt=0)
    notifier_lease_seconds: float = Field(default=60.0, gt=0)
    # Webhook mode: Telegram posts updates to WEBHOOK_URL + WEBHOOK_PATH with the secret
    # in a header; the bot listens on WEBHOOK_HOST:WEBHOOK_PORT (behind a TLS proxy).
    webhook_url: str | None = None
    webhook_path: str = "/telegram"
    webhook_secret: SecretStr | None = None
    webhook_host: str = "127.0.0.1"
    webhook_port: int = Field(default=8080, ge=1, le=65535)

    @field_validator("bot_token", mode="before")
    @classmethod
    def _blank_token_is_none(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        # Telegram tokens look like "123456:ABC-..."; catching a pasted typo here beats a 401 later.
        if value is not None:
            bot_id, sep, secret = value.get_secret_value().partition(":")
            if not (sep and bot_id.isdigit() and len(secret) >= 20):
                raise ValueError(
                    "does not look like a bot token from @BotFather (<digits>:<secret>)"
                )
        return value

    @field_validator("bot_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("webhook_url", "webhook_secret", mode="before")
    @classmethod
    def _blank_webhook_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be the public https:// address Telegram posts to")
        return value.rstrip("/") if value else value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # Telegram's rule for secret_token: 1-256 of A-Z a-z 0-9 _ -.
        if value is not None:
            secret = value.get_secret_value()
            if not (0 < len(secret) <= 256 and all(c.isalnum() or c in "_-" for c in secret)):
                raise ValueError("must be 1-256 characters of letters, digits, _ and -")
        return value

    @field_validator("webhook_path")
    @classmethod
    def _webhook_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with /")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        value = value.strip()
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe" is a folder
            raise ValueError(
                f"unknown time zone {value!r}: use a name from the time zone database, "
                "such as Europe/Sofia or Europe/Ljubljana"
            ) from None
        return value

    @field_validator("redis_url", mode="before")
    @classmethod
    def _blank_redis_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("staff_chat_id", mode="before")
    @classmethod
    def _blank_chat_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("reminder_days", mode="before")
    @classmethod
    def _comma_separated_days(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                days = tuple(int(part) for part in value.split(",") if part.strip())
            except ValueError:
                raise ValueError("must be whole numbers of days separated by commas") from None
            if any(day < 1 or day > 60 for day in days):
                raise ValueError("each number of days must be between 1 and 60")
            return days
        return value

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _comma_separated_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part.strip() for part in value.replace(";", ",").split(",")]
            try:
                return frozenset(int(part) for part in parts if part)
            except ValueError:
                raise ValueError("must be Telegram user ids separated by commas") from None
        return value

    @model_validator(mode="after")
    def _lease_outlives_poll(self) -> Settings:
        # The lease is renewed at each poll: a poll slower than the lease would let
        # another process take over while this one still sends.
        if self.notifier_poll_seconds >= self.notifier_lease_seconds:
            raise ValueError(
                "notifier_lease_seconds: must be longer than NOTIFIER_POLL_SECONDS "
                f"({self.notifier_poll_seconds:g})"
            )
        return self

    @property
    def token(self) -> str | None:
        return self.bot_token.get_secret_value() if self.bot_token else None

    @property
    def pseudonym_secret(self) -> bytes:
        if self.pseudonym_key is not None and self.pseudonym_key.get_secret_value().strip():
            return self.pseudonym_key.get_secret_value().strip().encode()
        # The local demo has no token; its data is thrown away with it.
        return hashlib.sha256(f"civicbot pseudonyms\0{self.token or ''}".encode()).digest()


class SettingsError(Exception):
    """A setting has a wrong value; the message is one line that names it."""


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as error:
        first = error.errors()[0]
        reason = first["msg"].removeprefix("Value error, ")
        if first["loc"]:
            name = str(first["loc"][0]).upper()
        else:  # a rule over several settings says "<setting>: <reason>"
            field_name, _, reason = reason.partition(": ")
            name = field_name.upper()
        raise SettingsError(f"setting {name}: {reason}") from None
