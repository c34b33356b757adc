"""Telegram's HTML parse mode and text normalisation, as the Bot API server applies them.

The parser follows TDLib's ``parse_html`` (td/telegram/MessageEntity.cpp) step by step,
on UTF-8 bytes, so that the error texts and their *byte* offsets match what Telegram
answers. Entity offsets and lengths are in UTF-16 code units, like the Bot API's.

One deliberate difference, switched by ``strict_ampersand``: Telegram keeps a ``&`` that
does not start a known entity (``&lt; &gt; &amp; &quot; &#NN; &#xNN;``) as a literal
character, although its documentation says every ``&`` must be escaped. The stand-in
rejects it by default because such a bot is one resident's ``&lt;`` away from showing
the wrong text (or, with ``<``, from a 400 in production).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .errors import ApiError

MAX_MESSAGE_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
# The Bot API refuses raw text over 32 KiB before parsing ("text is too long").
MAX_RAW_TEXT_BYTES = 1 << 15

SUPPORTED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "tg-time",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_SIMPLE_TAG_TYPES = {
    "i": "italic",
    "em": "italic",
    "b": "bold",
    "strong": "bold",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "u": "underline",
    "ins": "underline",
    "tg-spoiler": "spoiler",
}
# TDLib's tie-breaker when two entities start and end at the same place.
_TYPE_PRIORITY = {
    "blockquote": 0,
    "expandable_blockquote": 0,
    "pre": 11,
    "code": 20,
    "text_link": 49,
    "text_mention": 49,
    "bot_command": 50,
    "date_time": 50,
    "bold": 90,
    "italic": 91,
    "underline": 92,
    "strikethrough": 93,
    "spoiler": 94,
    "custom_emoji": 99,
}
_NAMED_ENTITIES = {b"lt": "<", b"gt": ">", b"amp": "&", b"quot": '"'}
_SPACES = frozenset(b" \t\r\n\0\v")


class EntityParseError(ApiError):
    """``Bad Request: can't parse entities: ...``."""

    def __init__(self, message: str) -> None:
        super().__init__(400, f"Bad Request: can't parse entities: {message}")
        self.message = message


@dataclass
class FormattedText:
    """Plain text plus Bot API ``MessageEntity`` dicts (UTF-16 offsets)."""

    text: str
    entities: list[dict[str, Any]] = field(default_factory=list)


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's limits and entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def utf16_slice(text: str, offset: int, length: int) -> str:
    """The part of ``text`` an entity covers (offset/length in UTF-16 code units)."""
    raw = text.encode("utf-16-le")
    return raw[2 * offset : 2 * (offset + length)].decode("utf-16-le", errors="replace")


def parse_html(html: str, *, strict_ampersand: bool = True) -> FormattedText:
    """Parse Telegram-flavoured HTML into plain text and entities.

    Raises :class:`EntityParseError` with Telegram's wording on malformed input.
    """
    return _HtmlParser(html.encode("utf-8"), strict_ampersand).parse()


def _is_first_code_unit(byte: int) -> bool:
    return (byte & 0xC0) != 0x80


def _is_alpha(byte: int) -> bool:
    return 0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A


def _is_digit(byte: int) -> bool:
    return 0x30 <= byte <= 0x39


def _is_alnum(byte: int) -> bool:
    return _is_alpha(byte) or _is_digit(byte)


def _is_hex_digit(byte: int) -> bool:
    return _is_digit(byte) or 0x41 <= byte <= 0x46 or 0x61 <= byte <= 0x66


@dataclass
class _OpenTag:
    name: str
    argument: str
    date: int
    utf16_offset: int
    result_pos: int


class _HtmlParser:
    """A direct port of TDLib's parser; ``self.at(i)`` stands for its NUL-terminated C string."""

    def __init__(self, data: bytes, strict_ampersand: bool) -> None:
        self.data = data
        self.strict_ampersand = strict_ampersand
        self.result = bytearray()
        self.entities: list[dict[str, Any]] = []
        self.open_tags: list[_OpenTag] = []
        self.utf16_offset = 0

    def at(self, i: int) -> int:
        return self.data[i] if i < len(self.data) else 0

    def parse(self) -> FormattedText:
        i = 0
        while i < len(self.data):
            byte = self.data[i]
            if byte == 0x26:  # '&'
                decoded = self.decode_entity(i)
                if decoded is not None:
                    code, i = decoded
                    self.utf16_offset += 2 if code > 0xFFFF else 1
                    self.result += chr(code).encode("utf-8", errors="surrogatepass")
                    continue
                if self.strict_ampersand:
                    raise EntityParseError(
                        f'Character "&" at byte offset {i} is not part of an entity; '
                        'escape it as "&amp;"'
                    )
            if byte != 0x3C:  # '<'
                if _is_first_code_unit(byte):
                    self.utf16_offset += 2 if byte >= 0xF0 else 1
                self.result.append(byte)
                i += 1
                continue
            if self.at(i + 1) != 0x2F:  # '/'
                i = self.parse_start_tag(i)
            else:
                i = self.parse_end_tag(i)
        if self.open_tags:
            raise EntityParseError(
                f'Can\'t find end tag corresponding to start tag "{self.open_tags[-1].name}"'
            )
        for entity in self.entities:
            if entity["type"] == "code":
                entity.pop("language", None)
        try:
            text = self.result.decode("utf-8")
        except UnicodeDecodeError:
            raise EntityParseError(
                "Text contains invalid Unicode characters after decoding HTML entities, "
                "check for unmatched surrogate code units"
            ) from None
        return FormattedText(text, sort_entities(self.entities))

    def decode_entity(self, pos: int) -> tuple[int, int] | None:
        """Decode the entity at ``pos``; return (code point, position after it) or None."""
        end = pos + 1
        code = 0
        if self.at(pos + 1) == 0x23:  # '#'
            end += 1
            if self.at(pos + 2) == 0x78:  # 'x'
                end += 1
                while _is_hex_digit(self.at(end)):
                    code = code * 16 + int(chr(self.at(end)), 16)
                    end += 1
            else:
                while _is_digit(self.at(end)):
                    code = code * 10 + self.at(end) - 0x30
                    end += 1
            if code == 0 or code >= 0x10FFFF or end - pos >= 10:
                return None
        else:
            while _is_alpha(self.at(end)):
                end += 1
            name = self.data[pos + 1 : end]
            if name not in _NAMED_ENTITIES:
                return None
            code = ord(_NAMED_ENTITIES[name])
        if self.at(end) == 0x3B:  # ';' is optional, as in TDLib
            end += 1
        return code, end

    def parse_start_tag(self, begin: int) -> int:
        i = begin + 1
        while self.at(i) not in _SPACES and self.at(i) != 0x3E:
            i += 1
        if self.at(i) == 0:
            raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
        tag = self.data[begin + 1 : i].decode("utf-8", errors="replace").lower()
        if tag not in SUPPORTED_TAGS:
            raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {begin}')

        argument = ""
        date = 0
        while self.at(i) != 0x3E:  # '>'
            while self.at(i) != 0 and self.at(i) in _SPACES:
                i += 1
            if self.at(i) == 0x3E:
                break
            name_begin = i
            while self.at(i) not in _SPACES and self.at(i) not in b"=>/\"'":
                i += 1
            name = self.data[name_begin:i].decode("utf-8", errors="replace")
            if not name:
                raise EntityParseError(
                    f'Empty attribute name in the tag "{tag}" at byte offset {begin}'
                )
            while self.at(i) != 0 and self.at(i) in _SPACES:
                i += 1
            if self.at(i) != 0x3D:  # '=': a bare attribute
                if self.at(i) == 0:
                    raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
                if tag == "blockquote" and name == "expandable":
                    argument = "1"
                continue
            i += 1
            while self.at(i) != 0 and self.at(i) in _SPACES:
                i += 1
            if self.at(i) == 0:
                raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
            value, i = self.parse_attribute_value(i)
            if self.at(i) == 0:
                raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
            argument, date = _apply_attribute(tag, name, value, argument, date)

        if tag == "span" and argument != "spoiler":
            raise EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {begin}'
            )
        self.open_tags.append(_OpenTag(tag, argument, date, self.utf16_offset, len(self.result)))
        return i + 1

    def parse_attribute_value(self, i: int) -> tuple[str, int]:
        quote = self.at(i)
        if quote not in (0x22, 0x27):
            # An unquoted name token: letters, digits, periods, hyphens; case-insensitive.
            token_begin = i
            while _is_alnum(self.at(i)) or self.at(i) in b".-":
                i += 1
            if self.at(i) not in _SPACES and self.at(i) != 0x3E:
                raise EntityParseError(f"Unexpected end of name token at byte offset {token_begin}")
            return self.data[token_begin:i].decode("utf-8").lower(), i
        i += 1
        value = bytearray()
        while self.at(i) != quote and self.at(i) != 0:
            if self.at(i) == 0x26:
                decoded = self.decode_entity(i)
                if decoded is not None:
                    code, i = decoded
                    value += chr(code).encode("utf-8", errors="surrogatepass")
                    continue
                if self.strict_ampersand:
                    raise EntityParseError(
                        f'Character "&" at byte offset {i} is not part of an entity; '
                        'escape it as "&amp;"'
                    )
            value.append(self.at(i))
            i += 1
        if self.at(i) == quote:
            i += 1
        return value.decode("utf-8", errors="replace"), i

    def parse_end_tag(self, begin: int) -> int:
        if not self.open_tags:
            raise EntityParseError(f"Unexpected end tag at byte offset {begin}")
        i = begin + 2
        while self.at(i) not in _SPACES and self.at(i) != 0x3E:
            i += 1
        end_name = self.data[begin + 2 : i].decode("utf-8", errors="replace").lower()
        while self.at(i) in _SPACES and self.at(i) != 0:
            i += 1
        if self.at(i) != 0x3E:
            raise EntityParseError(f"Unclosed end tag at byte offset {begin}")
        open_tag = self.open_tags[-1]
        if end_name and end_name != open_tag.name:
            raise EntityParseError(
                f'Unmatched end tag at byte offset {begin}, expected "</{open_tag.name}>", '
                f'found "</{end_name}>"'
            )
        if self.utf16_offset > open_tag.utf16_offset:
            self.add_entity(open_tag)
        self.open_tags.pop()
        return i + 1

    def add_entity(self, tag: _OpenTag) -> None:
        offset = tag.utf16_offset
        length = self.utf16_offset - offset
        base = {"offset": offset, "length": length}
        previous = self.entities[-1] if self.entities else None
        same_span = (
            previous is not None and previous["offset"] == offset and previous["length"] == length
        )
        if tag.name in _SIMPLE_TAG_TYPES:
            self.entities.append({"type": _SIMPLE_TAG_TYPES[tag.name], **base})
        elif tag.name == "span":
            self.entities.append({"type": "spoiler", **base})
        elif tag.name == "tg-emoji":
            if not tag.argument.isdigit() or int(tag.argument) == 0:
                raise EntityParseError("Invalid custom emoji identifier specified")
            self.entities.append({"type": "custom_emoji", **base, "custom_emoji_id": tag.argument})
        elif tag.name == "tg-time":
            if tag.date > 0:
                entity = {"type": "date_time", **base, "unix_time": tag.date}
                if tag.argument:
                    entity["date_time_format"] = tag.argument
                self.entities.append(entity)
        elif tag.name == "a":
            url = tag.argument or self.result[tag.result_pos :].decode("utf-8", errors="replace")
            entity = _link_entity(url)
            if entity is not None:
                self.entities.append({**entity, **base})
        elif tag.name == "pre":
            if same_span and previous["type"] == "code" and previous.get("language"):
                previous["type"] = "pre"
            else:
                self.entities.append({"type": "pre", **base})
        elif tag.name == "code":
            if same_span and previous["type"] == "pre" and tag.argument:
                previous["language"] = tag.argument
            else:
                entity = {"type": "code", **base}
                if tag.argument:
                    # Kept until the end so an enclosing <pre> can claim it.
                    entity["language"] = tag.argument
                self.entities.append(entity)
        elif tag.name == "blockquote":
            kind = "expandable_blockquote" if tag.argument else "blockquote"
            self.entities.append({"type": kind, **base})


def _apply_attribute(tag: str, name: str, value: str, argument: str, date: int) -> tuple[str, int]:
    """Return the tag's (argument, date) after one ``name=value`` attribute; others are ignored."""
    if tag == "a" and name == "href":
        return value, date
    if tag == "code" and name == "class" and value.startswith("language-"):
        return value[len("language-") :], date
    if tag == "span" and name == "class" and value.startswith("tg-"):
        return value[len("tg-") :], date
    if tag == "tg-emoji" and name == "emoji-id":
        return value, date
    if tag == "blockquote" and name == "expandable":
        return "1", date
    if tag == "tg-time" and name == "unix":
        return argument, int(value) if value.lstrip("-").isdigit() else 0
    if tag == "tg-time" and name == "format":
        return value, date
    return argument, date


def _link_entity(url: str) -> dict[str, Any] | None:
    """text_link / text_mention for an ``<a href>``; None when Telegram would drop the link."""
    lowered = url.lower()
    if lowered.startswith(("tg://user?", "tg:user?", "tg://user/?")):
        query = lowered.split("?", 1)[1].split("#", 1)[0]
        for pair in query.split("&"):
            key, _, value = pair.partition("=")
            if key == "id" and value.isdigit():
                return {
                    "type": "text_mention",
                    "user": {"id": int(value), "is_bot": False, "first_name": ""},
                }
        return None
    checked = check_link(url)
    return None if checked is None else {"type": "text_link", "url": checked}


def check_link(url: str) -> str | None:
    """An approximation of TDLib's link check: http(s) links with a dotted host, tg/ton links.

    Returns the normalised link, or None for links Telegram silently drops.
    """
    lowered = url.lower()
    for scheme in ("tg", "ton", "tonsite"):
        if lowered.startswith(scheme + ":"):
            rest = url[len(scheme) + 1 :].removeprefix("//")
            host = rest.split("?", 1)[0].split("/", 1)[0]
            allowed = set("-_.") if scheme == "tonsite" else set("-_")
            if not host or not all(c.isascii() and (c.isalnum() or c in allowed) for c in host):
                return None
            return f"{scheme}://{rest}"
    candidate = url if "://" in url else f"http://{url}"
    try:
        parts = urlsplit(candidate.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if "." not in parts.hostname and ":" not in parts.hostname:
        return None
    path = parts.path or "/"
    query = f"?{parts.query}" if parts.query else ""
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    return f"{parts.scheme.lower()}://{parts.netloc}{path}{query}{fragment}"


def sort_entities(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """TDLib's order: by offset, longer first, then by type priority."""
    return sorted(
        entities,
        key=lambda e: (e["offset"], -e["length"], _TYPE_PRIORITY.get(e["type"], 50)),
    )


def clean_and_trim(formatted: FormattedText) -> FormattedText:
    """Apply TDLib's ``fix_formatted_text`` clean-up that changes what a message stores.

    Control characters become spaces, ``\\r`` and U+2028..U+202E are dropped, then
    spaces and newlines are trimmed at both ends (not inside a leading entity);
    entities are shifted and clipped to match. The result's text may be empty.
    """
    text, offset_map = _clean_characters(formatted.text)
    entities = []
    for entity in formatted.entities:
        start = offset_map[entity["offset"]]
        end = offset_map[min(entity["offset"] + entity["length"], len(offset_map) - 1)]
        if end > start:
            entities.append({**entity, "offset": start, "length": end - start})

    stripped_right = text.rstrip(" \n")
    if not stripped_right:
        return FormattedText("", [])
    right_limit = utf16_len(stripped_right)
    clipped = []
    for entity in entities:
        if entity["offset"] >= right_limit:
            continue
        length = min(entity["length"], right_limit - entity["offset"])
        clipped.append({**entity, "length": length})

    first_entity = min((e["offset"] for e in clipped), default=right_limit)
    leading = len(stripped_right) - len(stripped_right.lstrip(" \n"))
    # Leading whitespace is ASCII, so characters and UTF-16 units coincide here.
    cut = min(leading, first_entity)
    shifted = [{**e, "offset": e["offset"] - cut} for e in clipped]
    return FormattedText(stripped_right[cut:], sort_entities(shifted))


def _clean_characters(text: str) -> tuple[str, list[int]]:
    """Clean like TDLib; return the text and a map from old to new UTF-16 offsets."""
    out: list[str] = []
    offset_map: list[int] = []
    new_offset = 0
    for char in text:
        units = 2 if ord(char) > 0xFFFF else 1
        offset_map.extend([new_offset] * units)
        code = ord(char)
        if char == "\r" or 0x2028 <= code <= 0x202E:
            continue
        if code < 32 and char != "\n":
            char = " "
        out.append(char)
        new_offset += units
    offset_map.append(new_offset)
    return "".join(out), offset_map
