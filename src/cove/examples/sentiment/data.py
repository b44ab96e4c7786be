"""Labelled movie reviews: the IMDB data set (its aclImdb directory, or a CSV of reviews), the
downloader for it, and an offline generator so the example runs on any machine.

Every loader returns ``Reviews``: train and test lists of ``(text, label)``, label 1 = positive.
"""

from __future__ import annotations

import csv
import random
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"

Review = tuple[str, int]


@dataclass(frozen=True)
class Reviews:
    train: list[Review]
    test: list[Review]
    source: str


def load(data: str | Path | None, cache: Path | None = None, download: bool = False,
         synthetic_size: int = 4000, seed: int = 0, everyday: bool = False) -> Reviews:
    """``data``: an aclImdb directory or a CSV (``review,sentiment[,split]``); None → the cached
    download when ``download`` and the network allow it, else generated reviews (with
    ``everyday``, short everyday reviews from a sentiment lexicon: ``everyday.py``)."""
    if data is not None:
        path = Path(data).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or directory")
        if path.is_dir():
            return load_acl_imdb(path)
        if path.suffix == ".csv":
            return load_csv(path, seed)
        raise ValueError(f"{path}: expected an aclImdb directory or a .csv of reviews")
    if download and cache is not None:
        try:
            return load_acl_imdb(download_imdb(cache))
        except OSError as exc:
            print(f"IMDB download unavailable ({exc}); generating reviews instead",
                  file=sys.stderr)
    return everyday_reviews(synthetic_size, seed) if everyday else synthetic(synthetic_size, seed)


def everyday_reviews(size: int, seed: int = 0) -> Reviews:
    """Short everyday reviews generated from a sentiment lexicon, split in half."""
    from cove.examples.sentiment import everyday

    reviews = everyday.generate(size, seed)
    cut = size // 2
    return Reviews(reviews[:cut], reviews[cut:], everyday.source(size, seed))


def load_acl_imdb(root: Path) -> Reviews:
    """The layout of ``aclImdb_v1.tar.gz``: ``{train,test}/{pos,neg}/*.txt``."""
    if (root / "aclImdb").is_dir():
        root = root / "aclImdb"
    parts: dict[str, list[Review]] = {"train": [], "test": []}
    for split, reviews in parts.items():
        for folder, label in (("pos", 1), ("neg", 0)):
            for file in sorted((root / split / folder).glob("*.txt")):
                reviews.append((file.read_text(encoding="utf-8", errors="replace"), label))
    if not parts["train"] or not parts["test"]:
        raise ValueError(f"{root}: no reviews under train/ and test/ (pos/, neg/)")
    return Reviews(_shuffled(parts["train"]), _shuffled(parts["test"]), str(root))


def load_csv(path: Path, seed: int = 0) -> Reviews:
    """``review,sentiment`` (positive/negative or 1/0), with an optional ``split`` column
    (train/test); without one, a seeded 50/50 split."""
    parts: dict[str, list[Review]] = {"train": [], "test": []}
    unsplit: list[Review] = []
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            label = 1 if row["sentiment"].strip().lower() in ("positive", "pos", "1") else 0
            review = (row["review"], label)
            split = (row.get("split") or "").strip().lower()
            parts.get(split, unsplit).append(review)
    if unsplit:
        random.Random(seed).shuffle(unsplit)
        half = len(unsplit) // 2
        parts["train"] += unsplit[:half]
        parts["test"] += unsplit[half:]
    return Reviews(_shuffled(parts["train"]), _shuffled(parts["test"]), str(path))


def download_imdb(cache: Path) -> Path:
    """Fetch and unpack ``aclImdb_v1.tar.gz`` once into ``cache``; later calls reuse it."""
    target = cache / "aclImdb"
    if (target / "test" / "neg").is_dir():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    archive = cache / "aclImdb_v1.tar.gz"
    if not archive.exists():
        partial = archive.with_suffix(".part")
        with urllib.request.urlopen(IMDB_URL, timeout=30) as response, partial.open("wb") as out:
            while chunk := response.read(1 << 20):
                out.write(chunk)
        partial.replace(archive)
    with tarfile.open(archive) as tar:
        tar.extractall(cache, filter="data")
    return target


# --- offline: generated reviews ----------------------------------------------------------------

_POSITIVE = ("wonderful brilliant superb moving delightful masterful gripping charming "
             "beautiful hilarious touching excellent stunning memorable fantastic great "
             "terrific engaging heartfelt clever").split()
_NEGATIVE = ("boring dull awful terrible tedious clumsy lifeless bland painful dreadful "
             "pointless wooden forgettable mediocre lame silly predictable annoying weak "
             "horrible").split()
_SUBJECTS = ("the acting", "the plot", "the script", "the soundtrack", "the ending",
             "the direction", "the cast", "the dialogue", "the cinematography", "the story",
             "the pacing", "the characters", "the lead performance", "the humour")
_FILLER = ("I watched this last weekend with friends.", "It runs a little over two hours.",
           "The trailer had made me curious.", "It is based on a novel I have not read.",
           "I saw it in an almost empty cinema.", "My sister recommended it to me.",
           "It was shot on location in three countries.", "The director's earlier work "
           "is better known.", "I had no expectations going in.", "It came out last year.")


def synthetic(size: int, seed: int = 0) -> Reviews:
    """``size`` labelled reviews built from sentiment words in ordinary sentences, with a
    little contrary opinion and label noise, so a bag-of-words model has something real (but
    not trivial) to learn.  Same ``seed``, same reviews."""
    rng = random.Random(seed)
    reviews = [_review(rng, label=i % 2) for i in range(size)]
    rng.shuffle(reviews)
    cut = size // 2
    return Reviews(reviews[:cut], reviews[cut:], f"{size} generated reviews (seed {seed})")


def _review(rng: random.Random, label: int) -> Review:
    own, other = (_POSITIVE, _NEGATIVE) if label else (_NEGATIVE, _POSITIVE)
    sentences = [rng.choice(_FILLER)]
    for _ in range(rng.randint(2, 5)):
        words = own if rng.random() < 0.8 else other  # reviews are rarely all one way
        sentences.append(f"{rng.choice(_SUBJECTS).capitalize()} was {rng.choice(words)}.")
    sentences.append(rng.choice(_FILLER))
    rng.shuffle(sentences)
    text = " ".join(sentences)
    if rng.random() < 0.05:  # mislabelled reviews exist in every real data set
        label = 1 - label
    return text + " <br /><br />" + rng.choice(("Overall, " + rng.choice(own) + ".", "")), label


def _shuffled(reviews: list[Review], seed: int = 0) -> list[Review]:
    random.Random(seed).shuffle(reviews)
    return reviews
