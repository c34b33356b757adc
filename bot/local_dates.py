"""Dates and times typed the way people write them in bg, sl and en.

Staff type a closing date into the chat ("10.11.2026 17:30", "10. 11. 2026",
"10 ноември 2026 г. 17:30", "10. novembra 2026 ob 17.30", "November 10, 2026 5:30 pm",
"2026-11-10"); the result is a local wall-clock time (naive) or, with no time typed,
a date, which a consultation file reads as "until the end of that day".
Day before month everywhere but in "November 10": "10/11/2026" means different days
in London and New York, so slashes are refused rather than guessed.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date, datetime, time

# The first three letters of a month's name in any of its forms (январи, januarja,
# Jan.); "май", "maj" and "may" are whole names.
_MONTHS = {
    **dict.fromkeys(("jan", "яну"), 1),
    **dict.fromkeys(("feb", "фев"), 2),
    **dict.fromkeys(("mar", "мар"), 3),
    **dict.fromkeys(("apr", "апр"), 4),
    **dict.fromkeys(("may", "maj", "май"), 5),
    **dict.fromkeys(("jun", "юни"), 6),
    **dict.fromkeys(("jul", "юли"), 7),
    **dict.fromkeys(("aug", "avg", "авг"), 8),
    **dict.fromkeys(("sep", "сеп"), 9),
    **dict.fromkeys(("oct", "okt", "окт"), 10),
    **dict.fromkeys(("nov", "ное"), 11),
    **dict.fromkeys(("dec", "дек"), 12),
}
# Words around a date or a time that carry no value: "г." (year), "ob"/"at"/"в"/"о"
# (at), "ч."/"h"/"uri" (o'clock).
_FILLER = re.compile(
    r"(?<![\w])(?:г\.?|год\.?|година|leta|ob|at|в|във|о|ч\.?|часа|h|uri|ure|o'clock)(?![\w])"
)
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[t ]+(.*))?$")
_NUMERIC = re.compile(r"^(\d{1,2})\s*\.\s*(\d{1,2})\s*\.\s*(\d{4})\s*\.?(.*)$")
_DAY_MONTH = re.compile(r"^(\d{1,2})\.?\s+([^\W\d_]+)\.?\s*(\d{4})\s*\.?(.*)$")
_MONTH_DAY = re.compile(r"^([^\W\d_]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?\s*,?\s*(\d{4})(.*)$")
_TIME = re.compile(r"^(\d{1,2})(?:\s*[:.]\s*(\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?$")


class DateProblem(enum.StrEnum):
    NOT_A_DATE = "not_a_date"  # nothing we read as a date
    NO_SUCH_DAY = "no_such_day"  # 31.02.2026
    NO_SUCH_TIME = "no_such_time"  # 25:00


@dataclass(frozen=True)
class DateRefused(Exception):
    problem: DateProblem


def parse_local(text: str) -> datetime | date:
    """A typed date, with its time if one was typed; raises DateRefused."""
    cleaned = " ".join(text.lower().replace(",", " ").split())
    found = _split(cleaned)
    if found is None:
        raise DateRefused(DateProblem.NOT_A_DATE)
    year, month, day, rest = found
    try:
        day_of = date(year, month, day)
    except ValueError:
        raise DateRefused(DateProblem.NO_SUCH_DAY) from None
    at = _time(rest)
    return day_of if at is None else datetime.combine(day_of, at)


def _split(text: str) -> tuple[int, int, int, str] | None:
    if match := _ISO.match(text):
        year, month, day, rest = match.groups()
        return int(year), int(month), int(day), rest or ""
    if match := _NUMERIC.match(text):
        day, month, year, rest = match.groups()
        return int(year), int(month), int(day), rest
    if match := _DAY_MONTH.match(text):
        day, name, year, rest = match.groups()
        month = _month(name)
        return None if month is None else (int(year), month, int(day), rest)
    if match := _MONTH_DAY.match(text):
        name, day, year, rest = match.groups()
        month = _month(name)
        return None if month is None else (int(year), month, int(day), rest)
    return None


def _month(name: str) -> int | None:
    return _MONTHS.get(name[:3]) if len(name) >= 3 else None


def _time(rest: str) -> time | None:
    """The time after the date; None when there is none. Raises DateRefused."""
    words = " ".join(_FILLER.sub(" ", rest).split())
    if not words:
        return None
    match = _TIME.match(words)
    if match is None:
        raise DateRefused(DateProblem.NOT_A_DATE)
    hour, minute, half = int(match[1]), int(match[2] or 0), match[3]
    if half:
        if not 1 <= hour <= 12:
            raise DateRefused(DateProblem.NO_SUCH_TIME)
        hour = hour % 12 + (12 if half.startswith("p") else 0)
    if hour > 23 or minute > 59:
        raise DateRefused(DateProblem.NO_SUCH_TIME)
    return time(hour, minute)
