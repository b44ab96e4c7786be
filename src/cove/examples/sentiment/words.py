"""Review text → words → bag-of-words counts: the tutorial's preprocessing.

This module is copied into the sentiment function's zip as it is, so the function encodes a
review exactly as the training data were encoded: keep it free of imports beyond the standard
library.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

_HTML = re.compile(r"<[^>]+>")
_NOT_WORD = re.compile(r"[^a-z0-9]+")
# A negation's reach ends at the clause: "not good, but fun" negates "good", not "fun".
_CLAUSE_END = re.compile(r"[.,;:!?()\"]+")
_NEGATIONS = frozenset(("not", "no", "never", "nor", "cannot", "without", "hardly"))
#: How many words after a negation it turns around ("not a good film" → not_good, not_film).
NEGATION_REACH = 3

#: Words too common to tell sentiment apart; they never enter the vocabulary.
STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had
has have having he her here hers herself him himself his how i if in into is it its itself just
me more most my myself now of off on once only or other our ours ourselves out over own same she
should so some such than that the their theirs them themselves then there these they this those
through to too under until up very was we were what when where which while who whom why will
with would you your yours yourself yourselves film movie one s t br
""".split())


def review_to_words(review: str) -> list[str]:
    """Lower-case, drop HTML (``<br />``) and punctuation, split into words; the words a
    negation reaches in its clause get a ``not_`` prefix, so a bag of words can tell "not good"
    from "good" (Das and Chen's negation marking)."""
    text = _HTML.sub(" ", review).lower().replace("’", "'").replace("n't", " not")
    words: list[str] = []
    for clause in _CLAUSE_END.split(text):
        reach = 0
        for word in _NOT_WORD.split(clause):
            if not word:
                continue
            if reach and word not in STOPWORDS:
                words.append("not_" + word)
                reach -= 1
            else:
                words.append(word)
            if word in _NEGATIONS:
                reach = NEGATION_REACH
    return words


def build_vocabulary(reviews: Iterable[list[str]], size: int = 5000) -> list[str]:
    """The ``size`` most frequent words (stopwords left out), most frequent first; ties by word
    so the vocabulary is the same on every run."""
    counts: Counter[str] = Counter()
    for words in reviews:
        counts.update(w for w in words if w not in STOPWORDS)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [word for word, _ in ranked[:size]]


def bag_of_words(words: list[str], index: dict[str, int]) -> dict[int, int]:
    """Column → count for the words in the vocabulary (``index``: word → column)."""
    bag: dict[int, int] = {}
    for word in words:
        column = index.get(word)
        if column is not None:
            bag[column] = bag.get(column, 0) + 1
    return bag


def libsvm_row(bag: dict[int, int], label: int | None = None) -> str:
    """One libsvm row (0-based columns), optionally led by its label."""
    pairs = " ".join(f"{column}:{count}" for column, count in sorted(bag.items()))
    return f"{label} {pairs}" if label is not None else pairs
