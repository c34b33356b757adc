"""Exports, the consultation report and statistics, on SQLite and PostgreSQL.

Submissions are made through the real send path (bot.submissions.send), then given the
decisions staff would record. Each file is read back with the library a person's
program would use (csv, openpyxl, python-docx, json) and checked cell by cell.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import tracemalloc
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from docx import Document
from openpyxl import load_workbook
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.content import load_consultations, read_consultation_files
from bot.export import (
    ConsultationStats,
    ExportError,
    NoReport,
    SectionCount,
    UnknownConsultation,
    consultation_report,
    consultation_stats,
    csv_delimiter,
    export_submissions,
    neutralise,
    stats_chart,
    stats_text,
)
from bot.i18n import Catalogs, Translator
from bot.submissions import Draft, find_target, send
from storage.database import create_engine, create_session_factory
from storage.models import (
    Consultation,
    Resident,
    Section,
    Submission,
    SubmissionChannel,
    SubmissionKind,
    SubmissionStatus,
)
from storage.repositories import ConsultationRepository, ResidentRepository
from tests.conftest import EXAMPLES, SETTING_NAMES, migrate
from tests.processes import CIVICBOT

SLUG = "stara-zagora-pid-strategy"  # original language bg, Europe/Sofia (UTC+3 in June)
SENT = datetime(2024, 5, 31, 21, 30, tzinfo=UTC)  # 1 June 2024, 00:30 in Sofia
PROPOSAL_BG = "Предлагам коуъркинг пространство до гарата, отворено и вечер."
QUESTION_EN = "When will the industrial zone get a direct bus line from the centre?"
REJECTED_TEXT = "Да се построи летище в центъра на града."
SPAM_TEXT = "Купете евтини часовници!!! Най-добрите цени тук."
ANONYMOUS_NAME = "Ана Тайнова"  # her Telegram name: she sent anonymously
SIGNED_NAME = "Мария Иванова"
FORMULAS = ["=1+1", "+cmd|' /C calc'!A0", "-2", "@SUM(A1)", "\t=1+1", "\r=1+1"]
NO_LIMITS = Settings(submissions_per_hour=0, duplicate_window_minutes=0, messages_per_minute=0)


@pytest.fixture(scope="module")
def catalogs() -> Catalogs:
    return Catalogs.load()


@pytest.fixture
async def factory(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A migrated database with the example consultations loaded."""
    await migrate(database_url)
    engine = create_engine(database_url)
    session_factory = create_session_factory(engine)
    files = [item.consultation for item in read_consultation_files([EXAMPLES])]
    async with session_factory.begin() as session:
        await load_consultations(session, files)
    yield session_factory
    await engine.dispose()


_user_ids = iter(range(1000, 10**6))


async def submit(
    factory: async_sessionmaker[AsyncSession],
    text: str,
    *,
    slug: str | None = SLUG,
    section: str | None = None,
    kind: SubmissionKind = SubmissionKind.PROPOSAL,
    name: str = ANONYMOUS_NAME,
    signed: bool = False,
    attachments: list[dict[str, Any]] | None = None,
    at: datetime = SENT,
    status: SubmissionStatus = SubmissionStatus.RECEIVED,
    reason: str | None = None,
    answer: str | None = None,
    answered_by: str | None = None,
    answered_at: datetime | None = None,
    raw_text: str | None = None,
) -> Submission:
    """A resident sends through the real path; then staff record their decision."""
    async with factory.begin() as session:
        resident = await ResidentRepository(session).seen(next(_user_ids), None, "bg")
        consultation_id = section_id = None
        if slug is not None:
            consultation = await ConsultationRepository(session).by_slug(slug)
            assert consultation is not None
            consultation_id = consultation.id
            if section is not None:
                section_id = await session.scalar(
                    select(Section.id).where(
                        Section.consultation_id == consultation.id, Section.number == section
                    )
                )
        draft = Draft(
            kind=kind.value,
            consultation_id=consultation_id,
            section_id=section_id,
            text=text,
            attachments=attachments or [],
            signed=signed,
        )
        target = await find_target(session, draft)
        assert target is not None
        outcome = await send(
            session,
            resident,
            draft,
            target,
            author_name=name,
            language="bg",
            now=at,
            settings=NO_LIMITS,
        )
        submission = outcome.submission
        if raw_text is not None:  # what send() would strip: leading tabs and line breaks
            submission.text = raw_text
        submission.status = status
        submission.decision_reason = reason
        submission.answer = answer
        submission.answered_by = answered_by
        submission.answered_at = answered_at
        return submission


@dataclass
class Sample:
    accepted: Submission
    question: Submission
    rejected: Submission
    waiting: Submission
    spam: Submission
    partly: Submission
    general: Submission


@pytest.fixture
async def sample(factory: async_sessionmaker[AsyncSession]) -> Sample:
    accepted = await submit(
        factory,
        PROPOSAL_BG,
        section="3.1",
        name=SIGNED_NAME,
        signed=True,
        attachments=[
            {"type": "photo", "file_id": "p1", "file_unique_id": "u1"},
            {"type": "photo", "file_id": "p2", "file_unique_id": "u2"},
            {"type": "location", "latitude": 42.4258, "longitude": 25.6345},
        ],
        status=SubmissionStatus.ACCEPTED,
        answer="Благодарим, предложението е включено в т. 3.1.",
        answered_by="Община Стара Загора",
        answered_at=datetime(2024, 6, 3, 7, 0, tzinfo=UTC),
    )
    question = await submit(
        factory,
        QUESTION_EN,
        kind=SubmissionKind.QUESTION,
        at=datetime(2024, 6, 1, 9, 0, tzinfo=UTC),
        status=SubmissionStatus.ANSWERED,
        answer="Линията е предвидена за 2025 г.",
        answered_by="Иван Петров",
        answered_at=datetime(2024, 6, 2, 9, 0, tzinfo=UTC),
    )
    rejected = await submit(
        factory,
        REJECTED_TEXT,
        section="1",
        at=datetime(2024, 6, 1, 10, 0, tzinfo=UTC),
        status=SubmissionStatus.REJECTED,
        reason="Извън обхвата на стратегията.",
    )
    waiting = await submit(
        factory,
        "Още един коментар по анализа на текущото състояние.",
        section="3.1",
        at=datetime(2024, 6, 2, 10, 0, tzinfo=UTC),
    )
    spam = await submit(
        factory,
        SPAM_TEXT,
        section="2",
        at=datetime(2024, 6, 2, 11, 0, tzinfo=UTC),
        status=SubmissionStatus.SPAM,
    )
    partly = await submit(
        factory,
        "Обучения за малки фирми по дигитализация, два пъти годишно.",
        section="4",
        name="Petar Petrov",
        signed=True,
        at=datetime(2024, 6, 4, 8, 0, tzinfo=UTC),
        status=SubmissionStatus.PARTLY_ACCEPTED,
    )
    general = await submit(
        factory,
        "Кога ще бъде ремонтиран тротоарът на ул. Цар Симеон?",
        slug=None,
        kind=SubmissionKind.QUESTION,
        at=datetime(2024, 6, 1, 22, 30, tzinfo=UTC),
        attachments=[{"type": "document", "file_id": "d", "file_name": "снимка.pdf"}],
    )
    return Sample(accepted, question, rejected, waiting, spam, partly, general)


async def export(
    factory: async_sessionmaker[AsyncSession],
    fmt: str,
    tr: Translator,
    slug: str = SLUG,
) -> tuple[bytes, int]:
    output = io.BytesIO()
    written = await export_submissions(factory, slug, fmt, output, tr)  # type: ignore[arg-type]
    return output.getvalue(), written


def read_csv(data: bytes, tr: Translator) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "a byte order mark, for Excel"
    text = data.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=csv_delimiter(tr.locale)))


def header(tr: Translator, zone: str) -> list[str]:
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


# ---------------------------------------------------------------- exports


async def test_csv_export_cell_by_cell(factory, sample: Sample, catalogs: Catalogs) -> None:
    bg = catalogs.translator("bg")
    output = io.BytesIO()
    calls: list[tuple[int, int]] = []
    written = await export_submissions(
        factory, SLUG, "csv", output, bg, progress=lambda *done_total: calls.append(done_total)
    )
    data = output.getvalue()
    rows = read_csv(data, bg)
    assert written == 6 == len(rows) - 1, "every submission of the consultation, spam too"
    assert calls[0] == (0, 6) and calls[-1] == (6, 6)
    assert rows[0] == header(bg, "Europe/Sofia")
    assert rows[0][1] == "Изпратено (софийско време)"
    assert csv_delimiter("bg") == ";" and csv_delimiter("en") == ","

    by_number = {row[0]: row for row in rows[1:]}
    accepted = by_number[sample.accepted.public_number]
    assert accepted[1] == "2024-06-01 00:30", "local time in Sofia, not 21:30 UTC"
    assert accepted[2] == "предложение"
    assert accepted[3:6] == ["3.1", "Анализ на текущото състояние", PROPOSAL_BG]
    assert accepted[6] == (
        bg.plural("%(count)s photo", "%(count)s photos", 2)
        + ", "
        + bg.plural("%(count)s location", "%(count)s locations", 1)
        + " (42.42580, 25.63450)"
    )
    assert accepted[6].startswith("2 снимки, ")
    assert accepted[7] == SIGNED_NAME
    assert accepted[8] == "прието"
    assert accepted[9:13] == [
        "",
        "Благодарим, предложението е включено в т. 3.1.",
        "2024-06-03 10:00",
        "Община Стара Загора",
    ]
    # How it came, when, and on whose behalf: a resident's own, through the bot.
    assert accepted[13:] == [bg("Telegram"), "2024-06-01 00:30", bg("individual"), "", ""]

    question = by_number[sample.question.public_number]
    assert question[1] == "2024-06-01 12:00"
    assert question[2:6] == ["въпрос", "", "", QUESTION_EN]
    assert question[7] == bg("anonymous")
    assert ANONYMOUS_NAME not in data.decode("utf-8-sig"), "the resident chose anonymity"
    assert question[8] == "отговорено"

    rejected = by_number[sample.rejected.public_number]
    assert rejected[8:10] == ["неприето", "Извън обхвата на стратегията."]
    assert by_number[sample.waiting.public_number][8] == bg("not yet decided")
    assert by_number[sample.spam.public_number][8] == bg("spam")
    assert sample.general.public_number not in by_number

    sl = catalogs.translator("sl")  # the Stara Zagora file has no Slovenian titles
    sl_rows = read_csv((await export(factory, "csv", sl))[0], sl)
    accepted = next(row for row in sl_rows if row[0] == sample.accepted.public_number)
    assert accepted[4] == "Analysis of the current situation", "English, then the original"
    assert accepted[8] == "sprejeto"


async def test_xlsx_export_cell_by_cell(factory, sample: Sample, catalogs: Catalogs) -> None:
    en = catalogs.translator("en")
    data, written = await export(factory, "xlsx", en)
    sheet = load_workbook(io.BytesIO(data)).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert written == 6 == len(rows) - 1
    assert rows[0] == header(en, "Europe/Sofia")
    assert sheet.freeze_panes == "A2"

    accepted = next(row for row in rows if row[0] == sample.accepted.public_number)
    assert accepted[1] == datetime(2024, 6, 1, 0, 30), "a real date cell, local time"
    assert accepted[2:6] == ["proposal", "3.1", "Analysis of the current situation", PROPOSAL_BG]
    assert accepted[6] == "2 photos, 1 location (42.42580, 25.63450)"
    assert accepted[7:12] == [
        SIGNED_NAME,
        "accepted",
        None,
        "Благодарим, предложението е включено в т. 3.1.",
        datetime(2024, 6, 3, 10, 0),
    ]
    assert accepted[12] == "Община Стара Загора"

    question = next(row for row in rows if row[0] == sample.question.public_number)
    assert question[7:9] == ["anonymous", "answered"]
    partly = next(row for row in rows if row[0] == sample.partly.public_number)
    assert partly[3:5] == ["4", "Expected results"]
    assert partly[7:9] == ["Petar Petrov", "partly accepted"]


async def test_json_export_has_stable_keys_and_machine_values(
    factory, sample: Sample, catalogs: Catalogs
) -> None:
    data, written = await export(factory, "json", catalogs.translator("bg"))
    items = json.loads(data.decode("utf-8"))
    assert isinstance(items, list) and len(items) == written == 6
    assert PROPOSAL_BG.encode() in data, "Cyrillic as itself, not \\u escapes"
    accepted = next(item for item in items if item["number"] == sample.accepted.public_number)
    assert accepted == {
        "number": sample.accepted.public_number,
        "sent_at": "2024-06-01T00:30:00+03:00",
        "kind": "proposal",
        "section_number": "3.1",
        "section_title": "Анализ на текущото състояние",
        "text": PROPOSAL_BG,
        "attachments": [
            {"type": "photo", "file_id": "p1", "file_unique_id": "u1"},
            {"type": "photo", "file_id": "p2", "file_unique_id": "u2"},
            {"type": "location", "latitude": 42.4258, "longitude": 25.6345},
        ],
        "attachments_text": accepted["attachments_text"],
        "author": SIGNED_NAME,
        "anonymous": False,
        "status": "accepted",
        "status_label": "прието",
        "decision_reason": None,
        "answer": "Благодарим, предложението е включено в т. 3.1.",
        "answered_at": "2024-06-03T10:00:00+03:00",
        "answered_by": "Община Стара Загора",
        "channel": "telegram",
        "received_at": "2024-06-01T00:30:00+03:00",
        "stakeholder": "individual",
        "organisation": None,
        "registered_by": None,
    }
    question = next(item for item in items if item["number"] == sample.question.public_number)
    assert question["author"] is None and question["anonymous"] is True
    assert question["section_number"] is None and question["kind"] == "question"
    assert [item["number"] for item in items] == sorted(item["number"] for item in items)


async def test_the_general_channel_is_exported_as_general(
    factory, sample: Sample, catalogs: Catalogs
) -> None:
    en = catalogs.translator("en")
    data, written = await export(factory, "csv", en, slug="general")
    rows = read_csv(data, en)
    assert written == 1
    # No consultation: the municipality's zone (TIMEZONE, Sofia here), named as people do.
    assert rows[0][1] == "Sent (Sofia time)"
    assert rows[1][:3] == [sample.general.public_number, "2024-06-02 01:30", "question"]
    assert rows[1][6] == "1 document (снимка.pdf)"
    items = json.loads((await export(factory, "json", en, slug="general"))[0])
    assert [item["number"] for item in items] == [sample.general.public_number]


async def test_formulas_are_neutralised_in_spreadsheets_and_kept_in_json(
    factory, catalogs: Catalogs
) -> None:
    for formula in FORMULAS:
        await submit(
            factory,
            formula.strip(),
            raw_text=formula,
            name='=HYPERLINK("http://x")',
            signed=True,
            status=SubmissionStatus.REJECTED,
            reason="-1+1",
            answer="@A1",
            answered_by="+staff",
        )
    en = catalogs.translator("en")

    rows = read_csv((await export(factory, "csv", en))[0], en)[1:]
    assert [row[5] for row in rows] == ["'" + formula for formula in FORMULAS]
    for row in rows:
        assert row[7] == '\'=HYPERLINK("http://x")'
        assert row[9:11] == ["'-1+1", "'@A1"]
        assert row[12] == "'+staff"
        assert not row[0].startswith("'"), "numbers the bot writes are left alone"

    sheet = load_workbook(io.BytesIO((await export(factory, "xlsx", en))[0])).active
    cells = list(sheet.iter_rows(min_row=2))
    assert [row[5].value for row in cells] == ["'" + formula for formula in FORMULAS]
    assert all(row[5].data_type == "s" and row[7].data_type == "s" for row in cells)
    assert {row[7].value for row in cells} == {'\'=HYPERLINK("http://x")'}

    items = json.loads((await export(factory, "json", en))[0])
    assert [item["text"] for item in items] == FORMULAS, "JSON is data: kept verbatim"
    assert items[0]["author"] == '=HYPERLINK("http://x")'


async def test_control_characters_do_not_break_xlsx_or_docx(factory, catalogs: Catalogs) -> None:
    await submit(factory, "Текст\x01 с\x0b управляващи\x1f знаци.")
    data, _ = await export(factory, "xlsx", catalogs.translator("en"))
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet.cell(row=2, column=6).value == "Текст с управляващи знаци."
    output = io.BytesIO()
    await consultation_report(factory, SLUG, "docx", output, catalogs)
    assert "Текст с управляващи знаци." in docx_text(Document(io.BytesIO(output.getvalue())))


async def test_control_characters_in_names_and_titles_do_not_break_xlsx_or_docx(
    factory, catalogs: Catalogs
) -> None:
    # A document's file name comes from the sender's device, a title from a content
    # file ("\x07" is valid YAML in double quotes): XML, and so openpyxl, refuses both.
    await submit(
        factory,
        "Предложение с приложен файл.",
        name="Ана\x1b Тест",
        signed=True,
        attachments=[{"type": "document", "file_id": "d", "file_name": "план\x00\x01.pdf"}],
        answer="Отговор\x0c с форма.",
    )
    async with factory.begin() as session:
        consultation = await ConsultationRepository(session).by_slug(SLUG)
        assert consultation is not None
        consultation.title = {**consultation.title, "bg": "Стратегия\x07 2030"}
    en = catalogs.translator("en")

    data, _ = await export(factory, "xlsx", en)
    row = [cell.value for cell in load_workbook(io.BytesIO(data)).active[2]]
    assert "1 document (план.pdf)" in row
    assert "Ана Тест" in row and "Отговор с форма." in row

    for fmt in ("xlsx", "docx"):
        output = io.BytesIO()
        await consultation_report(factory, SLUG, fmt, output, catalogs)  # type: ignore[arg-type]
        assert output.getvalue()
    output = io.BytesIO()
    await consultation_report(factory, SLUG, "xlsx", output, catalogs)
    cells = [c.value for row in load_workbook(io.BytesIO(output.getvalue())).active for c in row]
    assert "Стратегия 2030" in cells


def test_neutralise_only_touches_formula_starts() -> None:
    assert neutralise("Нормален текст = добре") == "Нормален текст = добре"
    assert neutralise("=SUM(A1)") == "'=SUM(A1)"
    assert neutralise("") == "" and neutralise(None) == ""


# ---------------------------------------------------------------- the report


def docx_text(document: Any) -> str:
    parts = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts += [cell.text for cell in row.cells]
    return "\n".join(parts)


async def test_docx_report(factory, sample: Sample, catalogs: Catalogs) -> None:
    bg = catalogs.translator("bg")  # the consultation's original language
    output = io.BytesIO()
    await consultation_report(
        factory, SLUG, "docx", output, catalogs, now=datetime(2024, 6, 20, 9, tzinfo=UTC)
    )
    document = Document(io.BytesIO(output.getvalue()))
    text = docx_text(document)

    assert document.paragraphs[0].text == bg("Report on the proposals and questions received")
    assert "Стратегия за развитие на предприемачеството" in text
    assert "Община Стара Загора" in text
    assert (
        bg("from %(start)s to %(end)s", start="20 май 2024\u202fг.", end="19 юни 2024\u202fг.")
        in text
    )
    assert f"{bg('Proposals received')}: 4" in text
    assert f"{bg('Questions received')}: 1" in text
    assert f"{bg('Left out as spam')}: 1" in text

    headings = [p.text for p in document.paragraphs if p.style.name == "Heading 1"]
    assert headings == [
        "1. Цел на проекта",
        "3.1. Анализ на текущото състояние",
        "4. Очаквани резултати",
        bg("General remarks"),
    ], "plan order, only sections with submissions, general remarks last"
    assert len(document.tables) == 4

    cells = [[cell.text for cell in row.cells] for row in document.tables[0].rows]
    assert cells[0] == [
        bg("No."),
        bg("Received on"),
        bg("Channel"),
        bg("Kind"),
        bg("Proposal or question"),
        bg("Author"),
        bg("Decision"),
        bg("Reasons or answer"),
    ]
    assert cells[1] == [
        sample.rejected.public_number,
        "1 юни 2024\u202fг.",
        bg("Telegram"),
        "предложение",
        REJECTED_TEXT,
        bg("anonymous"),
        "неприето",
        "Извън обхвата на стратегията.",
    ]
    section_31 = [[cell.text for cell in row.cells] for row in document.tables[1].rows][1:]
    assert [row[0] for row in section_31] == [
        sample.accepted.public_number,
        sample.waiting.public_number,
    ]
    assert section_31[0][5] == SIGNED_NAME and section_31[0][6] == "прието"
    assert section_31[1][6] == bg("not yet decided")
    partly = [cell.text for cell in document.tables[2].rows[1].cells]
    assert partly[6] == "частично прието"
    assert partly[7] == bg("(reasons not given yet)"), "a missing reason is made visible"
    general = [cell.text for cell in document.tables[3].rows[1].cells]
    assert general[4] == QUESTION_EN and general[7] == "Линията е предвидена за 2025 г."

    assert SPAM_TEXT not in text, "spam is left out"
    assert ANONYMOUS_NAME not in text, "anonymous authors are not named"
    assert "Иван Петров" not in text, "nor is the staff member who answered"


async def test_xlsx_report(factory, sample: Sample, catalogs: Catalogs) -> None:
    bg = catalogs.translator("bg")
    output = io.BytesIO()
    await consultation_report(factory, SLUG, "xlsx", output, catalogs)
    sheet = load_workbook(io.BytesIO(output.getvalue())).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0][0] == bg("Report on the proposals and questions received")
    header_index = next(i for i, row in enumerate(rows) if row[0] == bg("Section"))
    table = rows[header_index + 1 : rows.index([None] * len(rows[header_index]), header_index)]
    assert [row[1] for row in table] == [
        sample.rejected.public_number,
        sample.accepted.public_number,
        sample.waiting.public_number,
        sample.partly.public_number,
        sample.question.public_number,
    ]
    assert table[0][0] == "1. Цел на проекта"
    assert table[0][6:9] == [bg("anonymous"), "неприето", "Извън обхвата на стратегията."]
    assert table[1][6] == SIGNED_NAME
    assert table[-1][0] == bg("General remarks")
    flat = " ".join(str(value) for row in rows for value in row if value is not None)
    assert SPAM_TEXT not in flat and ANONYMOUS_NAME not in flat


async def test_an_empty_consultation(factory, catalogs: Catalogs) -> None:
    en = catalogs.translator("en")
    data, written = await export(factory, "json", en, slug="kazanlak-ipd-2021-2027")
    assert written == 0 and json.loads(data) == []
    data, _ = await export(factory, "xlsx", en, slug="kazanlak-ipd-2021-2027")
    assert load_workbook(io.BytesIO(data)).active.max_row == 1, "the header alone"

    output = io.BytesIO()
    await consultation_report(factory, "kranj-vprasaj-predlagaj", "docx", output, catalogs)
    text = docx_text(Document(io.BytesIO(output.getvalue())))
    sl = catalogs.translator("sl")  # Kranj's channel is in Slovenian
    assert sl("No proposals or questions were received.") in text
    assert sl("open since %(start)s", start="1. januar 2024") in text


async def test_slugs_that_name_nothing_or_too_much(factory, catalogs: Catalogs) -> None:
    en = catalogs.translator("en")
    output = io.BytesIO()
    with pytest.raises(UnknownConsultation) as raised:
        await export_submissions(factory, "no-such-thing", "csv", output, en)
    assert "no-such-thing" in str(raised.value)
    assert output.getvalue() == b"", "nothing written"
    with pytest.raises(UnknownConsultation):
        await consultation_report(factory, "nope", "xlsx", io.BytesIO(), catalogs)
    with pytest.raises(UnknownConsultation):
        async with factory() as session:
            await consultation_stats(session, "nope", home_zone="Europe/Sofia")
    with pytest.raises(NoReport):
        await consultation_report(factory, "general", "docx", io.BytesIO(), catalogs)

    # A consultation file may call itself "general" (bot/content.py allows the slug):
    # then "general" is refused as ambiguous rather than guessed.
    async with factory.begin() as session:
        consultation = await ConsultationRepository(session).by_slug("kazanlak-ipd-2021-2027")
        assert consultation is not None
        consultation.slug = "general"
    with pytest.raises(ExportError, match="general"):
        await export_submissions(factory, "general", "csv", io.BytesIO(), en)


# ---------------------------------------------------------------- statistics


async def test_stats(factory, sample: Sample, catalogs: Catalogs) -> None:
    async with factory() as session:
        stats = await consultation_stats(session, SLUG, home_zone="Europe/Sofia")
    assert stats.total == 5 and stats.spam == 1
    assert stats.by_kind == {SubmissionKind.PROPOSAL: 4, SubmissionKind.QUESTION: 1}
    assert stats.by_status == {
        SubmissionStatus.RECEIVED: 1,
        SubmissionStatus.ANSWERED: 1,
        SubmissionStatus.ACCEPTED: 1,
        SubmissionStatus.PARTLY_ACCEPTED: 1,
        SubmissionStatus.REJECTED: 1,
        SubmissionStatus.SPAM: 1,
    }
    assert [(item.number, item.count) for item in stats.by_section] == [
        ("1", 1),
        ("3.1", 2),
        ("4", 1),
        (None, 1),
    ]
    # Sofia days: 31 May 21:30 UTC is 1 June; nothing on 3 June; spam (2 June) not counted.
    assert stats.per_day == [
        (date(2024, 6, 1), 3),
        (date(2024, 6, 2), 1),
        (date(2024, 6, 3), 0),
        (date(2024, 6, 4), 1),
    ]

    en = catalogs.translator("en")
    text = stats_text(stats, en)
    assert "Received: 5 (proposals: 4, questions: 1)" in text
    assert "3.1. Analysis of the current situation: 2" in text
    assert "Busiest day: 1 June 2024 (3)" in text
    assert len(text) < 4096

    chart = stats_chart(stats, catalogs.translator("bg"))
    assert chart.startswith(b"\x89PNG\r\n\x1a\n") and len(chart) > 1000

    async with factory() as session:
        general = await consultation_stats(session, "general", home_zone="Europe/Ljubljana")
    assert general.total == 1 and general.timezone == "Europe/Ljubljana", "the municipality's"
    assert general.per_day == [(date(2024, 6, 2), 1)], "22:30 UTC is past midnight there"
    assert stats_chart(general, en).startswith(b"\x89PNG")


async def test_a_letter_counts_on_the_day_it_was_received(factory, sample: Sample) -> None:
    letter = await submit(factory, "Предложение, получено с писмо на 3 юни.", at=SENT)
    async with factory.begin() as session:
        await session.execute(
            update(Submission)
            .where(Submission.id == letter.id)
            .values(
                channel=SubmissionChannel.LETTER,
                received_at=datetime(2024, 6, 3, 9, tzinfo=UTC),
                created_at=datetime(2024, 6, 20, 9, tzinfo=UTC),  # registered weeks later
            )
        )
        stats = await consultation_stats(session, SLUG, home_zone="Europe/Sofia")
    assert (date(2024, 6, 3), 1) in stats.per_day and stats.per_day[-1][0] == date(2024, 6, 4)


def test_stats_text_escapes_and_stays_short(catalogs: Catalogs) -> None:
    sections = [
        SectionCount(str(n), {"en": f"<b>Section</b> & {'long ' * 40}"}, n) for n in range(1, 60)
    ]
    stats = ConsultationStats(
        slug="x",
        title={"en": "Roads <script> & parks"},
        original_language="en",
        timezone="Europe/Ljubljana",
        total=1770,
        spam=0,
        by_kind={SubmissionKind.PROPOSAL: 1770, SubmissionKind.QUESTION: 0},
        by_status={SubmissionStatus.RECEIVED: 1770},
        by_section=sections,
        per_day=[(date(2024, 1, 1) + timedelta(days=n), n % 7) for n in range(120)],
    )
    en = catalogs.translator("en")
    text = stats_text(stats, en)
    assert "Roads &lt;script&gt; &amp; parks" in text
    assert "<script>" not in text and "&lt;b&gt;Section&lt;/b&gt;" in text
    assert "… and 44 more sections" in text
    assert len(text) < 4096
    empty = ConsultationStats("y", {}, "en", "UTC", 0, 0, {}, {}, [], [])
    assert stats_chart(empty, en).startswith(b"\x89PNG")
    assert stats_chart(stats, catalogs.translator("sl")).startswith(b"\x89PNG")


# ---------------------------------------------------------------- the command


def command_environment(database_url: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in SETTING_NAMES}
    env["DATABASE_URL"] = database_url
    return env


async def civicbot(database_url: str, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        CIVICBOT,
        *args,
        env=command_environment(database_url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_the_export_and_report_commands(
    factory, sample: Sample, database_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    os.mkdir(out)
    csv_path = out / "export.csv"
    code, stdout, stderr = await civicbot(
        database_url,
        "export",
        "--consultation",
        SLUG,
        "--format",
        "csv",
        "--output",
        str(csv_path),
        "--language",
        "bg",
    )
    assert (code, stderr) == (0, "")
    assert stdout == f"Експортирани са 6 записа в {csv_path}.\n"  # in its language, plural
    rows = list(csv.reader(io.StringIO(csv_path.read_text("utf-8-sig")), delimiter=";"))
    assert len(rows) == 7 and PROPOSAL_BG in {row[5] for row in rows}

    docx_path = out / "справка.docx"
    code, _, stderr = await civicbot(
        database_url,
        "report",
        "--consultation",
        SLUG,
        "--format",
        "docx",
        "--output",
        str(docx_path),
    )
    assert (code, stderr) == (0, "")
    assert REJECTED_TEXT in docx_text(Document(str(docx_path)))
    assert sorted(os.listdir(out)) == ["export.csv", "справка.docx"], "no partial files"


async def test_an_unknown_slug_is_one_line_and_exit_1(
    factory, database_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    os.mkdir(out)
    for command, fmt in (("export", "csv"), ("report", "docx")):
        code, stdout, stderr = await civicbot(
            database_url,
            command,
            "--consultation",
            "nope",
            "--format",
            fmt,
            "--output",
            str(out / f"out.{fmt}"),
        )
        assert code == 1, command
        assert stderr.count("\n") == 1 and stderr.startswith("civicbot: ") and "nope" in stderr
        assert "Traceback" not in stderr and stdout == ""
    assert os.listdir(out) == [], "no file, not even a partial one"


# ---------------------------------------------------------------- streaming

ROWS = 10_000


async def bulk_submissions(factory: async_sessionmaker[AsyncSession], count: int) -> None:
    """Many submissions at once (a Core executemany: the send path is one per person)."""
    async with factory.begin() as session:
        consultation = await session.scalar(select(Consultation).where(Consultation.slug == SLUG))
        sections = list(
            await session.scalars(select(Section).where(Section.consultation_id == consultation.id))
        )
        resident = Resident(telegram_user_id=999)
        session.add(resident)
        await session.flush()
        start = datetime(2024, 5, 20, 6, tzinfo=UTC)
        connection = await session.connection()
        for first in range(0, count, 5000):
            await connection.execute(
                insert(Submission.__table__),
                [
                    {
                        "public_number": f"2024-{n:06d}",
                        "draft_key": f"bulk-{n}",
                        "consultation_id": consultation.id,
                        "section_id": sections[n % len(sections)].id,
                        "section_number": sections[n % len(sections)].number,
                        "resident_id": resident.id,
                        "kind": SubmissionKind.PROPOSAL if n % 3 else SubmissionKind.QUESTION,
                        "text": f"Предложение номер {n}: " + "по-добър градски транспорт " * 8,
                        "text_digest": f"{n:064d}",
                        "attachments": [{"type": "photo", "file_id": f"f{n}"}] if n % 4 else [],
                        "author_name": None if n % 2 else f"Жител {n}",
                        "language": "bg",
                        "status": SubmissionStatus.RECEIVED,
                        "created_at": start + timedelta(minutes=n),
                        "updated_at": start + timedelta(minutes=n),
                    }
                    for n in range(first, min(first + 5000, count))
                ],
            )


class Discard(io.RawIOBase):
    """An output that keeps nothing, so only the export's own memory is measured."""

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return len(data)


async def peak_of(work: Any) -> int:
    tracemalloc.start()
    try:
        await work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def test_exports_stream_instead_of_loading_everything(
    factory, catalogs: Catalogs, database_url: str
) -> None:
    await bulk_submissions(factory, ROWS)
    en = catalogs.translator("en")

    async def load_all() -> None:  # the baseline: what holding every row would take
        async with factory() as session:
            rows = (await session.scalars(select(Submission))).all()
            assert len(rows) == ROWS

    async def export_csv() -> None:
        assert await export_submissions(factory, SLUG, "csv", Discard(), en) == ROWS

    async def export_xlsx() -> None:
        assert await export_submissions(factory, SLUG, "xlsx", Discard(), en) == ROWS

    baseline = await peak_of(load_all)
    csv_peak = await peak_of(export_csv)
    assert csv_peak < baseline / 5, (csv_peak, baseline)
    if database_url.startswith("sqlite"):
        # The workbook streams (or not) whatever the database; CSV has shown the cursor
        # streams on each. Once is enough: openpyxl is slow under tracemalloc.
        xlsx_peak = await peak_of(export_xlsx)
        assert xlsx_peak < baseline / 5, (xlsx_peak, baseline)
