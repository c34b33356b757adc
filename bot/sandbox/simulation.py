"""Building what simulated users send: message contents and realistic sample media."""

from __future__ import annotations

import re
import struct
import zlib
from functools import cache
from typing import Any

from .html_entities import utf16_len
from .models import SimUser, StoredFile
from .world import World, document_json, photo_sizes_json

# TDLib's bot command rule: "/" plus 1-64 of [A-Za-z0-9_], optionally "@" plus a
# 3-32 character bot username, not glued to a word, "/", "<" or ">" on either side.
_COMMAND_RE = re.compile(r"(?<![\w/<>])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/<>@])")
SAMPLE_OGG = b"OggS\x00\x02" + bytes(22) + b"OpusHead\x01\x01\x00\x00\x80\xbb\x00\x00\x00\x00\x00"
SAMPLE_STICKER = (
    b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00/"
    b"\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"
)


@cache
def sample_png() -> bytes:
    """A valid 1x1 PNG, the default picture simulated users send."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x80\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def bot_command_entities(text: str) -> list[dict[str, Any]]:
    """``bot_command`` entities as Telegram adds them to a user's text."""
    entities = []
    for match in _COMMAND_RE.finditer(text):
        entities.append(
            {
                "type": "bot_command",
                "offset": utf16_len(text[: match.start()]),
                "length": utf16_len(match.group()),
            }
        )
    return entities


def text_content(text: str) -> dict[str, Any]:
    content: dict[str, Any] = {"text": text}
    entities = bot_command_entities(text)
    if entities:
        content["entities"] = entities
    return content


def caption_content(caption: str | None) -> dict[str, Any]:
    if not caption:
        return {}
    content: dict[str, Any] = {"caption": caption}
    entities = bot_command_entities(caption)
    if entities:
        content["caption_entities"] = entities
    return content


def photo_content(world: World, data: bytes) -> tuple[dict[str, Any], StoredFile]:
    stored = world.store_file(data, kind="photo", mime_type="image/jpeg")
    return {"photo": photo_sizes_json(world, stored)}, stored


def document_content(
    world: World, data: bytes, file_name: str, mime_type: str | None
) -> tuple[dict[str, Any], StoredFile]:
    stored = world.store_file(data, kind="document", file_name=file_name, mime_type=mime_type)
    document = document_json(stored)
    world.remember_media("document", document, stored.file_id)
    return {"document": document}, stored


def voice_content(world: World, data: bytes, duration: int) -> tuple[dict[str, Any], StoredFile]:
    stored = world.store_file(data, kind="voice", mime_type="audio/ogg")
    return {"voice": voice_json(world, stored, duration)}, stored


def voice_json(world: World, stored: StoredFile, duration: int) -> dict[str, Any]:
    voice = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "duration": duration,
        "mime_type": stored.mime_type or "audio/ogg",
        "file_size": len(stored.data),
    }
    world.remember_media("voice", voice, stored.file_id)
    return voice


def sticker_content(world: World, emoji: str) -> tuple[dict[str, Any], StoredFile]:
    stored = world.store_file(SAMPLE_STICKER, kind="sticker", mime_type="image/webp")
    sticker = sticker_json(world, stored, emoji, set_name="CivicbotSandboxStickers")
    return {"sticker": sticker}, stored


def sticker_json(
    world: World, stored: StoredFile, emoji: str | None, *, set_name: str | None = None
) -> dict[str, Any]:
    sticker: dict[str, Any] = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    }
    if emoji:
        sticker["emoji"] = emoji
    if set_name:
        sticker["set_name"] = set_name
    sticker["file_size"] = len(stored.data)
    world.remember_media("sticker", sticker, stored.file_id)
    return sticker


def location_content(latitude: float, longitude: float) -> dict[str, Any]:
    return {"location": {"latitude": latitude, "longitude": longitude}}


def contact_content(
    user: SimUser,
    phone_number: str,
    first_name: str | None,
    last_name: str | None,
    user_id: int | None,
) -> dict[str, Any]:
    """A shared contact; without names it is the user's own (the usual "share my phone")."""
    contact: dict[str, Any] = {
        "phone_number": phone_number,
        "first_name": first_name or user.first_name,
    }
    if first_name is None:
        user_id = user.id if user_id is None else user_id
        last_name = user.last_name if last_name is None else last_name
    if last_name:
        contact["last_name"] = last_name
    if user_id is not None:
        contact["user_id"] = user_id
    return {"contact": contact}
