"""What staff see of answer templates: the list per language, the answers to saving and
deleting one, and the templates offered under a prompt."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import CopyTextButton, InlineKeyboardButton

from bot.i18n import LANGUAGE_NAMES, Translator
from bot.telegram_text import fold, person, units
from bot.templates import MAX_NAME, MAX_PER_LANGUAGE, PLACEHOLDERS, Offer, TemplateRefused
from handlers.keyboards import Keyboard, TemplateAct, TemplateCb, button, label
from handlers.views import Screen, html
from storage.models import AnswerTemplate

# Telegram copies at most this many characters with a copy_text button.
MAX_COPY_TEXT = 256
PREVIEW = 160


def _language(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


def usage(tr: Translator, languages: Sequence[str]) -> str:
    return tr(
        "To add a template, or change the one with that name, write the command, the "
        "language (%(languages)s) and a short name, and the text on the next line:\n"
        "<code>/template bg thanks</code>\n"
        "<code>Thank you for proposal № {number} on {section}. …</code>\n"
        "{number} and {section} are filled with the submission's number and section when "
        "the template is used.",
        languages=", ".join(languages),
    )


def listing(
    tr: Translator, templates: Sequence[AnswerTemplate], languages: Sequence[str]
) -> Screen:
    """The head of /templates: how many there are in each language, and how to add one."""
    counts = [
        f"{_language(code)}: {sum(1 for t in templates if t.language == code)}"
        for code in languages
    ]
    text = "\n".join(
        [
            tr("📝 <b>Answer templates</b>"),
            tr(
                "They are offered when you answer or decide, in the resident's language, "
                "filled with the number and the section."
            ),
            html(" · ".join(counts)),
            "",
            usage(tr, languages),
        ]
    )
    return Screen(text, None)


def of_language(tr: Translator, language: str, templates: Sequence[AnswerTemplate]) -> Screen:
    """The templates of one language, each with a button that deletes it and one that
    copies the command changing it (when Telegram can copy that much)."""
    lines = [f"<b>{html(_language(language))}</b>"]
    builder = Keyboard()
    if not templates:
        lines.append(tr("No templates in this language."))
    for template in templates:
        lines += ["", f"<b>{html(template.name)}</b>", person(fold(template.text, PREVIEW))]
        row = [
            button(
                tr("🗑 Delete %(name)s", name=template.name),
                TemplateCb(act=TemplateAct.DELETE, id=template.id),
            )
        ]
        command = f"/template {template.language} {template.name}\n{template.text}"
        if units(command) <= MAX_COPY_TEXT:
            row.append(
                InlineKeyboardButton(
                    text=label(tr("✏️ Change %(name)s", name=template.name)),
                    copy_text=CopyTextButton(text=command),
                )
            )
        builder.row(*row)
    return Screen("\n".join(lines), builder.as_markup())


def saved(tr: Translator, template_name: str, language: str, created: bool) -> str:
    if created:
        return tr(
            "📝 Template “%(name)s” (%(language)s) saved.",
            name=html(template_name),
            language=html(_language(language)),
        )
    return tr(
        "📝 Template “%(name)s” (%(language)s) changed.",
        name=html(template_name),
        language=html(_language(language)),
    )


def deleted(tr: Translator, template: AnswerTemplate | None) -> str:
    if template is None:
        return tr("This template was deleted already.")
    return tr(
        "🗑 Template “%(name)s” (%(language)s) deleted.",
        name=html(template.name),
        language=html(_language(template.language)),
    )


def refusal(tr: Translator, refused: TemplateRefused, languages: Sequence[str]) -> str:
    """Why a template was not saved, and what to write instead."""
    problem = refused.problem
    if problem == "language":
        return tr(
            "Not saved: the language must be one of %(languages)s.", languages=html(refused.detail)
        )
    if problem == "name":
        return tr(
            "Not saved: the name must be one word of at most %(max)s characters.", max=MAX_NAME
        )
    if problem == "empty":
        return tr("Not saved: the template has no text.") + "\n\n" + usage(tr, languages)
    if problem == "placeholder":
        return tr(
            "Not saved: %(unknown)s cannot be filled in. A template may use only %(known)s.",
            unknown=html(refused.detail),
            known=html(", ".join("{" + name + "}" for name in PLACEHOLDERS)),
        )
    if problem == "braces":
        return tr(
            "Not saved: a brace has no pair. Placeholders are written {number} and "
            "{section}; a brace itself is written twice: {{ or }}."
        )
    if problem == "too_many":
        return tr(
            "Not saved: a language can have at most %(max)s templates. Delete one in /templates "
            "first, or save this one under the name of one to change.",
            max=MAX_PER_LANGUAGE,
        )
    return tr(
        "Not saved: the template is too long for an answer or a reason once the number and "
        "the section are filled in. Please shorten it."
    )


def offer(tr: Translator, offered: Offer, prompt_message_id: int) -> Screen:
    """Under a prompt: the templates in the resident's language, filled; ▶ sends one as
    it is, 📋 copies it to change it before replying to the prompt."""
    text = tr(
        "📝 Templates in %(language)s (the resident's language): ▶ sends one as it is; 📋 "
        "copies it, to change it and send it as your reply to the prompt.",
        language=html(_language(offered.language)),
    )
    builder = Keyboard()
    for template, filled in offered.filled:
        use = TemplateCb(act=TemplateAct.USE, id=template.id, prompt=prompt_message_id)
        copy_label = label("📋 " + template.name)
        if units(filled) <= MAX_COPY_TEXT:
            copy = InlineKeyboardButton(text=copy_label, copy_text=CopyTextButton(text=filled))
        else:
            show = TemplateCb(act=TemplateAct.SHOW, id=template.id, prompt=prompt_message_id)
            copy = button(copy_label, show)
        builder.row(button("▶ " + template.name, use), copy)
    return Screen(text, builder.as_markup())


def filled_text(tr: Translator, template_name: str, filled: str) -> str:
    """A template too long for a copy button, to copy from the message itself."""
    return (
        tr(
            "📋 “%(name)s”, filled: copy it, change it and send it as your reply to the prompt.",
            name=html(template_name),
        )
        + "\n\n<code>"
        + person(filled)
        + "</code>"
    )


def template_gone(tr: Translator) -> str:
    return tr("This template was deleted; /templates shows the ones there are.")
