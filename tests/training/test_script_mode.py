"""Script-mode training jobs through boto3: the container contract, logs, metrics, failures."""

from __future__ import annotations

import io
import itertools
import json
import tarfile
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.training.helpers import log_lines, script_job, unique, upload_source, wait, wait_for

TRAIN = """
import argparse, json, os, sys
parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int)
parser.add_argument("--lr", type=float)
parser.add_argument("--name")
args = parser.parse_args()
data_dir = os.environ["SM_CHANNEL_TRAIN"]
rows = sum(len(open(os.path.join(d, f)).read().splitlines())
           for d, _, fs in os.walk(data_dir) for f in fs)
for epoch in range(args.epochs):
    print(f"epoch={epoch}\\tloss={1.0 / (epoch + 1):.4f}", flush=True)
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w") as f:
    json.dump({"rows": rows, "lr": args.lr, "name": args.name,
               "hosts": json.loads(os.environ["SM_HOSTS"]),
               "host": os.environ["SM_CURRENT_HOST"], "cwd": os.getcwd(),
               "channels": json.loads(os.environ["SM_CHANNELS"]),
               "hps": json.loads(os.environ["SM_HPS"]),
               "job": os.environ["TRAINING_JOB_NAME"],
               "config": json.load(open(os.path.join(os.environ["SM_INPUT_CONFIG_DIR"],
                                                     "resourceconfig.json")))}, f)
os.makedirs(os.environ["SM_OUTPUT_DATA_DIR"], exist_ok=True)
open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "report.txt"), "w").write("done")
"""


@pytest.fixture
def sm(cove: Any) -> Any:
    return cove.client("sagemaker")


@pytest.fixture
def logs(cove: Any) -> Any:
    return cove.client("logs")


def _data(s3: Any, bucket: str, prefix: str = "data/train") -> str:
    s3.put_object(Bucket=bucket, Key=f"{prefix}/part-1.csv", Body=b"1,2\n3,4\n")
    s3.put_object(Bucket=bucket, Key=f"{prefix}/sub/part-2.csv", Body=b"5,6\n")
    return f"s3://{bucket}/{prefix}"


def _model(s3: Any, describe: dict[str, Any]) -> dict[str, Any]:
    bucket, key = describe["ModelArtifacts"]["S3ModelArtifacts"][5:].split("/", 1)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        member = tar.extractfile("model.json")
        assert member is not None
        return json.loads(member.read())  # type: ignore[no-any-return]


def test_script_job_runs_with_the_container_contract(s3: Any, sm: Any, logs: Any,
                                                     bucket: str) -> None:
    source = upload_source(s3, bucket, {"train.py": TRAIN})
    name = unique("script")
    request = script_job(name, bucket, source, hyperparameters={
        "epochs": "3", "lr": "0.1", "name": '"my model"'},
        channels={"train": _data(s3, bucket)},
        algorithm={"MetricDefinitions": [{"Name": "train:loss", "Regex": r"loss=([0-9.]+)"}]})
    arn = sm.create_training_job(**request)["TrainingJobArn"]
    assert arn.endswith(f"training-job/{name}")
    d = wait(sm, name)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert [t["Status"] for t in d["SecondaryStatusTransitions"]] == [
        "Starting", "Downloading", "Training", "Uploading", "Completed"]
    transitions = d["SecondaryStatusTransitions"]
    assert all(t["StartTime"] <= t["EndTime"] for t in transitions)
    assert all(a["EndTime"] == b["StartTime"] for a, b in itertools.pairwise(transitions))
    assert transitions[-1]["EndTime"] == d["TrainingEndTime"]
    assert d["TrainingStartTime"] <= d["TrainingEndTime"]
    assert d["TrainingTimeInSeconds"] >= 1 and d["BillableTimeInSeconds"] >= 1
    model = _model(s3, d)
    assert model["rows"] == 3 and model["lr"] == 0.1 and model["name"] == "my model"
    assert model["hosts"] == ["algo-1"] and model["host"] == "algo-1"
    assert model["channels"] == ["train"] and model["job"] == name
    assert model["hps"] == {"epochs": 3, "lr": 0.1, "name": "my model"}
    assert model["config"]["current_host"] == "algo-1"
    output = d["OutputDataConfig"]["S3OutputPath"].split("/", 3)[3]
    assert s3.head_object(Bucket=bucket, Key=f"{output}/{name}/output/output.tar.gz")
    final = {m["MetricName"]: m["Value"] for m in d["FinalMetricDataList"]}
    assert final == {"train:loss": pytest.approx(1 / 3, abs=1e-4)}
    lines = log_lines(logs, name)
    assert "epoch=2#011loss=0.3333" in lines  # TABs read #011, as in CloudWatch


def test_crashing_script_fails_with_its_traceback(s3: Any, sm: Any, logs: Any,
                                                  bucket: str) -> None:
    source = upload_source(s3, bucket, {"train.py": """
        def load():
            raise ValueError("the data has no label column")
        load()
    """})
    name = unique("crash")
    sm.create_training_job(**script_job(name, bucket, source))
    d = wait(sm, name)
    assert d["TrainingJobStatus"] == "Failed" and d["SecondaryStatus"] == "Failed"
    assert "ValueError: the data has no label column" in d["FailureReason"]
    assert "ModelArtifacts" not in d
    assert any("Traceback" in line for line in log_lines(logs, name))


def test_failure_file_is_the_reason(s3: Any, sm: Any, bucket: str) -> None:
    source = upload_source(s3, bucket, {"train.py": """
        import os, sys
        open(os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"), "w").write(
            "Bad hyperparameter: depth must be positive")
        sys.exit(3)
    """})
    name = unique("failfile")
    sm.create_training_job(**script_job(name, bucket, source))
    d = wait(sm, name)
    assert d["FailureReason"] == "AlgorithmError: Bad hyperparameter: depth must be positive"


def test_stop_keeps_what_is_in_model_dir(s3: Any, sm: Any, logs: Any, bucket: str) -> None:
    source = upload_source(s3, bucket, {"train.py": """
        import json, os, signal, sys, time
        def on_term(signum, frame):
            print("got SIGTERM, saving", flush=True)
            json.dump({"stopped": True}, open(os.environ["SM_MODEL_DIR"] + "/model.json", "w"))
            sys.exit(0)
        signal.signal(signal.SIGTERM, on_term)
        print("training forever", flush=True)
        while True:
            time.sleep(0.1)
    """})
    name = unique("stop")
    sm.create_training_job(**script_job(name, bucket, source))
    wait_for(lambda: "training forever" in log_lines(logs, name))
    sm.stop_training_job(TrainingJobName=name)
    assert sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] in (
        "Stopping", "Stopped")
    d = wait(sm, name)
    assert d["TrainingJobStatus"] == "Stopped" and d["SecondaryStatus"] == "Stopped"
    assert _model(s3, d) == {"stopped": True}
    with pytest.raises(ClientError) as err:
        sm.stop_training_job(TrainingJobName=name)
    assert "status Stopped" in str(err.value)


def test_max_runtime_is_enforced(s3: Any, sm: Any, bucket: str) -> None:
    source = upload_source(s3, bucket, {"train.py": "import time\ntime.sleep(120)\n"})
    name = unique("slow")
    sm.create_training_job(**script_job(name, bucket, source,
                                        StoppingCondition={"MaxRuntimeInSeconds": 2}))
    d = wait(sm, name, timeout=60)
    assert d["TrainingJobStatus"] == "Stopped" and d["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert d["TrainingTimeInSeconds"] < 30


def test_job_cannot_see_cove_secrets_but_reaches_cove(cove: Any, s3: Any, sm: Any,
                                                      bucket: str) -> None:
    home = str(cove.home)
    source = upload_source(s3, bucket, {"train.py": f"""
        import json, os, boto3
        home = {home!r}
        report = {{
            "home_listing": os.listdir(home) if os.path.isdir(home) else None,
            "credentials_readable": os.path.exists(os.path.join(home, "credentials.json")),
            "env_keys": sorted(os.environ),
            "buckets": [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]],
            "cove_env_visible": any(
                "COVE_HOME" in open(f"/proc/{{p}}/environ", errors="ignore").read()
                for p in os.listdir("/proc")
                if p.isdigit() and os.access(f"/proc/{{p}}/environ", os.R_OK)),
        }}
        json.dump(report, open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w"))
    """})
    name = unique("probe")
    sm.create_training_job(**script_job(name, bucket, source))
    d = wait(sm, name)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    report = _model(s3, d)
    # Only the (secret-free) cache of requirement environments is mounted back into the home.
    assert set(report["home_listing"] or []) <= {"envs"}
    assert report["credentials_readable"] is False
    assert report["cove_env_visible"] is False
    assert bucket in report["buckets"]  # scoped credentials reach cove
    assert "COVE_HOME" not in report["env_keys"]
    assert cove.credentials["secret_access_key"] not in json.dumps(report)


def test_create_validation(s3: Any, sm: Any, bucket: str) -> None:
    source = upload_source(s3, bucket, {"train.py": "print('hi')\n"})
    name = unique("valid")
    cases = [
        ({"TrainingJobName": "bad_name!"}, "failed to satisfy constraint"),
        ({"TrainingJobName": "x" * 64}, "length less than or equal to 63"),
        ({"AlgorithmSpecification": {"TrainingImage": "docker.io/me/my-image:1",
                                     "TrainingInputMode": "File"}}, "cannot run the image"),
        ({"AlgorithmSpecification": {"TrainingImage": "x", "TrainingInputMode": "Bogus"}},
         "enum value set"),
        ({"InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/nothing-here/"}}}]},
         "No S3 objects found"),
        ({"OutputDataConfig": {"S3OutputPath": "s3://no-such-bucket-anywhere/out"}},
         "does not exist"),
    ]
    for change, message in cases:
        request = {**script_job(name, bucket, source), **change}
        with pytest.raises(ClientError) as err:
            sm.create_training_job(**request)
        assert err.value.response["Error"]["Code"] == "ValidationException", change
        assert message in err.value.response["Error"]["Message"], change
    sm.create_training_job(**script_job(name, bucket, source))
    with pytest.raises(ClientError) as err:
        sm.create_training_job(**script_job(name, bucket, source))
    assert "already exists" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        sm.describe_training_job(TrainingJobName="never-created-job")
    assert "Could not find" in err.value.response["Error"]["Message"]
    wait(sm, name)


def test_list_filters_sorting_pagination_and_tags(s3: Any, sm: Any, bucket: str) -> None:
    source = upload_source(s3, bucket, {"train.py": "print('quick')\n"})
    marker = unique("listing")
    names = [f"{marker}-{i}" for i in range(3)]
    for n in names:
        sm.create_training_job(**script_job(n, bucket, source,
                                            Tags=[{"Key": "team", "Value": "ml"}]))
    for n in names:
        wait(sm, n)
    got = [s["TrainingJobName"] for page in sm.get_paginator("list_training_jobs").paginate(
        NameContains=marker, SortBy="Name", SortOrder="Descending",
        PaginationConfig={"PageSize": 2}) for s in page["TrainingJobSummaries"]]
    assert got == sorted(names, reverse=True)
    done = sm.list_training_jobs(NameContains=marker, StatusEquals="Completed")
    assert len(done["TrainingJobSummaries"]) == 3
    arn = sm.describe_training_job(TrainingJobName=names[0])["TrainingJobArn"]
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "stage", "Value": "dev"}])
    sm.delete_tags(ResourceArn=arn, TagKeys=["team"])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "stage", "Value": "dev"}]


def test_manifest_channel_and_container_entrypoint(s3: Any, sm: Any, bucket: str) -> None:
    for name in ("a.csv", "b.csv", "skipped.csv"):
        s3.put_object(Bucket=bucket, Key=f"pool/{name}", Body=name.encode())
    manifest = [{"prefix": f"s3://{bucket}/pool/"}, "a.csv", "b.csv"]
    s3.put_object(Bucket=bucket, Key="manifests/train.manifest", Body=json.dumps(manifest))
    source = upload_source(s3, bucket, {"job.py": """
        import json, os, sys
        import numpy  # the interpreter on PATH is cove's, with the frameworks
        files = sorted(os.listdir(os.environ["SM_CHANNEL_TRAIN"]))
        json.dump({"files": files, "argv": sys.argv[1:]},
                  open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w"))
    """})
    name = unique("entry")
    request = script_job(name, bucket, source, entry="job.py", algorithm={
        # SDK v3's ModelTrainer style: the command is given outright, the code is in /opt/ml/code
        "ContainerEntrypoint": ["python", "/opt/ml/code/job.py"],
        "ContainerArguments": ["--mode", "manifest"]})
    request["InputDataConfig"] = [{"ChannelName": "train", "DataSource": {"S3DataSource": {
        "S3DataType": "ManifestFile", "S3Uri": f"s3://{bucket}/manifests/train.manifest"}}}]
    sm.create_training_job(**request)
    d = wait(sm, name)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert _model(s3, d) == {"files": ["a.csv", "b.csv"], "argv": ["--mode", "manifest"]}
