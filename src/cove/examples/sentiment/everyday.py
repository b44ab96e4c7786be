"""Offline reviews in everyday English: short reviews generated from a sentiment lexicon, so a
model trained on them knows the words people actually write ("bad", "loved", "worst", "meh").

The lexicon is VADER's (``vader_lexicon.tsv`` beside this file, MIT License, see
``VADER-LICENSE.txt``): about 6,800 words, each with a valence people rated from -4 to +4. A
review of one polarity draws most of its words from that side of the lexicon, some negated
words from the other side ("not good" in a negative review, "not bad" in a positive one), a
contrary remark now and then, and neutral sentences; a few labels are flipped, as in any real
data set.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from functools import cache
from importlib import resources

Review = tuple[str, int]

_SUBJECTS = ("the acting", "the plot", "the script", "the soundtrack", "the ending", "the cast",
             "the dialogue", "the story", "the pacing", "the characters", "the music",
             "the lead", "the humour", "the effects", "the direction", "the first half")
_NOUNS = ("movie", "film", "story", "cast", "ending", "script", "sequel", "performance")
_OWN = ("{W}.", "It was {w}.", "{S} was {w}.", "Really {w}.", "Just {w}!", "I found it {w}.",
        "So {w}.", "{W} {n}.", "What a {w} {n}!", "Simply {w}.", "{S}: {w}.",
        "I thought it was {w}.", "{W}, {w2}.", "Totally {w}.", "{S} felt {w}.")
_NEGATED = ("It was not {o}.", "Not {o} at all.", "Not {o}.", "I didn't find it {o}.",
            "{S} was not {o}.", "Never {o}.", "It isn't {o}.", "{S} wasn't {o} at all.")
_FILLER = ("I watched it last night.", "We saw it at the cinema.", "It runs about two hours.",
           "My friend picked it.", "I went in knowing nothing.", "It came out last year.",
           "I watched it with my family.", "The trailer made me curious.")


#: How much more often an everyday word comes up than a rare one: the model learns a word
#: only from enough reviews that carry it.
COMMON_WEIGHT = 60.0
#: A word this frequent in the book counts is everyday even if it is no review adjective.
COMMON_COUNT = 30


@dataclass(frozen=True)
class Lexicon:
    positive: tuple[str, ...]
    negative: tuple[str, ...]
    positive_weights: tuple[float, ...]
    negative_weights: tuple[float, ...]

    @property
    def size(self) -> int:
        return len(self.positive) + len(self.negative)


@cache
def lexicon() -> Lexicon:
    """The words by side, as cumulative weights: the everyday ones — adjectives frequent in
    customer reviews, or words common in written English — come up ``COMMON_WEIGHT`` times as
    often as the rest."""
    text = resources.files("cove.examples.sentiment").joinpath("vader_lexicon.tsv").read_text()
    sides: dict[bool, list[tuple[str, float]]] = {True: [], False: []}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            word, valence, count, review_adjective = line.split("\t")
            common = review_adjective == "1" or int(count) >= COMMON_COUNT
            sides[float(valence) > 0].append((word, COMMON_WEIGHT if common else 1.0))
    return Lexicon(tuple(w for w, _ in sides[True]), tuple(w for w, _ in sides[False]),
                   tuple(itertools.accumulate(x for _, x in sides[True])),
                   tuple(itertools.accumulate(x for _, x in sides[False])))


def generate(size: int, seed: int = 0) -> list[Review]:
    """``size`` labelled reviews, half positive; the same ``seed`` gives the same reviews."""
    rng = random.Random(seed)
    words = lexicon()
    reviews = [_review(rng, words, label=i % 2) for i in range(size)]
    rng.shuffle(reviews)
    return reviews


def source(size: int, seed: int) -> str:
    return (f"{size:,} everyday reviews generated from the VADER sentiment lexicon "
            f"({lexicon().size:,} words; seed {seed})")


def _review(rng: random.Random, words: Lexicon, label: int) -> Review:
    own = _side(words, positive=bool(label))
    other = _side(words, positive=not label)
    sentences = []
    for _ in range(rng.choice((1, 1, 2, 2, 3, 4))):
        roll = rng.random()
        if roll < 0.2:
            sentences.append(_fill(rng, rng.choice(_NEGATED), other))
        elif roll < 0.3:  # reviews are rarely all one way
            sentences.append(_fill(rng, rng.choice(_OWN), other))
        else:
            sentences.append(_fill(rng, rng.choice(_OWN), own))
    if rng.random() < 0.3:
        sentences.insert(rng.randrange(len(sentences) + 1), rng.choice(_FILLER))
    if rng.random() < 0.03:  # mislabelled reviews exist in every real data set
        label = 1 - label
    return " ".join(sentences), label


def _side(words: Lexicon, positive: bool) -> tuple[tuple[str, ...], tuple[float, ...]]:
    return ((words.positive, words.positive_weights) if positive
            else (words.negative, words.negative_weights))


def _fill(rng: random.Random, template: str,
          side: tuple[tuple[str, ...], tuple[float, ...]]) -> str:
    first, second = rng.choices(side[0], cum_weights=side[1], k=2)
    subject = rng.choice(_SUBJECTS)
    return template.format(w=first, W=first.capitalize(), w2=second, o=first,
                           S=subject.capitalize(), n=rng.choice(_NOUNS))
