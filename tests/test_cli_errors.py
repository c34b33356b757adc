"""Every failure of the `civicbot` command is one clear line and an exit code, never a
traceback, and never the bot token: the real process, a real SQLite file, and real HTTP
servers in the way (a closed port, a proxy whose error page quotes the request URL).
"""

from __future__ import annotations

import asyncio
import os
import socket
import traceback
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from aiogram import Bot
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import web

from bot.bot_api_session import BotApiSession
from bot.sandbox import TelegramStandIn
from tests.conftest import EXAMPLES, SETTING_NAMES
from tests.processes import CIVICBOT

# Shaped like a real token (digits, colon, 35 characters), so both redactions are tried:
# the value of BOT_TOKEN, and anything that looks like a token.
TOKEN = "7012345678:AAHfk3-Vq9xZr8LmN2pQ5sT7uW1yB4dE6gH"
SECRET = TOKEN.partition(":")[2]


def environment(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key.upper() not in SETTING_NAMES}
    env.update(BOT_TOKEN=TOKEN, DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    env.update(settings)
    return env


async def civicbot(env: dict[str, str], *args: str, cwd: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        CIVICBOT,
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), 90)
    finally:
        if process.returncode is None:
            process.kill()
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- content files -----------------------------------------------------------------------


async def test_an_impossible_date_is_one_line_naming_file_and_field(tmp_path: Path) -> None:
    raw = yaml.safe_load((EXAMPLES / "stara-zagora-vision-2027.yaml").read_text("utf-8"))
    path = tmp_path / "vision.yaml"
    # Written by hand, as an editor would: PyYAML itself reads this as a date.
    text = yaml.safe_dump(raw, allow_unicode=True, sort_keys=False)
    opens = f"opens_at: {raw['opens_at'].isoformat()}"
    assert opens in text
    path.write_text(text.replace(opens, "opens_at: 2026-02-30"), encoding="utf-8")

    code, stdout, stderr = await civicbot(
        environment(tmp_path), "content", "load", str(path), cwd=tmp_path
    )

    assert code == 1
    assert stdout == ""
    assert one_line(stderr) == (
        f"civicbot: nothing was loaded: {path}: opens_at: 2026-02-30 is not a real date or "
        "time (day is out of range for month)"
    )


# --- Telegram out of reach -----------------------------------------------------------------


async def test_run_without_a_way_to_telegram_is_one_line(tmp_path: Path) -> None:
    port = closed_port()
    env = environment(tmp_path, BOT_API_URL=f"http://127.0.0.1:{port}")

    code, _, stderr = await civicbot(env, "run", cwd=tmp_path)

    assert code == 1
    line = one_line(stderr)
    assert line.startswith(f"civicbot: Telegram cannot be reached at http://127.0.0.1:{port}: ")
    assert line.endswith("check the network (a proxy or firewall) or BOT_API_URL")


async def test_run_with_a_token_telegram_refuses_is_one_line(
    standin: TelegramStandIn, tmp_path: Path
) -> None:
    env = environment(tmp_path, BOT_API_URL=standin.base_url)  # not the stand-in's token

    code, _, stderr = await civicbot(env, "run", cwd=tmp_path)

    assert code == 1
    assert one_line(stderr).startswith(
        f"civicbot: Telegram at {standin.base_url} refused BOT_TOKEN (401 Unauthorized)"
    )
    assert SECRET not in stderr


# --- a proxy that quotes the URL (and so the token) ---------------------------------------


@pytest.fixture
async def quoting_proxy() -> AsyncIterator[str]:
    """A proxy answering every request with a 502 page that quotes its URL in full."""

    async def bad_gateway(request: web.Request) -> web.Response:
        page = (
            "<html><head><title>502 Bad Gateway</title></head><body>"
            f"<h1>Bad Gateway</h1><p>The upstream of {request.url} did not answer.</p>"
            f"<p>Request: {request.method} {request.path_qs}</p></body></html>"
        )
        return web.Response(status=502, text=page, content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", bad_gateway)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("verbose", [False, True], ids=["plain", "verbose"])
async def test_run_behind_a_proxy_quoting_the_url_shows_no_token(
    quoting_proxy: str, tmp_path: Path, verbose: bool
) -> None:
    env = environment(tmp_path, BOT_API_URL=quoting_proxy)
    args = ("-v", "run") if verbose else ("run",)

    code, stdout, stderr = await civicbot(env, *args, cwd=tmp_path)

    assert code == 1
    assert SECRET not in stdout + stderr
    expected = (
        f"civicbot: Telegram cannot be reached at {quoting_proxy}: Bad Gateway (HTTP 502), "
        "and not an answer of the Bot API; check the network (a proxy or firewall) or "
        "BOT_API_URL"
    )
    if verbose:  # debug logs around it, every one of them without the token
        assert expected in stderr.splitlines()
    else:
        assert one_line(stderr) == expected


async def test_the_doctor_behind_a_proxy_quoting_the_url_shows_no_token(
    quoting_proxy: str, tmp_path: Path
) -> None:
    env = environment(tmp_path, BOT_API_URL=quoting_proxy)

    code, stdout, stderr = await civicbot(env, "doctor", cwd=tmp_path)

    assert code == 1
    assert SECRET not in stdout + stderr
    assert stderr == ""
    [telegram] = [line for line in stdout.splitlines() if line.startswith("telegram:")]
    assert telegram == (
        f"telegram:      problem: cannot reach {quoting_proxy}: Bad Gateway (HTTP 502), and "
        "not an answer of the Bot API: check the network, a proxy or firewall, and BOT_API_URL"
    )


async def test_the_client_error_for_a_proxy_page_carries_no_token(quoting_proxy: str) -> None:
    session = BotApiSession(api=TelegramAPIServer.from_base(quoting_proxy))
    bot = Bot(TOKEN, session=session)
    try:
        with pytest.raises(Exception) as caught:
            await bot.get_me()
    finally:
        await session.close()
    # Not in the message, nor anywhere in the traceback a log would print.
    printed = "".join(traceback.format_exception(caught.value))
    assert SECRET not in printed
    assert "Bad Gateway (HTTP 502)" in str(caught.value)


# --- other commands ------------------------------------------------------------------------


async def test_db_upgrade_on_a_database_that_cannot_be_opened_is_one_line(
    tmp_path: Path,
) -> None:
    env = environment(tmp_path, DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'no' / 'x.db'}")

    code, _, stderr = await civicbot(env, "db", "upgrade", cwd=tmp_path)

    assert code == 1
    assert one_line(stderr).startswith("civicbot: database: ")


async def test_a_webhook_port_in_use_is_one_line(standin: TelegramStandIn, tmp_path: Path) -> None:
    from tests.conftest import TOKEN as STANDIN_TOKEN

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = environment(
            tmp_path,
            BOT_TOKEN=STANDIN_TOKEN,
            BOT_API_URL=standin.base_url,
            WEBHOOK_URL="https://bot.example.org",
            WEBHOOK_SECRET="a-long-random-secret-0123456789",
            WEBHOOK_PORT=str(port),
        )
        code, _, stderr = await civicbot(env, "run", cwd=tmp_path)

    assert code == 1
    # The scheduler's ordinary start and stop are logged around it (INFO); no traceback.
    assert "Traceback" not in stderr
    line = stderr.strip().splitlines()[-1]
    assert line.startswith(f"civicbot: cannot serve the webhook on 127.0.0.1:{port}: ")
    assert line.endswith("check WEBHOOK_HOST and WEBHOOK_PORT")
    assert "a-long-random-secret" not in stderr


def test_run_refuses_to_start_without_the_translations(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An installation without its catalogs would answer every resident in English."""
    from bot.cli import main

    monkeypatch.setattr("bot.i18n.LOCALES_DIR", tmp_path / "site-packages" / "bot" / "locales")
    for name, value in environment(tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    assert main(["run"]) == 2
    errors = capsys.readouterr().err
    assert errors.count("\n") == 1, errors
    assert errors.startswith("civicbot: translations: no catalog for bg, sl, en in ")
    assert SECRET not in errors
