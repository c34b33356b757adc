"""PDF -> blocks with pdfminer.six: each line with its font size and place on the page.

Running headers and footers (the same line at the top or bottom of most pages, page
numbers) are removed; a line set larger than the body text is a heading, the largest size
level 1; lines close together in the same size make a paragraph."""

from __future__ import annotations

import io
import re
from collections import Counter
from dataclasses import dataclass

from bot.importer.model import Block, ImportRefused

_MARGIN = 0.12  # the top and bottom share of a page where running text lives
_PAGE_NUMBER = re.compile(
    r"^(?:[-–—]?\s*\d{1,4}\s*[-–—]?|(?:стр\.?|страница|page|stran|str\.?)\s*\d{1,4}"
    r"(?:\s*(?:от|of|od|/)\s*\d{1,4})?|\d{1,4}\s*/\s*\d{1,4})$",
    re.IGNORECASE,
)


@dataclass
class _Line:
    page: int
    text: str
    size: float
    top: float  # distance from the top of the page, in points
    bottom: float
    height: float  # of the page
    image: bool = False  # a picture here: left out, with a note


def read(data: bytes) -> list[Block]:
    lines = _lines(data)
    lines, removed = _without_running_text(lines)
    blocks = _paragraphs(lines)
    return blocks + [
        Block("", note_kind="running_text", note_detail=text, note_where="document")
        for text in removed
    ]


def _lines(data: bytes) -> list[_Line]:
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import (
        LAParams,
        LTChar,
        LTFigure,
        LTImage,
        LTTextContainer,
        LTTextLine,
    )
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
    from pdfminer.pdfparser import PDFSyntaxError
    from pdfminer.psexceptions import PSException

    lines: list[_Line] = []
    pages = 0
    try:
        for number, page in enumerate(extract_pages(io.BytesIO(data), laparams=LAParams())):
            pages += 1
            height = page.height
            for element in page:
                if isinstance(element, LTFigure | LTImage):
                    lines.append(
                        _Line(
                            number, "", 0.0, height - element.y1, height - element.y0, height, True
                        )
                    )
                    continue
                if not isinstance(element, LTTextContainer):
                    continue
                for line in element:
                    if not isinstance(line, LTTextLine):
                        continue
                    text = " ".join(line.get_text().split())
                    if not text:
                        continue
                    sizes = Counter(
                        round(char.size, 1) for char in line if isinstance(char, LTChar)
                    )
                    size = sizes.most_common(1)[0][0] if sizes else 0.0
                    lines.append(
                        _Line(number, text, size, height - line.y1, height - line.y0, height)
                    )
    except (PDFPasswordIncorrect, PDFEncryptionError):
        raise ImportRefused("encrypted", "the PDF is protected by a password") from None
    except (PDFSyntaxError, PSException) as error:
        raise ImportRefused("corrupt", f"not a readable PDF ({type(error).__name__})") from None
    except Exception as error:  # pdfminer's many ways to fail on a damaged file
        if "password" in str(error).lower() or "encrypt" in type(error).__name__.lower():
            raise ImportRefused("encrypted", "the PDF is protected by a password") from None
        raise ImportRefused("corrupt", f"not a readable PDF ({type(error).__name__})") from None
    if pages and not any(line.text for line in lines):
        raise ImportRefused("no_text_layer", f"{pages} pages without text")
    lines.sort(key=lambda line: (line.page, round(line.top, 0)))
    return lines


def _without_running_text(lines: list[_Line]) -> tuple[list[_Line], list[str]]:
    pages = len({line.page for line in lines})
    in_margin = [
        line
        for line in lines
        if not line.image
        and (line.top < line.height * _MARGIN or line.bottom > line.height * (1 - _MARGIN))
    ]
    margin_ids = {id(line) for line in in_margin}
    on_pages = Counter(shape for shape, _ in {(_shape(line.text), line.page) for line in in_margin})
    repeated = {
        shape for shape, count in on_pages.items() if pages >= 2 and count >= max(2, pages / 2)
    }
    kept: list[_Line] = []
    removed: dict[str, None] = {}
    for line in lines:
        margin = id(line) in margin_ids
        if margin and (_shape(line.text) in repeated or _PAGE_NUMBER.match(line.text)):
            removed.setdefault(line.text if not _PAGE_NUMBER.match(line.text) else "page numbers")
            continue
        kept.append(line)
    return kept, list(removed)


def _shape(text: str) -> str:
    return re.sub(r"\d+", "#", text.lower())


def _paragraphs(lines: list[_Line]) -> list[Block]:
    if not lines:
        return []
    weight: Counter[float] = Counter()
    for line in lines:
        if line.image:
            continue
        weight[line.size] += len(line.text)
    body_size = weight.most_common(1)[0][0]
    larger = sorted(
        {line.size for line in lines if not line.image and line.size > body_size + 0.9},
        reverse=True,
    )
    levels = {size: index + 1 for index, size in enumerate(larger)}
    blocks: list[Block] = []
    current: list[_Line] = []

    def close() -> None:
        if not current:
            return
        text = _join(current)
        level = levels.get(current[0].size)
        if level is not None and len(text) > 200:
            level = None  # large print, but a paragraph
        blocks.append(Block(text, heading_level=level))
        current.clear()

    from bot.importer.structure import _as_heading

    for line in lines:
        if line.image:
            close()
            blocks.append(Block("", note_kind="image", note_detail=f"page {line.page + 1}"))
            continue
        if current:
            previous = current[-1]
            gap = line.top - previous.bottom
            if (
                (
                    line.page != previous.page
                    and not (line.size == previous.size and levels.get(line.size) is None)
                )
                or abs(line.size - previous.size) > 0.5
                or gap > 0.6 * line.size
                or (_as_heading(Block(line.text)) is not None)
            ):
                close()
        if current and _BULLET.match(line.text):
            close()
        current.append(line)
    close()
    return [
        Block(_BULLET.sub("", block.text), kind="list_item")
        if _BULLET.match(block.text) and block.heading_level is None
        else block
        for block in blocks
    ]


_BULLET = re.compile(r"^[•·▪◦\-–]\s+")


def _join(lines: list[_Line]) -> str:
    text = ""
    for line in lines:
        if text.endswith("-") and not text.endswith(" -") and line.text[:1].islower():
            text = text[:-1] + line.text  # a word split at the end of a line
        else:
            text = f"{text} {line.text}" if text else line.text
    return text
