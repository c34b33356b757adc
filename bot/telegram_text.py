"""Text as Telegram counts it, and text from people made safe to show.

Telegram's limits (4096 for a message, 1024 for a caption) count UTF-16 code units of
what the message shows: the HTML parsed (tags gone, entities decoded) and cleaned the
way the Bot API cleans it (\\r and U+2028..U+202E dropped, other control characters
made spaces, spaces and newlines trimmed at the ends). An emoji is two units, so a
3,000-character text can be 6,000 of them: Python's len() says nothing about fitting.

What a resident writes is counted as they see it instead: zero-width and other format
characters, combining marks and the halves of a joined emoji are no characters of
their own. And a name or text from a person may hold bidi controls that would reorder
the lines after it: `isolate` and `balanced` keep them inside what the person wrote.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from html import escape

MAX_MESSAGE = 4096
MAX_CAPTION = 1024
ELLIPSIS = "…"

# What the HTML parse mode reads: a tag, an entity, or a run of plain text (a lone "&" is
# plain text to Telegram too).
_TOKEN = re.compile(r"<[^>]*>|&(?:lt|gt|amp|quot|#[0-9]+|#[xX][0-9a-fA-F]+);|[^<&]+|&")
_NAMED = {"&lt;": "<", "&gt;": ">", "&amp;": "&", "&quot;": '"'}
_TAG_NAME = re.compile(r"</?\s*([a-zA-Z][a-zA-Z0-9-]*)")

# Bidi controls. Telegram drops the embeddings and overrides (U+202A..U+202E) from what a
# bot sends, but keeps the isolates (U+2066..U+2069), which reach the end of the line.
_EMBEDDINGS = frozenset("\u202a\u202b\u202c\u202d\u202e")
_ISOLATE_OPENERS = frozenset("\u2066\u2067\u2068")
_PDI = "\u2069"
_FSI = "\u2068"

ZWJ = "\u200d"
# Letters and symbols that show as nothing; people use them to get past "not empty".
_BLANK = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Mn", "Me", "Cs", "Zl", "Zp"})


# --- Telegram's count -----------------------------------------------------------------


def _utf16(text: str) -> int:
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def _cleaned(text: str) -> str:
    """The Bot API's clean-up of every text (TDLib's clean_input_string)."""
    out = []
    for char in text:
        code = ord(char)
        if char == "\r" or 0x2028 <= code <= 0x202E:
            continue
        out.append(" " if code < 32 and char != "\n" else char)
    return "".join(out)


def _decoded(token: str) -> str:
    if token in _NAMED:
        return _NAMED[token]
    if token.startswith("&#") and token.endswith(";"):
        number = token[2:-1]
        code = int(number[1:], 16) if number[:1] in "xX" else int(number)
        return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else ""
    return token


def shown(html: str) -> str:
    """The text a message with this HTML shows, as Telegram stores it."""
    parts: list[str] = []
    size = 0
    first_tag: int | None = None
    for token in _TOKEN.findall(html):
        if token.startswith("<"):
            if first_tag is None:
                first_tag = size
            continue
        piece = _cleaned(_decoded(token))
        parts.append(piece)
        size += len(piece)
    text = "".join(parts).rstrip(" \n")
    leading = len(text) - len(text.lstrip(" \n"))
    # Telegram keeps leading spaces that are inside the first formatted part.
    cut = min(leading, first_tag if first_tag is not None else leading)
    return text[cut:]


def measure(html: str) -> int:
    """The length Telegram checks against its limits, of a text sent in HTML parse mode."""
    return _utf16(shown(html))


def units(text: str) -> int:
    """Telegram's count of a plain piece (what a person wrote) inside a message."""
    return _utf16(_cleaned(text))


def fits(html: str, limit: int = MAX_MESSAGE) -> bool:
    return 0 < measure(html) <= limit


# --- shortening and splitting -----------------------------------------------------------


def _joins_previous(text: str, index: int) -> bool:
    """Whether text[index] belongs to the character before it (cutting there would break
    an accented letter, a flag or a joined emoji into pieces)."""
    if index <= 0 or index >= len(text):
        return False
    char = text[index]
    if text[index - 1] == ZWJ or char == ZWJ:
        return True
    if unicodedata.category(char) in ("Mn", "Me") or 0x1F3FB <= ord(char) <= 0x1F3FF:
        return True
    if _is_regional(char):
        run = 0
        while index - run - 1 >= 0 and _is_regional(text[index - run - 1]):
            run += 1
        return run % 2 == 1  # the second half of a flag
    return False


def _is_regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def _prefix(text: str, limit: int) -> int:
    """How many characters of `text` fit in `limit` units, cut between whole characters."""
    used, end = 0, 0
    for index, char in enumerate(text):
        cost = units(char)  # 0 for what Telegram drops
        if used + cost > limit:
            break
        used += cost
        end = index + 1
    while 0 < end < len(text) and _joins_previous(text, end):
        end -= 1
    return end


def fold(text: str, limit: int) -> str:
    """A plain text cut to at most `limit` units, ending in an ellipsis when cut."""
    if units(text) <= limit:
        return text
    if limit < 1:
        return ""
    end = _prefix(text, limit - 1)
    # Rather at the end of a word, when one ends in the last tenth.
    space = text.rfind(" ", 0, end + 1)
    if space > end * 9 // 10:
        end = space
    return text[:end].rstrip() + ELLIPSIS


def split(text: str, limit: int) -> list[str]:
    """A plain text in parts of at most `limit` units each, cut at a line break or a
    space where there is one in the second half of a part."""
    parts: list[str] = []
    rest = text
    while units(rest) > limit:
        end = max(1, _prefix(rest, limit))
        cut = rest.rfind("\n", 0, end + 1)
        if cut <= end // 2:
            cut = rest.rfind(" ", 0, end + 1)
        if cut <= end // 2:
            cut = end
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip(" \n")
    if rest or not parts:
        parts.append(rest)
    return parts


def fold_html(html: str, limit: int = MAX_MESSAGE) -> str:
    """HTML cut to show at most `limit` units, ending in an ellipsis, its tags closed."""
    if measure(html) <= limit:
        return html
    budget = limit - 1
    out: list[str] = []
    open_tags: list[str] = []
    for token in _TOKEN.findall(html):
        if token.startswith("<"):
            name = _TAG_NAME.match(token)
            if name is None:
                continue
            if token.startswith("</"):
                if open_tags and open_tags[-1] == name.group(1).lower():
                    open_tags.pop()
            else:
                open_tags.append(name.group(1).lower())
            out.append(token)
            continue
        text = _decoded(token)
        cost = units(text)
        if cost <= budget:
            out.append(token)
            budget -= cost
            continue
        if token.startswith("&") and token != "&":
            break  # an entity is one character: it fits whole or not at all
        out.append(escape(text[: _prefix(text, budget)], quote=False))
        break
    out.append(ELLIPSIS)
    out.extend(f"</{name}>" for name in reversed(open_tags))
    return "".join(out)


def _shares(sizes: Mapping[str, int], budget: int) -> dict[str, int]:
    """Split `budget` among pieces fairly: short ones keep all they need, the long ones
    share what is left equally."""
    shares: dict[str, int] = {}
    left = max(budget, 0)
    waiting = sorted(sizes, key=lambda key: sizes[key])
    while waiting:
        equal = left // len(waiting)
        key = waiting.pop(0)
        shares[key] = min(sizes[key], equal)
        left -= shares[key]
    return shares


def fit(
    render: Callable[[Mapping[str, str], bool], str],
    pieces: Mapping[str, str],
    limit: int = MAX_MESSAGE,
) -> tuple[str, bool]:
    """A message that fits in `limit`: `render(pieces, shortened)` makes its HTML from
    plain pieces written by people (it escapes them); when the whole does not fit, the
    pieces are shortened fairly and `shortened` is True, so the message can say where to
    read all of it. The HTML, and whether anything was shortened."""
    whole = render(pieces, False)
    if measure(whole) <= limit:
        return whole, False
    budget = limit - measure(render({key: "" for key in pieces}, True))
    sizes = {key: units(value) for key, value in pieces.items()}
    for _ in range(8):
        shares = _shares(sizes, budget)
        text = render({key: fold(value, shares[key]) for key, value in pieces.items()}, True)
        excess = measure(text) - limit
        if excess <= 0:
            return text, True
        budget -= excess
    return fold_html(text, limit), True


def in_messages(blocks: Sequence[tuple[str, str]], limit: int = MAX_MESSAGE) -> list[str]:
    """Headed plain texts (an HTML heading, a person's text) in as few messages as they
    fit in; a text longer than a message continues in the next one under its heading."""
    messages: list[str] = []
    current = ""
    for heading, text in blocks:
        # Room for the heading, and for what `person` may add to close an isolate.
        room = limit - measure(heading) - 16
        for part in split(text, room):
            block = f"{heading}\n{person(part)}"
            joined = f"{current}\n\n{block}" if current else block
            if current and measure(joined) > limit:
                messages.append(current)
                joined = block
            current = joined
    if current:
        messages.append(current)
    return messages


# --- what people see ------------------------------------------------------------------


def _invisible(char: str) -> bool:
    if char in _BLANK:
        return True
    category = unicodedata.category(char)
    if category == "Cc":
        return char not in "\n\t"
    return category in _INVISIBLE_CATEGORIES


def _counts(text: str, index: int) -> bool:
    """Whether text[index] is a character of its own as a reader sees it."""
    char = text[index]
    if _invisible(char) or 0x1F3FB <= ord(char) <= 0x1F3FF:
        return False
    return not _joins_previous(text, index)


def visible_length(text: str) -> int:
    """How many characters a reader sees, spaces between words included; a text of
    zero-width spaces, bidi controls or blank letters is empty."""
    inner = text.strip()
    start, end = 0, len(inner)
    while start < end and (inner[start].isspace() or _invisible(inner[start])):
        start += 1
    while end > start and (inner[end - 1].isspace() or _invisible(inner[end - 1])):
        end -= 1
    inner = inner[start:end]
    return sum(1 for index in range(len(inner)) if _counts(inner, index))


def cut_to_fit(text: str, limit: int) -> int:
    """How many visible characters must go from the end of `text` for it to take at
    most `limit` of Telegram's units (0 when it fits)."""
    if units(text) <= limit:
        return 0
    end = _prefix(text, limit)
    return max(1, visible_length(text) - visible_length(text[:end]))


def balanced(text: str) -> str:
    """A person's text whose bidi controls stay inside it: embeddings and overrides go
    (Telegram drops them anyway), and on every line an isolate is closed where it was
    opened and a stray closer is dropped, so nothing reorders the lines around it."""
    lines = []
    for line in text.split("\n"):
        out: list[str] = []
        opened = 0
        for char in line:
            if char in _EMBEDDINGS:
                continue
            if char in _ISOLATE_OPENERS:
                opened += 1
            elif char == _PDI:
                if not opened:
                    continue
                opened -= 1
            out.append(char)
        lines.append("".join(out) + _PDI * opened)
    return "\n".join(lines)


def isolate(name: str) -> str:
    """A name (one line) from a person, set apart so that its writing direction does not
    spill into the text around it: first strong character isolate ... pop isolate."""
    return _FSI + balanced(" ".join(name.split("\n"))) + _PDI


def person(text: str) -> str:
    """A person's text, made safe for HTML and for the lines around it."""
    return escape(balanced(text), quote=False)


def person_name(name: str) -> str:
    return escape(isolate(name), quote=False)
