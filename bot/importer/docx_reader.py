"""DOCX -> blocks, with python-docx (and its lxml for what it does not model)."""

from __future__ import annotations

import io
import re
import zipfile

from bot.importer.model import Block, ImportRefused

# Heading style names as Word and LibreOffice write them in the languages around us;
# the style id ("Heading1"), the base style and the outline level catch the rest.
_HEADING_NAME = re.compile(
    r"^(?:heading|заглавие|naslov|überschrift|titre|título|titolo|nadpis|nagłówek|заголовок)"
    r"\s*(\d)$",
    re.IGNORECASE,
)
_TITLE_NAMES = {"title", "заглавие на документ", "naslov dokumenta", "titel", "заголовок"}
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def read(data: bytes) -> list[Block]:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as error:
        raise ImportRefused("corrupt", f"not a readable DOCX ({error})") from None
    except Exception as error:  # lxml's XMLSyntaxError and the like: a damaged file
        raise ImportRefused("corrupt", f"not a readable DOCX ({type(error).__name__})") from None
    blocks: list[Block] = []
    footnotes = _footnotes(data)
    body = document.element.body
    for child in body.iterchildren():
        if child.tag == f"{_W}p":
            blocks.extend(_paragraph(child, document))
            for reference in child.iter(f"{_W}footnoteReference"):
                number = reference.get(f"{_W}id", "")
                if footnotes.get(number):
                    text = f"[{number}] {footnotes[number]}"
                    blocks.append(Block(text, note_kind="footnote", note_detail=number))
        elif child.tag == f"{_W}tbl":
            blocks.extend(_table(child))
    return blocks


def _paragraph(element, document) -> list[Block]:
    from docx.text.paragraph import Paragraph

    paragraph = Paragraph(element, document)
    blocks: list[Block] = []
    text = "".join(
        node.text or ("\n" if node.tag in (f"{_W}br", f"{_W}cr") else "\t")
        for node in element.iter(f"{_W}t", f"{_W}br", f"{_W}cr", f"{_W}tab")
        if not _inside_text_box(node, element)
    ).strip()
    level = _heading_level(paragraph)
    numbered_list = element.find(f"{_W}pPr/{_W}numPr") is not None
    style_name = (paragraph.style.name or "").lower() if paragraph.style is not None else ""
    kind = "list_item" if (numbered_list or style_name.startswith("list")) else "paragraph"
    if text:
        blocks.append(Block(text, heading_level=level, kind=kind if level is None else "paragraph"))
    for box in element.iter(f"{_W}txbxContent"):
        box_text = " ".join(
            "".join(t.text or "" for t in p.iter(f"{_W}t")) for p in box.iter(f"{_W}p")
        )
        if box_text.strip():
            blocks.append(Block(box_text.strip(), note_kind="text_box", note_detail=box_text[:80]))
    for drawing in element.iter(f"{_W}drawing", f"{_W}pict"):
        names = [
            node.get("descr") or node.get("name") or ""
            for node in drawing.iter()
            if node.tag.endswith("}docPr")
        ]
        blocks.append(Block("", note_kind="image", note_detail=next(iter(names), "") or "image"))
    return blocks


def _footnotes(data: bytes) -> dict[str, str]:
    """Footnotes by id: python-docx does not read them; kept after their paragraph."""
    from lxml import etree

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        if "word/footnotes.xml" not in archive.namelist():
            return {}
        root = etree.fromstring(archive.read("word/footnotes.xml"))
    return {
        note.get(f"{_W}id", ""): " ".join(
            "".join(t.text or "" for t in note.iter(f"{_W}t")).split()
        )
        for note in root.iter(f"{_W}footnote")
    }


def _inside_text_box(node, paragraph) -> bool:
    parent = node.getparent()
    while parent is not None and parent is not paragraph:
        if parent.tag == f"{_W}txbxContent":
            return True
        parent = parent.getparent()
    return False


def _heading_level(paragraph) -> int | None:
    style = paragraph.style
    while style is not None:
        name = (style.name or "").strip().lower()
        if name in _TITLE_NAMES or style.style_id == "Title":
            return 0
        match = _HEADING_NAME.match(name) or re.match(r"^Heading(\d)$", style.style_id or "")
        if match:
            return int(match[1])
        level = _outline_level(style.element)
        if level is not None:
            return level
        style = style.base_style
    return _outline_level(paragraph._p)


def _outline_level(element) -> int | None:
    found = element.find(f"{_W}pPr/{_W}outlineLvl")
    if found is None:
        return None
    value = int(found.get(f"{_W}val", "9"))
    return value + 1 if value < 9 else None  # 9: body text


def _table(element) -> list[Block]:
    rows: list[str] = []
    width = 0
    for row in element.iter(f"{_W}tr"):
        cells = [
            " ".join(
                "".join(t.text or "" for t in p.iter(f"{_W}t")).strip() for p in cell.iter(f"{_W}p")
            ).strip()
            for cell in row.iterchildren(f"{_W}tc")
        ]
        width = max(width, len(cells))
        if any(cells):
            rows.append(" | ".join(cells))
    if not rows:
        return []
    return [
        Block("\n".join(rows), kind="table", note_kind="table", note_detail=f"{len(rows)}x{width}")
    ]
