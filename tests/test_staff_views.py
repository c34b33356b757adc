"""The staff card as a view: what it shows of the reply to the resident, and its buttons."""

from __future__ import annotations

import pytest

from bot.i18n import Catalogs, Translator
from handlers import staff_views as screens
from storage.models import (
    OutboxStatus,
    Resident,
    Submission,
    SubmissionKind,
    SubmissionStatus,
)
from tests.conftest import NOW

STATUS_LINES = {
    OutboxStatus.PENDING: "⏳ Being sent to the resident…",
    OutboxStatus.SENDING: "⏳ Being sent to the resident…",
    OutboxStatus.SENT: "✉️ Delivered to the resident.",
    OutboxStatus.UNREACHABLE: "✉️ Not delivered: the resident has blocked the bot.",
    OutboxStatus.FAILED: "✉️ Not delivered: Telegram refused the message.",
    OutboxStatus.UNCERTAIN: "✉️ Telegram did not confirm the delivery; the resident may have it.",
}
ALL_LINES = set(STATUS_LINES.values())


@pytest.fixture(scope="module")
def catalogs() -> Catalogs:
    return Catalogs.load()


@pytest.fixture
def en(catalogs: Catalogs) -> Translator:
    return catalogs.translator("en")


def submission(kind: SubmissionKind = SubmissionKind.PROPOSAL, **values: object) -> Submission:
    fields: dict[str, object] = {
        "id": 7,
        "public_number": "2024-00007",
        "kind": kind,
        "text": "A bench by the river.",
        "status": SubmissionStatus.RECEIVED,
        "attachments": [],
        "created_at": NOW,
    }
    return Submission(**{**fields, **values})


def resident() -> Resident:
    return Resident(id=3, telegram_user_id=42, banned=False)


def test_the_card_shows_nothing_of_a_reply_before_one_was_sent(en: Translator) -> None:
    text = screens.card(en, submission(), None, None, resident()).text
    assert not [line for line in text.splitlines() if line in ALL_LINES]


@pytest.mark.parametrize("status", list(OutboxStatus))
def test_the_card_shows_what_became_of_the_reply(en: Translator, status: OutboxStatus) -> None:
    answered = submission(
        status=SubmissionStatus.ANSWERED,
        answer="Yes, in 2025.",
        answered_by="Мария",
        answered_at=NOW,
        reply_status=status.value,
    )
    lines = screens.card(en, answered, None, None, resident()).text.splitlines()
    assert lines[-1] == STATUS_LINES[status], "one line, right after the answer"
    assert lines[-2] == "💬 Answer: Yes, in 2025."


@pytest.mark.parametrize("locale", ["bg", "sl"])
def test_every_reply_status_is_translated(catalogs: Catalogs, locale: str) -> None:
    tr = catalogs.translator(locale)
    shown = {status: screens.reply_status(tr, status.value) for status in OutboxStatus}
    assert all(shown.values()) and not set(shown.values()) & ALL_LINES


def test_an_unknown_reply_status_shows_nothing(en: Translator) -> None:
    assert screens.reply_status(en, None) is None
    assert screens.reply_status(en, "from-a-later-version") is None


def test_a_question_can_be_answered_but_not_decided(en: Translator) -> None:
    def labels(kind: SubmissionKind) -> list[str]:
        markup = screens.card(en, submission(kind), None, None, resident()).markup
        assert markup is not None
        return [button.text for row in markup.inline_keyboard for button in row]

    assert labels(SubmissionKind.QUESTION) == ["💬 Answer", "🚫 Spam", "⛔ Block sender"]
    assert labels(SubmissionKind.PROPOSAL)[:4] == [
        "💬 Answer",
        "✅ Accept",
        "◐ Partly",
        "❌ Do not accept",
    ]
