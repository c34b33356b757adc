"""Blocks -> the section tree, by the same numbering rules for every format.

A heading is a block a reader marked as one (a style, an outline level, Markdown #, a
PDF's larger font), or a short paragraph that starts with a number ("1.", "1.2.") or a
named number ("Стратегическа цел 1", "Приоритет 2", "Мярка 2.1", "Cilj 1", "Priority 2").
Nesting: a styled heading holds everything below its level; named numbers nest by rank
(goal > priority > measure > activity), plain numbers by their depth. The document's own
numbers are kept when they form a valid tree; otherwise sections are numbered in order,
and a plain number stays in its title so nothing the document said is lost.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from bot.importer.model import Block, ImportedSection, ImportNote

TITLE_LIMIT = 120
SUMMARY_LIMIT = 1500
BODY_LIMIT = 20_000
MAX_DEPTH = 4  # "2.1.3.4": bot.content's section numbers
HEADING_TEXT_LIMIT = 200  # a longer paragraph is text, whatever it starts with

# Named numbers by rank; the same rank in bg, sl and en.
_NAMED_NUMBERS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (0, ("глава", "раздел", "част", "chapter", "part", "section", "poglavje", "del", "oddelek")),
    (
        1,
        (
            "стратегическа цел",
            "главна цел",
            "цел",
            "strategic goal",
            "strategic objective",
            "goal",
            "objective",
            "strateški cilj",
            "cilj",
        ),
    ),
    (2, ("приоритет", "priority", "prioriteta", "prednostna naloga")),
    (3, ("специфична цел", "мярка", "specific objective", "measure", "ukrep")),
    (4, ("дейност", "activity", "aktivnost")),
)
_NUMBER = r"\d{1,3}(?:\.\d{1,3}){0,3}"
_NAMED = re.compile(
    r"^(?P<label>(?P<word>"
    + "|".join(re.escape(word) for _, words in _NAMED_NUMBERS for word in words)
    + rf")\s+(?P<number>{_NUMBER}))\.?(?:\s*[:.\-–—]\s*(?P<title>\S.*))?$",
    re.IGNORECASE,
)
_RANK = {word: rank for rank, words in _NAMED_NUMBERS for word in words}
# "1.2. Title", "1) Title", "1.2 Title": the title starts with a letter (not "10.11.2021 г.").
_NUMBERED = re.compile(rf"^(?P<number>{_NUMBER})(?:\.|\))?\s+(?P<title>[^\W\d_].*)$")


@dataclass
class _Heading:
    style_level: int | None  # from the reader
    rank: int | None  # a named number's rank
    depth: int | None  # components of the document's number
    number: str | None
    title: str
    label: str | None = None  # "Приоритет 2": kept in the title
    blocks: list[Block] = field(default_factory=list)
    children: list[_Heading] = field(default_factory=list)

    def contains(self, other: _Heading) -> bool:
        """Whether `other`, coming next, nests inside this heading."""
        if other.style_level is not None:
            return self.style_level is not None and self.style_level < other.style_level
        if self.style_level is not None:
            return True
        if self.rank is not None and other.rank is not None:
            return self.rank < other.rank
        if other.rank is not None:  # a named number under a plain one: "1. Цели" > "Цел 1"
            return (other.depth or 1) > (self.depth or 0) or other.depth == 1
        return (other.depth or 1) > (self.depth or 0)


@dataclass(frozen=True)
class Structure:
    title: str | None
    summary: str | None
    sections: tuple[ImportedSection, ...]
    structured: bool
    notes: tuple[ImportNote, ...]
    full_text: str


def build(blocks: list[Block], *, title: str | None = None) -> Structure:
    blocks = [block for block in blocks if block.text.strip() or block.note_kind]
    full_text = "\n\n".join(block.text.strip() for block in blocks if block.text.strip())
    headings, preamble = _headings(blocks)
    if title is None:
        title, headings, preamble = _title(headings, preamble)
    notes: list[ImportNote] = []
    roots = _nest(headings)
    for heading in _walk(roots):
        if heading.children and _depth(heading, roots) == MAX_DEPTH:
            # bot.content's numbers have four levels: what is deeper stays as text
            folded = list(_walk(heading.children))
            heading.children = []
            for child in folded:
                heading.blocks.append(
                    Block(child.title, note_kind="flattened", note_detail=child.title)
                )
                heading.blocks.extend(child.blocks)
    keep_numbers = _numbers_valid(roots, prefix="")
    sections = tuple(
        _section(heading, str(index), keep_numbers, notes)
        for index, heading in enumerate(roots, start=1)
    )
    summary = _text(preamble, notes, where="summary") or None
    if summary is not None and len(summary) > SUMMARY_LIMIT:
        notes.append(
            ImportNote("summary_too_long", "summary", f"{len(summary)} of {SUMMARY_LIMIT}")
        )
    return Structure(
        title=title,
        summary=summary,
        sections=sections,
        structured=bool(sections),
        notes=tuple(notes),
        full_text=full_text,
    )


def _headings(blocks: list[Block]) -> tuple[list[_Heading], list[Block]]:
    """The headings in document order, each with the blocks up to the next one."""
    headings: list[_Heading] = []
    preamble: list[Block] = []
    index = 0
    while index < len(blocks):
        block = blocks[index]
        heading = _as_heading(block)
        if heading is None:
            (headings[-1].blocks if headings else preamble).append(block)
            index += 1
            continue
        index += 1
        if heading.label is not None and heading.title == heading.label and index < len(blocks):
            # "Стратегическа цел 1" alone, its title the next short paragraph
            following = blocks[index]
            if (
                following.heading_level is None
                and following.kind == "paragraph"
                and 0 < len(following.text.strip()) <= HEADING_TEXT_LIMIT
                and _as_heading(following) is None
            ):
                heading.title = f"{heading.label}: {following.text.strip()}"
                index += 1
        headings.append(heading)
    return headings, preamble


def _as_heading(block: Block) -> _Heading | None:
    text = " ".join(block.text.split())
    if not text or block.kind == "table":
        return None
    named = _NAMED.match(text) if len(text) <= HEADING_TEXT_LIMIT else None
    numbered = _NUMBERED.match(text) if len(text) <= HEADING_TEXT_LIMIT else None
    if block.heading_level is not None:
        if named:
            return _named(named, style_level=block.heading_level)
        if numbered:
            number = numbered["number"]
            return _Heading(
                block.heading_level, None, number.count(".") + 1, number, numbered["title"]
            )
        return _Heading(block.heading_level, None, None, None, text)
    if block.kind != "paragraph":
        return None
    if named:
        return _named(named, style_level=None)
    # A numbered sentence ("1. По-ефективна политика ... в областта.") is a list, not a heading.
    if numbered and not text.endswith((".", ";", ",", ":")):
        number = numbered["number"]
        return _Heading(None, None, number.count(".") + 1, number, numbered["title"])
    return None


def _named(match: re.Match[str], *, style_level: int | None) -> _Heading:
    label = " ".join(match["label"].split())
    number = match["number"]
    title = f"{label}: {match['title']}" if match["title"] else label
    rank = _RANK[" ".join(match["word"].split()).lower()]
    return _Heading(style_level, rank, number.count(".") + 1, number, title, label=label)


def _title(
    headings: list[_Heading], preamble: list[Block]
) -> tuple[str | None, list[_Heading], list[Block]]:
    """The document's title: its title style, the one heading above all the others, or a
    short first line before any heading."""
    for index, block in enumerate(preamble):
        if block.heading_level == 0:
            return block.text.strip(), headings, preamble[:index] + preamble[index + 1 :]
    if headings and headings[0].style_level is not None and headings[0].number is None:
        top = headings[0]
        if len(headings) > 1 and all(top.contains(other) for other in headings[1:]):
            return top.title, headings[1:], [*preamble, *top.blocks]
    if preamble and preamble[0].kind == "paragraph" and not preamble[0].note_kind:
        first = preamble[0].text.strip()
        if len(first) <= TITLE_LIMIT and "\n" not in first and not first.endswith("."):
            return first, headings, preamble[1:]
    return None, headings, preamble


def _nest(headings: list[_Heading]) -> list[_Heading]:
    roots: list[_Heading] = []
    open_headings: list[_Heading] = []
    for heading in headings:
        while open_headings and not open_headings[-1].contains(heading):
            open_headings.pop()
        (open_headings[-1].children if open_headings else roots).append(heading)
        open_headings.append(heading)
    return roots


def _walk(headings: list[_Heading]) -> Iterator[_Heading]:
    for heading in headings:
        yield heading
        yield from _walk(heading.children)


def _depth(target: _Heading, roots: list[_Heading], depth: int = 1) -> int:
    for heading in roots:
        if heading is target:
            return depth
        found = _depth(target, heading.children, depth + 1)
        if found:
            return found
    return 0


def _numbers_valid(headings: list[_Heading], prefix: str) -> bool:
    seen: set[str] = set()
    for heading in headings:
        number = heading.number
        if number is None or number in seen:
            return False
        parent, _, last = number.rpartition(".")
        if parent != prefix or last.startswith("0"):
            return False
        seen.add(number)
        if not _numbers_valid(heading.children, number):
            return False
    return True


def _section(
    heading: _Heading, number: str, keep_numbers: bool, notes: list[ImportNote]
) -> ImportedSection:
    if keep_numbers:
        assert heading.number is not None
        number = heading.number
    title = heading.title
    if not keep_numbers and heading.number is not None and heading.label is None:
        title = f"{heading.number}. {title}"  # the document's own number, not ours
    body = _text(heading.blocks, notes, where=number)
    if len(title) > TITLE_LIMIT:
        notes.append(ImportNote("title_shortened", number, title))
        body = f"{title}\n\n{body}".strip()
        title = title[: TITLE_LIMIT - 1].rsplit(" ", 1)[0].rstrip(",;:–—-") + "…"
    if len(body) > BODY_LIMIT:
        notes.append(ImportNote("body_too_long", number, f"{len(body)} of {BODY_LIMIT}"))
    children = tuple(
        _section(child, f"{number}.{index}", keep_numbers, notes)
        for index, child in enumerate(heading.children, start=1)
    )
    return ImportedSection(number=number, title=title, body=body, children=children)


def _text(blocks: list[Block], notes: list[ImportNote], *, where: str) -> str:
    """Paragraphs apart by a blank line; a list's items together, one per line."""
    parts: list[str] = []
    for block in blocks:
        if block.note_kind:
            notes.append(ImportNote(block.note_kind, block.note_where or where, block.note_detail))
        text = block.text.strip()
        if not text:
            continue
        if block.kind == "list_item" and parts and parts[-1].startswith(LIST_MARK):
            parts[-1] += "\n" + _list_line(text)
        elif block.kind == "list_item":
            parts.append(_list_line(text))
        else:
            parts.append(text)
    return "\n\n".join(parts)


LIST_MARK = "• "


def _list_line(text: str) -> str:
    return text if text.startswith(LIST_MARK) else LIST_MARK + text
