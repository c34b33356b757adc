"""How much grouping adds to a resident's submission with many proposals already in the
consultation: `SimilarProposals.place` (read the ids, compare, store the group) timed on
a temporary SQLite database, against the baseline of the rest of a submission's
transaction (`bot.submissions.send` storing the same proposal).

    .venv/bin/python bench/grouping.py --proposals 1000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

from bot.app import prepare_database
from bot.groups import SimilarProposals
from storage.database import create_engine, create_session_factory
from storage.models import Consultation, ConsultationKind, Resident, Submission, SubmissionKind
from tests.similarity_cases import BG, EN, SL

TEXTS = [text for group in BG + EN + SL for text in group]
NOW = datetime(2024, 6, 1, 9, tzinfo=UTC)


def _proposal(key: int, consultation_id: int, resident_id: int, text: str) -> Submission:
    return Submission(
        public_number=f"2024-{key:05d}",
        draft_key=f"bench-{key}",
        consultation_id=consultation_id,
        resident_id=resident_id,
        kind=SubmissionKind.PROPOSAL,
        text=text,
        text_digest=str(key),
        language="bg",
        received_at=NOW,
        created_at=NOW,
    )


async def main(count: int, samples: int) -> None:
    random.seed(13)
    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}")
        await prepare_database(engine)
        sessions = create_session_factory(engine)
        async with sessions.begin() as session:
            consultation = Consultation(
                slug="bench",
                kind=ConsultationKind.CONSULTATION,
                organizer={"bg": "Община"},
                title={"bg": "План"},
                summary={"bg": "План"},
                source_digest="bench",
                opens_at=NOW,
                timezone="Europe/Sofia",
                original_language="bg",
            )
            resident = Resident(telegram_user_id=1, chat_id=1, language="bg")
            session.add_all([consultation, resident])
            await session.flush()
            session.add_all(
                _proposal(
                    k,
                    consultation.id,
                    resident.id,
                    f"{random.choice(TEXTS)} {random.choice(TEXTS)}",
                )
                for k in range(count)
            )
        similar = SimilarProposals()
        baseline, placing = [], []
        for k in range(count, count + samples):
            async with sessions.begin() as session:
                started = time.perf_counter()
                submission = _proposal(k, consultation.id, resident.id, random.choice(TEXTS))
                session.add(submission)
                await session.flush()
                stored = time.perf_counter()
                await similar.place(session, submission)
                placed = time.perf_counter()
            baseline.append(stored - started)
            placing.append(placed - stored)
        # What the index of a consultation holds in memory, loaded anew.
        tracemalloc.start()
        async with sessions.begin() as session:
            fresh = SimilarProposals()
            await fresh.place(session, submission)
            held = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        await engine.dispose()
    first, rest = placing[0], placing[1:]
    print(f"{count} proposals in the consultation, {samples} new ones")
    print(f"storing a proposal (baseline): median {statistics.median(baseline) * 1000:.1f} ms")
    print(f"grouping, first after a start (reads and cuts every text): {first * 1000:.0f} ms")
    print(
        f"grouping, then: median {statistics.median(rest) * 1000:.1f} ms, "
        f"max {max(rest) * 1000:.1f} ms "
        f"(x{statistics.median(rest) / statistics.median(baseline):.1f} the baseline)"
    )
    print(f"memory held by the consultation's index: {held / 2**20:.1f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--proposals", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=30)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.proposals, arguments.samples))
