"""Processing jobs through boto3: the container contract (inputs under LocalPath, outputs
uploaded, config files, the role's keys), lifecycle, failure reasons, stop, sharding across
hosts, listing, tags, bad requests and hostile jobs."""

from __future__ import annotations

import gzip
import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.processing.helpers import (
    LOG_GROUP,
    objects,
    processing_job,
    s3_input,
    s3_output,
    unique,
    upload_script,
    wait,
    wait_for,
)

CONTRACT = """
import json, os, sys, boto3
data = "/opt/ml/processing/input/data"
names = sorted(os.listdir(data))
rows = sum(len(open(os.path.join(data, n)).read().splitlines()) for n in names)
config = json.load(open("/opt/ml/config/processingjobconfig.json"))
resources = json.load(open("/opt/ml/config/resourceconfig.json"))
s3 = boto3.client("s3")
listed = [o["Key"] for o in s3.list_objects_v2(Bucket=os.environ["BUCKET"],
                                               Prefix="in/")["Contents"]]
os.makedirs("/opt/ml/processing/output/summary/deep", exist_ok=True)
json.dump({"files": names, "rows": rows, "job": config["ProcessingJobName"],
           "resources": resources, "listed": listed, "args": sys.argv[1:],
           "greeting": os.environ["GREETING"]},
          open("/opt/ml/processing/output/summary/summary.json", "w"))
open("/opt/ml/processing/output/summary/deep/note.txt", "w").write("deep")
open("/opt/ml/output/message", "w").write("processed %d rows" % rows)
print("processed", rows, "rows", flush=True)
"""


def _data(s3: Any, bucket: str, prefix: str, files: dict[str, str]) -> str:
    for name, text in files.items():
        s3.put_object(Bucket=bucket, Key=f"{prefix}/{name}", Body=text.encode())
    return f"s3://{bucket}/{prefix}"


def test_a_job_reads_its_inputs_writes_its_outputs_and_completes(cove: Any, s3: Any,
                                                                 bucket: str) -> None:
    sm, logs = cove.client("sagemaker"), cove.client("logs")
    data = _data(s3, bucket, "in", {"a.csv": "1,2\n3,4\n", "b.csv": "5,6\n"})
    name = unique("proc")
    request = processing_job(
        name, upload_script(s3, bucket, CONTRACT),
        inputs=[s3_input("data", data, "/opt/ml/processing/input/data")],
        outputs=[s3_output("summary", f"s3://{bucket}/out/{name}",
                           "/opt/ml/processing/output/summary")],
        arguments=["--split", "0.2"], Environment={"GREETING": "hello", "BUCKET": bucket},
        NetworkConfig={"EnableNetworkIsolation": False},
        ExperimentConfig={"ExperimentName": "exp"}, Tags=[{"Key": "team", "Value": "ml"}])
    arn = sm.create_processing_job(**request)["ProcessingJobArn"]
    assert arn.endswith(f":processing-job/{name}")
    d = wait(sm, name)
    assert d["ProcessingJobStatus"] == "Completed", d.get("FailureReason")
    assert d["ExitMessage"] == "processed 3 rows"
    assert d["ProcessingStartTime"] <= d["ProcessingEndTime"]
    assert d["ProcessingInputs"][0]["S3Input"]["S3DataDistributionType"] == "FullyReplicated"
    assert d["ExperimentConfig"] == {"ExperimentName": "exp"}
    out = objects(s3, bucket, f"out/{name}")
    assert out["deep/note.txt"] == b"deep"
    summary = json.loads(out["summary.json"])
    assert summary["files"] == ["a.csv", "b.csv"] and summary["rows"] == 3
    assert summary["job"] == name and summary["greeting"] == "hello"
    assert summary["resources"] == {"current_host": "algo-1", "hosts": ["algo-1"]}
    assert summary["args"] == ["--split", "0.2"]
    assert sorted(summary["listed"]) == ["in/a.csv", "in/b.csv"]  # the job's own keys work
    streams = logs.describe_log_streams(logGroupName=LOG_GROUP,
                                        logStreamNamePrefix=f"{name}/")["logStreams"]
    assert [s["logStreamName"].rsplit("-", 1)[0] for s in streams] == [f"{name}/algo-1"]
    events = logs.get_log_events(logGroupName=LOG_GROUP,
                                 logStreamName=streams[0]["logStreamName"])["events"]
    assert any(e["message"] == "processed 3 rows" for e in events)
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "stage", "Value": "prep"}])
    sm.delete_tags(ResourceArn=arn, TagKeys=["team"])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "stage", "Value": "prep"}]


def test_a_failing_job_says_why(cove: Any, s3: Any, bucket: str) -> None:
    sm = cove.client("sagemaker")
    script = """
import sys
open("/opt/ml/output/message", "w").write("bad row 7")
print("about to give up", flush=True)
sys.exit(3)
"""
    name = unique("fail")
    sm.create_processing_job(**processing_job(name, upload_script(s3, bucket, script)))
    d = wait(sm, name)
    assert d["ProcessingJobStatus"] == "Failed"
    assert d["FailureReason"].startswith("AlgorithmError: the processing process exited with "
                                         "code 3")
    assert "about to give up" in d["FailureReason"]
    assert d["ExitMessage"] == "bad row 7"
    summary = sm.list_processing_jobs(NameContains=name)["ProcessingJobSummaries"][0]
    assert summary["FailureReason"] == d["FailureReason"]


def test_stop_and_max_runtime(cove: Any, s3: Any, bucket: str) -> None:
    sm, logs = cove.client("sagemaker"), cove.client("logs")
    script = upload_script(s3, bucket, "import time\nprint('working', flush=True)\n"
                                       "time.sleep(300)\n")
    stopped, timed = unique("stop"), unique("limit")
    sm.create_processing_job(**processing_job(stopped, script))
    limited = processing_job(timed, script)
    limited["StoppingCondition"] = {"MaxRuntimeInSeconds": 3}
    sm.create_processing_job(**limited)
    from tests.processing.helpers import log_lines

    wait_for(lambda: "working" in log_lines(logs, stopped))
    sm.stop_processing_job(ProcessingJobName=stopped)
    assert sm.describe_processing_job(ProcessingJobName=stopped)["ProcessingJobStatus"] in (
        "Stopping", "Stopped")
    d = wait(sm, stopped, timeout=90)
    assert d["ProcessingJobStatus"] == "Stopped" and "FailureReason" not in d
    d = wait(sm, timed, timeout=120)
    assert d["ProcessingJobStatus"] == "Stopped"
    assert d["FailureReason"].startswith("MaxRuntimeExceeded")
    with pytest.raises(ClientError) as err:
        sm.stop_processing_job(ProcessingJobName=stopped)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert "status Stopped" in err.value.response["Error"]["Message"]


SHARDS = """
import json, os
def names(path):
    return sorted(os.path.relpath(os.path.join(d, f), path)
                  for d, _, fs in os.walk(path) for f in fs)
resources = json.load(open("/opt/ml/config/resourceconfig.json"))
host = resources["current_host"]
out = "/opt/ml/processing/output/hosts"
json.dump({"sharded": names("/opt/ml/processing/input/sharded"),
           "all": names("/opt/ml/processing/input/all"), "hosts": resources["hosts"],
           "decompressed": open("/opt/ml/processing/input/all/z.csv").read()},
          open(os.path.join(out, host + ".json"), "w"))
"""


def test_sharded_inputs_split_across_two_hosts(cove: Any, s3: Any, bucket: str) -> None:
    sm = cove.client("sagemaker")
    sharded = _data(s3, bucket, "shards", {f"part-{i}.csv": f"{i}\n" for i in range(5)})
    s3.put_object(Bucket=bucket, Key="every/z.csv.gz", Body=gzip.compress(b"unzipped\n"))
    name = unique("shard")
    sm.create_processing_job(**processing_job(
        name, upload_script(s3, bucket, SHARDS), count=2, inputs=[
            s3_input("sharded", sharded, "/opt/ml/processing/input/sharded",
                     S3DataDistributionType="ShardedByS3Key"),
            s3_input("all", f"s3://{bucket}/every", "/opt/ml/processing/input/all",
                     S3CompressionType="Gzip")],
        outputs=[s3_output("hosts", f"s3://{bucket}/hosts/{name}",
                           "/opt/ml/processing/output/hosts")]))
    d = wait(sm, name)
    assert d["ProcessingJobStatus"] == "Completed", d.get("FailureReason")
    out = {k: json.loads(v) for k, v in objects(s3, bucket, f"hosts/{name}").items()}
    assert sorted(out) == ["algo-1.json", "algo-2.json"]
    first, second = out["algo-1.json"], out["algo-2.json"]
    assert first["hosts"] == ["algo-1", "algo-2"]
    assert not set(first["sharded"]) & set(second["sharded"])
    assert sorted(first["sharded"] + second["sharded"]) == [f"part-{i}.csv" for i in range(5)]
    assert {len(first["sharded"]), len(second["sharded"])} == {2, 3}
    assert first["all"] == second["all"] == ["z.csv"]
    assert first["decompressed"] == "unzipped\n"


def test_list_filters_sort_and_pages(cove: Any, s3: Any, bucket: str) -> None:
    sm = cove.client("sagemaker")
    script = upload_script(s3, bucket, "print('ok')\n")
    tag = unique("lst")
    names = [f"{tag}-{i}" for i in range(3)]
    before = time.time() - 1
    for name in names:
        sm.create_processing_job(**processing_job(name, script))
    for name in names:
        assert wait(sm, name)["ProcessingJobStatus"] == "Completed"
    page = sm.list_processing_jobs(NameContains=tag, SortBy="Name", SortOrder="Descending",
                                   MaxResults=2)
    assert [s["ProcessingJobName"] for s in page["ProcessingJobSummaries"]] == names[:0:-1]
    rest = sm.list_processing_jobs(NameContains=tag, SortBy="Name", SortOrder="Descending",
                                   MaxResults=2, NextToken=page["NextToken"])
    assert [s["ProcessingJobName"] for s in rest["ProcessingJobSummaries"]] == names[:1]
    assert "NextToken" not in rest
    assert len(sm.list_processing_jobs(NameContains=tag, StatusEquals="Completed",
                                       CreationTimeAfter=before)["ProcessingJobSummaries"]) == 3
    assert sm.list_processing_jobs(NameContains=tag, StatusEquals="Failed")[
        "ProcessingJobSummaries"] == []
    assert sm.list_processing_jobs(NameContains=tag, CreationTimeBefore=before)[
        "ProcessingJobSummaries"] == []
    paginated = [s["ProcessingJobName"] for p in sm.get_paginator("list_processing_jobs")
                 .paginate(NameContains=tag, PaginationConfig={"PageSize": 1})
                 for s in p["ProcessingJobSummaries"]]
    assert paginated == names


def _refused(sm: Any, request: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ClientError) as err:
        sm.create_processing_job(**request)
    with pytest.raises(ClientError):  # nothing was created
        sm.describe_processing_job(ProcessingJobName=request["ProcessingJobName"])
    return err.value.response["Error"]  # type: ignore[no-any-return]


def test_bad_requests_are_refused_and_change_nothing(cove: Any, s3: Any, bucket: str) -> None:
    sm = cove.client("sagemaker")
    script = upload_script(s3, bucket, "print('ok')\n")
    name = unique("bad")

    def job(**change: Any) -> dict[str, Any]:
        return {**processing_job(name, script), **change}

    error = _refused(sm, job(ProcessingInputs=[s3_input(
        "data", f"s3://{bucket}/nothing-here", "/opt/ml/processing/input/data")]))
    assert error["Code"] == "ValidationException" and "No S3 objects found" in error["Message"]
    for local in ("/etc/cron.d", "/opt/ml/processing/../../../etc", "/opt/ml/processing",
                  "relative/path", "/opt/ml/input/data"):
        error = _refused(sm, job(ProcessingInputs=[s3_input("code", script, local)]))
        assert error["Code"] == "ValidationException", local
        assert "under /opt/ml/processing/" in error["Message"]
    error = _refused(sm, job(ProcessingOutputConfig={"Outputs": [s3_output(
        "o", f"s3://{bucket}/o", "/opt/ml/processing/../config")]}))
    assert "under /opt/ml/processing/" in error["Message"]
    error = _refused(sm, job(AppSpecification={"ImageUri": "ubuntu:22.04",
                                               "ContainerEntrypoint": ["python3"]}))
    assert "cannot run the processing image" in error["Message"]
    request = job()
    del request["AppSpecification"]["ContainerEntrypoint"]
    assert "ContainerEntrypoint is required" in _refused(sm, request)["Message"]
    request = job()
    request["ProcessingInputs"][0]["S3Input"]["S3InputMode"] = "Pipe"
    assert "File only" in _refused(sm, request)["Message"]
    request = job()
    request["ProcessingResources"]["ClusterConfig"]["InstanceCount"] = 9
    assert _refused(sm, request)["Code"] == "ResourceLimitExceeded"
    error = _refused(sm, job(ProcessingOutputConfig={"Outputs": [s3_output(
        "o", "s3://no-such-bucket-here/o", "/opt/ml/processing/out")]}))
    assert "does not exist" in error["Message"]
    error = _refused(sm, job(ProcessingJobName="bad_name!"))
    assert error["Code"] == "ValidationException"
    sm.create_processing_job(**job())
    with pytest.raises(ClientError) as err:
        sm.create_processing_job(**job())
    assert err.value.response["Error"]["Code"] == "ResourceInUse"
    with pytest.raises(ClientError) as err:
        sm.describe_processing_job(ProcessingJobName=unique("missing"))
    assert "Could not find processing job" in err.value.response["Error"]["Message"]
    wait(sm, name)


HOSTILE = """
import os
out = "/opt/ml/processing/output/loot"
os.symlink(os.environ["SECRET"], os.path.join(out, "credentials.json"))
os.symlink("/etc", os.path.join(out, "etc"))
os.symlink(os.environ["SECRET"], "/opt/ml/output/message")
open(os.path.join(out, "honest.txt"), "w").write("mine")
"""


def test_a_hostile_job_cannot_make_cove_read_its_files(cove: Any, s3: Any,
                                                       bucket: str) -> None:
    sm = cove.client("sagemaker")
    secret = str(cove.home / "credentials.json")
    name = unique("hostile")
    sm.create_processing_job(**processing_job(
        name, upload_script(s3, bucket, HOSTILE), Environment={"SECRET": secret},
        outputs=[s3_output("loot", f"s3://{bucket}/loot/{name}",
                           "/opt/ml/processing/output/loot")]))
    d = wait(sm, name)
    assert d["ProcessingJobStatus"] == "Completed", d.get("FailureReason")
    assert "ExitMessage" not in d  # a link is not a message: cove did not follow it
    assert objects(s3, bucket, f"loot/{name}") == {"honest.txt": b"mine"}
