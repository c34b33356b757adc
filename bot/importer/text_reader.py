"""Markdown and plain text -> blocks: a small reader of our own, since only headings,
paragraphs, lists, tables and images matter here (a full CommonMark parser would add a
dependency to turn the text into HTML and back)."""

from __future__ import annotations

import re

from bot.importer.model import Block, ImportRefused

_ATX = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_BULLET = re.compile(r"^\s*(?:[-*+•·▪◦]|\u2022)\s+(.*)$")
_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)]*)\)")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1|(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)]*)\)")


def decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "utf-16"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding == "utf-16" and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
            continue
        return text
    if b"\x00" in data:
        raise ImportRefused("corrupt", "binary data, not text")
    try:
        return data.decode("cp1251")  # Cyrillic text from older Windows tools
    except UnicodeDecodeError:
        raise ImportRefused("corrupt", "neither UTF-8 nor Windows-1251 text") from None


def read_markdown(data: bytes) -> list[Block]:
    lines = decode(data).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    blocks: list[Block] = []
    paragraph: list[str] = []

    def close() -> None:
        if paragraph:
            blocks.append(_inline(" ".join(line.strip() for line in paragraph)))
            paragraph.clear()

    index = 0
    while index < len(lines):
        line = lines[index]
        atx = _ATX.match(line)
        if atx:
            close()
            level = len(atx[1])
            blocks.append(Block(_plain(atx[2]), heading_level=level))
        elif _SETEXT.match(line) and paragraph and not _BULLET.match(paragraph[-1]):
            title = " ".join(part.strip() for part in paragraph)
            paragraph.clear()
            blocks.append(Block(_plain(title), heading_level=1 if "=" in line else 2))
        elif not line.strip():
            close()
        elif (
            line.lstrip().startswith("|")
            and index + 1 < len(lines)
            and _TABLE_RULE.match(lines[index + 1])
        ):
            close()
            rows = [_cells(line)]
            index += 2
            while index < len(lines) and lines[index].lstrip().startswith("|"):
                rows.append(_cells(lines[index]))
                index += 1
            width = max(len(row) for row in rows)
            blocks.append(
                Block(
                    "\n".join(" | ".join(row) for row in rows),
                    kind="table",
                    note_kind="table",
                    note_detail=f"{len(rows)}x{width}",
                )
            )
            continue
        elif bullet := _BULLET.match(line):
            close()
            blocks.append(_inline(bullet[1], kind="list_item"))
        else:
            paragraph.append(line)
        index += 1
    close()
    return [block for part in blocks for block in _split_images(part)]


def read_plain(data: bytes) -> list[Block]:
    """Paragraphs apart by blank lines; a short line alone (a heading, a list item) is a
    paragraph of its own even without a blank line around it."""
    text = decode(data).replace("\r\n", "\n").replace("\r", "\n")
    blocks: list[Block] = []
    for chunk in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in chunk.split("\n") if line.strip()]
        current: list[str] = []
        for line in lines:
            bullet = _BULLET.match(line)
            if bullet or _looks_like_heading(line):
                if current:
                    blocks.append(Block(" ".join(current)))
                    current = []
                blocks.append(Block(bullet[1], kind="list_item") if bullet else Block(line))
            else:
                current.append(line)
        if current:
            blocks.append(Block(" ".join(current)))
    return blocks


def _looks_like_heading(line: str) -> bool:
    from bot.importer.structure import _as_heading

    return _as_heading(Block(line)) is not None


def _cells(line: str) -> list[str]:
    return [_plain(cell.strip()) for cell in line.strip().strip("|").split("|")]


def _plain(text: str) -> str:
    text = _IMAGE.sub(lambda match: match[1], text)
    text = _LINK.sub(lambda match: f"{match[1]} ({match[2]})" if match[2] else match[1], text)
    return _EMPHASIS.sub(lambda match: match[2] or match[3], text).replace("`", "")


def _inline(text: str, kind: str = "paragraph") -> Block:
    return Block(text, kind=kind)


def _split_images(block: Block) -> list[Block]:
    images = _IMAGE.findall(block.text)
    if not images:
        return [
            Block(
                _plain(block.text),
                block.heading_level,
                block.kind,
                block.note_kind,
                block.note_detail,
            )
        ]
    text = _plain(_IMAGE.sub("", block.text)).strip()
    kept = (
        [Block(text, block.heading_level, block.kind, block.note_kind, block.note_detail)]
        if text
        else []
    )
    return kept + [Block("", note_kind="image", note_detail=alt or src) for alt, src in images]
