"""Screens of a text a resident wrote without choosing anything first: the offer to send
it as a proposal or a question, then what it is about."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from aiogram.filters.callback_data import CallbackData

from bot.i18n import Translator
from bot.plan import pick
from bot.telegram_text import fold, person
from handlers import submission_views
from handlers.keyboards import DbId, Keyboard, button, home_row, main_menu
from handlers.views import Screen, html
from storage.models import Consultation, Section, SubmissionKind

EXCERPT = 300
# A plan with more sections than this offers its top sections only.
MOST_SECTIONS = 20


class KeptStep(StrEnum):
    KIND = "k"
    CONSULTATION = "c"
    SECTION = "s"
    DROP = "x"


class KeptCb(CallbackData, prefix="kt"):
    """A step with a kept text: its kind, its consultation (0: the municipality in
    general), its section (0: the whole consultation), or no thanks. `key` names the
    text, so a button of an earlier one does nothing."""

    step: KeptStep
    key: str
    kind: str = ""
    id: DbId = 0


def _no_thanks(tr: Translator, key: str) -> list:
    return [button(tr("✖️ No, thanks"), KeptCb(step=KeptStep.DROP, key=key))]


def offer(tr: Translator, text: str, key: str) -> Screen:
    lines = [
        tr("✍️ <b>Send this to the municipality?</b>"),
        "",
        f"<i>{person(fold(text, EXCERPT))}</i>",
        "",
        tr(
            "I can pass on what you wrote as a proposal or as a question. You choose what "
            "it is about and check it before anything is sent."
        ),
    ]
    builder = Keyboard()
    builder.row(
        *(
            button(label, KeptCb(step=KeptStep.KIND, key=key, kind=kind.value))
            for label, kind in (
                (tr("💡 As a proposal"), SubmissionKind.PROPOSAL),
                (tr("❓ As a question"), SubmissionKind.QUESTION),
            )
        )
    )
    builder.row(*_no_thanks(tr, key))
    return Screen("\n".join(lines), builder.as_markup())


def _heading(tr: Translator, kind: str) -> str:
    if kind == SubmissionKind.PROPOSAL:
        return tr("💡 <b>Your proposal</b>")
    return tr("❓ <b>Your question</b>")


def pick_consultation(
    tr: Translator, kind: str, open_now: Sequence[Consultation], key: str
) -> Screen:
    if open_now:
        question = tr("What is it about? Choose the consultation:")
    else:
        question = tr(
            "No consultation is open at the moment. You can still send it to the "
            "municipality, or leave it."
        )
    builder = Keyboard()
    for consultation in open_now:
        title = pick(consultation.title, tr.locale, consultation.original_language).text
        builder.row(button(title, KeptCb(step=KeptStep.CONSULTATION, key=key, id=consultation.id)))
    builder.row(
        button(
            tr("🏛 To the municipality, about something else"),
            KeptCb(step=KeptStep.CONSULTATION, key=key, id=0),
        )
    )
    builder.row(*_no_thanks(tr, key))
    return Screen(f"{_heading(tr, kind)}\n\n{question}", builder.as_markup())


def pick_section(
    tr: Translator, kind: str, consultation: Consultation, plan: Sequence[Section], key: str
) -> Screen:
    language = consultation.original_language
    title = pick(consultation.title, tr.locale, language).text
    question = tr("Which part of “%(title)s” is it about?", title=html(title))
    builder = Keyboard()
    builder.row(
        button(tr("📋 The consultation as a whole"), KeptCb(step=KeptStep.SECTION, key=key))
    )
    shown = plan if len(plan) <= MOST_SECTIONS else [s for s in plan if s.parent_id is None]
    for section in shown:
        section_title = pick(section.title, tr.locale, language).text
        builder.row(
            button(
                f"{section.number}. {section_title}",
                KeptCb(step=KeptStep.SECTION, key=key, id=section.id),
            )
        )
    builder.row(*_no_thanks(tr, key))
    return Screen(f"{_heading(tr, kind)}\n\n{question}", builder.as_markup())


def dropped(tr: Translator) -> Screen:
    return Screen(tr("As you wish: nothing was sent, and your text was not kept."), main_menu(tr))


def not_kept(tr: Translator, problem: tuple[str, int]) -> Screen:
    """A text too long to be one submission: why, and that nothing was kept."""
    text = submission_views.text_refused(tr, problem)
    builder = Keyboard()
    builder.row(*home_row(tr))
    nothing = tr("Nothing was kept or sent.")
    return Screen(f"{text}\n\n{nothing}", builder.as_markup())
