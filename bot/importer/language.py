"""Which of the bot's languages (bg, sl, en) a text is in, or None for any other.

Letters first (Cyrillic, and the letters only Russian, Ukrainian, Serbian or Macedonian
use), then the most frequent short words: enough for a whole document, and no model to
ship."""

from __future__ import annotations

import re
from collections import Counter

_WORD = re.compile(r"[^\W\d_]+")
_NOT_BULGARIAN = set("ыэёіїєґјљњђћџѓќѕ")
_NOT_SLOVENIAN = set("ćđ")  # Croatian, Bosnian, Serbian in Latin letters
_COMMON_WORDS = {
    "en": "the of and to in is for that on with are be by this as from it will or an".split(),
    "sl": "in je za na se da so ki v z pri tudi ali bo ter po od kot še smo".split(),
    "hr": "i je za na se da su koji u s pri također ili će te po od kao što".split(),
    "de": "der die und das ist zu den von mit für auf des im nicht ein eine sich".split(),
    "fr": "le la les et des est pour une dans du que qui sur par pas au".split(),
    "es": "el la los y de que en por para con una del las se es".split(),
    "it": "il la e di che per una del della sono con non gli le".split(),
}
SPOKEN = ("bg", "sl", "en")


def detect(text: str) -> str | None:
    words = [word.lower() for word in _WORD.findall(text)]
    letters = "".join(words)
    if len(letters) < 20:
        return None
    cyrillic = sum("а" <= letter <= "я" or letter in "ѐѝ" for letter in letters)
    if cyrillic / len(letters) > 0.5:
        others = sum(letter in _NOT_BULGARIAN for letter in letters)
        return "bg" if others / len(letters) < 0.002 else None
    counts = Counter(words)
    scores = {
        language: sum(counts[word] for word in common) for language, common in _COMMON_WORDS.items()
    }
    if sum(letter in _NOT_SLOVENIAN for letter in letters) / len(letters) >= 0.002:
        scores["sl"] = 0
    best = max(scores, key=lambda language: scores[language])
    if scores[best] == 0 or scores[best] < 0.05 * len(words):
        return None
    return best if best in SPOKEN else None
