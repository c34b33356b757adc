"""Running the installed `civicbot` command as a real process in tests."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from bot.sandbox import TelegramStandIn
from tests.conftest import SETTING_NAMES, TOKEN

CIVICBOT = str(Path(sys.executable).with_name("civicbot"))


def environment(standin: TelegramStandIn, database_url: str, **settings: str) -> dict[str, str]:
    """This process's environment without any of our settings, plus the given ones."""
    env = {key: value for key, value in os.environ.items() if key not in SETTING_NAMES}
    env.update(BOT_TOKEN=TOKEN, BOT_API_URL=standin.base_url, DATABASE_URL=database_url, **settings)
    return env


async def civicbot(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        CIVICBOT, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )


async def finish(process: asyncio.subprocess.Process) -> tuple[int, str]:
    """Wait for the process to end: its exit code and what it wrote on stderr."""
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, stderr.decode()


async def polling(standin: TelegramStandIn) -> None:
    """Wait until a bot has a long poll parked on the stand-in."""
    await standin.wait_for(lambda: standin.is_long_polling, timeout=30)
