"""Closing dates typed the way people write them in bg, sl and en."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from bot.local_dates import DateProblem, DateRefused, parse_local

AT_1730 = datetime(2026, 11, 10, 17, 30)


@pytest.mark.parametrize(
    "typed",
    [
        "10.11.2026 17:30",
        "10.11.2026, 17:30",
        "10.11.2026 г. 17:30 ч.",
        "10.11.2026 г., 17.30 часа",
        "10 ноември 2026 17:30",
        "10 ноември 2026 г. в 17:30 ч.",
        "10. 11. 2026 17:30",
        "10. 11. 2026 ob 17.30",
        "10. novembra 2026 ob 17.30 uri",
        "10 November 2026 17:30",
        "November 10, 2026 5:30 pm",
        "Nov 10th 2026 at 5.30 p.m.",
        "2026-11-10 17:30",
        "2026-11-10T17:30",
        "  10.11.2026   17:30  ",
    ],
)
def test_a_day_and_a_time(typed: str) -> None:
    assert parse_local(typed) == AT_1730


@pytest.mark.parametrize(
    "typed",
    [
        "10.11.2026",
        "10.11.2026 г.",
        "10. 11. 2026",
        "10 ноември 2026",
        "10 ное. 2026 г.",
        "10. novembra 2026",
        "10. november 2026",
        "10 November 2026",
        "November 10, 2026",
        "2026-11-10",
    ],
)
def test_a_day_alone_is_a_date(typed: str) -> None:
    assert parse_local(typed) == date(2026, 11, 10)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("1 май 2026", date(2026, 5, 1)),
        ("1. maja 2026", date(2026, 5, 1)),
        ("3 март 2026", date(2026, 3, 3)),
        ("3. marca 2026", date(2026, 3, 3)),
        ("30 юни 2026", date(2026, 6, 30)),
        ("30 юли 2026", date(2026, 7, 30)),
        ("5. avgusta 2026", date(2026, 8, 5)),
        ("12 am", None),
        ("1.1.2027 12 am", datetime(2027, 1, 1, 0, 0)),
        ("1.1.2027 12 pm", datetime(2027, 1, 1, 12, 0)),
        ("1.1.2027 9", datetime(2027, 1, 1, 9, 0)),
    ],
)
def test_month_names_and_hours(typed: str, expected: date | None) -> None:
    if expected is None:
        with pytest.raises(DateRefused):
            parse_local(typed)
    else:
        assert parse_local(typed) == expected


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("", DateProblem.NOT_A_DATE),
        ("next Friday", DateProblem.NOT_A_DATE),
        ("10/11/2026", DateProblem.NOT_A_DATE),  # day or month first? not guessed
        ("10 brumaire 2026", DateProblem.NOT_A_DATE),
        ("10.11.2026 around five", DateProblem.NOT_A_DATE),
        ("31.02.2026", DateProblem.NO_SUCH_DAY),
        ("10.13.2026", DateProblem.NO_SUCH_DAY),
        ("10.11.2026 25:00", DateProblem.NO_SUCH_TIME),
        ("10.11.2026 17:75", DateProblem.NO_SUCH_TIME),
        ("10.11.2026 13 pm", DateProblem.NO_SUCH_TIME),
    ],
)
def test_what_is_not_a_date_says_why(typed: str, problem: DateProblem) -> None:
    with pytest.raises(DateRefused) as refused:
        parse_local(typed)
    assert refused.value.problem is problem
