"""How alike two proposals read, in Bulgarian, Slovenian or English, with no model.

Texts are normalised (Unicode NFKC, lower case, letters and digits only, stop words of
the three languages dropped) and cut into character n-grams of each word, with its
edges marked: "парковете" and "парк" share " па", "пар", "арк" so the endings
that inflect nouns and adjectives in Bulgarian and Slovenian (and the English plural)
cost a few n-grams, not the whole word. The n-grams are weighted by TF-IDF over the
proposals of the same consultation (a word everybody uses, like "city", says little)
and compared by cosine. README ("Grouped near-duplicates") says how THRESHOLD was
chosen and measured (tests/similarity_cases.py, tests/test_similarity.py).

Pure Python: a proposal's n-grams are counted once and kept (SimilarityIndex), so a
new proposal is compared with a thousand others in tens of milliseconds
(bench/grouping.py); scikit-learn would cost tens of MiB and a second of import for the
same arithmetic.
"""

from __future__ import annotations

import math
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Iterable

# Pairs at least this alike are grouped (chosen on the test set: README).
THRESHOLD = 0.40
N_SIZES = (3,)

_WORD = re.compile(r"[^\W_]+")

_STOP_EN = """a an the and or but if of to in on at by for with from into onto about as
is are was were be been being it its this that these those there here we you they he she
i me my our your their them us do does did not no so than then too very can could should
would will shall may might must have has had also just more most some any all each other
such only own same both which who whom what when where why how please let make made new
up down out over under again further once get""".split()
_STOP_BG = """и в във на за от до с със по при към без под над през след пред като че
да не ни ли се си са е съм сме сте бе беше бяха бъде бъдат ще би биха този тази това
тези онзи който която което които какво как кога къде защо или но а също така така
много повече още всички всеки всяка всяко всяко там тук нас нас вас тях ги го я им му
ѝ мен нея него него нещо само обаче дори вече трябва може моля нека има няма бъдат
нашия нашата нашите нашият наш наша наше наши""".split()
_STOP_SL = """in na v za od do z s so je sem si smo ste ni ne da bi se ki ko kot pa ali
tudi še že ta to te tisti tista tisto kjer kako kdaj zakaj kaj kdo vsi vse vsak vsaka
naj lahko mora morajo bo bodo bil bila bilo bili bile sta so po pri pred pod nad med
iz k h o ob brez prosim več bolj zelo samo tam tu nas vas jih jim ga mu njo njega naš
naša naše naši""".split()
STOP_WORDS = frozenset(_STOP_EN + _STOP_BG + _STOP_SL)


def words(text: str) -> list[str]:
    """The words that carry meaning: normalised, stop words and single letters dropped."""
    normal = unicodedata.normalize("NFKC", text).casefold()
    return [w for w in _WORD.findall(normal) if len(w) > 1 and w not in STOP_WORDS]


def ngrams(text: str) -> Counter[str]:
    """Character n-grams of each word, its edges marked with spaces."""
    counts: Counter[str] = Counter()
    for word in words(text):
        marked = f" {word} "
        for size in N_SIZES:
            counts.update(marked[i : i + size] for i in range(len(marked) - size + 1))
    return counts


class SimilarityIndex:
    """The proposals of one consultation, their n-grams counted once.

    Document frequencies follow every addition. The weighted, unit-length vectors
    depend on them: they are made again only when the collection has grown by a tenth
    since (meanwhile a cosine moves by far less than the threshold's margin), so a new
    proposal costs one pass over the others, each a set intersection done in C."""

    def __init__(self) -> None:
        self._counts: dict[int, dict[str, int]] = {}  # id -> n-gram counts
        self._df: Counter[str] = Counter()
        self._vectors: dict[int, dict[str, float]] = {}
        self._vectors_at = 0

    def __contains__(self, key: int) -> bool:
        return key in self._counts

    def __len__(self) -> int:
        return len(self._counts)

    def ids(self) -> set[int]:
        return set(self._counts)

    def add(self, key: int, text: str) -> None:
        if key in self._counts:
            return
        # Interned: a thousand proposals share a few thousand n-grams, each stored once.
        counts = {sys.intern(gram): count for gram, count in ngrams(text).items()}
        self._counts[key] = counts
        self._df.update(counts.keys())

    def remove(self, key: int) -> None:
        counts = self._counts.pop(key, None)
        self._vectors.pop(key, None)
        if counts is not None:
            self._df.subtract(counts.keys())

    def _vector(self, key: int) -> dict[str, float]:
        size = len(self._counts)
        if size > self._vectors_at * 1.1 + 1:
            self._vectors.clear()
            self._vectors_at = size
        vector = self._vectors.get(key)
        if vector is None:
            # Smoothed IDF: a gram nobody else wrote still weighs.
            total, df = 1 + size, self._df
            weights = {
                g: (1.0 + math.log(count)) * (math.log(total / (1 + df[g])) + 1.0)
                for g, count in self._counts[key].items()
            }
            norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
            vector = {g: w / norm for g, w in weights.items()}
            self._vectors[key] = vector
        return vector

    def similar(self, key: int, among: Iterable[int] | None = None) -> list[tuple[int, float]]:
        """The others as alike as THRESHOLD or more to `key` (already added), best first."""
        return [(other, score) for other, score in self.scores(key, among) if score >= THRESHOLD]

    def scores(self, key: int, among: Iterable[int] | None = None) -> list[tuple[int, float]]:
        """Cosine of `key` with each other proposal (among those given), best first."""
        own = self._vector(key)
        candidates = self._counts.keys() if among is None else among
        found = []
        for other in candidates:
            if other == key or other not in self._counts:
                continue
            theirs = self._vector(other)
            shared = own.keys() & theirs.keys()
            if shared:
                found.append((other, sum(own[g] * theirs[g] for g in shared)))
        found.sort(key=lambda pair: -pair[1])
        return found


def cosine(first: str, second: str, corpus: Iterable[str] = ()) -> float:
    """How alike two texts are (0..1), the IDF taken over them and `corpus`."""
    index = SimilarityIndex()
    index.add(0, first)
    index.add(1, second)
    for position, text in enumerate(corpus, start=2):
        index.add(position, text)
    scores = dict(index.scores(0, [1]))
    return scores.get(1, 0.0)


def place(
    index: SimilarityIndex,
    key: int,
    group_of: dict[int, int],
    apart: Iterable[int] = (),
) -> tuple[int | None, list[int]]:
    """The group a new proposal (already added to `index`) joins: see `join`."""
    return join([other for other, _score in index.similar(key)], group_of, apart)


def join(
    alike: Iterable[int], group_of: dict[int, int], apart: Iterable[int] = ()
) -> tuple[int | None, list[int]]:
    """The group of the proposal most like a new one (`alike`: those at least THRESHOLD
    alike, best first), named by one of its proposals' ids, or None: alike to none; and the
    alike proposals in no group yet, which join it too (sent at the same moment, they
    could not see each other). `apart` are proposals staff took out of their group: they
    are grouped with nothing again."""
    kept_apart = set(apart)
    candidates = [other for other in alike if other not in kept_apart]
    if not candidates:
        return None, []
    group = group_of.get(candidates[0], candidates[0])
    return group, [other for other in candidates if other not in group_of]


def pairwise_quality(found: list[int | None], known: list[int]) -> tuple[float, float]:
    """Pairwise precision and recall of a grouping against the known one (each item's
    group, None for none): of the pairs put together, how many belong together, and of
    those that belong together, how many were put together."""
    together_found = together_known = both = 0
    for i in range(len(known)):
        for j in range(i + 1, len(known)):
            grouped = found[i] is not None and found[i] == found[j]
            belongs = known[i] == known[j]
            together_found += grouped
            together_known += belongs
            both += grouped and belongs
    precision = both / together_found if together_found else 1.0
    recall = both / together_known if together_known else 1.0
    return precision, recall


def group_all(texts: list[str]) -> list[int | None]:
    """Each text's group as `place` builds them, the texts arriving in order."""
    index = SimilarityIndex()
    group_of: dict[int, int] = {}
    for key, text in enumerate(texts):
        index.add(key, text)
        group, loose = place(index, key, group_of)
        if group is not None:
            for other in [*loose, key]:
                group_of[other] = group
    return [group_of.get(key) for key in range(len(texts))]
