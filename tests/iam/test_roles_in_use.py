"""The role a resource names decides what its code may do: a training job and a function under a
narrow role, create-time role checks, and keys that die with their owner (even after kill -9)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import REGION, CoveServer
from tests.functions.conftest import zip_of
from tests.training.helpers import log_lines, script_job, upload_source, wait, wait_for

TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": ["sagemaker.amazonaws.com",
                                                 "lambda.amazonaws.com"]},
    "Action": "sts:AssumeRole"}]}

#: What the code under test tries with its own keys; it prints one JSON line (training) or
#: returns it (function).
PROBE = """
import json, os
import boto3
from botocore.exceptions import ClientError

def probe(bucket, other):
    s3, sm = boto3.client("s3"), boto3.client("sagemaker")
    out = {"me": boto3.client("sts").get_caller_identity()["Arn"],
           "read": s3.get_object(Bucket=bucket, Key="data/in.txt")["Body"].read().decode()}
    s3.put_object(Bucket=bucket, Key="output/written.txt", Body=b"written")
    out["listed"] = [o["Key"] for o in s3.list_objects_v2(
        Bucket=bucket, Prefix="data/")["Contents"]]
    def attempt(name, fn):
        try:
            fn()
            out[name] = "allowed"
        except ClientError as exc:
            out[name] = exc.response["Error"]["Code"]
    attempt("other_bucket", lambda: s3.get_object(Bucket=other, Key="data/in.txt"))
    attempt("list_other_prefix", lambda: s3.list_objects_v2(Bucket=bucket, Prefix="secret/"))
    attempt("write_outside_output", lambda: s3.put_object(Bucket=bucket, Key="data/in.txt",
                                                          Body=b"overwritten"))
    attempt("list_buckets", s3.list_buckets)
    attempt("create_model", lambda: sm.create_model(
        ModelName="escape", ExecutionRoleArn=os.environ.get("ROLE_ARN", "x" * 20),
        PrimaryContainer={"Image": "x"}))
    return out
"""


def narrow_role(iam: Any, bucket: str) -> str:
    role = f"narrow-{uuid.uuid4().hex[:8]}"
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    iam.put_role_policy(RoleName=role, PolicyName="its-bucket", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject",
             "Resource": f"arn:aws:s3:::{bucket}/*"},
            {"Effect": "Allow", "Action": "s3:PutObject",
             "Resource": f"arn:aws:s3:::{bucket}/output/*"},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}",
             "Condition": {"StringLike": {"s3:prefix": ["data/*", "output/*"]}}},
            {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
             "Resource": "*"}]}))
    return str(arn)


def own_client(cove: CoveServer, service: str, key: str, secret: str,
               token: str | None) -> Any:
    """A client that signs with keys cove gave to code it runs."""
    return boto3.session.Session().client(service, endpoint_url=cove.url, region_name=REGION,
                                          aws_access_key_id=key, aws_secret_access_key=secret,
                                          aws_session_token=token)


def expected(account: str, role: str, session: str) -> dict[str, Any]:
    return {"me": f"arn:aws:sts::{account}:assumed-role/{role}/{session}", "read": "secret data",
            "listed": ["data/in.txt"], "other_bucket": "AccessDenied",
            "list_other_prefix": "AccessDenied", "write_outside_output": "AccessDenied",
            "list_buckets": "AccessDenied", "create_model": "AccessDeniedException"}


@pytest.fixture
def buckets(s3: Any) -> tuple[str, str]:
    mine, other = (f"iam-{uuid.uuid4().hex[:10]}" for _ in range(2))
    for b in (mine, other):
        s3.create_bucket(Bucket=b)
        s3.put_object(Bucket=b, Key="data/in.txt", Body=b"secret data")
    return mine, other


def test_a_training_job_acts_for_its_role(cove: CoveServer, s3: Any,
                                          buckets: tuple[str, str]) -> None:
    iam, sm, logs = cove.client("iam"), cove.client("sagemaker"), cove.client("logs")
    mine, other = buckets
    role_arn = narrow_role(iam, mine)
    account = cove.client("sts").get_caller_identity()["Account"]
    source = upload_source(s3, mine, {"train.py": PROBE + (
        "\nimport sys\nprint('REPORT ' + json.dumps(probe(sys.argv[2], sys.argv[4])))\n")})
    name = f"narrow-{uuid.uuid4().hex[:8]}"
    job = script_job(name, mine, source, hyperparameters={"bucket": mine, "other": other})
    job["RoleArn"] = role_arn
    sm.create_training_job(**job)
    done = wait(sm, name, timeout=240)
    assert done["TrainingJobStatus"] == "Completed", done.get("FailureReason")
    reports = [line for line in log_lines(logs, name) if line.startswith("REPORT ")]
    assert reports, log_lines(logs, name)[-20:]
    assert json.loads(reports[0][len("REPORT "):]) == expected(account, role_arn.rsplit(
        "/", 1)[1], name)
    assert s3.get_object(Bucket=mine, Key="output/written.txt")["Body"].read() == b"written"
    assert s3.get_object(Bucket=mine, Key="data/in.txt")["Body"].read() == b"secret data"


def test_a_function_acts_for_its_role(cove: CoveServer, buckets: tuple[str, str]) -> None:
    iam, lam = cove.client("iam"), cove.client("lambda")
    mine, other = buckets
    role_arn = narrow_role(iam, mine)
    account = cove.client("sts").get_caller_identity()["Account"]
    name = f"fn-{uuid.uuid4().hex[:8]}"
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=role_arn,
                        Handler="lambda_function.handler", Timeout=60,
                        Code={"ZipFile": zip_of({"lambda_function.py": PROBE + (
                            "\ndef handler(event, context):\n"
                            "    return probe(event['bucket'], event['other'])\n")})})
    answer = lam.invoke(FunctionName=name, Payload=json.dumps({"bucket": mine, "other": other}))
    report = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, report
    assert report == expected(account, role_arn.rsplit("/", 1)[1], name)

    # a new Role applies to the function's keys at once
    lam.update_function_configuration(FunctionName=name, Role=cove.client("iam").get_role(
        RoleName="CoveExecutionRole")["Role"]["Arn"])
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    report = json.loads(lam.invoke(FunctionName=name, Payload=json.dumps(
        {"bucket": mine, "other": other}))["Payload"].read())
    assert report["me"].endswith(f":assumed-role/CoveExecutionRole/{name}")
    assert report["other_bucket"] == "allowed"


def test_roles_are_checked_at_create_time(cove: CoveServer, s3: Any, bucket: str) -> None:
    iam, sm, lam = cove.client("iam"), cove.client("sagemaker"), cove.client("lambda")
    account = cove.client("sts").get_caller_identity()["Account"]
    lambda_only = f"lambda-only-{uuid.uuid4().hex[:6]}"
    iam.create_role(RoleName=lambda_only, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole"}]}))
    sagemaker_only = f"sm-only-{uuid.uuid4().hex[:6]}"
    iam.create_role(RoleName=sagemaker_only, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole"}]}))
    source = upload_source(s3, bucket, {"train.py": "print('hi')\n"})
    for role in (f"arn:aws:iam::{account}:role/NoSuchRole",
                 f"arn:aws:iam::{account}:role/{lambda_only}"):
        job = script_job(f"bad-role-{uuid.uuid4().hex[:6]}", bucket, source)
        job["RoleArn"] = role
        with pytest.raises(ClientError) as info:
            sm.create_training_job(**job)
        assert info.value.response["Error"]["Code"] == "ValidationException"
        assert info.value.response["Error"]["Message"] == (
            f"Could not assume role {role}. Please ensure that the role exists and allows "
            "principal 'sagemaker.amazonaws.com' to assume the role.")
        with pytest.raises(ClientError) as info:
            sm.describe_training_job(TrainingJobName=job["TrainingJobName"])
        assert "Could not find" in info.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as info:
        sm.create_model(ModelName=f"m-{uuid.uuid4().hex[:6]}",
                        ExecutionRoleArn=f"arn:aws:iam::{account}:role/{lambda_only}",
                        PrimaryContainer={"Image": "x"})
    assert "Could not assume role" in info.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as info:
        sm.create_notebook_instance(NotebookInstanceName=f"nb-{uuid.uuid4().hex[:6]}",
                                    InstanceType="ml.t3.medium",
                                    RoleArn=f"arn:aws:iam::{account}:role/NoSuchRole")
    assert "Could not assume role" in info.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as info:
        lam.create_function(FunctionName=f"fn-{uuid.uuid4().hex[:6]}", Runtime="python3.11",
                            Role=f"arn:aws:iam::{account}:role/{sagemaker_only}",
                            Handler="lambda_function.handler",
                            Code={"ZipFile": zip_of({"lambda_function.py": "x = 1\n"})})
    assert info.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert info.value.response["Error"]["Message"] == (
        "The role defined for the function cannot be assumed by Lambda.")


def test_a_job_key_dies_with_its_run_even_after_kill_9(fresh_cove: CoveServer) -> None:
    s3, sm, logs = (fresh_cove.client(s) for s in ("s3", "sagemaker", "logs"))
    bucket = f"crash-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    source = upload_source(s3, bucket, {"train.py": (
        "import os, time\n"
        "print('KEYS', os.environ['AWS_ACCESS_KEY_ID'], os.environ['AWS_SECRET_ACCESS_KEY'],"
        " os.environ['AWS_SESSION_TOKEN'], flush=True)\n"
        "deadline = time.monotonic() + 120\n"
        "while time.monotonic() < deadline and not os.path.exists('/nonexistent/stop'):\n"
        "    time.sleep(0.5)\n")})
    name = f"crash-{uuid.uuid4().hex[:8]}"
    sm.create_training_job(**script_job(name, bucket, source))
    line = wait_for(lambda: next((x for x in log_lines(logs, name) if x.startswith("KEYS ")),
                                 None), timeout=120)
    key, secret, token = line.split()[1:4]
    own = own_client(fresh_cove, "s3", key, secret, token)
    assert own.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(ClientError) as info:  # a temporary key is nothing without its token
        own_client(fresh_cove, "s3", key, secret, None).list_objects_v2(Bucket=bucket)
    assert info.value.response["Error"]["Code"] == "InvalidAccessKeyId"

    fresh_cove.kill()
    fresh_cove.start()
    sm = fresh_cove.client("sagemaker")
    assert sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "Failed"
    own = own_client(fresh_cove, "s3", key, secret, token)
    with pytest.raises(ClientError) as info:
        own.list_objects_v2(Bucket=bucket)
    assert info.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


WORKER_PROBE = b"""
import json, os
import boto3
from botocore.exceptions import ClientError

def model_fn(model_dir):
    return None

def transform_fn(model, body, content_type, accept):
    bucket, other = (body.decode() if isinstance(body, bytes) else body).split()
    s3 = boto3.client("s3")
    out = {"me": boto3.client("sts").get_caller_identity()["Arn"],
           "read": s3.get_object(Bucket=bucket, Key="data/in.txt")["Body"].read().decode(),
           "keys": [os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"],
                    os.environ["AWS_SESSION_TOKEN"]]}
    for name, call in (("list_buckets", s3.list_buckets),
                       ("other_bucket", lambda: s3.get_object(Bucket=other, Key="data/in.txt"))):
        try:
            call()
            out[name] = "allowed"
        except ClientError as exc:
            out[name] = exc.response["Error"]["Code"]
    return json.dumps(out), "application/json"
"""


def probe_model(sm: Any, s3: Any, bucket: str, role_arn: str, code: bytes = WORKER_PROBE) -> str:
    """A script-mode model whose inference code is ``code``, acting for ``role_arn``."""
    from tests.hosting.test_endpoints import SK_IMAGE, _tar

    s3.put_object(Bucket=bucket, Key="model/model.tar.gz", Body=_tar({"code/inference.py": code}))
    model = f"m-{uuid.uuid4().hex[:8]}"
    sm.create_model(ModelName=model, ExecutionRoleArn=role_arn, PrimaryContainer={
        "Image": SK_IMAGE, "ModelDataUrl": f"s3://{bucket}/model/model.tar.gz",
        "Environment": {"SAGEMAKER_PROGRAM": "inference.py",
                        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}})
    return model


def test_endpoint_workers_act_for_the_models_execution_role(
        cove: CoveServer, s3: Any, buckets: tuple[str, str]) -> None:
    iam, sm = cove.client("iam"), cove.client("sagemaker")
    runtime = cove.client("sagemaker-runtime")
    mine, other = buckets
    role_arn = narrow_role(iam, mine)
    account = cove.client("sts").get_caller_identity()["Account"]
    model, name = probe_model(sm, s3, mine, role_arn), f"ep-{uuid.uuid4().hex[:8]}"
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name,
                                              WaiterConfig={"Delay": 1, "MaxAttempts": 180})
    reply = json.loads(runtime.invoke_endpoint(EndpointName=name, ContentType="text/plain",
                                               Body=f"{mine} {other}".encode())["Body"].read())
    assert reply["me"] == f"arn:aws:sts::{account}:assumed-role/{role_arn.rsplit('/', 1)[1]}/" \
                          f"{model}"
    assert reply["read"] == "secret data" and reply["list_buckets"] == "AccessDenied"
    assert reply["other_bucket"] == "AccessDenied"

    own = own_client(cove, "s3", *reply["keys"])
    assert own.get_object(Bucket=mine, Key="data/in.txt")["Body"].read() == b"secret data"
    sm.delete_endpoint(EndpointName=name)
    with pytest.raises(ClientError) as info:
        own.get_object(Bucket=mine, Key="data/in.txt")
    assert info.value.response["Error"]["Code"] == "InvalidAccessKeyId"


def test_a_notebook_acts_for_its_role(cove: CoveServer, buckets: tuple[str, str],
                                      tmp_path: Any) -> None:
    """A notebook instance's kernel gets keys for the instance's RoleArn, and only what that
    role allows."""
    import nbformat

    from cove.notebooks import run_notebook
    from tests.notebooks.test_instances import wait_in_service

    iam, sm = cove.client("iam"), cove.client("sagemaker")
    mine, other = buckets
    role_arn = narrow_role(iam, mine)
    account = cove.client("sts").get_caller_identity()["Account"]
    name = f"nb-{uuid.uuid4().hex[:8]}"
    sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium",
                                RoleArn=role_arn)
    try:
        wait_in_service(sm, name)
        notebook = nbformat.v4.new_notebook()
        notebook.cells = [nbformat.v4.new_code_cell(
            PROBE + f"\nprint(json.dumps(probe({mine!r}, {other!r})))\n")]
        path = tmp_path / "probe.ipynb"
        nbformat.write(notebook, path)
        url = sm.create_presigned_notebook_instance_url(NotebookInstanceName=name)[
            "AuthorizedUrl"]
        directory = cove.home / "notebooks" / name
        run = run_notebook(path, url, directory / "SageMaker",
                           directory / "home/.local/share/jupyter/runtime", cell_timeout=120)
        assert run.error is None, run.error
        report = json.loads([ln for ln in run.text().splitlines() if ln.startswith("{")][-1])
        assert report == expected(account, role_arn.rsplit("/", 1)[1], name)
    finally:
        sm.stop_notebook_instance(NotebookInstanceName=name)


def transform_request(name: str, model: str, bucket: str) -> dict[str, Any]:
    return {"TransformJobName": name, "ModelName": model,
            "TransformInput": {"DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/batch/"}},
                "ContentType": "text/plain", "SplitType": "Line"},
            "TransformOutput": {"S3OutputPath": f"s3://{bucket}/output/{name}",
                                "AssembleWith": "Line"},
            "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1}}


def test_transform_workers_act_for_the_models_execution_role(
        cove: CoveServer, s3: Any, buckets: tuple[str, str]) -> None:
    from tests.transform.helpers import wait as wait_transform

    iam, sm = cove.client("iam"), cove.client("sagemaker")
    mine, other = buckets
    role_arn = narrow_role(iam, mine)
    account = cove.client("sts").get_caller_identity()["Account"]
    model, name = probe_model(sm, s3, mine, role_arn), f"tj-{uuid.uuid4().hex[:8]}"
    s3.put_object(Bucket=mine, Key="batch/in.txt", Body=f"{mine} {other}\n".encode())
    sm.create_transform_job(**transform_request(name, model, mine))
    done = wait_transform(sm, name, timeout=240)
    assert done["TransformJobStatus"] == "Completed", done.get("FailureReason")
    reply = json.loads(s3.get_object(Bucket=mine, Key=f"output/{name}/in.txt.out")["Body"].read())
    assert reply["me"] == f"arn:aws:sts::{account}:assumed-role/{role_arn.rsplit('/', 1)[1]}/" \
                          f"{model}"
    assert reply["read"] == "secret data"
    assert (reply["list_buckets"], reply["other_bucket"]) == ("AccessDenied", "AccessDenied")
    assert reply["keys"][0] != cove.credentials["access_key_id"]
    with pytest.raises(ClientError) as info:  # the job ended: so did its workers' key
        own_client(cove, "s3", *reply["keys"]).get_object(Bucket=mine, Key="data/in.txt")
    assert info.value.response["Error"]["Code"] == "InvalidAccessKeyId"


#: Inference code that hands its key to the test (through the bucket) and then keeps the job
#: running until cove is killed.
HOLDING_PROBE = b"""
import json, os, time
import boto3

def model_fn(model_dir):
    return None

def transform_fn(model, body, content_type, accept):
    bucket = (body.decode() if isinstance(body, bytes) else body).split()[0]
    keys = [os.environ[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                    "AWS_SESSION_TOKEN")]
    boto3.client("s3").put_object(Bucket=bucket, Key="output/keys.json", Body=json.dumps(keys))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        time.sleep(0.5)
    return "late", "text/plain"
"""


@pytest.mark.parametrize("ending", ["stopped", "killed"])
def test_transform_worker_keys_die_with_the_job_even_after_kill_9(
        fresh_cove: CoveServer, ending: str) -> None:
    s3, sm = fresh_cove.client("s3"), fresh_cove.client("sagemaker")
    bucket = f"tk-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="data/in.txt", Body=b"secret data")
    s3.put_object(Bucket=bucket, Key="batch/in.txt", Body=f"{bucket} x\n".encode())
    role = fresh_cove.client("iam").get_role(RoleName="CoveExecutionRole")["Role"]["Arn"]
    name = f"tj-{uuid.uuid4().hex[:8]}"
    sm.create_transform_job(**transform_request(
        name, probe_model(sm, s3, bucket, role, HOLDING_PROBE), bucket))
    keys = json.loads(wait_for(lambda: _object(s3, bucket, "output/keys.json"), timeout=180))
    own = own_client(fresh_cove, "s3", *keys)
    assert own.get_object(Bucket=bucket, Key="data/in.txt")["Body"].read() == b"secret data"

    if ending == "stopped":
        sm.stop_transform_job(TransformJobName=name)
        wait_for(lambda: sm.describe_transform_job(TransformJobName=name)[
            "TransformJobStatus"] == "Stopped" or None, timeout=120)
    else:
        fresh_cove.kill()
        fresh_cove.start()
        sm = fresh_cove.client("sagemaker")
        assert sm.describe_transform_job(TransformJobName=name)["TransformJobStatus"] == "Failed"
    own = own_client(fresh_cove, "s3", *keys)
    with pytest.raises(ClientError) as info:
        own.get_object(Bucket=bucket, Key="data/in.txt")
    assert info.value.response["Error"]["Code"] == "InvalidAccessKeyId"


def _object(s3: Any, bucket: str, key: str) -> bytes | None:
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()  # type: ignore[no-any-return]
    except ClientError:
        return None
