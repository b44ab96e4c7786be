"""On Ray, an instance type no node can ever hold fails at once with the reason, and an
operator can map instance types onto the nodes they have (COVE_INSTANCE_TYPES)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import CoveServer
from tests.training.helpers import log_lines, script_job, unique, upload_source, wait

pytestmark = pytest.mark.xdist_group("ray")  # one Ray cluster per run, on one test worker

TRAIN = "print('trained', flush=True)\n"


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoveServer]:
    env = {"COVE_EXECUTOR": "ray", "COVE_INSTANCE_TYPES": "ml.m5.12xlarge=2:8",
           "COVE_RAY_ADDRESS": request.getfixturevalue("ray_cluster").address}
    cove = CoveServer(tmp_path_factory.mktemp("cove-infeasible"), env).start(60)
    yield cove
    cove.stop()


def _job(server: CoveServer, instance_type: str) -> tuple[Any, str]:
    s3, sm = server.client("s3"), server.client("sagemaker")
    bucket = unique("fit")
    s3.create_bucket(Bucket=bucket)
    source = upload_source(s3, bucket, {"train.py": TRAIN})
    name = unique("fit")
    request = script_job(name, bucket, source)
    request["ResourceConfig"]["InstanceType"] = instance_type
    sm.create_training_job(**request)
    return sm, name


def test_an_instance_type_no_node_can_hold_fails_with_the_reason(server: CoveServer) -> None:
    # ml.m5.4xlarge: 16 CPUs, 64 GiB; the loopback cluster's largest node has 8 CPUs, 40 GiB.
    sm, name = _job(server, "ml.m5.4xlarge")
    d = wait(sm, name, timeout=120)
    assert d["TrainingJobStatus"] == "Failed"
    reason = d["FailureReason"]
    assert reason.startswith("CapacityError: ml.m5.4xlarge asks for 16 CPUs, 64 GiB memory")
    assert "the largest has 8 CPUs" in reason and "COVE_INSTANCE_TYPES" in reason


def test_a_mapped_instance_type_runs_and_says_what_it_waited_for(server: CoveServer) -> None:
    # ml.m5.12xlarge is 48 CPUs at AWS; mapped to 2 CPUs, 8 GiB it fits either node.
    sm, name = _job(server, "ml.m5.12xlarge")
    d = wait(sm, name, timeout=300)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    starting = d["SecondaryStatusTransitions"][0]
    assert starting["Status"] == "Starting"
    assert starting["StatusMessage"] == (
        "Launching requested ML instances: waiting for 1 ml.m5.12xlarge host(s) of 2 CPUs, "
        "8 GiB memory on the ray executor")
    assert any("waiting for 1 ml.m5.12xlarge host(s)" in line
               for line in log_lines(server.client("logs"), name))
