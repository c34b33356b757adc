"""The Bot API method table (``bot_api_methods.json``) and request parameter checks.

Telegram's server reads every parameter as a string and converts leniently; the
stand-in converts the same inputs (form fields, multipart parts, JSON bodies) but
refuses values of the wrong type, and reports parameters and object fields the
spec does not know, so that a bot's mistakes surface in tests.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from .errors import ApiError

SPEC_PATH = Path(__file__).with_name("bot_api_methods.json")
_INTEGER_RE = re.compile(r"-?\d+")
_TRUE_STRINGS = frozenset({"true", "1"})
_FALSE_STRINGS = frozenset({"false", "0"})
_SCALAR_TYPES = frozenset({"Integer", "Float", "Boolean", "String", "True"})
ATTACH_PREFIX = "attach://"

# Telegram's own words for a missing required parameter, where they differ from
# the generic "<name> is empty" (texts from the Bot API server's Client.cpp).
_MISSING_PARAMETER_MESSAGES = {
    "text": "message text is empty",
    "document": "there is no document in the request",
    "photo": "there is no photo in the request",
    "message_id": "message identifier is not specified",
    "callback_query_id": "query is too old and response timeout expired or query ID is invalid",
    "user_id": "invalid user_id specified",
    "file_id": "file_id not specified",
    "action": "wrong parameter action in request",
    "name": "name must be non-empty",
    "message_thread_id": "invalid forum topic identifier specified",
    "media": 'parameter "media" is required',
    "voice": "there is no voice in the request",
    "sticker": "there is no sticker in the request",
    "from_chat_id": 'parameter "from_chat_id" is required',
}
# JSON parameters whose parse failure Telegram words in its own way.
_JSON_PARSE_MESSAGES = {
    "reply_markup": "can't parse reply keyboard markup JSON object",
    "entities": "can't parse entities JSON object",
    "caption_entities": "can't parse entities JSON object",
    "link_preview_options": "can't parse link preview options JSON object",
    "commands": "can't parse commands JSON object",
    "scope": "can't parse BotCommandScope JSON object",
    "reply_parameters": "can't parse reply parameters JSON object",
}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    types: tuple[str, ...]
    required: bool


@dataclass(frozen=True)
class TypeSpec:
    name: str
    fields: dict[str, FieldSpec]
    subtypes: tuple[str, ...] = ()
    discriminator: tuple[str, str] | None = None


@dataclass(frozen=True)
class MethodSpec:
    name: str
    fields: dict[str, FieldSpec]
    returns: tuple[str, ...]


@dataclass
class UploadedFile:
    """A file part of a multipart request."""

    field_name: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class CheckedParams:
    """Parameters converted to Python values, plus what Telegram would silently ignore."""

    values: dict[str, Any]
    ignored: list[str] = field(default_factory=list)


class BotApiSpec:
    """The subset of the published Bot API spec shipped in ``bot_api_methods.json``."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.version: str = raw["version"]
        self.methods = {
            name.lower(): MethodSpec(
                name=name,
                fields=_fields(method.get("fields", [])),
                returns=tuple(method["returns"]),
            )
            for name, method in raw["methods"].items()
        }
        self.types = {
            name: TypeSpec(
                name=name,
                fields=_fields(entry.get("fields", [])),
                subtypes=tuple(entry.get("subtypes", ())),
                discriminator=(
                    (entry["discriminator"]["field"], entry["discriminator"]["value"])
                    if "discriminator" in entry
                    else None
                ),
            )
            for name, entry in raw.get("types", {}).items()
        }

    @classmethod
    def load(cls, path: Path = SPEC_PATH) -> BotApiSpec:
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def method(self, name: str) -> MethodSpec | None:
        """Look a method up case-insensitively, as Telegram does."""
        return self.methods.get(name.lower())

    def check_params(
        self, method: MethodSpec, raw: dict[str, Any], files: dict[str, UploadedFile]
    ) -> CheckedParams:
        """Convert and check ``raw`` against ``method``; raise :class:`ApiError` on a bad value.

        Empty strings count as absent, as on Telegram's server. Multipart parts that a
        parameter references with ``attach://`` are not unknown parameters.
        """
        values: dict[str, Any] = {}
        ignored: list[str] = []
        referenced = _attached_names(raw)
        for name, value in raw.items():
            spec_field = method.fields.get(name)
            if spec_field is None:
                if not (name in files and name in referenced):
                    ignored.append(f"unknown parameter {name!r}")
                continue
            if value == "" or value is None:
                continue
            converted = self._convert(spec_field, value, files)
            values[name] = converted
            ignored.extend(self.unknown_fields(converted, spec_field.types, name))
        for name, upload in files.items():
            if name in method.fields and name not in values:
                values[name] = self._convert(method.fields[name], upload, files)
            elif name not in method.fields and name not in referenced and name not in raw:
                ignored.append(f"unknown parameter {name!r} (an uploaded file)")
        for spec_field in method.fields.values():
            if spec_field.required and spec_field.name not in values:
                raise ApiError.bad_request(missing_parameter_message(spec_field.name))
        return CheckedParams(values, ignored)

    def _convert(self, spec_field: FieldSpec, value: Any, files: dict[str, UploadedFile]) -> Any:
        for type_name in spec_field.types:
            try:
                return _convert_value(type_name, value, files, spec_field.name)
            except _TypeMismatch:
                continue
        wanted = " or ".join(spec_field.types)
        raise ApiError.bad_request(f'field "{spec_field.name}" must be of type {wanted}')

    def unknown_fields(self, value: Any, types: tuple[str, ...], path: str) -> list[str]:
        """What in an object value none of ``types`` defines, worded for a report."""
        if isinstance(value, list):
            element_types = tuple(
                t.removeprefix("Array of ") for t in types if t.startswith("Array")
            )
            found: list[str] = []
            for index, item in enumerate(value):
                found.extend(self.unknown_fields(item, element_types, f"{path}[{index}]"))
            return found
        if not isinstance(value, dict):
            return []
        type_spec = self._pick_type(value, types)
        if type_spec is None:
            known = [t for t in types if t in self.types]
            return [f"{path!r} is none of {', '.join(known)}"] if known else []
        found = []
        for key, item in value.items():
            nested = type_spec.fields.get(key)
            if nested is None:
                found.append(f"unknown field {key!r} in {path} ({type_spec.name})")
            else:
                found.extend(self.unknown_fields(item, nested.types, f"{path}.{key}"))
        return found

    def _pick_type(self, value: dict[str, Any], types: tuple[str, ...]) -> TypeSpec | None:
        """The object type ``value`` is meant to be: by discriminator, else by required fields."""
        candidates: list[TypeSpec] = []
        for name in types:
            type_spec = self.types.get(name)
            if type_spec is None:
                continue
            if type_spec.subtypes:
                candidates.extend(self.types[s] for s in type_spec.subtypes if s in self.types)
            else:
                candidates.append(type_spec)
        for candidate in candidates:
            if candidate.discriminator is not None:
                key, expected = candidate.discriminator
                if value.get(key) == expected:
                    return candidate
        for candidate in candidates:
            if candidate.discriminator is None and all(
                f.name in value for f in candidate.fields.values() if f.required
            ):
                return candidate
        return None


def missing_parameter_message(name: str) -> str:
    return _MISSING_PARAMETER_MESSAGES.get(name, f"{name} is empty")


@cache
def default_spec() -> BotApiSpec:
    """The shipped spec, loaded once per process (it is read-only)."""
    return BotApiSpec.load()


class _TypeMismatch(Exception):
    pass


def _fields(raw_fields: list[dict[str, Any]]) -> dict[str, FieldSpec]:
    return {
        f["name"]: FieldSpec(f["name"], tuple(f["types"]), bool(f["required"])) for f in raw_fields
    }


def _attached_names(raw: dict[str, Any]) -> set[str]:
    """Names of multipart parts referenced as ``attach://name`` anywhere in the parameters."""
    names: set[str] = set()

    def visit(value: Any) -> None:
        if isinstance(value, str):
            for match in re.finditer(r"attach://([A-Za-z0-9_\-]+)", value):
                names.add(match.group(1))
        elif isinstance(value, dict):
            for item in value.values():
                visit(item)
        elif isinstance(value, list):
            for item in value:
                visit(item)

    visit(raw)
    return names


def _convert_value(type_name: str, value: Any, files: dict[str, UploadedFile], name: str) -> Any:
    """Convert one value to ``type_name`` or raise _TypeMismatch."""
    if type_name == "Integer":
        return _to_integer(value)
    if type_name == "Float":
        return _to_float(value)
    if type_name in ("Boolean", "True"):
        return _to_boolean(value)
    if type_name == "String":
        return _to_string(value)
    if type_name == "InputFile":
        return _to_upload(value, files)
    if type_name.startswith("Array of "):
        decoded = _decode_json(value, name)
        if not isinstance(decoded, list):
            raise _TypeMismatch
        element_type = type_name.removeprefix("Array of ")
        return [_convert_element(element_type, item, files, name) for item in decoded]
    decoded = _decode_json(value, name)
    if not isinstance(decoded, dict):
        raise _TypeMismatch
    return decoded


def _convert_element(type_name: str, value: Any, files: dict[str, UploadedFile], name: str) -> Any:
    if type_name.startswith("Array of ") or type_name in _SCALAR_TYPES:
        return _convert_value(type_name, value, files, name)
    # Objects inside arrays arrive already decoded; KeyboardButton may be a bare string.
    if isinstance(value, dict) or (type_name == "KeyboardButton" and isinstance(value, str)):
        return value
    raise _TypeMismatch


def _decode_json(value: Any, name: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        message = _JSON_PARSE_MESSAGES.get(name, f"can't parse {name} JSON object")
        raise ApiError.bad_request(message) from None


def _to_integer(value: Any) -> int:
    if isinstance(value, bool):
        raise _TypeMismatch
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER_RE.fullmatch(value.strip()):
        return int(value)
    raise _TypeMismatch


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise _TypeMismatch
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value)
        except ValueError:
            raise _TypeMismatch from None
    else:
        raise _TypeMismatch
    if not math.isfinite(result):
        raise _TypeMismatch
    return result


def _to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE_STRINGS:
        return True
    if isinstance(value, str) and value.lower() in _FALSE_STRINGS:
        return False
    raise _TypeMismatch


def _to_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    # Telegram accepts JSON numbers where it expects strings (e.g. callback_query_id).
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _TypeMismatch


def _to_upload(value: Any, files: dict[str, UploadedFile]) -> UploadedFile:
    if isinstance(value, UploadedFile):
        return value
    if isinstance(value, str) and value.startswith(ATTACH_PREFIX):
        upload = files.get(value.removeprefix(ATTACH_PREFIX))
        if upload is not None:
            return upload
    raise _TypeMismatch
