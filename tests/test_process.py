"""The installed `civicbot` command as a real process against the stand-in."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from bot.sandbox import TelegramStandIn
from tests.conftest import EXAMPLES, TOKEN
from tests.processes import civicbot, environment, finish, polling


def _environment(standin: TelegramStandIn, tmp_path: Path) -> dict[str, str]:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    return environment(standin, database_url, DEFAULT_LOCALE="bg")


async def test_run_answers_and_stops_cleanly_on_sigterm(
    standin: TelegramStandIn, tmp_path: Path
) -> None:
    env = _environment(standin, tmp_path)
    code, errors = await finish(await civicbot(env, "content", "load", str(EXAMPLES)))
    assert code == 0, errors

    bot = await civicbot(env, "run")
    await polling(standin)
    ana = standin.add_user("Ана", language_code=None)  # no language: DEFAULT_LOCALE
    standin.send_text(ana, "/start")
    await standin.wait_messages(ana, 1, timeout=10)
    assert standin.last_message(ana).text.startswith("Добре дошли, Ана!")

    bot.send_signal(signal.SIGTERM)
    code, errors = await finish(bot)
    assert code == 0, errors
    assert "Traceback" not in errors
    assert TOKEN.split(":")[1] not in errors, "the token must never reach the logs"
    assert standin.invalid_requests == []


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
async def test_an_update_in_hand_at_stop_is_answered_once(
    standin: TelegramStandIn, tmp_path: Path, stop: signal.Signals
) -> None:
    env = _environment(standin, tmp_path)
    bot = await civicbot(env, "run")
    await polling(standin)
    ana = standin.add_user("Ana", language_code="en")
    standin.send_text(ana, "/help")
    bot.send_signal(stop)  # at once, while the update is arriving
    code, errors = await finish(bot)
    assert code in (0, 130), errors
    assert "Traceback" not in errors

    if not standin.messages(ana):  # not yet taken: the next start gets it again
        bot = await civicbot(env, "run")
        await standin.wait_messages(ana, 1, timeout=15)
        await standin.wait_idle()
        bot.send_signal(signal.SIGTERM)
        await finish(bot)
    answers = standin.messages(ana)
    assert len(answers) == 1
    assert answers[0].text.startswith("How to use this bot")


async def test_a_wrong_setting_stops_with_one_line(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("BOT_")}
    env.update(BOT_TOKEN="not-a-token", DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    code, errors = await finish(await civicbot(env, "run"))
    assert code == 2
    assert errors.strip().splitlines() == [
        "civicbot: setting BOT_TOKEN: does not look like a bot token from @BotFather "
        "(<digits>:<secret>)"
    ]
