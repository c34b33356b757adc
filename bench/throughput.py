"""End-to-end throughput and latency of the whole bot, against a bare aiogram echo bot.

    .venv/bin/python bench/throughput.py [--residents 50] [--seconds 10] [--rate 20]
    .venv/bin/python bench/throughput.py --api-latency 0.1 --residents 200
    [--databases sqlite,postgresql]

Each bot runs in a process of its own (this script with --serve), long-polling a fresh
Telegram stand-in (flood limits off) over real HTTP; this process runs the stand-in and
the simulated residents. The bots:

  echo      the baseline: a bare aiogram Dispatcher with one message handler that
            answers the text, no database, no middlewares;
  calls     the floor of civicbot's work: a bare aiogram bot that makes the Bot API
            calls civicbot makes for each step (a message with a keyboard for a text; an
            edit with a keyboard and the callback answer for a button), and nothing else;
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
  burst       (--api-latency S) instead of both: the stand-in adds S seconds to every
              Bot API call the bot makes, as the internet does, and every resident walks
              once, all at the same moment: answered, failed, p50/p95.

"CPU ms/upd" is the bot process's CPU time (user + system, /proc) over the saturation
phase divided by the updates answered in it. "driver CPU" is this process's CPU time
over the saturation phase's wall time: near 100 % means the stand-in and residents, not
the bot, set the pace (then the echo ratio understates how much slower the bot is).
CIVICBOT_BENCH_PROFILE=/tmp/p writes cProfile statistics of each bot to /tmp/p.<bot>,
from the start of the saturation phase (start-up and warm-up are left out) to its end.
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
    profile = os.environ.get("CIVICBOT_BENCH_PROFILE")  # a file for cProfile's statistics
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        # The driver signals when saturation starts and ends.
        signal.signal(signal.SIGUSR1, lambda *_: profiler.enable())
        signal.signal(signal.SIGUSR2, lambda *_: profiler.disable())
    try:
        servers = {"echo": _serve_echo, "calls": _serve_calls}
        asyncio.run(servers[kind](api) if kind in servers else _serve_civicbot(api, database_url))
    finally:
        if profile:
            profiler.disable()
            profiler.dump_stats(f"{profile}.{kind}")


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


async def _serve_calls(api: str) -> None:
    from aiogram import Bot, Dispatcher
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

    # Every label the residents look for, so that each step finds its button; not the
    # consent's, which civicbot shows only once.
    labels = [label for kind, label in BROWSE + PROPOSE if kind == "press"]
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=label, callback_data=f"b{n}")]
            for n, label in enumerate(dict.fromkeys(labels))
        ]
    )
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def answer(message: Message) -> None:
        await message.answer(message.text or "?", reply_markup=keyboard)

    @dispatcher.callback_query()
    async def edit(query: CallbackQuery, bot: Bot) -> None:
        assert query.message is not None
        await bot.edit_message_text(
            f"{query.data} {query.id}",
            chat_id=query.message.chat.id,
            message_id=query.message.message_id,
            reply_markup=keyboard,
        )
        await query.answer()

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
async def running(
    kind: str, standin: Any, database_url: str | None
) -> AsyncIterator[asyncio.subprocess.Process]:
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
        yield process
    finally:
        await stop(process)


async def stop(process: asyncio.subprocess.Process) -> None:
    """Ctrl-C for a bot process, and SIGKILL if it does not end within 20 s."""
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
        newest = self.standin.last_message(self.user)
        messages = [newest] if newest is not None else []
        if not newest_only and not self._has(newest, label):
            messages = list(reversed(self.standin.messages(self.user, include_deleted=False)))
        for message in messages:
            for button in message.flat_buttons:
                if button.text == label or button.text.startswith(label):
                    return message, button.text
        return None

    @staticmethod
    def _has(message: Any, label: str) -> bool:
        return message is not None and any(
            button.text == label or button.text.startswith(label) for button in message.flat_buttons
        )

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
                before = standin.message_count(self.user)
                started = time.perf_counter()
                standin.send_text(self.user, value)
                await standin.wait_for(
                    lambda: standin.message_count(self.user) > before, STEP_TIMEOUT
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


async def burst(residents: list[Resident]) -> Tally:
    """Every resident at once, each through one whole walk (a proposal included for
    one in PROPOSER_SHARE): what 200 people arriving after a broadcast do."""
    tally = Tally()

    async def walk(resident: Resident) -> None:
        for _ in range(len(BROWSE) + (len(PROPOSE) if resident.proposer else 0)):
            await tally.run(resident)

    await asyncio.gather(*(walk(r) for r in residents))
    return tally


async def measure(
    kind: str, database_url: str | None, args: argparse.Namespace, label: str
) -> dict[str, Any]:
    from bot.sandbox import TelegramStandIn

    civic = kind != "echo"
    async with TelegramStandIn(
        TOKEN, global_rate=None, per_chat_rate=None, group_rate_per_minute=None
    ) as standin:
        async with running(kind, standin, database_url) as bot:
            residents = make_residents(standin, args.residents, civic)
            # Warm-up: every resident's first /start (creating them in the database).
            warm = Tally()
            await asyncio.gather(*(warm.run(r) for r in residents))
            if args.api_latency:
                standin.faults.configure(latency=args.api_latency)
                started = time.perf_counter()
                walked = await burst(residents)
                wall = time.perf_counter() - started
                await standin.wait_idle(timeout=STEP_TIMEOUT)
                return {
                    "label": label,
                    "answered": len(walked.latencies),
                    "failures": warm.failures + walked.failures,
                    "rate": len(walked.latencies) / wall,
                    "p50": _percentile(walked.latencies, 50),
                    "p95": _percentile(walked.latencies, 95),
                    "invalid": len(standin.invalid_requests),
                }
            profiling = bool(os.environ.get("CIVICBOT_BENCH_PROFILE"))
            if profiling:
                bot.send_signal(signal.SIGUSR1)
            bot_cpu = cpu_seconds(bot.pid)
            tally, wall, cpu = await saturation(residents, args.seconds)
            bot_cpu = cpu_seconds(bot.pid) - bot_cpu
            if profiling:
                bot.send_signal(signal.SIGUSR2)
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
        "cpu_per_update": bot_cpu / max(len(tally.latencies), 1) * 1000,
        "p50": _percentile(latency.latencies, 50),
        "p95": _percentile(latency.latencies, 95),
        "answered": len(latency.latencies),
        "failures": warm.failures + tally.failures + latency.failures,
        "skipped": latency.skipped,
        "invalid": invalid,
    }


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


def report_burst(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print()
    print(
        f"{args.residents} residents at once, {args.api_latency * 1000:g} ms added to every "
        "Bot API call; each walks once"
    )
    header = (
        f"{'bot':<10} {'database':<11} {'answered':>8} {'failed':>6} {'updates/s':>9} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'invalid':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        bot, _, database = r["label"].partition("/")
        print(
            f"{bot:<10} {database or '-':<11} {r['answered']:>8} {r['failures']:>6} "
            f"{r['rate']:>9.1f} {r['p50']:>7.1f} {r['p95']:>7.1f} {r['invalid']:>7}"
        )


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    if args.api_latency:
        report_burst(results, args)
        return
    baseline, calls = results[0], results[1]
    print()
    print(
        f"{args.residents} residents; saturation for {args.seconds:g} s; "
        f"latency at {args.rate:g} updates/s for {args.seconds:g} s"
    )
    header = (
        f"{'bot':<10} {'database':<11} {'updates/s':>9} {'x echo':>7} {'x calls':>7} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'CPU ms/upd':>10} {'x echo':>6} {'x calls':>7} "
        f"{'driver CPU':>10} {'failed':>6} "
        f"{'invalid':>7} {'proposals':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        bot, _, database = r["label"].partition("/")
        print(
            f"{bot:<10} {database or '-':<11} {r['rate']:>9.1f} "
            f"{r['rate'] / baseline['rate']:>7.2f} {r['rate'] / calls['rate']:>7.2f} "
            f"{r['p50']:>7.1f} {r['p95']:>7.1f} {r['cpu_per_update']:>10.2f} "
            f"{r['cpu_per_update'] / baseline['cpu_per_update']:>6.2f} "
            f"{r['cpu_per_update'] / calls['cpu_per_update']:>7.2f} "
            f"{r['cpu']:>9.0%} {r['failures']:>6} "
            f"{r['invalid']:>7} {'-' if r['stored'] is None else r['stored']:>9}"
        )
    skipped = sum(r["skipped"] for r in results)
    if skipped:
        print(f"({skipped} latency-phase updates not sent: every resident was waiting)")


async def run(args: argparse.Namespace) -> int:
    results = [await measure("echo", None, args, "echo")]
    print(f"echo: {results[-1]['rate']:.1f} updates/s", flush=True)
    results.append(await measure("calls", None, args, "calls"))
    print(f"calls: {results[-1]['rate']:.1f} updates/s", flush=True)
    if "sqlite" in args.databases:
        with tempfile.TemporaryDirectory(prefix="civicbot-bench-") as directory:
            url = f"sqlite+aiosqlite:///{Path(directory) / 'civicbot.db'}"
            await prepare(url)
            results.append(await measure("civicbot", url, args, "civicbot/sqlite"))
            print(f"civicbot on SQLite: {results[-1]['rate']:.1f} updates/s", flush=True)
    if "postgresql" not in args.databases:
        report(results, args)
        return 0
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
    parser.add_argument(
        "--api-latency",
        type=float,
        default=0.0,
        help="seconds added to every Bot API call: then every resident walks once, all at once",
    )
    parser.add_argument(
        "--databases", default="sqlite,postgresql", help="civicbot runs on these (comma-separated)"
    )
    parser.add_argument("--serve", choices=("echo", "calls", "civicbot"), help=argparse.SUPPRESS)
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
