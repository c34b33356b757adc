"""`civicbot content import FILE`, the real process: a document becomes a consultation
file whose unknown fields `content load` names one by one; filled in, it loads, on
SQLite and PostgreSQL, to the document's tree. Every bad document is one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from bot.content_yaml import to_yaml
from storage.database import create_engine, create_session_factory
from storage.models import Consultation, Section
from tests import documents
from tests.documents import GERMAN, KAZANLAK, KAZANLAK_TREE, UNSTRUCTURED
from tests.test_content import _civicbot, _cli_env


async def test_import_then_fill_in_then_load(tmp_path: Path, database_url: str) -> None:
    env = _cli_env(database_url)
    if not database_url.startswith("sqlite"):
        upgraded = await _civicbot("db", "upgrade", cwd=tmp_path, env=env)
        assert upgraded.returncode == 0, upgraded.stderr
    (tmp_path / "ПИРО Казанлък.docx").write_bytes(documents.to_docx(KAZANLAK))

    imported = await _civicbot("content", "import", "ПИРО Казанлък.docx", cwd=tmp_path, env=env)

    assert imported.returncode == 0, imported.stderr
    lines = imported.stdout.splitlines()
    assert lines[0] == (
        "found: DOCX in bg, “План за интегрирано развитие на Община Казанлък 2021–2027”, "
        "9 sections (3 at the top), 2 notes"
    )
    for number, title in KAZANLAK_TREE:
        assert f"{'  ' * number.count('.')}  {number} {title}" in lines
    assert "note: section 1.1: a table kept as text: 2x2" in lines
    assert "note: section 2: an image left out: Карта на общината" in lines
    written = tmp_path / "piro-kazanlak.yaml"  # the slug: the name, transliterated
    assert lines[-1] == (
        f"written: {written.name}; fill in opens_at, closes_at, organizer, contact, then: "
        f"civicbot content load {written.name}"
    )
    text = written.read_text(encoding="utf-8")
    assert "# FILL IN: who runs the consultation" in text

    unfilled = await _civicbot("content", "load", written.name, cwd=tmp_path, env=env)
    assert unfilled.returncode == 1
    assert unfilled.stderr.splitlines() == [
        "civicbot: nothing was loaded:",
        f"  {written.name}: opens_at: still to be filled in",
        f"  {written.name}: closes_at: still to be filled in",
        f"  {written.name}: organizer: still to be filled in",
    ]

    raw = yaml.safe_load(text)
    raw.update(opens_at="2026-12-10", closes_at="2027-01-20", organizer={"bg": "Община Казанлък"})
    written.write_text(to_yaml(raw), encoding="utf-8")
    loaded = await _civicbot("content", "load", written.name, cwd=tmp_path, env=env)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.splitlines() == ["created: piro-kazanlak"]

    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as session:
            consultation = await session.scalar(
                select(Consultation).where(Consultation.slug == "piro-kazanlak")
            )
            assert consultation is not None
            sections = (
                await session.scalars(
                    select(Section)
                    .where(Section.consultation_id == consultation.id)
                    .order_by(Section.position)
                )
            ).all()
    finally:
        await engine.dispose()
    assert [(section.number, section.title["bg"]) for section in sections] == KAZANLAK_TREE
    assert "Област | Партньор" in sections[1].body["bg"]


def test_a_document_without_structure_becomes_one_section(tmp_path: Path) -> None:
    import subprocess

    from tests.test_content import CIVICBOT

    (tmp_path / "piro.pdf").write_bytes(documents.to_pdf(UNSTRUCTURED))
    result = subprocess.run(
        [str(CIVICBOT), "content", "import", "piro.pdf", "--output", "out.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=_cli_env("sqlite+aiosqlite:///unused.db"),
    )
    assert result.returncode == 0, result.stderr
    assert "no recognisable structure" in result.stdout
    raw = yaml.safe_load((tmp_path / "out.yaml").read_text(encoding="utf-8"))
    assert [section["number"] for section in raw["sections"]] == ["1"]
    assert raw["title"] is None and raw["summary"] is None


@pytest.mark.parametrize(
    ("name", "data", "args", "message"),
    [
        (
            "scan.pdf",
            documents.scanned_pdf(),
            [],
            "scan.pdf: nothing was imported: this PDF has no text layer (a scan?); please use "
            "the DOCX, or a PDF saved from the word processor (2 pages without text)",
        ),
        (
            "plan.pdf",
            documents.to_pdf(KAZANLAK, password="secret"),
            [],
            "plan.pdf: nothing was imported: the file is protected by a password; save it "
            "without one (the PDF is protected by a password)",
        ),
        (
            "plan.docx",
            documents.corrupt("docx"),
            [],
            "plan.docx: nothing was imported: the file is damaged or not what its name says "
            "(not a readable DOCX (File is not a zip file))",
        ),
        (
            "plan.md",
            documents.to_markdown(GERMAN),
            [],
            "plan.md: the text seems to be in a language the bot does not speak (bg, sl, en); "
            "if it is one of them, say which with --language",
        ),
        (
            "plan.md",
            documents.to_markdown(KAZANLAK),
            ["--slug", "Plan 2027"],
            "slug 'Plan 2027': use lowercase letters, digits and single hyphens, at most 40 "
            "characters (--slug kazanlak-ipd-2027)",
        ),
        (
            "plan.md",
            documents.to_markdown(KAZANLAK),
            ["--output", "plan.md"],
            "plan.md already exists; choose another --output or remove it",
        ),
        ("missing.md", None, [], "missing.md: cannot be read (No such file or directory)"),
    ],
    ids=["scanned", "encrypted", "corrupt", "language", "slug", "output-exists", "missing"],
)
def test_bad_documents_are_one_line_each(
    tmp_path: Path, name: str, data: bytes | None, args: list[str], message: str
) -> None:
    import subprocess

    from tests.test_content import CIVICBOT

    if data is not None:
        (tmp_path / name).write_bytes(data)
    result = subprocess.run(
        [str(CIVICBOT), "content", "import", name, *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=_cli_env("sqlite+aiosqlite:///unused.db"),
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"civicbot: {message}"]
    assert result.stdout == ""
    assert sorted(path.name for path in tmp_path.iterdir()) == ([name] if data else [])
