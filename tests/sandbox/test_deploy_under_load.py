"""Deploying while the machine is busy (issue 17 item 5): with two CPU-burning processes
beside it, a script-mode model deploys five times in a row, every endpoint InService and
answering, and each within the start-up bound."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import CoveServer
from tests.hosting.test_endpoints import SK_IMAGE, _tar
from tests.training.helpers import ROLE, unique

MODEL = r'''
def model_fn(model_dir):
    return "loaded"

def transform_fn(model, body, content_type, accept):
    return model + ":" + body.decode(), "text/plain"
'''
DEPLOYS = 5
#: Far above an idle machine's InService time (~0.2 s), far below the fleet's own bound.
BOUND = 60.0


@pytest.fixture()
def burners() -> Iterator[None]:
    """Two processes spinning on the CPU (this machine's 2 cores), always ended."""
    spinning = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(2)]
    try:
        yield
    finally:
        for proc in spinning:
            proc.kill()
            proc.wait()


def test_deploys_under_load_all_go_in_service(cove: CoveServer, s3: Any, bucket: str,
                                              burners: None) -> None:
    sm, runtime = cove.client("sagemaker"), cove.client("sagemaker-runtime")
    key = f"models/{unique('load')}/model.tar.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=_tar({"code/inference.py": MODEL.encode()}))
    sm.create_model(ModelName=(model := unique("load")), ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": SK_IMAGE, "ModelDataUrl": f"s3://{bucket}/{key}",
                                      "Environment": {
                                          "SAGEMAKER_PROGRAM": "inference.py",
                                          "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}})
    sm.create_endpoint_config(EndpointConfigName=model, ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1,
         "InstanceType": "ml.m5.large"}])
    outcomes = []
    for attempt in range(DEPLOYS):
        name = f"{model}-{attempt}"
        started = time.monotonic()
        sm.create_endpoint(EndpointName=name, EndpointConfigName=model)
        while (d := sm.describe_endpoint(EndpointName=name))["EndpointStatus"] == "Creating":
            assert time.monotonic() - started < 180, f"{name} still Creating"
            time.sleep(0.05)
        took = time.monotonic() - started
        answer = ""
        if d["EndpointStatus"] == "InService":
            answer = runtime.invoke_endpoint(EndpointName=name, ContentType="text/plain",
                                             Body=b"hi")["Body"].read().decode()
        outcomes.append((name, d["EndpointStatus"], d.get("FailureReason", ""), took, answer))
        sm.delete_endpoint(EndpointName=name)
    print("deploys under load:", [(o[1], round(o[3], 2)) for o in outcomes])
    failed = [o for o in outcomes if o[1] != "InService" or o[4] != "loaded:hi"]
    assert not failed, outcomes
    assert max(o[3] for o in outcomes) < BOUND, outcomes
