"""A running bot does not hold the libraries that only an export, a report or a chart needs.

Each costs memory for as long as the process lives (matplotlib with numpy and PIL, about
50 MiB), so they are imported where they are used. bench/memory.py measures the memory.
"""

from __future__ import annotations

import signal
from pathlib import Path

from bot.sandbox import TelegramStandIn
from tests.conftest import EXAMPLES
from tests.processes import civicbot, environment, finish, polling

# prometheus_client is not among them: the counters behind /metrics are kept in polling
# mode too, for under 1 MiB.
ONLY_ON_DEMAND = (
    "matplotlib",  # /stats' chart, with the next two
    "numpy",
    "PIL",
    "pandas",
    "openpyxl",  # XLSX exports and reports
    "docx",  # DOCX reports, with lxml
    "lxml",
    "tqdm",  # `civicbot export`'s progress bar
    "yaml",  # consultation files: `civicbot content load`, the demo
)


def imported_modules(importtime_log: str) -> set[str]:
    """The modules that `python -X importtime` (PYTHONPROFILEIMPORTTIME=1) reported on
    stderr, in lines `import time: <self us> | <cumulative us> | <indent><name>`."""
    return {
        line.rpartition("|")[2].strip()
        for line in importtime_log.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }


def on_demand_among(modules: set[str]) -> list[str]:
    """The libraries of ONLY_ON_DEMAND that some of `modules` belong to."""
    packages = {name.partition(".")[0] for name in modules}
    return [library for library in ONLY_ON_DEMAND if library in packages]


def test_imported_modules_reads_the_importtime_lines_only() -> None:
    log = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       512 |       1024 |   openpyxl.cell\n"
        "2024-06-01 09:00:00 INFO civicbot: 3 | staff cards were waiting\n"
    )
    assert imported_modules(log) == {"imported package", "openpyxl.cell"}
    assert on_demand_among(imported_modules(log)) == ["openpyxl"]


async def test_a_running_bot_has_not_imported_them(
    standin: TelegramStandIn, tmp_path: Path
) -> None:
    env = environment(standin, f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    code, errors = await finish(await civicbot(env, "content", "load", str(EXAMPLES)))
    assert code == 0, errors

    bot = await civicbot(env | {"PYTHONPROFILEIMPORTTIME": "1"}, "run")
    await polling(standin)
    ana = standin.add_user("Ana", language_code="en")
    standin.send_text(ana, "/start")  # the resident's path through the handlers, once
    await standin.wait_messages(ana, 1, timeout=10)
    bot.send_signal(signal.SIGTERM)
    code, log = await finish(bot)
    assert code == 0, log

    modules = imported_modules(log)
    assert {"aiogram", "bot.app", "handlers.staff"} <= modules, "the import log was not read"
    assert on_demand_among(modules) == []
