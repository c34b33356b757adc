"""What staff see of /consultations: each consultation with its state, version, deadline
and counts, and one consultation's screen with what can be done to it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from bot.i18n import Translator
from bot.plan import pick
from handlers.keyboards import Keyboard, RunAct, RunCb, button
from handlers.views import Screen, html
from storage.models import (
    Consultation,
    ConsultationKind,
    ConsultationStatus,
    Phase,
    SubmissionKind,
)

NO_COUNTS: Counter[SubmissionKind] = Counter()


def listing(
    tr: Translator,
    consultations: Sequence[Consultation],
    counts: dict[int, Counter[SubmissionKind]],
    now: datetime,
) -> Screen:
    if not consultations:
        return Screen(tr("No consultations yet. Send a document here to publish one."), None)
    lines = [tr("🗂 <b>Consultations</b>")]
    builder = Keyboard()
    for consultation in consultations:
        lines += ["", _summary(tr, consultation, counts.get(consultation.id, NO_COUNTS), now)]
        builder.row(button(_title(tr, consultation), RunCb(act=RunAct.OPEN, id=consultation.id)))
    return Screen("\n".join(lines), builder.as_markup())


def one(
    tr: Translator,
    consultation: Consultation,
    counts: Counter[SubmissionKind],
    now: datetime,
) -> Screen:
    """One consultation, with the buttons for what its state allows."""
    zone = consultation.timezone
    lines = [_summary(tr, consultation, counts, now)]
    lines.append(
        tr(
            "Opens: %(opens)s (%(zone)s)",
            opens=tr.datetime(consultation.opens_at, zone),
            zone=tr.zone_name(zone),
        )
    )
    reason = consultation.short_period_reason
    if reason:
        text = pick(reason, tr.locale, consultation.original_language).text
        lines.append(tr("⏱ Shorter than 30 days because: %(reason)s", reason=html(text)))
    builder = Keyboard()
    withdrawn = consultation.status is ConsultationStatus.WITHDRAWN
    dated = consultation.kind is ConsultationKind.CONSULTATION
    if not withdrawn and dated:
        builder.row(
            button(tr("📅 Extend the deadline"), RunCb(act=RunAct.EXTEND, id=consultation.id))
        )
        if consultation.phase(now) is not Phase.CLOSED:
            builder.row(button(tr("⏹ Close now"), RunCb(act=RunAct.CLOSE, id=consultation.id)))
    if not withdrawn:
        builder.row(
            button(tr("📄 Replace the document"), RunCb(act=RunAct.REPLACE, id=consultation.id))
        )
    builder.row(button(tr("⬇️ Download its file"), RunCb(act=RunAct.DOWNLOAD, id=consultation.id)))
    if not withdrawn:
        builder.row(button(tr("🗑 Withdraw"), RunCb(act=RunAct.WITHDRAW, id=consultation.id)))
    builder.row(button(tr("⬅️ All consultations"), RunCb(act=RunAct.OPEN, id=0)))
    return Screen("\n".join(lines), builder.as_markup())


def confirm(tr: Translator, consultation: Consultation, act: RunAct) -> Screen:
    title = html(_title(tr, consultation))
    if act is RunAct.CLOSE:
        text = tr(
            "Close <b>%(title)s</b> now? Residents can no longer send proposals; its "
            "followers are told it closed.",
            title=title,
        )
        yes = tr("⏹ Yes, close it now")
    else:
        text = tr(
            "Withdraw <b>%(title)s</b>? Residents no longer see it and its reminders are "
            "cancelled. What residents sent stays for the staff.",
            title=title,
        )
        yes = tr("🗑 Yes, withdraw it")
    builder = Keyboard()
    builder.row(button(yes, RunCb(act=act, id=consultation.id, sure=1)))
    builder.row(button(tr("Cancel"), RunCb(act=RunAct.OPEN, id=consultation.id)))
    return Screen(text, builder.as_markup())


def closed(tr: Translator) -> str:
    return tr("⏹ Closed now. Its followers are told.")


def withdrawn(tr: Translator) -> str:
    return tr("🗑 Withdrawn: residents no longer see it.")


def not_running(tr: Translator) -> str:
    return tr("This consultation has already closed or been withdrawn; nothing was changed.")


def gone(tr: Translator) -> str:
    return tr("This consultation no longer exists.")


def _title(tr: Translator, consultation: Consultation) -> str:
    return pick(consultation.title, tr.locale, consultation.original_language).text


def _summary(
    tr: Translator, consultation: Consultation, counts: Counter[SubmissionKind], now: datetime
) -> str:
    zone = consultation.timezone
    facts = [_state(tr, consultation, now)]
    if consultation.version > 1:
        facts.append(tr("version %(version)s", version=consultation.version))
    if consultation.closes_at is not None:
        facts.append(
            tr(
                "deadline %(closes)s (%(zone)s)",
                closes=tr.datetime(consultation.closes_at, zone),
                zone=tr.zone_name(zone),
            )
        )
    facts.append(
        tr.plural(
            "%(count)s proposal",
            "%(count)s proposals",
            counts[SubmissionKind.PROPOSAL],
        )
    )
    facts.append(
        tr.plural(
            "%(count)s question",
            "%(count)s questions",
            counts[SubmissionKind.QUESTION],
        )
    )
    return f"<b>{html(_title(tr, consultation))}</b>\n" + " · ".join(facts)


def _state(tr: Translator, consultation: Consultation, now: datetime) -> str:
    if consultation.status is ConsultationStatus.WITHDRAWN:
        return tr("⚫ withdrawn")
    phase = consultation.phase(now)
    if phase is Phase.UPCOMING:
        return tr("🔵 upcoming")
    if phase is Phase.OPEN:
        return tr("🟢 open")
    return tr("🔴 closed")
