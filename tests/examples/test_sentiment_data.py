"""The sentiment example's data and preprocessing, directly."""

from __future__ import annotations

from pathlib import Path

import pytest

from cove.examples.sentiment import data, words


def test_review_to_words_drops_html_and_punctuation() -> None:
    assert words.review_to_words("Great film!<br /><br />Loved it... 10/10, A+") == [
        "great", "film", "loved", "it", "10", "10", "a"]


def test_vocabulary_and_encodings() -> None:
    reviews = [words.review_to_words(t) for t in (
        "a great great film", "great acting, awful plot", "the plot was awful")]
    vocabulary = words.build_vocabulary(reviews, size=3)
    assert vocabulary == ["great", "awful", "plot"]  # by count, then by word; stopwords out
    index = {w: i for i, w in enumerate(vocabulary)}
    bag = words.bag_of_words(words.review_to_words("Great, great and awful!"), index)
    assert bag == {0: 2, 1: 1}
    assert words.libsvm_row(bag, 1) == "1 0:2 1:1"


def test_generated_reviews_are_reproducible_and_balanced() -> None:
    first, second = data.synthetic(400, seed=3), data.synthetic(400, seed=3)
    assert first.train == second.train and first.test == second.test
    labels = [label for _, label in first.train + first.test]
    assert 0.4 < sum(labels) / len(labels) < 0.6
    assert data.synthetic(400, seed=4).train != first.train


def test_csv_and_acl_imdb_loaders(tmp_path: Path) -> None:
    csv_path = tmp_path / "reviews.csv"
    csv_path.write_text('review,sentiment,split\n"Loved it, truly.",positive,train\n'
                        '"Dull.",negative,test\n"Fine fun",positive,test\n')
    loaded = data.load(csv_path)
    assert loaded.train == [("Loved it, truly.", 1)]
    assert sorted(loaded.test) == [("Dull.", 0), ("Fine fun", 1)]
    unsplit = tmp_path / "unsplit.csv"
    unsplit.write_text("review,sentiment\n" + "".join(f"r{i},{i % 2}\n" for i in range(10)))
    halves = data.load(unsplit)
    assert len(halves.train) == len(halves.test) == 5
    root = tmp_path / "aclImdb"
    for split in ("train", "test"):
        for folder, text in (("pos", "a joy"), ("neg", "a chore")):
            (root / split / folder).mkdir(parents=True)
            (root / split / folder / "0_9.txt").write_text(text)
    acl = data.load(tmp_path)  # the directory that holds aclImdb/ works too
    assert sorted(acl.train) == [("a chore", 0), ("a joy", 1)]
    (tmp_path / "reviews.txt").write_text("Loved it.")
    with pytest.raises(ValueError, match="aclImdb directory or a .csv"):
        data.load(tmp_path / "reviews.txt")


def test_without_data_or_network_the_reviews_are_generated(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    def offline(*_: object, **__: object) -> None:
        raise OSError("network unreachable")

    monkeypatch.setattr(data.urllib.request, "urlopen", offline)
    reviews = data.load(None, cache=tmp_path, download=True, synthetic_size=100)
    assert "generated" in reviews.source and len(reviews.train) == 50


def test_negations_turn_the_words_they_reach_in_their_clause() -> None:
    assert words.review_to_words("I didn't like it, but the cast was great.") == [
        "i", "did", "not", "not_like", "it", "but", "the", "cast", "was", "great"]
    assert words.review_to_words("Not a good film at all!") == [
        "not", "a", "not_good", "film", "at", "all"]  # stopwords stay as they are


def test_everyday_reviews_carry_everyday_words_and_are_reproducible() -> None:
    first = data.everyday_reviews(6000, seed=1)
    assert first == data.everyday_reviews(6000, seed=1)
    assert "everyday reviews generated from the VADER sentiment lexicon" in first.source
    seen = {w for text, _ in first.train for w in words.review_to_words(text)}
    assert {"good", "bad", "great", "worst", "boring"} <= seen
    labels = [label for _, label in first.train + first.test]
    assert 0.45 < sum(labels) / len(labels) < 0.55
    assert not any(w in seen for w in ("fuck", "shit", "bitch"))  # the lexicon's vulgar words


def test_missing_data_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.csv: no such file or directory"):
        data.load(tmp_path / "nope.csv")
