"""Model workers and Lambda function workers run in the same sandbox as training jobs."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import CoveServer
from tests.functions.conftest import ROLE as FUNCTION_ROLE
from tests.functions.conftest import zip_of
from tests.hosting.test_endpoints import SK_IMAGE, _tar, deploy
from tests.sandbox.helpers import PROBE, assert_confined, loopback_service
from tests.training.helpers import unique

INFERENCE = PROBE + r'''
import json

def model_fn(model_dir):
    return None

def transform_fn(model, body, content_type, accept):
    home, port = body.decode().split()
    return json.dumps(probe(home, int(port))), "application/json"
'''

HANDLER = PROBE + r'''
def handler(event, context):
    return probe(event["home"], event["port"])
'''


def test_a_model_worker_is_confined(cove: CoveServer, s3: Any, bucket: str) -> None:
    sm, runtime = cove.client("sagemaker"), cove.client("sagemaker-runtime")
    key = f"models/{unique('probe')}/model.tar.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=_tar({"code/inference.py": INFERENCE.encode()}))
    name = deploy(sm, [("AllTraffic", f"s3://{bucket}/{key}", 1.0, 1)], image=SK_IMAGE,
                  environment={"SAGEMAKER_PROGRAM": "inference.py",
                               "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"})
    try:
        with loopback_service() as port:
            reply = runtime.invoke_endpoint(EndpointName=name, ContentType="text/plain",
                                            Body=f"{cove.home} {port}".encode())
        found = json.loads(reply["Body"].read())
        found["buckets"] = 0  # keys for model workers are not this test's subject
        assert_confined(found, str(cove.home))
    finally:
        sm.delete_endpoint(EndpointName=name)


def test_a_function_worker_is_confined(cove: CoveServer) -> None:
    lam = cove.client("lambda")
    name = f"probe-{unique('fn')}"
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=FUNCTION_ROLE,
                        Handler="lambda_function.handler", Timeout=60,
                        Code={"ZipFile": zip_of({"lambda_function.py": HANDLER})})
    with loopback_service() as port:
        reply = lam.invoke(FunctionName=name, Payload=json.dumps(
            {"home": str(cove.home), "port": port}).encode())
    found = json.loads(reply["Payload"].read())
    assert "FunctionError" not in reply, found
    assert_confined(found, str(cove.home))
