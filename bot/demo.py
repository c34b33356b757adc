"""`civicbot demo`: the real bot, a local Telegram stand-in and a terminal chat.

Nothing leaves the machine: the bot long-polls the stand-in over HTTP on loopback,
with a fresh SQLite file holding the example consultations (their dates moved so
that some are open today; the files keep the real dates). With ``staff=True`` the
stand-in also has the municipality's staff group, where a few residents' submissions
are already waiting, and the person at the terminal starts as a staff member.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from pydantic import SecretStr

from bot.app import Application, prepare_database
from bot.config import Settings
from bot.content import load_consultations, read_consultation_files
from bot.demo_staff import add_staff_group, register_received_elsewhere, seed_submissions
from bot.resources import data_dir
from bot.sandbox import Seat, TelegramStandIn, run_terminal_chat

# Not a secret: the stand-in accepts this token and nothing else does.
DEMO_TOKEN = "1000001:local-demo-token-for-the-stand-in-only"
EXAMPLES_DIR = data_dir("examples")
STARTUP_SECONDS = 30
RESIDENT_NOTE = (
    "The municipality's side (cards, answers, /stats, /export, /report, /broadcast): "
    "`civicbot demo --staff`."
)
STAFF_NOTE = (
    "This is `civicbot demo --staff`: you are Mira, in the staff group, where residents' "
    "submissions wait as cards. `:reply M text` answers card M; `:as Ana` makes you the "
    "resident, `:as staff` brings you back."
)


async def load_examples(app: Application) -> None:
    files = [item.consultation for item in read_consultation_files([EXAMPLES_DIR])]
    async with app.session_factory.begin() as session:
        await load_consultations(session, files, now=app.clock())


async def run_demo(
    settings: Settings,
    *,
    language: str | None = None,
    staff: bool = False,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
) -> int:
    language = language or settings.default_locale
    # Kept after the demo: the person may want to open an export or the chart later.
    files = Path(tempfile.mkdtemp(prefix="civicbot-demo-files-"))
    with tempfile.TemporaryDirectory(prefix="civicbot-demo-") as folder:
        standin = TelegramStandIn(DEMO_TOKEN)
        base_url = await standin.start()
        group = add_staff_group(standin, language) if staff else None
        demo_settings = settings.model_copy(
            update={
                "bot_token": SecretStr(DEMO_TOKEN),
                "bot_api_url": base_url,
                "database_url": f"sqlite+aiosqlite:///{folder}/demo.db",
                # The staff group speaks the municipality's language: the demo's.
                "default_locale": language,
                "staff_chat_id": group.chat.id if group else None,
            }
        )
        app = Application(demo_settings)
        # The terminal waits for the outbox too (cards, answers) before it prints.
        standin.add_busy_check(app.busy)
        try:
            await prepare_database(app.engine)
            await load_examples(app)
            bot_running = asyncio.create_task(app.run(handle_signals=False))
            resident = standin.add_user("Ana", language_code=language)
            if group is None:
                seat, seats, notes = Seat(resident), [], [RESIDENT_NOTE]
            else:
                await asyncio.wait_for(app.started.wait(), STARTUP_SECONDS)
                await register_received_elsewhere(app.session_factory, demo_settings, app.clock())
                others = await seed_submissions(standin, resident)
                seat, *staff_seats = group.seats()
                seats, notes = [*staff_seats, Seat(resident), *others], [STAFF_NOTE]
            await run_terminal_chat(
                standin, seat, seats=seats, files=files, notes=notes, stdin=stdin, stdout=stdout
            )
            await app.stop()
            await bot_running
        finally:
            await standin.stop()
            _remove_if_empty(files)
    return 0


def _remove_if_empty(folder: Path) -> None:
    """An empty folder is no use to anyone; one with files is the person's to keep."""
    with contextlib.suppress(OSError):
        folder.rmdir()
