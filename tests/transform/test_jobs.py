"""Batch transform through boto3: XGBoost over CSV prefixes, batching, gzip, manifests, data
processing, limits, models that fail, stopping, listing, restarts."""

from __future__ import annotations

import datetime
import gzip
import json
import signal
import time
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from tests.conftest import CoveServer
from tests.transform.helpers import (
    SK_IMAGE,
    create_model,
    csv_rows,
    floats,
    job_request,
    read,
    sklearn_model,
    tar_gz,
    unique,
    wait,
    xgb_model,
)


def predict(booster: Any, X: np.ndarray) -> np.ndarray:
    import xgboost as xgb

    return booster.predict(xgb.DMatrix(X)).astype(np.float32)  # type: ignore[no-any-return]


def test_xgboost_over_a_prefix_single_and_multi_record(cove: Any, s3: Any, bucket: str) -> None:
    """Several objects (one nested, one of a single row, one empty) under a prefix: every .out
    holds the in-process predictions in order, SingleRecord and MultiRecord byte for byte."""
    sm = cove.client("sagemaker")
    url, booster, X = xgb_model(s3, bucket)
    objects = {"in/a.csv": X[:180], "in/b.csv": X[180:181], "in/sub/c.csv": X[181:300]}
    for key, rows in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=csv_rows(rows) + b"\n")
    s3.put_object(Bucket=bucket, Key="in/empty.csv", Body=b"")
    s3.put_object(Bucket=bucket, Key="elsewhere/x.csv", Body=csv_rows(X[:3]))
    model = create_model(sm, url)
    single, multi = unique("single"), unique("multi")
    sm.create_transform_job(**job_request(
        single, model, f"s3://{bucket}/in/", f"s3://{bucket}/out-single/",
        BatchStrategy="SingleRecord", MaxConcurrentTransforms=4,
        TransformResources={"InstanceCount": 2}))
    sm.create_transform_job(**job_request(
        multi, model, f"s3://{bucket}/in", f"s3://{bucket}/out-multi", MaxPayloadInMB=1))
    waiter = sm.get_waiter("transform_job_completed_or_stopped")
    for name in (single, multi):
        waiter.wait(TransformJobName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 240})
    for key, rows in objects.items():
        relative = key.removeprefix("in/")
        one = read(s3, bucket, f"out-single/{relative}.out")
        assert one == read(s3, bucket, f"out-multi/{relative}.out")
        np.testing.assert_array_equal(floats(one), predict(booster, rows))
    assert read(s3, bucket, "out-single/empty.csv.out") == b""
    outputs = s3.list_objects_v2(Bucket=bucket, Prefix="out-multi/")["Contents"]
    assert sorted(o["Key"] for o in outputs) == [
        "out-multi/a.csv.out", "out-multi/b.csv.out", "out-multi/empty.csv.out",
        "out-multi/sub/c.csv.out"]
    d = sm.describe_transform_job(TransformJobName=single)
    assert d["TransformJobStatus"] == "Completed"
    assert d["BatchStrategy"] == "SingleRecord" and d["TransformResources"]["InstanceCount"] == 2
    assert d["TransformEndTime"] >= d["TransformStartTime"] >= d["CreationTime"]
    assert d["DataProcessing"] == {"InputFilter": "$", "OutputFilter": "$", "JoinSource": "None"}
    logs = cove.client("logs")
    streams = [s["logStreamName"] for s in logs.describe_log_streams(
        logGroupName="/aws/sagemaker/TransformJobs", logStreamNamePrefix=f"{single}/")[
        "logStreams"]]
    # one stream per instance (the SDK's logs=True shows more than InstanceCount streams twice)
    assert streams == [f"{single}/instance-1", f"{single}/instance-2"]
    lines = [e["message"] for e in logs.get_log_events(
        logGroupName="/aws/sagemaker/TransformJobs", logStreamName=f"{single}/instance-1",
        startFromHead=True)["events"]]
    assert any("in/sub/c.csv: 119 record(s)" in line for line in lines), lines
    assert any("cove-worker: loaded the xgboost model" in line for line in lines), lines
    assert sum("Completed: 300 record(s) in 4 object(s)" in line for line in lines) == 1


def test_gzip_input_through_a_manifest(cove: Any, s3: Any, bucket: str) -> None:
    sm = cove.client("sagemaker")
    url, booster, X = xgb_model(s3, bucket)
    s3.put_object(Bucket=bucket, Key="data/day1/part.csv.gz", Body=gzip.compress(
        csv_rows(X[:40]) + b"\r\n"))  # CRLF line endings survive too
    # two gzip members one after the other, as appending to a .gz file makes
    s3.put_object(Bucket=bucket, Key="data/day2/part.csv.gz", Body=gzip.compress(
        csv_rows(X[40:70]) + b"\n") + gzip.compress(csv_rows(X[70:90])))
    s3.put_object(Bucket=bucket, Key="data/unlisted.csv.gz", Body=b"not even gzip")
    s3.put_object(Bucket=bucket, Key="lists/input.manifest", Body=json.dumps([
        {"prefix": f"s3://{bucket}/data/"}, "day2/part.csv.gz", "day1/part.csv.gz"]).encode())
    name = unique("gz")
    sm.create_transform_job(**job_request(
        name, create_model(sm, url), f"s3://{bucket}/lists/input.manifest",
        f"s3://{bucket}/scored", TransformInput={
            "DataSource": {"S3DataSource": {"S3DataType": "ManifestFile",
                                            "S3Uri": f"s3://{bucket}/lists/input.manifest"}},
            "CompressionType": "Gzip"}))
    assert wait(sm, name)["TransformJobStatus"] == "Completed"
    np.testing.assert_array_equal(floats(read(s3, bucket, "scored/day1/part.csv.gz.out")),
                                  predict(booster, X[:40]))
    np.testing.assert_array_equal(floats(read(s3, bucket, "scored/day2/part.csv.gz.out")),
                                  predict(booster, X[40:90]))


def test_csv_filters_and_join(cove: Any, s3: Any, bucket: str) -> None:
    """An id column the model must not see: InputFilter drops it, the join brings it back."""
    sm = cove.client("sagemaker")
    url, booster, X = xgb_model(s3, bucket)
    ids = [f"id-{i}" for i in range(25)]
    rows = b"".join(f"{i},{row.decode()}\n".encode()
                    for i, row in zip(ids, csv_rows(X[:25]).split(b"\n"), strict=True))
    s3.put_object(Bucket=bucket, Key="ids/rows.csv", Body=rows)
    model = create_model(sm, url)
    slim, full = unique("slim"), unique("full")
    for name, processing in ((slim, {"InputFilter": "$[1:]", "JoinSource": "Input",
                                     "OutputFilter": "$[0,-1]"}),
                             (full, {"InputFilter": "$[1:]", "JoinSource": "Input"})):
        sm.create_transform_job(**job_request(
            name, model, f"s3://{bucket}/ids/", f"s3://{bucket}/{name}",
            DataProcessing=processing, MaxPayloadInMB=1, TransformOutput={"Accept": "text/csv"}))
    for name in (slim, full):
        assert wait(sm, name)["TransformJobStatus"] == "Completed"
    expected = predict(booster, X[:25])
    slim_rows = [line.split(",") for line in read(s3, bucket, f"{slim}/rows.csv.out").decode()
                 .splitlines()]
    assert [r[0] for r in slim_rows] == ids and all(len(r) == 2 for r in slim_rows)
    np.testing.assert_array_equal(np.array([r[1] for r in slim_rows], dtype=np.float32),
                                  expected)
    full_lines = read(s3, bucket, f"{full}/rows.csv.out").decode().splitlines()
    assert [line.rsplit(",", 1)[0] for line in full_lines] == rows.decode().splitlines()


def test_json_lines_filters_and_join(cove: Any, s3: Any, bucket: str) -> None:
    sm = cove.client("sagemaker")
    model, estimator = sklearn_model(sm, s3, bucket)
    X = np.random.default_rng(5).normal(size=(12, 3)).round(4)
    records = [{"id": f"r{i}", "features": row.tolist(), "note": "kept out"}
               for i, row in enumerate(X)]
    s3.put_object(Bucket=bucket, Key="jl/records.jsonl",
                  Body=b"".join(json.dumps(r).encode() + b"\n" for r in records))
    name = unique("jl")
    sm.create_transform_job(**job_request(
        name, model, f"s3://{bucket}/jl/", f"s3://{bucket}/jl-out",
        TransformInput={"ContentType": "application/jsonlines"},
        TransformOutput={"Accept": "application/jsonlines"}, MaxPayloadInMB=1,
        DataProcessing={"InputFilter": "$.features", "JoinSource": "Input",
                        "OutputFilter": "$['id','SageMakerOutput']"}))
    d = wait(sm, name)
    assert d["TransformJobStatus"] == "Completed", d.get("FailureReason")
    lines = [json.loads(line) for line in read(s3, bucket, "jl-out/records.jsonl.out")
             .decode().splitlines()]
    expected = estimator.predict(X)
    assert [line["id"] for line in lines] == [r["id"] for r in records]
    assert all(set(line) == {"id", "SageMakerOutput"} for line in lines)
    np.testing.assert_allclose([line["SageMakerOutput"]["score"] for line in lines], expected,
                               atol=1e-5)


def test_a_record_over_max_payload_fails_the_job(cove: Any, s3: Any, bucket: str) -> None:
    sm = cove.client("sagemaker")
    url, _, X = xgb_model(s3, bucket)
    huge = ",".join(["1.5"] * 300_000).encode()  # 1.2 MB: one line over MaxPayloadInMB 1
    s3.put_object(Bucket=bucket, Key="big/ok.csv", Body=csv_rows(X[:5]))
    s3.put_object(Bucket=bucket, Key="big/zz.csv",
                  Body=csv_rows(X[:2]) + b"\n\n" + huge + b"\n" + csv_rows(X[2:4]))
    model = create_model(sm, url)
    name, whole = unique("big"), unique("whole")
    sm.create_transform_job(**job_request(name, model, f"s3://{bucket}/big/",
                                          f"s3://{bucket}/big-out", MaxPayloadInMB=1))
    sm.create_transform_job(**job_request(
        whole, model, f"s3://{bucket}/big/zz.csv", f"s3://{bucket}/whole-out",
        MaxPayloadInMB=1, TransformInput={"SplitType": "None"}))
    d = wait(sm, name)
    assert d["TransformJobStatus"] == "Failed"
    reason = d["FailureReason"]
    assert f"s3://{bucket}/big/zz.csv, record 3 (line 4)" in reason, reason
    assert "900,000 bytes" not in reason and "MaxPayloadInMB" in reason
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="big-out/")["Contents"]]
    assert keys == ["big-out/ok.csv.out"]  # done before the failure; none for the failed one
    d = wait(sm, whole)
    assert d["TransformJobStatus"] == "Failed"
    assert "big/zz.csv is over MaxPayloadInMB" in d["FailureReason"]
    assert "SplitType is None" in d["FailureReason"]


def test_a_model_failing_on_one_record_names_it(cove: Any, s3: Any, bucket: str) -> None:
    sm = cove.client("sagemaker")
    model, estimator = sklearn_model(sm, s3, bucket)
    X = np.random.default_rng(7).normal(size=(30, 3))
    s3.put_object(Bucket=bucket, Key="f/a-good.csv", Body=csv_rows(X[:10]))
    bad = X.copy()
    bad[11, 0] = -1  # record 12, on line 13 below (a blank line comes first)
    s3.put_object(Bucket=bucket, Key="f/b-bad.csv", Body=b"\n" + csv_rows(bad))
    name = unique("fails")
    sm.create_transform_job(**job_request(name, model, f"s3://{bucket}/f/",
                                          f"s3://{bucket}/f-out", MaxPayloadInMB=1,
                                          ModelClientConfig={"InvocationsMaxRetries": 1},
                                          TransformOutput={"Accept": "text/csv"}))
    d = wait(sm, name)
    assert d["TransformJobStatus"] == "Failed"
    reason = d["FailureReason"]
    assert f"s3://{bucket}/f/b-bad.csv, record 12 (line 13)" in reason, reason
    assert "500" in reason and "bad record marker" in reason
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="f-out/")["Contents"]]
    assert keys == ["f-out/a-good.csv.out"]
    np.testing.assert_allclose(floats(read(s3, bucket, "f-out/a-good.csv.out")),
                               estimator.predict(X[:10]), atol=1e-5)


def test_a_model_that_cannot_load_fails_the_job(cove: Any, s3: Any, bucket: str) -> None:
    sm = cove.client("sagemaker")
    key = f"models/{unique('broken')}/model.tar.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=tar_gz({
        "code/inference.py": b"def model_fn(model_dir):\n    raise ValueError('no weights')\n"}))
    model = create_model(sm, f"s3://{bucket}/{key}", SK_IMAGE, {
        "SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"})
    s3.put_object(Bucket=bucket, Key="in/a.csv", Body=b"1,2,3\n")
    name = unique("noload")
    sm.create_transform_job(**job_request(name, model, f"s3://{bucket}/in/",
                                          f"s3://{bucket}/noload"))
    d = wait(sm, name)
    assert d["TransformJobStatus"] == "Failed"
    assert d["FailureReason"].startswith("ClientError: the model's workers could not start: ")
    assert "ValueError: no weights" in d["FailureReason"]


def test_stop_mid_job(cove: Any, s3: Any, bucket: str) -> None:
    sm = cove.client("sagemaker")
    model, _ = sklearn_model(sm, s3, bucket)
    X = np.random.default_rng(8).normal(size=(60, 3))
    parts = 12  # ample work left after the first part lands (~13 s), so the stop finds it
    for part in range(parts):  # running even on a loaded machine (it stops after one or two)
        s3.put_object(Bucket=bucket, Key=f"slow/{part}.csv", Body=csv_rows(X))
    name = unique("stop")
    sm.create_transform_job(**job_request(
        name, model, f"s3://{bucket}/slow/", f"s3://{bucket}/slow-out",
        BatchStrategy="SingleRecord", Environment={"SECONDS_PER_REQUEST": "0.02"}))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "Contents" not in s3.list_objects_v2(
            Bucket=bucket, Prefix="slow-out/"):
        time.sleep(0.05)
    sm.stop_transform_job(TransformJobName=name)
    assert sm.describe_transform_job(TransformJobName=name)["TransformJobStatus"] in (
        "Stopping", "Stopped")
    d = wait(sm, name, timeout=60)
    assert d["TransformJobStatus"] == "Stopped" and "FailureReason" not in d
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="slow-out/")["Contents"]]
    assert 1 <= len(keys) < parts
    for key in keys:  # whatever was written is whole
        assert len(read(s3, bucket, key).splitlines()) == 60
    with pytest.raises(ClientError) as err:
        sm.stop_transform_job(TransformJobName=name)
    assert err.value.response["Error"]["Code"] == "ValidationException"


def test_bad_requests_get_aws_errors(cove: Any, s3: Any, bucket: str) -> None:
    sm = cove.client("sagemaker")
    url, _, X = xgb_model(s3, bucket)
    s3.put_object(Bucket=bucket, Key="in/a.csv", Body=csv_rows(X[:3]))
    s3.put_object(Bucket=bucket, Key="lists/bad.manifest", Body=b"[1, 2]")
    model = create_model(sm, url)

    def rejected(code: str, **changes: Any) -> str:
        request = job_request(unique("bad"), model, f"s3://{bucket}/in/",
                              f"s3://{bucket}/out", **changes)
        with pytest.raises(ClientError) as err:
            sm.create_transform_job(**request)
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert err.value.response["Error"]["Code"] == code, err.value.response["Error"]
        with pytest.raises(ClientError):  # and nothing was created
            sm.describe_transform_job(TransformJobName=request["TransformJobName"])
        return str(err.value.response["Error"]["Message"])

    assert "Could not find model" in rejected("ValidationException", ModelName="no-such-model")
    assert "No S3 objects found" in rejected("ValidationException", TransformInput={
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                        "S3Uri": f"s3://{bucket}/nothing-here/"}}})
    assert "splitType" in rejected("ValidationException", TransformInput={"SplitType": "Lines"})
    assert "TFRecord" in rejected("ValidationException", TransformInput={"SplitType": "TFRecord"})
    assert "not a manifest" in rejected("ValidationException", TransformInput={
        "DataSource": {"S3DataSource": {"S3DataType": "ManifestFile",
                                        "S3Uri": f"s3://{bucket}/lists/bad.manifest"}}})
    assert "AugmentedManifestFile" in rejected("ValidationException", TransformInput={
        "DataSource": {"S3DataSource": {"S3DataType": "AugmentedManifestFile",
                                        "S3Uri": f"s3://{bucket}/in/"}}})
    assert "recursive descent" in rejected("ValidationException",
                                           DataProcessing={"InputFilter": "$..features"})
    assert "at most 100" in rejected("ValidationException", MaxPayloadInMB=101)
    assert "at most 100" in rejected("ValidationException", MaxPayloadInMB=50,
                                     MaxConcurrentTransforms=3)
    assert "does not exist" in rejected("ValidationException", TransformOutput={
        "S3OutputPath": "s3://no-such-bucket-here/out"})
    assert "DataProcessing works on CSV and JSON" in rejected(
        "ValidationException", TransformInput={"ContentType": "application/x-npy"},
        DataProcessing={"JoinSource": "Input"})
    assert "DataCaptureConfig is not supported" in rejected(
        "ValidationException", DataCaptureConfig={"DestinationS3Uri": f"s3://{bucket}/capture"})
    rejected("ResourceLimitExceeded", TransformResources={"InstanceCount": 40})
    name = unique("dup")
    sm.create_transform_job(**job_request(name, model, f"s3://{bucket}/in/",
                                          f"s3://{bucket}/out"))
    with pytest.raises(ClientError) as err:
        sm.create_transform_job(**job_request(name, model, f"s3://{bucket}/in/",
                                              f"s3://{bucket}/out"))
    assert err.value.response["Error"]["Code"] == "ResourceInUse"
    assert "already exists" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        sm.describe_transform_job(TransformJobName="never-created")
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert "Could not find" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        sm.stop_transform_job(TransformJobName="never-created")
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert wait(sm, name)["TransformJobStatus"] == "Completed"


def test_list_filters_sorts_and_pages(cove: Any, s3: Any, bucket: str) -> None:
    sm = cove.client("sagemaker")
    url, _, X = xgb_model(s3, bucket)
    s3.put_object(Bucket=bucket, Key="in/a.csv", Body=csv_rows(X[:3]))
    model = create_model(sm, url)
    tag = unique("lst")
    names = [f"{tag}-{letter}" for letter in "bca"]
    for name in names:
        sm.create_transform_job(**job_request(name, model, f"s3://{bucket}/in/",
                                              f"s3://{bucket}/{name}"),
                                Tags=[{"Key": "team", "Value": "ml"}])
    for name in names:
        wait(sm, name)
    newest_first = sm.list_transform_jobs(NameContains=tag)["TransformJobSummaries"]
    assert [s["TransformJobName"] for s in newest_first] == names[::-1]
    assert all(s["TransformJobStatus"] == "Completed" and "LastModifiedTime" in s
               for s in newest_first)
    page = sm.list_transform_jobs(NameContains=tag.upper(), SortBy="Name",
                                  SortOrder="Ascending", MaxResults=2)
    assert [s["TransformJobName"] for s in page["TransformJobSummaries"]] == sorted(names)[:2]
    rest = sm.list_transform_jobs(NameContains=tag, SortBy="Name", SortOrder="Ascending",
                                  MaxResults=2, NextToken=page["NextToken"])
    assert [s["TransformJobName"] for s in rest["TransformJobSummaries"]] == sorted(names)[2:]
    assert "NextToken" not in rest
    paged = [s["TransformJobName"] for p in sm.get_paginator("list_transform_jobs").paginate(
        NameContains=tag, StatusEquals="Completed", PaginationConfig={"PageSize": 1})
        for s in p["TransformJobSummaries"]]
    assert sorted(paged) == sorted(names)
    assert not sm.list_transform_jobs(NameContains=tag, StatusEquals="Failed")[
        "TransformJobSummaries"]
    # (botocore sends whole seconds: bounds an hour away, not between jobs a moment apart)
    hour_ago = newest_first[0]["CreationTime"] - datetime.timedelta(hours=1)
    assert len(sm.list_transform_jobs(NameContains=tag, CreationTimeAfter=hour_ago)[
        "TransformJobSummaries"]) == 3
    assert not sm.list_transform_jobs(NameContains=tag, CreationTimeBefore=hour_ago)[
        "TransformJobSummaries"]
    assert not sm.list_transform_jobs(NameContains=tag, LastModifiedTimeBefore=hour_ago)[
        "TransformJobSummaries"]
    arn = newest_first[0]["TransformJobArn"]
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]


def test_jobs_running_when_cove_dies_or_stops_are_failed(fresh_cove: CoveServer) -> None:
    sm, s3 = fresh_cove.client("sagemaker"), fresh_cove.client("s3")
    s3.create_bucket(Bucket="data")
    model, _ = sklearn_model(sm, s3, "data")
    X = np.random.default_rng(9).normal(size=(200, 3))
    s3.put_object(Bucket="data", Key="in/a.csv", Body=csv_rows(X))
    killed, stopped = unique("killed"), unique("stopped")
    for name, how in ((killed, signal.SIGKILL), (stopped, signal.SIGTERM)):
        fresh_cove.client("sagemaker").create_transform_job(**job_request(
            name, model, "s3://data/in/", f"s3://data/{name}", BatchStrategy="SingleRecord",
            Environment={"SECONDS_PER_REQUEST": "0.05"}))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any("Mini-batches" in e["message"] for e in _data_log(fresh_cove, name)):
                break
            time.sleep(0.1)
        fresh_cove.stop(how)
        fresh_cove.start()
    sm = fresh_cove.client("sagemaker")
    d = sm.describe_transform_job(TransformJobName=killed)
    assert d["TransformJobStatus"] == "Failed"
    assert "cove was restarted while this transform job was running" in d["FailureReason"]
    assert "0 of 1 input object(s)" in d["FailureReason"]
    d = sm.describe_transform_job(TransformJobName=stopped)
    assert d["TransformJobStatus"] == "Failed"
    assert "cove shut down while the job was running" in d["FailureReason"]
    for name in (killed, stopped):  # and no partial output
        assert "Contents" not in fresh_cove.client("s3").list_objects_v2(Bucket="data",
                                                                           Prefix=f"{name}/")


def _data_log(cove: CoveServer, name: str) -> list[dict[str, Any]]:
    logs = cove.client("logs")
    try:
        return logs.get_log_events(  # type: ignore[no-any-return]
            logGroupName="/aws/sagemaker/TransformJobs", logStreamName=f"{name}/instance-1",
            startFromHead=True)["events"]
    except logs.exceptions.ResourceNotFoundException:
        return []
