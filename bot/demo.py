"""`civicbot demo`: the real bot, a local Telegram stand-in and a terminal chat.

Nothing leaves the machine: the bot long-polls the stand-in over HTTP on loopback,
with a fresh SQLite file holding the example consultations (their dates moved so
that some are open today; the files keep the real dates).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from typing import TextIO

from pydantic import SecretStr

from bot.app import Application, prepare_database
from bot.config import Settings
from bot.content import load_consultations, read_consultation_files
from bot.resources import data_dir
from bot.sandbox import TelegramStandIn, run_terminal_chat

# Not a secret: the stand-in accepts this token and nothing else does.
DEMO_TOKEN = "1000001:local-demo-token-for-the-stand-in-only"
EXAMPLES_DIR = data_dir("examples")


async def load_examples(app: Application) -> None:
    files = [item.consultation for item in read_consultation_files([EXAMPLES_DIR])]
    async with app.session_factory.begin() as session:
        await load_consultations(session, files, now=app.clock())


async def run_demo(
    settings: Settings,
    *,
    language: str | None = None,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
) -> int:
    with tempfile.TemporaryDirectory(prefix="civicbot-demo-") as folder:
        standin = TelegramStandIn(DEMO_TOKEN)
        base_url = await standin.start()
        demo_settings = settings.model_copy(
            update={
                "bot_token": SecretStr(DEMO_TOKEN),
                "bot_api_url": base_url,
                "database_url": f"sqlite+aiosqlite:///{folder}/demo.db",
            }
        )
        app = Application(demo_settings)
        try:
            await prepare_database(app.engine)
            await load_examples(app)
            bot_running = asyncio.create_task(app.run(handle_signals=False))
            resident = standin.add_user("Ana", language_code=language or settings.default_locale)
            await run_terminal_chat(standin, resident, stdin=stdin, stdout=stdout)
            await app.stop()
            await bot_running
        finally:
            await standin.stop()
    return 0
