"""The report ("справка") ready to publish: what keeps it a draft, what it says, how it
prints (DOCX, XLSX) and the self-contained HTML page for the municipal website, read
back with python-docx, openpyxl, an HTML parser and headless Chromium."""
# ruff: noqa: F811 (the fixtures of tests/test_export.py, imported, are parameters here)

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from docx import Document
from docx.enum.section import WD_ORIENT
from docx.oxml.ns import qn
from openpyxl import load_workbook
from sqlalchemy import update

from bot.export import UnknownConsultation
from bot.export.report import (
    WithdrawnConsultation,
    consultation_report,
    readiness,
    report_filename,
    report_scope,
    row_height,
)
from storage.models import (
    Consultation,
    ConsultationStatus,
    StakeholderKind,
    Submission,
    SubmissionChannel,
    SubmissionKind,
    SubmissionStatus,
)
from storage.repositories import ReportRepository
from tests.processes import CIVICBOT
from tests.servers import unavailable
from tests.test_export import (  # noqa: F401 (fixtures)
    PROPOSAL_BG,
    QUESTION_EN,
    SIGNED_NAME,
    SLUG,
    Sample,
    catalogs,
    command_environment,
    docx_text,
    factory,
    sample,
    submit,
)

DURING = datetime(2024, 6, 10, 9, tzinfo=UTC)  # the consultation is open until 19 June
AFTER = datetime(2024, 6, 25, 9, tzinfo=UTC)
LONG_TEXT = "Дълго предложение за подобряване на градската среда и транспорта. " * 30


async def _readiness(factory, now: datetime, slug: str = SLUG):
    async with factory() as session:
        return await readiness(session, await report_scope(session, slug), now)


async def _close_review(factory, slug: str = SLUG, now: datetime = AFTER) -> None:
    async with factory.begin() as session:
        scope = await report_scope(session, slug)
        await ReportRepository(session).close_review(scope.consultation.id, "Мария", now)


async def _settle_everything(factory) -> None:
    """Staff decide every proposal with reasons and answer every question."""
    async with factory.begin() as session:
        await session.execute(
            update(Submission)
            .where(
                Submission.kind == SubmissionKind.PROPOSAL,
                Submission.status != SubmissionStatus.SPAM,
            )
            .values(status=SubmissionStatus.ACCEPTED, decision_reason="Включено в плана.")
        )
        await session.execute(
            update(Submission)
            .where(
                Submission.kind == SubmissionKind.QUESTION,
                Submission.status == SubmissionStatus.RECEIVED,
            )
            .values(status=SubmissionStatus.ANSWERED, answer="През септември.")
        )


async def _report(factory, catalogs, fmt: str, now: datetime = AFTER, slug: str = SLUG):
    output = io.BytesIO()
    ready = await consultation_report(factory, slug, fmt, output, catalogs, now=now)  # type: ignore[arg-type]
    return output.getvalue(), ready


# ---------------------------------------------------------------- readiness


async def test_readiness_counts_what_is_missing(factory, sample: Sample) -> None:
    # An answered proposal is no decision: it counts as undecided, like a waiting one.
    await submit(
        factory,
        "Само отговорено предложение за парковете.",
        status=SubmissionStatus.ANSWERED,
        answer="Благодарим!",
    )
    await submit(factory, "Кога?  Въпрос без отговор.", kind=SubmissionKind.QUESTION)
    ready = await _readiness(factory, DURING)
    assert ready.open and ready.closes_at is not None
    assert ready.undecided == 2, "the waiting one and the answered one"
    # The partly accepted one lacks its reasons; the accepted one needs none (the law
    # asks reasons for what was not accepted).
    assert ready.without_reasons == 1
    assert ready.unanswered == 1
    assert ready.review_closed_at is None and not ready.final

    later = await _readiness(factory, AFTER)
    assert not later.open and not later.final

    await _settle_everything(factory)
    settled = await _readiness(factory, AFTER)
    assert (settled.undecided, settled.without_reasons, settled.unanswered) == (0, 0, 0)
    assert settled.clean and not settled.final, "the review is not closed yet"
    await _close_review(factory)
    closed = await _readiness(factory, AFTER)
    assert closed.final and closed.review_closed_by == "Мария"
    assert not (await _readiness(factory, DURING)).final, "never while the consultation is open"


async def test_unknown_and_withdrawn_consultations_have_no_report(factory, catalogs) -> None:
    with pytest.raises(UnknownConsultation):
        await _report(factory, catalogs, "html", slug="nope")
    async with factory.begin() as session:
        await session.execute(
            update(Consultation)
            .where(Consultation.slug == SLUG)
            .values(status=ConsultationStatus.WITHDRAWN)
        )
    with pytest.raises(WithdrawnConsultation, match="withdrawn"):
        await _report(factory, catalogs, "docx")


# ---------------------------------------------------------------- content and draft mark


async def test_a_draft_says_so_on_every_page_and_in_its_name(factory, sample, catalogs) -> None:
    bg = catalogs.translator("bg")
    draft = bg("DRAFT – not final")
    assert draft != "DRAFT – not final", "translated"

    data, ready = await _report(factory, catalogs, "docx", now=DURING)
    assert report_filename(SLUG, "docx", ready) == f"{SLUG}-report-DRAFT.docx"
    section = Document(io.BytesIO(data)).sections[0]
    assert draft in section.header.paragraphs[0].text
    assert draft in section.footer.paragraphs[0].text
    text = docx_text(Document(io.BytesIO(data)))
    assert bg("The review has not been closed yet.") in text
    assert "1 предложение" in text or "1 предложения" in text  # the waiting proposal

    data, _ = await _report(factory, catalogs, "xlsx", now=DURING)
    sheet = load_workbook(io.BytesIO(data)).active
    assert draft in sheet.oddHeader.center.text

    data, _ = await _report(factory, catalogs, "html", now=DURING)
    page = data.decode()
    assert 'class="draft"' in page and draft in page

    # Settled, closed and reviewed: final, with no mark anywhere.
    await _settle_everything(factory)
    await _close_review(factory)
    data, ready = await _report(factory, catalogs, "docx")
    assert ready.final and report_filename(SLUG, "docx", ready) == f"{SLUG}-report.docx"
    document = Document(io.BytesIO(data))
    assert draft not in document.sections[0].header.paragraphs[0].text
    assert draft not in docx_text(document)
    data, _ = await _report(factory, catalogs, "html")
    assert draft not in data.decode() and 'class="draft"' not in data.decode()


async def test_the_report_says_what_the_law_asks(factory, sample: Sample, catalogs) -> None:
    bg = catalogs.translator("bg")
    letter = await submit(
        factory,
        "Предложение, получено с писмо: велоалея по бул. Руски.",
        section="4",
        name="Сдружение Зелен град",
        signed=True,
        at=datetime(2024, 6, 5, 8, tzinfo=UTC),
        status=SubmissionStatus.ANSWERED,
        answer="Ще бъде обсъдено.",
    )
    unsigned = await submit(factory, "Предложение на фирма, без подпис.", section="4")
    async with factory.begin() as session:
        await session.execute(
            update(Submission)
            .where(Submission.id == letter.id)
            .values(
                channel=SubmissionChannel.LETTER,
                received_at=datetime(2024, 6, 3, 8, tzinfo=UTC),
                stakeholder=StakeholderKind.NGO,
                organisation_name="Сдружение „Зелен град“",
            )
        )
        # Staff registered an e-mail from an organisation no person signed: the
        # organisation is named all the same (it is public; a person may not be).
        await session.execute(
            update(Submission)
            .where(Submission.id == unsigned.id)
            .values(
                channel=SubmissionChannel.EMAIL,
                stakeholder=StakeholderKind.BUSINESS,
                organisation_name="Тракия Текстил ООД",
            )
        )
        scope = await report_scope(session, SLUG)
        repository = ReportRepository(session)
        await repository.set_prepared(scope.consultation.id, "Иван Петров")
        await repository.set_approved(
            scope.consultation.id, "Мария Иванова", datetime(2024, 6, 24, 9, tzinfo=UTC)
        )
    data, _ = await _report(factory, catalogs, "docx")
    document = Document(io.BytesIO(data))
    text = docx_text(document)
    assert "чл. 26, ал. 5 от Закона за нормативните актове" in text
    rows = [[c.text for c in row.cells] for table in document.tables for row in table.rows]
    [row] = [r for r in rows if r[0] == letter.public_number]
    assert row[1] == "3 юни 2024\u202fг.", "the date it was received"
    assert row[2] == bg("letter")
    assert "Сдружение „Зелен град“" in row[5] and bg("NGO") in row[5]
    assert row[6] == bg("not yet decided"), "answered is no decision"
    [row] = [r for r in rows if r[0] == unsigned.public_number]
    assert row[5] == f"{bg('business')}: Тракия Текстил ООД"
    assert "отговорено" not in {r[6] for r in rows if r[3] == "предложение"}
    facts = {p.split(": ", 1)[0]: p.split(": ", 1)[1] for p in text.split("\n") if ": " in p}
    assert facts[bg("By channel")] == f"Telegram: 5; {bg('e-mail')}: 1; {bg('letter')}: 1", facts
    assert bg("Decisions on proposals") in text
    assert facts[bg("Received in total")] == "7"
    assert f"{bg('Prepared by')}: Иван Петров" in text
    assert f"{bg('Approved by')}: Мария Иванова    24 юни 2024\u202fг." in text


async def test_a_report_in_english_has_a_neutral_legal_basis(factory, catalogs) -> None:
    async with factory.begin() as session:
        await session.execute(
            update(Consultation).where(Consultation.slug == SLUG).values(original_language="en")
        )
    await submit(factory, "A proposal <b>with</b> & markup", section="4")
    data, _ = await _report(factory, catalogs, "html", now=DURING)
    page = data.decode()
    assert '<html lang="en">' in page
    assert "This report lists every proposal and question received" in page
    assert "Article 26" not in page
    assert "A proposal &lt;b&gt;with&lt;/b&gt; &amp; markup" in page
    assert "DRAFT – not final" in page and "The consultation is open until" in page


# ---------------------------------------------------------------- print setup


async def test_docx_prints_on_a4_landscape_with_growing_rows(factory, sample, catalogs) -> None:
    await submit(factory, LONG_TEXT, section="4")
    data, _ = await _report(factory, catalogs, "docx")
    document = Document(io.BytesIO(data))
    section = document.sections[0]
    assert section.orientation == WD_ORIENT.LANDSCAPE
    assert round(section.page_width.cm, 1) == 29.7 and round(section.page_height.cm, 1) == 21.0
    usable = section.page_width - section.left_margin - section.right_margin
    for table in document.tables:
        header = table.rows[0]._tr.trPr
        assert header is not None
        repeat = header.find(qn("w:tblHeader"))
        assert repeat is not None and repeat.get(qn("w:val")) in ("true", "1")
        for row in table.rows:
            properties = row._tr.trPr
            height = properties.find(qn("w:trHeight")) if properties is not None else None
            assert height is None or height.get(qn("w:hRule")) != "exact", "rows grow"
            if properties is not None:
                assert properties.find(qn("w:cantSplit")) is None
        grid = sum(column.width for column in table.columns)
        assert abs(grid - usable) < 0.01 * usable, "the table spans the page's width"
        layout = table._tbl.tblPr.find(qn("w:tblLayout"))
        assert layout is not None and layout.get(qn("w:type")) == "fixed"
    assert LONG_TEXT.strip() in docx_text(document)


async def test_xlsx_prints_one_page_wide_with_rows_that_fit(factory, sample, catalogs) -> None:
    await submit(factory, LONG_TEXT, section="4")
    data, _ = await _report(factory, catalogs, "xlsx")
    sheet = load_workbook(io.BytesIO(data)).active
    setup = sheet.page_setup
    assert setup.orientation == "landscape" and int(setup.paperSize) == int(sheet.PAPERSIZE_A4)
    assert int(setup.fitToWidth) == 1 and int(setup.fitToHeight) == 0
    assert sheet.sheet_properties.pageSetUpPr.fitToPage
    header_row = int(sheet.print_title_rows.split(":")[0].lstrip("$"))
    assert sheet.cell(row=header_row, column=2).value == "№"
    long_row = next(
        row for row in sheet.iter_rows(min_row=header_row + 1) if row[5].value == LONG_TEXT.strip()
    )
    index = long_row[0].row
    width = sheet.column_dimensions["F"].width
    lines = -(-len(LONG_TEXT.strip()) // int(width))  # at least this many lines of text
    assert sheet.row_dimensions[index].height >= lines * 15, "the row fits its text"
    assert all(cell.alignment.wrap_text for cell in long_row)
    short = sheet.row_dimensions[header_row + 1].height
    assert short is not None and short < sheet.row_dimensions[index].height
    for row in sheet.iter_rows(min_row=header_row + 1, max_row=sheet.max_row):
        if row[1].value:  # an entry: every one has a height worked out for its text
            assert sheet.row_dimensions[row[0].row].height is not None


def test_row_height_grows_with_text_and_line_breaks() -> None:
    assert row_height(["short"], [20]) == row_height([""], [20])
    assert row_height(["x" * 100], [20]) > row_height(["x" * 10], [20])
    assert row_height(["a\nb\nc"], [50]) >= 3 * 15


# ---------------------------------------------------------------- the HTML page


class _Page(HTMLParser):
    """Every tag with its attributes, and the text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data) -> None:
        self.text.append(data)


async def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, check=True
    )


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


async def test_the_html_page_is_self_contained_and_accessible(
    factory, sample: Sample, catalogs, tmp_path: Path
) -> None:
    bg = catalogs.translator("bg")
    await submit(factory, '<script>alert("x")</script> <img src="http://evil/x.png">', section="4")
    data, _ = await _report(factory, catalogs, "html", now=DURING)
    page = _Page()
    page.feed(data.decode("utf-8"))
    tags = [tag for tag, _ in page.tags]
    assert page.tags[0] == ("html", {"lang": "bg"})
    assert "script" not in tags and "img" not in tags and "link" not in tags, "text escaped"
    for tag, attrs in page.tags:
        for name in ("src", "href", "srcset", "data"):
            value = attrs.get(name) or ""
            assert not value.startswith(("http:", "https:", "//")), (tag, name, value)
    assert "url(" not in data.decode() and "@import" not in data.decode()
    assert tags.count("table") == tags.count("caption") == 4
    headers = [attrs for tag, attrs in page.tags if tag == "th" and attrs.get("scope") == "col"]
    assert len(headers) == 4 * 8
    assert "<title>" in data.decode() and "<h1>" in data.decode()
    text = "".join(page.text)
    assert PROPOSAL_BG in text and QUESTION_EN in text and SIGNED_NAME in text
    assert '<script>alert("x")</script>' in text, "shown as text"

    chromium = _chromium()
    if chromium is None:
        unavailable("chromium is not installed (apt-get install chromium poppler-utils)")
    source = tmp_path / "справка.html"
    source.write_bytes(data)
    screenshot, pdf = tmp_path / "report.png", tmp_path / "report.pdf"
    common = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
    common += [f"--user-data-dir={tmp_path / 'profile'}", "--disable-dev-shm-usage"]
    for extra in (
        [f"--screenshot={screenshot}", "--window-size=1280,1600"],
        [f"--print-to-pdf={pdf}", "--no-pdf-header-footer"],
    ):
        process = await asyncio.create_subprocess_exec(
            *common,
            *extra,
            source.as_uri(),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await asyncio.wait_for(process.wait(), 120)
    assert screenshot.stat().st_size > 10_000, "a screenshot, kept in tmp_path"
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if shutil.which("pdftotext") is None:
        unavailable("pdftotext is not installed (apt-get install poppler-utils)")
    printed = (await _run("pdftotext", "-layout", str(pdf), "-")).stdout
    pages = printed.split("\f")[:-1]  # pdftotext ends every page with a form feed
    assert len(pages) >= 2
    assert all(bg("DRAFT – not final") in page for page in pages), "on every printed page"
    assert bg("Report on the proposals and questions received") in printed
    assert "Стратегия за развитие на предприемачеството" in printed
    assert sample.rejected.public_number in printed and "неприето" in printed
    assert '<script>alert("x")</script>' in printed
    info = (await _run("pdfinfo", str(pdf))).stdout
    size = next(line for line in info.splitlines() if line.startswith("Page size"))
    width, height = (float(n) for n in size.split()[2:5:2])
    assert width > height and abs(width - 841.9) < 2, f"A4 landscape: {size}"


# ---------------------------------------------------------------- the command


async def civicbot(database_url: str, *args: str, cwd: Path | None = None):
    process = await asyncio.create_subprocess_exec(
        CIVICBOT,
        *args,
        env=command_environment(database_url),
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, stdout.decode(), stderr.decode()


async def test_the_report_command_writes_html_docx_xlsx(
    factory, sample: Sample, database_url: str, tmp_path: Path
) -> None:
    for fmt in ("html", "docx", "xlsx"):
        target = tmp_path / f"справка.{fmt}"
        code, stdout, stderr = await civicbot(
            database_url, "report", SLUG, "--format", fmt, "--output", str(target)
        )
        assert (code, stderr) == (0, ""), stderr
        assert "DRAFT" in stdout and str(target) in stdout
        assert target.stat().st_size > 1000
    assert "<table>" in (tmp_path / "справка.html").read_text("utf-8")
    # Without --output: a file in the current folder, named a draft.
    code, stdout, stderr = await civicbot(
        database_url, "report", SLUG, "--format", "html", cwd=tmp_path
    )
    assert (code, stderr) == (0, ""), stderr
    assert (tmp_path / f"{SLUG}-report-DRAFT.html").exists()
    # Bad input: one line, exit 1.
    code, stdout, stderr = await civicbot(database_url, "report", "nope", "--format", "html")
    assert code == 1 and stderr.startswith("civicbot: ") and stderr.count("\n") == 1
