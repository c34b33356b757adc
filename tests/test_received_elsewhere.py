"""Issue 12, items 4 and 5: proposals and questions received by e-mail, letter, phone or
at a public meeting (/add in the staff chat, `civicbot submissions import`), and
residents who write on behalf of an organisation."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.sandbox import SentMessage, TelegramStandIn
from storage.database import create_engine, create_session_factory
from storage.models import StakeholderKind, Submission, SubmissionChannel, SubmissionKind
from tests.conftest import RunningBot
from tests.test_staff import Staff, StaffRoom
from tests.test_staff import staff_room as staff_room  # a fixture

TEXT = "Please add a cycle lane on the boulevard to the railway station."


@pytest.fixture(params=["bg", "en"])
def staff_locale(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def bot_settings(bot_settings: Settings, staff_room: StaffRoom, staff_locale: str) -> Settings:
    return bot_settings.model_copy(
        update={"staff_chat_id": staff_room.chat.id, "default_locale": staff_locale}
    )


@pytest.fixture
def maria(standin: TelegramStandIn, staff_room: StaffRoom, running_bot: RunningBot) -> Staff:
    return Staff(standin, staff_room, staff_room.maria)


def _with_button(staff: Staff, contains: str) -> tuple[SentMessage, str]:
    """The newest message with a button whose label contains `contains`, and the label."""
    for message in reversed(staff.messages):
        for button in message.flat_buttons:
            if contains in button.text:
                return message, button.text
    raise AssertionError(f"no button with {contains!r} in {[m.text for m in staff.messages]}")


async def tap(staff: Staff, contains: str) -> None:
    message, label = _with_button(staff, contains)
    await staff.press(message, label)


async def answer_prompt(staff: Staff, text: str) -> SentMessage:
    """Reply to the bot's newest message (the prompt); the bot's answer."""
    return await staff.reply(staff.messages[-1], text)


async def stored_submissions(settings: Settings) -> list[Submission]:
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session:
            return list((await session.scalars(select(Submission).order_by(Submission.id))).all())
    finally:
        await engine.dispose()


async def add_until_date(maria: Staff, locale: str) -> None:
    """/add up to the question of the date: Stara Zagora's strategy, section 3.1, a
    proposal, signed by an NGO, received by letter."""
    await maria.say("/add")
    await tap(maria, "предприемачеството" if locale == "bg" else "Strategy for the development")
    await tap(maria, "3.1.")
    await tap(maria, "💡")
    await answer_prompt(maria, TEXT)
    await answer_prompt(maria, "Иван Петров")
    await tap(maria, "НПО" if locale == "bg" else "NGO")
    await answer_prompt(maria, "Сдружение „Зелен град“")
    await tap(maria, "писмо" if locale == "bg" else "letter")


async def test_add_registers_a_letter_and_posts_its_card(
    maria: Staff, running_bot: RunningBot, staff_locale: str
) -> None:
    await add_until_date(maria, staff_locale)
    preview = await answer_prompt(maria, "28.05.2024")
    assert "Сдружение „Зелен град“" in preview.text
    assert "28.05.2024" in preview.text
    await tap(maria, "✅")
    [submission] = await stored_submissions(running_bot.settings)
    assert submission.resident_id is None
    assert submission.channel is SubmissionChannel.LETTER
    assert submission.stakeholder is StakeholderKind.NGO
    assert submission.organisation_name == "Сдружение „Зелен град“"
    assert submission.author_name == "Иван Петров"
    assert submission.kind is SubmissionKind.PROPOSAL
    assert submission.section_number == "3.1"
    assert submission.received_at.date().isoformat() in ("2024-05-27", "2024-05-28")
    assert submission.registered_by == "Мария"
    card = await maria.card_of(submission.public_number)
    assert TEXT in card.text
    if staff_locale == "bg":
        assert "писмо" in card.text and "28 май 2024" in card.text
        assert "НПО" in card.text
    else:
        assert "letter" in card.text and "28 May 2024" in card.text
        assert "NGO" in card.text
    channel, ngo = ("писмо", "НПО") if staff_locale == "bg" else ("letter", "NGO")
    [row] = [row for row in (await _export_csv(running_bot, staff_locale))[1:]]
    assert row[0] == submission.public_number
    assert row[-5:] == [channel, "2024-05-28 00:00", ngo, "Сдружение „Зелен град“", "Мария"]
    stats = await _stats_text(running_bot, staff_locale)
    assert f"{channel}: 1" in stats and f"{ngo}: 1" in stats
    # A decision is recorded, and sent to nobody: there is no resident.
    prompt = await maria.prompt(card, next(b.text for b in card.flat_buttons if "✅" in b.text))
    note = await maria.reply(prompt, "Included in measure 3.1.")
    assert "Telegram" in note.text
    [decided] = await stored_submissions(running_bot.settings)
    assert decided.decision_reason == "Included in measure 3.1."
    assert decided.reply_status is None


@pytest.mark.parametrize("staff_locale", ["en"], indirect=True)
@pytest.mark.parametrize(
    ("date", "reason"),
    [("02.06.2024", "future"), ("19.05.2024", "before"), ("31.02.2024", "dd.mm.yyyy")],
)
async def test_add_refuses_an_impossible_date_and_asks_again(
    maria: Staff, running_bot: RunningBot, date: str, reason: str
) -> None:
    await add_until_date(maria, "en")
    refusal = await answer_prompt(maria, date)
    assert reason in refusal.text and "Please reply with the date" in refusal.text
    assert await stored_submissions(running_bot.settings) == []
    preview = await answer_prompt(maria, "20.05.2024")
    assert "20.05.2024" in preview.text
    save = next(button.value for button in preview.flat_buttons if "✅" in button.text)
    await tap(maria, "✅")
    [submission] = await stored_submissions(running_bot.settings)
    assert submission.channel is SubmissionChannel.LETTER
    # A second tap (the update again, or a quick double tap) saves nothing more.
    answer, alert = await maria.press_data(preview, save)
    assert alert and "no longer in progress" in (answer or "")
    assert len(await stored_submissions(running_bot.settings)) == 1


@pytest.mark.parametrize("staff_locale", ["en"], indirect=True)
async def test_cancel_leaves_add(maria: Staff, running_bot: RunningBot) -> None:
    await maria.say("/add")
    await tap(maria, "Strategy for the development")
    [answer] = await maria.say("/cancel")
    assert "nothing was saved" in answer.text
    assert await stored_submissions(running_bot.settings) == []


# --- civicbot submissions import ------------------------------------------------------

HEADER = "consultation,section,kind,text,author,stakeholder,organisation,channel,received"
GOOD = [
    HEADER,
    f"stara-zagora-pid-strategy,3.1,proposal,{TEXT},Иван Петров,ngo,Сдружение „Зелен град“,"
    "email,21.05.2024",
    'stara-zagora-pid-strategy,,question,"When will the roadmap be ready, and who writes it?"'
    ",,,,meeting,2024-05-30",
]


def _csv(tmp_path, lines: list[str], name: str = "received.csv", bom: bool = True):
    path = tmp_path / name
    path.write_bytes(("\ufeff" if bom else "").encode() + "\r\n".join(lines).encode() + b"\r\n")
    return path


@pytest.mark.parametrize("staff_locale", ["en"], indirect=True)
async def test_import_stores_every_line_and_posts_their_cards(
    maria: Staff, running_bot: RunningBot, tmp_path
) -> None:
    from tests.test_cli_errors import civicbot, environment

    path = _csv(tmp_path, GOOD)
    env = environment(
        tmp_path,
        DATABASE_URL=running_bot.settings.database_url,
        STAFF_CHAT_ID=str(running_bot.settings.staff_chat_id),
    )
    code, out, err = await civicbot(env, "submissions", "import", str(path), cwd=tmp_path)
    assert code == 0, err
    assert "imported 2 submissions" in out
    first, second = await stored_submissions(running_bot.settings)
    assert (first.channel, second.channel) == (SubmissionChannel.EMAIL, SubmissionChannel.MEETING)
    assert first.organisation_name == "Сдружение „Зелен град“" and first.section_number == "3.1"
    assert second.kind is SubmissionKind.QUESTION and second.author_name is None
    assert second.section_id is None and second.resident_id is None
    card = await maria.card_of(first.public_number)
    assert "e-mail" in card.text and "Сдружение" in card.text
    await maria.card_of(second.public_number)
    # The same file again imports nothing twice.
    code, out, _ = await civicbot(env, "submissions", "import", str(path), cwd=tmp_path)
    assert code == 0 and "imported 0 submissions" in out and "already imported" in out
    assert len(await stored_submissions(running_bot.settings)) == 2


@pytest.mark.parametrize("staff_locale", ["en"], indirect=True)
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda lines: ["consultation,section,kind,text", *lines[1:]], "line 1: wrong header"),
        (lambda lines: [*lines, lines[1].replace("21.05.2024", "32.05.2024")], "line 4: bad date"),
        (lambda lines: [*lines, lines[1].replace("21.05.2024", "01.05.2024")], "line 4: the date"),
        (lambda lines: [*lines, lines[1].replace(",3.1,", ",9.9,")], "line 4: the consultation"),
        (lambda lines: [*lines, lines[1].replace("stara-zagora", "nowhere")], "line 4: unknown"),
        (lambda lines: [*lines, lines[1].replace("email", "fax")], "line 4: unknown channel"),
        (lambda lines: [*lines, lines[1].replace("ngo,", "individual,")], "line 4: an organ"),
    ],
)
async def test_import_of_a_bad_file_stores_nothing(
    running_bot: RunningBot, tmp_path, capsys, change, expected: str
) -> None:
    from bot.received import run_import

    path = _csv(tmp_path, change(list(GOOD)), bom=False)
    assert await run_import(running_bot.settings, path, "Мария") == 1
    err = capsys.readouterr().err
    assert "nothing was imported" in err and expected in err, err
    assert await stored_submissions(running_bot.settings) == []


@pytest.mark.parametrize("staff_locale", ["en"], indirect=True)
async def test_import_of_a_file_in_another_encoding_stores_nothing(
    running_bot: RunningBot, tmp_path, capsys
) -> None:
    from bot.received import run_import

    path = tmp_path / "cp1251.csv"
    path.write_bytes("\r\n".join(GOOD).encode("cp1251", errors="replace"))
    assert await run_import(running_bot.settings, path, "Мария") == 1
    err = capsys.readouterr().err
    assert "line 2: not UTF-8 text (wrong encoding)" in err, err
    assert await stored_submissions(running_bot.settings) == []


# --- a resident writing on behalf of an organisation -----------------------------------


async def _export_csv(running_bot: RunningBot, locale: str) -> list[list[str]]:
    import csv
    import io

    from bot.export import export_submissions
    from bot.i18n import Catalogs

    engine = create_engine(running_bot.settings.database_url)
    output = io.BytesIO()
    try:
        await export_submissions(
            create_session_factory(engine),
            "stara-zagora-pid-strategy",
            "csv",
            output,
            Catalogs.load().translator(locale),
        )
    finally:
        await engine.dispose()
    text = output.getvalue().decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text), delimiter=";" if locale != "en" else ","))


async def _stats_text(running_bot: RunningBot, locale: str) -> str:
    from bot.export import consultation_stats, stats_text
    from bot.i18n import Catalogs

    engine = create_engine(running_bot.settings.database_url)
    try:
        async with create_session_factory(engine)() as session:
            stats = await consultation_stats(
                session, "stara-zagora-pid-strategy", home_zone="Europe/Sofia"
            )
    finally:
        await engine.dispose()
    return stats_text(stats, Catalogs.load().translator(locale))


async def test_resident_signs_for_an_organisation(
    maria: Staff, running_bot: RunningBot, resident, staff_locale: str
) -> None:
    ana = resident("Ana", language_code=staff_locale)
    await ana.send("/start stara-zagora-pid-strategy__3-1")
    await ana.tap(ana.label_starting("💡"))
    if ana.last.text.startswith("🔒"):
        await ana.tap(ana.label_starting("✅"))
    await ana.send(TEXT)
    await ana.tap(ana.label_starting("👤"))
    await ana.tap(ana.label_starting("🏢"))
    await ana.tap("образователна институция" if staff_locale == "bg" else "educational institution")
    refused = await ana.send("x")
    assert "2" in refused.text, "a name of one character is refused"
    preview = await ana.send("ПГ по електроника „Джон Атанасов“")
    assert "ПГ по електроника „Джон Атанасов“" in preview.text
    receipt = await ana.tap(ana.label_starting("✅"))
    assert receipt.text
    [submission] = await stored_submissions(running_bot.settings)
    assert submission.stakeholder is StakeholderKind.EDUCATION
    assert submission.organisation_name == "ПГ по електроника „Джон Атанасов“"
    assert submission.author_name == "Ana"
    assert submission.channel is SubmissionChannel.TELEGRAM
    card = await maria.card_of(submission.public_number)
    assert "ПГ по електроника „Джон Атанасов“" in card.text
    # The staff chat speaks the municipality's language (the test's locale).
    rows = await _export_csv(running_bot, staff_locale)
    [row] = [row for row in rows[1:] if row[0] == submission.public_number]
    assert "ПГ по електроника „Джон Атанасов“" in row
    assert ("Telegram" in row) and any(
        label in row for label in ("образователна институция", "educational institution")
    )
    stats = await _stats_text(running_bot, staff_locale)
    assert "образователна институция: 1" in stats or "educational institution: 1" in stats


@pytest.mark.parametrize("staff_locale", ["en"], indirect=True)
async def test_anonymous_draft_speaks_for_no_organisation(
    running_bot: RunningBot, resident
) -> None:
    ana = resident("Ana")
    await ana.send("/start stara-zagora-pid-strategy__3-1")
    await ana.tap(ana.label_starting("💡"))
    if ana.last.text.startswith("🔒"):
        await ana.tap(ana.label_starting("✅"))
    await ana.send(TEXT)
    assert not any(label.startswith("🏢") for label in ana.labels), "only once signed"
    await ana.tap(ana.label_starting("👤"))
    await ana.tap(ana.label_starting("🏢"))
    await ana.tap("NGO")
    await ana.send("Green City Association")
    await ana.tap(ana.label_starting("🙈"))
    assert "Green City" not in ana.text
    await ana.tap(ana.label_starting("✅"))
    [submission] = await stored_submissions(running_bot.settings)
    assert submission.author_name is None and submission.organisation_name is None
    assert submission.stakeholder is StakeholderKind.INDIVIDUAL


@pytest.mark.parametrize("staff_locale", ["en"], indirect=True)
async def test_add_from_a_resident_is_refused(running_bot: RunningBot, resident) -> None:
    ana = resident("Ana")
    answer = await ana.send("/add")
    assert answer.text == "Only the municipality's staff can do this."
    assert await stored_submissions(running_bot.settings) == []


def test_the_card_of_an_anonymous_letter_says_it_is_answered_elsewhere() -> None:
    from datetime import UTC, datetime

    from bot.i18n import Catalogs
    from handlers import staff_views
    from storage.models import SubmissionStatus

    en = Catalogs.load().translator("en")
    letter = Submission(
        id=9,
        public_number="2024-00009",
        kind=SubmissionKind.PROPOSAL,
        text="More benches in the park, please.",
        status=SubmissionStatus.RECEIVED,
        attachments=[],
        channel=SubmissionChannel.LETTER,
        stakeholder=StakeholderKind.INDIVIDUAL,
        received_at=datetime(2024, 5, 28, tzinfo=UTC),
        registered_by="Мария",
        created_at=datetime(2024, 6, 1, 9, tzinfo=UTC),
    )
    card = staff_views.card(en, letter, None, None, None)
    assert "📨 Received (letter) on 28 May 2024 · registered by" in card.text
    assert "🙈 Anonymous to the public" in card.text
    assert "erased" not in card.text, "nobody erased anything: it came by post"
    assert "answered the way they wrote (letter)" in card.text
    labels = [button.text for row in card.markup.inline_keyboard for button in row]
    assert not any("Block" in label for label in labels), "there is no sender to block"


# --- review findings: replies to other prompts, published reports, growing files ----

SLUG = "stara-zagora-pid-strategy"


async def _publish_report(running_bot: RunningBot) -> None:
    from datetime import UTC, datetime

    from storage.repositories import ConsultationRepository, ReportRepository

    assert running_bot.app is not None
    async with running_bot.app.session_factory() as session:
        consultation = await ConsultationRepository(session).by_slug(SLUG)
        assert consultation is not None
        when = datetime(2024, 6, 1, 10, tzinfo=UTC)
        assert await ReportRepository(session).mark_published(consultation.id, "Мария", when)
        await session.commit()


@pytest.mark.parametrize("staff_locale", ["en"], indirect=True)
async def test_add_leaves_a_reply_to_a_card_prompt_to_its_card(
    maria: Staff, running_bot: RunningBot, resident
) -> None:
    from tests.test_staff import arrived, inbox, propose

    ana = resident("Ana", language_code="en")
    number = await propose(ana)
    card = await maria.card_of(number)
    await maria.say("/add")
    await tap(maria, "Strategy for the development")
    await tap(maria, "3.1.")
    await tap(maria, "💡")
    ask_text = maria.messages[-1]
    assert "with its text as received" in ask_text.text
    prompt = await maria.prompt(card, next(b.text for b in card.flat_buttons if "💬" in b.text))
    before = len(inbox(ana))
    saved = await maria.reply(prompt, "The station area is in the plan for 2025.")
    assert saved.text.startswith(f"Saved for № {number}"), saved.text
    [answer] = await arrived(ana, before)
    assert "The station area is in the plan for 2025." in answer.text
    [submission] = await stored_submissions(running_bot.settings)
    assert submission.answer == "The station area is in the plan for 2025."
    # The registration still waits for its text, as a reply to its prompt.
    ask_author = await maria.reply(ask_text, TEXT)
    assert "author's name" in ask_author.text
    await answer_prompt(maria, "Иван Петров")
    await tap(maria, "NGO")
    await answer_prompt(maria, "Сдружение „Зелен град“")
    await tap(maria, "letter")
    await answer_prompt(maria, "28.05.2024")
    await tap(maria, "✅")
    _, letter = await stored_submissions(running_bot.settings)
    assert letter.text == TEXT and letter.channel is SubmissionChannel.LETTER


@pytest.mark.parametrize("staff_locale", ["en"], indirect=True)
async def test_add_refuses_a_consultation_whose_report_is_published(
    maria: Staff, running_bot: RunningBot
) -> None:
    await add_until_date(maria, "en")
    await _publish_report(running_bot)  # meanwhile
    await answer_prompt(maria, "28.05.2024")
    await tap(maria, "✅")
    assert "was published on 1 June 2024" in maria.messages[-1].text, maria.messages[-1].text
    assert await stored_submissions(running_bot.settings) == []
    await maria.say("/add")
    await tap(maria, "Strategy for the development")
    refusal = maria.messages[-1]
    assert "was published on 1 June 2024" in refusal.text and "nothing can be added" in refusal.text
    assert not refusal.flat_buttons


@pytest.mark.parametrize("staff_locale", ["en"], indirect=True)
async def test_import_refuses_a_consultation_whose_report_is_published(
    running_bot: RunningBot, tmp_path, capsys
) -> None:
    from bot.received import run_import

    await _publish_report(running_bot)
    path = _csv(tmp_path, GOOD)
    assert await run_import(running_bot.settings, path, "Мария") == 1
    err = capsys.readouterr().err
    assert f"line 2: the report of {SLUG} was published on 01.06.2024" in err, err
    assert f"line 3: the report of {SLUG}" in err, err
    assert await stored_submissions(running_bot.settings) == []


@pytest.mark.parametrize("staff_locale", ["en"], indirect=True)
async def test_import_of_a_grown_file_adds_only_its_new_lines(
    running_bot: RunningBot, tmp_path, capsys
) -> None:
    from bot.received import run_import

    path = _csv(tmp_path, GOOD[:2])
    assert await run_import(running_bot.settings, path, "Мария") == 0
    assert "imported 1 submissions" in capsys.readouterr().out
    # A line added above the first (which moves it), and its spaces typed differently.
    grown = [GOOD[0], GOOD[2], GOOD[1].replace(" on the ", "  on the ")]
    assert await run_import(running_bot.settings, _csv(tmp_path, grown), "Мария") == 0
    out = capsys.readouterr().out
    assert "imported 1 submissions" in out and "already imported before: 1 lines" in out, out
    first, second = await stored_submissions(running_bot.settings)
    assert first.channel is SubmissionChannel.EMAIL and second.kind is SubmissionKind.QUESTION


@pytest.mark.parametrize("staff_locale", ["en"], indirect=True)
async def test_a_forged_organisation_kind_is_refused_politely(
    running_bot: RunningBot, resident
) -> None:
    ana = resident("Ana")
    await ana.send("/start stara-zagora-pid-strategy__3-1")
    await ana.tap(ana.label_starting("💡"))
    if ana.last.text.startswith("🔒"):
        await ana.tap(ana.label_starting("✅"))
    await ana.send(TEXT)
    await ana.tap(ana.label_starting("👤"))
    await ana.tap(ana.label_starting("🏢"))
    data = next(b.value for b in ana.last.flat_buttons if b.value.startswith("og:"))
    key = data.rsplit(":", 1)[1]
    for kind in ("fax", "individual"):
        await ana.tap_data(f"og:{kind}:{key}", ana.last)
        assert "already sent or cancelled" in ana.text, ana.text
    assert await stored_submissions(running_bot.settings) == []


@pytest.mark.parametrize("staff_locale", ["en"], indirect=True)
async def test_add_asks_for_the_organisation_skipped_with_an_old_button(
    maria: Staff, running_bot: RunningBot
) -> None:
    await maria.say("/add")
    await tap(maria, "Strategy for the development")
    await tap(maria, "3.1.")
    await tap(maria, "💡")
    await answer_prompt(maria, TEXT)
    await answer_prompt(maria, "Иван Петров")
    stakeholders, individual = _with_button(maria, "individual")
    await maria.press(stakeholders, individual)  # the screen becomes the channel's
    channels, letter = _with_button(maria, "letter")
    data = next(b.value for b in channels.flat_buttons if b.text == letter)
    # NGO, pressed on an old copy of the stakeholder screen: its name is asked for…
    await maria.press_data(channels, data.replace(":ch:", ":h:").replace(":letter:", ":ngo:"))
    assert "organisation's name" in maria.messages[-1].text
    await maria.press(channels, letter)  # an older screen's button: the name is skipped
    preview = await answer_prompt(maria, "28.05.2024")
    assert "Organisation" not in preview.text
    await tap(maria, "✅")
    assert "organisation's name" in maria.messages[-1].text
    assert await stored_submissions(running_bot.settings) == []
    preview = await answer_prompt(maria, "Сдружение „Зелен град“")
    assert "🏢 Organisation: " in preview.text and "28.05.2024" in preview.text
    assert "Its name appears in the published report." in preview.text
    await tap(maria, "✅")
    [submission] = await stored_submissions(running_bot.settings)
    assert submission.stakeholder is StakeholderKind.NGO
    assert submission.organisation_name == "Сдружение „Зелен град“"


@pytest.mark.parametrize("staff_locale", ["en"], indirect=True)
async def test_add_preview_says_the_organisation_is_published(maria: Staff) -> None:
    await add_until_date(maria, "en")
    preview = await answer_prompt(maria, "28.05.2024")
    assert "Its name appears in the published report." in preview.text
