"""Review text → words → padded word indices, exactly as the training data were prepared."""

import re

_HTML = re.compile(r"<[^>]+>")
_NOT_WORD = re.compile(r"[^a-z0-9]+")

NOWORD = 0  # padding
INFREQ = 1  # a word outside the vocabulary


def review_to_words(review):
    text = _HTML.sub(" ", review).lower()
    return [w for w in _NOT_WORD.split(text) if w]


def convert_and_pad(word_dict, sentence, pad=500):
    working = [NOWORD] * pad
    for i, word in enumerate(sentence[:pad]):
        working[i] = word_dict.get(word, INFREQ)
    return working, min(len(sentence), pad)
