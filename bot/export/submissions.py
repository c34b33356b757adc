"""A consultation's submissions as CSV, XLSX or JSON, streamed row by row.

Rows come from the database in chunks (a server-side cursor on PostgreSQL, chunked
fetches on SQLite) and go straight to the output, so 100,000 submissions need no more
memory than a few thousand: openpyxl writes in its write-only mode.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO, Literal, Protocol
from zoneinfo import ZoneInfo

from babel.numbers import get_decimal_symbol
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.export.common import (
    Scope,
    attachments_text,
    author_label,
    cell_text,
    channel_label,
    kind_label,
    neutralise,
    resolve,
    stakeholder_label,
    status_label,
    xml_safe,
)
from bot.i18n import Translator
from storage.models import Submission

ExportFormat = Literal["csv", "xlsx", "json"]
FORMATS: tuple[ExportFormat, ...] = ("csv", "xlsx", "json")
# Rows fetched from the database at a time, and how often progress is reported.
CHUNK = 1000
XLSX_TIME_FORMAT = "yyyy-mm-dd hh:mm"
CSV_TIME_FORMAT = "%Y-%m-%d %H:%M"

Progress = Callable[[int, int], None]


def csv_delimiter(locale: str) -> str:
    """What Excel expects between the cells of a CSV file it opens with a double click:
    the list separator of the computer's regional settings, which is ";" wherever the
    decimal separator is a comma (Bulgarian, Slovenian) and "," elsewhere (English)."""
    return ";" if get_decimal_symbol(locale) == "," else ","


@dataclass(frozen=True)
class Record:
    """One submission as exported: values typed, labels in the translator's language."""

    number: str
    sent_at: datetime  # in the consultation's zone
    kind: str
    kind_label: str
    section_number: str | None
    section_title: str | None
    text: str
    attachments: list[dict[str, Any]]
    attachments_text: str
    author_name: str | None
    author_label: str
    status: str
    status_label: str
    reason: str | None
    answer: str | None
    answered_at: datetime | None  # in the consultation's zone
    answered_by: str | None
    channel: str
    channel_label: str
    received_at: datetime  # in the consultation's zone
    stakeholder: str
    stakeholder_label: str
    organisation: str | None
    registered_by: str | None


def _header(tr: Translator, zone: str) -> list[str]:
    return [
        tr("Number"),
        tr("Sent (%(zone)s)", zone=tr.zone_name(zone)),
        tr("Kind"),
        tr("Section"),
        tr("Section title"),
        tr("Text"),
        tr("Attachments"),
        tr("Author"),
        tr("Status"),
        tr("Reason"),
        tr("Answer"),
        tr("Answered (%(zone)s)", zone=tr.zone_name(zone)),
        tr("Answered by"),
        tr("Channel"),
        tr("Received (%(zone)s)", zone=tr.zone_name(zone)),
        tr("On behalf of"),
        tr("Organisation"),
        tr("Registered by"),
    ]


_COLUMNS = (
    Submission.public_number,
    Submission.created_at,
    Submission.kind,
    Submission.section_id,
    Submission.section_number,
    Submission.text,
    Submission.attachments,
    Submission.author_name,
    Submission.status,
    Submission.decision_reason,
    Submission.answer,
    Submission.answered_at,
    Submission.answered_by,
    Submission.channel,
    Submission.received_at,
    Submission.stakeholder,
    Submission.organisation_name,
    Submission.registered_by,
)


async def export_submissions(
    session_factory: async_sessionmaker[AsyncSession],
    slug: str,
    fmt: ExportFormat,
    output: BinaryIO,
    tr: Translator,
    *,
    progress: Progress | None = None,
    delimiter: str | None = None,
) -> int:
    """Write the submissions of the consultation `slug` (or of the general channel,
    slug `general`) to `output` in `fmt`; the number of rows written.

    Labels, the header and section titles are in `tr`'s language (titles fall back to
    the consultation's original language); times are local to the consultation's time
    zone (the municipality's, `tr.home_zone`, for the general channel). CSV is UTF-8
    with a byte order mark, separated by `delimiter` (default: what Excel expects in
    `tr`'s locale, see csv_delimiter);
    JSON is an array of objects with stable English keys and machine values.
    Raises UnknownConsultation (an ExportError) before writing anything.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    async with session_factory() as session:
        scope = await resolve(session, slug, tr.home_zone)
        total = (
            await session.scalar(select(func.count()).select_from(Submission).where(scope.where()))
            or 0
        )
        writer = _writer(fmt, output, tr, scope.zone, delimiter)
        if progress:
            progress(0, total)
        written = 0
        zone = ZoneInfo(scope.zone)
        rows = await session.stream(
            select(*_COLUMNS)
            .where(scope.where())
            .order_by(Submission.id)
            .execution_options(yield_per=CHUNK)
        )
        async for chunk in rows.partitions():  # CHUNK rows at a time
            for row in chunk:
                writer.write(_record(tr, scope, zone, row))
            written += len(chunk)
            if progress:
                progress(written, max(total, written))
    await writer.finish()
    if progress:
        progress(written, max(total, written))
    return written


def removed_label(tr: Translator, scope: Scope, section_number: str | None) -> str | None:
    """What stands for the title of a section a later version of the document removed."""
    version = scope.removed_in.get(section_number or "")
    if version is None:
        return None
    return tr("(removed in version %(version)s)", version=version)


def _record(tr: Translator, scope: Scope, zone: ZoneInfo, row: Sequence[Any]) -> Record:
    (
        number,
        created_at,
        kind,
        section_id,
        section_number,
        text,
        attachments,
        author_name,
        status,
        reason,
        answer,
        answered_at,
        answered_by,
        channel,
        received_at,
        stakeholder,
        organisation,
        registered_by,
    ) = row
    section = scope.section(section_id, section_number)
    return Record(
        number=number or "",
        sent_at=created_at.astimezone(zone),
        kind=kind.value,
        kind_label=kind_label(tr, kind),
        section_number=section.number if section else section_number,
        section_title=(
            scope.title(section.title, tr.locale)
            if section
            else removed_label(tr, scope, section_number)
        ),
        text=text,
        attachments=list(attachments or []),
        attachments_text=attachments_text(tr, attachments),
        author_name=author_name or None,
        author_label=author_label(tr, author_name),
        status=status.value,
        status_label=status_label(tr, status, kind),
        reason=reason,
        answer=answer,
        answered_at=answered_at.astimezone(zone) if answered_at else None,
        answered_by=answered_by,
        channel=channel.value,
        channel_label=channel_label(tr, channel),
        received_at=received_at.astimezone(zone),
        stakeholder=stakeholder.value,
        stakeholder_label=stakeholder_label(tr, stakeholder),
        organisation=organisation or None,
        registered_by=registered_by,
    )


class _Writer(Protocol):
    def write(self, record: Record) -> None: ...

    async def finish(self) -> None: ...


def _writer(
    fmt: ExportFormat, output: BinaryIO, tr: Translator, zone: str, delimiter: str | None
) -> _Writer:
    if fmt == "csv":
        return _CsvWriter(output, _header(tr, zone), delimiter or csv_delimiter(tr.format_locale))
    if fmt == "xlsx":
        return _XlsxWriter(output, _header(tr, zone), tr("Submissions"))
    return _JsonWriter(output)


def _local(moment: datetime | None) -> str:
    return moment.strftime(CSV_TIME_FORMAT) if moment else ""


class _CsvWriter:
    def __init__(self, output: BinaryIO, header: list[str], delimiter: str) -> None:
        self._output = output
        self._line = io.StringIO()
        self._csv = csv.writer(self._line, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL)
        # The byte order mark tells Excel the file is UTF-8 (else Cyrillic is garbled).
        output.write(codecs.BOM_UTF8)
        self._row(header)

    def _row(self, cells: list[str]) -> None:
        self._csv.writerow(cells)
        self._output.write(self._line.getvalue().encode("utf-8"))
        self._line.seek(0)
        self._line.truncate()

    def write(self, record: Record) -> None:
        self._row(
            [
                record.number,
                _local(record.sent_at),
                record.kind_label,
                record.section_number or "",
                neutralise(record.section_title),
                neutralise(record.text),
                record.attachments_text,
                neutralise(record.author_label),
                record.status_label,
                neutralise(record.reason),
                neutralise(record.answer),
                _local(record.answered_at),
                neutralise(record.answered_by),
                record.channel_label,
                _local(record.received_at),
                record.stakeholder_label,
                neutralise(record.organisation),
                neutralise(record.registered_by),
            ]
        )

    async def finish(self) -> None:
        return None


class _XlsxWriter:
    WIDTHS = (12, 17, 11, 9, 30, 80, 24, 20, 16, 40, 60, 17, 20, 14, 17, 18, 30, 20)

    def __init__(self, output: BinaryIO, header: list[str], sheet_title: str) -> None:
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font
        from openpyxl.utils import get_column_letter

        self._output = output
        self._workbook = Workbook(write_only=True)
        self._sheet = self._workbook.create_sheet(title=_sheet_title(sheet_title))
        for index, width in enumerate(self.WIDTHS, start=1):
            self._sheet.column_dimensions[get_column_letter(index)].width = width
        self._sheet.freeze_panes = "A2"
        bold = Font(bold=True)
        cells = []
        for title in header:
            cell = WriteOnlyCell(self._sheet, value=title)
            cell.font = bold
            cells.append(cell)
        self._sheet.append(cells)
        self._cell = WriteOnlyCell

    def _time(self, moment: datetime | None) -> Any:
        if moment is None:
            return None
        # Excel has no time zones: the local wall-clock time, as a real date cell.
        cell = self._cell(self._sheet, value=moment.replace(tzinfo=None))
        cell.number_format = XLSX_TIME_FORMAT
        return cell

    def write(self, record: Record) -> None:
        self._sheet.append(
            [
                record.number,
                self._time(record.sent_at),
                record.kind_label,
                record.section_number,
                cell_text(record.section_title) or None,
                cell_text(record.text),
                cell_text(record.attachments_text) or None,  # file names come from devices
                cell_text(record.author_label),
                record.status_label,
                cell_text(record.reason) or None,
                cell_text(record.answer) or None,
                self._time(record.answered_at),
                cell_text(record.answered_by) or None,
                record.channel_label,
                self._time(record.received_at),
                record.stakeholder_label,
                cell_text(record.organisation) or None,
                cell_text(record.registered_by) or None,
            ]
        )

    async def finish(self) -> None:
        # Zipping the sheet is the slow part: off the event loop, so a bot keeps answering.
        await asyncio.to_thread(self._workbook.save, self._output)


def _sheet_title(title: str) -> str:
    # Excel: at most 31 characters, none of []:*?/\ (nor what XML cannot hold)
    cleaned = "".join(" " if char in "[]:*?/\\" else char for char in xml_safe(title)).strip()
    return cleaned[:31] or "Sheet1"


class _JsonWriter:
    def __init__(self, output: BinaryIO) -> None:
        self._output = output
        self._first = True
        output.write(b"[")

    def write(self, record: Record) -> None:
        item = {
            "number": record.number,
            "sent_at": record.sent_at.isoformat(),
            "kind": record.kind,
            "section_number": record.section_number,
            "section_title": record.section_title,
            "text": record.text,
            "attachments": record.attachments,
            "attachments_text": record.attachments_text,
            "author": record.author_name,
            "anonymous": record.author_name is None,
            "status": record.status,
            "status_label": record.status_label,
            "decision_reason": record.reason,
            "answer": record.answer,
            "answered_at": record.answered_at.isoformat() if record.answered_at else None,
            "answered_by": record.answered_by,
            "channel": record.channel,
            "received_at": record.received_at.isoformat(),
            "stakeholder": record.stakeholder,
            "organisation": record.organisation,
            "registered_by": record.registered_by,
        }
        prefix = b"\n" if self._first else b",\n"
        self._first = False
        self._output.write(prefix + json.dumps(item, ensure_ascii=False).encode("utf-8"))

    async def finish(self) -> None:
        self._output.write(b"]\n" if self._first else b"\n]\n")
