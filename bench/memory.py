"""Resident memory of an idle `civicbot run`, against a bare aiogram echo bot.

    .venv/bin/python bench/memory.py [--settle 5]

Each bot runs in a process of its own, long-polling a fresh Telegram stand-in over real
HTTP (this process runs the stand-in). The bots:

  echo      the baseline: bench/throughput.py's bare aiogram Dispatcher (`--serve echo`);
            aiogram's types alone are most of any aiogram bot's memory: the floor line
            is a process that only ran `import aiogram` (its pydantic models are all
            built at import, so the memory is live, not freed garbage);
  civicbot  the installed `civicbot run` command, as an administrator starts it:
            BOT_TOKEN, BOT_API_URL (the stand-in) and DATABASE_URL (a temporary SQLite
            file holding the example consultations) in its environment.

Once a bot has a long poll parked on the stand-in, --settle seconds pass and its VmRSS
is read from /proc. civicbot runs with PYTHONPROFILEIMPORTTIME=1, so its stderr names
every module it imported; those of a library that only an export, a report or a chart
needs (tests/test_memory.py: ONLY_ON_DEMAND) are listed, and must be none.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from throughput import START_TIMEOUT, TOKEN, stop  # noqa: E402  (bench/ is not a package)

from bot.config import Settings  # noqa: E402
from bot.sandbox import TelegramStandIn  # noqa: E402
from tests.test_memory import ONLY_ON_DEMAND, imported_modules, on_demand_among  # noqa: E402

CIVICBOT = str(Path(sys.executable).with_name("civicbot"))


def resident_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    assert match is not None, "no VmRSS: is this Linux?"
    return int(match.group(1)) / 1024


@contextlib.asynccontextmanager
async def long_polling(
    command: list[str], standin: TelegramStandIn, env: dict[str, str], stderr: IO[bytes]
) -> AsyncIterator[int]:
    """The bot process started, once it has a long poll parked: its pid."""
    # In a directory of its own: a .env file where the benchmark runs is not read.
    with tempfile.TemporaryDirectory(prefix="civicbot-bench-") as directory:
        process = await asyncio.create_subprocess_exec(
            *command,
            env=env,
            cwd=directory,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not standin.is_long_polling:
                if process.returncode is not None or time.monotonic() > deadline:
                    stderr.seek(0)
                    tail = stderr.read().decode(errors="replace").splitlines()[-5:]
                    raise RuntimeError(f"{command} did not start polling:\n" + "\n".join(tail))
                await asyncio.sleep(0.05)
            yield process.pid
        finally:
            await stop(process)


async def idle_bot(command: list[str], env: dict[str, str], settle: float) -> tuple[float, str]:
    """Resident MiB of the bot `command` starts (`{api}` in it: the stand-in's URL), idle
    for `settle` seconds, and what it wrote on stderr."""
    with tempfile.TemporaryFile() as stderr:
        async with TelegramStandIn(TOKEN) as standin:
            api = standin.base_url
            command = [part.replace("{api}", api) for part in command]
            env = {**env, "BOT_API_URL": api}
            async with long_polling(command, standin, env, stderr) as pid:
                await asyncio.sleep(settle)
                mib = resident_mib(pid)
        stderr.seek(0)
        return mib, stderr.read().decode(errors="replace")


def imported_only_mib(module: str, env: dict[str, str]) -> float:
    """Resident MiB of a Python process that did nothing but import `module`: the floor
    any bot built on it starts from."""
    report_rss = (
        f"import re, {module}; "
        "print(re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read()).group(1))"
    )
    done = subprocess.run(
        [sys.executable, "-c", report_rss], env=env, check=True, capture_output=True, text=True
    )
    return int(done.stdout) / 1024


def load_examples(env: dict[str, str]) -> None:
    command = [CIVICBOT, "content", "load", str(ROOT / "examples")]
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)


async def run(settle: float) -> int:
    # A setting in the environment of the benchmark must not change the bot measured.
    settings = {name.upper() for name in Settings.model_fields}
    clean = {key: value for key, value in os.environ.items() if key.upper() not in settings}
    floor = imported_only_mib("aiogram", clean)
    print(f"import aiogram alone: {floor:.1f} MiB", flush=True)
    echo_command = [sys.executable, str(ROOT / "bench" / "throughput.py"), "--serve", "echo"]
    echo, _ = await idle_bot([*echo_command, "--api", "{api}"], clean, settle)
    print(f"echo: {echo:.1f} MiB", flush=True)
    with tempfile.TemporaryDirectory(prefix="civicbot-bench-") as directory:
        env = {
            **clean,
            "BOT_TOKEN": TOKEN,
            "DATABASE_URL": f"sqlite+aiosqlite:///{Path(directory) / 'civicbot.db'}",
        }
        load_examples(env)
        civicbot, log = await idle_bot(
            [CIVICBOT, "run"], {**env, "PYTHONPROFILEIMPORTTIME": "1"}, settle
        )
    modules = imported_modules(log)
    print(f"civicbot run: {civicbot:.1f} MiB", flush=True)
    print()
    print(f"idle for {settle:g} s after the first long poll")
    header = f"{'bot':<14} {'RSS MiB':>8} {'x echo':>7} {'over echo MiB':>14}"
    print(header)
    print("-" * len(header))
    for label, mib in (("import aiogram", floor), ("echo", echo), ("civicbot run", civicbot)):
        print(f"{label:<14} {mib:>8.1f} {mib / echo:>7.2f} {mib - echo:>14.1f}")
    found = on_demand_among(modules)
    print(f"\ncivicbot imported {len(modules)} modules")
    print(
        f"!! loaded while idle: {', '.join(found)}"
        if found
        else "none of: " + ", ".join(ONLY_ON_DEMAND)
    )
    return 1 if found else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--settle", type=float, default=5.0, help="seconds idle before reading the memory"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    return asyncio.run(run(args.settle))


if __name__ == "__main__":
    sys.exit(main())
