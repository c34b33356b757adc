"""Export benchmark: 100,000 submissions in a temporary SQLite database, exported to CSV,
XLSX and JSON, each measured against a baseline of the same run.

    .venv/bin/python bench/export.py [--rows 100000]

Every measurement runs in a fresh process (this script with --task), so one task's
memory cannot hide another's: seconds are wall time, and memory is how far the
process's peak resident set (getrusage) rose above what it held before the task, with
the libraries already imported and the database connected. The baseline is merely
iterating the rows from the database, as the export reads them, without writing
anything; "hold" (every row loaded at once with .all()) shows what not streaming costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SLUG = "stara-zagora-pid-strategy"
BASELINE = "iterate"
TASKS = ("iterate", "hold", "csv", "xlsx", "json")
CHUNK = 10_000


# ---------------------------------------------------------------- the database


async def populate(database_url: str, rows: int) -> None:
    from sqlalchemy import select

    from bot.content import load_consultations, read_consultation_files
    from storage.database import create_engine, create_session_factory
    from storage.migrate import upgrade
    from storage.models import Consultation, Resident, Section, Submission

    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        factory = create_session_factory(engine)
        files = [item.consultation for item in read_consultation_files([ROOT / "examples"])]
        async with factory.begin() as session:
            await load_consultations(session, files)
            consultation = await session.scalar(
                select(Consultation).where(Consultation.slug == SLUG)
            )
            assert consultation is not None
            sections = list(
                await session.scalars(
                    select(Section).where(Section.consultation_id == consultation.id)
                )
            )
            resident = Resident(telegram_user_id=1)
            session.add(resident)
            await session.flush()
            consultation_id, resident_id = consultation.id, resident.id
        # A plain Core executemany in one transaction: no ORM objects, no RETURNING.
        table = Submission.__table__
        async with engine.begin() as connection:
            for first in range(0, rows, CHUNK):
                await connection.execute(
                    table.insert(),
                    [
                        _row(n, consultation_id, resident_id, sections)
                        for n in range(first, min(first + CHUNK, rows))
                    ],
                )
    finally:
        await engine.dispose()


_START = datetime(2024, 5, 20, 6, tzinfo=UTC)
_STATUSES = ("received", "accepted", "partly_accepted", "rejected", "answered", "spam")


def _row(n: int, consultation_id: int, resident_id: int, sections: list[Any]) -> dict[str, Any]:
    section = sections[n % len(sections)] if n % 5 else None
    moment = _START + timedelta(seconds=25 * n)
    status = _STATUSES[n % len(_STATUSES)]
    return {
        "public_number": f"2024-{n:06d}",
        "draft_key": f"bench-{n}",
        "consultation_id": consultation_id,
        "section_id": section.id if section else None,
        "section_number": section.number if section else None,
        "resident_id": resident_id,
        "kind": "proposal" if n % 3 else "question",
        "text": f"Предложение {n}: "
        + "по-добър градски транспорт и повече зелени площи в квартала. " * (1 + n % 6),
        "text_digest": f"{n:064x}",
        "attachments": (
            [{"type": "photo", "file_id": f"f{n}"}] * (n % 3)
            + ([{"type": "location", "latitude": 42.42, "longitude": 25.63}] if n % 7 == 0 else [])
        ),
        "author_name": None if n % 2 else f"Жител {n}",
        "language": "bg",
        "status": status,
        "decision_reason": "Не е в обхвата на плана." if status == "rejected" else None,
        "answer": "Благодарим за предложението." if status in ("accepted", "answered") else None,
        "answered_by": "Община" if status in ("accepted", "answered") else None,
        "answered_at": moment + timedelta(days=2) if status in ("accepted", "answered") else None,
        "created_at": moment,
        "updated_at": moment,
    }


# ---------------------------------------------------------------- one task, in its own process


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak() -> int:
    # ru_maxrss is in kibibytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


async def run_task(task: str, database_url: str, output: Path) -> dict[str, Any]:
    import openpyxl  # noqa: F401  (imported before measuring, as a running bot has it)
    from sqlalchemy import select, text

    from bot.export import export_submissions
    from bot.export.submissions import _COLUMNS
    from bot.i18n import Catalogs
    from storage.database import create_engine, create_session_factory
    from storage.models import Consultation, Submission

    tr = Catalogs.load().translator("bg")
    engine = create_engine(database_url)
    factory = create_session_factory(engine)
    async with factory() as session:
        await session.execute(text("SELECT 1"))
        consultation_id = await session.scalar(
            select(Consultation.id).where(Consultation.slug == SLUG)
        )

    before = _rss()
    started = time.perf_counter()
    if task == "iterate":
        rows = 0
        async with factory() as session:
            result = await session.stream(
                select(*_COLUMNS)
                .where(Submission.consultation_id == consultation_id)
                .order_by(Submission.id)
                .execution_options(yield_per=1000)
            )
            async for chunk in result.partitions():
                rows += len(chunk)
    elif task == "hold":
        async with factory() as session:
            held = (
                await session.scalars(
                    select(Submission).where(Submission.consultation_id == consultation_id)
                )
            ).all()
            rows = len(held)
    else:
        with output.open("wb") as stream:
            rows = await export_submissions(factory, SLUG, task, stream, tr)  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    grown = max(0, _peak() - before)
    await engine.dispose()
    return {"task": task, "rows": rows, "seconds": seconds, "memory": grown}


# ---------------------------------------------------------------- the whole run


def _measure(task: str, database_url: str, directory: Path) -> dict[str, Any]:
    output = directory / f"export.{task}"
    completed = subprocess.run(
        [
            sys.executable,
            __file__,
            "--task",
            task,
            "--database",
            database_url,
            "--output",
            str(output),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    result["size"] = output.stat().st_size if output.exists() else 0
    output.unlink(missing_ok=True)
    return result


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--task", choices=TASKS, help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.task:
        print(json.dumps(asyncio.run(run_task(args.task, args.database, args.output))))
        return 0

    with tempfile.TemporaryDirectory(prefix="civicbot-bench-") as name:
        directory = Path(name)
        database_url = f"sqlite+aiosqlite:///{directory / 'bench.db'}"
        started = time.perf_counter()
        asyncio.run(populate(database_url, args.rows))
        print(
            f"{args.rows:,} submissions inserted into a temporary SQLite database "
            f"in {time.perf_counter() - started:.1f} s"
        )
        results = {task: _measure(task, database_url, directory) for task in TASKS}

    base = results[BASELINE]
    print(f"baseline: {BASELINE} = read the rows from the database, write nothing")
    print(
        f"{'task':<8} {'rows':>8} {'seconds':>8} {'x time':>7} "
        f"{'peak MiB':>9} {'x memory':>9} {'file MiB':>9}"
    )
    for task, result in results.items():
        time_ratio = result["seconds"] / base["seconds"]
        memory_ratio = result["memory"] / base["memory"] if base["memory"] else float("nan")
        print(
            f"{task:<8} {result['rows']:>8,} {result['seconds']:>8.2f} {time_ratio:>6.1f}x "
            f"{_mib(result['memory']):>9} {memory_ratio:>8.1f}x {_mib(result['size']):>9}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
