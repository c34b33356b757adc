"""A municipality's document (DOCX, ODT, PDF, Markdown, plain text) -> a consultation's
section tree and the raw mapping of a consultation file. No Telegram here: the command
line (`civicbot content import`) and the staff chat both call these functions."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Any

from bot.importer.model import (
    REFUSAL_REASONS,
    Block,
    ImportedDocument,
    ImportedSection,
    ImportNote,
    ImportRefused,
)

__all__ = [
    "FORMATS",
    "REFUSAL_REASONS",
    "ImportNote",
    "ImportRefused",
    "ImportedDocument",
    "ImportedSection",
    "as_one_section",
    "consultation_mapping",
    "import_document",
]

FORMATS = ("docx", "odt", "md", "txt", "pdf")
_SUFFIXES = {"docx": "docx", "odt": "odt", "md": "md", "markdown": "md", "txt": "txt", "pdf": "pdf"}
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Word 97-2003, or any encrypted Office file


def import_document(data: bytes, filename: str, *, language: str | None = None) -> ImportedDocument:
    """Reads the document named `filename` (its suffix says the format); `language`
    overrides the detected one. Raises ImportRefused when there is nothing to import."""
    from bot.importer import language as languages
    from bot.importer.structure import build

    format_ = _format(data, filename)
    blocks = _read(format_, data)
    if not any(block.text.strip() for block in blocks):
        raise ImportRefused("empty", "the document has no text")
    structure = build(blocks)
    return ImportedDocument(
        format=format_,
        language=language or languages.detect(structure.full_text),
        title=structure.title,
        summary=structure.summary,
        sections=structure.sections,
        structured=structure.structured,
        notes=structure.notes,
        full_text=structure.full_text,
    )


def _format(data: bytes, filename: str) -> str:
    suffix = filename.rpartition(".")[2].lower() if "." in filename else ""
    if data.startswith(_OLE):
        if "EncryptionInfo".encode("utf-16-le") in data:
            raise ImportRefused("encrypted", "the Office document is protected by a password")
        raise ImportRefused("unsupported", "a Word 97-2003 (.doc) file: save it as DOCX")
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    if data.startswith(b"%PDF"):
        return "pdf"
    raise ImportRefused(
        "unsupported", f"{suffix or 'no'} file type; send DOCX, ODT, PDF, Markdown or text"
    )


def _read(format_: str, data: bytes) -> list[Block]:
    if not data.strip():
        raise ImportRefused("empty", "the file is empty")
    if format_ == "docx":
        from bot.importer import docx_reader

        return docx_reader.read(data)
    if format_ == "odt":
        from bot.importer import odt_reader

        return odt_reader.read(data)
    if format_ == "pdf":
        from bot.importer import pdf_reader

        return pdf_reader.read(data)
    from bot.importer import text_reader

    if format_ == "md":
        return text_reader.read_markdown(data)
    return text_reader.read_plain(data)


def as_one_section(document: ImportedDocument) -> ImportedDocument:
    """The whole text as one section (several when longer than a section holds), for a
    document with no recognisable structure."""
    from bot.importer.structure import BODY_LIMIT, TITLE_LIMIT

    text = document.full_text
    title = document.title
    if title and text.startswith(title):
        text = text[len(title) :].strip()
    if not title:
        first = text.split("\n", 1)[0].strip()
        title = (
            first if len(first) <= TITLE_LIMIT else first[: TITLE_LIMIT - 1].rsplit(" ", 1)[0] + "…"
        )
    parts: list[str] = []
    for paragraph in text.split("\n\n"):
        if parts and len(parts[-1]) + len(paragraph) + 2 <= BODY_LIMIT:
            parts[-1] += "\n\n" + paragraph
        else:
            parts.extend(
                paragraph[start : start + BODY_LIMIT]
                for start in range(0, len(paragraph), BODY_LIMIT)
            )
    sections = tuple(
        ImportedSection(
            number=str(index),
            title=title if len(parts) == 1 else _numbered_title(title, index, len(parts)),
            body=part,
        )
        for index, part in enumerate(parts or [text], start=1)
    )
    return replace(document, summary=None, sections=sections, structured=True)


def _numbered_title(title: str, index: int, count: int) -> str:
    suffix = f" ({index}/{count})"
    return title[: 120 - len(suffix)] + suffix


def consultation_mapping(
    document: ImportedDocument,
    *,
    slug: str,
    language: str,
    title: str | None = None,
    organizer: str | None = None,
    contact: str | None = None,
    opens_at: date | datetime | str | None = None,
    closes_at: date | datetime | str | None = None,
    timezone: str,
) -> tuple[dict[str, Any], dict[str, str]]:
    """The raw mapping of a consultation file (examples/README.md) and, for
    bot.content_yaml.to_yaml, a comment above each field still to fill in. Unknown fields
    stay null, so that `civicbot content load` names each of them."""
    title = title or document.title
    mapping: dict[str, Any] = {
        "format": 1,
        "slug": slug,
        "kind": "consultation",
        "original_language": language,
        "timezone": timezone,
        "opens_at": _when(opens_at),
        "closes_at": _when(closes_at),
        "organizer": {language: organizer} if organizer else None,
        "title": {language: title} if title else None,
        "summary": {language: document.summary} if document.summary else None,
        "contact": {language: contact} if contact else None,
        "sections": [_section(section, language) for section in document.sections],
    }
    hints = {
        "opens_at": 'when residents can start, e.g. 2026-10-12 or "2026-10-12 09:00" (local time)',
        "closes_at": "the last day (it ends at midnight, local time) or a time",
        "organizer": f"who runs the consultation, e.g. {{{language}: Община Казанлък}}",
        "title": f"the consultation's title, e.g. {{{language}: ...}} (at most 200 characters)",
        "summary": "what is consulted and what residents can do (at most 1500 characters)",
        "contact": "optional: how else to reach the organizer (or remove this line)",
    }
    notes = {key: f"FILL IN: {hint}" for key, hint in hints.items() if mapping[key] is None}
    return mapping, notes


def _when(value: date | datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.strftime("%Y-%m-%d %H:%M")
        return value.isoformat(sep=" ", timespec="minutes")
    return value.isoformat()


def _section(section: ImportedSection, language: str) -> dict[str, Any]:
    mapping: dict[str, Any] = {"number": section.number, "title": {language: section.title}}
    if section.body.strip():
        mapping["body"] = {language: section.body}
    if section.children:
        mapping["sections"] = [_section(child, language) for child in section.children]
    return mapping
