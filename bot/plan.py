"""Reading a plan: the guided walk, breadcrumbs, texts in the reader's language, pages."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.i18n import Translator
from storage.models import Section

# The language most readers understand when a file has none of theirs.
FALLBACK_LANGUAGE = "en"


@dataclass(frozen=True)
class Localized:
    text: str
    language: str

    def is_in(self, locale: str) -> bool:
        return self.language == locale


def pick(texts: dict[str, str], locale: str, original_language: str) -> Localized:
    """The text to show a reader: in their language when the file has it, else in
    English, else in the original (`translation_note` says which was shown)."""
    for language in (locale, FALLBACK_LANGUAGE, original_language):
        if texts.get(language):
            return Localized(texts[language], language)
    language, text = next(iter(texts.items()), (original_language, ""))
    return Localized(text, language)


def translation_note(tr: Translator, *texts: Localized) -> str | None:
    """What the reader is shown instead of their language, in their language: "Shown in
    English…" and/or "Shown in the original (Bulgarian)…"; None when all is theirs."""
    shown = {text.language for text in texts if text.text and not text.is_in(tr.locale)}
    notes = []
    if FALLBACK_LANGUAGE in shown:
        notes.append(tr("<i>Shown in English: there is no translation into your language yet.</i>"))
    for language in sorted(shown - {FALLBACK_LANGUAGE}):
        language_name = tr.name_of_language(language)
        if tr.locale == FALLBACK_LANGUAGE:
            note = tr(
                "<i>Shown in the original (%(language)s): there is no English translation yet.</i>",
                language=language_name,
            )
        else:
            note = tr(
                "<i>Shown in the original (%(language)s): there is no translation into your "
                "language or into English yet.</i>",
                language=language_name,
            )
        notes.append(note)
    return "\n".join(notes) or None


@dataclass(frozen=True)
class WalkPosition:
    """Where a section stands in the plan read top to bottom."""

    index: int  # 1-based
    total: int
    previous: Section | None
    next: Section | None
    ancestors: tuple[Section, ...]
    children: tuple[Section, ...]


def locate(plan: Sequence[Section], section: Section) -> WalkPosition:
    ordered = sorted(plan, key=lambda item: item.position)
    by_id = {item.id: item for item in ordered}
    index = next(i for i, item in enumerate(ordered) if item.id == section.id)
    ancestors: list[Section] = []
    parent_id = section.parent_id
    while parent_id is not None and parent_id in by_id:
        ancestors.insert(0, by_id[parent_id])
        parent_id = by_id[parent_id].parent_id
    return WalkPosition(
        index=index + 1,
        total=len(ordered),
        previous=ordered[index - 1] if index > 0 else None,
        next=ordered[index + 1] if index + 1 < len(ordered) else None,
        ancestors=tuple(ancestors),
        children=tuple(item for item in ordered if item.parent_id == section.id),
    )


_SENTENCE_END = re.compile(r"(?<=[.!?…;])\s+")


def paginate(text: str, limit: int) -> list[str]:
    """Split a body into pages of at most `limit` characters.

    Breaks between paragraphs where it can, else between sentences, else between
    words, and only as a last resort inside a word, so a page never exceeds the limit.
    """
    text = text.strip()
    if len(text) <= limit:
        return [text] if text else [""]
    pages: list[str] = []
    current = ""
    for piece in _pieces(text, limit):
        separator = "\n\n" if piece.startswith("\n\n") else " "
        piece = piece.lstrip()
        candidate = f"{current}{separator}{piece}" if current else piece
        if len(candidate) <= limit:
            current = candidate
        else:
            pages.append(current)
            current = piece
    if current:
        pages.append(current)
    return pages


def _pieces(text: str, limit: int) -> list[str]:
    """Paragraphs (marked with a leading blank line), split further until each fits."""
    pieces: list[str] = []
    for number, paragraph in enumerate(re.split(r"\n\s*\n", text)):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        parts = _fit(paragraph, limit)
        pieces.append(("\n\n" if number else "") + parts[0])
        pieces.extend(parts[1:])
    return pieces


def _fit(paragraph: str, limit: int) -> list[str]:
    if len(paragraph) <= limit:
        return [paragraph]
    parts: list[str] = []
    for sentence in _SENTENCE_END.split(paragraph):
        if len(sentence) <= limit:
            parts.append(sentence)
            continue
        for word in sentence.split():
            parts.extend(word[start : start + limit] for start in range(0, len(word), limit))
    return parts
