"""Broadcast benchmark: the real sender (bot/notify/sender.py) over real HTTP to the
Telegram stand-in, with Telegram's flood limits on and off, on SQLite and PostgreSQL.

    .venv/bin/python bench/broadcast.py [--limited 2000] [--recipients 10000]
                                        [--databases sqlite,postgresql]

Each run fills a fresh database (a temporary SQLite file, or a database of its own on a
private PostgreSQL server started as tests/servers.py does) with residents (the
stand-in's users) and one broadcast addressed to them all, then runs `Sender.send` in a
fresh process (this script with --task) while the stand-in serves in this one:

  limited   the stand-in enforces Telegram's limits (30 messages/s overall, 1/s per
            chat) and the sender is configured at 30/s: the achieved rate as a ratio of
            the configured one, and how many 429s the stand-in answered;
  baseline  limits off: a bare loop of aiogram `bot.send_message` calls to the same
            stand-in, as many in flight as the sender has workers, no database;
  sender    limits off in both: the sender's raw capacity, messages per second, and as
            a ratio of the baseline;
  sender-normal
            (SQLite only) the same with `PRAGMA synchronous=NORMAL` added by this script
            (not the bot's setting): how much of the cost is the fsync of each commit.

Memory is how far the task's process rose above its resident set before the task
(peak, getrusage), with the libraries imported and the database connected.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TOKEN = "1234567:bench-token-for-the-local-stand-in"
TEXT = (
    "📣 The water supply is interrupted on Monday from 8:00 to 12:00 in the centre. "
    "Thank you for your patience."
)
TELEGRAM_RATE = 30.0  # messages a second over all chats, Telegram's limit for bulk sending
PAID_CEILING = 1000.0  # messages a second with paid broadcasts, at most
TASKS = ("limited", "baseline", "sender", "sender-normal")
DATABASES = ("sqlite", "postgresql")


# ---------------------------------------------------------------- the database


async def populate(database_url: str, chat_ids: list[int]) -> int:
    """Residents with these chats, and one broadcast addressed to them all: its id."""
    from storage.database import create_engine, create_session_factory
    from storage.migrate import upgrade
    from storage.models import Audience, Notice, NoticeKind, NoticeStatus, Resident, utcnow
    from storage.repositories import NoticeRepository

    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        async with engine.begin() as connection:
            await connection.execute(
                Resident.__table__.insert(),
                [
                    {"telegram_user_id": chat, "chat_id": chat, "telegram_language": "en"}
                    for chat in chat_ids
                ],
            )
        async with create_session_factory(engine).begin() as session:
            notice = Notice(
                kind=NoticeKind.BROADCAST,
                offset_key="bench",
                audience=Audience.EVERYONE,
                due_at=utcnow(),
                status=NoticeStatus.SENDING,
                text=TEXT,
            )
            session.add(notice)
            await session.flush()
            await NoticeRepository(session).address(notice)
            return notice.id
    finally:
        await engine.dispose()


# ---------------------------------------------------------------- one task, in its own process


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak() -> int:
    # ru_maxrss is in kibibytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


async def run_task(args: argparse.Namespace) -> dict[str, Any]:
    from bot.clock import system_clock
    from bot.config import Settings
    from bot.i18n import Catalogs
    from bot.notify.sender import Sender, SendLimits
    from bot.telegram_client import build_bot

    settings = Settings(
        bot_token=TOKEN,
        bot_api_url=args.api,
        database_url=args.database or "sqlite+aiosqlite:///:memory:",
    )
    # The sender's own client: no waiting on 429 in the HTTP layer (as in bot/app.py).
    bot = build_bot(settings, wait_on_429=False)
    limits = SendLimits(per_second=args.per_second or None)
    await bot.me()  # connected, as a running bot is
    if args.task == "baseline":
        result = await _bare_loop(bot, args, limits.workers)
    else:
        result = await _sender(bot, args, settings, limits, Sender, Catalogs, system_clock)
    await bot.session.close()
    return {"task": args.task, **result}


async def _bare_loop(bot: Any, args: argparse.Namespace, workers: int) -> dict[str, Any]:
    chats = list(range(args.first_chat, args.first_chat + args.count))
    queue: asyncio.Queue[int] = asyncio.Queue()
    for chat in chats:
        queue.put_nowait(chat)

    async def work() -> int:
        sent = 0
        while not queue.empty():
            await bot.send_message(queue.get_nowait(), TEXT)
            sent += 1
        return sent

    before = _rss()
    started = time.perf_counter()
    sent = sum(await asyncio.gather(*(work() for _ in range(workers))))
    seconds = time.perf_counter() - started
    return {"sent": sent, "failed": 0, "seconds": seconds, "memory": max(0, _peak() - before)}


async def _sender(
    bot: Any,
    args: argparse.Namespace,
    settings: Any,
    limits: Any,
    sender_class: Any,
    catalogs_class: Any,
    clock: Any,
) -> dict[str, Any]:
    from sqlalchemy import event, text

    from storage.database import create_engine, create_session_factory

    engine = create_engine(settings.database_url)
    if args.task == "sender-normal":
        event.listen(engine.sync_engine, "connect", _synchronous_normal)
    factory = create_session_factory(engine)
    async with factory() as session:
        await session.execute(text("SELECT 1"))
    sender = sender_class(bot, factory, catalogs_class.load(), "en", clock, limits)

    before = _rss()
    started = time.perf_counter()
    progress = await sender.send(args.notice)
    seconds = time.perf_counter() - started
    grown = max(0, _peak() - before)
    await engine.dispose()
    return {
        "sent": progress.sent,
        "failed": progress.failed,
        "seconds": seconds,
        "memory": grown,
        "sender_429": progress.too_many_requests,
    }


def _synchronous_normal(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


# ---------------------------------------------------------------- the whole run


async def measure(task: str, recipients: int, database_url: str | None) -> dict[str, Any]:
    """One task against a fresh stand-in and, but for the baseline, a fresh database."""
    from bot.sandbox import TelegramStandIn

    limited = task == "limited"
    async with TelegramStandIn(
        TOKEN,
        global_rate=TELEGRAM_RATE if limited else None,
        per_chat_rate=1.0 if limited else None,
        group_rate_per_minute=None,
    ) as standin:
        users = [standin.add_user(f"Resident {n}") for n in range(recipients)]
        chat_ids = [user.id for user in users]
        command = [
            sys.executable,
            __file__,
            "--task",
            task,
            "--api",
            standin.base_url,
            "--per-second",
            str(TELEGRAM_RATE if limited else 0),
            "--first-chat",
            str(chat_ids[0]),
            "--count",
            str(recipients),
        ]
        if database_url is not None:
            notice_id = await populate(database_url, chat_ids)
            command += ["--database", database_url, "--notice", str(notice_id)]
        process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        stdout, stderr = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"task {task} failed:\n{stderr.decode()}")
        result = json.loads(stdout.decode().strip().splitlines()[-1])
        arrived = sum(
            1
            for request in standin.requests
            if request.method == "sendMessage" and request.status == 200
        )
        result.update(recipients=recipients, arrived=arrived, standin_429=standin.too_many_requests)
        return result


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f}"


def report(results: dict[tuple[str, str], dict[str, Any]]) -> None:
    """`results` by task and database ("-" for the baseline, which has none)."""
    base = results[("baseline", "-")]
    base_rate = base["sent"] / base["seconds"]
    print()
    print(
        f"{'task':<14} {'database':<10} {'messages':>8} {'seconds':>8} {'msg/s':>7} "
        f"{'ratio':>16} {'429s':>5} {'peak MiB':>9} {'x memory':>9}"
    )
    for (task, database), result in results.items():
        rate = result["sent"] / result["seconds"]
        if task == "limited":
            ratio = f"{rate / TELEGRAM_RATE:.3f} x limit"
        elif task == "baseline":
            ratio = "1.00 x baseline"
        else:
            ratio = f"{rate / base_rate:.2f} x baseline"
        memory_ratio = result["memory"] / base["memory"] if base["memory"] else float("nan")
        print(
            f"{task:<14} {database:<10} {result['sent']:>8,} {result['seconds']:>8.2f} "
            f"{rate:>7.1f} {ratio:>16} {result['standin_429']:>5} "
            f"{_mib(result['memory']):>9} {memory_ratio:>8.1f}x"
        )
    for (task, database), result in results.items():
        if result["arrived"] != result["recipients"] or result["failed"]:
            print(
                f"!! {task} on {database}: {result['arrived']} messages arrived for "
                f"{result['recipients']} recipients, {result['failed']} failed"
            )
    print()
    for (task, database), result in results.items():
        if task == "limited":
            print(
                f"limited on {database}: the stand-in enforced {TELEGRAM_RATE:.0f}/s overall "
                f"and 1/s per chat; the sender, configured at {TELEGRAM_RATE:.0f}/s, met "
                f"{result['standin_429']} 429s ({result.get('sender_429', 0)} seen by the "
                "sender)."
            )
    print(
        "baseline: aiogram send_message in a bare loop, as many in flight as the sender's "
        "workers, no database; limits off."
    )
    for (task, database), result in results.items():
        if task.startswith("sender"):
            rate = result["sent"] / result["seconds"]
            print(
                f"{task} on {database}: raw capacity {rate:.0f} messages/s, "
                f"{rate / PAID_CEILING:.0%} of the {PAID_CEILING:.0f}/s of paid broadcasts."
            )


async def run(args: argparse.Namespace) -> dict[tuple[str, str], dict[str, Any]]:
    from bench.throughput import postgres

    databases = [name for name in args.databases.split(",") if name]
    results: dict[tuple[str, str], dict[str, Any]] = {}

    async def measured(task: str, database: str, url: str | None) -> None:
        recipients = args.limited if task == "limited" else args.recipients
        print(f"{task} on {database}: {recipients:,} recipients …", flush=True)
        results[(task, database)] = await measure(task, recipients, url)

    await measured("baseline", "-", None)
    if "sqlite" in databases:
        with tempfile.TemporaryDirectory(prefix="civicbot-bench-") as name:
            for task in TASKS:
                if task != "baseline":
                    await measured(task, "sqlite", f"sqlite+aiosqlite:///{Path(name) / task}.db")
    if "postgresql" in databases:
        with postgres() as server:
            if server is not None:
                for task in ("limited", "sender"):
                    await measured(task, "postgresql", server.create_database())
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--limited",
        type=int,
        default=2_000,
        help="recipients of the run with Telegram's limits on (10000 takes about 5.5 min)",
    )
    parser.add_argument(
        "--recipients", type=int, default=10_000, help="recipients of the runs with limits off"
    )
    parser.add_argument(
        "--databases",
        default=",".join(DATABASES),
        help="the sender runs on these (comma-separated; PostgreSQL is skipped, and said so, "
        "when its programs are missing)",
    )
    parser.add_argument("--task", choices=TASKS, help=argparse.SUPPRESS)
    parser.add_argument("--api", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--notice", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--per-second", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--first-chat", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.task:
        print(json.dumps(asyncio.run(run_task(args))))
        return 0

    report(asyncio.run(run(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
