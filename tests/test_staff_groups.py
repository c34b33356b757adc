"""End to end: residents' near-duplicate proposals are grouped as they arrive, the
staff card names the similar ones, one decision with one reason is applied to a whole
group (each resident told in their language, decisions made before left alone and
listed), a proposal is taken out of its group, and the справка lists a group together.
"""
# ruff: noqa: F811 (the fixtures of tests/test_staff.py, imported, are parameters here)

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from bot.export import consultation_report
from bot.similarity import group_all, pairwise_quality
from storage.models import (
    SimilarMember,
    StaffActionKind,
    Submission,
    SubmissionStatus,
)
from tests.conftest import Chat, RunningBot
from tests.similarity_cases import BG, EN, numbered
from tests.test_similarity import FLOORS
from tests.test_staff import (  # noqa: F401 (fixtures)
    Staff,
    StaffRoom,
    arrived,
    audit,
    bot_settings,
    inbox,
    maria,
    propose,
    staff_room,
)
from tests.test_update_path import RECEIVED, Crowd, count_starting

SLUG = "stara-zagora-pid-strategy"


async def _groups(running_bot: RunningBot) -> dict[str, int | None]:
    """Each submission's group, by public number."""
    assert running_bot.app is not None
    async with running_bot.app.session_factory() as session:
        rows = await session.execute(
            select(Submission.public_number, SimilarMember.group_id)
            .outerjoin(SimilarMember, SimilarMember.submission_id == Submission.id)
            .order_by(Submission.id)
        )
        return {number: group for number, group in rows}


async def _submissions(running_bot: RunningBot) -> dict[str, Submission]:
    assert running_bot.app is not None
    async with running_bot.app.session_factory() as session:
        rows = await session.scalars(select(Submission).order_by(Submission.id))
        return {s.public_number or "": s for s in rows}


# Seventy-eight residents each write a proposal: longer than the default limit.
@pytest.mark.timeout(600)
async def test_residents_proposals_are_grouped_as_the_test_set_says(
    resident, maria: Staff, running_bot: RunningBot
) -> None:
    texts, known = numbered(BG + EN)
    languages = ["bg"] * sum(len(group) for group in BG) + ["en"] * sum(len(g) for g in EN)
    numbers = []
    for position, (text, language) in enumerate(zip(texts, languages, strict=True)):
        numbers.append(await propose(resident(f"Resident {position}", language), text))

    stored = await _groups(running_bot)
    found = [stored[number] for number in numbers]
    # The bot groups as the measured algorithm does, and as well as the README says.
    expected = group_all(texts)
    assert [g is None for g in found] == [g is None for g in expected]
    assert pairwise_quality(found, known) == pairwise_quality(expected, known)
    precision, recall = pairwise_quality(found, known)
    assert precision >= FLOORS["all"][0] and recall >= FLOORS["all"][1]

    # The card of the Rosarium benches' second proposal names the first and the third.
    first, second, third = numbers[3:6]
    card = await maria.card_of(second)
    assert f"№ {first}" in card.text and f"№ {third}" in card.text
    assert "🔗" in card.text
    labels = [button.text for button in card.flat_buttons]
    assert "👥 Решение за групата (3)" in labels and "✂️ Не е сходно" in labels
    # An unrelated proposal's card names none.
    lonely = numbers[texts.index(BG[-1][0])]
    assert "🔗" not in (await maria.card_of(lonely)).text


async def test_one_decision_for_a_group_tells_each_resident_in_their_language(
    resident, maria: Staff, staff_room: StaffRoom, running_bot: RunningBot
) -> None:
    petar = Staff(maria.standin, staff_room, staff_room.petar)
    cycle_lane = BG[0]
    ana: Chat = resident("Ana", "en")
    boris: Chat = resident("Борис", "bg")
    mojca: Chat = resident("Mojca", "sl")
    vesna: Chat = resident("Vesna", "sl")
    numbers = [
        await propose(chat, text)
        for chat, text in zip([ana, boris, mojca], cycle_lane, strict=True)
    ]
    numbers.append(await propose(vesna, cycle_lane[0] + " И осветление на велоалеята."))
    other = await propose(resident("Other", "bg"), BG[-1][0])
    groups = await _groups(running_bot)
    assert len({groups[number] for number in numbers}) == 1 and groups[other] is None

    # Petar decides one of them alone first.
    prompt = await petar.prompt(await petar.card_of(numbers[1]), "✅ Приемане")
    await petar.reply(prompt, "Включено в плана за 2025 г.")
    # Vesna's is not like the others, says Maria: out of the group.
    card = await maria.card_of(numbers[3])
    assert (
        await maria.press(card, "✂️ Не е сходно")
        == f"№ {numbers[3]} е извън групата си и няма да бъде групирано отново."
    )

    # Both open a prompt for the whole group before either answers.
    card = await maria.card_of(numbers[0])
    assert "👥 Решение за групата (2)" in [b.text for b in card.flat_buttons]
    await maria.press(card, "👥 Решение за групата (2)")
    choice = maria.messages[-1]
    assert f"№ {numbers[1]}" in choice.text  # already decided, shown
    before = len(maria.messages)
    await maria.press(choice, "❌ Неприемане")
    [maria_prompt] = maria.messages[before:]
    before = len(maria.messages)
    await petar.press(choice, "◐ Частично")
    [petar_prompt] = maria.messages[before:]
    heard = {chat.user.id: len(inbox(chat)) for chat in (ana, boris, mojca, vesna)}

    done = await maria.reply(maria_prompt, "Няма място за велоалея в този участък.")
    assert f"№ {numbers[0]}" in done.text and f"№ {numbers[2]}" in done.text
    assert f"№ {numbers[1]}: прието" in done.text  # Petar's decision, left as it was
    late = await petar.reply(petar_prompt, "Частично, до индустриалната зона.")
    assert "вече" in late.text  # nothing left to decide: nothing overwritten

    submissions = await _submissions(running_bot)
    assert [submissions[n].status for n in numbers] == [
        SubmissionStatus.REJECTED,
        SubmissionStatus.ACCEPTED,
        SubmissionStatus.REJECTED,
        SubmissionStatus.RECEIVED,
    ]
    assert submissions[numbers[0]].decision_reason == "Няма място за велоалея в този участък."
    [to_ana] = await arrived(ana, heard[ana.user.id])
    assert to_ana.text.startswith(f"📋 A decision on your proposal № {numbers[0]}: not accepted")
    assert "Reason: Няма място за велоалея в този участък." in to_ana.text
    [to_mojca] = await arrived(mojca, heard[mojca.user.id])
    assert to_mojca.text.startswith(f"📋 Odločitev – predlog št. {numbers[2]}: ni sprejeto")
    assert len(inbox(boris)) == heard[boris.user.id]  # decided before, told then
    assert len(inbox(vesna)) == heard[vesna.user.id]  # not in the group any more
    # Every card shows its decision; the audit names who decided each.
    await maria.standin.wait_idle()
    assert "Състояние: неприето" in maria.card(numbers[2]).text
    assert "Състояние: неприето" in maria.card(numbers[0]).text
    decisions = [a for a in await audit(running_bot) if a.kind is StaffActionKind.DECIDE]
    assert sorted((a.submission_id, a.actor_name) for a in decisions) == sorted(
        [
            (submissions[numbers[1]].id, "Петър"),
            (submissions[numbers[0]].id, "Мария"),
            (submissions[numbers[2]].id, "Мария"),
        ]
    )
    assert any(a.kind is StaffActionKind.NOT_SIMILAR for a in await audit(running_bot))

    # The справка lists the group together, marked, whatever order they came in.
    assert running_bot.app is not None
    output = io.BytesIO()
    await consultation_report(
        running_bot.app.session_factory, SLUG, "html", output, running_bot.app.catalogs
    )
    page = output.getvalue().decode()
    positions = [page.index(number) for number in (numbers[0], numbers[1], numbers[2], other)]
    assert positions == sorted(positions)
    assert page.count("сходни, група 1") == 3

    # Groups stay as they were found: a later near-duplicate joins the group, and the
    # proposal taken out is never grouped again, however alike.
    late = await propose(resident("Late", "bg"), cycle_lane[0] + " И осветление на велоалеята!")
    groups = await _groups(running_bot)
    assert groups[late] == groups[numbers[0]] is not None
    assert groups[numbers[3]] is None


async def test_two_staff_deciding_a_group_at_once_make_one_decision(
    resident, maria: Staff, staff_room: StaffRoom, running_bot: RunningBot
) -> None:
    petar = Staff(maria.standin, staff_room, staff_room.petar)
    chats = [resident(name, language) for name, language in (("A", "en"), ("B", "bg"))]
    numbers = [await propose(chat, text) for chat, text in zip(chats, BG[1][:2], strict=True)]
    card = await maria.card_of(numbers[0])
    await maria.press(card, "👥 Решение за групата (2)")
    choice = maria.messages[-1]
    before = len(maria.messages)
    await maria.press(choice, "✅ Приемане")
    await petar.press(choice, "❌ Неприемане")
    maria_prompt, petar_prompt = maria.messages[before:]
    heard = [len(inbox(chat)) for chat in chats]

    before = len(maria.messages)
    # Both replies reach the bot before either is answered.
    maria.standin.send_text(
        maria.user, "Ще бъде направено.", chat=staff_room.chat, reply_to=maria_prompt.message_id
    )
    maria.standin.send_text(
        petar.user, "Няма средства.", chat=staff_room.chat, reply_to=petar_prompt.message_id
    )
    await maria.standin.wait_for(lambda: len(maria.messages) >= before + 2, 20)
    await maria.standin.wait_idle()
    outcomes = [m.text for m in maria.messages[before:] if m.reply_to_message_id]
    assert sum(text.startswith("Записано") for text in outcomes) == 1
    assert sum(text.startswith("Нищо не е записано") for text in outcomes) == 1

    decisions = [a for a in await audit(running_bot) if a.kind is StaffActionKind.DECIDE]
    assert len(decisions) == 2 and len({a.actor_name for a in decisions}) == 1
    submissions = await _submissions(running_bot)
    assert len({submissions[number].status for number in numbers}) == 1
    for chat, count in zip(chats, heard, strict=True):
        [notice] = await arrived(chat, count)
        assert notice.text.startswith("📋")
        assert len(inbox(chat)) == count + 1


async def test_twenty_alike_proposals_sent_at_once_are_all_grouped(
    standin, running_bot: RunningBot, staff_room: StaffRoom
) -> None:
    """Arrivals at the same moment share the process's similarity index while their
    transactions are open: none is grouped with a proposal its transaction cannot see
    (that failed with a foreign-key error on PostgreSQL), and those that could not see
    each other are gathered by a later one, so none is left out. (Two groups may form
    when two arrivals start one each at the same moment: they are not merged.)"""
    users = [standin.add_user(f"Resident {n}", language_code="en") for n in range(20)]
    previews = await Crowd(standin, users).to_preview()
    for user in users:
        standin.press(user, previews[user.id], text="✅ Send")
    await standin.wait_for(
        lambda: all(count_starting(standin, user, RECEIVED) for user in users), 60
    )
    await standin.wait_idle()
    groups = await _groups(running_bot)
    assert len(groups) == len(users) and None not in groups.values()
    ids = {
        number: submission.id for number, submission in (await _submissions(running_bot)).items()
    }
    for group in set(groups.values()):
        members = [ids[number] for number, its in groups.items() if its == group]
        assert group in members and len(members) >= 2  # named by one of its proposals
    assert len(set(groups.values())) <= 3
