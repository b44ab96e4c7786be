"""Faults injected into cove's background work: each loop logs the failure once and goes on,
and a deployment that hits an unexpected error ends Failed with a reason."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from cove.supervision import FailureLog
from tests.conftest import CoveServer
from tests.hosting.test_endpoints import XGB_IMAGE, csv_rows, xgb_model
from tests.training.helpers import ROLE


def _until(predicate: Any, timeout: float = 60, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or predicate}")


def _invocations(home: Path, name: str) -> int:
    with sqlite3.connect(f"file:{home / 'cove.db'}?mode=ro", uri=True) as db:
        row = db.execute("SELECT invocations FROM endpoints WHERE name = ?", (name,)).fetchone()
    return int(row[0]) if row else -1


def test_a_deleted_capture_bucket_stops_no_background_loop(fresh_cove: CoveServer) -> None:
    """The real fault of issue 17: the capture bucket goes, the next flush raises NoSuchBucket.
    Before, the one loop died and invocation counts, charts and idle-stop died with it."""
    s3, sm = fresh_cove.client("s3"), fresh_cove.client("sagemaker")
    runtime = fresh_cove.client("sagemaker-runtime")
    s3.create_bucket(Bucket="models")
    s3.create_bucket(Bucket="capture")
    url, _, X = xgb_model(s3, "models")
    sm.create_model(ModelName="m", ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": url})
    sm.create_endpoint_config(
        EndpointConfigName="c",
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "m",
                             "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}],
        DataCaptureConfig={"EnableCapture": True, "InitialSamplingPercentage": 100,
                           "DestinationS3Uri": "s3://capture/data",
                           "CaptureOptions": [{"CaptureMode": "Input"}]})
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="c")
    sm.get_waiter("endpoint_in_service").wait(EndpointName="ep",
                                             WaiterConfig={"Delay": 0.2, "MaxAttempts": 600})
    body = csv_rows(X[:1])
    runtime.invoke_endpoint(EndpointName="ep", ContentType="text/csv", Body=body)
    captured = _until(lambda: s3.list_objects_v2(Bucket="capture").get("Contents"),
                      what="the first capture file")
    for item in captured:
        s3.delete_object(Bucket="capture", Key=item["Key"])
    s3.delete_bucket(Bucket="capture")

    for _ in range(3):  # every flush from now on fails for the capture
        runtime.invoke_endpoint(EndpointName="ep", ContentType="text/csv", Body=body)
    _until(lambda: _invocations(fresh_cove.home, "ep") == 4, what="4 invocations counted")
    _until(lambda: "endpoint data capture failed" in fresh_cove.log_tail(400),
           what="the capture failure in the server log")
    runtime.invoke_endpoint(EndpointName="ep", ContentType="text/csv", Body=body)
    _until(lambda: _invocations(fresh_cove.home, "ep") == 5, what="counting after the fault")
    log = (fresh_cove.home / "server-test.log").read_text()
    assert log.count("endpoint data capture failed") == 1, "logged once, not every second"
    assert "NoSuchBucket" in log


def test_failure_log_reports_each_distinct_failure_once(caplog: pytest.LogCaptureFixture) -> None:
    failures = FailureLog("the work", logging.getLogger("test.supervision"))
    outcomes = iter([ValueError("a"), ValueError("a"), ValueError("a"), KeyError("b"), None,
                     ValueError("a")])

    def work() -> None:
        outcome = next(outcomes)
        if outcome is not None:
            raise outcome

    with caplog.at_level(logging.WARNING, "test.supervision"):
        results = [failures.run(work) for _ in range(6)]
    assert results == [False, False, False, False, True, False]
    messages = [r.getMessage() for r in caplog.records]
    # a, then b, then a again after the recovery
    assert sum("failed (it goes on" in m for m in messages) == 3
    assert sum("works again" in m for m in messages) == 1
    assert failures.failures == 5


def test_a_deployment_that_hits_an_unexpected_error_ends_failed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Injection (in process, a real Endpoints over a real database): ``build`` raises what no
    deploy path expects.  Before, only CoveError and OSError were caught and the endpoint stayed
    Creating for ever."""
    from cove.config import Config
    from cove.hosting import EndpointConfig, EndpointStatus
    from cove.server import Platform, Runtime

    platform = Platform.open(Config(home=tmp_path / "home"),
                             Runtime("http://127.0.0.1:1", asyncio.new_event_loop()))
    try:
        endpoints = platform.endpoints

        def broken(name: str, config_name: str) -> Any:
            raise ZeroDivisionError("injected")

        monkeypatch.setattr(endpoints, "build", broken)
        monkeypatch.setattr(endpoints, "_background", lambda target, *args: target(*args))
        monkeypatch.setattr(endpoints.catalog, "config",
                            lambda name: EndpointConfig(name, f"arn:{name}", time.time(), ()))
        endpoints.create("ep", "c", "us-east-1", "000000000000")
        endpoint = endpoints.endpoint("ep")
        assert endpoint.status is EndpointStatus.FAILED
        assert "ZeroDivisionError" in endpoint.failure_reason
        assert "injected" in endpoint.failure_reason
    finally:
        platform.executor.shutdown()
        platform.db.close()

