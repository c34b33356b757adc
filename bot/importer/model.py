"""What an imported document becomes, independent of its format."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ImportedSection:
    number: str
    title: str
    body: str
    children: tuple[ImportedSection, ...] = ()


@dataclass(frozen=True)
class ImportNote:
    """A fact about something the importer changed, left out or could not place.

    kind: "image" (left out), "table" (kept as text), "text_box" (kept at its place),
    "running_text" (a PDF's header or footer removed), "title_shortened" (the whole
    heading opens the body), "flattened" (a heading deeper than four levels kept as text),
    "summary_too_long", "body_too_long", "unplaced" (not kept: detail says what).
    where: a section number, "title", "summary" (before the first heading) or "document".
    Staff see these through the intake's own wording; nothing here is for a chat.
    """

    kind: str
    where: str
    detail: str


@dataclass(frozen=True)
class ImportedDocument:
    format: str  # "docx", "odt", "md", "txt", "pdf"
    language: str | None  # bg, sl or en; None: a language the bot does not speak
    title: str | None
    summary: str | None
    sections: tuple[ImportedSection, ...]
    structured: bool  # False: no recognisable structure (see as_one_section)
    notes: tuple[ImportNote, ...]
    full_text: str


class ImportRefused(Exception):
    """The document cannot be read at all; reason is one of REFUSAL_REASONS."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


REFUSAL_REASONS = frozenset({"no_text_layer", "encrypted", "corrupt", "unsupported", "empty"})


@dataclass(frozen=True)
class Block:
    """One paragraph-like piece of a document as a reader found it.

    heading_level: 0 for the document's title style, 1.. for a heading (style, outline
    level, Markdown #, or font size in a PDF); None for body text. A block with a `note`
    and no text only carries that note to the section it sits in.
    """

    text: str
    heading_level: int | None = None
    kind: str = "paragraph"  # "paragraph", "list_item", "table"
    note_kind: str | None = None
    note_detail: str = ""
    note_where: str | None = None  # instead of the section it falls in
