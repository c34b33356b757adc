"""The `civicbot` command.

civicbot                 run the bot (BOT_TOKEN set) or the local demo (no token)
civicbot run             long-poll Telegram
civicbot demo            the bot, a Telegram stand-in and a terminal chat, all local
civicbot demo --staff    the same with the staff group, where submissions wait as cards
civicbot db upgrade      apply database migrations
civicbot content load    validate and load consultation files
civicbot content import FILE  a DOCX, ODT, PDF or Markdown document -> a consultation file
civicbot content dump SLUG  a consultation written back to its file, as the bot shows it
civicbot export          a consultation's submissions as CSV, XLSX or JSON
civicbot submissions import FILE.csv  those received by e-mail, letter, phone, at meetings
civicbot report SLUG     a consultation's report (справка) as HTML, DOCX or XLSX
civicbot report publish SLUG  publish the final report to its participants and followers
civicbot content withdraw  withdraw a consultation (its reminders are cancelled)
civicbot doctor          check settings, database, migrations, Redis, Telegram, staff chat
civicbot run --webhook   serve Telegram's webhook instead of long polling
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from bot.config import SUPPORTED_LOCALES, Settings, SettingsError, load_settings
from bot.content import ContentError, load_consultations, read_consultation_files
from bot.logs import redact, secrets_from_environment
from bot.notify.notifier import sync_all
from storage.database import create_engine, create_session_factory
from storage.migrate import upgrade

log = logging.getLogger("civicbot")


def main(argv: Sequence[str] | None = None) -> int:
    """Every failure is one line on stderr (one per problem of a content batch) and an
    exit code, never a traceback: the traceback is logged at DEBUG level (`-v`), and all
    of it passes the log's redaction, so the token shows nowhere."""
    args = _parser().parse_args(argv)
    _configure_logging(args)
    try:
        settings = load_settings()
        return asyncio.run(_dispatch(args, settings))
    except SettingsError as error:
        return _fail(str(error), code=2)
    except ContentError as error:
        if len(error.problems) == 1:
            return _fail(f"nothing was loaded: {error.problems[0]}")
        return _fail("nothing was loaded:\n" + "\n".join(f"  {p}" for p in error.problems))
    except KeyboardInterrupt:
        return 130
    except (SQLAlchemyError, OSError) as error:
        log.debug("database failure", exc_info=error)
        return _fail(f"database: {_first_line(error)}")
    except Exception as error:  # a failure nobody foresaw: still one line
        log.debug("unexpected failure", exc_info=error)
        return _fail(
            f"unexpected error: {type(error).__name__}: {_first_line(error)} "
            "(`civicbot -v ...` logs the details)"
        )


def _configure_logging(args: argparse.Namespace) -> None:
    # The demo's terminal is a chat: only warnings (a bot error, a request the
    # stand-in refused) interrupt it, unless asked for more with -v.
    # The doctor's report is its output: logs only for what goes wrong.
    quiet = args.command in ("demo", "doctor") or (
        args.command is None and not os.environ.get("BOT_TOKEN")
    )
    level = logging.DEBUG if args.verbose else logging.WARNING if quiet else logging.INFO
    # Text or JSON lines (LOG_FORMAT), without the token in any record.
    from bot.logs import configure_logging

    configure_logging(level)
    if not args.verbose:
        logging.getLogger("alembic").setLevel(logging.WARNING)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="civicbot", description="Public consultations with residents on Telegram."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="more detailed logs")
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("run", help="run the bot against Telegram (needs BOT_TOKEN)")
    run.add_argument(
        "--webhook",
        action="store_true",
        help="serve Telegram's webhook (WEBHOOK_URL, WEBHOOK_SECRET) instead of long polling",
    )
    demo = commands.add_parser("demo", help="try the bot locally in this terminal")
    demo.add_argument(
        "--language",
        choices=SUPPORTED_LOCALES,
        default=None,
        help="the demo resident's Telegram language (default: DEFAULT_LOCALE)",
    )
    demo.add_argument(
        "--staff",
        action="store_true",
        help="be the municipality's staff too: a staff group with submissions waiting",
    )
    db = commands.add_parser("db", help="database administration")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply migrations up to the newest")
    commands.add_parser(
        "doctor", help="check settings, database, migrations, Redis, Telegram and the staff chat"
    )
    content = commands.add_parser("content", help="consultation files")
    content_commands = content.add_subparsers(dest="content_command", required=True)
    load = content_commands.add_parser("load", help="validate and load consultation files")
    load.add_argument("paths", nargs="+", type=Path, help="YAML files or folders of them")
    import_document = content_commands.add_parser(
        "import",
        help="a DOCX, ODT, PDF, Markdown or text document -> a consultation file to complete",
    )
    import_document.add_argument("file", type=Path, metavar="FILE")
    import_document.add_argument("--slug", help="default: from the file's name")
    import_document.add_argument(
        "--language", choices=SUPPORTED_LOCALES, help="the document's (default: detected)"
    )
    import_document.add_argument(
        "--output", type=Path, metavar="FILE", help="default: SLUG.yaml here"
    )
    withdraw = content_commands.add_parser(
        "withdraw",
        help="withdraw a consultation: residents no longer see it, its reminders are cancelled"
        " (loading its file again publishes it again)",
    )
    withdraw.add_argument("slug")
    dump = content_commands.add_parser(
        "dump",
        help="write a consultation back to its file, as the bot shows it (loading it again "
        "changes nothing)",
    )
    dump.add_argument("slug")
    dump.add_argument("--output", type=Path, help="the file to write (default: print it)")
    export = commands.add_parser("export", help="export a consultation's submissions")
    export.add_argument(
        "--consultation",
        required=True,
        metavar="SLUG",
        help="the consultation's slug, or `general` for the general channel",
    )
    export.add_argument("--format", required=True, choices=("csv", "xlsx", "json"))
    export.add_argument("--output", required=True, type=Path, metavar="FILE")
    export.add_argument(
        "--language",
        choices=SUPPORTED_LOCALES,
        default=None,
        help="of the header, labels and section titles (default: DEFAULT_LOCALE)",
    )
    from bot.received import HELP as IMPORT_HELP

    submissions = commands.add_parser(
        "submissions", help="submissions received by e-mail, letter, phone or at a meeting"
    )
    submissions_commands = submissions.add_subparsers(dest="submissions_command", required=True)
    import_ = submissions_commands.add_parser(
        "import",
        help="import them from a CSV file (all or nothing)",
        description="Import proposals and questions received by e-mail, letter, phone or "
        "at a public meeting; their cards are posted in the staff chat.",
        epilog=IMPORT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    import_.add_argument("file", type=Path, metavar="FILE.csv")
    import_.add_argument("--by", metavar="NAME", help="who registers them (default: your login)")
    report = commands.add_parser(
        "report", help="the report on a consultation's proposals, in its original language"
    )
    # `report SLUG --format F [--output FILE]` or `report publish SLUG [--by NAME]`: one
    # list of words, as argparse cannot have an optional positional next to a subcommand.
    report.add_argument("words", nargs="*", metavar="[publish] SLUG")
    report.add_argument("--consultation", metavar="SLUG", help="the same as SLUG (older form)")
    report.add_argument("--format", choices=("html", "docx", "xlsx"))
    report.add_argument(
        "--output",
        type=Path,
        metavar="FILE",
        help="default: SLUG-report.FORMAT here (SLUG-report-DRAFT.FORMAT for a draft)",
    )
    report.add_argument(
        "--by", metavar="NAME", help="publish: who publishes it (default: your login)"
    )
    parser.set_defaults(report_parser=report)
    return parser


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    command = args.command or ("run" if settings.token else "demo")
    if command == "run":
        return await _run(settings, webhook=getattr(args, "webhook", False))
    if command == "demo":
        from bot.demo import run_demo

        return await run_demo(
            settings,
            language=getattr(args, "language", None),
            staff=getattr(args, "staff", False),
        )
    if command == "db":
        return await _db_upgrade(settings)
    if command == "doctor":
        from bot.doctor import run_doctor

        return await run_doctor(settings)
    if command == "export":
        from bot.export.cli import run_export

        return await run_export(
            settings, args.consultation, args.format, args.output, args.language
        )
    if command == "submissions":
        from bot.received import run_import

        by = args.by or f"{getpass.getuser()} (command line)"
        return await run_import(settings, args.file, by)
    if command == "report" and args.words[:1] == ["publish"]:
        if len(args.words) != 2:
            args.report_parser.error("usage: civicbot report publish SLUG [--by NAME]")
        return await _publish_report(settings, args.words[1], args.by)
    if command == "report":
        from bot.export.cli import run_report

        slugs = [*args.words, *([args.consultation] if args.consultation else [])]
        if len(slugs) != 1 or not args.format:
            args.report_parser.error("usage: civicbot report SLUG --format html|docx|xlsx")
        args.consultation = slugs[0]
        return await run_report(settings, args.consultation, args.format, args.output)
    if args.content_command == "import":
        from bot.importer.cli import run_import

        return run_import(
            args.file,
            slug=args.slug,
            language=args.language,
            output=args.output,
            timezone=settings.timezone,
        )
    if args.content_command == "withdraw":
        return await _withdraw(settings, args.slug)
    if args.content_command == "dump":
        return await _dump(settings, args.slug, args.output)
    return await _load_content(settings, args.paths)


async def _run(settings: Settings, *, webhook: bool) -> int:
    from bot.app import Application, StartupError
    from bot.doctor import translations_missing
    from bot.i18n import missing_catalogs

    if settings.token is None:
        return _fail("setting BOT_TOKEN: is needed for `civicbot run` (or try `civicbot demo`)", 2)
    missing = missing_catalogs()
    if missing:  # rather than answer every resident in English
        return _fail(f"translations: {translations_missing(missing)}", 2)
    webhook = webhook or settings.webhook_url is not None
    for name in ("webhook_url", "webhook_secret"):
        if webhook and getattr(settings, name) is None:
            return _fail(f"setting {name.upper()}: is needed for webhook mode", 2)
    try:
        await Application(settings).run(webhook=webhook)
    except StartupError as error:
        return _fail(str(error))
    return 0


async def _db_upgrade(settings: Settings) -> int:
    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    print("database is up to date")
    return 0


async def _withdraw(settings: Settings, slug: str) -> int:
    from bot.content import withdraw

    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine).begin() as session:
            found = await withdraw(session, slug, settings)
    finally:
        await engine.dispose()
    if not found:
        return _fail(f"no consultation {slug!r}")
    print(f"withdrawn: {slug}")
    return 0


async def _dump(settings: Settings, slug: str, output: Path | None) -> int:
    from bot.dump import dump_consultation

    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session:
            text = await dump_consultation(session, slug)
    finally:
        await engine.dispose()
    if text is None:
        return _fail(f"no consultation {slug!r}")
    if output is None:
        sys.stdout.write(text)
        return 0
    try:
        await asyncio.to_thread(output.write_text, text, encoding="utf-8")
    except OSError as error:
        return _fail(f"{output}: cannot be written ({error.strerror})")
    print(f"written: {output}")
    return 0


async def _publish_report(settings: Settings, slug: str, by: str | None) -> int:
    from datetime import UTC, datetime

    from bot import publication
    from bot.export.common import ExportError
    from bot.export.report import checklist
    from bot.i18n import Catalogs

    by = by or f"{getpass.getuser()} (command line)"
    engine = create_engine(settings.database_url)
    try:
        if engine.dialect.name == "sqlite":
            await upgrade(engine)
        async with create_session_factory(engine).begin() as session:
            published = await publication.publish(session, slug, by, datetime.now(UTC))
    except ExportError as error:
        return _fail(str(error))
    except publication.AlreadyPublished as error:
        return _fail(
            f"the report of {slug} was already published on {error.at:%Y-%m-%d %H:%M} UTC "
            f"by {error.by or 'unknown'}; nothing was sent again"
        )
    except publication.NotFinal as error:
        tr = Catalogs.load().translator("en")
        lines = checklist(tr, error.readiness, error.zone)
        return _fail(
            f"the report of {slug} is a draft and cannot be published yet:\n"
            + "\n".join(f"  - {line}" for line in lines)
        )
    finally:
        await engine.dispose()
    print(
        f"published the report of {slug} (by {by}); the running bot sends it to "
        f"{published.recipients} residents"
    )
    return 0


async def _load_content(settings: Settings, paths: list[Path]) -> int:
    files = read_consultation_files(paths)
    engine = create_engine(settings.database_url)
    try:
        if engine.dialect.name == "sqlite":
            await upgrade(engine)
        session_factory = create_session_factory(engine)
        async with session_factory.begin() as session:
            report = await load_consultations(session, [item.consultation for item in files])
            await sync_all(session, settings)  # their notices are planned at once
    finally:
        await engine.dispose()
    for label, slugs in (
        ("created", report.created),
        ("updated", report.updated),
        ("unchanged", report.unchanged),
    ):
        for slug in slugs:
            print(f"{label}: {slug}")
    return 0


def _fail(message: str, code: int = 1) -> int:
    # Whatever an error quotes (a URL, a server's answer) may hold a secret.
    print(f"civicbot: {redact(message, secrets_from_environment())}", file=sys.stderr)
    return code


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
