"""Requests per second of one XGBoost worker for one review's bag-of-words (5,000 counts).

    .venv/bin/python tests/serving/bench_worker.py [--requests 4000] [--rounds 200]

Trains a ``binary:logistic`` model (the tutorials' hyperparameters) on the IMDB sample's
5,000-word bag-of-words (synthetic counts if the sample is absent), then reports:

- in-process: the runtime's decode + predict + encode (``XGBoostRuntime.invoke``), and
  ``booster.predict(DMatrix)`` for comparison;
- over the socket: a real worker process, an asyncio client on keep-alive connections (raw
  HTTP/1.1, so the client's own cost stays small) at concurrency 1 and 8.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import xgboost

from cove.serving import Invocation, worker_command
from cove.serving._media import parse_csv
from cove.serving._xgboost import load

IMDB = Path("/work/shared/data/imdb_sample_5k.csv")
PARAMS = {"objective": "binary:logistic", "max_depth": 5, "eta": 0.2, "gamma": 4,
          "min_child_weight": 6, "subsample": 0.8, "seed": 0}


def bag_of_words() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    if IMDB.exists():
        import pandas as pd
        from sklearn.feature_extraction.text import CountVectorizer

        frame = pd.read_csv(IMDB)
        counts = CountVectorizer(max_features=5000).fit_transform(frame["review"])
        labels = (frame["sentiment"] == "positive").to_numpy(dtype=np.float64)
        return counts.toarray().astype(np.float64), labels
    rng = np.random.default_rng(0)
    counts = (rng.random((3000, 5000)) < 0.02) * rng.integers(1, 4, (3000, 5000))
    return counts.astype(np.float64), (counts[:, :50].sum(1) > counts[:, 50:100].sum(1)) * 1.0


def report(label: str, call: Callable[[], object]) -> None:
    per_second = rate(call)
    print(f"{label:<45} {per_second:7.0f}/s  {1e6 / per_second:6.0f} µs")


def rate(call: Callable[[], object], seconds: float = 2.0) -> float:
    call()
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        call()
        count += 1
    return count / (time.perf_counter() - started)


async def socket_rate(path: str, body: bytes, concurrency: int, total: int) -> float:
    request = (b"POST /invocations HTTP/1.1\r\nhost: worker\r\ncontent-type: text/csv\r\n"
               b"accept: text/csv\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))

    async def client(count: int) -> None:
        reader, writer = await asyncio.open_unix_connection(path)
        for _ in range(count):
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
        writer.close()

    await client(100)
    started = time.perf_counter()
    await asyncio.gather(*(client(total // concurrency) for _ in range(concurrency)))
    return (total // concurrency * concurrency) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    features, labels = bag_of_words()
    booster = xgboost.train(PARAMS, xgboost.DMatrix(features, label=labels), args.rounds)
    row = features[int(np.argmax(features.sum(1)))]
    body = ",".join(str(int(v)) for v in row).encode()
    print(f"model: {booster.num_boosted_rounds()} trees, {booster.num_features()} features; "
          f"request: {len(body)} bytes, {int((row > 0).sum())} non-zero counts")
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "model"
        model_dir.mkdir()
        (model_dir / "xgboost-model").write_bytes(bytes(booster.save_raw(raw_format="ubj")))
        runtime = load(model_dir, {})
        invocation = Invocation(body, "text/csv", "text/csv")
        rows = parse_csv(body)
        booster.set_param("nthread", "1")
        report("in-process: decode (CSV -> float64 row)", lambda: parse_csv(body))
        report("in-process: predict (C predictor)", lambda: runtime.predict_dense(rows))
        report("in-process: decode + predict + encode", lambda: runtime.invoke(invocation))
        report("in-process: booster.predict(DMatrix(row))",
               lambda: booster.predict(xgboost.DMatrix(rows)))
        report("in-process: booster.inplace_predict(row)", lambda: booster.inplace_predict(rows))
        serve(model_dir, Path(tmp) / "w.sock", body, args.requests)


def serve(model_dir: Path, socket: Path, body: bytes, total: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    proc = subprocess.Popen(worker_command(socket, model_dir, "xgboost"), env=env)
    try:
        while not socket.exists():
            if proc.poll() is not None:
                sys.exit("the worker exited")
            time.sleep(0.02)
        for concurrency in (1, 8):
            per_second = asyncio.run(socket_rate(str(socket), body, concurrency, total))
            print(f"over the socket, concurrency {concurrency}: {per_second:7.0f} req/s")
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
