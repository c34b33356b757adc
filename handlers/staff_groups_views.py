"""What staff see of a group of near-duplicate proposals: the line and buttons on the
card, the choice of a decision for the group, its prompt and its outcome."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import InlineKeyboardButton

from bot.groups import SHOWN_ON_CARD, GroupDecision, undecided
from bot.i18n import Translator
from bot.telegram_text import person_name
from handlers.keyboards import GroupAct, GroupCb, Keyboard, button
from handlers.submission_views import status_label
from handlers.views import Screen, html
from storage.models import Submission, SubmissionStatus

# A prompt's act for a decision on a whole group: "g:" and the decision.
PROMPT_PREFIX = "g:"


def numbers(submissions: Sequence[Submission]) -> str:
    return ", ".join(f"№ {html(s.public_number or '')}" for s in submissions)


def similar_line(tr: Translator, similar: Sequence[Submission]) -> str:
    """The card's line naming the other proposals of its group."""
    shown = numbers(similar[:SHOWN_ON_CARD])
    more = len(similar) - SHOWN_ON_CARD
    if more > 0:
        shown += " " + tr.plural("and %(count)s more", "and %(count)s more", more)
    return tr("🔗 Similar: %(numbers)s", numbers=shown)


def group_row(
    tr: Translator, submission: Submission, similar: Sequence[Submission]
) -> list[InlineKeyboardButton]:
    row = []
    open_count = len(undecided([submission, *similar]))
    if open_count:
        row.append(
            button(
                tr("👥 Decide for the group (%(count)s)", count=open_count),
                GroupCb(act=GroupAct.CHOOSE, id=submission.id),
            )
        )
    row.append(button(tr("✂️ Not similar"), GroupCb(act=GroupAct.APART, id=submission.id)))
    return row


def choose_decision(tr: Translator, submission: Submission, group: Sequence[Submission]) -> Screen:
    """The group's proposals, which are still open, and the decisions to apply to them."""
    waiting = undecided(group)
    decided = [s for s in group if s not in waiting]
    lines = [
        tr(
            "👥 <b>One decision for the group of № %(number)s</b>",
            number=html(submission.public_number or ""),
        ),
        tr("Without a decision: %(numbers)s", numbers=numbers(waiting)),
    ]
    if decided:
        lines.append(already_line(tr, decided))
    lines += [
        "",
        tr(
            "Choose the decision; a reason is asked next. Each resident gets it in their "
            "own language."
        ),
    ]
    builder = Keyboard()
    builder.row(
        button(tr("✅ Accept"), GroupCb(act=GroupAct.ACCEPT, id=submission.id)),
        button(tr("◐ Partly"), GroupCb(act=GroupAct.PARTLY, id=submission.id)),
        button(tr("❌ Do not accept"), GroupCb(act=GroupAct.REJECT, id=submission.id)),
    )
    return Screen("\n".join(lines), builder.as_markup())


def already_line(tr: Translator, decided: Sequence[Submission]) -> str:
    """Those the group's decision leaves as they were, and what was decided on them."""
    each = "; ".join(
        tr(
            "№ %(number)s: %(decision)s (%(name)s)",
            number=html(s.public_number or ""),
            decision=status_label(tr, s.status),
            name=person_name(s.answered_by or "?"),
        )
        for s in decided
    )
    return tr("Already decided, left as they are: %(list)s", list=each)


def ask_for_reason(
    tr: Translator, submission: Submission, decision: SubmissionStatus, count: int, staff_name: str
) -> str:
    # Worked out first: the catalog extractor loses a plural whose arguments call functions.
    name = person_name(staff_name)
    label = status_label(tr, decision)
    number = html(submission.public_number or "")
    return tr.plural(
        "✍️ %(name)s, reply to this message with the reason for “%(decision)s” on the group "
        "of № %(number)s (%(count)s proposal without a decision). Each resident gets the "
        "decision with your reason. /cancel stops.",
        "✍️ %(name)s, reply to this message with the reason for “%(decision)s” on the group "
        "of № %(number)s (%(count)s proposals without a decision). Each resident gets the "
        "decision with your reason. /cancel stops.",
        count,
        name=name,
        decision=label,
        number=number,
    )


def group_done(tr: Translator, outcome: GroupDecision, unreachable: int) -> str:
    lines = []
    if outcome.decided:
        lines.append(
            tr(
                "Saved “%(decision)s” for %(numbers)s.",
                decision=status_label(tr, outcome.decided[0].status),
                numbers=numbers(outcome.decided),
            )
        )
    else:
        lines.append(tr("Nothing was saved: every proposal of the group has a decision already."))
    if outcome.already:
        lines.append(already_line(tr, outcome.already))
    if unreachable:
        lines.append(
            tr.plural(
                "⚠️ %(count)s resident could not be reached (blocked the bot, erased their "
                "data, or wrote by another way).",
                "⚠️ %(count)s residents could not be reached (blocked the bot, erased their "
                "data, or wrote by another way).",
                unreachable,
            )
        )
    return "\n".join(lines)


def taken_apart(tr: Translator, submission: Submission) -> str:
    return tr(
        "№ %(number)s is out of its group and will not be grouped again.",
        number=submission.public_number or "",
    )


def not_in_group(tr: Translator) -> str:
    return tr("This proposal is in no group any more.")
