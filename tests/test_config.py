"""Settings: defaults, refusal of wrong values in one line, ADMIN_IDS, .env files, the CLI."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bot.config import PUBLIC_BOT_API_URL, Settings, SettingsError, load_settings

REPO = Path(__file__).resolve().parents[1]
CIVICBOT = REPO / ".venv" / "bin" / "civicbot"
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
GOOD_TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijk"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No setting from the machine running the tests, and no .env but the test's own."""
    for key in list(os.environ):
        if key.upper() in SETTING_NAMES:
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_defaults() -> None:
    settings = load_settings()
    assert settings.bot_token is None
    assert settings.token is None
    assert settings.bot_api_url == PUBLIC_BOT_API_URL == "https://api.telegram.org"
    assert settings.database_url == "sqlite+aiosqlite:///civicbot.db"
    assert settings.default_locale == "en"
    assert settings.staff_chat_id is None
    assert settings.admin_ids == frozenset()
    assert settings.section_page_chars == 1800
    assert settings.timezone == "Europe/Sofia"


def test_good_values_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", GOOD_TOKEN)
    monkeypatch.setenv("BOT_API_URL", "http://127.0.0.1:8081/")
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://civic:pw@db/civicbot")
    monkeypatch.setenv("DEFAULT_LOCALE", "sl")
    monkeypatch.setenv("STAFF_CHAT_ID", " -1001234567890 ")
    monkeypatch.setenv("ADMIN_IDS", "42")
    monkeypatch.setenv("SECTION_PAGE_CHARS", "3000")
    monkeypatch.setenv("TIMEZONE", " Europe/Ljubljana ")

    settings = load_settings()

    assert settings.token == GOOD_TOKEN
    assert settings.bot_api_url == "http://127.0.0.1:8081"  # no trailing slash
    assert settings.database_url == "postgresql+asyncpg://civic:pw@db/civicbot"
    assert settings.default_locale == "sl"
    assert settings.staff_chat_id == -1001234567890
    assert settings.admin_ids == frozenset({42})
    assert settings.section_page_chars == 3000
    assert settings.timezone == "Europe/Ljubljana"


def test_the_token_is_kept_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", GOOD_TOKEN)
    settings = load_settings()
    assert settings.token == GOOD_TOKEN
    assert GOOD_TOKEN not in repr(settings)
    assert GOOD_TOKEN not in str(settings)


def test_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("default_locale", "bg")
    assert load_settings().default_locale == "bg"


BAD_VALUES = [
    ("BOT_TOKEN", "not-a-token"),
    ("BOT_TOKEN", "123456:tooshort"),
    ("BOT_TOKEN", "bot123:" + "x" * 30),
    ("BOT_TOKEN", ":" + "x" * 30),
    ("BOT_TOKEN", "x" * 46),
    ("BOT_API_URL", "api.telegram.org"),
    ("BOT_API_URL", "ftp://api.telegram.org"),
    ("BOT_API_URL", ""),
    ("DATABASE_URL", "sqlite:///civicbot.db"),
    ("DATABASE_URL", "postgresql://civic@db/civicbot"),
    ("DATABASE_URL", "mysql+aiomysql://civic@db/civicbot"),
    ("DATABASE_URL", ""),
    ("DEFAULT_LOCALE", "xx"),
    ("DEFAULT_LOCALE", "de"),
    ("DEFAULT_LOCALE", ""),
    ("STAFF_CHAT_ID", "staff"),
    ("STAFF_CHAT_ID", "-100abc"),
    ("STAFF_CHAT_ID", "1e3"),
    ("ADMIN_IDS", "1,x"),
    ("ADMIN_IDS", "1;two"),
    ("ADMIN_IDS", "[1, 2]"),
    ("ADMIN_IDS", "1.5"),
    ("SECTION_PAGE_CHARS", "10"),
    ("SECTION_PAGE_CHARS", "5000"),
    ("TIMEZONE", "Mars/Olympus_Mons"),
    ("TIMEZONE", "Europe"),  # a folder of the zone database, not a zone
    ("TIMEZONE", "Sofia"),
    ("TIMEZONE", "../../etc/passwd"),
    ("TIMEZONE", ""),
]


@pytest.mark.parametrize(("name", "value"), BAD_VALUES, ids=[f"{n}={v!r}" for n, v in BAD_VALUES])
def test_a_bad_value_is_refused_in_one_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"setting {name}: ")
    assert len(message) > len(f"setting {name}: ") + 5  # and says why
    if name == "BOT_TOKEN":
        assert value not in message  # never echo a secret


def test_only_the_bad_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", GOOD_TOKEN)
    monkeypatch.setenv("STAFF_CHAT_ID", "-100123")
    monkeypatch.setenv("ADMIN_IDS", "1,oops")
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert "ADMIN_IDS" in message
    assert "BOT_TOKEN" not in message and "STAFF_CHAT_ID" not in message


def test_overrides_are_validated_like_the_environment() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(default_locale="xx")
    assert str(info.value).startswith("setting DEFAULT_LOCALE: ")
    assert load_settings(default_locale="bg").default_locale == "bg"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1, 2;3", {1, 2, 3}),
        ("42", {42}),
        (" 7 ,7, 8 ", {7, 8}),
        ("1,,2,", {1, 2}),
        ("", set()),
        ("   ", set()),
        (" ; , ", set()),
    ],
)
def test_admin_ids_parsing(monkeypatch: pytest.MonkeyPatch, value: str, expected: set[int]):
    monkeypatch.setenv("ADMIN_IDS", value)
    assert load_settings().admin_ids == frozenset(expected)


@pytest.mark.parametrize("blank", ["", "   ", "\t"])
def test_blank_optional_values_mean_not_set(monkeypatch: pytest.MonkeyPatch, blank: str) -> None:
    monkeypatch.setenv("BOT_TOKEN", blank)
    monkeypatch.setenv("STAFF_CHAT_ID", blank)
    monkeypatch.setenv("ADMIN_IDS", blank)
    settings = load_settings()
    assert settings.token is None
    assert settings.staff_chat_id is None
    assert settings.admin_ids == frozenset()


def test_values_from_a_dotenv_file_in_the_working_directory(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (clean_environment / ".env").write_text(
        "# civicbot settings\n"
        f"BOT_TOKEN={GOOD_TOKEN}\n"
        'DEFAULT_LOCALE="bg"\n'
        "STAFF_CHAT_ID=-1009876543210\n"
        "ADMIN_IDS=1, 2;3\n"
        "DATABASE_URL=sqlite+aiosqlite:///data/civicbot.db\n"
        "SOMETHING_ELSE=ignored\n",
        encoding="utf-8",
    )
    settings = load_settings()
    assert settings.token == GOOD_TOKEN
    assert settings.default_locale == "bg"
    assert settings.staff_chat_id == -1009876543210
    assert settings.admin_ids == frozenset({1, 2, 3})
    assert settings.database_url == "sqlite+aiosqlite:///data/civicbot.db"

    # The environment wins over the file.
    monkeypatch.setenv("DEFAULT_LOCALE", "sl")
    assert load_settings().default_locale == "sl"


def test_a_dotenv_file_with_windows_line_ends(clean_environment: Path) -> None:
    (clean_environment / ".env").write_bytes(
        f"BOT_TOKEN={GOOD_TOKEN}\r\nADMIN_IDS=5,6\r\nDEFAULT_LOCALE=sl\r\n".encode()
    )
    settings = load_settings()
    assert settings.token == GOOD_TOKEN
    assert settings.admin_ids == frozenset({5, 6})
    assert settings.default_locale == "sl"


def test_a_bad_value_in_the_dotenv_file_is_named(clean_environment: Path) -> None:
    (clean_environment / ".env").write_text("DEFAULT_LOCALE=en\nADMIN_IDS=me\n", encoding="utf-8")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert str(info.value).startswith("setting ADMIN_IDS: ")


def test_a_dotenv_file_elsewhere_is_not_read(clean_environment: Path) -> None:
    elsewhere = clean_environment / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / ".env").write_text("DEFAULT_LOCALE=bg\n", encoding="utf-8")
    assert load_settings().default_locale == "en"
    assert Settings.model_config["env_file"] == ".env"


# ---------------------------------------------------------------- through the CLI


def _cli_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key.upper() not in SETTING_NAMES}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    env.update(settings)
    return env


def _run(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CIVICBOT), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )


def test_cli_refuses_a_bad_setting_in_one_line(tmp_path: Path) -> None:
    result = _run(tmp_path, _cli_env(tmp_path, DEFAULT_LOCALE="xx"), "db", "upgrade")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "DEFAULT_LOCALE" in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "cli.db").exists()  # stopped before touching the database


def test_cli_refuses_an_unknown_time_zone_in_one_line(tmp_path: Path) -> None:
    result = _run(tmp_path, _cli_env(tmp_path, TIMEZONE="Europe/Sofa"), "db", "upgrade")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "civicbot: setting TIMEZONE: unknown time zone 'Europe/Sofa': use a name from the "
        "time zone database, such as Europe/Sofia or Europe/Ljubljana"
    ], result.stderr


def test_cli_does_not_echo_a_bad_token(tmp_path: Path) -> None:
    secret = "my-secret-but-malformed-token"
    result = _run(tmp_path, _cli_env(tmp_path, BOT_TOKEN=secret), "db", "upgrade")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "BOT_TOKEN" in result.stderr
    assert secret not in result.stderr + result.stdout
