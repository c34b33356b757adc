"""`civicbot export` and `civicbot report`: the exports from the administrator's shell."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from bot.config import Settings
from bot.export.common import ExportError
from bot.export.report import ReportFormat, checklist, consultation_report, report_filename
from bot.export.submissions import ExportFormat, export_submissions
from bot.i18n import Catalogs
from storage.database import create_engine, create_session_factory
from storage.migrate import upgrade


async def run_export(
    settings: Settings, slug: str, fmt: ExportFormat, output: Path, language: str | None
) -> int:
    tr = Catalogs.load(home_zone=settings.timezone).translator(language or settings.default_locale)
    engine = create_engine(settings.database_url)
    try:
        if engine.dialect.name == "sqlite":
            await upgrade(engine)
        session_factory = create_session_factory(engine)
        with _progress_bar() as progress, _replacing(output) as stream:
            rows = await export_submissions(
                session_factory,
                slug,
                fmt,
                stream,
                tr,
                progress=progress,
            )
    except ExportError as error:
        return _fail(str(error))
    finally:
        await engine.dispose()
    print(
        tr.plural(
            "Exported %(count)s submission to %(path)s.",
            "Exported %(count)s submissions to %(path)s.",
            rows,
            path=str(output),
        )
    )
    return 0


async def run_report(settings: Settings, slug: str, fmt: ReportFormat, output: Path | None) -> int:
    """The report as a file; without `output`, SLUG-report.FORMAT in the current folder
    (SLUG-report-DRAFT.FORMAT while it is not final, so nobody publishes it by mistake)."""
    catalogs = Catalogs.load(home_zone=settings.timezone)
    engine = create_engine(settings.database_url)
    buffer = io.BytesIO()  # the file's name depends on whether the report is final
    try:
        if engine.dialect.name == "sqlite":
            await upgrade(engine)
        session_factory = create_session_factory(engine)
        ready = await consultation_report(session_factory, slug, fmt, buffer, catalogs)
        output = output or Path(report_filename(slug, fmt, ready))
        with _replacing(output) as stream:
            stream.write(buffer.getvalue())
    except ExportError as error:
        return _fail(str(error))
    finally:
        await engine.dispose()
    if ready.final:
        print(f"wrote the report of {slug} to {output}")
    else:
        en = catalogs.translator("en")
        missing = checklist(en, ready, en.home_zone)
        print(f"wrote the DRAFT report of {slug} to {output}; it is not final:")
        print("\n".join(f"  - {line}" for line in missing))
    return 0


@contextmanager
def _replacing(path: Path) -> Iterator[BinaryIO]:
    """A file that appears at `path` only when complete: a failed export leaves neither
    a half-written file nor a damaged earlier one."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        stream = partial.open("wb")
    except OSError as error:
        raise ExportError(f"cannot write {path}: {error.strerror or error}") from None
    try:
        with stream:
            yield stream
        try:
            os.replace(partial, path)
        except OSError as error:
            raise ExportError(f"cannot write {path}: {error.strerror or error}") from None
    finally:
        partial.unlink(missing_ok=True)


@contextmanager
def _progress_bar() -> Iterator[Callable[[int, int], None]]:
    from tqdm import tqdm

    # disable=None: a bar on a terminal, silence when stderr is a file or a pipe.
    with tqdm(total=0, unit=" rows", file=sys.stderr, disable=None, leave=False) as bar:

        def progress(done: int, total: int) -> None:
            if bar.total != total:
                bar.total = total
                bar.refresh()
            bar.update(done - bar.n)

        yield progress


def _fail(message: str) -> int:
    print(f"civicbot: {message}", file=sys.stderr)
    return 1
