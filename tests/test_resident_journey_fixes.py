"""End to end, the rough edges of the resident journey that a newcomer's walk found
(issue 13): each one as a resident meets it, in bg, sl and en, against the stand-in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select, update

from bot.commands import COMMANDS
from bot.sandbox import TelegramStandIn
from handlers.keyboards import MAX_BUTTON_LABEL, label
from storage.models import Consultation, ConsultationStatus, ConversationState
from tests.conftest import Chat, RunningBot
from tests.test_submissions import WORDS, stored

FIRST_NAME = {"en": "Ana", "bg": "Ана", "sl": "Ana"}
NEXT = {"en": "Next ➡️", "bg": "Напред ➡️", "sl": "Naprej ➡️"}
PREVIOUS = {"en": "⬅️ Previous", "bg": "⬅️ Назад", "sl": "⬅️ Nazaj"}
PAGE_OF = {"en": "page {} of {}", "bg": "страница {} от {}", "sl": "stran {} od {}"}
SECTION_OF = {"en": "Section {} of {}", "bg": "Раздел {} от {}", "sl": "Razdelek {} od {}"}
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


# --- 1. a section of two pages is read page by page -------------------------------------


@pytest.mark.parametrize("language", ["en", "bg", "sl"])
async def test_next_turns_the_page_of_a_long_section_before_the_next_section(
    resident, language: str
) -> None:
    """Kazanlak's "About the plan" is two pages: Next shows page 2, then section 2."""
    chat: Chat = resident(FIRST_NAME[language], language)
    first = await chat.send("/start kazanlak-ipd-2021-2027__1")
    assert PAGE_OF[language].format(1, 2) in first.text.split("\n\n")[1], "said at the top"
    assert NEXT[language] in first.text, "page 1 says the section goes on"
    second = await chat.tap(NEXT[language])
    assert PAGE_OF[language].format(2, 2) in second.text
    assert SECTION_OF[language].format(1, 12) in second.text
    assert second.text != first.text
    third = await chat.tap(NEXT[language])
    assert SECTION_OF[language].format(2, 12) in third.text
    # Back, in reading order: the last page of the section before.
    back = await chat.tap(PREVIOUS[language])
    assert back.text == second.text
    again = await chat.tap(PREVIOUS[language])
    assert again.text == first.text
    assert PREVIOUS[language] not in chat.labels, "the first page of the first section"


@pytest.mark.parametrize("language", ["en", "bg"])
async def test_reading_a_whole_plan_with_next_shows_every_page(resident, language: str) -> None:
    chat: Chat = resident(FIRST_NAME[language], language)
    await chat.send("/start kazanlak-ipd-2021-2027__1")
    seen = [chat.last.text]
    while NEXT[language] in chat.labels:
        seen.append((await chat.tap(NEXT[language])).text)
    pages_of_first = [text for text in seen if SECTION_OF[language].format(1, 12) in text]
    assert len(pages_of_first) == 2
    assert all(SECTION_OF[language].format(n, 12) in "".join(seen) for n in range(1, 13))


# --- 2. following promises what the notifier sends ---------------------------------------

CHANNEL_FOLLOWED = {
    "en": ("the messages the municipality sends to its followers", "no deadline"),
    "bg": ("съобщенията", "няма краен срок"),
    "sl": ("sporočila", "nima roka"),
}
NO_REMINDER = {"en": "reminder", "bg": "напомн", "sl": "opomnik"}


@pytest.mark.parametrize("language", ["en", "bg", "sl"])
async def test_following_the_always_open_channel_promises_no_deadline_news(
    resident, language: str
) -> None:
    words = WORDS[language]
    chat: Chat = resident(FIRST_NAME[language], language)
    await chat.send("/start kranj-vprasaj-predlagaj")
    await chat.tap(words["suggest"])
    await chat.tap(words["agree"])
    await chat.send("Please light the footpath along the Kokra river in the evenings.")
    receipt = await chat.tap(words["send"])
    offer = receipt.text.split("\n\n")[-1]
    assert CHANNEL_FOLLOWED[language][0] in offer and CHANNEL_FOLLOWED[language][1] in offer
    assert "closes" not in offer and "затвар" not in offer and "zapre" not in offer
    follow = next(label for label in chat.labels if label.startswith("🔔"))
    done = await chat.tap(follow)
    promise = done.text.split("\n\n")[0]
    assert CHANNEL_FOLLOWED[language][0] in promise, promise
    assert CHANNEL_FOLLOWED[language][1] in promise
    what_comes = promise.split(":", 1)[1].split(".")[0]  # "You will get: …."
    assert NO_REMINDER[language] not in what_comes, promise


async def test_following_a_consultation_promises_the_reminders_planned(resident) -> None:
    chat: Chat = resident("Ana", "en")
    await chat.send("/start stara-zagora-pid-strategy")  # closes 19.06; now is 01.06
    done = await chat.tap("🔔 Follow")
    promise = done.text.split("\n\n")[0]
    assert promise.startswith("🔔 Done. You will get: 2 reminders before the deadline")
    assert "the news when it closes" in promise and "the report" in promise
    assert "when it opens" not in promise
    assert "🔕 Stop following" in chat.labels


async def test_following_an_upcoming_consultation_promises_and_brings_the_opening(
    resident,
) -> None:
    chat: Chat = resident("Ана", "bg")
    await chat.send("/start stara-zagora-vision-2027")
    done = await chat.tap(next(label for label in chat.labels if label.startswith("🔔")))
    assert "когато бъде открита" in done.text.split("\n\n")[0]


@pytest.mark.parametrize("language", ["en", "bg", "sl"])
async def test_every_new_consultation_promises_what_it_brings(resident, language: str) -> None:
    expected = {
        "en": "the news of every new consultation when it opens",
        "bg": "всяка нова консултация",
        "sl": "vsakem novem posvetovanju",
    }[language]
    chat: Chat = resident(FIRST_NAME[language], language)
    await chat.send("/notifications")
    follow_all = next(label for label in chat.labels if label.startswith("🔔"))
    done = await chat.tap(follow_all)
    assert expected in done.text.split("\n\n")[0]
    assert "before the deadline and the news when it closes" not in done.text


# --- 4. /help lists every command -------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "bg", "sl"])
async def test_help_lists_every_command_of_the_menu(resident, language: str) -> None:
    chat: Chat = resident(FIRST_NAME[language], language)
    help_text = (await chat.send("/help")).text
    listed = [line.split(" ")[0] for line in help_text.splitlines() if line.startswith("/")]
    assert listed == [f"/{name}" for name, _ in COMMANDS]


# --- 5. shortened button labels keep what tells them apart ------------------------------


def _real_titles() -> list[str]:
    """Every title and organizer of the example consultations, in every language."""
    texts: list[str] = []

    def titles(node: dict) -> None:
        for key in ("title", "organizer"):
            texts.extend((node.get(key) or {}).values())
        for child in node.get("sections") or []:
            titles(child)

    for path in sorted(EXAMPLES.glob("*.yaml")):
        titles(yaml.safe_load(path.read_text()))
    return texts


def test_real_titles_are_shortened_at_word_boundaries_keeping_both_ends() -> None:
    texts = [f"{number}. {text}" for number, text in enumerate(_real_titles(), start=1)]
    shortened = [text for text in texts if len(" ".join(text.split())) > MAX_BUTTON_LABEL]
    assert len(shortened) > 5
    for text in texts:
        words = text.split()
        shown = label(text)
        assert len(shown) <= MAX_BUTTON_LABEL
        if text in shortened:
            assert " … " in shown, shown
            head, tail = shown.split(" … ")
            assert text.startswith(head) and " ".join(words).endswith(tail), shown
            assert words[0] == head.split()[0] and words[-1] == tail.split()[-1]
            # Only whole words: the start and the end are cut where a word ends.
            assert head.split()[-1] in (w.rstrip(",;:") for w in words)
            assert tail.split()[0] in words


@pytest.mark.parametrize("language", ["en", "bg", "sl"])
async def test_consultation_buttons_keep_the_words_that_tell_them_apart(
    resident, language: str
) -> None:
    chat: Chat = resident(FIRST_NAME[language], language)
    listing = await chat.send("/consultations")
    buttons = [label for label in chat.labels if label[0].isdigit()]
    assert len(buttons) == 4
    for button_label in buttons:
        number = button_label.split(".")[0]
        line = next(ln for ln in listing.text.splitlines() if ln.startswith(f"{number}. "))
        title = line.removeprefix(f"{number}. ")
        if len(f"{number}. {title}") <= MAX_BUTTON_LABEL:
            assert button_label == f"{number}. {title}"
        else:
            # "…Municipality of Star…" no more: the place and the years are on the button.
            assert button_label.endswith(" ".join(title.split()[-2:])), button_label
    if language == "en":
        assert any(b.endswith("Stara Zagora to 2027") for b in buttons), buttons
        assert any(b.endswith("Kazanlak 2021–2027") for b in buttons), buttons


# --- 6. an album is one answer ----------------------------------------------------------


async def _new_messages(chat: Chat, act) -> list[str]:
    before = len(chat.standin.messages(chat.user))
    act()
    await chat.standin.wait_for(lambda: len(chat.standin.messages(chat.user)) > before, 10)
    await chat.settled()
    return [message.text for message in chat.standin.messages(chat.user)[before:]]


@pytest.mark.parametrize("language", ["en", "bg"])
async def test_an_album_delivered_in_two_parts_is_one_preview(
    resident, standin: TelegramStandIn, running_bot: RunningBot, language: str
) -> None:
    """Telegram may hand the photos of one album over in separate deliveries: the
    preview answers the album once, and shows every photo of it."""
    words = WORDS[language]
    chat: Chat = resident(FIRST_NAME[language], language)
    await chat.send("/start stara-zagora-pid-strategy__3-1")
    await chat.tap(words["suggest"])
    await chat.tap(words["agree"])
    await chat.send("A co-working space near the station, open in the evenings too.")
    group = "13000000000000013"
    first = await _new_messages(chat, lambda: standin.send_album(chat.user, 2, group_id=group))
    assert len(first) == 1
    before = len(standin.messages(chat.user))
    standin.send_album(chat.user, 2, group_id=group)
    await chat.settled()
    assert len(standin.messages(chat.user)) == before, "no second preview for the album"
    photos = {"en": "4 photos", "bg": "4 снимки"}[language]
    assert photos in chat.last.text
    await chat.tap(words["send"])
    [submission] = await stored(running_bot)
    assert [item["type"] for item in submission.attachments] == ["photo"] * 4


# --- 3. a text typed outside any draft is offered to be sent, and kept ------------------

TYPED = {
    "en": "The bus to the industrial zone should run every 20 minutes in the morning.",
    "bg": "Автобусът до индустриалната зона трябва да минава на 20 минути сутрин.",
    "sl": "Avtobus do industrijske cone bi moral zjutraj voziti vsakih 20 minut.",
}
OFFER = {
    "en": ("✍️ Send this to the municipality?", "💡 As a proposal", "✖️ No, thanks"),
    "bg": ("✍️ Да го изпратя ли на общината?", "💡 Като предложение", "✖️ Не, благодаря"),
    "sl": ("✍️ Naj to pošljem občini?", "💡 Kot predlog", "✖️ Ne, hvala"),
}
AS_QUESTION = {"en": "❓ As a question", "bg": "❓ Като въпрос", "sl": "❓ Kot vprašanje"}
TO_MUNICIPALITY = "🏛"


def _strategy(chat: Chat) -> str:
    return next(label for label in chat.labels if "Strateg" in label or "Стратег" in label)


@pytest.mark.parametrize("language", ["en", "bg", "sl"])
async def test_a_typed_proposal_is_offered_and_sent_with_its_text_kept(
    resident, running_bot: RunningBot, language: str
) -> None:
    words = WORDS[language]
    heading, as_proposal, no_thanks = OFFER[language]
    chat: Chat = resident(FIRST_NAME[language], language)
    offer = await chat.send(TYPED[language])
    assert offer.text.startswith(heading) and TYPED[language] in offer.text
    assert {as_proposal, AS_QUESTION[language], no_thanks} <= set(chat.labels)
    await chat.tap(as_proposal)
    # The open consultations (Stara Zagora's strategy, Kranj's channel) and the
    # municipality in general; not the upcoming or the closed ones.
    consultations = [label for label in chat.labels if label != no_thanks]
    assert len(consultations) == 3 and consultations[-1].startswith(TO_MUNICIPALITY)
    await chat.tap(_strategy(chat))
    await chat.tap(chat.label_starting("3.1."))
    if chat.last.text.startswith(words["privacy"]):
        await chat.tap(words["agree"])
    preview = chat.last
    assert TYPED[language] in preview.text and "3.1." in preview.text
    await chat.tap(words["send"])
    assert chat.last.text.startswith(words["received"])
    [submission] = await stored(running_bot)
    assert submission.text == TYPED[language]
    assert (submission.kind.value, submission.section_number) == ("proposal", "3.1")


async def test_the_kept_text_survives_a_restart(resident, running_bot: RunningBot) -> None:
    chat: Chat = resident("Ana", "en")
    await chat.send(TYPED["en"])
    offer = chat.last
    await running_bot.restart()
    await chat.tap("❓ As a question", message=offer)
    await chat.tap(chat.label_starting(TO_MUNICIPALITY))
    await chat.tap(WORDS["en"]["agree"])
    assert TYPED["en"] in chat.last.text and "Your question" in chat.last.text
    await chat.tap(WORDS["en"]["send"])
    [submission] = await stored(running_bot)
    assert submission.text == TYPED["en"] and submission.consultation_id is None


async def test_the_menu_leads_back_to_a_kept_text(resident) -> None:
    chat: Chat = resident("Ana", "en")
    await chat.send(TYPED["en"])
    await chat.send("/start")
    again = await chat.tap("📝 Continue your draft")
    assert again.text.startswith("✍️ Send this to the municipality?")
    assert TYPED["en"] in again.text


@pytest.mark.parametrize("language", ["en", "bg"])
async def test_no_thanks_keeps_nothing_and_says_so(
    resident, running_bot: RunningBot, language: str
) -> None:
    chat: Chat = resident(FIRST_NAME[language], language)
    offer = await chat.send(TYPED[language])
    done = await chat.tap(OFFER[language][2])
    assert {"en": "nothing was sent", "bg": "нищо не е изпратено"}[language] in done.text
    # The offer's old button, pressed again: nothing was kept to send.
    old_button = next(b for b in offer.flat_buttons if b.text == OFFER[language][1])
    await chat.tap_data(old_button.value)
    assert "📝" not in " ".join(chat.labels)
    assert await stored(running_bot) == []
    app = running_bot.app
    assert app is not None
    async with app.session_factory() as session:
        states = list(await session.scalars(select(ConversationState)))
    assert all(TYPED[language] not in str(state.data) for state in states)


async def test_a_very_long_text_is_refused_politely_and_not_kept(resident, running_bot) -> None:
    chat: Chat = resident("Ana", "en")
    answer = await chat.send("Our street needs trees. " * 150)  # 3,600 characters
    assert answer.text.startswith("This is 3,599 characters; at most 3,000 fit")
    assert "Nothing was kept or sent." in answer.text
    assert "✍️" not in answer.text


async def test_odd_content_is_shown_as_written_and_sent_as_written(
    resident, running_bot: RunningBot
) -> None:
    odd = "<b>Lights</b> & <script>x</script> for Ulica 5 😀 — please, \u202eevening"
    chat: Chat = resident("Ana", "en")
    offer = await chat.send(odd)
    assert "<b>Lights</b> &amp;" not in offer.text and "Lights" in offer.text
    await chat.tap("💡 As a proposal")
    await chat.tap(chat.label_starting(TO_MUNICIPALITY))
    await chat.tap(WORDS["en"]["agree"])
    await chat.tap(WORDS["en"]["send"])
    [submission] = await stored(running_bot)
    assert submission.text == odd


async def test_a_short_greeting_is_not_taken_for_a_proposal(resident) -> None:
    chat: Chat = resident("Ана", "bg")
    answer = await chat.send("здравейте")
    assert answer.text.startswith("Работя с бутони")


async def test_when_no_consultation_is_open_it_says_so(resident, running_bot: RunningBot) -> None:
    assert running_bot.app is not None
    async with running_bot.app.session_factory.begin() as session:
        await session.execute(update(Consultation).values(status=ConsultationStatus.WITHDRAWN))
    chat: Chat = resident("Ana", "en")
    await chat.send(TYPED["en"])
    picker = await chat.tap("💡 As a proposal")
    assert "No consultation is open at the moment" in picker.text
    assert [label[0] for label in chat.labels] == [TO_MUNICIPALITY, "✖"]
    await chat.tap("✖️ No, thanks")
    assert "your text was not kept" in chat.last.text


async def test_mydata_shows_a_kept_text(resident, standin: TelegramStandIn) -> None:
    chat: Chat = resident("Ana", "en")
    await chat.send(TYPED["en"])
    before = len(standin.messages(chat.user))
    standin.send_text(chat.user, "/mydata")
    await standin.wait_idle()
    [as_json] = [
        m for m in standin.messages(chat.user)[before:] if m.filename == "civicbot-my-data.json"
    ]
    draft = json.loads(as_json.document or b"{}")["unfinished_draft"]
    assert draft == {"kind": None, "text": TYPED["en"], "attachments": []}


@pytest.mark.parametrize(
    "data",
    ["kt:c:nokey::1", "kt:k:{key}:spam:0", "kt:s:{key}::3", "kt:c:{key}::999999", "kt:q:x::0"],
)
async def test_forged_or_stale_buttons_of_a_kept_text_are_answered_politely(
    resident, running_bot: RunningBot, data: str
) -> None:
    chat: Chat = resident("Ana", "en")
    offer = await chat.send(TYPED["en"])
    key = offer.flat_buttons[0].value.split(":")[2]
    await chat.tap_data(data.format(key=key))
    reply = chat.last.text
    assert (
        reply.startswith(
            ("This draft was already sent or cancelled", "This button is out of date", "What would")
        )
        or "no longer available" in reply
    ), reply
    assert await stored(running_bot) == []
