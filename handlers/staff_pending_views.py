"""What staff see of /pending: the open items, page by page, each opening its card."""

from __future__ import annotations

from bot.i18n import Translator
from bot.pending import ANSWER, DECISION, Group, Item
from bot.telegram_text import fold, person
from handlers.keyboards import Keyboard, PendingCardCb, PendingCb, button
from handlers.staff_views import _about as where_it_belongs
from handlers.views import Screen, html
from storage.models import SubmissionKind

PER_PAGE = 8
BUTTONS_PER_ROW = 2
EXCERPT = 90


def pending(tr: Translator, groups: list[Group], page: int) -> Screen:
    """One page of the open items: the count, then each group (with its own count) and
    its items, oldest first; a button per item shows its card."""
    items = [(group, item) for group in groups for item in group.items]
    if not items:
        return Screen(
            tr(
                "✅ Nothing is waiting: every proposal is decided with reasons, every "
                "question answered."
            ),
            None,
        )
    pages = (len(items) + PER_PAGE - 1) // PER_PAGE
    page = min(max(page, 0), pages - 1)
    shown = items[page * PER_PAGE : (page + 1) * PER_PAGE]
    lines = [
        tr("📌 <b>Waiting for an answer or a decision: %(count)s</b>", count=len(items)),
        tr("Oldest first, by consultation and section."),
    ]
    current: Group | None = None
    for group, item in shown:
        if group is not current:
            current = group
            heading = where_it_belongs(tr, group.consultation, group.section, group.section_number)
            lines += ["", f"{heading} · {len(group.items)}"]
        lines.append(_item_line(tr, group, item))
    if pages > 1:
        lines += ["", tr("Page %(page)s of %(pages)s", page=page + 1, pages=pages)]
    builder = Keyboard()
    openers = [
        button(
            f"{_icon(item)} № {item.submission.public_number or ''}",
            PendingCardCb(id=item.submission.id),
        )
        for _, item in shown
    ]
    for start in range(0, len(openers), BUTTONS_PER_ROW):
        builder.row(*openers[start : start + BUTTONS_PER_ROW])
    moves = []
    if page > 0:
        moves.append(button(tr("⬅️ Previous"), PendingCb(page=page - 1)))
    if page < pages - 1:
        moves.append(button(tr("Next ➡️"), PendingCb(page=page + 1)))
    if moves:
        builder.row(*moves)
    return Screen("\n".join(lines), builder.as_markup())


def _icon(item: Item) -> str:
    return "💡" if item.submission.kind is SubmissionKind.PROPOSAL else "❓"


def _item_line(tr: Translator, group: Group, item: Item) -> str:
    submission = item.submission
    zone = group.consultation.timezone if group.consultation else "UTC"
    need = {
        DECISION: tr("needs a decision"),
        ANSWER: tr("needs an answer"),
    }.get(item.need) or tr("needs the reasons for its decision")
    excerpt = fold(" ".join(submission.text.split()), EXCERPT)
    number = html(submission.public_number or "")
    return (
        f"{_icon(item)} <b>№ {number}</b> · {tr.date(submission.created_at, zone)} · {need}\n"
        f"    {person(excerpt)}"
    )
