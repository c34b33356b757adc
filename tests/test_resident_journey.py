"""End to end: the real bot (polling loop, HTTP client) and residents on the stand-in."""

from __future__ import annotations

import pytest

from bot.sandbox import TelegramStandIn
from tests.conftest import Chat, RunningBot

WELCOME = {"en": "Welcome, Ana!", "bg": "Добре дошли, Ана!", "sl": "Dobrodošli, Ana!"}
CONSULTATIONS = {"en": "📋 Consultations", "bg": "📋 Консултации", "sl": "📋 Posvetovanja"}
NEXT = {"en": "Next ➡️", "bg": "Напред ➡️", "sl": "Naprej ➡️"}
PREVIOUS = {"en": "⬅️ Previous", "bg": "⬅️ Назад", "sl": "⬅️ Nazaj"}
READ = {"en": "▶️ Read from the beginning", "bg": "▶️ Четене от началото", "sl": "▶️ Beri od začetka"}
SECTION_OF = {"en": "Section {} of {}", "bg": "Раздел {} от {}", "sl": "Razdelek {} od {}"}
ENGLISH_NOTE = {"en": "Shown in English", "sl": "Prikazano v angleščini"}
FIRST_NAME = {"en": "Ana", "bg": "Ана", "sl": "Ana"}


@pytest.mark.parametrize("language", ["en", "bg", "sl"])
async def test_start_greets_in_the_residents_telegram_language(resident, language: str) -> None:
    chat: Chat = resident(FIRST_NAME[language], language)
    answer = await chat.send("/start")
    assert answer.text.startswith(WELCOME[language])
    assert CONSULTATIONS[language] in chat.labels


async def test_an_unsupported_language_falls_back_to_the_default(resident) -> None:
    chat: Chat = resident("Hans", "de")
    answer = await chat.send("/start")
    assert answer.text.startswith("Welcome, Hans!")


async def test_commands_are_registered_in_every_language(standin: TelegramStandIn, running_bot):
    described = {
        language: {c["command"]: c["description"] for c in standin.commands(language_code=language)}
        for language in ("bg", "sl", "en")
    }
    assert set(described["bg"]) == {
        "start",
        "consultations",
        "my",
        "notifications",
        "language",
        "mydata",
        "privacy",
        "forget",
        "cancel",
        "help",
    }
    assert described["bg"]["language"] == "Смяна на езика"
    assert described["sl"]["language"] == "Zamenjava jezika"
    assert described["en"]["language"] == "Change the language"
    assert standin.commands() == standin.commands(language_code="en")


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", ["🟢 Open now", "18 days left", "🕓 Upcoming", "⚪ Closed", "always open"]),
        ("bg", ["🟢 Отворени сега", "остават 18 дни", "🕓 Предстоящи", "⚪ Приключили"]),
        ("sl", ["🟢 Odprta zdaj", "še 18 dni", "🕓 Prihajajoča", "⚪ Zaključena"]),
    ],
)
async def test_listing_shows_open_then_upcoming_then_closed(resident, language, expected) -> None:
    chat: Chat = resident(FIRST_NAME[language], language)
    listing = await chat.send("/consultations")
    positions = [listing.text.index(part) for part in expected[:4]]
    assert positions == sorted(positions), listing.text
    for part in expected:
        assert part in listing.text
    # Open first (the nearest deadline), the permanent channel after it, then upcoming, closed.
    titles = [label.split(". ", 1)[1] for label in chat.labels if label[0].isdigit()]
    assert len(titles) == 4
    assert "Kazan" in titles[3] or "Казан" in titles[3]
    assert "Kranj" in listing.text.split("🕓")[0] or "Kranj" in listing.text


async def test_consultation_card_shows_deadline_in_local_time_and_language(resident) -> None:
    chat: Chat = resident("Ана", "bg")
    await chat.send("/consultations")
    card = await chat.tap(chat.label_starting("1."))
    assert "Стратегия за развитие на предприемачеството" in card.text
    # 19.06.2024 end of day in Europe/Sofia, in Bulgarian.
    assert "Отворена до 19 юни 2024 г., 23:59" in chat.text
    assert "(софийско време)" in chat.text
    assert "https://t.me/civicbot_demo_bot?start=stara-zagora-pid-strategy" in card.text


async def test_the_closed_consultation_says_so_with_its_real_date(resident) -> None:
    chat: Chat = resident()
    await chat.send("/start kazanlak-ipd-2021-2027")
    assert "Closed on 10 November 2021, 23:59" in chat.text


@pytest.mark.parametrize("language", ["en", "bg", "sl"])
async def test_a_full_walk_through_a_plan(resident, language: str) -> None:
    chat: Chat = resident(FIRST_NAME[language], language)
    await chat.send("/start stara-zagora-pid-strategy")
    section = await chat.tap(READ[language])
    seen = [section.text]
    while NEXT[language] in chat.labels:
        section = await chat.tap(NEXT[language])
        seen.append(section.text)
    total = len(seen)
    assert total == 10
    for index, text in enumerate(seen, start=1):
        assert SECTION_OF[language].format(index, total) in text
    # And back again one step.
    back = await chat.tap(PREVIOUS[language])
    assert SECTION_OF[language].format(total - 1, total) in back.text
    if language in ENGLISH_NOTE:  # Stara Zagora writes in Bulgarian and English, not Slovenian
        assert (ENGLISH_NOTE[language] in back.text) == (language == "sl")


async def test_sections_open_their_children_and_lead_back_up(resident) -> None:
    chat: Chat = resident()
    await chat.send("/start kazanlak-ipd-2021-2027")
    contents = await chat.tap("📖 Contents")
    assert "5.7." in contents.text  # the whole tree is listed
    measures = await chat.tap(chat.label_starting("5."))
    assert "What the plan includes" in measures.text or "5." in measures.text
    children = [label for label in chat.labels if label.startswith("5.")]
    assert len(children) == 7
    measure = await chat.tap(children[1])
    assert "5.2." in measure.text
    assert "5. What the plan includes" in measure.text  # the way it came, as a breadcrumb
    parent = await chat.tap("⬆️ Up")
    assert parent.text == measures.text
    top = await chat.tap("⬆️ Contents")
    assert top.text == contents.text


async def test_a_long_section_is_split_into_pages(resident) -> None:
    chat: Chat = resident("Ана", "bg")
    await chat.send("/start kazanlak-ipd-2021-2027__1")
    first = chat.last
    assert "страница 1 от 2" in first.text
    second = await chat.tap("Напред ➡️")  # the next page first (issue 13)
    assert "страница 2 от 2" in second.text
    assert second.text != first.text
    back = await chat.tap("⬅️ Назад")
    assert back.text == first.text
    for page in (first, second):
        assert len(page.text.encode("utf-16-le")) // 2 <= 4096


async def test_deep_link_to_a_section(resident) -> None:
    chat: Chat = resident()
    section = await chat.send("/start kazanlak-ipd-2021-2027__5-3")
    assert "5.3." in section.text
    assert "Section 8 of 12" in section.text


@pytest.mark.parametrize("payload", ["no-such-consultation", "kazanlak-ipd-2021-2027__9-9", "%%%"])
async def test_a_broken_deep_link_gets_a_polite_answer_and_the_listing(resident, payload) -> None:
    chat: Chat = resident()
    answer = await chat.send(f"/start {payload}")
    assert "This link does not lead to any current consultation" in answer.text
    assert "Public consultations" in answer.text


async def test_language_change_is_remembered_across_a_restart(
    resident, running_bot: RunningBot, standin: TelegramStandIn
) -> None:
    chat: Chat = resident("Ana", "en")
    await chat.send("/language")
    done = await chat.tap("Slovenščina")
    assert done.text.startswith("Urejeno! Jezik: Slovenščina")
    chat_scope = {"type": "chat", "chat_id": chat.user.id}
    descriptions = {c["command"]: c["description"] for c in standin.commands(scope=chat_scope)}
    assert descriptions["language"] == "Zamenjava jezika"
    await running_bot.restart()
    answer = await chat.send("/help")
    assert answer.text.startswith("Kako uporabljati bota")


async def test_buttons_of_old_messages_keep_working_after_a_restart(
    resident, running_bot: RunningBot
) -> None:
    chat: Chat = resident()
    await chat.send("/start stara-zagora-pid-strategy")
    card = chat.last
    await running_bot.restart()
    section = await chat.tap(READ["en"], message=card)
    assert "Section 1 of 10" in section.text


@pytest.mark.parametrize(
    "data",
    ["s:999999:0", "c:424242", "t:31337", "s:abc:0", "zzz", "l:xx", "m:nothing", "ls:-5"],
)
async def test_stale_or_forged_buttons_are_answered_politely(resident, data: str) -> None:
    chat: Chat = resident()
    await chat.send("/start")
    answer_text = await chat.tap_data(data)
    reply = chat.last.text
    assert (answer_text or "").startswith("This button is out of date") or reply.startswith(
        ("This consultation or section is no longer available", "Public consultations")
    )
    assert "Traceback" not in reply


async def test_a_button_on_a_message_that_is_gone_still_gets_an_answer(resident) -> None:
    chat: Chat = resident()
    await chat.send("/start")
    before = len(chat.standin.messages(chat.user))
    await chat.tap_data("ls:0", message=_missing_message(chat))
    after = chat.standin.messages(chat.user)
    assert len(after) == before + 1
    assert "Public consultations" in after[-1].text


def _missing_message(chat: Chat):
    from dataclasses import replace

    return replace(chat.last, message_id=987654)


@pytest.mark.parametrize("language", ["en", "bg", "sl"])
async def test_bad_input_gets_a_short_helpful_answer(resident, language: str) -> None:
    expected = {
        "en": ("I don't know the command /frobnicate", "I work with buttons", "I can only read"),
        "bg": ("Не познавам командата /frobnicate", "Работя с бутони", "Тук разбирам само"),
        "sl": ("Ukaza /frobnicate ne poznam", "Delam z gumbi", "Tu razumem samo"),
    }[language]
    chat: Chat = resident(FIRST_NAME[language], language)
    standin = chat.standin
    assert (await chat.send("/frobnicate")).text.startswith(expected[0])
    # Too short to be a proposal (a longer text is offered to be sent: see
    # test_resident_journey_fixes.py).
    assert (await chat.send("<b>hi</b>")).text.startswith(expected[1])
    for send in (
        standin.send_sticker,
        standin.send_photo,
        standin.send_voice,
        standin.send_location,
    ):
        count = len(standin.messages(chat.user))
        answer = await chat.expect_answer(lambda send=send: send(chat.user))
        assert len(standin.messages(chat.user)) == count + 1, send.__name__
        assert answer.text.startswith(expected[2]), send.__name__
        assert chat.labels, "the answer offers the menu"


async def test_an_edited_message_is_answered(resident) -> None:
    chat: Chat = resident()
    update_id = chat.standin.send_text(chat.user, "first words")
    await chat.settled()
    message_id = chat.standin.message_id_of(update_id)
    answer = await chat.expect_answer(
        lambda: chat.standin.edit_text(chat.user, message_id, "second words")
    )
    assert answer.text.startswith("I do not read changes to messages")


async def test_in_a_group_the_bot_points_to_the_private_chat(standin: TelegramStandIn, resident):
    chat: Chat = resident("Ivan", "bg")
    group = standin.add_group("Жители", members=[chat.user])
    standin.send_text(chat.user, "/start", chat=group)
    standin.send_text(chat.user, "just chatting among neighbours", chat=group)
    await standin.wait_idle()
    answers = standin.messages(group)
    assert len(answers) == 1, "only the command is answered; group talk is left alone"
    assert answers[0].text.startswith("Отговарям в личен чат")
    assert answers[0].flat_buttons[0].value.startswith("https://t.me/civicbot_demo_bot")


async def test_a_resident_who_blocks_the_bot_is_marked_unreachable(
    standin: TelegramStandIn, resident, running_bot: RunningBot
) -> None:
    from storage.repositories import ResidentRepository

    chat: Chat = resident()
    await chat.send("/start")
    standin.block_bot(chat.user)
    await standin.wait_idle()
    assert running_bot.app is not None
    async with running_bot.app.session_factory() as session:
        stored = await ResidentRepository(session).by_telegram_id(chat.user.id)
        assert stored is not None and stored.reachable is False
    standin.unblock_bot(chat.user)
    await standin.wait_idle()
    async with running_bot.app.session_factory() as session:
        stored = await ResidentRepository(session).by_telegram_id(chat.user.id)
        assert stored is not None and stored.reachable is True


async def test_a_double_tap_changes_nothing_and_asks_nothing_twice(
    resident, standin: TelegramStandIn
) -> None:
    chat: Chat = resident()
    await chat.send("/start")
    menu = chat.last
    first = await chat.tap("❓ Help", message=menu)
    edits_before = [r for r in standin.requests if r.method.lower() == "editmessagetext"]
    second = await chat.tap("❓ Help", message=first)
    edits_after = [r for r in standin.requests if r.method.lower() == "editmessagetext"]
    assert second.text == first.text
    assert len(edits_after) == len(edits_before), "no edit that would change nothing"
