"""`civicbot content import FILE`: a document -> a consultation file to complete and load."""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from bot.importer import (
    ImportedDocument,
    ImportedSection,
    ImportNote,
    ImportRefused,
    as_one_section,
    consultation_mapping,
    import_document,
)

# What a person can do about each refusal, for the command line (the chat has its own).
_REFUSALS = {
    "no_text_layer": "this PDF has no text layer (a scan?); please use the DOCX, or a PDF "
    "saved from the word processor",
    "encrypted": "the file is protected by a password; save it without one",
    "corrupt": "the file is damaged or not what its name says",
    "unsupported": "this type of file cannot be imported",
    "empty": "there is no text in it",
}
_NOTES = {
    "image": "an image left out",
    "table": "a table kept as text",
    "text_box": "a text box's text kept here",
    "footnote": "a footnote kept after its paragraph",
    "running_text": "a running header or footer removed",
    "title_shortened": "a heading longer than 120 characters shortened; the whole of it "
    "opens the body",
    "flattened": "a heading nested deeper than 4 levels kept as text",
    "summary_too_long": "the text before the first heading is longer than a summary may be "
    "(characters)",
    "body_too_long": "longer than a section may be (characters); split it",
    "unplaced": "not placed",
}
# Bulgarian's official transliteration (the Transliteration Act), for slugs.
_LATIN = dict(
    zip(
        "абвгдежзийклмнопрстуфхцчшщъьюяѝ",
        "a b v g d e zh z i y k l m n o p r s t u f h ts ch sh sht a y yu ya i".split(),
        strict=True,
    )
)


def run_import(
    path: Path, *, slug: str | None, language: str | None, output: Path | None, timezone: str
) -> int:
    from bot.content import SLUG_PATTERN
    from bot.content_yaml import to_yaml

    try:
        data = path.read_bytes()
    except OSError as error:
        return _fail(f"{path}: cannot be read ({error.strerror})")
    try:
        document = import_document(data, path.name, language=language)
    except ImportRefused as refused:
        reason = _REFUSALS[refused.reason]
        return _fail(f"{path}: nothing was imported: {reason} ({refused.detail})")
    if document.language is None:
        return _fail(
            f"{path}: the text seems to be in a language the bot does not speak (bg, sl, en); "
            "if it is one of them, say which with --language"
        )
    slug = slug or slug_from(path.stem)
    if not re.match(SLUG_PATTERN, slug) or len(slug) > 40:
        return _fail(
            f"slug {slug!r}: use lowercase letters, digits and single hyphens, at most 40 "
            "characters (--slug kazanlak-ipd-2027)"
        )
    output = output or Path(f"{slug}.yaml")
    if output.exists():
        return _fail(f"{output} already exists; choose another --output or remove it")
    print(_found(document))
    if not document.structured:
        print(
            "no recognisable structure (headings or numbered sections): the whole text "
            "became one section"
        )
        document = as_one_section(document)
    _print_tree(document.sections)
    for note in document.notes:
        print(f"note: {_where(note)}: {_NOTES.get(note.kind, note.kind)}: {note.detail}")
    mapping, notes = consultation_mapping(
        document, slug=slug, language=document.language, timezone=timezone
    )
    try:
        output.write_text(to_yaml(mapping, notes), encoding="utf-8")
    except OSError as error:
        return _fail(f"{output}: cannot be written ({error.strerror})")
    missing = ", ".join(key for key in notes)
    print(f"written: {output}; fill in {missing}, then: civicbot content load {output}")
    return 0


def slug_from(name: str) -> str:
    latin = "".join(_LATIN.get(letter, letter) for letter in name.lower())
    ascii_only = unicodedata.normalize("NFKD", latin).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_only).strip("-")
    return slug[:40].rstrip("-") or "consultation"


def _found(document: ImportedDocument) -> str:
    count = sum(1 for _ in _walk(document.sections))
    title = f"“{document.title}”" if document.title else "no title"
    return (
        f"found: {document.format.upper()} in {document.language}, {title}, {count} sections "
        f"({len(document.sections)} at the top), {len(document.notes)} notes"
    )


def _walk(sections: tuple[ImportedSection, ...]) -> Iterator[ImportedSection]:
    for section in sections:
        yield section
        yield from _walk(section.children)


def _print_tree(sections: tuple[ImportedSection, ...], depth: int = 0) -> None:
    for section in sections:
        print(f"{'  ' * (depth + 1)}{section.number} {section.title}")
        _print_tree(section.children, depth + 1)


def _where(note: ImportNote) -> str:
    if note.where in ("summary", "title", "document"):
        return note.where
    return f"section {note.where}"


def _fail(message: str) -> int:
    print(f"civicbot: {message}", file=sys.stderr)
    return 1
