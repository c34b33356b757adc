"""ODT (OpenDocument text) -> blocks: its content.xml read with lxml, which python-docx
already brings, so ODT needs no library of its own."""

from __future__ import annotations

import io
import zipfile

from bot.importer.model import Block, ImportRefused

_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_DRAW = "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"
_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_MANIFEST = "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"
_STYLE = "urn:oasis:names:tc:opendocument:xmlns:style:1.0"
_SVG = "urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0"


def read(data: bytes) -> list[Block]:
    from lxml import etree

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        manifest = (
            archive.read("META-INF/manifest.xml") if _has(archive, "META-INF/manifest.xml") else b""
        )
        if b"encryption-data" in manifest:
            raise ImportRefused("encrypted", "the ODT is protected by a password")
        content = etree.fromstring(archive.read("content.xml"))
    except ImportRefused:
        raise
    except (zipfile.BadZipFile, KeyError, etree.XMLSyntaxError, ValueError) as error:
        raise ImportRefused("corrupt", f"not a readable ODT ({type(error).__name__})") from None
    styles = _title_styles(content)
    body = content.find(f"{{{_OFFICE}}}body/{{{_OFFICE}}}text")
    if body is None:
        raise ImportRefused("corrupt", "the ODT has no text body")
    blocks: list[Block] = []
    for child in body.iterchildren():
        _element(child, blocks, styles)
    return blocks


def _has(archive: zipfile.ZipFile, name: str) -> bool:
    return name in archive.namelist()


def _title_styles(content) -> set[str]:
    """Automatic styles that derive from the "Title" paragraph style."""
    names = {"Title"}
    for style in content.iter(f"{{{_STYLE}}}style"):
        if style.get(f"{{{_STYLE}}}parent-style-name") == "Title":
            names.add(style.get(f"{{{_STYLE}}}name"))
    return names


def _element(
    element, blocks: list[Block], title_styles: set[str], *, in_list: bool = False
) -> None:
    tag = element.tag
    if tag == f"{{{_TEXT}}}h":
        level = int(element.get(f"{{{_TEXT}}}outline-level", "1"))
        blocks.append(Block(_text(element), heading_level=level))
        _images(element, blocks)
    elif tag == f"{{{_TEXT}}}p":
        style = element.get(f"{{{_TEXT}}}style-name")
        level = 0 if style in title_styles else None
        kind = "list_item" if in_list else "paragraph"
        blocks.append(Block(_text(element), heading_level=level, kind=kind))
        _images(element, blocks)
    elif tag == f"{{{_TEXT}}}list":
        for item in element.iter(f"{{{_TEXT}}}list-item"):
            for child in item.iterchildren():
                if child.tag != f"{{{_TEXT}}}list":  # nested lists: iter() reaches their items
                    _element(child, blocks, title_styles, in_list=True)
    elif tag == f"{{{_TABLE}}}table":
        rows = []
        width = 0
        for row in element.iter(f"{{{_TABLE}}}table-row"):
            cells = [_text(cell) for cell in row.iterchildren(f"{{{_TABLE}}}table-cell")]
            width = max(width, len(cells))
            if any(cells):
                rows.append(" | ".join(cells))
        if rows:
            blocks.append(
                Block(
                    "\n".join(rows),
                    kind="table",
                    note_kind="table",
                    note_detail=f"{len(rows)}x{width}",
                )
            )
    elif tag == f"{{{_TEXT}}}section":
        for child in element.iterchildren():
            _element(child, blocks, title_styles)


def _text(element) -> str:
    parts: list[str] = []

    def walk(node) -> None:
        if node.tag in (f"{{{_DRAW}}}frame", f"{{{_TEXT}}}note"):
            return  # images and their captions; footnotes are not running text
        if node.text and node.tag != f"{{{_TEXT}}}s":
            parts.append(node.text)
        if node.tag == f"{{{_TEXT}}}s":
            parts.append(" " * int(node.get(f"{{{_TEXT}}}c", "1")))
        elif node.tag == f"{{{_TEXT}}}tab":
            parts.append("\t")
        elif node.tag == f"{{{_TEXT}}}line-break":
            parts.append("\n")
        for child in node.iterchildren():
            walk(child)
            if child.tail:
                parts.append(child.tail)

    walk(element)
    return " ".join("".join(parts).split(" ")).strip()


def _images(element, blocks: list[Block]) -> None:
    """What sits inside a paragraph but is not its text: images (left out) and footnotes
    (kept after the paragraph)."""
    for note in element.iter(f"{{{_TEXT}}}note"):
        body = note.find(f"{{{_TEXT}}}note-body")
        text = " ".join(_text(child) for child in body.iterchildren()) if body is not None else ""
        mark = note.findtext(f"{{{_TEXT}}}note-citation") or ""
        if text.strip():
            blocks.append(Block(f"[{mark}] {text}".strip(), note_kind="footnote", note_detail=mark))
    for frame in element.iter(f"{{{_DRAW}}}frame"):
        if frame.find(f"{{{_DRAW}}}image") is not None:
            title = frame.findtext(f"{{{_SVG}}}title") or frame.get(f"{{{_DRAW}}}name") or "image"
            blocks.append(Block("", note_kind="image", note_detail=title))
