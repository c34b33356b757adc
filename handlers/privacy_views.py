"""What a resident reads about their data: the privacy notice, and the copy of
everything stored about them (/mydata) as JSON and as a text in their language."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.config import Settings
from bot.export.common import stakeholder_label
from bot.i18n import Translator
from bot.plan import pick
from bot.privacy import PersonalData
from bot.submissions import Draft
from bot.zones import zone_of
from handlers.keyboards import DraftAction, DraftCb, Keyboard, button, main_menu
from handlers.submission_views import kind_label, status_label
from handlers.views import Screen, html
from storage.models import Consultation, DeliveryStatus, NoticeKind


def notice(tr: Translator, settings: Settings) -> str:
    """The privacy notice on its own (/privacy)."""
    heading = tr("🔒 <b>Privacy notice</b>")
    return f"{heading}\n\n{notice_body(tr, settings)}"


def notice_body(tr: Translator, settings: Settings) -> str:
    """GDPR art. 13: who, why, on what basis, what, who sees it, how long, the rights."""
    controller = settings.controller or tr("the municipality that runs this bot")
    contact = settings.privacy_contact or tr("the municipality's data protection officer")
    return tr(
        "<b>Controller:</b> %(controller)s. <b>Data protection contact:</b> %(contact)s.\n"
        "<b>Purpose and legal basis:</b> running the municipality's public consultations "
        "and answering your proposals and questions, a task in the public interest "
        "(GDPR art. 6(1)(e)) set by the law on public consultation.\n"
        "<b>What is stored:</b> your Telegram user id and chat, your language, when you "
        "last used the bot, what you follow, the notices sent to you, and what you send "
        "(text, photos, documents, location), with your Telegram name only if you choose "
        "to sign.\n"
        "<b>Who sees it:</b> the municipal staff who handle the consultation. The report "
        "the municipality publishes shows the text of your submission and the decision, "
        "without your name unless you signed.\n"
        "<b>How long:</b> %(days)s days after the consultation closes (after sending, for "
        "the general channel); then only the text and the decision stay, with nothing "
        "that points to you. If you do not use the bot for %(days)s days and follow "
        "nothing, your profile is erased.\n"
        "<b>After erasure:</b> if staff blocked you, or you reached the hourly limit, a "
        "keyed hash (HMAC) of your Telegram id is kept, while the block lasts or for one "
        "hour, so that erasing is not a way around them; without the municipality's "
        "secret key it names nobody.\n"
        "<b>Your rights:</b> /mydata gives you everything stored about you; /forget "
        "erases it. You may also ask the contact above for a correction, a restriction "
        "or object, and complain to the data protection authority.",
        controller=html(controller),
        contact=html(contact),
        days=tr.number(settings.retention_days),
    )


def consent(tr: Translator, draft: Draft, settings: Settings) -> Screen:
    """The notice before a first proposal or question, with the choice to agree."""
    builder = Keyboard()
    builder.row(
        button(tr("✅ I agree"), DraftCb(action=DraftAction.AGREE, key=draft.key)),
        button(tr("✖️ No, thanks"), DraftCb(action=DraftAction.DECLINE, key=draft.key)),
    )
    text = "\n\n".join(
        (
            tr("🔒 <b>Before you write: your data</b>"),
            notice_body(tr, settings),
            tr("Do you agree?"),
        )
    )
    return Screen(text, builder.as_markup())


def declined(tr: Translator) -> Screen:
    text = tr(
        "No problem: nothing you wrote was kept. The bot stores only your Telegram id and "
        "language, so that it can answer you; /forget erases them. You can keep reading "
        "the consultations."
    )
    return Screen(text, main_menu(tr))


def my_data_caption(tr: Translator) -> str:
    return tr(
        "Everything stored about you: as a JSON file, and as a text to read. /forget erases it."
    )


# --- the copy (/mydata) ----------------------------------------------------------------


def my_data_document(tr: Translator, data: PersonalData, draft: Draft | None) -> dict[str, Any]:
    """The copy as JSON: titles, dates in the person's language, no internal ids."""
    resident = data.resident
    return {
        "profile": {
            "telegram_user_id": resident.telegram_user_id,
            "chat_id": resident.chat_id,
            "language_chosen": resident.language,
            "telegram_language": resident.telegram_language,
            "privacy_notice_agreed": _when(tr, resident.consent_at),
            "privacy_notice_version": resident.consent_version,
            "reachable": resident.reachable,
            "blocked_by_staff": resident.banned,
            "told_about_every_new_consultation": resident.follows_all,
            "first_seen": _when(tr, resident.first_seen_at),
            "last_seen": _when(tr, resident.last_seen_at),
            "kept_after_an_earlier_erasure": data.restricted,
        },
        "follows": [
            {"consultation": _title(tr, consultation), "since": _when(tr, follow.created_at)}
            for follow, consultation in data.follows
        ],
        "submissions": [_submission(tr, data, item) for item in data.submissions],
        "notices_sent_to_you": [
            {
                "notice": _notice_kind(tr, notice.kind),
                "consultation": _title(tr, consultation) if consultation else None,
                "status": _delivery_status(tr, delivery.status),
                "sent": _when(tr, delivery.sent_at),
                "telegram_message_id": delivery.telegram_message_id,
            }
            for delivery, notice, consultation in data.deliveries
        ],
        "refused_staff_actions": [
            {
                "what": action.detail,
                "name_recorded": action.actor_name,
                "when": _when(tr, action.created_at),
            }
            for action in data.refused_attempts
        ],
        "unfinished_draft": (
            {
                "kind": kind_label(tr, draft.kind) if draft.kind else None,  # not chosen yet
                "text": draft.text,
                "attachments": draft.attachments,
            }
            if draft
            else None
        ),
    }


def my_data_json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, indent=2).encode()


def my_data_text(tr: Translator, document: dict[str, Any]) -> bytes:
    """The same copy as a plain text to read, headed and labelled in their language."""
    labels = {
        "profile": tr("Your profile"),
        "follows": tr("Consultations you follow"),
        "submissions": tr("Your proposals and questions"),
        "notices_sent_to_you": tr("Notices sent to you"),
        "refused_staff_actions": tr("Staff actions you tried (refused)"),
        "unfinished_draft": tr("Unfinished draft"),
    }
    lines = [tr("Everything civicbot stores about you"), ""]
    for key, title in labels.items():
        lines += [title, "=" * len(title)]
        value = document[key]
        if not value:
            lines.append(tr("(nothing)"))
        elif isinstance(value, dict):
            lines += _text_fields(value)
        else:
            for number, item in enumerate(value, 1):
                lines.append(f"{number}.")
                lines += _text_fields(item, indent="   ")
        lines.append("")
    return "\n".join(lines).encode()


def _text_fields(record: dict[str, Any], indent: str = "") -> list[str]:
    lines = []
    for name, value in record.items():
        if value is None or value == [] or value == "":
            continue
        shown = json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else value
        lines.append(f"{indent}{name.replace('_', ' ')}: {shown}")
    return lines


def _submission(tr: Translator, data: PersonalData, item: Any) -> dict[str, Any]:
    consultation = data.consultations.get(item.consultation_id or 0)
    zone = zone_of(consultation, tr.home_zone)
    return {
        "number": item.public_number,
        "kind": kind_label(tr, item.kind),
        "consultation": _title(tr, consultation) if consultation else tr("General channel"),
        "section": item.section_number,
        "text": item.text,
        "attachments": [_attachment(tr, attachment) for attachment in item.attachments],
        "signed_as": item.author_name,
        "on_behalf_of": (
            f"{item.organisation_name} ({stakeholder_label(tr, item.stakeholder)})"
            if item.organisation_name
            else None
        ),
        "status": status_label(tr, item.status),
        "reason": item.decision_reason,
        "answer": item.answer,
        "answered": _when(tr, item.answered_at, zone),
        "sent": _when(tr, item.created_at, zone),
    }


def _attachment(tr: Translator, attachment: dict[str, Any]) -> dict[str, Any]:
    kind = attachment.get("type")
    if kind == "location":
        return {
            "type": tr("a location"),
            "latitude": attachment.get("latitude"),
            "longitude": attachment.get("longitude"),
        }
    shown = {"type": tr("photo") if kind == "photo" else tr("document")}
    for key in ("file_name", "mime_type", "file_size"):
        if attachment.get(key) is not None:
            shown[key] = attachment[key]
    return shown


def _title(tr: Translator, consultation: Consultation) -> str:
    return pick(consultation.title, tr.locale, consultation.original_language).text


def _when(tr: Translator, moment: datetime | None, zone: str | None = None) -> str | None:
    """A time and its zone's name: the consultation's, else the municipality's."""
    if moment is None:
        return None
    zone = zone or tr.home_zone
    return f"{tr.datetime(moment, zone)} ({tr.zone_name(zone)})"


def _notice_kind(tr: Translator, kind: NoticeKind) -> str:
    return {
        NoticeKind.OPENED: tr("a consultation opened"),
        NoticeKind.DEADLINE: tr("deadline reminder"),
        NoticeKind.CLOSED: tr("a consultation closed"),
        NoticeKind.BROADCAST: tr("message from the municipality"),
        NoticeKind.REPORT: tr("the report on a consultation"),
        NoticeKind.EXTENDED: tr("a deadline extended"),
    }[kind]


def _delivery_status(tr: Translator, status: DeliveryStatus) -> str:
    return {
        DeliveryStatus.PENDING: tr("waiting to be sent"),
        DeliveryStatus.SENDING: tr("waiting to be sent"),
        DeliveryStatus.SENT: tr("sent"),
        DeliveryStatus.FAILED: tr("not sent"),
        DeliveryStatus.UNREACHABLE: tr("not sent: you had blocked the bot"),
        DeliveryStatus.UNCERTAIN: tr("perhaps sent"),
    }[status]
