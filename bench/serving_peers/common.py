"""What the hand-written peers (the bare Starlette app, the BentoML service) do per request.

Kept free of cove so that it imports in the peers' own virtual environments.  The decode is the
fast one a careful hand-written app would use (numpy's C reader, integers first, which a
bag-of-words row is); the predict is XGBoost's public ``inplace_predict`` (no DMatrix).
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import xgboost

# numpy warns when its text reader stops early (a decimal point for the integer reader): the
# count check in decode() catches that case
warnings.filterwarnings("ignore", "string or file could not be read", DeprecationWarning)


def load_booster(path: str | None = None) -> xgboost.Booster:
    booster = xgboost.Booster()
    with open(path or os.environ["BENCH_MODEL"], "rb") as handle:  # UBJSON, no .ubj suffix
        booster.load_model(bytearray(handle.read()))
    booster.set_param("nthread", os.environ.get("OMP_NUM_THREADS", "1"))
    return booster


def decode(body: bytes) -> np.ndarray:
    """One CSV row (or several, one per line) of numbers -> 2-D float64."""
    text = body.strip()
    rows = text.count(b"\n") + 1
    flat = text.replace(b"\n", b",") if rows > 1 else text
    count = flat.count(b",") + 1
    values: np.ndarray
    try:
        values = np.fromstring(flat, dtype=np.int64, sep=",")
    except ValueError:
        values = np.empty(0)
    if values.size != count:  # not all integers: the float reader
        values = np.fromstring(flat, dtype=np.float64, sep=",")
    if values.size != count:
        raise ValueError("the body is not comma-separated numbers")
    return values.astype(np.float64).reshape(rows, -1)


def predict(booster: xgboost.Booster, rows: np.ndarray) -> np.ndarray:
    return booster.inplace_predict(rows, validate_features=False)


def encode(predictions: np.ndarray) -> str:
    return ",".join(map(str, predictions.tolist()))
