"""End-to-end throughput and latency of the whole bot, against a bare aiogram echo bot.

    .venv/bin/python bench/throughput.py [--residents 50] [--seconds 10] [--rate 20]

Each bot runs in a process of its own (this script with --serve), long-polling a fresh
Telegram stand-in (flood limits off) over real HTTP; this process runs the stand-in and
the simulated residents. The bots:

  echo      the baseline: a bare aiogram Dispatcher with one message handler that
            answers the text, no database, no middlewares;
  civicbot  the real Application (bot/app.py) on SQLite (a temporary file) and on
            PostgreSQL (a private server started as tests/servers.py does; skipped, and
            said so, when its programs are missing), with the example consultations.

The residents (English) of civicbot browse and submit: /start, Consultations, the first
consultation, Read from the beginning, Next, Next, Previous; one in four then proposes
(Suggest, I agree the first time, the text, Send). The echo bot's residents write texts.
Per-resident flood limits of the bot (messages per minute, submissions per hour) are off:
this measures the bot, not its limits. Every action is one update; it counts as answered
when the bot's reply appears in the stand-in (a new message for a text, the callback
answer for a button, which the bot sends once its handler finished).

  saturation  every resident acts again as soon as the previous action was answered,
              for --seconds; then the updates still in flight are awaited. Updates/s is
              all answered updates over the time until the last answer.
  latency     --rate updates a second for --seconds, each from a resident not waiting
              for an answer (open loop): p50/p95 from pushing the update to the answer.

"driver CPU" is this process's CPU time over the saturation phase's wall time: near
100 % means the stand-in and residents, not the bot, set the pace (then the echo ratio
understates how much slower the bot is).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TOKEN = "1234567:bench-token-for-the-local-stand-in"
# As in the tests: Stara Zagora's strategy is open at this moment.
NOW = datetime(2024, 6, 1, 9, 0, tzinfo=UTC)
STEP_TIMEOUT = 30.0
START_TIMEOUT = 60.0
PROPOSER_SHARE = 4  # one resident in this many proposes after reading

BROWSE: list[tuple[str, str]] = [
    ("text", "/start"),
    ("press", "📋 Consultations"),
    ("press", "1."),  # the first consultation of the listing (a prefix)
    ("press", "▶️ Read from the beginning"),
    ("press", "Next ➡️"),
    ("press", "Next ➡️"),
    ("press", "⬅️ Previous"),
]
PROPOSE: list[tuple[str, str]] = [
    ("press", "💡 Suggest"),
    ("consent", "✅ I agree"),  # only the first time: otherwise no update at all
    ("proposal", ""),
    ("press", "✅ Send"),
]


# ---------------------------------------------------------------- the bots (own process)


def serve(kind: str, api: str, database_url: str | None) -> None:
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(_serve_echo(api) if kind == "echo" else _serve_civicbot(api, database_url))


async def _serve_echo(api: str) -> None:
    from aiogram import Bot, Dispatcher
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import Message

    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "?")

    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api)))
    try:
        await dispatcher.start_polling(bot, handle_signals=True)
    finally:
        await bot.session.close()


async def _serve_civicbot(api: str, database_url: str | None) -> None:
    from bot.app import Application
    from bot.config import Settings

    assert database_url is not None
    settings = Settings(
        bot_token=TOKEN,
        bot_api_url=api,
        database_url=database_url,
        default_locale="en",
        messages_per_minute=0,
        submissions_per_hour=0,
    )
    await Application(settings, clock=lambda: NOW).run(handle_signals=True)


async def count_submissions(database_url: str | None) -> int | None:
    """How many proposals the bot stored (a check that the mix really submitted)."""
    if database_url is None:
        return None
    from sqlalchemy import func, select

    from storage.database import create_engine
    from storage.models import Submission

    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return int(await connection.scalar(select(func.count()).select_from(Submission)))
    finally:
        await engine.dispose()


async def prepare(database_url: str) -> None:
    """Migrate (`civicbot db upgrade`) and load the example consultations."""
    from bot.content import load_consultations, read_consultation_files
    from storage.database import create_engine, create_session_factory
    from storage.migrate import upgrade

    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        files = [item.consultation for item in read_consultation_files([ROOT / "examples"])]
        async with create_session_factory(engine).begin() as session:
            await load_consultations(session, files)
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def running(kind: str, standin: Any, database_url: str | None) -> AsyncIterator[None]:
    command = [sys.executable, __file__, "--serve", kind, "--api", standin.base_url]
    if database_url:
        command += ["--database", database_url]
    process = await asyncio.create_subprocess_exec(*command, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not standin.is_long_polling:
            if process.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the {kind} bot did not start polling")
            await asyncio.sleep(0.05)
        yield
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()


# ---------------------------------------------------------------- the residents


@dataclass
class Resident:
    standin: Any
    user: Any
    civic: bool
    proposer: bool
    steps: list[tuple[str, str]] = field(default_factory=list)
    busy: bool = False
    proposals: int = 0

    def _next(self) -> tuple[str, str]:
        if not self.steps:
            if not self.civic:
                self.steps = [("text", "Hello, is anybody there?")]
            else:
                self.steps = BROWSE + (PROPOSE if self.proposer else [])
            self.steps = list(self.steps)
        return self.steps.pop(0)

    def _button(self, label: str, *, newest_only: bool = False) -> tuple[Any, str] | None:
        """The newest message with a button labelled `label` (or starting with it)."""
        messages = self.standin.messages(self.user, include_deleted=False)
        for message in reversed(messages[-1:] if newest_only else messages):
            for button in message.flat_buttons:
                if button.text == label or button.text.startswith(label):
                    return message, button.text
        return None

    async def step(self) -> float | None:
        """One update and the wait for its answer: seconds, or None if nothing was sent."""
        self.busy = True
        try:
            kind, value = self._next()
            if kind == "consent":
                if self._button(value, newest_only=True) is None:
                    kind, value = self._next()  # agreed before: straight to the proposal
                else:
                    kind = "press"
            if kind == "proposal":
                self.proposals += 1
                kind, value = (
                    "text",
                    (
                        f"Proposal {self.proposals} of resident {self.user.id}: a co-working space "
                        "near the station, open in the evenings too."
                    ),
                )
            standin = self.standin
            if kind == "text":
                before = len(standin.messages(self.user))
                started = time.perf_counter()
                standin.send_text(self.user, value)
                await standin.wait_for(
                    lambda: len(standin.messages(self.user)) > before, STEP_TIMEOUT
                )
                return time.perf_counter() - started
            found = self._button(value)
            if found is None:
                raise LookupError(f"no button {value!r} for {self.user.first_name}")
            message, label = found
            started = time.perf_counter()
            query_id = standin.press(self.user, message, text=label)
            await standin.wait_for(lambda: query_id in standin.callback_answers, STEP_TIMEOUT)
            return time.perf_counter() - started
        except (LookupError, TimeoutError):
            self.steps = []  # start over with /start
            raise
        finally:
            self.busy = False


def make_residents(standin: Any, count: int, civic: bool) -> list[Resident]:
    return [
        Resident(
            standin,
            standin.add_user(f"Resident{n}", language_code="en"),
            civic=civic,
            proposer=n % PROPOSER_SHARE == 0,
        )
        for n in range(count)
    ]


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    skipped: int = 0

    async def run(self, resident: Resident) -> None:
        try:
            seconds = await resident.step()
        except (LookupError, TimeoutError) as error:
            self.failures += 1
            if self.failures <= 3:
                print(f"  failed: {error}", flush=True)
            await asyncio.sleep(0.1)  # no busy loop on a resident that keeps failing
            return
        if seconds is not None:
            self.latencies.append(seconds)


async def saturation(residents: list[Resident], seconds: float) -> tuple[Tally, float, float]:
    tally = Tally()
    started, cpu = time.perf_counter(), time.process_time()
    stop_at = started + seconds

    async def loop(resident: Resident) -> None:
        while time.perf_counter() < stop_at:
            await tally.run(resident)

    await asyncio.gather(*(loop(r) for r in residents))
    wall = time.perf_counter() - started
    return tally, wall, (time.process_time() - cpu) / wall


async def fixed_load(residents: list[Resident], rate: float, seconds: float) -> Tally:
    tally = Tally()
    tasks: list[asyncio.Task[None]] = []
    started = time.perf_counter()
    cursor = 0
    for n in range(int(rate * seconds)):
        delay = started + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        for _ in range(len(residents)):
            resident = residents[cursor % len(residents)]
            cursor += 1
            if not resident.busy:
                resident.busy = True  # taken now, though its step starts on the next tick
                tasks.append(asyncio.create_task(tally.run(resident)))
                break
        else:
            tally.skipped += 1
    await asyncio.gather(*tasks)
    return tally


async def measure(
    kind: str, database_url: str | None, args: argparse.Namespace, label: str
) -> dict[str, Any]:
    from bot.sandbox import TelegramStandIn

    civic = kind == "civicbot"
    async with TelegramStandIn(
        TOKEN, global_rate=None, per_chat_rate=None, group_rate_per_minute=None
    ) as standin:
        async with running(kind, standin, database_url):
            residents = make_residents(standin, args.residents, civic)
            # Warm-up: every resident's first /start (creating them in the database).
            warm = Tally()
            await asyncio.gather(*(warm.run(r) for r in residents))
            tally, wall, cpu = await saturation(residents, args.seconds)
            await standin.wait_idle(timeout=STEP_TIMEOUT)
            latency = await fixed_load(residents, args.rate, args.seconds)
            await standin.wait_idle(timeout=STEP_TIMEOUT)
        invalid = len(standin.invalid_requests)
    return {
        "stored": await count_submissions(database_url),
        "label": label,
        "rate": len(tally.latencies) / wall,
        "updates": len(tally.latencies),
        "cpu": cpu,
        "p50": _percentile(latency.latencies, 50),
        "p95": _percentile(latency.latencies, 95),
        "answered": len(latency.latencies),
        "failures": warm.failures + tally.failures + latency.failures,
        "skipped": latency.skipped,
        "invalid": invalid,
    }


def _percentile(values: list[float], percent: int) -> float:
    if len(values) < 2:
        return values[0] * 1000 if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1] * 1000


# ---------------------------------------------------------------- PostgreSQL


@contextlib.contextmanager
def postgres() -> Iterator[Any]:
    """A private cluster, as tests/servers.py starts one; None when it cannot be had."""
    import pytest

    from tests import servers

    bindir = servers.postgres_bindir()
    if bindir is None:
        print("PostgreSQL skipped: not installed (apt-get install postgresql)")
        yield None
        return
    outcomes = (Exception, pytest.skip.Exception, pytest.fail.Exception)
    root = Path(tempfile.mkdtemp(prefix="civicbot-bench-postgres-"))
    process = server = None
    try:
        try:
            identity = servers._as_postgres_user()
            if identity:
                os.chown(root, int(identity["user"]), int(identity["group"]))  # type: ignore[call-overload]
            data, log = root / "data", root / "postgres.log"
            subprocess.run(
                [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                 "--no-locale", "--encoding=UTF8", "--no-sync", "--no-instructions"],
                cwd=root, env={**os.environ, "LC_ALL": "C"}, capture_output=True,
                timeout=120, check=True, **identity,  # type: ignore[arg-type]
            )  # fmt: skip
            (data / "pg_hba.conf").write_text(f"host all all {servers.HOST}/32 trust\n")
            process, server = servers._start_postgres(bindir, data, log, identity)
        except outcomes as error:
            print(f"PostgreSQL skipped: it did not start ({error})")
            yield None
            return
        yield server
    finally:
        if server is not None:
            server.close()
        if process is not None:
            servers._stop(process, signal.SIGINT)
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------- the whole run


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    baseline = results[0]["rate"]
    print()
    print(
        f"{args.residents} residents; saturation for {args.seconds:g} s; "
        f"latency at {args.rate:g} updates/s for {args.seconds:g} s"
    )
    header = (
        f"{'bot':<10} {'database':<11} {'updates/s':>9} {'x echo':>7} {'p50 ms':>7} "
        f"{'p95 ms':>7} {'driver CPU':>10} {'failed':>6} {'invalid':>7} {'proposals':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        bot, _, database = r["label"].partition("/")
        print(
            f"{bot:<10} {database or '-':<11} {r['rate']:>9.1f} {r['rate'] / baseline:>7.2f} "
            f"{r['p50']:>7.1f} {r['p95']:>7.1f} {r['cpu']:>9.0%} {r['failures']:>6} "
            f"{r['invalid']:>7} {'-' if r['stored'] is None else r['stored']:>9}"
        )
    skipped = sum(r["skipped"] for r in results)
    if skipped:
        print(f"({skipped} latency-phase updates not sent: every resident was waiting)")


async def run(args: argparse.Namespace) -> int:
    results = [await measure("echo", None, args, "echo")]
    print(f"echo: {results[-1]['rate']:.1f} updates/s", flush=True)
    with tempfile.TemporaryDirectory(prefix="civicbot-bench-") as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'civicbot.db'}"
        await prepare(url)
        results.append(await measure("civicbot", url, args, "civicbot/sqlite"))
        print(f"civicbot on SQLite: {results[-1]['rate']:.1f} updates/s", flush=True)
    with postgres() as server:
        if server is not None:
            url = server.create_database()
            await prepare(url)
            results.append(await measure("civicbot", url, args, "civicbot/postgresql"))
            print(f"civicbot on PostgreSQL: {results[-1]['rate']:.1f} updates/s", flush=True)
    report(results, args)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0, help="of each phase")
    parser.add_argument("--rate", type=float, default=20.0, help="updates/s for latency")
    parser.add_argument("--serve", choices=("echo", "civicbot"), help=argparse.SUPPRESS)
    parser.add_argument("--api", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.api, args.database)
        return 0
    logging.basicConfig(level=logging.ERROR)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
