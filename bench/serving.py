#!/usr/bin/env python3
"""Serving throughput and latency: cove's endpoints side by side with the limit and with peers.

The model is the IMDB bag-of-words XGBoost sentiment model (CountVectorizer(max_features=5000),
``binary:logistic``, 100 rounds), trained here from /work/shared/data/imdb_sample_5k.csv (synthetic
counts if it is absent).  Every request is the same review's bag-of-words: 5,000 integers as one
CSV row.  At concurrency 1, 8 and 64 (closed loop, keep-alive connections), for ``--seconds``
each (default 20), after a ``--warmup``:

  (a) limit    in-process, one core: decode (CSV bytes -> numpy, cove's reader) + predict
               (cove's direct C predictor); no HTTP.  Concurrency does not apply: one run, shown
               in every column.  Also shown: the same with XGBoost's public inplace_predict (what
               the bare app and the BentoML service pay per request).
  (b) cove     ``python -m cove up``; the model deployed with boto3 (CreateModel with the
               SageMaker XGBoost image, CreateEndpointConfig, CreateEndpoint); requests to
               ``POST /endpoints/{name}/invocations`` on the edge, each SigV4-signed afresh.
  (c) worker   the same requests (unsigned) straight to that endpoint's model-server worker on
               its Unix socket under $COVE_HOME/endpoints/.
  (d) bare     Starlette + uvicorn, 2 worker processes, one route, no auth (serving_peers/).
  (e) bentoml  a BentoML service with 2 workers, in its own venv (bench/.venvs/bentoml).
  (f) mlflow   ``mlflow models serve -w 2`` of the model saved with mlflow.xgboost, in its own
               venv (bench/.venvs/mlflow).  MLflow reads CSV with pandas.read_csv, so its
               requests carry a header line (f0,...,f4999) before the same row.

The load comes from a separate process (serving_peers/loadgen.py: asyncio + uvloop, raw HTTP/1.1
on keep-alive connections); its CPU use is printed with the server processes' and the rest of
the machine's.  All peers run with OMP_NUM_THREADS=1 (one thread per model process).

Also measured: CreateEndpoint -> InService (polling DescribeEndpoint every 10 ms), over
``--deploy-trials`` endpoints.  Targets: InService <= 2 s; cove's p50 at c=1 within 1 ms of
the direct-to-worker p50; cove >= 4x BentoML's req/s; cove >= 0.7x the bare 2-worker app's
req/s at c=64.

    .venv/bin/python bench/serving.py                 # full run (~10 min + first-time installs)
    .venv/bin/python bench/serving.py --seconds 5     # quick
    .venv/bin/python bench/serving.py --only cove --only worker --only limit

Options: ``--seconds S``, ``--warmup S``, ``--concurrency 1,8,64``, ``--only PEER`` (repeatable:
limit, cove, worker, bare, bentoml, mlflow), ``--instances N`` (cove's InitialInstanceCount,
default 2: the peers' worker count), ``--deploy-trials N``, ``--signer {fast,botocore}``,
``--rounds N``, ``--quiet PCT`` / ``--retries N`` / ``--quiet-budget S`` (on a shared machine:
wait for other processes to go quiet, and measure a point again when they used more than PCT %
of a core during it; such points are starred), ``--reinstall`` (recreate the peers' venvs),
``--keep`` (keep the temp directory with cove's home and every server's log), ``--json FILE``
(the results, machine readable).

BentoML and MLflow are installed with pip from PyPI (plus ``xgboost-cpu``, never ``xgboost``)
into bench/.venvs/<name>/ the first time; a peer whose install fails is skipped with the
reason.  Every process started here is stopped on exit, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
PEERS_DIR = HERE / "serving_peers"
VENVS = HERE / ".venvs"
IMDB = Path("/work/shared/data/imdb_sample_5k.csv")
XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::123456789012:role/CoveExecutionRole"
REGION = "us-east-1"
PARAMS = {"objective": "binary:logistic", "max_depth": 5, "eta": 0.2, "gamma": 4,
          "min_child_weight": 6, "subsample": 0.8, "seed": 0}
PEER_NAMES = ("limit", "cove", "worker", "bare", "bentoml", "mlflow")
VENV_PACKAGES = {"bentoml": ["bentoml", "xgboost-cpu"], "mlflow": ["mlflow", "xgboost-cpu"]}
CLK_TCK = os.sysconf("SC_CLK_TCK")


class PeerFailed(Exception):
    """A peer could not be set up or measured; its row says why."""


# --- processes --------------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # fields from 3 (state) on


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cpu_of(pids: Iterable[int]) -> float:
    """User + system CPU seconds of these processes (all their threads)."""
    total = 0
    for pid in pids:
        fields = _stat(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def machine_busy() -> float:
    """CPU seconds spent busy on the whole machine since boot (all cores)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / CLK_TCK


class Processes:
    """Every process this benchmark starts, and their children: stopped on the way out."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], env: dict[str, str], log: Path, cwd: Path | None = None,
              **kwargs: Any) -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=kwargs.pop("stdout", out),
                                    stderr=kwargs.pop("stderr", out), start_new_session=True,
                                    **kwargs)
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 15.0) -> None:
        tree = descendants(proc.pid) if proc.poll() is None else []
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        deadline = time.monotonic() + 5
        for signum in (signal.SIGTERM, signal.SIGKILL):
            alive = [pid for pid in tree if _stat(pid) is not None]
            for pid in alive:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signum)
            while alive and time.monotonic() < deadline:
                time.sleep(0.05)
                alive = [pid for pid in alive if _stat(pid) is not None]
            if not alive:
                break
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.procs)):
            try:
                self.stop(proc, grace=10.0)
            except Exception as exc:  # noqa: BLE001 - keep stopping the others
                print(f"could not stop pid {proc.pid}: {exc}", file=sys.stderr)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise PeerFailed(f"exited with code {proc.returncode}: {tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except (OSError, urllib.error.HTTPError):
            pass
        time.sleep(0.1)
    raise PeerFailed(f"not ready within {timeout:.0f} s: {tail(log)}")


def tail(path: Path, lines: int = 6) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(line.strip() for line in text[-lines:])


# --- the model and the request ----------------------------------------------------------------


@dataclass
class Model:
    booster: Any
    file: Path  # xgboost-model (UBJSON)
    body: bytes  # the request: one CSV row of 5,000 integers
    expected: float  # booster.predict of that row
    description: str


def train(rounds: int, tmp: Path) -> Model:
    import xgboost
    from sklearn.feature_extraction.text import CountVectorizer

    started = time.perf_counter()
    if IMDB.exists():
        with IMDB.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        counts = CountVectorizer(max_features=5000).fit_transform(r["review"] for r in rows)
        labels = np.array([r["sentiment"] == "positive" for r in rows], dtype=np.float64)
        source = f"{IMDB.name} ({len(rows)} reviews)"
    else:
        rng = np.random.default_rng(0)
        dense = (rng.random((3000, 5000)) < 0.02) * rng.integers(1, 4, (3000, 5000))
        from scipy import sparse
        counts = sparse.csr_matrix(dense.astype(np.float64))
        labels = (dense[:, :50].sum(1) > dense[:, 50:100].sum(1)) * 1.0
        source = f"synthetic counts ({IMDB} is absent)"
    booster = xgboost.train({**PARAMS, "nthread": os.cpu_count() or 1},
                            xgboost.DMatrix(counts, label=labels), rounds)
    booster.set_param("nthread", "1")
    # the request: a typical review (the median number of distinct words)
    nonzero = np.diff(counts.indptr)
    index = int(np.argsort(nonzero)[len(nonzero) // 2])
    row = counts[index].toarray()[0]
    body = ",".join(str(int(v)) for v in row).encode()
    model_dir = tmp / "model"
    model_dir.mkdir()
    path = model_dir / "xgboost-model"
    path.write_bytes(bytes(booster.save_raw(raw_format="ubj")))
    expected = float(booster.predict(xgboost.DMatrix(row.reshape(1, -1).astype(np.float64)))[0])
    description = (f"{source}: CountVectorizer(max_features=5000), binary:logistic, "
                   f"{booster.num_boosted_rounds()} rounds, trained in "
                   f"{time.perf_counter() - started:.1f} s; request: one review, "
                   f"{len(body):,} bytes, {int((row > 0).sum())} non-zero of {row.size} counts; "
                   f"expected prediction {expected:.6f}")
    return Model(booster, path, body, expected, description)


def check_answer(text: str, expected: float) -> None:
    import re

    numbers = [float(n) for n in re.findall(r"[-+]?\d*\.\d+(?:[eE][-+]?\d+)?", text)]
    if not any(abs(n - expected) < 1e-4 for n in numbers):
        raise PeerFailed(f"wrong answer {text[:200]!r} (expected {expected:.6f})")


# --- results ----------------------------------------------------------------------------------


@dataclass
class Point:
    """One peer at one concurrency."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int = 0
    p90_ms: float = 0.0
    mean_ms: float = 0.0
    max_ms: float = 0.0
    errors: int = 0
    loadgen_cpu: float = 0.0  # % of one core
    server_cpu: float = 0.0  # % of one core, all the peer's processes
    other_cpu: float = 0.0  # % of one core, everything else on the machine
    server_us_per_request: float = 0.0
    split: dict[str, float] = field(default_factory=dict)  # e.g. cove edge/worker µs per request
    first_error: str = ""


@dataclass
class Row:
    key: str
    label: str
    points: dict[int, Point] = field(default_factory=dict)
    skipped: str = ""
    note: str = ""


# --- the load generator -----------------------------------------------------------------------


def run_load(procs: Processes, tmp: Path, config: dict[str, Any],
             groups: Callable[[], dict[str, list[int]]]) -> Point:
    """One closed-loop run in a separate process; server CPU sampled over its window.

    ``groups()`` names the server's processes (e.g. {"edge": [pid], "worker": [pids]})."""
    log = tmp / "loadgen.log"
    proc = procs.start([sys.executable, str(PEERS_DIR / "loadgen.py")], dict(os.environ), log,
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(config).encode())
    proc.stdin.close()
    before: dict[str, float] = {}
    members: dict[str, list[int]] = {}
    result: dict[str, Any] | None = None
    for raw in proc.stdout:
        line = raw.decode().strip()
        if line == "go":
            members = groups()
            before = {name: cpu_of(pids) for name, pids in members.items()}
            before["loadgen"], before["machine"] = cpu_of([proc.pid]), machine_busy()
            started = time.perf_counter()
        elif line == "done":
            wall = time.perf_counter() - started
            after = {name: cpu_of(pids) for name, pids in members.items()}
            after["loadgen"], after["machine"] = cpu_of([proc.pid]), machine_busy()
        elif line.startswith("{"):
            result = json.loads(line)
    proc.wait()
    procs.stop(proc)
    if result is None or not before:
        raise PeerFailed(f"the load generator failed: {tail(log)}")
    used = {name: after[name] - before[name] for name in before}
    server = sum(used[name] for name in members)
    count = max(1, result["requests"])
    point = Point(result["rps"], result["p50_ms"], result["p99_ms"], result["requests"],
                  errors=result["errors"], p90_ms=result["p90_ms"], mean_ms=result["mean_ms"],
                  max_ms=result["max_ms"], loadgen_cpu=100 * used["loadgen"] / wall,
                  server_cpu=100 * server / wall,
                  other_cpu=100 * max(0.0, used["machine"] - server - used["loadgen"]) / wall,
                  server_us_per_request=1e6 * server / count,
                  split={name: 1e6 * used[name] / count for name in members},
                  first_error=result["first_error"])
    if not result["first_body"]:
        raise PeerFailed(f"no request succeeded: {result['first_error'] or tail(log)}")
    check_answer(result["first_body"], config["expected"])
    if result["requests"] == 0:  # every response took longer than the window: no figures
        point.p50_ms = point.p99_ms = math.inf
    return point


def measure_http(row: Row, procs: Processes, tmp: Path, args: argparse.Namespace,
                 base: dict[str, Any], groups: Callable[[], dict[str, list[int]]]) -> None:
    for concurrency in args.concurrency:
        config = {**base, "concurrency": concurrency, "seconds": args.seconds,
                  "warmup": args.warmup}
        point = measured(args, partial(run_load, procs, tmp, config, groups),
                         f"{row.key} c={concurrency}")
        row.points[concurrency] = point
        print(f"  {row.key:<8} c={concurrency:<3} {point.rps:8.0f} req/s  p50 "
              f"{point.p50_ms:7.2f} ms  p99 {point.p99_ms:7.2f} ms  errors {point.errors}  "
              f"(load generator {point.loadgen_cpu:.0f}% of a core, server "
              f"{point.server_cpu:.0f}%, other {point.other_cpu:.0f}%)", flush=True)


class Quiet:
    """This machine may be shared: wait for other processes to go quiet before a point, and
    measure a point again when something else used more than ``limit`` % of a core during it.
    The waiting has a budget for the whole run, so a machine that never quiets down still
    gets measured (and such points are flagged)."""

    def __init__(self, limit: float, budget: float) -> None:
        self.limit, self.budget = limit, budget

    def wait(self) -> None:
        if self.limit <= 0:
            return
        announced = False
        while self.budget > 0:
            before, started = machine_busy(), time.monotonic()
            time.sleep(1.0)
            elapsed = time.monotonic() - started
            busy = 100 * (machine_busy() - before) / elapsed
            if busy <= self.limit:
                return
            self.budget -= elapsed
            if not announced:
                print(f"    (other processes use {busy:.0f}% of a core: waiting for quiet, "
                      f"{self.budget:.0f} s of waiting left)", flush=True)
                announced = True


QUIET = Quiet(0, 0)


def measured(args: argparse.Namespace, run: Callable[[], Point], what: str) -> Point:
    """``run()`` after the machine is quiet; again (up to --retries times) if it was not."""
    best: Point | None = None
    for attempt in range(1 + args.retries):
        QUIET.wait()
        point = run()
        if best is None or point.other_cpu < best.other_cpu:
            best = point
        if (args.quiet <= 0 or point.other_cpu <= args.quiet or attempt == args.retries
                or QUIET.budget <= 0):
            break
        print(f"    {what}: other processes used {point.other_cpu:.0f}% of a core during "
              f"the run ({point.rps:.0f} req/s); measuring again", flush=True)
    assert best is not None
    return best


def tree_groups(pid: int) -> Callable[[], dict[str, list[int]]]:
    return lambda: {"server": [pid, *descendants(pid)]}


# --- (a) the limit ----------------------------------------------------------------------------


def measure_limit(model: Model, args: argparse.Namespace) -> list[Row]:
    sys.path.insert(0, str(PEERS_DIR))
    import common

    from cove.serving._media import parse_csv
    from cove.serving._xgboost import dense_predictor

    model.booster.set_param("nthread", "1")
    direct = dense_predictor(model.booster)
    body, booster = model.body, model.booster
    rows = []
    calls: list[tuple[str, str, Callable[[], Any]]] = [
        ("limit", "(a) limit: in-process, 1 core", lambda: direct(parse_csv(body))),
        ("limit-public", "    same, public inplace_predict",
         lambda: common.predict(booster, common.decode(body)))]
    for key, label, call in calls:
        check_answer(str(float(call()[0])) + ".0", model.expected)
        point = measured(args, partial(in_process, call, args), key)
        row = Row(key, label, {c: point for c in args.concurrency})
        print(f"  {key:<12} {point.rps:8.0f} /s  p50 {point.p50_ms:6.3f} ms  "
              f"p99 {point.p99_ms:6.3f} ms", flush=True)
        rows.append(row)
    return rows


def in_process(call: Callable[[], object], args: argparse.Namespace) -> Point:
    busy, cpu = machine_busy(), time.process_time()
    started = time.perf_counter()
    point = point_of(timed_loop(call, args.seconds, args.warmup))
    wall = time.perf_counter() - started
    point.other_cpu = 100 * max(0.0, machine_busy() - busy - (time.process_time() - cpu)) / wall
    return point


def timed_loop(call: Callable[[], object], seconds: float, warmup: float) -> list[float]:
    clock = time.perf_counter
    end = clock() + warmup
    while clock() < end:
        call()
    latencies = []
    started = clock()
    end = started + seconds
    now = started
    while now < end:
        call()
        later = clock()
        latencies.append(later - now)
        now = later
    return latencies


def point_of(latencies: list[float]) -> Point:
    ordered = sorted(latencies)
    count = len(ordered)
    return Point(count / sum(ordered), ordered[count // 2] * 1000,
                 ordered[min(count - 1, int(0.99 * count))] * 1000, count,
                 p90_ms=ordered[int(0.9 * count)] * 1000, mean_ms=1000 * sum(ordered) / count,
                 max_ms=ordered[-1] * 1000, server_cpu=100.0,
                 server_us_per_request=1e6 * sum(ordered) / count)


# --- (b), (c) cove ----------------------------------------------------------------------------


@dataclass
class Cove:
    proc: subprocess.Popen[bytes]
    home: Path
    url: str
    credentials: dict[str, str]

    def client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            service, endpoint_url=self.url, region_name=REGION,
            aws_access_key_id=self.credentials["access_key_id"],
            aws_secret_access_key=self.credentials["secret_access_key"],
            config=Config(s3={"addressing_style": "path"},
                          retries={"max_attempts": 1, "mode": "standard"}))


def start_cove(procs: Processes, tmp: Path) -> Cove:
    home = tmp / "cove-home"
    home.mkdir()
    log = tmp / "cove.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "COVE_"))}
    proc = procs.start([sys.executable, "-m", "cove", "up", "--port", "0"],
                       {**env, "COVE_HOME": str(home)}, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise PeerFailed(f"cove exited: {tail(log)}")
        try:
            record = json.loads((home / "server.json").read_text())
            if record["pid"] == proc.pid:
                wait_http(record["url"] + "/_cove/health", proc, log, 30)
                return Cove(proc, home, record["url"],
                            json.loads((home / "credentials.json").read_text()))
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    raise PeerFailed(f"cove did not start: {tail(log)}")


def model_tar(model: Model) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(model.file, arcname="xgboost-model")
    return buffer.getvalue()


def deploy(cove: Cove, model: Model, args: argparse.Namespace) -> tuple[str, list[float]]:
    """CreateModel once, then CreateEndpoint -> InService ``deploy_trials`` times; the last
    endpoint stays up.  Returns its name and the times."""
    s3, sm = cove.client("s3"), cove.client("sagemaker")
    s3.create_bucket(Bucket="bench")
    s3.put_object(Bucket="bench", Key="imdb/model.tar.gz", Body=model_tar(model))
    sm.create_model(ModelName="imdb-xgboost", ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": XGB_IMAGE, "ModelDataUrl": "s3://bench/imdb/model.tar.gz"})
    times, name = [], ""
    for trial in range(args.deploy_trials):
        config, name = f"imdb-config-{trial}", f"imdb-{trial}"
        sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": "imdb-xgboost",
            "InitialInstanceCount": args.instances, "InstanceType": "ml.m5.large"}])
        started = time.perf_counter()
        sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
        while True:
            description = sm.describe_endpoint(EndpointName=name)
            if description["EndpointStatus"] != "Creating":
                break
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
        if description["EndpointStatus"] != "InService":
            raise PeerFailed(f"endpoint {name} is {description['EndpointStatus']}: "
                             f"{description.get('FailureReason')}")
        times.append(elapsed)
        print(f"  CreateEndpoint -> InService: {elapsed:.2f} s", flush=True)
        if trial < args.deploy_trials - 1:
            sm.delete_endpoint(EndpointName=name)
            sm.get_waiter("endpoint_deleted").wait(
                EndpointName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
    reply = cove.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=name, ContentType="text/csv", Accept="text/csv", Body=model.body)
    check_answer(reply["Body"].read().decode(), model.expected)
    return name, times


def worker_socket(cove: Cove, endpoint: str) -> Path:
    # cove binds each worker's socket in a directory the worker does not see (sockets/)
    found = sorted((cove.home / "endpoints" / endpoint).glob("*/*/sockets/worker-0.sock"))
    if not found:
        raise PeerFailed(f"no worker socket under {cove.home / 'endpoints' / endpoint}")
    return found[0]


def cove_groups(cove: Cove) -> Callable[[], dict[str, list[int]]]:
    return lambda: {"edge": [cove.proc.pid], "worker": descendants(cove.proc.pid)}


# --- (d), (e), (f) the peers ------------------------------------------------------------------


def peer_env(extra: dict[str, str], venv: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME") and not k.startswith("PIP_")}
    if venv is not None:
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(venv)
    return {**env, "OMP_NUM_THREADS": "1", **extra}


def ensure_venv(name: str, reinstall: bool, tmp: Path) -> Path:
    """bench/.venvs/<name> with VENV_PACKAGES[name]: created and pip-installed if needed."""
    venv = VENVS / name
    packages = VENV_PACKAGES[name]
    marker = venv / ".bench-installed"
    python = venv / "bin" / "python"
    if not reinstall and marker.exists() and marker.read_text() == " ".join(packages) \
            and python.exists():
        return venv
    VENVS.mkdir(exist_ok=True)
    (VENVS / ".gitignore").write_text("*\n")
    log = tmp / f"install-{name}.log"
    print(f"  installing {' '.join(packages)} into {venv} (log: {log}) ...", flush=True)
    started = time.perf_counter()
    env = peer_env({})
    with open(log, "ab") as out:
        steps = [[sys.executable, "-m", "venv", "--clear", str(venv)],
                 [str(python), "-m", "pip", "install", "--disable-pip-version-check",
                  "--no-input", *packages]]
        for step in steps:
            try:
                code = subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, env=env,
                                      timeout=1800).returncode
            except subprocess.TimeoutExpired:
                code = -1
            if code != 0:
                raise PeerFailed(f"`{' '.join(step[-len(packages) - 2:])}` failed (exit {code}; "
                                 f"no network?): {tail(log, 3)}")
    marker.write_text(" ".join(packages))
    print(f"  installed in {time.perf_counter() - started:.0f} s", flush=True)
    return venv


def version_in(venv: Path, package: str) -> str:
    out = subprocess.run([str(venv / "bin" / "python"), "-c",
                          f"import importlib.metadata as m; print(m.version({package!r}))"],
                         capture_output=True, text=True, env=peer_env({}, venv))
    return out.stdout.strip() or "?"


def start_bare(procs: Processes, tmp: Path, model: Model) -> tuple[subprocess.Popen[bytes], int]:
    port, log = free_port(), tmp / "bare.log"
    proc = procs.start([sys.executable, "-m", "uvicorn", "--app-dir", str(PEERS_DIR),
                        "bare_app:app", "--host", "127.0.0.1", "--port", str(port),
                        "--workers", "2", "--no-access-log", "--log-level", "warning",
                        "--loop", "uvloop", "--http", "httptools"],
                       peer_env({"BENCH_MODEL": str(model.file)}), log)
    wait_http(f"http://127.0.0.1:{port}/ping", proc, log, 60)
    return proc, port


def start_bentoml(procs: Processes, tmp: Path, model: Model,
                  venv: Path) -> tuple[subprocess.Popen[bytes], int]:
    port, log = free_port(), tmp / "bentoml.log"
    env = peer_env({"BENCH_MODEL": str(model.file), "BENTOML_HOME": str(tmp / "bentoml-home"),
                    "BENTOML_DO_NOT_TRACK": "True", "DO_NOT_TRACK": "1"}, venv)
    proc = procs.start([str(venv / "bin" / "bentoml"), "serve", "bento_service:Sentiment",
                        "--working-dir", str(PEERS_DIR), "--host", "127.0.0.1",
                        "--port", str(port)], env, log, cwd=PEERS_DIR)
    wait_http(f"http://127.0.0.1:{port}/readyz", proc, log)
    return proc, port


def start_mlflow(procs: Processes, tmp: Path, model: Model,
                 venv: Path) -> tuple[subprocess.Popen[bytes], int]:
    port, log = free_port(), tmp / "mlflow.log"
    env = peer_env({"MLFLOW_TRACKING_URI": (tmp / "mlruns").as_uri(),
                    "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}, venv)
    saved = tmp / "mlflow-model"
    out = subprocess.run([str(venv / "bin" / "python"), str(PEERS_DIR / "mlflow_save.py"),
                          str(model.file), str(saved)], capture_output=True, text=True, env=env,
                         timeout=300)
    if out.returncode != 0:
        raise PeerFailed(f"saving the MLflow model failed: {out.stderr.strip()[-400:]}")
    proc = procs.start([str(venv / "bin" / "mlflow"), "models", "serve", "-m", str(saved),
                        "-h", "127.0.0.1", "-p", str(port), "--env-manager", "local",
                        "-w", "2"], env, log)
    wait_http(f"http://127.0.0.1:{port}/ping", proc, log)
    return proc, port


def measure_server(row: Row, procs: Processes, tmp: Path, args: argparse.Namespace,
                   model: Model, body_file: Path,
                   start: Callable[[], tuple[subprocess.Popen[bytes], int]]) -> None:
    """Start a peer's server, load it at each concurrency, stop it (also when it fails)."""
    proc = None
    try:
        proc, port = start()
        measure_http(row, procs, tmp, args, http_config(port, "/invocations", body_file, model),
                     tree_groups(proc.pid))
    except PeerFailed as exc:
        row.skipped = str(exc)
        print(f"  {row.key}: {exc}", flush=True)
    finally:
        if proc is not None:
            procs.stop(proc)


def http_config(port: int, path: str, body_file: Path, model: Model) -> dict[str, Any]:
    return {"target": {"tcp": ["127.0.0.1", port]}, "host": f"127.0.0.1:{port}", "path": path,
            "headers": {"content-type": "text/csv", "accept": "text/csv"},
            "body_file": str(body_file), "expected": model.expected}


# --- the report -------------------------------------------------------------------------------


def fmt(value: float, width: int) -> str:
    if math.isinf(value):
        return f"{'n/a':>{width}}"
    if value >= 100:
        return f"{value:{width}.0f}"
    if value >= 10:
        return f"{value:{width}.1f}"
    return f"{value:{width}.2f}"


def print_table(rows: list[Row], concurrency: list[int]) -> None:
    width = 36
    header = f"{'':<{width}}" + "".join(f"{'c=' + str(c):^26}" for c in concurrency)
    sub = f"{'peer':<{width}}" + "".join(f"{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}  "
                                         for _ in concurrency)
    flagged = False
    print(header)
    print(sub)
    print("-" * len(sub))
    for row in rows:
        if row.skipped:
            print(f"{row.label:<{width}}skipped: {row.skipped}")
            continue
        cells = []
        for c in concurrency:
            point = row.points.get(c)
            flag = "*" if point is not None and 0 < QUIET.limit < point.other_cpu else " "
            cells.append("".ljust(26) if point is None else
                         f"{point.rps:8.0f}{fmt(point.p50_ms, 8)}{fmt(point.p99_ms, 8)}{flag} ")
            flagged = flagged or flag == "*"
        print(f"{row.label:<{width}}" + "".join(cells))
    if flagged:
        print(f"* other processes on this machine used more than {QUIET.limit:g}% of a core "
              f"during that point (see 'everything else' below): it is disturbed")
    print()
    print("CPU during each run, % of one core (2 cores = 200%): load generator / server "
          "processes / everything else; server CPU µs per request")
    print(f"{'peer':<{width}}" + "".join(f"{'c=' + str(c):^26}" for c in concurrency))
    for row in rows:
        if row.skipped or row.key.startswith("limit"):
            continue
        cells = []
        for c in concurrency:
            p = row.points.get(c)
            cells.append("".ljust(26) if p is None else
                         f"{p.loadgen_cpu:4.0f}/{p.server_cpu:4.0f}/{p.other_cpu:3.0f}%"
                         f"{per_request(p.server_us_per_request)}  ")
        print(f"{row.label:<{width}}" + "".join(cells))
        if row.key == "cove":
            cells = [f"{'edge ' + format(p.split.get('edge', 0), '.0f') + ' + worker ' + format(p.split.get('worker', 0), '.0f') + ' µs':>24}  "  # noqa: E501
                     if (p := row.points.get(c)) else "".ljust(26) for c in concurrency]
            print(f"{'    of which':<{width}}" + "".join(cells))
    errors = [(row.label.strip(), c, p) for row in rows for c, p in row.points.items()
              if p.errors]
    for label, c, p in errors:
        print(f"errors: {label} c={c}: {p.errors} ({p.first_error[:200]})")


def per_request(us: float) -> str:
    return f"{us:7.0f} µs" if us < 1e5 else f"{us / 1000:7.0f} ms"


def ratio(a: Row | None, b: Row | None, c: int) -> float | None:
    if a is None or b is None or c not in a.points or c not in b.points or not b.points[c].rps:
        return None
    return a.points[c].rps / b.points[c].rps


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def print_summary(rows: dict[str, Row], deploy_times: list[float],
                  concurrency: list[int]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    print()
    if deploy_times:
        worst = max(deploy_times)
        print(f"CreateEndpoint -> InService: "
              f"{', '.join(f'{t:.2f}' for t in deploy_times)} s "
              f"(median {statistics.median(deploy_times):.2f} s; target <= 2 s for every "
              f"endpoint: {verdict(worst <= 2.0)})")
        summary["deploy_seconds"] = deploy_times
    cove, worker = rows.get("cove"), rows.get("worker")
    if cove and worker and 1 in cove.points and 1 in worker.points:
        gap = cove.points[1].p50_ms - worker.points[1].p50_ms
        print(f"p50 at c=1: cove {cove.points[1].p50_ms:.3f} ms vs direct-to-worker "
              f"{worker.points[1].p50_ms:.3f} ms: +{gap:.3f} ms (target <= 1 ms: "
              f"{verdict(gap <= 1.0)})")
        summary["edge_p50_gap_ms"] = gap
    bento = rows.get("bentoml")
    ratios = {c: ratio(cove, bento, c) for c in concurrency}
    if any(r is not None for r in ratios.values()):
        print("cove / BentoML req/s: " + ", ".join(
            f"c={c} {r:.2f}x" for c, r in ratios.items() if r is not None)
            + f" (target >= 4x: {verdict(all(r >= 4 for r in ratios.values() if r))})")
        summary["cove_over_bentoml"] = ratios
        # On a shared machine req/s follow the neighbours' bursts; CPU per request does not.
        cpu = {c: bento.points[c].server_us_per_request / cove.points[c].server_us_per_request
               for c in concurrency if cove and bento and c in cove.points and c in bento.points
               and cove.points[c].server_us_per_request}
        print("BentoML / cove server CPU per request: " + ", ".join(
            f"c={c} {r:.2f}x" for c, r in cpu.items()) + " (requests per core-second: what "
            "other processes on the machine do not move)")
        summary["bentoml_over_cove_cpu"] = cpu
    bare = rows.get("bare")
    top = max(concurrency)
    r = ratio(cove, bare, top)
    if r is not None:
        print(f"cove / bare 2-worker Starlette req/s at c={top}: {r:.2f}x "
              f"(target >= 0.7x: {verdict(r >= 0.7)})")
        summary["cove_over_bare"] = r
    limit = rows.get("limit")
    if limit and cove:
        print("cove / limit req/s: " + ", ".join(
            f"c={c} {ratio(cove, limit, c):.2f}x" for c in concurrency
            if ratio(cove, limit, c) is not None))
    mlflow = rows.get("mlflow")
    ratios = {c: ratio(cove, mlflow, c) for c in concurrency}
    if any(r is not None for r in ratios.values()):
        print("cove / MLflow req/s: " + ", ".join(
            f"c={c} {r:.2f}x" for c, r in ratios.items() if r is not None))
    return summary


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="measured seconds per peer and concurrency (default 20)")
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="unmeasured seconds before each run (default 2)")
    parser.add_argument("--concurrency", default="1,8,64",
                        type=lambda s: [int(c) for c in s.split(",")])
    parser.add_argument("--only", action="append", choices=PEER_NAMES,
                        help="measure only these (repeatable)")
    # 2, like every peer's worker count: the comparison is process for process.
    parser.add_argument("--instances", type=int, default=2,
                        help="cove's InitialInstanceCount (worker processes; default 2)")
    parser.add_argument("--deploy-trials", type=int, default=3)
    parser.add_argument("--signer", choices=("fast", "botocore"), default="fast",
                        help="SigV4 per request: fast (verified equal to botocore's) or "
                             "botocore's SigV4Auth itself")
    parser.add_argument("--quiet", type=float, default=25.0,
                        help="%% of a core other processes may use during a point before it "
                             "is measured again (0: never wait or retry; default 25)")
    parser.add_argument("--retries", type=int, default=2,
                        help="times a point disturbed by other processes is measured again")
    parser.add_argument("--quiet-budget", type=float, default=900.0,
                        help="seconds to wait in all for other processes to quiet down")
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--reinstall", action="store_true")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    global QUIET
    QUIET = Quiet(args.quiet, args.quiet_budget)
    wanted = args.only or list(PEER_NAMES)
    procs = Processes()

    def on_term(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    # Ctrl-C even when started from a shell that ignores SIGINT for background jobs
    signal.signal(signal.SIGINT, signal.default_int_handler)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-serving-", dir=HERE))
    try:
        return run(args, wanted, procs, tmp)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        procs.stop_all()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace, wanted: list[str], procs: Processes, tmp: Path) -> int:
    print(f"serving benchmark: {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f} at start, {args.seconds:g} s per point after "
          f"{args.warmup:g} s warm-up; temp dir {tmp}", flush=True)
    venvs: dict[str, Path | str] = {}
    for name in ("bentoml", "mlflow"):
        if name in wanted:
            try:
                venvs[name] = ensure_venv(name, args.reinstall, tmp)
            except PeerFailed as exc:
                venvs[name] = str(exc)
                print(f"  {name}: skipped: {exc}", flush=True)
    model = train(args.rounds, tmp)
    print(f"model: {model.description}", flush=True)
    body_file = tmp / "body.csv"
    body_file.write_bytes(model.body)
    rows: dict[str, Row] = {}
    deploy_times: list[float] = []

    if "limit" in wanted:
        for row in measure_limit(model, args):
            rows[row.key] = row

    if "cove" in wanted or "worker" in wanted:
        cove_row = Row("cove", f"(b) cove edge, SigV4, {args.instances} worker"
                               f"{'s' if args.instances > 1 else ''}")
        worker_row = Row("worker", "(c) cove worker, direct Unix socket")
        cove: Cove | None = None
        try:
            cove = start_cove(procs, tmp)
            endpoint, deploy_times = deploy(cove, model, args)
            if "cove" in wanted:
                host, port = cove.url.split("//")[1].split(":")
                config = http_config(int(port), f"/endpoints/{endpoint}/invocations", body_file,
                                     model)
                config["target"] = {"tcp": [host, int(port)]}
                config["host"] = f"{host}:{port}"
                config["sign"] = {"access_key": cove.credentials["access_key_id"],
                                  "secret_key": cove.credentials["secret_access_key"],
                                  "region": REGION, "service": "sagemaker",
                                  "signer": args.signer}
                measure_http(cove_row, procs, tmp, args, config, cove_groups(cove))
            if "worker" in wanted:
                path = worker_socket(cove, endpoint)
                config = {"target": {"unix": str(path)}, "host": "worker",
                          "path": "/invocations",
                          "headers": {"content-type": "text/csv", "accept": "text/csv"},
                          "body_file": str(body_file), "expected": model.expected}
                measure_http(worker_row, procs, tmp, args, config, cove_groups(cove))
        except PeerFailed as exc:
            for row in (cove_row, worker_row):
                row.skipped = row.skipped or (str(exc) if not row.points else "")
            print(f"  cove: {exc}", flush=True)
        finally:
            if cove is not None:
                procs.stop(cove.proc)
        for row in (cove_row, worker_row):
            if row.key in wanted:
                rows[row.key] = row

    if "bare" in wanted:
        rows["bare"] = Row("bare", "(d) bare Starlette+uvicorn, 2 workers")
        measure_server(rows["bare"], procs, tmp, args, model, body_file,
                       lambda: start_bare(procs, tmp, model))
    for name, label in (("bentoml", "(e) BentoML {}, 2 workers"),
                        ("mlflow", "(f) mlflow {} serve, 2 workers")):
        if name not in wanted:
            continue
        venv = venvs[name]
        row = rows[name] = Row(name, label.format("").replace("  ", " "))
        if isinstance(venv, str):
            row.skipped = venv
            continue
        row.label = label.format(version_in(venv, name))
        if name == "bentoml":
            measure_server(row, procs, tmp, args, model, body_file,
                           partial(start_bentoml, procs, tmp, model, venv))
        else:
            header = ",".join(f"f{i}" for i in range(model.booster.num_features()))
            mlflow_body = tmp / "body-mlflow.csv"  # pandas.read_csv wants a header line
            mlflow_body.write_bytes(header.encode() + b"\n" + model.body)
            measure_server(row, procs, tmp, args, model, mlflow_body,
                           partial(start_mlflow, procs, tmp, model, venv))

    order = ["limit", "limit-public", "cove", "worker", "bare", "bentoml", "mlflow"]
    print()
    print(f"model: {model.description}")
    print(f"{os.cpu_count()} CPUs; {args.seconds:g} s per point; closed loop, keep-alive; "
          f"load average {os.getloadavg()[0]:.2f} at the end")
    print()
    print_table([rows[k] for k in order if k in rows], args.concurrency)
    summary = print_summary(rows, deploy_times, args.concurrency)
    if args.json:
        args.json.write_text(json.dumps({
            "model": model.description, "summary": summary,
            "rows": {k: {"label": r.label, "skipped": r.skipped,
                         "points": {c: vars(p) for c, p in r.points.items()}}
                     for k, r in rows.items()}}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
