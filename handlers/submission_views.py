"""Screens of the proposal/question journey and of a resident's own data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from bot.export.common import stakeholder_label
from bot.i18n import Translator
from bot.notify.planner import FollowersGet
from bot.plan import pick
from bot.privacy import Erased
from bot.submissions import MAX_ORGANISATION, MAX_PHOTOS, MAX_TEXT, MIN_TEXT, Draft, Target
from bot.telegram_text import MAX_MESSAGE, fit, fold, in_messages, measure, person, person_name
from handlers import follow_views
from handlers.keyboards import (
    DraftAction,
    DraftCb,
    ForgetAction,
    ForgetCb,
    Keyboard,
    MineCb,
    MineFullCb,
    OrganisationCb,
    button,
    home_row,
    main_menu,
    submit_row,
)
from handlers.views import Screen, html
from storage.models import (
    Consultation,
    Phase,
    StakeholderKind,
    Submission,
    SubmissionKind,
    SubmissionStatus,
)

# A page of /my takes as many submissions as fit in a message, up to this many (each
# can have a button of its own).
MINE_MOST_PER_PAGE = 8
# One submission on /my: its text is an excerpt, the rest is shortened to this many of
# Telegram's units; «in full» shows all of it.
MINE_EXCERPT = 200
MINE_ITEM = 1500
# Room a screen keeps for a short notice shown above it (Screen.after).
NOTICE_ROOM = 400


def choose_kind(tr: Translator) -> Screen:
    text = tr(
        "<b>Ask or suggest</b>\n\n"
        "💡 A proposal: an idea or a change you would like the municipality to make.\n"
        "❓ A question: send it and we will find the answer.\n\n"
        "What would you like to send?"
    )
    builder = Keyboard()
    builder.row(*submit_row(tr))
    builder.row(*home_row(tr))
    return Screen(text, builder.as_markup())


def _subject(tr: Translator, target: Target) -> str:
    if target.consultation is None:
        return tr("the municipality")
    language = target.consultation.original_language
    title = pick(target.consultation.title, tr.locale, language).text
    # Each language's own quotation marks: „…“ in bg and sl, “…” in en.
    quoted = tr("“%(title)s”", title=html(title))
    if target.section is None:
        return quoted
    section_title = pick(target.section.title, tr.locale, language).text
    return f"{quoted} › {html(target.section.number)}. {html(section_title)}"


def kind_label(tr: Translator, kind: str) -> str:
    return tr("proposal") if kind == SubmissionKind.PROPOSAL else tr("question")


def write_prompt(tr: Translator, draft: Draft, target: Target) -> Screen:
    if draft.kind == SubmissionKind.PROPOSAL:
        intro = tr("💡 <b>Your proposal</b> to %(subject)s", subject=_subject(tr, target))
    else:
        intro = tr("❓ <b>Your question</b> to %(subject)s", subject=_subject(tr, target))
    text = tr(
        "Write it in one message, from %(min)s to %(max)s characters. After that you can add "
        "photos, a document or a location, and check everything before it is sent.",
        min=tr.number(MIN_TEXT),
        max=tr.number(MAX_TEXT),
    )
    if draft.text:
        text += "\n\n" + tr("Your new text will replace the one you wrote before.")
    builder = Keyboard()
    builder.row(button(tr("✖️ Cancel"), DraftCb(action=DraftAction.CANCEL, key=draft.key)))
    return Screen(f"{intro}\n\n{text}", builder.as_markup())


def text_too_short(tr: Translator, length: int) -> str:
    return tr.plural(
        "This is %(count)s character; please write at least %(min)s so that the staff "
        "understand what you mean.",
        "This is %(count)s characters; please write at least %(min)s so that the staff "
        "understand what you mean.",
        length,
        min=tr.number(MIN_TEXT),
    )


def text_too_long(tr: Translator, length: int) -> str:
    return tr(
        "This is %(length)s characters; at most %(max)s fit in one submission. Please shorten "
        "it, or send the rest as a second proposal.",
        length=tr.number(length),
        max=tr.number(MAX_TEXT),
    )


def text_too_heavy(tr: Translator, excess: int) -> str:
    return tr.plural(
        "This text has many emoji or special characters, and Telegram counts them as more "
        "than one character each: it would not fit in a message. Please shorten it by "
        "about %(count)s character.",
        "This text has many emoji or special characters, and Telegram counts them as more "
        "than one character each: it would not fit in a message. Please shorten it by "
        "about %(count)s characters.",
        excess,
    )


def text_refused(tr: Translator, problem: tuple[str, int]) -> str:
    """Why a text cannot be used, and what to do about it."""
    kind, amount = problem
    if kind == "short":
        return text_too_short(tr, amount)
    if kind == "long":
        return text_too_long(tr, amount)
    return text_too_heavy(tr, amount)


def attachment_summary(tr: Translator, attachments: Sequence[dict]) -> str | None:
    def count(kind: str) -> int:
        return sum(1 for item in attachments if item.get("type") == kind)

    parts = []
    if photos := count("photo"):
        parts.append(tr.plural("%(count)s photo", "%(count)s photos", photos))
    if documents := count("document"):
        parts.append(tr.plural("%(count)s document", "%(count)s documents", documents))
    if count("location"):
        parts.append(tr("a location"))
    return ", ".join(parts) if parts else None


def preview(tr: Translator, draft: Draft, target: Target, author_name: str) -> Screen:
    heading = (
        tr("📝 <b>Your proposal: check it before sending</b>")
        if draft.kind == SubmissionKind.PROPOSAL
        else tr("📝 <b>Your question: check it before sending</b>")
    )
    above = [heading, tr("To: %(subject)s", subject=_subject(tr, target)), ""]
    below = [""]
    attached = attachment_summary(tr, draft.attachments)
    if attached:
        below.append(tr("📎 Attached: %(list)s", list=attached))
    if draft.signed:
        below.append(tr("👤 Signed as %(name)s", name=person_name(author_name)))
        if draft.organisation:
            below.append(
                tr(
                    "🏢 On behalf of: %(organisation)s (%(kind)s)",
                    organisation=person_name(draft.organisation),
                    kind=stakeholder_label(tr, draft.stakeholder),
                )
            )
    else:
        below.append(tr("🙈 Anonymous to the public (the staff see who wrote)"))
    below += ["", tr("You can still add photos, a document or a location: just send them.")]

    def render(pieces: Mapping[str, str], shortened: bool) -> str:
        body = [person(pieces["text"])]
        if shortened:
            body.append(tr("✂️ Shortened here to fit in one message; all of it will be sent."))
        return "\n".join(above + body + below)

    text, _ = fit(render, {"text": draft.text}, MAX_MESSAGE - NOTICE_ROOM)

    key = draft.key
    builder = Keyboard()
    builder.row(button(tr("✅ Send"), DraftCb(action=DraftAction.SEND, key=key)))
    builder.row(
        button(tr("✏️ Edit the text"), DraftCb(action=DraftAction.EDIT, key=key)),
        button(tr("🙈 Stay anonymous"), DraftCb(action=DraftAction.ANONYMOUS, key=key))
        if draft.signed
        else button(tr("👤 Sign with my name"), DraftCb(action=DraftAction.SIGN, key=key)),
    )
    if draft.signed and draft.organisation:
        builder.row(
            button(
                tr("👤 Not on behalf of an organisation"),
                DraftCb(action=DraftAction.NO_ORGANISATION, key=key),
            )
        )
    elif draft.signed:
        builder.row(
            button(
                tr("🏢 On behalf of an organisation"),
                DraftCb(action=DraftAction.ORGANISATION, key=key),
            )
        )
    builder.row(button(tr("✖️ Cancel"), DraftCb(action=DraftAction.CANCEL, key=key)))
    return Screen(text, builder.as_markup())


def pick_organisation_kind(tr: Translator, draft: Draft) -> Screen:
    """Signing on behalf of an organisation: which kind it is."""
    builder = Keyboard()
    for kind in StakeholderKind:
        if kind is not StakeholderKind.INDIVIDUAL:
            builder.row(
                button(stakeholder_label(tr, kind), OrganisationCb(kind=kind.value, key=draft.key))
            )
    builder.row(button(tr("↩️ Back"), DraftCb(action=DraftAction.SIGN, key=draft.key)))
    return Screen(
        tr("🏢 On behalf of which kind of organisation do you write?"), builder.as_markup()
    )


def ask_organisation(tr: Translator, draft: Draft) -> Screen:
    builder = Keyboard()
    builder.row(button(tr("↩️ Back"), DraftCb(action=DraftAction.SIGN, key=draft.key)))
    return Screen(
        tr(
            "🏢 Please write the name of the %(kind)s (up to %(max)s characters). It is "
            "shown with your name.",
            kind=stakeholder_label(tr, draft.stakeholder),
            max=MAX_ORGANISATION,
        ),
        builder.as_markup(),
    )


def organisation_refused(tr: Translator) -> str:
    return tr(
        "Please write the organisation's name on one line, 2 to %(max)s characters.",
        max=MAX_ORGANISATION,
    )


def attached(tr: Translator, draft: Draft) -> str:
    return tr(
        "📎 Added. Attached so far: %(list)s.", list=attachment_summary(tr, draft.attachments) or ""
    )


def attachment_refused(tr: Translator, kind: str) -> str:
    if kind == "photo":
        return tr("A submission can have at most %(max)s photos.", max=MAX_PHOTOS)
    if kind == "document":
        return tr("A submission can have one document; this one was not added.")
    return tr("A submission can have one location; this one was not added.")


def unusable_in_draft(tr: Translator) -> str:
    return tr("I can attach photos, a document or a location to your submission, but not this.")


def text_while_reviewing(tr: Translator) -> str:
    return tr("To change the text, press “✏️ Edit the text”. Here is your draft again:")


def receipt(
    tr: Translator,
    submission: Submission,
    target: Target,
    now: datetime,
    *,
    follow_offer: FollowersGet | None = None,
) -> Screen:
    kind = submission.kind
    first = (
        tr(
            "✅ <b>Received.</b> Your proposal has the number <b>%(number)s</b>.",
            number=submission.public_number,
        )
        if kind is SubmissionKind.PROPOSAL
        else tr(
            "✅ <b>Received.</b> Your question has the number <b>%(number)s</b>.",
            number=submission.public_number,
        )
    )
    lines = [first, ""]
    consultation = target.consultation
    if consultation is None:
        lines.append(
            tr(
                "The municipality's staff read every message. We will find the answer and "
                "write to you here, in this chat."
            )
        )
    else:
        organizer = pick(consultation.organizer, tr.locale, consultation.original_language).text
        lines.append(
            tr(
                "Every proposal and question is read by the organiser's staff "
                "(%(organizer)s). Their answer and decision will come to you here, in this chat.",
                organizer=html(organizer),
            )
        )
        if consultation.closes_at is not None:
            lines.append(
                tr(
                    "The consultation closes on %(when)s; after that the municipality publishes "
                    "a report on all proposals received.",
                    when=tr.datetime(consultation.closes_at, consultation.timezone),
                )
            )
    lines += ["", tr("/my shows all your submissions and their status.")]
    builder = Keyboard()
    if follow_offer is not None and consultation is not None:
        lines += ["", follow_views.follow_offer(tr, follow_offer)]
        builder.row(follow_views.offer_to_follow(tr, consultation.id))
    builder.row(button(tr("📂 My submissions"), MineCb()), *home_row(tr))
    return Screen("\n".join(lines), builder.as_markup())


def duplicate(tr: Translator, submission: Submission) -> Screen:
    text = tr(
        "You sent the same text a few minutes ago; it was received as number %(number)s, "
        "so there is no need to send it again.",
        number=submission.public_number,
    )
    return Screen(text, main_menu(tr))


def too_many(tr: Translator, retry_at: datetime, zone: str) -> str:
    return tr(
        "You have sent many submissions in the last hour. Please send this one after "
        "%(when)s; your draft is kept until then.",
        when=tr.datetime(retry_at, zone),
    )


def cancelled(tr: Translator) -> Screen:
    return Screen(tr("Cancelled. Nothing was sent."), main_menu(tr))


def draft_gone(tr: Translator) -> Screen:
    return Screen(tr("This draft was already sent or cancelled. Here is the menu."), main_menu(tr))


def nothing_to_cancel(tr: Translator) -> Screen:
    return Screen(tr("There is nothing to cancel."), main_menu(tr))


def not_accepting(tr: Translator, consultation: Consultation, phase: Phase) -> Screen:
    zone = consultation.timezone
    if phase is Phase.UPCOMING:
        text = tr(
            "This consultation opens on %(when)s. From then on you can send proposals and "
            "questions; until then you can read it.",
            when=tr.datetime(consultation.opens_at, zone),
        )
    else:
        assert consultation.closes_at is not None
        text = tr(
            "This consultation closed on %(when)s, so it no longer takes proposals. You can "
            "still read it, and “✍️ Ask or suggest” in the menu is always open.",
            when=tr.datetime(consultation.closes_at, zone),
        )
    return Screen(text, main_menu(tr))


# --- the resident's own submissions and data ----------------------------------------


def status_label(tr: Translator, status: SubmissionStatus) -> str:
    return {
        SubmissionStatus.RECEIVED: tr("received, waiting for an answer"),
        SubmissionStatus.ANSWERED: tr("answered"),
        SubmissionStatus.ACCEPTED: tr("accepted"),
        SubmissionStatus.PARTLY_ACCEPTED: tr("partly accepted"),
        SubmissionStatus.REJECTED: tr("not accepted"),
        SubmissionStatus.SPAM: tr("not considered"),
    }[status]


def _mine_item(tr: Translator, item: Submission, titles: dict[int, str]) -> tuple[str, bool]:
    """One submission as /my lists it, and whether anything of it was shortened."""
    when = tr.date(item.created_at, tr.home_zone)  # a list across consultations
    about = titles.get(item.consultation_id or 0) or tr("the municipality")
    if item.section_number:
        about += f" › {item.section_number}"
    head = [
        f"<b>№ {html(item.public_number or '')}</b> · {kind_label(tr, item.kind)} · {when}",
        tr("To: %(subject)s", subject=html(about)),
        tr("Status: %(status)s", status=status_label(tr, item.status)),
    ]
    excerpt = fold(item.text, MINE_EXCERPT)

    def render(pieces: Mapping[str, str], shortened: bool) -> str:
        lines = [*head, f"<i>{person(pieces['text'])}</i>"]
        if pieces["reason"]:
            lines.append(tr("Reason: %(reason)s", reason=person(pieces["reason"])))
        if pieces["answer"]:
            lines.append(tr("💬 Answer: %(answer)s", answer=person(pieces["answer"])))
        return "\n".join(lines)

    pieces = {"text": excerpt, "reason": item.decision_reason or "", "answer": item.answer or ""}
    text, shortened = fit(render, pieces, MINE_ITEM)
    return text, shortened or excerpt != item.text


def mine_pages(
    tr: Translator, submissions: Sequence[Submission], titles: dict[int, str]
) -> list[list[tuple[Submission, str, bool]]]:
    """The resident's submissions (newest first) in pages of what fits in one message."""
    room = MAX_MESSAGE - measure(tr("<b>Your proposals and questions</b>")) - 80  # page line
    pages: list[list[tuple[Submission, str, bool]]] = [[]]
    used = 0
    for item in submissions:
        text, shortened = _mine_item(tr, item, titles)
        size = measure(text) + 2
        if pages[-1] and (used + size > room or len(pages[-1]) == MINE_MOST_PER_PAGE):
            pages.append([])
            used = 0
        pages[-1].append((item, text, shortened))
        used += size
    return pages


def mine(
    tr: Translator,
    submissions: Sequence[Submission],
    titles: dict[int, str],
    page: int,
) -> Screen:
    """/my: a page of the resident's submissions (all of them, newest first)."""
    if not submissions:
        return Screen(
            tr("You have not sent any proposals or questions yet."),
            main_menu(tr),
        )
    pages = mine_pages(tr, submissions, titles)
    page = min(max(page, 0), len(pages) - 1)
    lines = [tr("<b>Your proposals and questions</b>")]
    builder = Keyboard()
    for item, text, shortened in pages[page]:
        lines += ["", text]
        if shortened:
            label = tr("📄 № %(number)s in full", number=item.public_number or "")
            builder.row(button(label, MineFullCb(id=item.id, page=page)))
    if len(pages) > 1:
        lines += ["", tr("Page %(page)s of %(pages)s", page=page + 1, pages=len(pages))]
        turn = []
        if page > 0:
            turn.append(button(tr("◀️ Previous page"), MineCb(page=page - 1)))
        if page + 1 < len(pages):
            turn.append(button(tr("Next page ▶️"), MineCb(page=page + 1)))
        builder.row(*turn)
    builder.row(*home_row(tr))
    return Screen("\n".join(lines), builder.as_markup())


def mine_in_full(tr: Translator, item: Submission, page: int) -> list[Screen]:
    """One submission with all its text, reason and answer, in as many messages as it
    takes; the last one leads back to the list."""
    heading = tr("📄 <b>№ %(number)s in full</b>", number=html(item.public_number or ""))
    blocks = [(heading, item.text)]
    if item.decision_reason:
        blocks.append((tr("<b>Reason:</b>"), item.decision_reason))
    if item.answer:
        blocks.append((tr("<b>💬 Answer:</b>"), item.answer))
    texts = in_messages(blocks)
    builder = Keyboard()
    builder.row(button(tr("📂 My submissions"), MineCb(page=page)), *home_row(tr))
    return [Screen(text) for text in texts[:-1]] + [Screen(texts[-1], builder.as_markup())]


def my_data_caption(tr: Translator) -> str:
    return tr("Everything stored about you, as a JSON file. /forget erases it.")


def forget_question(tr: Translator, submissions: int) -> Screen:
    text = tr(
        "<b>Erase your data?</b>\n\n"
        "This erases your profile here (language, agreement to the privacy notice), any "
        "unfinished draft, and your link to what you sent. Choose what happens to your "
        "submissions:"
    )
    text += "\n\n" + tr.plural(
        "You have sent %(count)s submission.", "You have sent %(count)s submissions.", submissions
    )
    builder = Keyboard()
    builder.row(
        button(
            tr("🗑 Erase me, keep my submissions anonymously"),
            ForgetCb(action=ForgetAction.KEEP_SUBMISSIONS),
        )
    )
    builder.row(
        button(
            tr("🗑 Erase me and my submissions"),
            ForgetCb(action=ForgetAction.DELETE_SUBMISSIONS),
        )
    )
    builder.row(button(tr("✖️ Cancel"), ForgetCb(action=ForgetAction.CANCEL)))
    return Screen(text, builder.as_markup())


def forgotten(tr: Translator, erased: Erased) -> Screen:
    if erased.kept_anonymously:
        what = tr.plural(
            "%(count)s submission stays, with no link to you.",
            "%(count)s submissions stay, with no link to you.",
            erased.submissions,
        )
    else:
        what = tr.plural(
            "%(count)s submission was deleted.",
            "%(count)s submissions were deleted.",
            erased.submissions,
        )
    text = tr(
        "Done. Your profile, your agreement to the privacy notice and any draft were erased.",
    )
    builder = Keyboard()
    builder.row(*home_row(tr))
    return Screen(f"{text}\n{what}", builder.as_markup())


def kept(tr: Translator) -> Screen:
    return Screen(tr("Nothing was erased."), main_menu(tr))
