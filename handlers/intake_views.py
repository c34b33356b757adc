"""What staff see while a consultation is drafted from a document: what was found, the
questions for what is missing, the preview of the card, and every refusal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aiogram.types import ForceReply, InlineKeyboardMarkup

from bot.i18n import LANGUAGE_NAMES, Translator
from bot.intake import (
    AnswerProblem,
    Draft,
    IntakeRefused,
    Refusal,
    SectionDiff,
    Step,
    tree_lines,
)
from bot.running import ReplaceReport
from handlers.keyboards import IntakeAct, IntakeCb, Keyboard, button
from handlers.views import Screen, html
from storage.models import Consultation

# How much of the tree the first answer lists; the rest is counted.
FIRST_TITLES = 12


def refused(tr: Translator, refusal: IntakeRefused) -> str:
    reason = refusal.reason
    if reason is Refusal.TOO_BIG:
        return tr(
            "⚠️ This file is larger than 20 MB, the most a bot may download from Telegram. "
            "Please send a smaller file (e.g. without pictures) or the DOCX."
        )
    if reason is Refusal.UNSUPPORTED:
        return tr(
            "⚠️ I cannot read this kind of file. Send a DOCX, ODT, PDF, Markdown or text "
            "document, or a consultation file (YAML)."
        )
    if reason is Refusal.NOT_A_CONSULTATION_FILE:
        return tr(
            "⚠️ This YAML file is not a consultation file I can read (%(detail)s). "
            "Nothing was changed.",
            detail=html(refusal.detail),
        )
    if reason is Refusal.NO_TEXT_LAYER:
        return tr(
            "⚠️ This PDF has no text layer (it is probably a scan), so I cannot read it. "
            "Please send the DOCX."
        )
    if reason is Refusal.ENCRYPTED:
        return tr(
            "⚠️ This file is protected with a password, so I cannot read it. Please send "
            "it without the protection."
        )
    if reason is Refusal.CORRUPT:
        return tr("⚠️ This file is damaged and cannot be opened. Please save it again and resend.")
    if reason is Refusal.EMPTY:
        return tr("⚠️ I found no text in this file.")
    return tr(
        "⚠️ This document is in a language I do not speak. Consultations can be in %(languages)s.",
        languages=", ".join(LANGUAGE_NAMES.values()),
    )


def found(tr: Translator, draft: Draft) -> str:
    """The first answer: the tree, counts, the first titles, what could not be placed."""
    tree = list(tree_lines(draft.mapping.get("sections")))
    top = sum(1 for depth, _, _ in tree if depth == 0)
    lines = [
        tr("📄 <b>%(file)s</b>", file=html(draft.file_name)),
        tr.plural(
            "%(count)s section, %(top)s at the top level.",
            "%(count)s sections, %(top)s at the top level.",
            len(tree),
            count=len(tree),
            top=top,
        ),
    ]
    if draft.language in LANGUAGE_NAMES:
        lines.append(tr("Language: %(language)s", language=LANGUAGE_NAMES[draft.language]))
    lines.append("")
    for depth, number, title in tree[:FIRST_TITLES]:
        lines.append(f"{'    ' * depth}{html(number)}. {html(_short(title))}")
    if len(tree) > FIRST_TITLES:
        lines.append(tr("… and %(count)s more.", count=len(tree) - FIRST_TITLES))
    if draft.notes:
        lines += ["", tr("<b>Not placed or left out:</b>")]
        lines += [f"• {_place(tr, note['where'])}: {_note(tr, note)}" for note in draft.notes]
    return "\n".join(lines)


def _place(tr: Translator, where: str) -> str:
    if where == "title":
        return tr("the title")
    if where == "summary":
        return tr("before the first heading")
    if where in ("document", ""):
        return tr("the document")
    return tr("section %(number)s", number=html(where))


def _note(tr: Translator, note: dict[str, str]) -> str:
    """The importer's facts (bot.importer.ImportNote) in the staff's words."""
    detail = html(note["detail"])
    kind = note["kind"]
    if kind == "image":
        return tr("a picture left out (%(detail)s)", detail=detail)
    if kind == "table":
        return tr("a table, kept as text")
    if kind == "text_box":
        return tr("a text box, kept where it stands")
    if kind == "footnote":
        return tr("a footnote, kept where it stands")
    if kind == "running_text":
        return tr("a page header or footer removed: %(detail)s", detail=detail)
    if kind == "title_shortened":
        return tr(
            "the heading is too long for a title: shortened, the whole heading opens the text"
        )
    if kind == "flattened":
        return tr("a heading deeper than four levels, kept as text: %(detail)s", detail=detail)
    if kind in ("summary_too_long", "body_too_long"):
        return tr("too long (%(detail)s characters); please shorten it", detail=detail)
    if kind == "unplaced":
        return tr("not kept: %(detail)s", detail=detail)
    return f"{html(kind)}: {detail}"


@dataclass(frozen=True)
class Question:
    text: str
    markup: InlineKeyboardMarkup | ForceReply


def _short(title: str, limit: int = 80) -> str:
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"


def question(tr: Translator, step: Step, draft: Draft, home_zone: str) -> Question:
    language = LANGUAGE_NAMES.get(draft.language, draft.language)
    reply = tr("Reply to this message with the answer.")
    if step is Step.WHOLE:
        text = tr(
            "I found no headings or numbered sections in this document. Shall I take the "
            "whole text as one section?"
        )
        keyboard = Keyboard().row(
            button(tr("✅ Whole text as one section"), _cb(IntakeAct.WHOLE, draft)),
            button(tr("✖️ Cancel"), _cb(IntakeAct.CANCEL, draft)),
        )
        return Question(text, keyboard.as_markup())
    if step is Step.SLUG:
        text = tr(
            "A short name for links (lowercase Latin letters, digits and hyphens, e.g. "
            "kazanlak-plan-2027)?"
        )
    elif step is Step.TITLE:
        text = tr("The consultation's title (in %(language)s)?", language=language)
    elif step is Step.SUMMARY:
        text = tr(
            "A short summary for the card: what is consulted and why (in %(language)s)?",
            language=language,
        )
    elif step is Step.ORGANIZER:
        text = tr("Who runs the consultation (in %(language)s)?", language=language)
    elif step is Step.CONTACT:
        text = tr("A contact for questions (e-mail or phone)? %(reply)s", reply=reply)
        keyboard = Keyboard().row(button(tr("⏭ No contact"), _cb(IntakeAct.SKIP, draft)))
        return Question(text, keyboard.as_markup())
    elif step is Step.REASON:
        text = tr(
            "The consultation runs less than 30 days. The law allows that (down to 14 days) "
            "only with a stated reason, which residents see on the card. The reason (in "
            "%(language)s)?",
            language=language,
        )
    elif step is Step.CLOSES:
        text = tr(
            "Until when is it open? Type the closing date and time, e.g. "
            "<code>10.11.2026 17:30</code> (a date alone: until the end of that day)."
        )
    else:
        text = tr(
            "Which time zone are the dates in? %(reply)s (an IANA name, e.g. Europe/Ljubljana)",
            reply=reply,
        )
        keyboard = Keyboard().row(button(tr.zone_name(home_zone), _cb(IntakeAct.ZONE, draft)))
        return Question(text, keyboard.as_markup())
    return Question(text, _typed_answer())


def _typed_answer() -> ForceReply:
    # Selective: in the staff chat, only the person drafting is asked to reply.
    return ForceReply(force_reply=True, selective=True)


def _cb(act: IntakeAct, draft: Draft) -> IntakeCb:
    return IntakeCb(act=act, draft=draft.draft_id)


def answer_problem(tr: Translator, problem: AnswerProblem) -> str:
    return {
        AnswerProblem.EMPTY: tr("⚠️ The answer is empty. Please reply with a text."),
        AnswerProblem.TOO_LONG: tr("⚠️ That is too long for this field; please shorten it."),
        AnswerProblem.BAD_SLUG: tr(
            "⚠️ Use lowercase Latin letters, digits and single hyphens, e.g. kazanlak-plan-2027."
        ),
        AnswerProblem.NOT_A_DATE: tr(
            "⚠️ I could not read a date in that. Write it like <code>10.11.2026 17:30</code> "
            "or <code>10 November 2026</code>."
        ),
        AnswerProblem.NO_SUCH_DAY: tr("⚠️ There is no such day in the calendar."),
        AnswerProblem.NO_SUCH_TIME: tr("⚠️ There is no such time of day."),
        AnswerProblem.IN_THE_PAST: tr("⚠️ That moment has already passed; please give a later one."),
        AnswerProblem.TOO_SHORT: tr(
            "⚠️ A consultation runs at least 14 days (30 days, or 14 with a stated reason); "
            "please give a later date."
        ),
        AnswerProblem.BEFORE_OPENING: tr(
            "⚠️ The consultation would close before it opens; please give a later date."
        ),
        AnswerProblem.UNKNOWN_ZONE: tr(
            "⚠️ I do not know that time zone. Use an IANA name such as Europe/Sofia."
        ),
    }[problem]


def slug_taken(tr: Translator, slug: str) -> str:
    return tr(
        "⚠️ The short name %(slug)s is already used by another consultation.",
        slug=f"<code>{html(slug)}</code>",
    )


def preview(tr: Translator, draft: Draft, card_text: str, scheduled_for: str | None) -> Screen:
    """The card as residents will see it, and the decision."""
    text = "\n".join([tr("👁 <b>Preview</b>: the card as residents will see it."), "", card_text])
    publish = (
        tr("🗓 Schedule for %(date)s", date=scheduled_for) if scheduled_for else tr("✅ Publish")
    )
    keyboard = Keyboard().row(
        button(publish, _cb(IntakeAct.PUBLISH, draft)),
        button(tr("✖️ Cancel"), _cb(IntakeAct.CANCEL, draft)),
    )
    return Screen(text, keyboard.as_markup())


def invalid(tr: Translator, problems: list[str]) -> str:
    listed = "\n".join(f"• {html(problem)}" for problem in problems[:20])
    return tr(
        "⚠️ The consultation file has problems; nothing was published. Please correct "
        "the file and send it again:\n%(problems)s",
        problems=listed,
    )


def published(tr: Translator, title: str, slug: str, opens_at: datetime | None, zone: str) -> str:
    if opens_at is not None:
        return tr(
            "🗓 “%(title)s” (%(slug)s) is scheduled: residents see it from %(opens)s.",
            title=html(title),
            slug=html(slug),
            opens=tr.datetime(opens_at, zone),
        )
    return tr(
        "✅ “%(title)s” (%(slug)s) is published: residents can read it and take part.",
        title=html(title),
        slug=html(slug),
    )


def cancelled(tr: Translator) -> str:
    return tr("✖️ Cancelled; nothing was published.")


def draft_gone(tr: Translator) -> str:
    return tr("This draft is no longer open. Send the document again to start over.")


# --- running a published consultation ----------------------------------------------


def _title(consultation: Consultation) -> str:
    title = consultation.title
    return html(title.get(consultation.original_language) or next(iter(title.values()), ""))


def run_question(tr: Translator, step: Step, consultation: Consultation) -> Question:
    if step is Step.EXTEND:
        assert consultation.closes_at is not None
        text = tr(
            "New deadline for “%(title)s” (now %(closes)s, %(zone)s)? Reply with the date "
            "and time, e.g. <code>10.11.2026 17:30</code>.",
            title=_title(consultation),
            closes=tr.datetime(consultation.closes_at, consultation.timezone),
            zone=tr.zone_name(consultation.timezone),
        )
    else:
        text = tr(
            "Send the new version of “%(title)s” (DOCX, ODT, PDF, Markdown, text or its "
            "consultation file) as a reply to this message. Sections with the same number "
            "keep their submissions.",
            title=_title(consultation),
        )
    return Question(text, _typed_answer())


def not_later(tr: Translator, closes_at: datetime, zone: str) -> str:
    return tr(
        "⚠️ The new deadline must be later than the current one (%(closes)s).",
        closes=tr.datetime(closes_at, zone),
    )


def not_running(tr: Translator) -> str:
    return tr(
        "⚠️ This consultation can no longer take this change (it is withdrawn, has no "
        "deadline or its report is published); nothing was changed."
    )


def extended(tr: Translator, consultation: Consultation) -> str:
    assert consultation.closes_at is not None
    return tr(
        "✅ “%(title)s” is now open until %(closes)s. Its followers and those who took part "
        "will be told; the reminders follow the new date.",
        title=_title(consultation),
        closes=tr.datetime(consultation.closes_at, consultation.timezone),
    )


def replacement(
    tr: Translator, draft: Draft, consultation: Consultation, diff: SectionDiff
) -> Screen:
    """What the new version does to the sections, before anything is changed."""
    lines = [
        tr(
            "📄 New version of “%(title)s”: version %(version)s.",
            title=_title(consultation),
            version=consultation.version + 1,
        ),
        tr.plural(
            "%(count)s section kept with its submissions.",
            "%(count)s sections kept with their submissions.",
            len(diff.kept),
            count=len(diff.kept),
        ),
    ]
    if diff.added:
        lines.append(tr("Added: %(numbers)s", numbers=", ".join(diff.added)))
    if diff.removed:
        lines.append(
            tr(
                "Removed: %(numbers)s (their submissions stay, shown as removed in version "
                "%(version)s)",
                numbers=", ".join(diff.removed),
                version=consultation.version + 1,
            )
        )
    keyboard = Keyboard().row(
        button(tr("✅ Replace"), _cb(IntakeAct.REPLACE, draft)),
        button(tr("✖️ Cancel"), _cb(IntakeAct.CANCEL, draft)),
    )
    return Screen("\n".join(lines), keyboard.as_markup())


def other_consultation(tr: Translator, slug: str) -> str:
    return tr(
        "⚠️ This file is for another consultation (%(slug)s); nothing was changed.",
        slug=html(slug),
    )


def replaced(tr: Translator, report: ReplaceReport) -> str:
    return tr(
        "✅ Replaced: version %(version)s is what residents read now (%(kept)s kept, "
        "%(added)s added, %(removed)s removed).",
        version=report.version,
        kept=len(report.kept),
        added=len(report.added),
        removed=len(report.removed),
    )
