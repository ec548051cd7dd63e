"""Search terms for the catalogue's full-text index, the same on both sides (what is indexed and
what is asked). Uzbek is written in Latin and in Cyrillic, so every word is brought to one
Latin spelling (the official Uzbek Cyrillic-to-Latin correspondence; apostrophes dropped:
``o'zbek``, ``oʻzbek`` and ``ўзбек`` are one word); Russian words are stemmed (Snowball) and
English ones too, so ``школы`` finds ``школа`` and ``hospitals`` finds ``hospital``. A query's
words match as prefixes, which covers Uzbek suffixes (``maktab`` finds ``maktablar``).
"""

from __future__ import annotations

import re
from functools import lru_cache

_CYR = {
    "а": "a", "б": "b", "в": "v", "г": "g", "ғ": "g", "д": "d", "ж": "j", "з": "z", "и": "i",
    "й": "y", "к": "k", "қ": "q", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ў": "o", "ф": "f", "х": "x", "ҳ": "h", "ц": "ts", "ч": "ch",
    "ш": "sh", "щ": "sh", "ъ": "", "ь": "", "ы": "i", "э": "e", "ё": "yo", "ю": "yu", "я": "ya",
    "і": "i", "ї": "yi", "є": "ye", "ґ": "g",
}
_VOWELS = set("аеёиоуўэюяыі")
_APOSTROPHES = "'’ʻʼ`‘"
_WORD = re.compile(r"[\w" + _APOSTROPHES + r"]+")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
MAX_TERMS = 8  # words of a query that count


def latin(word: str) -> str:
    """A word (lower case) in the one Latin spelling both scripts are matched in."""
    out = []
    for i, ch in enumerate(word):
        if ch == "е":  # "ye" at the start of a word and after a vowel, else "e"
            out.append("ye" if i == 0 or word[i - 1] in _VOWELS else "e")
        elif ch in _CYR:
            out.append(_CYR[ch])
        elif ch in _APOSTROPHES:
            continue
        else:
            out.append(ch)
    text = "".join(out)
    if text.isascii():
        return text
    from anyascii import anyascii  # other scripts: their usual Latin spelling

    return "".join(c for c in anyascii(text).lower() if c.isalnum())


@lru_cache(maxsize=4)
def _stemmer(language: str):  # type: ignore[no-untyped-def]
    import snowballstemmer

    return snowballstemmer.stemmer(language)


def _stem(word: str) -> str:
    language = "russian" if _CYRILLIC.search(word) else "english"
    return str(_stemmer(language).stemWord(word))


def words(text: str) -> list[str]:
    return [w.lower().strip(_APOSTROPHES) for w in _WORD.findall(text or "") if w.strip(_APOSTROPHES)]


def index_terms(*texts: str) -> str:
    """What the index keeps of ``texts``: each word in its Latin spelling, and its stem."""
    found: dict[str, None] = {}
    for text in texts:
        for w in words(text):
            for term in (latin(w), latin(_stem(w))):
                if term:
                    found[term] = None
    return " ".join(found)


def query_terms(q: str) -> list[str]:
    """The terms of a query, each to be matched as a prefix: the stem's Latin spelling."""
    out: list[str] = []
    for w in words(q)[:MAX_TERMS]:
        term = latin(_stem(w)) or latin(w)
        if term and term not in out:
            out.append(term)
    return out
