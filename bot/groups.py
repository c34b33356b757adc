"""Groups of near-duplicate proposals: found when a proposal arrives, kept as found,
taken apart by staff ("not similar"), and decided on together.

The proposals' n-grams are kept in memory per consultation (SimilarProposals), so a
new proposal is compared with the others without reading and cutting them all again;
the database stays the truth: the ids grouped are read on each arrival, and a proposal
deleted or marked as spam since is compared no more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot import staff
from bot.notify.outbox import queue_card_refresh
from bot.similarity import SimilarityIndex, join
from bot.staff import Actor, log_action
from storage.models import (
    StaffActionKind,
    Submission,
    SubmissionKind,
    SubmissionStatus,
)
from storage.repositories import SimilarRepository

# A card names at most this many of its similar proposals (and how many more there are).
SHOWN_ON_CARD = 10


@dataclass
class SimilarProposals:
    """The similarity indexes of the consultations, one per consultation (None: the
    general channel), filled as proposals are compared."""

    _indexes: dict[int | None, SimilarityIndex] = field(default_factory=dict)

    async def _index(
        self, repository: SimilarRepository, consultation_id: int | None, own: Submission
    ) -> SimilarityIndex:
        """The consultation's index holding exactly the proposals this transaction sees,
        and `own`. Other arrivals in this process share the index and change it while
        this one waits on the database (adding proposals not committed yet, which this
        transaction cannot see, or dropping those their own cannot): it is made right
        after the last wait, so nothing changes it before the caller compares."""
        index = self._indexes.setdefault(consultation_id, SimilarityIndex())
        visible = await repository.proposal_ids(consultation_id) - {own.id}
        for _attempt in range(3):
            missing = visible - index.ids()
            texts = await repository.texts(missing) if missing else {}
            for gone in index.ids() - visible - {own.id}:
                index.remove(gone)
            for key, text in texts.items():
                index.add(key, text)
            if visible <= index.ids():
                break
        index.add(own.id, own.text)
        return index

    async def place(self, session: AsyncSession, submission: Submission) -> int | None:
        """Put a new proposal in the group of the proposal most like it (in the caller's
        transaction); its group's id, or None when it is like no other. Questions are
        answered one by one: they are not grouped."""
        if submission.kind is not SubmissionKind.PROPOSAL:
            return None
        repository = SimilarRepository(session)
        index = await self._index(repository, submission.consultation_id, submission)
        # Compared before any other wait: see _index.
        alike = [other for other, _score in index.similar(submission.id)]
        rows = await repository.memberships(submission.consultation_id)
        group_of = {row.submission_id: row.group_id for row in rows if row.group_id is not None}
        apart = {row.submission_id for row in rows if row.apart}
        group, loose = join(alike, group_of, apart)
        if group is not None:
            # Those alone until now start the group or join it; rows written in the order
            # of their ids, so two arrivals gathering each other wait instead of deadlocking.
            for key in sorted(loose):
                await repository.put(key, group)
            # Another arrival may have gathered the group's proposal a moment before:
            # this one then joins the group that proposal is in.
            group = await repository.group_id_of(group) or group
        await repository.put(submission.id, group)
        if group is not None:
            await _refresh_cards(session, submission)
        return group


async def _refresh_cards(session: AsyncSession, submission: Submission) -> None:
    """The cards already posted of the group now name the new proposal too. A card names
    the first SHOWN_ON_CARD only: past that, only the oldest card (which names the rest
    by count) changes, not to fill the staff chat's edit allowance."""
    others = await similar_to(session, submission)
    for other in others if len(others) <= SHOWN_ON_CARD else others[:1]:
        await queue_card_refresh(session, other)


async def similar_to(session: AsyncSession, submission: Submission) -> Sequence[Submission]:
    """The other proposals of its group, oldest first."""
    repository = SimilarRepository(session)
    member = await repository.member(submission.id)
    if member is None or member.group_id is None:
        return []
    members = await repository.members(member.group_id)
    return [other for other in members if other.id != submission.id]


def undecided(submissions: Sequence[Submission]) -> list[Submission]:
    return [s for s in submissions if s.status not in staff.DECISIONS]


@dataclass(frozen=True)
class GroupDecision:
    decided: list[Submission]  # decided now, each told
    already: list[Submission]  # decided before (by anyone): left as they were


async def decide_group(
    session: AsyncSession,
    submission: Submission,
    decision: SubmissionStatus,
    reason: str,
    actor: Actor,
    now: datetime,
) -> GroupDecision:
    """One decision with one reason on every proposal of `submission`'s group that has
    none yet. Those decided already, by anyone, are left as they are and listed: a
    decision someone gave is not overwritten behind their back."""
    members = [submission, *await similar_to(session, submission)]
    claimed = set(
        await SimilarRepository(session).claim_undecided([m.id for m in members], decision)
    )
    decided, already = [], []
    for member in sorted(members, key=lambda m: m.id):
        await session.refresh(member)
        if member.id in claimed:
            await staff.decide(session, member, decision, reason, actor, now)
            decided.append(member)
        else:
            already.append(member)
    return GroupDecision(decided, already)


async def take_apart(
    session: AsyncSession, submission: Submission, actor: Actor
) -> Sequence[Submission]:
    """Staff say it is not like the others: out of its group, and never grouped again.
    The others of the group (their cards list it no more)."""
    others = await similar_to(session, submission)
    member = await SimilarRepository(session).member(submission.id)
    if member is not None:
        member.group_id, member.apart = None, True
    await log_action(
        session,
        actor,
        StaffActionKind.NOT_SIMILAR,
        ", ".join(other.public_number or "" for other in others)[:500],
        submission_id=submission.id,
    )
    return others
