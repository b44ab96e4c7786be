"""The demo's model on everyday reviews, in-process: generate the offline reviews, prepare them
as `cove demo` does, train XGBoost with the demo's hyperparameters (what cove's built-in
algorithm runs), and score a list of everyday reviews; mean over several data seeds, since one
draw of generated reviews moves a small list by a few reviews.

Choose changes to the demo's data or model on the development list
(tests/examples/everyday_reviews_dev.txt, the default); the held-out list
(tests/examples/everyday_reviews.txt) is what the demo's test measures through a real
`cove demo`: look at it only to confirm a change, never to pick one.

    .venv/bin/python bench/demo_everyday.py [--list FILE] [--seeds 0 1 2] [--size 30000]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
import xgboost as xgb
from scipy.sparse import csr_matrix

from cove.demo import EVERYDAY_SIZE
from cove.examples.sentiment import data, words
from cove.examples.sentiment.pipeline import EVERYDAY_HYPERPARAMETERS, SentimentApp

DEV = Path(__file__).resolve().parents[1] / "tests" / "examples" / "everyday_reviews_dev.txt"


def read_list(path: Path) -> list[tuple[str, int]]:
    rows = [line.split("\t", 1) for line in path.read_text().splitlines() if line[:1] in "+-"]
    return [(review.strip(), int(sign == "+")) for sign, review in rows]


def matrix(bags: list[dict[int, int]], width: int) -> xgb.DMatrix:
    """Bags of words as a sparse matrix: an absent word is missing, as in the libsvm rows."""
    rows = [r for r, bag in enumerate(bags) for _ in bag]
    columns = [c for bag in bags for c in bag]
    values = [float(n) for bag in bags for n in bag.values()]
    return xgb.DMatrix(csr_matrix((values, (rows, columns)), shape=(len(bags), width)))


def score(seed: int, size: int, reviews: list[tuple[str, int]]) -> tuple[float, int]:
    """(share right, how many had no known word) on ``reviews`` for one data seed."""
    prepared = SentimentApp.prepare(data.everyday_reviews(size, seed))
    index = {word: column for column, word in enumerate(prepared.vocabulary)}
    train = [line.split() for line in prepared.train]
    bags = [{int(p.split(":")[0]): int(p.split(":")[1]) for p in row[1:]} for row in train]
    dtrain = matrix(bags, len(index))
    dtrain.set_label(np.array([int(row[0]) for row in train]))
    params = dict(EVERYDAY_HYPERPARAMETERS)
    booster = xgb.train(params, dtrain, int(params.pop("num_round")))
    asked = [words.bag_of_words(words.review_to_words(text), index) for text, _ in reviews]
    known = [(bag, label) for bag, (_, label) in zip(asked, reviews, strict=True) if bag]
    predictions = booster.predict(matrix([bag for bag, _ in known], len(index)))
    right = sum((p > 0.5) == bool(label) for p, (_, label) in zip(predictions, known,
                                                                  strict=True))
    return right / len(reviews), len(reviews) - len(known)  # "can't tell" counts as wrong


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", type=Path, default=DEV)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--size", type=int, default=EVERYDAY_SIZE)
    args = parser.parse_args()
    reviews = read_list(args.list)
    results = [score(seed, args.size, reviews) for seed in args.seeds]
    for seed, (right, unknown) in zip(args.seeds, results, strict=True):
        print(f"seed {seed}: {right:.3f} right, {unknown} without a known word")
    print(f"{args.list.name}: {statistics.mean(r for r, _ in results):.3f} right on "
          f"{len(reviews)} reviews (mean of {len(results)} seeds)")


if __name__ == "__main__":
    main()
