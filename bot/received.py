"""`civicbot submissions import FILE.csv`: proposals and questions the municipality
received by e-mail, letter, phone or at a public meeting, many at once.

All or nothing: every line is checked first, and any problem (reported with its line
number) stores nothing. A line imported once is not imported again when a file with it
is given again, even with lines added or moved meanwhile: a line is known by what it
says (its consultation, section, kind, text, author, stakeholder, organisation, channel
and date), not by where it stands."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.content import GENERAL_CHANNEL_SLUG
from bot.notify.outbox import queue_card
from bot.submissions import (
    MAX_TEXT,
    MIN_TEXT,
    OFFLINE_CHANNELS,
    Received,
    Target,
    one_line,
    organisation_problem,
    parse_received,
    received_problem,
    register_received,
    text_problem,
)
from storage.models import (
    ConsultationStatus,
    StakeholderKind,
    Submission,
    SubmissionChannel,
    SubmissionKind,
    utcnow,
)
from storage.repositories import ConsultationRepository, ReportRepository, SectionRepository

COLUMNS = (
    "consultation",
    "section",
    "kind",
    "text",
    "author",
    "stakeholder",
    "organisation",
    "channel",
    "received",
)
REQUIRED = ("consultation", "kind", "text", "channel", "received")
HELP = f"""\
The file: CSV, UTF-8 (with or without a byte order mark), comma-separated, with this
header line: {",".join(COLUMNS)}
  consultation  the consultation's slug (`{GENERAL_CHANNEL_SLUG}`: the general channel)
  section       the section's number (e.g. 3.1); empty: the consultation as a whole
  kind          proposal | question
  text          the text as received ({MIN_TEXT} to {MAX_TEXT} characters)
  author        the name to publish as the author gave it; empty: anonymous
  stakeholder   individual (or empty) | business | education | public_body | ngo
  organisation  its name (needed for any stakeholder but an individual)
  channel       {" | ".join(OFFLINE_CHANNELS)}
  received      the date received, dd.mm.yyyy (or yyyy-mm-dd): not in the future,
                not before the consultation opened
Every line is checked first: one bad line and nothing is imported."""


class ImportRefused(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class ImportReport:
    imported: list[Submission] = field(default_factory=list)
    already: list[Submission] = field(default_factory=list)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ImportRefused(
            [
                f"line {line}: not UTF-8 text (wrong encoding); save the file as "
                '"CSV UTF-8" and try again'
            ]
        ) from None


@dataclass(frozen=True)
class _Line:
    number: int
    target: Target
    received: Received


async def _check_line(
    session: AsyncSession,
    number: int,
    row: dict[str, str],
    now: datetime,
    problems: list[str],
    home_zone: str,
) -> _Line | None:
    def refuse(reason: str) -> None:
        problems.append(f"line {number}: {reason}")

    values = {name: (row.get(name) or "").strip() for name in COLUMNS}
    missing = [name for name in REQUIRED if not values[name]]
    if missing:
        refuse("empty " + ", ".join(missing))
        return None
    slug = values["consultation"]
    target = Target()
    if slug != GENERAL_CHANNEL_SLUG:
        consultation = await ConsultationRepository(session).by_slug(slug)
        if consultation is None or consultation.status is ConsultationStatus.WITHDRAWN:
            refuse(f"unknown consultation {slug!r}")
            return None
        report = await ReportRepository(session).of(consultation.id)
        if report is not None and report.published_at is not None:
            # Its decisions are locked: a proposal added now could never be decided.
            published = report.published_at.astimezone(ZoneInfo(consultation.timezone))
            refuse(f"the report of {slug} was published on {published:%d.%m.%Y}")
            return None
        section = None
        if values["section"]:
            section = await SectionRepository(session).by_number(consultation.id, values["section"])
            if section is None:
                refuse(f"the consultation {slug!r} has no section {values['section']!r}")
                return None
        target = Target(consultation, section)
    elif values["section"]:
        refuse("the general channel has no sections")
        return None
    try:
        kind = SubmissionKind(values["kind"].lower())
    except ValueError:
        refuse(f"unknown kind {values['kind']!r} (proposal or question)")
        return None
    if text_problem(values["text"]) is not None:
        refuse(f"the text must have {MIN_TEXT} to {MAX_TEXT} characters")
        return None
    try:
        channel = SubmissionChannel(values["channel"].lower())
    except ValueError:
        channel = SubmissionChannel.TELEGRAM
    if channel not in OFFLINE_CHANNELS:
        refuse(f"unknown channel {values['channel']!r} ({', '.join(OFFLINE_CHANNELS)})")
        return None
    try:
        stakeholder = StakeholderKind(values["stakeholder"].lower() or "individual")
    except ValueError:
        kinds = ", ".join(StakeholderKind)
        refuse(f"unknown stakeholder {values['stakeholder']!r} ({kinds})")
        return None
    organisation = one_line(values["organisation"]) or None
    if stakeholder is not StakeholderKind.INDIVIDUAL and organisation is None:
        refuse(f"a {stakeholder.value} needs the organisation's name")
        return None
    if organisation is not None and stakeholder is StakeholderKind.INDIVIDUAL:
        refuse("an organisation is named, but the stakeholder is an individual")
        return None
    if organisation is not None and organisation_problem(organisation) is not None:
        refuse("the organisation's name is too short or too long")
        return None
    author = one_line(values["author"]) or None
    if author is not None and organisation_problem(author) is not None:
        refuse("the author's name is too short or too long")
        return None
    received_on = parse_received(values["received"])
    if received_on is None:
        refuse(f"bad date {values['received']!r} (dd.mm.yyyy)")
        return None
    problem = received_problem(target, received_on, now, home_zone)
    if problem == "future":
        refuse(f"the date {values['received']} is in the future")
        return None
    if problem == "before_opening":
        refuse(f"the date {values['received']} is before the consultation opened")
        return None
    received = Received(
        kind, values["text"], channel, received_on, author, stakeholder, organisation
    )
    return _Line(number, target, received)


def line_key(line: _Line) -> str:
    """The line's key in `draft_key` (40 characters): a digest of what it says, with
    whitespace normalised, so the same line in a longer file is the same submission."""
    target, received = line.target, line.received
    values = (
        str(target.consultation.id) if target.consultation else GENERAL_CHANNEL_SLUG,
        target.section.number if target.section else "",
        received.kind.value,
        received.text,
        received.author_name or "",
        received.stakeholder.value,
        received.organisation_name or "",
        received.channel.value,
        received.received_on.isoformat(),
    )
    content = "\x1f".join(" ".join(value.split()) for value in values)
    return "csv-" + hashlib.sha256(content.encode()).hexdigest()[:36]


async def import_csv(
    session: AsyncSession,
    data: bytes,
    *,
    settings: Settings,
    registered_by: str,
    now: datetime,
) -> ImportReport:
    """Check every line, then store them all and queue their cards, in the caller's
    transaction (the caller commits); raises ImportRefused with every problem found."""
    reader = csv.DictReader(io.StringIO(_decode(data), newline=""))
    header = [name.strip().lower() for name in reader.fieldnames or ()]
    if sorted(header) != sorted(COLUMNS):
        raise ImportRefused(
            [f"line 1: wrong header {','.join(header)!r}; expected {','.join(COLUMNS)}"]
        )
    reader.fieldnames = header
    problems: list[str] = []
    lines: list[_Line] = []
    start = reader.line_num + 1
    try:
        for row in reader:
            if None in row or any(value is None for value in row.values()):
                problems.append(f"line {start}: {len(COLUMNS)} columns expected")
            elif any((value or "").strip() for value in row.values()):
                line = await _check_line(session, start, row, now, problems, settings.timezone)
                if line is not None:
                    lines.append(line)
            start = reader.line_num + 1
    except csv.Error as error:
        problems.append(f"line {reader.line_num}: {error}")
    if problems:
        raise ImportRefused(problems)
    if not lines:
        raise ImportRefused(["the file has no lines after its header"])
    report = ImportReport()
    for line in lines:
        submission, created = await register_received(
            session,
            line.target,
            line.received,
            key=line_key(line),
            registered_by=registered_by,
            language=settings.default_locale,
            now=now,
            home_zone=settings.timezone,
        )
        if not created:
            report.already.append(submission)
            continue
        report.imported.append(submission)
        if settings.staff_chat_id is not None:
            await queue_card(session, submission, settings.staff_chat_id)
    return report


async def run_import(settings: Settings, path: Path, registered_by: str) -> int:
    """The command: prints what was imported, or every problem (and imports nothing)."""
    from storage.database import create_engine, create_session_factory
    from storage.migrate import upgrade

    try:
        data = await asyncio.to_thread(path.read_bytes)
    except OSError as error:
        print(f"civicbot: cannot read {path}: {error.strerror or error}", file=sys.stderr)
        return 1
    engine = create_engine(settings.database_url)
    try:
        if engine.dialect.name == "sqlite":
            await upgrade(engine)
        async with create_session_factory(engine).begin() as session:
            report = await import_csv(
                session, data, settings=settings, registered_by=registered_by, now=utcnow()
            )
    except ImportRefused as error:
        print(
            "civicbot: nothing was imported:\n" + "\n".join(f"  {p}" for p in error.problems),
            file=sys.stderr,
        )
        return 1
    finally:
        await engine.dispose()
    numbers = ", ".join(s.public_number or "" for s in report.imported)
    print(f"imported {len(report.imported)} submissions" + (f": {numbers}" if numbers else ""))
    if report.already:
        print(f"already imported before: {len(report.already)} lines")
    if report.imported and settings.staff_chat_id is None:
        print("STAFF_CHAT_ID is not set here: their cards are posted when the bot starts with it")
    return 0
