"""Checks of ``reply_markup`` the way the Bot API server and TDLib apply them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError
from .html_entities import check_link
from .models import Button

MAX_CALLBACK_DATA_BYTES = 64
MAX_COPY_TEXT = 256  # CopyTextButton.text: 1-256 characters
MAX_BUTTONS_PER_ROW = 12
MAX_BUTTONS = 300
# The order in which the Bot API server looks for a button's kind; the first one wins.
INLINE_BUTTON_KINDS = (
    "url",
    "callback_data",
    "callback_game",
    "pay",
    "switch_inline_query",
    "switch_inline_query_chosen_chat",
    "switch_inline_query_current_chat",
    "login_url",
    "web_app",
    "copy_text",
)
_BUTTON_DECORATION = ("icon_custom_emoji_id", "style")


@dataclass
class ParsedMarkup:
    """A checked reply_markup. ``kind`` is inline, keyboard, remove or force_reply."""

    kind: str
    markup: dict[str, Any]
    buttons: tuple[tuple[Button, ...], ...] = ()
    keyboard: tuple[tuple[str, ...], ...] = ()
    warnings: list[str] = field(default_factory=list)

    @property
    def inline_markup(self) -> dict[str, Any] | None:
        """What a Message object carries: only inline keyboards are echoed back."""
        return self.markup if self.kind == "inline" else None


def parse_reply_markup(value: dict[str, Any] | None, *, inline_only: bool) -> ParsedMarkup | None:
    """Check a decoded reply_markup; None when it amounts to no markup at all.

    Raises :class:`ApiError` with Telegram's wording for what Telegram refuses, and
    lists in ``warnings`` what Telegram silently fixes (dropped or truncated buttons,
    buttons of two kinds at once).
    """
    if value is None:
        return None
    warnings: list[str] = []
    parsed = _parse_keyboard(value, warnings) or _parse_inline_keyboard(value, warnings)
    if parsed is None:
        parsed = _parse_simple_markup(value)
    if parsed is None:
        return None
    if inline_only and parsed.kind != "inline":
        raise ApiError.bad_request("inline keyboard expected")
    parsed.warnings = warnings
    return parsed


def _parse_keyboard(value: dict[str, Any], warnings: list[str]) -> ParsedMarkup | None:
    rows = value.get("keyboard")
    if rows is None:
        return None
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ApiError.bad_request('field "keyboard" must be an Array of Arrays')
    labels: list[tuple[str, ...]] = []
    for row in rows:
        row_labels = []
        for button in row:
            text = button if isinstance(button, str) else _button_text(button, "keyboard button")
            if text:
                row_labels.append(text)
            else:
                warnings.append("a keyboard button without text was dropped")
        if row_labels:
            labels.append(tuple(row_labels))
    if not labels:
        return None
    return ParsedMarkup("keyboard", dict(value), keyboard=tuple(labels))


def _parse_inline_keyboard(value: dict[str, Any], warnings: list[str]) -> ParsedMarkup | None:
    rows = value.get("inline_keyboard")
    if rows is None:
        return None
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ApiError.bad_request(
            'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
        )
    kept_rows: list[list[dict[str, Any]]] = []
    total = 0
    for row in rows:
        kept: list[dict[str, Any]] = []
        for button in row:
            if total >= MAX_BUTTONS or len(kept) >= MAX_BUTTONS_PER_ROW:
                warnings.append(
                    "inline keyboard truncated: Telegram keeps 12 buttons a row, 300 in all"
                )
                break
            checked = _check_inline_button(button, warnings)
            if checked is not None:
                kept.append(checked)
                total += 1
        if kept:
            kept_rows.append(kept)
    if not kept_rows:
        return None
    buttons = tuple(tuple(_button_ref(b) for b in row) for row in kept_rows)
    return ParsedMarkup("inline", {"inline_keyboard": kept_rows}, buttons=buttons)


def _parse_simple_markup(value: dict[str, Any]) -> ParsedMarkup | None:
    if value.get("remove_keyboard") or value.get("hide_keyboard"):
        return ParsedMarkup("remove", dict(value))
    if value.get("force_reply") or value.get("force_reply_keyboard"):
        return ParsedMarkup("force_reply", dict(value))
    return None


def _button_text(button: Any, what: str) -> str:
    if not isinstance(button, dict):
        raise ApiError.bad_request(f"can't parse {what}: {what.capitalize()} must be an Object")
    text = button.get("text")
    if text is None:
        raise ApiError.bad_request(f"can't parse {what}: Can't find field \"text\"")
    if not isinstance(text, str):
        raise ApiError.bad_request(f'can\'t parse {what}: Field "text" must be of type String')
    return text


def _check_inline_button(button: Any, warnings: list[str]) -> dict[str, Any] | None:
    if not isinstance(button, dict):
        raise ApiError.bad_request(
            "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
        )
    text = _button_text(button, "inline keyboard button")
    kinds = [k for k in INLINE_BUTTON_KINDS if button.get(k) not in (None, "", False)]
    if not kinds:
        raise ApiError.bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if not text and not button.get("icon_custom_emoji_id"):
        warnings.append("an inline button with empty text was dropped")
        return None
    if len(kinds) > 1:
        warnings.append(
            f"inline button {text!r} has {', '.join(kinds)}; Telegram uses only {kinds[0]}"
        )
    kind = kinds[0]
    payload = button[kind]
    if kind == "callback_data":
        _check_callback_data(payload)
    elif kind == "url":
        _check_button_url(payload)
    elif kind == "copy_text":
        _check_copy_text(payload)
    checked = {"text": text, kind: payload}
    checked.update({k: button[k] for k in _BUTTON_DECORATION if button.get(k)})
    return checked


def _check_callback_data(data: Any) -> None:
    if not isinstance(data, str):
        raise ApiError.bad_request(
            'can\'t parse inline keyboard button: Field "callback_data" must be of type String'
        )
    if len(data.encode("utf-8")) > MAX_CALLBACK_DATA_BYTES:
        raise ApiError.bad_request("BUTTON_DATA_INVALID")


def _check_copy_text(copy: Any) -> None:
    """A CopyTextButton: an object whose text is 1-256 characters."""
    text = copy.get("text") if isinstance(copy, dict) else None
    if not isinstance(text, str):
        raise ApiError.bad_request(
            'can\'t parse inline keyboard button: Field "copy_text" must be a CopyTextButton'
        )
    if not 1 <= len(text) <= MAX_COPY_TEXT:
        raise ApiError.bad_request("COPY_TEXT_INVALID")


def _check_button_url(url: Any) -> None:
    if not isinstance(url, str):
        raise ApiError.bad_request(
            'can\'t parse inline keyboard button: Field "url" must be of type String'
        )
    if url.lower().startswith(("tg://user?id=", "tg:user?id=")):
        return
    if check_link(url) is None:
        raise ApiError.bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")


def _button_ref(button: dict[str, Any]) -> Button:
    kind = next(k for k in INLINE_BUTTON_KINDS if k in button)
    payload = button[kind]
    if isinstance(payload, dict):
        payload = payload.get("url") or payload.get("text") or payload.get("query")
    return Button(button["text"], None if payload is None or payload is True else str(payload))
