#!/usr/bin/env python3
"""Batch transform throughput: a cove transform job against the in-process limit.

The data: the 25,000 IMDB test reviews of /work/shared/data/imdb_aclImdb_50k.csv (its ``split``
column), as bag-of-words counts (CountVectorizer(max_features=5000) fitted on the 25,000 train
reviews), one CSV row of 5,000 integers per review, in ``--objects`` objects (default 10).
Without that file the same shapes are generated (synthetic counts and labels).  The model: the
serving benchmark's XGBoost sentiment model (``binary:logistic``, ``--rounds`` 100), trained on
the train reviews.

  limit      in-process with both cores: two processes (one thread each) each read objects,
             parse them with cove's CSV reader and predict with its direct XGBoost predictor;
             wall time from the first object read to the last prediction.
  cove       ``python -m cove up``; the objects uploaded and the model created with boto3, then
             CreateTransformJob (SplitType Line, MultiRecord, MaxPayloadInMB ``--payload``,
             ``--instances`` workers, MaxConcurrentTransforms ``--concurrency`` each), timed by
             the job's own CreationTime -> TransformEndTime: worker start, splitting, batching,
             requests over the workers' Unix sockets, assembly, writing the .out objects.  Its
             CPU is split between cove's own process (the engine, the edge) and its workers
             (sampled every 0.1 s), and the rest of the machine's.

Both give the same predictions (checked: equal, float32 for float32), so the same accuracy,
printed against the test labels.  Target: cove >= 0.7x the limit's rows/s.

    .venv/bin/python bench/transform.py                  # 3 transform runs (~2-3 min)
    .venv/bin/python bench/transform.py --runs 1 --rows 5000

Options: ``--runs N``, ``--objects N``, ``--instances N``, ``--concurrency N``, ``--payload MB``,
``--rows N`` (fewer test reviews), ``--rounds N``, ``--keep`` (keep the temp directory).
"""

from __future__ import annotations

import argparse
import csv
import io
import multiprocessing
import os
import shutil
import signal
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from serving import (  # noqa: E402 - the serving benchmark's helpers, from this directory
    PARAMS,
    ROLE,
    XGB_IMAGE,
    Cove,
    Processes,
    cpu_of,
    descendants,
    machine_busy,
    start_cove,
)

DATA = Path("/work/shared/data/imdb_aclImdb_50k.csv")


@dataclass
class Dataset:
    train: Any  # CSR counts
    train_labels: np.ndarray
    test: Any
    test_labels: np.ndarray
    source: str


def load(rows: int) -> Dataset:
    from scipy import sparse
    from sklearn.feature_extraction.text import CountVectorizer

    if DATA.exists():
        with DATA.open(newline="", encoding="utf-8") as handle:
            reviews = list(csv.DictReader(handle))
        train = [r for r in reviews if r["split"] == "train"]
        test = [r for r in reviews if r["split"] == "test"][:rows]
        vectorizer = CountVectorizer(max_features=5000)
        counts = vectorizer.fit_transform(r["review"] for r in train)
        return Dataset(counts, _labels(train), vectorizer.transform(r["review"] for r in test),
                       _labels(test), f"{DATA.name}: {len(train):,} train / {len(test):,} test "
                                      "reviews")
    rng = np.random.default_rng(0)

    def synthetic(n: int) -> tuple[Any, np.ndarray]:
        dense = (rng.random((n, 5000)) < 0.02) * rng.integers(1, 4, (n, 5000))
        labels = (dense[:, :50].sum(1) > dense[:, 50:100].sum(1)).astype(np.float64)
        return sparse.csr_matrix(dense.astype(np.float64)), labels

    (train_x, train_y), (test_x, test_y) = synthetic(25_000), synthetic(rows)
    return Dataset(train_x, train_y, test_x, test_y,
                   f"synthetic counts ({DATA} is absent): 25,000 train / {rows:,} test rows")


def _labels(reviews: list[dict[str, str]]) -> np.ndarray:
    return np.array([r["sentiment"] == "positive" for r in reviews], dtype=np.float64)


def train(data: Dataset, rounds: int, tmp: Path) -> Path:
    import xgboost

    # Dense, as the CSV rows are: in a sparse matrix XGBoost takes absent counts as *missing*,
    # while a CSV row says 0, and a model trained one way scores the other way badly.
    dense = xgboost.QuantileDMatrix(data.train.toarray().astype(np.float32),
                                    label=data.train_labels)
    booster = xgboost.train({**PARAMS, "nthread": os.cpu_count() or 1}, dense, rounds)
    path = tmp / "xgboost-model"
    path.write_bytes(bytes(booster.save_raw(raw_format="ubj")))
    return path


def write_objects(data: Dataset, count: int, tmp: Path) -> list[Path]:
    """The test rows as ``count`` CSV files of (nearly) equal row counts."""
    directory = tmp / "objects"
    directory.mkdir()
    bounds = np.linspace(0, data.test.shape[0], count + 1).astype(int)
    paths = []
    for index, (start, stop) in enumerate(zip(bounds, bounds[1:], strict=False)):
        path = directory / f"reviews-{index:03d}.csv"
        with path.open("wb") as out:
            for chunk in range(start, stop, 1000):
                dense = data.test[chunk:min(chunk + 1000, stop)].toarray().astype(np.int64)
                np.savetxt(out, dense, fmt="%d", delimiter=",")
        paths.append(path)
    return paths


# --- the limit --------------------------------------------------------------------------------

_predict: Any = None


def _load_model(model_file: str) -> None:
    global _predict
    os.environ["OMP_NUM_THREADS"] = "1"
    import xgboost

    from cove.serving._xgboost import dense_predictor

    booster = xgboost.Booster()
    booster.load_model(bytearray(Path(model_file).read_bytes()))
    booster.set_param("nthread", "1")
    _predict = dense_predictor(booster)


def _score(path: str) -> tuple[str, np.ndarray, float]:
    from cove.serving._media import parse_csv

    cpu = time.process_time()
    predictions = _predict(parse_csv(Path(path).read_bytes()))
    return path, predictions, time.process_time() - cpu


@dataclass
class Limit:
    seconds: float
    predictions: dict[str, np.ndarray]  # by file name
    cpu: float  # the two processes' CPU seconds
    other_cpu: float  # everything else on the machine


def measure_limit(paths: list[Path], model_file: Path, workers: int) -> Limit:
    context = multiprocessing.get_context("spawn")  # not fork: the parent has OpenMP threads
    with context.Pool(workers, initializer=_load_model, initargs=(str(model_file),)) as pool:
        pool.map(_sleep, range(workers))  # every process has loaded the model
        busy, started = machine_busy(), time.perf_counter()
        results = list(pool.imap_unordered(_score, [str(p) for p in paths]))
        seconds, busy = time.perf_counter() - started, machine_busy() - busy
    cpu = sum(c for _, _, c in results)
    return Limit(seconds, {Path(p).name: v for p, v, _ in results}, cpu,
                 max(0.0, busy - cpu))


def _sleep(_: int) -> None:
    time.sleep(0.2)


# --- cove -------------------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    predictions: dict[str, np.ndarray]
    engine_cpu: float  # cove's own process, seconds
    workers_cpu: float  # its workers, seconds
    other_cpu: float  # everything else on the machine, seconds
    startup: float  # create -> the workers answered (from the job's log)


def upload(cove: Cove, paths: list[Path], model_file: Path) -> str:
    s3, sm = cove.client("s3"), cove.client("sagemaker")
    s3.create_bucket(Bucket="bench")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(model_file, arcname="xgboost-model")
    s3.put_object(Bucket="bench", Key="model/model.tar.gz", Body=buffer.getvalue())
    for path in paths:
        s3.upload_file(str(path), "bench", f"reviews/{path.name}")
    sm.create_model(ModelName="imdb", ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": XGB_IMAGE, "ModelDataUrl": "s3://bench/model/model.tar.gz"})
    return "imdb"


def transform(cove: Cove, model: str, run: int, args: argparse.Namespace) -> Run:
    sm, s3 = cove.client("sagemaker"), cove.client("s3")
    name = f"imdb-{run}"
    sampler = WorkerCpu(cove.proc.pid)
    own, busy = cpu_of([cove.proc.pid]), machine_busy()
    sampler.start()
    sm.create_transform_job(
        TransformJobName=name, ModelName=model, BatchStrategy="MultiRecord",
        MaxPayloadInMB=args.payload, MaxConcurrentTransforms=args.concurrency,
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                        "S3Uri": "s3://bench/reviews/"}},
                        "ContentType": "text/csv", "SplitType": "Line"},
        TransformOutput={"S3OutputPath": f"s3://bench/scored-{run}", "AssembleWith": "Line"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": args.instances})
    while (d := sm.describe_transform_job(TransformJobName=name))["TransformJobStatus"] in (
            "InProgress", "Stopping"):
        time.sleep(0.25)  # the time is the job's own (CreationTime -> TransformEndTime)
    workers = sampler.stop()
    engine, busy = cpu_of([cove.proc.pid]) - own, machine_busy() - busy
    if d["TransformJobStatus"] != "Completed":
        raise SystemExit(f"{name}: {d['TransformJobStatus']}: {d.get('FailureReason')}")
    predictions = {}
    for item in s3.list_objects_v2(Bucket="bench", Prefix=f"scored-{run}/")["Contents"]:
        body = s3.get_object(Bucket="bench", Key=item["Key"])["Body"].read()
        relative = item["Key"].removeprefix(f"scored-{run}/").removesuffix(".out")
        predictions[relative] = np.array(body.split(), dtype=np.float32)
    seconds = (d["TransformEndTime"] - d["CreationTime"]).total_seconds()
    return Run(seconds, predictions, engine, workers, max(0.0, busy - engine - workers),
               _startup(cove, name))


class WorkerCpu(threading.Thread):
    """CPU seconds of cove's child processes (the job's workers), sampled every 0.1 s until
    stopped: a worker's last 0.1 s before it exits may be missed."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.seen: dict[int, float] = {}
        self.before = set(descendants(pid))
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.1):
            for child in descendants(self.pid):
                if child not in self.before:
                    self.seen[child] = max(self.seen.get(child, 0.0), cpu_of([child]))

    def stop(self) -> float:
        self.done.set()
        self.join()
        return sum(self.seen.values())


def _startup(cove: Cove, name: str) -> float:
    """Seconds from the job's start to its first mini-batch settings line (workers ready)."""
    events = cove.client("logs").get_log_events(
        logGroupName="/aws/sagemaker/TransformJobs", logStreamName=f"{name}/instance-1",
        startFromHead=True)["events"]
    first = events[0]["timestamp"]
    ready = next(e["timestamp"] for e in events if e["message"].startswith("Mini-batches"))
    return (ready - first) / 1000


# --- main -------------------------------------------------------------------------------------


def accuracy(predictions: dict[str, np.ndarray], names: list[str], labels: np.ndarray) -> float:
    scores = np.concatenate([predictions[name] for name in names])
    return float(((scores > 0.5) == (labels > 0.5)).mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--objects", type=int, default=10)
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2,
                        help="MaxConcurrentTransforms (per instance)")
    parser.add_argument("--payload", type=int, default=6, help="MaxPayloadInMB")
    parser.add_argument("--rows", type=int, default=25_000)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-transform-", dir=HERE))
    procs = Processes()
    try:
        return bench(args, tmp, procs)
    finally:
        procs.stop_all()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def bench(args: argparse.Namespace, tmp: Path, procs: Processes) -> int:
    print(f"transform benchmark: {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f} at start; temp dir {tmp}", flush=True)
    prepared = time.perf_counter()
    data = load(args.rows)
    model_file = train(data, args.rounds, tmp)
    paths = write_objects(data, args.objects, tmp)
    size = sum(p.stat().st_size for p in paths)
    rows = data.test.shape[0]
    print(f"data: {data.source}; {rows:,} rows in {len(paths)} objects, {size / 1e6:.0f} MB of "
          f"CSV; model: {args.rounds} rounds ({time.perf_counter() - prepared:.0f} s to "
          "prepare)", flush=True)
    names = [p.name for p in paths]
    cove = start_cove(procs, tmp)
    model = upload(cove, paths, model_file)
    limits, runs = [], []
    for run in range(args.runs):  # interleaved, so that both see the machine alike
        limit = measure_limit(paths, model_file, os.cpu_count() or 2)
        limits.append(limit)
        print(f"  limit {run}: {limit.seconds:.2f} s, {rows / limit.seconds:,.0f} rows/s (CPU: "
              f"{limit.cpu:.2f} s, other processes {limit.other_cpu:.2f} s)", flush=True)
        result = transform(cove, model, run, args)
        for name in names:
            if not np.array_equal(result.predictions[name], limit.predictions[name]):
                raise SystemExit(f"run {run}: {name}.out differs from the in-process predictions")
        runs.append(result)
        print(f"  cove  {run}: {result.seconds:.2f} s, {rows / result.seconds:,.0f} rows/s "
              f"(workers ready after {result.startup:.2f} s; CPU: engine "
              f"{result.engine_cpu:.2f} s, workers {result.workers_cpu:.2f} s, other processes "
              f"{result.other_cpu:.2f} s)", flush=True)
    limit_accuracy = accuracy(limits[-1].predictions, names, data.test_labels)
    cove_accuracy = accuracy(runs[-1].predictions, names, data.test_labels)
    print()
    print(f"{rows:,} rows, {size / 1e6:.0f} MB; {args.instances} workers × "
          f"MaxConcurrentTransforms {args.concurrency}, MaxPayloadInMB {args.payload}; "
          f"load average {os.getloadavg()[0]:.2f} at the end (the machine may be shared: "
          "see 'other CPU')")
    print(f"{'run':<5}{'limit s':>9}{'rows/s':>9}{'other CPU':>11}   {'cove s':>8}"
          f"{'rows/s':>9}{'other CPU':>11}{'ratio':>8}")
    for index, (limit, result) in enumerate(zip(limits, runs, strict=True)):
        print(f"{index:<5}{limit.seconds:>9.2f}{rows / limit.seconds:>9,.0f}"
              f"{limit.other_cpu:>10.1f}s   {result.seconds:>8.2f}"
              f"{rows / result.seconds:>9,.0f}{result.other_cpu:>10.1f}s"
              f"{limit.seconds / result.seconds:>8.2f}")
    ratio = min(r.seconds for r in limits) / min(r.seconds for r in runs)
    print(f"best cove / best limit: {ratio:.2f}x (target >= 0.70: "
          f"{'met' if ratio >= 0.7 else 'NOT met'}); predictions identical; accuracy "
          f"{cove_accuracy:.4f} (cove) = {limit_accuracy:.4f} (in-process)")
    print(f"(cove's time includes starting its workers, {min(r.startup for r in runs):.2f} s at "
          "best; the limit's processes had loaded the model already)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
