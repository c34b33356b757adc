"""The consultation report ("справка", art. 26(5) of the Bulgarian Law on Normative
Acts; the same shape serves Slovenian municipalities): every proposal and question
received, grouped by section in plan order, with the decision and its reasons.

Written in the consultation's original language. Authors appear only as the resident
allowed: the name they signed with, else "anonymous". Spam is left out and counted.

A report is final only when the consultation has closed, every proposal has a decision
(an answer alone is none) with its reasons, every question an answer, and staff closed
the review (`readiness`); before that it can still be made, as a DRAFT marked on every
page and in its file name. DOCX and XLSX are laid out to print (A4 landscape, one page
wide, the header row on every page, rows as tall as their text); HTML is one page with
nothing to load, for the municipal website.
"""

from __future__ import annotations

import asyncio
import html
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, BinaryIO, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.export.common import (
    ExportError,
    NoReport,
    Scope,
    author_label,
    cell_text,
    channel_label,
    kind_label,
    resolve,
    stakeholder_label,
    status_label,
    xml_safe,
)
from bot.i18n import Catalogs, Translator
from storage.models import (
    Consultation,
    ConsultationStatus,
    Phase,
    StakeholderKind,
    Submission,
    SubmissionChannel,
    SubmissionKind,
    SubmissionStatus,
)
from storage.repositories import ReportRepository, SimilarRepository

ReportFormat = Literal["docx", "xlsx", "html"]
REPORT_FORMATS: tuple[ReportFormat, ...] = ("docx", "xlsx", "html")


@dataclass(frozen=True)
class Readiness:
    """How far a consultation's report is from final: what is still missing."""

    open: bool  # the consultation still takes submissions (or has not opened yet)
    closes_at: datetime | None
    undecided: int  # proposals without accepted / partly / not accepted
    without_reasons: int  # proposals not (fully) accepted whose reasons are missing
    unanswered: int  # questions without an answer
    review_closed_at: datetime | None
    review_closed_by: str | None

    @property
    def clean(self) -> bool:
        """Nothing stands in the way of closing the review."""
        return not (self.open or self.undecided or self.without_reasons or self.unanswered)

    @property
    def final(self) -> bool:
        """The report may be published as it is (else it is a draft)."""
        return self.clean and self.review_closed_at is not None


async def readiness(session: AsyncSession, scope: Scope, now: datetime) -> Readiness:
    """What the report of `scope`'s consultation still lacks; NoReport for the general
    channel."""
    consultation = scope.consultation
    if consultation is None:
        raise NoReport()
    repository = ReportRepository(session)
    undecided, without_reasons, unanswered = await repository.open_items(consultation.id)
    row = await repository.of(consultation.id)
    return Readiness(
        open=consultation.phase(now) is not Phase.CLOSED,
        closes_at=consultation.closes_at,
        undecided=undecided,
        without_reasons=without_reasons,
        unanswered=unanswered,
        review_closed_at=row.review_closed_at if row else None,
        review_closed_by=row.review_closed_by if row else None,
    )


@dataclass(frozen=True)
class Review:
    """A consultation's report as staff see it before they close its review."""

    consultation: Consultation
    readiness: Readiness
    prepared_by: str | None
    approved_by: str | None
    approved_at: datetime | None
    published_at: datetime | None


class ReportPublished(ExportError):
    """The report was published: a public document, sent to every participant, that no
    longer changes (neither its review nor its signatures)."""

    def __init__(self, at: datetime, zone: str) -> None:
        super().__init__(f"the report was published on {at:%Y-%m-%d %H:%M} UTC")
        self.at, self.zone = at, zone


class ReviewNotClean(ExportError):
    """The review cannot be closed yet: `review.readiness` says what is missing."""

    def __init__(self, review: Review) -> None:
        super().__init__("the review cannot be closed yet")
        self.review = review


async def review(session: AsyncSession, slug: str, now: datetime) -> Review:
    """Where the report of `slug` stands; UnknownConsultation, WithdrawnConsultation or
    NoReport when there is none to make."""
    scope = await report_scope(session, slug)
    assert scope.consultation is not None
    ready = await readiness(session, scope, now)
    row = await ReportRepository(session).of(scope.consultation.id)
    return Review(
        scope.consultation,
        ready,
        row.prepared_by if row else None,
        row.approved_by if row else None,
        row.approved_at if row else None,
        row.published_at if row else None,
    )


async def close_review(session: AsyncSession, slug: str, by: str, now: datetime) -> Review:
    """Closes the review when nothing is missing (ReviewNotClean otherwise); closing it
    again records the newer closing. ReportPublished once the report was published."""
    current = await review(session, slug, now)
    _refuse_if_published(current)
    if not current.readiness.clean:
        raise ReviewNotClean(current)
    await ReportRepository(session).close_review(current.consultation.id, by, now)
    return await review(session, slug, now)


async def sign(
    session: AsyncSession,
    slug: str,
    role: Literal["prepared", "approved"],
    name: str,
    now: datetime,
) -> Review:
    """Names who prepared or who approved the report (its last block); ReportPublished
    once the report was published."""
    current = await review(session, slug, now)
    _refuse_if_published(current)
    repository = ReportRepository(session)
    if role == "prepared":
        await repository.set_prepared(current.consultation.id, name)
    else:
        await repository.set_approved(current.consultation.id, name, now)
    return await review(session, slug, now)


def _refuse_if_published(current: Review) -> None:
    if current.published_at is not None:
        raise ReportPublished(current.published_at, current.consultation.timezone)


@dataclass(frozen=True)
class Entry:
    number: str
    received: str
    channel: str
    kind: str
    text: str
    author: str
    decision: str
    reasons: str
    submission_id: int = 0


@dataclass
class Group:
    """The submissions about one section, or the general remarks (no section)."""

    heading: str
    entries: list[Entry] = field(default_factory=list)


@dataclass(frozen=True)
class Report:
    """Everything the report says, in its language, before it is laid out."""

    language: str
    heading: str
    title: str
    draft: str | None  # the mark on every page of a report that is not final
    missing: list[str]  # why it is a draft
    legal_basis: str
    facts: list[tuple[str, str]]  # (label, value): organizer, period, counts
    groups: list[Group]
    empty_note: str
    columns: list[str]  # of a section's table
    section_column: str  # the extra first column of the single XLSX table
    signatures: list[tuple[str, str, str]]  # (role, name, date): prepared by, approved by


def report_filename(slug: str, fmt: str, readiness: Readiness) -> str:
    """A draft says so in its file name too, so it is not published by mistake."""
    return f"{slug}-report.{fmt}" if readiness.final else f"{slug}-report-DRAFT.{fmt}"


def checklist(tr: Translator, readiness: Readiness, zone: str, *, review: bool = True) -> list[str]:
    """What keeps the report from being final, one line each (empty: it is final);
    without `review`, only what keeps the review from being closed."""
    lines = []
    if readiness.open:
        if readiness.closes_at is not None:
            lines.append(
                tr(
                    "The consultation is open until %(date)s.",
                    date=tr.datetime(readiness.closes_at, zone),
                )
            )
        else:
            lines.append(tr("The consultation has no closing date: it is still open."))
    if readiness.undecided:
        lines.append(
            tr.plural(
                "%(count)s proposal without a decision (accepted, partly accepted or not "
                "accepted).",
                "%(count)s proposals without a decision (accepted, partly accepted or not "
                "accepted).",
                readiness.undecided,
            )
        )
    if readiness.without_reasons:
        lines.append(
            tr.plural(
                "%(count)s decision without reasons.",
                "%(count)s decisions without reasons.",
                readiness.without_reasons,
            )
        )
    if readiness.unanswered:
        lines.append(
            tr.plural(
                "%(count)s question without an answer.",
                "%(count)s questions without an answer.",
                readiness.unanswered,
            )
        )
    if review and readiness.review_closed_at is None:
        lines.append(tr("The review has not been closed yet."))
    return lines


async def consultation_report(
    session_factory: async_sessionmaker[AsyncSession],
    slug: str,
    fmt: ReportFormat,
    output: BinaryIO,
    catalogs: Catalogs,
    *,
    now: datetime | None = None,
) -> Readiness:
    """Write the report of the consultation `slug` to `output` as DOCX, XLSX or HTML; a
    report that is not final is a draft, marked on every page. Returns how ready it was.

    Raises UnknownConsultation (also for a withdrawn one), or NoReport for the general
    channel (ExportErrors).
    """
    if fmt not in REPORT_FORMATS:
        raise ValueError(f"unknown report format {fmt!r}")
    now = now or datetime.now(UTC)
    async with session_factory() as session:
        scope = await report_scope(session, slug)
        assert scope.consultation is not None
        ready = await readiness(session, scope, now)
        record = await ReportRepository(session).of(scope.consultation.id)
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
                    Submission.received_at,
                    Submission.channel,
                    Submission.stakeholder,
                    Submission.organisation_name,
                    Submission.id,
                    Submission.anonymised_at,
                )
                .where(scope.where())
                .order_by(Submission.received_at, Submission.id)
            )
        ).all()
        similar = await SimilarRepository(session).groups_of(scope.consultation.id)
    tr = catalogs.translator(scope.original_language)
    signed = Signatures(
        record.prepared_by if record else None,
        record.approved_by if record else None,
        record.approved_at if record else None,
    )
    report = build_report(tr, scope, rows, now, ready, signed, similar)
    render = {"docx": _docx, "xlsx": _xlsx, "html": _html}[fmt]
    # Laying out a long report takes a while: off the event loop, so a bot keeps answering.
    await asyncio.to_thread(render, report, output)
    return ready


async def report_scope(session: AsyncSession, slug: str) -> Scope:
    """The consultation a report is asked for: not the general channel, not a withdrawn
    one (residents no longer see it: nothing to report to them)."""
    scope = await resolve(session, slug)
    if scope.consultation is None:
        raise NoReport()
    if scope.consultation.status is ConsultationStatus.WITHDRAWN:
        raise WithdrawnConsultation(slug)
    return scope


class WithdrawnConsultation(ExportError):
    def __init__(self, slug: str) -> None:
        super().__init__(f"the consultation {slug!r} was withdrawn: it has no report")
        self.slug = slug


@dataclass(frozen=True)
class Signatures:
    prepared_by: str | None = None
    approved_by: str | None = None
    approved_at: datetime | None = None


_DECIDED = (
    SubmissionStatus.ACCEPTED,
    SubmissionStatus.PARTLY_ACCEPTED,
    SubmissionStatus.REJECTED,
)
_NEEDS_REASONS = (SubmissionStatus.PARTLY_ACCEPTED, SubmissionStatus.REJECTED)


def build_report(
    tr: Translator,
    scope: Scope,
    rows: Sequence[Any],
    now: datetime,
    ready: Readiness | None = None,
    signed: Signatures | None = None,
    similar: Mapping[int, int] | None = None,
) -> Report:
    """`similar`: the group of each grouped proposal (by submission id): a group's
    proposals about one section are listed together, each marked with its group."""
    consultation = scope.consultation
    assert consultation is not None
    language = consultation.original_language
    zone = consultation.timezone
    signed = signed or Signatures()

    plan_groups: dict[int, Group] = {}  # section id -> group, filled in plan order below
    lost_groups: dict[str, Group] = {}  # sections no longer in the plan, by number
    general = Group(tr("General remarks"))
    counts = Counter[tuple[SubmissionKind, SubmissionStatus]]()
    channels = Counter[SubmissionChannel]()
    spam = 0
    for row in rows:
        (number, kind, section_id, section_number, text, author, status, reason, answer) = row[:9]
        received, channel, stakeholder, organisation = row[9:13]
        if status is SubmissionStatus.SPAM:
            spam += 1
            continue
        counts[kind, status] += 1
        channels[channel] += 1
        entry = Entry(
            number=number or "",
            received=tr.date(received, zone),
            channel=channel_label(tr, channel),
            kind=kind_label(tr, kind),
            text=text,
            author=_author(tr, author, stakeholder, organisation),
            decision=_decision(tr, kind, status, erased=len(row) > 14 and row[14] is not None),
            reasons=_reasons(tr, kind, status, reason, answer),
            submission_id=row[13] if len(row) > 13 else 0,
        )
        section = scope.section(section_id, section_number)
        if section is not None:
            group = plan_groups.setdefault(section.id, Group(""))
        elif section_number:
            version = scope.removed_in.get(section_number)
            group = lost_groups.setdefault(
                section_number,
                Group(
                    tr(
                        "%(number)s (removed in version %(version)s)",
                        number=section_number,
                        version=version,
                    )
                    if version is not None
                    else tr("%(number)s (no longer in the plan)", number=section_number)
                ),
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
    if similar:
        _similar_together(tr, groups, similar)

    if consultation.closes_at is not None:
        period = tr(
            "from %(start)s to %(end)s",
            start=tr.date(consultation.opens_at, zone),
            end=tr.date(consultation.closes_at, zone),
        )
    else:
        period = tr("open since %(start)s", start=tr.date(consultation.opens_at, zone))
    proposal, question = SubmissionKind.PROPOSAL, SubmissionKind.QUESTION
    proposals = sum(n for (kind, _), n in counts.items() if kind is proposal)
    questions = sum(n for (kind, _), n in counts.items() if kind is question)
    facts = [
        (tr("Organiser"), scope.title(consultation.organizer, language)),
        (tr("Period of the consultation"), period),
        (tr("Received in total"), tr.number(proposals + questions)),
        (tr("Proposals received"), tr.number(proposals)),
        (tr("Questions received"), tr.number(questions)),
        (
            tr("Decisions on proposals"),
            tr(
                "accepted: %(accepted)s; partly accepted: %(partly)s; not accepted: "
                "%(rejected)s; without a decision: %(waiting)s",
                accepted=tr.number(counts[proposal, SubmissionStatus.ACCEPTED]),
                partly=tr.number(counts[proposal, SubmissionStatus.PARTLY_ACCEPTED]),
                rejected=tr.number(counts[proposal, SubmissionStatus.REJECTED]),
                waiting=tr.number(
                    counts[proposal, SubmissionStatus.RECEIVED]
                    + counts[proposal, SubmissionStatus.ANSWERED]
                ),
            ),
        ),
        (
            tr("Questions answered"),
            tr(
                "%(answered)s of %(total)s",
                answered=tr.number(questions - counts[question, SubmissionStatus.RECEIVED]),
                total=tr.number(questions),
            ),
        ),
        (
            tr("By channel"),
            "; ".join(
                f"{channel_label(tr, channel)}: {tr.number(channels[channel])}"
                for channel in SubmissionChannel
                if channels[channel]
            )
            or tr.number(0),
        ),
    ]
    if spam:
        facts.append((tr("Left out as spam"), tr.number(spam)))
    facts.append((tr("Prepared on"), tr.date(now, zone)))
    if ready is not None and ready.review_closed_at is not None:
        facts.append(
            (
                tr("Review closed"),
                tr(
                    "%(date)s by %(name)s",
                    date=tr.date(ready.review_closed_at, zone),
                    name=ready.review_closed_by or "",
                ),
            )
        )
    missing = checklist(tr, ready, zone) if ready is not None else []
    if language == "bg":
        legal_basis = tr(
            "Prepared under Article 26(5) of the Law on Normative Acts: the proposals and "
            "opinions received in the public consultation, with the reasons for those not "
            "accepted."
        )
    else:
        legal_basis = tr(
            "This report lists every proposal and question received in the public "
            "consultation, the decision on each proposal with its reasons, and the answer "
            "to each question."
        )
    blank = "………………………"  # to be filled in by hand on paper
    signatures = [
        (tr("Prepared by"), signed.prepared_by or blank, tr.date(now, zone)),
        (
            tr("Approved by"),
            signed.approved_by or blank,
            tr.date(signed.approved_at, zone) if signed.approved_at else blank,
        ),
    ]
    return Report(
        language=language,
        heading=tr("Report on the proposals and questions received"),
        title=scope.title(consultation.title, language),
        draft=tr("DRAFT – not final") if ready is None or not ready.final else None,
        missing=missing,
        legal_basis=legal_basis,
        facts=facts,
        groups=groups,
        empty_note=tr("No proposals or questions were received."),
        columns=[
            tr("No."),
            tr("Received on"),
            tr("Channel"),
            tr("Kind"),
            tr("Proposal or question"),
            tr("Author"),
            tr("Decision"),
            tr("Reasons or answer"),
        ],
        section_column=tr("Section"),
        signatures=signatures,
    )


def _similar_together(tr: Translator, groups: list[Group], similar: Mapping[int, int]) -> None:
    """Within each section, a group's proposals follow its first one, and each carries
    its group's mark (numbered in the report's order; a group spread over several
    sections has the same mark in each)."""
    marks: dict[int, str] = {}
    for group in groups:
        members: dict[int, list[Entry]] = {}
        for entry in group.entries:
            if entry.submission_id in similar:
                members.setdefault(similar[entry.submission_id], []).append(entry)
        ordered: list[Entry] = []
        for entry in group.entries:
            key = similar.get(entry.submission_id)
            if key is None:
                ordered.append(entry)
            elif key in members:
                mark = marks.setdefault(
                    key, tr("similar, group %(group)s", group=tr.number(len(marks) + 1))
                )
                ordered += [replace(e, number=f"{e.number}\n{mark}") for e in members.pop(key)]
        group.entries = ordered


def _author(
    tr: Translator,
    name: str | None,
    stakeholder: StakeholderKind | None,
    organisation: str | None,
) -> str:
    """The name signed with, and the organisation it speaks for. An organisation's
    submission names the organisation even when no person signed it (staff registered
    it from a letter or an e-mail): an organisation is public, a person may not be."""
    author = author_label(tr, name)
    kind = stakeholder or StakeholderKind.INDIVIDUAL
    organisation = (organisation or "").strip()
    if organisation:
        speaking_for = f"{stakeholder_label(tr, kind)}: {organisation}"
        return f"{author} ({speaking_for})" if name else speaking_for
    if name and kind is not StakeholderKind.INDIVIDUAL:
        return f"{author} ({stakeholder_label(tr, kind)})"
    return author


def _decision(
    tr: Translator, kind: SubmissionKind, status: SubmissionStatus, *, erased: bool = False
) -> str:
    """A proposal is accepted, partly accepted or not accepted; an answer alone is no
    decision, so an answered proposal still shows as undecided."""
    if kind is SubmissionKind.QUESTION:
        if status is not SubmissionStatus.RECEIVED:
            return tr("answered")
        if erased:
            return tr("not answered: its sender erased their data")
        return tr("not yet answered")
    if status in _DECIDED:
        return status_label(tr, status, kind)
    return tr("not yet decided")


def _reasons(
    tr: Translator,
    kind: SubmissionKind,
    status: SubmissionStatus,
    reason: str | None,
    answer: str | None,
) -> str:
    parts = [part.strip() for part in (reason, answer) if part and part.strip()]
    if (
        kind is SubmissionKind.PROPOSAL
        and status in _NEEDS_REASONS
        and not (reason and reason.strip())
    ):
        # The law wants reasons for what was not accepted before the report is final:
        # make the gap visible to whoever publishes it.
        parts.insert(0, tr("(reasons not given yet)"))
    return "\n\n".join(parts)


def _number_key(number: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in number.split("."))


# --------------------------------------------------------------------- DOCX

# Relative widths of the table's columns: number, received, channel, kind, text, author,
# decision, reasons.
_DOCX_WIDTHS = (1.2, 1.3, 1.2, 1.2, 4.0, 1.8, 1.4, 3.2)


def _docx(report: Report, output: BinaryIO) -> None:
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Cm, Pt

    document = Document()
    page = document.sections[0]
    # A4 (python-docx's template is US Letter), landscape: eight columns need the width.
    page.orientation = WD_ORIENT.LANDSCAPE
    page.page_width, page.page_height = Cm(29.7), Cm(21)
    page.left_margin = page.right_margin = Cm(1.5)
    usable = page.page_width - page.left_margin - page.right_margin
    widths = [int(usable * share / sum(_DOCX_WIDTHS)) for share in _DOCX_WIDTHS]
    document.styles["Normal"].font.size = Pt(10)
    if report.draft:
        # On every page, top and bottom: a printed page alone still says it is a draft.
        for part in (page.header, page.footer):
            paragraph = part.paragraphs[0]
            paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
            run = paragraph.add_run(xml_safe(report.draft))
            run.bold = True
            run.font.size = Pt(12)

    document.add_heading(xml_safe(report.heading), level=0)
    document.add_paragraph().add_run(xml_safe(report.title)).bold = True
    if report.draft:
        paragraph = document.add_paragraph()
        paragraph.add_run(xml_safe(report.draft)).bold = True
        for line in report.missing:
            document.add_paragraph(xml_safe(line), style="List Bullet")
    document.add_paragraph(xml_safe(report.legal_basis))
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
        # The table spans the page's width exactly, whatever the program that prints it.
        table_properties = table._tbl.tblPr
        table_width = OxmlElement("w:tblW")
        table_width.set(qn("w:w"), str(int(sum(widths) / 635)))  # EMU -> twentieths of a pt
        table_width.set(qn("w:type"), "dxa")
        for old in table_properties.findall(qn("w:tblW")):
            table_properties.remove(old)
        table_properties.append(table_width)
        layout = OxmlElement("w:tblLayout")
        layout.set(qn("w:type"), "fixed")
        table_properties.append(layout)
        for column, width in zip(table.columns, widths, strict=True):
            column.width = width  # the grid, which LibreOffice follows; Word reads the cells
        header = table.rows[0]
        # The header row repeats on every page the table runs over. No row has a fixed
        # height: each grows with its text.
        header_properties = header._tr.get_or_add_trPr()
        repeat = OxmlElement("w:tblHeader")
        repeat.set(qn("w:val"), "true")
        header_properties.append(repeat)
        for cell, title, width in zip(header.cells, report.columns, widths, strict=True):
            cell.width = width
            cell.paragraphs[0].add_run(xml_safe(title)).bold = True
        for entry in group.entries:
            cells = table.add_row().cells
            for cell, value, width in zip(cells, _values(entry), widths, strict=True):
                cell.width = width
                cell.text = xml_safe(value)

    document.add_paragraph()
    for role, name, when in report.signatures:
        paragraph = document.add_paragraph()
        paragraph.add_run(f"{xml_safe(role)}: ").bold = True
        paragraph.add_run(f"{xml_safe(name)}    {xml_safe(when)}")
    document.save(output)


def _values(entry: Entry) -> tuple[str, ...]:
    return (
        entry.number,
        entry.received,
        entry.channel,
        entry.kind,
        entry.text,
        entry.author,
        entry.decision,
        entry.reasons,
    )


# --------------------------------------------------------------------- XLSX

# Column widths (in characters) of the single table: section, then the entry's columns.
_XLSX_WIDTHS = (24, 11, 12, 11, 11, 60, 24, 15, 45)
# Points per line of 11-point text, and the cell's padding: openpyxl cannot ask the
# spreadsheet program to fit a row to its text, so the height is worked out here.
_LINE_POINTS = 15
_ROW_PADDING = 4


def row_height(values: Sequence[str | None], widths: Sequence[float]) -> float:
    """The height (points) a row of wrapped cells needs to show all of its text."""
    lines = 1
    for value, width in zip(values, widths, strict=False):
        if not value:
            continue
        # A little under one character per unit of width: wide letters and word breaks.
        per_line = max(1, int(width * 0.9))
        lines = max(
            lines, sum(max(1, math.ceil(len(part) / per_line)) for part in value.split("\n"))
        )
    return lines * _LINE_POINTS + _ROW_PADDING


def _xlsx(report: Report, output: BinaryIO) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    heading = xml_safe(report.heading)
    sheet.title = "".join(c for c in heading if c not in "[]:*?/\\")[:31] or "Report"
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    text_width = sum(_XLSX_WIDTHS[1:])  # the long texts above the table span its columns

    def add_line(values: list[str | None], *, font: Font | None = None) -> None:
        sheet.append(values)
        row = sheet.max_row
        for cell in sheet[row]:
            cell.alignment = wrap
            if font is not None:
                cell.font = font
        if len(values) == 2 and values[1]:
            sheet.merge_cells(start_row=row, start_column=2, end_row=row, end_column=9)
            sheet.row_dimensions[row].height = row_height(values, (_XLSX_WIDTHS[0], text_width))

    add_line([cell_text(report.heading)], font=Font(bold=True, size=14))
    add_line([cell_text(report.title)], font=bold)
    if report.draft:
        add_line([cell_text(report.draft), "\n".join(report.missing)], font=Font(bold=True))
    add_line([None, cell_text(report.legal_basis)])
    for label, value in report.facts:
        add_line([cell_text(label), cell_text(value)])
        sheet.cell(row=sheet.max_row, column=1).font = bold
    sheet.append([])
    sheet.append([report.section_column, *report.columns])
    header_row = sheet.max_row
    for cell in sheet[header_row]:
        cell.font = bold
        cell.alignment = wrap
    sheet.row_dimensions[header_row].height = row_height(
        [report.section_column, *report.columns], _XLSX_WIDTHS
    )
    for group in report.groups:
        for entry in group.entries:
            values = [cell_text(group.heading), *(cell_text(v) for v in _values(entry))]
            sheet.append([value or None for value in values])
            row = sheet.max_row
            for cell in sheet[row]:
                cell.alignment = wrap
            sheet.row_dimensions[row].height = row_height(values, _XLSX_WIDTHS)
    if not report.groups:
        sheet.append([cell_text(report.empty_note)])
    sheet.append([])
    for role, name, when in report.signatures:
        add_line([cell_text(role), cell_text(f"{name}    {when}")])
        sheet.cell(row=sheet.max_row, column=1).font = bold
    for index, width in enumerate(_XLSX_WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = sheet.cell(row=header_row + 1, column=1)
    # Printed: A4 landscape, one page wide (as many pages long as it takes), the table's
    # header on every page, and a draft says so at the top of each.
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_title_rows = f"{header_row}:{header_row}"
    sheet.print_options.gridLines = True
    if report.draft:
        sheet.oddHeader.center.text = report.draft
        sheet.oddHeader.center.size = 12
        sheet.oddHeader.center.font = "Arial,Bold"
    sheet.oddFooter.right.text = "&P / &N"
    workbook.save(output)


# --------------------------------------------------------------------- HTML

_HTML_STYLE = """
body { font-family: system-ui, "Segoe UI", Arial, sans-serif; margin: 1.5rem; color: #111;
  line-height: 1.4; }
h1 { font-size: 1.5rem; }
.draft { border: 3px solid #a00; background: #fff2f2; color: #700; padding: .5rem 1rem;
  font-weight: bold; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dl.facts dt { font-weight: bold; } dl.facts dd { margin: 0; }
table { border-collapse: collapse; width: 100%; margin-bottom: 1rem; }
caption { text-align: left; font-weight: bold; font-size: 1.2rem; padding: 1.5rem 0 .4rem; }
th, td { border: 1px solid #555; padding: .3rem .4rem; vertical-align: top; text-align: left;
  white-space: pre-wrap; overflow-wrap: break-word; }
td.text { min-width: 16em; width: 30%; } td.reasons { width: 22%; }
th { background: #e8e8e8; }
th[scope="row"], td.date { white-space: nowrap; }
.draft-mark { display: none; }
@page { size: A4 landscape; margin: 1.5cm 1.5cm 2cm; }
@media print {
  body { margin: 0; font-size: 10pt; }
  /* A fixed element is printed on every page: a page alone still says it is a draft. */
  .draft-mark { display: block; position: fixed; bottom: -1.2cm; left: 0; right: 0;
    text-align: center; font-weight: bold; color: #700; }
  thead { display: table-header-group; }
  tr { break-inside: avoid; }
}
"""


def _html(report: Report, output: BinaryIO) -> None:
    """One page with everything inside it (the municipal website may allow no other
    files): an inline style sheet, no scripts, fonts, images or links to load."""
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{e(report.language)}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e((report.draft + ' – ') if report.draft else '')}{e(report.title)}</title>",
        f"<style>{_HTML_STYLE}</style>",
        "</head>",
        "<body>",
    ]
    if report.draft:
        parts.append(f'<div class="draft" role="note"><p>{e(report.draft)}</p>')
        if report.missing:
            parts.append("<ul>" + "".join(f"<li>{e(line)}</li>" for line in report.missing))
            parts.append("</ul>")
        parts.append("</div>")
        parts.append(f'<div class="draft-mark" aria-hidden="true">{e(report.draft)}</div>')
    parts += [
        "<main>",
        f"<h1>{e(report.heading)}</h1>",
        f"<p><strong>{e(report.title)}</strong></p>",
        f"<p>{e(report.legal_basis)}</p>",
        '<dl class="facts">',
        *(f"<dt>{e(label)}</dt><dd>{e(value)}</dd>" for label, value in report.facts),
        "</dl>",
    ]
    if not report.groups:
        parts.append(f"<p>{e(report.empty_note)}</p>")
    head = "".join(f'<th scope="col">{e(title)}</th>' for title in report.columns)
    for group in report.groups:
        # The caption names the table for a screen reader and heads it on the page.
        parts += [
            f"<table><caption>{e(group.heading)}</caption>",
            f"<thead><tr>{head}</tr></thead><tbody>",
        ]
        for entry in group.entries:
            number, received, channel, kind, text, author, decision, reasons = _values(entry)
            parts.append(
                f'<tr><th scope="row">{e(number)}</th><td class="date">{e(received)}</td>'
                f"<td>{e(channel)}</td><td>{e(kind)}</td>"
                f'<td class="text">{e(text)}</td><td>{e(author)}</td>'
                f'<td>{e(decision)}</td><td class="reasons">{e(reasons)}</td></tr>'
            )
        parts.append("</tbody></table>")
    parts.append('<dl class="facts signatures">')
    parts += [
        f"<dt>{e(role)}</dt><dd>{e(name)} &#160; {e(when)}</dd>"
        for role, name, when in report.signatures
    ]
    parts += ["</dl>", "</main>", "</body>", "</html>", ""]
    output.write("\n".join(parts).encode("utf-8"))


__all__ = [
    "REPORT_FORMATS",
    "Readiness",
    "ReportFormat",
    "ReportPublished",
    "Review",
    "ReviewNotClean",
    "WithdrawnConsultation",
    "build_report",
    "checklist",
    "close_review",
    "consultation_report",
    "readiness",
    "report_filename",
    "review",
    "sign",
]
