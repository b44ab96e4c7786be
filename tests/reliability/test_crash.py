"""kill -9 right after each acknowledged hosting mutation: after a restart the endpoint is
where the 200 promised (created, updated, deleted), or says why not."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import CoveServer
from tests.hosting.test_endpoints import XGB_IMAGE, csv_rows, xgb_model
from tests.training.helpers import ROLE

WAIT = {"Delay": 0.2, "MaxAttempts": 900}


def _model_and_config(sm: Any, s3: Any, name: str, seed: int) -> Any:
    url, _, X = xgb_model(s3, "models", seed=seed)
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": url})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1,
         "InstanceType": "ml.m5.large"}])
    return X


def _restart_after_kill(server: CoveServer) -> Any:
    server.kill()
    server.start()
    return server.client("sagemaker")


def test_kill_right_after_create_endpoint(fresh_cove: CoveServer) -> None:
    s3, sm = fresh_cove.client("s3"), fresh_cove.client("sagemaker")
    s3.create_bucket(Bucket="models")
    X = _model_and_config(sm, s3, "a", 0)
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="a")
    sm = _restart_after_kill(fresh_cove)  # the 200 is in: the row must say Creating
    sm.get_waiter("endpoint_in_service").wait(EndpointName="ep", WaiterConfig=WAIT)
    reply = fresh_cove.client("sagemaker-runtime").invoke_endpoint(
        EndpointName="ep", ContentType="text/csv", Body=csv_rows(X[:1]))
    assert reply["Body"].read()


def test_kill_right_after_update_endpoint_completes_the_update(
        fresh_cove: CoveServer) -> None:
    s3, sm = fresh_cove.client("s3"), fresh_cove.client("sagemaker")
    s3.create_bucket(Bucket="models")
    X = _model_and_config(sm, s3, "old", 0)
    _model_and_config(sm, s3, "new", 50)
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="old")
    sm.get_waiter("endpoint_in_service").wait(EndpointName="ep", WaiterConfig=WAIT)
    runtime = fresh_cove.client("sagemaker-runtime")
    before = runtime.invoke_endpoint(EndpointName="ep", ContentType="text/csv",
                                     Body=csv_rows(X[:1]))["Body"].read()
    sm.update_endpoint(EndpointName="ep", EndpointConfigName="new")
    sm = _restart_after_kill(fresh_cove)
    d = sm.describe_endpoint(EndpointName="ep")
    assert d["EndpointStatus"] in ("Updating", "InService"), d
    sm.get_waiter("endpoint_in_service").wait(EndpointName="ep", WaiterConfig=WAIT)
    d = sm.describe_endpoint(EndpointName="ep")
    assert d["EndpointConfigName"] == "new", d
    assert "FailureReason" not in d and "PendingDeploymentSummary" not in d
    after = fresh_cove.client("sagemaker-runtime").invoke_endpoint(
        EndpointName="ep", ContentType="text/csv", Body=csv_rows(X[:1]))["Body"].read()
    assert after != before  # the new model answers


def test_kill_mid_update_to_a_broken_config_rolls_back_with_a_reason(
        fresh_cove: CoveServer) -> None:
    s3, sm = fresh_cove.client("s3"), fresh_cove.client("sagemaker")
    s3.create_bucket(Bucket="models")
    _model_and_config(sm, s3, "old", 0)
    s3.put_object(Bucket="models", Key="broken/model.tar.gz", Body=b"not a tar archive")
    sm.create_model(ModelName="broken", ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": XGB_IMAGE, "ModelDataUrl": "s3://models/broken/model.tar.gz"})
    sm.create_endpoint_config(EndpointConfigName="broken", ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": "broken", "InitialInstanceCount": 1,
         "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="old")
    sm.get_waiter("endpoint_in_service").wait(EndpointName="ep", WaiterConfig=WAIT)
    sm.update_endpoint(EndpointName="ep", EndpointConfigName="broken")
    sm = _restart_after_kill(fresh_cove)
    sm.get_waiter("endpoint_in_service").wait(EndpointName="ep", WaiterConfig=WAIT)
    d = sm.describe_endpoint(EndpointName="ep")
    assert d["EndpointConfigName"] == "old"
    assert d["FailureReason"].startswith("The update to broken failed and was rolled back")


def test_kill_right_after_delete_endpoint(fresh_cove: CoveServer) -> None:
    s3, sm = fresh_cove.client("s3"), fresh_cove.client("sagemaker")
    s3.create_bucket(Bucket="models")
    _model_and_config(sm, s3, "a", 0)
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="a")
    sm.get_waiter("endpoint_in_service").wait(EndpointName="ep", WaiterConfig=WAIT)
    sm.delete_endpoint(EndpointName="ep")
    sm = _restart_after_kill(fresh_cove)
    with pytest.raises(ClientError) as caught:
        sm.describe_endpoint(EndpointName="ep")
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert sm.list_endpoints()["Endpoints"] == []
