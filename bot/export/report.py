"""The consultation report ("справка", art. 26(5) of the Bulgarian Law on Normative
Acts; the same shape serves Slovenian municipalities): every proposal and question
received, grouped by section in plan order, with the decision and its reasons.

Written in the consultation's original language. Authors appear only as the resident
allowed: the name they signed with, else "anonymous". Spam is left out and counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.export.common import (
    NoReport,
    Scope,
    author_label,
    cell_text,
    kind_label,
    resolve,
    status_label,
    xml_safe,
)
from bot.i18n import Catalogs, Translator
from storage.models import Submission, SubmissionKind, SubmissionStatus

ReportFormat = Literal["docx", "xlsx"]
REPORT_FORMATS: tuple[ReportFormat, ...] = ("docx", "xlsx")


@dataclass(frozen=True)
class Entry:
    number: str
    kind: str
    text: str
    author: str
    decision: str
    reasons: str


@dataclass
class Group:
    """The submissions about one section, or the general remarks (no section)."""

    heading: str
    entries: list[Entry] = field(default_factory=list)


@dataclass(frozen=True)
class Report:
    """Everything the report says, in its language, before it is laid out."""

    heading: str
    title: str
    facts: list[tuple[str, str]]  # (label, value): organizer, period, counts
    groups: list[Group]
    empty_note: str
    columns: list[str]  # of a section's table
    section_column: str  # the extra first column of the single XLSX table


async def consultation_report(
    session_factory: async_sessionmaker[AsyncSession],
    slug: str,
    fmt: ReportFormat,
    output: BinaryIO,
    catalogs: Catalogs,
    *,
    now: datetime | None = None,
) -> None:
    """Write the report of the consultation `slug` to `output` as DOCX or XLSX.

    Raises UnknownConsultation, or NoReport for the general channel (ExportErrors).
    """
    if fmt not in REPORT_FORMATS:
        raise ValueError(f"unknown report format {fmt!r}")
    async with session_factory() as session:
        scope = await resolve(session, slug)
        if scope.consultation is None:
            raise NoReport()
        rows = (
            await session.execute(
                select(
                    Submission.public_number,
                    Submission.kind,
                    Submission.section_id,
                    Submission.section_number,
                    Submission.text,
                    Submission.author_name,
                    Submission.status,
                    Submission.decision_reason,
                    Submission.answer,
                )
                .where(scope.where())
                .order_by(Submission.id)
            )
        ).all()
    tr = catalogs.translator(scope.original_language)
    report = build_report(tr, scope, rows, now or datetime.now(UTC))
    render = _docx if fmt == "docx" else _xlsx
    # Laying out a long report takes a while: off the event loop, so a bot keeps answering.
    await asyncio.to_thread(render, report, output)


def build_report(tr: Translator, scope: Scope, rows: Sequence[Any], now: datetime) -> Report:
    consultation = scope.consultation
    assert consultation is not None
    language = consultation.original_language
    zone = consultation.timezone

    plan_groups: dict[int, Group] = {}  # section id -> group, filled in plan order below
    lost_groups: dict[str, Group] = {}  # sections no longer in the plan, by number
    general = Group(tr("General remarks"))
    counts = dict.fromkeys(SubmissionStatus, 0)
    proposals = questions = 0
    for number, kind, section_id, section_number, text, author, status, reason, answer in rows:
        counts[status] += 1
        if status is SubmissionStatus.SPAM:
            continue
        if kind is SubmissionKind.PROPOSAL:
            proposals += 1
        else:
            questions += 1
        entry = Entry(
            number=number or "",
            kind=kind_label(tr, kind),
            text=text,
            author=author_label(tr, author),
            decision=status_label(tr, status, kind),
            reasons=_reasons(tr, status, reason, answer),
        )
        section = scope.section(section_id, section_number)
        if section is not None:
            group = plan_groups.setdefault(section.id, Group(""))
        elif section_number:
            group = lost_groups.setdefault(
                section_number,
                Group(tr("%(number)s (no longer in the plan)", number=section_number)),
            )
        else:
            group = general
        group.entries.append(entry)

    groups: list[Group] = []
    for section in scope.sections:  # plan order
        if section.id in plan_groups:
            group = plan_groups[section.id]
            title = scope.title(section.title, language)
            group.heading = f"{section.number}. {title}"
            groups.append(group)
    groups += [lost_groups[number] for number in sorted(lost_groups, key=_number_key)]
    if general.entries:
        groups.append(general)

    if consultation.closes_at is not None:
        period = tr(
            "from %(start)s to %(end)s",
            start=tr.date(consultation.opens_at, zone),
            end=tr.date(consultation.closes_at, zone),
        )
    else:
        period = tr("open since %(start)s", start=tr.date(consultation.opens_at, zone))
    facts = [
        (tr("Organizer"), scope.title(consultation.organizer, language)),
        (tr("Period of the consultation"), period),
        (tr("Proposals received"), tr.number(proposals)),
        (tr("Questions received"), tr.number(questions)),
        (
            tr("Decisions"),
            tr(
                "accepted: %(accepted)s; partly accepted: %(partly)s; not accepted: "
                "%(rejected)s; answered: %(answered)s; not yet decided: %(waiting)s",
                accepted=tr.number(counts[SubmissionStatus.ACCEPTED]),
                partly=tr.number(counts[SubmissionStatus.PARTLY_ACCEPTED]),
                rejected=tr.number(counts[SubmissionStatus.REJECTED]),
                answered=tr.number(counts[SubmissionStatus.ANSWERED]),
                waiting=tr.number(counts[SubmissionStatus.RECEIVED]),
            ),
        ),
    ]
    if counts[SubmissionStatus.SPAM]:
        facts.append(
            (tr("Left out as spam"), tr.number(counts[SubmissionStatus.SPAM])),
        )
    facts.append((tr("Prepared on"), tr.date(now, zone)))
    return Report(
        heading=tr("Report on the proposals and questions received"),
        title=scope.title(consultation.title, language),
        facts=facts,
        groups=groups,
        empty_note=tr("No proposals or questions were received."),
        columns=[
            tr("No."),
            tr("Kind"),
            tr("Proposal or question"),
            tr("Author"),
            tr("Decision"),
            tr("Reasons or answer"),
        ],
        section_column=tr("Section"),
    )


def _reasons(
    tr: Translator, status: SubmissionStatus, reason: str | None, answer: str | None
) -> str:
    parts = [part.strip() for part in (reason, answer) if part and part.strip()]
    if not parts and status in (SubmissionStatus.REJECTED, SubmissionStatus.PARTLY_ACCEPTED):
        # The law asks for the reasons of every proposal not (fully) accepted: make the gap
        # visible to whoever publishes the report.
        return tr("(reasons not given yet)")
    return "\n\n".join(parts)


def _number_key(number: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in number.split("."))


# --------------------------------------------------------------------- DOCX

# Relative widths of the table's columns: number, kind, text, author, decision, reasons.
_DOCX_WIDTHS = (1.3, 1.6, 3.8, 1.4, 1.4, 3.0)


def _docx(report: Report, output: BinaryIO) -> None:
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Cm, Pt

    document = Document()
    page = document.sections[0]
    # A4 (python-docx's template is US Letter), landscape: six columns need the width.
    page.orientation = WD_ORIENT.LANDSCAPE
    page.page_width, page.page_height = Cm(29.7), Cm(21)
    page.left_margin = page.right_margin = Cm(2)
    usable = page.page_width - page.left_margin - page.right_margin
    widths = [int(usable * share / sum(_DOCX_WIDTHS)) for share in _DOCX_WIDTHS]
    document.styles["Normal"].font.size = Pt(10)

    document.add_heading(xml_safe(report.heading), level=0)
    document.add_paragraph().add_run(xml_safe(report.title)).bold = True
    for label, value in report.facts:
        paragraph = document.add_paragraph()
        paragraph.add_run(f"{xml_safe(label)}: ").bold = True
        paragraph.add_run(xml_safe(value))
    if not report.groups:
        document.add_paragraph(xml_safe(report.empty_note))

    for group in report.groups:
        document.add_heading(xml_safe(group.heading), level=1)
        table = document.add_table(rows=1, cols=len(report.columns))
        table.style = "Table Grid"
        table.autofit = False
        for column, width in zip(table.columns, widths, strict=True):
            column.width = width  # the grid, which LibreOffice follows; Word reads the cells
        header = table.rows[0]
        # The header row repeats on every page the table runs over.
        header_properties = header._tr.get_or_add_trPr()
        repeat = OxmlElement("w:tblHeader")
        repeat.set(qn("w:val"), "true")
        header_properties.append(repeat)
        for cell, title, width in zip(header.cells, report.columns, widths, strict=True):
            cell.width = width
            cell.paragraphs[0].add_run(xml_safe(title)).bold = True
        for entry in group.entries:
            values = (
                entry.number,
                entry.kind,
                entry.text,
                entry.author,
                entry.decision,
                entry.reasons,
            )
            cells = table.add_row().cells
            for cell, value, width in zip(cells, values, widths, strict=True):
                cell.width = width
                cell.text = xml_safe(value)
    document.save(output)


# --------------------------------------------------------------------- XLSX


def _xlsx(report: Report, output: BinaryIO) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    heading = xml_safe(report.heading)
    sheet.title = "".join(c for c in heading if c not in "[]:*?/\\")[:31] or "Report"
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")

    sheet.append([cell_text(report.heading)])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append([cell_text(report.title)])
    sheet["A2"].font = bold
    for label, value in report.facts:
        sheet.append([cell_text(label), cell_text(value)])
    sheet.append([])
    sheet.append([report.section_column, *report.columns])
    header_row = sheet.max_row
    for cell in sheet[header_row]:
        cell.font = bold
    for group in report.groups:
        for entry in group.entries:
            sheet.append(
                [
                    cell_text(group.heading),
                    entry.number,
                    entry.kind,
                    cell_text(entry.text),
                    cell_text(entry.author),
                    entry.decision,
                    cell_text(entry.reasons) or None,
                ]
            )
            for cell in sheet[sheet.max_row]:
                cell.alignment = wrap
    if not report.groups:
        sheet.append([cell_text(report.empty_note)])
    for letter, width in zip("ABCDEFG", (30, 12, 12, 70, 20, 16, 50), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = sheet.cell(row=header_row + 1, column=1)
    # Printed: A4 landscape, one page wide, the table's header on every page.
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_title_rows = f"{header_row}:{header_row}"
    workbook.save(output)


__all__ = ["REPORT_FORMATS", "ReportFormat", "build_report", "consultation_report"]
