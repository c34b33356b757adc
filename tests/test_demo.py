"""`civicbot demo` as a newcomer runs it: a real process, a person typing at the terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CIVICBOT = str(Path(sys.executable).with_name("civicbot"))


def _demo(typed: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("BOT_")}
    return subprocess.run(
        [CIVICBOT, "demo", *args],
        input=typed,
        capture_output=True,
        text=True,
        env=env,
        timeout=90,
        check=False,
    )


def test_demo_chats_in_the_terminal() -> None:
    result = _demo("/start\n>1\n:sticker\n:quit\n", "--language", "bg")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    out = result.stdout
    assert "Добре дошли, Ana!" in out
    listing = out[out.index("Обществени консултации") :]
    open_part = listing[listing.index("Отворени сега") : listing.index("Приключили")]
    assert open_part.count("остават") == 2, "two consultations are open, with days left"
    assert "Казанлък" in listing[listing.index("Приключили") :]
    assert "Тук разбирам само текстови съобщения" in out  # the sticker got an answer


def test_the_main_command_without_a_token_is_the_demo() -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("BOT_")}
    result = subprocess.run(
        [CIVICBOT],
        input="/help\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "How to use this bot" in result.stdout
