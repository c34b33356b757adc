"""Running the installed `civicbot` command as a real process in tests."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from bot.sandbox import TelegramStandIn

CIVICBOT = str(Path(sys.executable).with_name("civicbot"))
# Every process a test started: the fixture below kills what a failing test left behind.
_started: list[asyncio.subprocess.Process] = []
_logs: dict[int, IO[bytes]] = {}


@pytest.fixture(autouse=True)
def _no_process_outlives_its_test() -> Iterator[None]:
    yield
    while _started:
        process = _started.pop()
        if process.returncode is None:
            process.kill()


def environment(standin: TelegramStandIn, database_url: str, **settings: str) -> dict[str, str]:
    """This process's environment without any of our settings, plus the given ones."""
    from tests.conftest import SETTING_NAMES, TOKEN

    env = {key: value for key, value in os.environ.items() if key not in SETTING_NAMES}
    env.update(BOT_TOKEN=TOKEN, BOT_API_URL=standin.base_url, DATABASE_URL=database_url, **settings)
    return env


async def civicbot(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    # Logs go to a file, not a pipe: a pipe nobody reads until the end would fill up
    # during a long run and stop the bot in the middle of a write.
    log = tempfile.TemporaryFile()
    process = await asyncio.create_subprocess_exec(
        CIVICBOT, *args, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=log
    )
    _logs[process.pid] = log
    _started.append(process)
    return process


async def finish(process: asyncio.subprocess.Process) -> tuple[int, str]:
    """Wait for the process to end: its exit code and what it wrote on stderr."""
    code = await asyncio.wait_for(process.wait(), 30)
    log = _logs.pop(process.pid)
    log.seek(0)
    stderr = log.read().decode(errors="replace")
    log.close()
    return code, stderr


async def polling(standin: TelegramStandIn) -> None:
    """Wait until a bot has a long poll parked on the stand-in."""
    await standin.wait_for(lambda: standin.is_long_polling, timeout=30)
