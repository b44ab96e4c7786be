"""Training, tuning, hosting and batch transform flows on both executors: the same requests,
the same outcomes, whether the work runs here or on a (loopback) Ray cluster; plus what only
Ray has: placement by resources, a 2-host job spread over nodes, the node named when a host is
lost, loopback-only sockets, a restart of cove."""

from __future__ import annotations

import io
import json
import os
import signal
import tarfile
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import CoveServer, RayCluster
from tests.training.helpers import log_lines, script_job, unique, upload_source, wait, wait_for
from tests.tuning.helpers import config, definition, source, training_jobs, wait_tuning

pytestmark = pytest.mark.xdist_group("ray")  # one Ray cluster per run, on one test worker

TRAIN = """
import json, os, sys
rows = sum(len(open(os.path.join(d, f)).read().splitlines())
           for d, _, fs in os.walk(os.environ["SM_CHANNEL_TRAIN"]) for f in fs)
print("rows", rows, "cpus", os.environ["SM_NUM_CPUS"], flush=True)
print("to stderr", file=sys.stderr, flush=True)
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w") as f:
    json.dump({"rows": rows, "host": os.environ["SM_CURRENT_HOST"],
               "hosts": json.loads(os.environ["SM_HOSTS"])}, f)
"""

SLOW = """
import os, signal, sys, time
def term(*_):
    open(os.path.join(os.environ["SM_MODEL_DIR"], "partial.txt"), "w").write("saved")
    sys.exit(0)
signal.signal(signal.SIGTERM, term)
print("started", flush=True)
time.sleep(300)
"""


@pytest.fixture(scope="module", params=["local", "ray"])
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoveServer]:
    env = {"COVE_EXECUTOR": request.param, "COVE_STOP_GRACE_SECONDS": "5"}
    if request.param == "ray":
        env["COVE_RAY_ADDRESS"] = request.getfixturevalue("ray_cluster").address
    cove = CoveServer(tmp_path_factory.mktemp(f"cove-{request.param}"), env).start(60)
    yield cove
    cove.stop()


@pytest.fixture
def s3(server: CoveServer) -> Any:
    return server.client("s3")


@pytest.fixture
def sm(server: CoveServer) -> Any:
    return server.client("sagemaker")


@pytest.fixture
def logs(server: CoveServer) -> Any:
    return server.client("logs")


@pytest.fixture
def bucket(s3: Any) -> str:
    name = unique("exec")
    s3.create_bucket(Bucket=name)
    return name


def _executor(server: CoveServer) -> str:
    return server.extra_env["COVE_EXECUTOR"]


def _model(s3: Any, describe: dict[str, Any], member: str = "model.json") -> bytes:
    bucket, key = describe["ModelArtifacts"]["S3ModelArtifacts"][5:].split("/", 1)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        extracted = tar.extractfile(member)
        assert extracted is not None
        return extracted.read()


def _nodes(server: CoveServer) -> list[dict[str, Any]]:
    from cove.cli._client import cove_call

    nodes: list[dict[str, Any]] = cove_call("DescribeExecutor", server.home)["nodes"]
    return nodes


def _start(sm: Any, s3: Any, bucket: str, script: str, **extra: Any) -> str:
    s3.put_object(Bucket=bucket, Key="data/train/a.csv", Body=b"1,2\n3,4\n")
    s3.put_object(Bucket=bucket, Key="data/train/sub/b.csv", Body=b"5,6\n")
    name = unique("job")
    sm.create_training_job(**script_job(
        name, bucket, upload_source(s3, bucket, {"train.py": script}),
        channels={"train": f"s3://{bucket}/data/train"}, **extra))
    return name


def test_script_job_fetches_channels_uploads_the_model_and_streams_logs(
        server: CoveServer, s3: Any, sm: Any, logs: Any, bucket: str) -> None:
    name = _start(sm, s3, bucket, TRAIN)
    d = wait(sm, name, 180)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert json.loads(_model(s3, d)) == {"rows": 3, "host": "algo-1", "hosts": ["algo-1"]}
    lines = log_lines(logs, name)
    assert "rows 3 cpus " + ("2" if _executor(server) == "ray" else str(
        len(os.sched_getaffinity(0)))) in lines
    assert "to stderr" in lines
    if _executor(server) == "ray":  # the host said where it ran: a node of the cluster
        placed = [line for line in lines if "placed on Ray node" in line]
        assert placed and "(127.0.0.1)" in placed[0]


def test_a_manifest_channel_brings_exactly_the_listed_objects(
        s3: Any, sm: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="m/data/a.csv", Body=b"1\n2\n")
    s3.put_object(Bucket=bucket, Key="m/data/deep/b.csv", Body=b"3\n")
    s3.put_object(Bucket=bucket, Key="m/data/unlisted.csv", Body=b"4\n5\n6\n")
    s3.put_object(Bucket=bucket, Key="m/manifest", Body=json.dumps(
        [{"prefix": f"s3://{bucket}/m/data/"}, "a.csv", "deep/b.csv"]).encode())
    name = unique("manifest")
    request = script_job(name, bucket, upload_source(s3, bucket, {"train.py": TRAIN}),
                         channels={"train": f"s3://{bucket}/m/manifest"})
    request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3DataType"] = "ManifestFile"
    sm.create_training_job(**request)
    d = wait(sm, name, 180)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert json.loads(_model(s3, d))["rows"] == 3


def test_stop_ends_the_job_stopped_with_its_partial_model(
        s3: Any, sm: Any, logs: Any, bucket: str) -> None:
    name = _start(sm, s3, bucket, SLOW)
    wait_for(lambda: "started" in log_lines(logs, name), 120)
    sm.stop_training_job(TrainingJobName=name)
    d = wait(sm, name, 60)
    assert (d["TrainingJobStatus"], d["SecondaryStatus"]) == ("Stopped", "Stopped")
    assert _model(s3, d, "partial.txt") == b"saved"


def test_max_runtime_stops_the_job(s3: Any, sm: Any, bucket: str) -> None:
    name = _start(sm, s3, bucket, SLOW, StoppingCondition={"MaxRuntimeInSeconds": 3})
    d = wait(sm, name, 120)
    assert (d["TrainingJobStatus"], d["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")


def test_tuning_trials_respect_max_parallel(sm: Any, s3: Any, bucket: str) -> None:
    name = unique("tune")
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name,
        HyperParameterTuningJobConfig=config("Random", max_jobs=4, parallel=2, RandomSeed=3),
        TrainingJobDefinition=definition(bucket, source(s3, bucket), {"sleep": "0.5"}))
    d = wait_tuning(sm, name, 300)
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    assert d["TrainingJobStatusCounters"]["Completed"] == 4
    jobs = training_jobs(sm, name)
    spans = [(sm.describe_training_job(TrainingJobName=j["TrainingJobName"])["TrainingStartTime"],
              j["TrainingEndTime"]) for j in jobs]
    for start, _ in spans:
        assert sum(1 for s, e in spans if s <= start < e) <= 2


# --- only on Ray ---------------------------------------------------------------------------------

#: Tests of what only a Ray cluster has: the shared server, on its "ray" parameter only.
ray_only = pytest.mark.parametrize("server", ["ray"], indirect=True)


@ray_only
def test_status_shows_the_cluster_nodes_and_free_cpus(server: CoveServer) -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "cove", "status"], capture_output=True,
                         text=True, env={**os.environ, "COVE_HOME": str(server.home)}, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "ray at 127.0.0.1:" in out.stdout and "(2 nodes)" in out.stdout
    assert "of 8 CPUs free" in out.stdout and "node2" in out.stdout
    assert "of 4 CPUs free" in out.stdout


@ray_only
def test_a_host_lands_on_the_node_that_has_its_resources(
        server: CoveServer, s3: Any, sm: Any, logs: Any, bucket: str) -> None:
    node2 = next(n for n in _nodes(server) if "node2" in n["resources"])
    # ml.m5.2xlarge asks 8 CPUs and 32 GiB: only the second node has them.
    name = _start(sm, s3, bucket, TRAIN, ResourceConfig={
        "InstanceType": "ml.m5.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 5})
    d = wait(sm, name, 180)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    lines = log_lines(logs, name)
    assert f"algo-1 placed on Ray node {node2['node'][:12]} (127.0.0.1)" in lines
    assert "rows 3 cpus 8" in lines


GLOO = """
import json, os
import torch
import torch.distributed as dist
hosts = json.loads(os.environ["SM_HOSTS"])
rank = hosts.index(os.environ["SM_CURRENT_HOST"])
dist.init_process_group("gloo", init_method=f"tcp://{hosts[0]}:{os.environ['PORT']}",
                        rank=rank, world_size=len(hosts))
value = torch.tensor([float(rank + 1)])
dist.all_reduce(value)
print(f"rank {rank} of {len(hosts)}: sum {value.item()}", flush=True)
if rank == 0:
    open(os.path.join(os.environ["SM_MODEL_DIR"], "sum.txt"), "w").write(str(value.item()))
dist.destroy_process_group()
"""
PYTORCH_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.1-cpu-py310"


@ray_only
def test_a_two_host_pytorch_gloo_job_spreads_over_the_nodes(
        server: CoveServer, s3: Any, sm: Any, logs: Any, bucket: str) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    name = _start(sm, s3, bucket, GLOO, image=PYTORCH_IMAGE, Environment={"PORT": port},
                  ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 2,
                                  "VolumeSizeInGB": 5})
    d = wait(sm, name, 240)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert _model(s3, d, "sum.txt") == b"3.0"
    lines = log_lines(logs, name)
    assert {"rank 0 of 2: sum 3.0", "rank 1 of 2: sum 3.0"} <= set(lines)
    placed = {line.split(" placed on ")[0]: line.split(" placed on ")[1]
              for line in lines if " placed on " in line}
    assert set(placed) == {"algo-1", "algo-2"}
    assert placed["algo-1"] != placed["algo-2"]  # one bundle per host, spread over nodes


@ray_only
def test_a_killed_host_actor_fails_the_job_naming_its_node(
        server: CoveServer, ray_cluster: RayCluster, s3: Any, sm: Any, logs: Any,
        bucket: str) -> None:
    name = _start(sm, s3, bucket, SLOW)
    wait_for(lambda: "started" in log_lines(logs, name), 120)
    placed = next(line for line in log_lines(logs, name) if "placed on" in line)
    hosts = _job_hosts(ray_cluster)
    assert len(hosts) == 1
    hosts[0].send_signal(signal.SIGKILL)
    d = wait(sm, name, 60)
    assert d["TrainingJobStatus"] == "Failed"
    node = placed.split("placed on ", 1)[1]
    assert d["FailureReason"].startswith(f"InternalServerError: algo-1 ran on {node}, "
                                         "which was lost"), d["FailureReason"]


@ray_only
def test_ray_processes_listen_on_loopback_only(server: CoveServer,
                                               ray_cluster: RayCluster) -> None:
    import psutil

    cove_process = psutil.Process(server.proc.pid if server.proc else 0)
    checked = 0
    for process in [*ray_cluster.processes(), cove_process]:
        try:
            connections = process.net_connections("inet")
        except psutil.NoSuchProcess:
            continue
        for connection in connections:
            if connection.status == psutil.CONN_LISTEN:
                checked += 1
                assert connection.laddr.ip in ("127.0.0.1", "::ffff:127.0.0.1"), (
                    process.name(), connection.laddr)
            elif connection.raddr:
                assert connection.raddr.ip in ("127.0.0.1", "::ffff:127.0.0.1"), (
                    process.name(), connection.raddr)
    assert checked >= 6  # GCS, two raylets, their agents, cove


def _cmdline(process: Any) -> list[str]:
    try:
        return list(process.cmdline())
    except Exception:  # noqa: BLE001 - a process that ended while we looked has no command
        return []


def test_restart_marks_running_ray_jobs_honestly_and_brings_endpoints_back(
        ray_cluster: RayCluster, tmp_path: Any) -> None:
    from tests.hosting.test_endpoints import csv_rows, deploy, xgb_model

    server = CoveServer(tmp_path / "home", {"COVE_EXECUTOR": "ray",
                                            "COVE_RAY_ADDRESS": ray_cluster.address}).start(60)
    try:
        s3, sm, logs = server.client("s3"), server.client("sagemaker"), server.client("logs")
        bucket = unique("restart")
        s3.create_bucket(Bucket=bucket)
        url, _, X = xgb_model(s3, bucket)
        endpoint = deploy(sm, [("AllTraffic", url, 1.0, 1)])
        name = _start(sm, s3, bucket, SLOW)
        wait_for(lambda: "started" in log_lines(logs, name), 120)
        assert len(_job_hosts(ray_cluster)) == 1 and len(_host_actors(ray_cluster)) == 1
        server.kill()
        # The job's task and the worker's actor belonged to cove's Ray driver: they end with it.
        wait_for(lambda: not _host_actors(ray_cluster) and not _job_hosts(ray_cluster), 60)
        server.start(60)
        sm = server.client("sagemaker")
        d = sm.describe_training_job(TrainingJobName=name)
        assert d["TrainingJobStatus"] == "Failed"
        assert "cove was restarted while this job was running" in d["FailureReason"]
        sm.get_waiter("endpoint_in_service").wait(
            EndpointName=endpoint, WaiterConfig={"Delay": 0.2, "MaxAttempts": 600})
        answer = server.client("sagemaker-runtime").invoke_endpoint(
            EndpointName=endpoint, ContentType="text/csv", Body=csv_rows(X[:1]))
        assert float(answer["Body"].read())
        assert len(_host_actors(ray_cluster)) == 1  # a new worker actor
        sm.delete_endpoint(EndpointName=endpoint)
    finally:
        if server.proc and server.proc.poll() is None:
            server.stop()


def test_cove_up_explains_a_bad_executor_choice(tmp_path: Any) -> None:
    import subprocess
    import sys

    def up(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cove", "up", "--port", "0", *args],
                              env={**os.environ, "COVE_HOME": str(tmp_path)}, text=True,
                              capture_output=True, timeout=60)

    missing = up("--executor", "ray")
    assert missing.returncode == 1
    assert "--executor ray needs --ray-address HOST:PORT" in missing.stderr
    bogus = up("--executor", "slurm")
    assert bogus.returncode == 1 and "--executor must be local or ray" in bogus.stderr


# --- endpoints ------------------------------------------------------------------------------------

def _under_load(server: CoveServer, name: str, body: bytes,
                action: Any) -> list[str]:
    import threading

    from tests.hosting.test_endpoints import _load

    stop, results = threading.Event(), []
    clients = [threading.Thread(target=_load, args=(server.client("sagemaker-runtime"), name,
                                                    body, stop, results)) for _ in range(4)]
    for thread in clients:
        thread.start()
    try:
        wait_for(lambda: len(results) > 10, 60)
        action()
        count = len(results)
        wait_for(lambda: len(results) > count + 20, 60)
    finally:
        stop.set()
        for thread in clients:
            thread.join()
    return results


def _job_hosts(ray_cluster: RayCluster) -> list[Any]:
    """Worker processes running a job's host (a task: Ray titles them after the function)."""
    return [p for p in ray_cluster.processes() if "ray::run_host" in " ".join(_cmdline(p))]


def _host_actors(ray_cluster: RayCluster) -> list[Any]:
    return [p for p in ray_cluster.processes() if "HostActor" in " ".join(_cmdline(p))]


def test_a_worker_killed_under_load_is_replaced_without_a_failed_request(
        server: CoveServer, s3: Any, sm: Any, bucket: str, request: pytest.FixtureRequest
        ) -> None:
    from tests.hosting.test_endpoints import _worker_pids, csv_rows, deploy, xgb_model

    url, booster, X = xgb_model(s3, bucket)
    name = deploy(sm, [("AllTraffic", url, 1.0, 2)])
    if _executor(server) == "ray":
        ray_cluster = request.getfixturevalue("ray_cluster")
        victims = _host_actors(ray_cluster)
        assert len(victims) == 2  # each worker is an actor on the cluster
        results = _under_load(server, name, csv_rows(X[:1]),
                              lambda: victims[0].send_signal(signal.SIGKILL))
        wait_for(lambda: len(_host_actors(ray_cluster)) == 2, 60)
        assert victims[0].pid not in [p.pid for p in _host_actors(ray_cluster)]
    else:
        pids = _worker_pids(name)
        assert len(pids) == 2
        results = _under_load(server, name, csv_rows(X[:1]),
                              lambda: os.kill(pids[0], signal.SIGKILL))
        wait_for(lambda: len(_worker_pids(name)) == 2, 60)
    assert results and not [r for r in results if r.startswith("ERROR")]
    wait_for(lambda: sm.describe_endpoint(EndpointName=name)["ProductionVariants"][0][
        "CurrentInstanceCount"] == 2, 60)
    sm.delete_endpoint(EndpointName=name)


def test_update_endpoint_is_zero_downtime(server: CoveServer, s3: Any, sm: Any,
                                          bucket: str) -> None:
    from tests.hosting.test_endpoints import XGB_IMAGE, csv_rows, deploy, xgb_model
    from tests.training.helpers import ROLE

    url_a, _, X = xgb_model(s3, bucket, seed=0)
    url_b, _, _ = xgb_model(s3, bucket, seed=50)
    name = deploy(sm, [("AllTraffic", url_a, 1.0, 1)])
    sm.create_model(ModelName=f"{name}-new", ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": url_b})
    sm.create_endpoint_config(EndpointConfigName=f"{name}-new", ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": f"{name}-new", "InitialInstanceCount": 1,
         "InstanceType": "ml.m5.large"}])

    def update() -> None:
        sm.update_endpoint(EndpointName=name, EndpointConfigName=f"{name}-new")
        sm.get_waiter("endpoint_in_service").wait(
            EndpointName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 600})

    results = _under_load(server, name, csv_rows(X[:1]), update)
    assert results and not [r for r in results if r.startswith("ERROR")]
    assert len(set(results)) == 2  # the old model's answers, then the new one's
    sm.delete_endpoint(EndpointName=name)


# --- batch transform ------------------------------------------------------------------------------

def test_batch_transform_assembles_every_record_in_order(
        server: CoveServer, s3: Any, sm: Any, bucket: str, request: pytest.FixtureRequest
        ) -> None:
    import numpy as np

    from tests.hosting.test_endpoints import csv_rows, xgb_model
    from tests.transform.helpers import create_model, floats, job_request, read
    from tests.transform.test_jobs import predict

    url, booster, X = xgb_model(s3, bucket)
    objects = {"in/a.csv": X[:150], "in/sub/b.csv": X[150:300]}
    for key, rows in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=csv_rows(rows) + b"\n")
    name = unique("batch")
    sm.create_transform_job(**job_request(
        name, create_model(sm, url), f"s3://{bucket}/in/", f"s3://{bucket}/out/",
        BatchStrategy="MultiRecord", MaxPayloadInMB=1, MaxConcurrentTransforms=2,
        TransformResources={"InstanceCount": 2}))
    sm.get_waiter("transform_job_completed_or_stopped").wait(
        TransformJobName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 240})
    d = sm.describe_transform_job(TransformJobName=name)
    assert d["TransformJobStatus"] == "Completed", d.get("FailureReason")
    for key, rows in objects.items():
        out = read(s3, bucket, f"out/{key.removeprefix('in/')}.out")
        np.testing.assert_array_equal(floats(out), predict(booster, rows))
    if _executor(server) == "ray":  # the workers were actors on the cluster, now gone
        logs = server.client("logs")
        streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TransformJobs",
                                            logStreamNamePrefix=name)["logStreams"]
        text = [e["message"] for s in streams for e in logs.get_log_events(
            logGroupName="/aws/sagemaker/TransformJobs", logStreamName=s["logStreamName"],
            startFromHead=True)["events"]]
        assert sum("worker placed on Ray node" in line for line in text) == 2
        ray_cluster = request.getfixturevalue("ray_cluster")
        wait_for(lambda: not _host_actors(ray_cluster), 30)
