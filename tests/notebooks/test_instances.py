"""Notebook instances through the SageMaker API with boto3: JupyterLab processes cove manages,
their token-protected URLs, stop/start keeping the files, restarts of cove, and the
environment their kernels get."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import nbformat
import pytest
import requests
from botocore.exceptions import ClientError, WaiterError

from cove.notebooks import run_notebook
from tests.conftest import CoveServer

ROLE = "arn:aws:iam::000000000000:role/CoveExecutionRole"


def create(sm: Any, name: str, **extra: Any) -> None:
    sm.create_notebook_instance(**{"NotebookInstanceName": name, "InstanceType": "ml.t3.medium",
                                   "RoleArn": ROLE, **extra})


def wait_in_service(sm: Any, name: str) -> dict[str, Any]:
    sm.get_waiter("notebook_instance_in_service").wait(
        NotebookInstanceName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 240})
    return sm.describe_notebook_instance(NotebookInstanceName=name)  # type: ignore[no-any-return]


def wait_stopped(sm: Any, name: str) -> None:
    sm.get_waiter("notebook_instance_stopped").wait(
        NotebookInstanceName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 120})


def error_code(call: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def base(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc}"


def test_lifecycle_url_token_and_files_kept_across_stop_and_start(fresh_cove: CoveServer) -> None:
    sm = fresh_cove.client("sagemaker")
    arn = sm.create_notebook_instance(NotebookInstanceName="lab", InstanceType="ml.t3.medium",
                                      RoleArn=ROLE)["NotebookInstanceArn"]
    assert arn.endswith(":notebook-instance/lab")
    assert sm.describe_notebook_instance(NotebookInstanceName="lab")[
        "NotebookInstanceStatus"] in ("Pending", "InService")
    described = wait_in_service(sm, "lab")
    assert described["RoleArn"] == ROLE and described["InstanceType"] == "ml.t3.medium"
    assert described["Url"].startswith("127.0.0.1:")

    url = sm.create_presigned_notebook_instance_url(NotebookInstanceName="lab")["AuthorizedUrl"]
    page = requests.get(url, timeout=30)
    assert page.status_code == 200 and "JupyterLab" in page.text  # the token logs the browser in
    assert requests.get(base(url) + "/api/status", timeout=30).status_code == 403
    login = requests.get(base(url) + "/lab", allow_redirects=False, timeout=30)
    assert login.status_code == 302 and "/login" in login.headers["Location"]
    with requests.Session() as browser:  # the cookie the presigned URL set keeps it logged in
        browser.get(url, timeout=30)
        assert browser.get(base(url) + "/api/contents", timeout=30).status_code == 200

    token = {"Authorization": "token " + url.rsplit("token=", 1)[1]}
    put = requests.put(base(url) + "/api/contents/kept.txt", headers=token, timeout=30,
                       json={"type": "file", "format": "text", "content": "still here"})
    assert put.status_code == 201, put.text

    sm.stop_notebook_instance(NotebookInstanceName="lab")
    wait_stopped(sm, "lab")
    assert "Url" not in sm.describe_notebook_instance(NotebookInstanceName="lab")
    with pytest.raises(requests.ConnectionError):
        requests.get(base(url) + "/api/status", timeout=5)
    code, _ = error_code(lambda: sm.create_presigned_notebook_instance_url(
        NotebookInstanceName="lab"))
    assert code == "ValidationException"

    sm.start_notebook_instance(NotebookInstanceName="lab")
    wait_in_service(sm, "lab")
    url = sm.create_presigned_notebook_instance_url(NotebookInstanceName="lab")["AuthorizedUrl"]
    token = {"Authorization": "token " + url.rsplit("token=", 1)[1]}
    kept = requests.get(base(url) + "/api/contents/kept.txt", headers=token, timeout=30)
    assert kept.status_code == 200 and kept.json()["content"] == "still here"

    # a user breaks JupyterLab's config in the instance's home: Failed, saying why; fixed, it starts
    sm.stop_notebook_instance(NotebookInstanceName="lab")
    wait_stopped(sm, "lab")
    config = fresh_cove.home / "notebooks/lab/home/.jupyter/jupyter_server_config.py"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("raise SystemExit('my broken config')\n")
    sm.start_notebook_instance(NotebookInstanceName="lab")
    with pytest.raises(WaiterError):
        wait_in_service(sm, "lab")
    described = sm.describe_notebook_instance(NotebookInstanceName="lab")
    assert described["NotebookInstanceStatus"] == "Failed"
    assert "exited" in described["FailureReason"]
    assert "my broken config" in described["FailureReason"]
    config.unlink()
    sm.start_notebook_instance(NotebookInstanceName="lab")
    wait_in_service(sm, "lab")

    code, message = error_code(lambda: sm.delete_notebook_instance(NotebookInstanceName="lab"))
    assert code == "ValidationException" and "InService" in message
    sm.stop_notebook_instance(NotebookInstanceName="lab")
    wait_stopped(sm, "lab")
    sm.delete_notebook_instance(NotebookInstanceName="lab")
    sm.get_waiter("notebook_instance_deleted").wait(
        NotebookInstanceName="lab", WaiterConfig={"Delay": 0.5, "MaxAttempts": 60})
    assert not (fresh_cove.home / "notebooks" / "lab").exists()
    logs = fresh_cove.client("logs").get_log_events(
        logGroupName="/aws/sagemaker/NotebookInstances", logStreamName="lab/jupyter.log")
    assert any("Jupyter" in e["message"] for e in logs["events"])


def test_bad_requests_get_aws_errors_and_change_nothing(cove: CoveServer) -> None:
    sm = cove.client("sagemaker")
    code, message = error_code(lambda: sm.describe_notebook_instance(
        NotebookInstanceName="nobody"))
    assert code == "ValidationException" and message == "RecordNotFound"
    code, _ = error_code(lambda: sm.start_notebook_instance(NotebookInstanceName="nobody"))
    assert code == "ValidationException"
    code, _ = error_code(lambda: create(sm, "bad-type", InstanceType="ml.huge"))
    assert code == "ValidationException"
    code, message = error_code(lambda: create(sm, "lifecycle", LifecycleConfigName="setup"))
    assert code == "ValidationException" and "lifecycle" in message
    assert sm.list_notebook_instances(NameContains="bad-type")["NotebookInstances"] == []

    create(sm, "errors-a", Tags=[{"Key": "team", "Value": "ml"}])
    code, message = error_code(lambda: create(sm, "errors-a"))
    assert code == "ResourceInUse" and "duplicate" in message
    wait_in_service(sm, "errors-a")
    code, message = error_code(lambda: sm.start_notebook_instance(
        NotebookInstanceName="errors-a"))
    assert code == "ValidationException" and "InService" in message
    arn = sm.describe_notebook_instance(NotebookInstanceName="errors-a")["NotebookInstanceArn"]
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]


def test_list_filters_sorts_and_pages(cove: CoveServer) -> None:
    sm = cove.client("sagemaker")
    for name in ("listing-b", "listing-a", "listing-c"):
        create(sm, name)
    for name in ("listing-b", "listing-a", "listing-c"):
        wait_in_service(sm, name)
    names = [n["NotebookInstanceName"] for n in sm.list_notebook_instances(
        NameContains="listing-", SortBy="Name")["NotebookInstances"]]
    assert names == ["listing-a", "listing-b", "listing-c"]
    newest = sm.list_notebook_instances(NameContains="listing-", SortBy="CreationTime",
                                        SortOrder="Descending")["NotebookInstances"]
    assert newest[0]["NotebookInstanceName"] == "listing-c"
    first = sm.list_notebook_instances(NameContains="listing-", MaxResults=2)
    second = sm.list_notebook_instances(NameContains="listing-", MaxResults=2,
                                        NextToken=first["NextToken"])
    assert [n["NotebookInstanceName"] for n in first["NotebookInstances"] +
            second["NotebookInstances"]] == names
    assert "NextToken" not in second
    sm.stop_notebook_instance(NotebookInstanceName="listing-b")
    wait_stopped(sm, "listing-b")
    stopped = sm.list_notebook_instances(StatusEquals="Stopped", NameContains="listing-")
    assert [n["NotebookInstanceName"] for n in stopped["NotebookInstances"]] == ["listing-b"]


def test_in_service_instances_come_back_after_a_restart(fresh_cove: CoveServer) -> None:
    sm = fresh_cove.client("sagemaker")
    create(sm, "survivor")
    wait_in_service(sm, "survivor")
    create(sm, "sleeper")
    wait_in_service(sm, "sleeper")
    sm.stop_notebook_instance(NotebookInstanceName="sleeper")
    wait_stopped(sm, "sleeper")

    fresh_cove.restart()
    sm = fresh_cove.client("sagemaker")
    wait_in_service(sm, "survivor")
    url = sm.create_presigned_notebook_instance_url(
        NotebookInstanceName="survivor")["AuthorizedUrl"]
    assert requests.get(url, timeout=30).status_code == 200
    assert sm.describe_notebook_instance(NotebookInstanceName="sleeper")[
        "NotebookInstanceStatus"] == "Stopped"


PROBE = """
import inspect, json, os
import boto3, sagemaker
from sagemaker import get_execution_role
session = sagemaker.Session()
print(json.dumps({
    "endpoint_poll": inspect.signature(session.wait_for_endpoint).parameters["poll"].default,
    "role": get_execution_role(), "bucket": session.default_bucket(),
    "region": session.boto_region_name,
    "buckets": [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]],
    "key": os.environ["AWS_ACCESS_KEY_ID"], "secret": os.environ["AWS_SECRET_ACCESS_KEY"],
    "token": os.environ.get("AWS_SESSION_TOKEN"), "cwd": os.getcwd(),
    "sees_home": os.path.exists(%r),
}))
"""


def probe(server: CoveServer, tmp_path: Path, name: str) -> dict[str, Any]:
    """Run a one-cell notebook in instance ``name``; what its kernel saw."""
    import json

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(
        PROBE % str(server.home / "credentials.json"))]
    path = tmp_path / "probe.ipynb"
    nbformat.write(notebook, path)
    sm = server.client("sagemaker")
    url = sm.create_presigned_notebook_instance_url(NotebookInstanceName=name)["AuthorizedUrl"]
    directory = server.home / "notebooks" / name
    run = run_notebook(path, url, directory / "SageMaker",
                       directory / "home/.local/share/jupyter/runtime", cell_timeout=120)
    assert run.error is None, run.error
    line = [ln for ln in run.text().splitlines() if ln.startswith("{")][-1]
    return json.loads(line)  # type: ignore[no-any-return]


@pytest.mark.parametrize("sandbox", ["auto", "none"])
def test_the_sdk_in_a_kernel_reaches_cove_with_no_set_up(sandbox: str, tmp_path: Path) -> None:
    server = CoveServer(tmp_path / "home", {"COVE_SANDBOX": sandbox}).start()
    try:
        sm = server.client("sagemaker")
        create(sm, "env")
        wait_in_service(sm, "env")
        seen = probe(server, tmp_path, "env")
        account = server.credentials["account_id"]
        assert seen["role"] == ROLE  # from DescribeNotebookInstance, via the metadata file
        assert seen["bucket"] == f"sagemaker-us-east-1-{account}"
        assert seen["bucket"] in seen["buckets"] and seen["region"] == "us-east-1"
        assert seen["key"] != server.credentials["access_key_id"]  # its own key, not cove's
        assert seen["endpoint_poll"] == 1  # the SDK's waits look each second (not every 30)
        if sandbox == "auto":
            assert seen["cwd"] == "/opt/ml/SageMaker" and not seen["sees_home"]
        import boto3

        def kernels_s3() -> Any:  # the kernel's own key, secret and session token
            return boto3.client("s3", endpoint_url=server.url, region_name="us-east-1",
                                aws_access_key_id=seen["key"],
                                aws_secret_access_key=seen["secret"],
                                aws_session_token=seen["token"])

        kernels_s3().list_buckets()  # it works while the instance runs
        sm.stop_notebook_instance(NotebookInstanceName="env")
        wait_stopped(sm, "env")
        with pytest.raises(ClientError):  # the instance's key was revoked with the stop
            kernels_s3().list_buckets()
    finally:
        server.stop()


def test_sagemaker_session_and_execution_role_outside_a_notebook(cove: CoveServer,
                                                                 monkeypatch: Any) -> None:
    import cove as package

    monkeypatch.setenv("COVE_HOME", str(cove.home))
    session = package.sagemaker_session()
    account = cove.credentials["account_id"]
    assert package.execution_role() == f"arn:aws:iam::{account}:role/CoveExecutionRole"
    assert session.default_bucket() == f"sagemaker-us-east-1-{account}"
    assert session.boto_region_name == "us-east-1"
    import inspect

    import sagemaker

    def poll(method: Any) -> Any:
        return inspect.signature(method).parameters["poll"].default

    assert isinstance(session, sagemaker.Session)
    assert (poll(session.wait_for_endpoint), poll(session.logs_for_job)) == (1, 1)
    assert poll(sagemaker.Session.wait_for_endpoint) == 30  # other sessions keep the SDK's
    assert session.sagemaker_client.list_notebook_instances()["NotebookInstances"] is not None
    s3 = session.boto_session.client("s3")
    assert session.default_bucket() in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_cove_notebook_cli(fresh_cove: CoveServer, tmp_path: Path) -> None:
    env = {**os.environ, "COVE_HOME": str(fresh_cove.home), "COLUMNS": "200"}

    def cove(*args: str, status: int = 0) -> str:
        done = subprocess.run([sys.executable, "-m", "cove", "notebook", *args], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == status, done.stdout + done.stderr
        return done.stdout + done.stderr

    out = cove("mine")
    url = next(word for word in out.split() if word.startswith("http://"))
    assert requests.get(url, timeout=30).status_code == 200
    assert "mine" in cove("ls") and "InService" in cove("ls")

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(
        "import os\nfrom sagemaker import get_execution_role\nassert get_execution_role()\n"
        "print('RESULT answer=' + os.environ['ANSWER'])")]
    nbformat.write(notebook, tmp_path / "good.ipynb")
    out = cove("run", str(tmp_path / "good.ipynb"), "--name", "mine", "--env", "ANSWER=42")
    assert "answer = 42" in out
    assert (fresh_cove.home / "notebooks" / "mine" / "SageMaker" / "good.ipynb").exists()
    notebook.cells = [nbformat.v4.new_code_cell("1 / 0")]
    nbformat.write(notebook, tmp_path / "bad.ipynb")
    assert "ZeroDivisionError" in cove("run", str(tmp_path / "bad.ipynb"), "--name", "mine",
                                       status=1)

    assert "stopped" in cove("stop", "mine")
    assert "Stopped" in cove("ls")
    assert "InService" in cove("mine")  # starts it again
    assert "deleted mine" in cove("rm", "mine")
    assert "No notebook instances" in cove("ls")


def test_without_jupyter_the_api_names_the_extra(tmp_path: Path) -> None:
    """A cove whose Python cannot import JupyterLab (as without `cove[notebook]`)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import sys\nsys.modules['jupyterlab'] = None\n")
    server = CoveServer(tmp_path / "home", {"PYTHONPATH": str(site)}).start()
    try:
        sm = server.client("sagemaker")
        code, message = error_code(lambda: create(sm, "no-jupyter"))
        assert code == "ValidationException"
        assert "pip install 'cove[notebook]'" in message and "jupyterlab" in message
        assert sm.list_notebook_instances()["NotebookInstances"] == []
    finally:
        server.stop()


def test_a_crash_leaves_no_stray_jupyterlab(tmp_path: Path) -> None:
    """Without bubblewrap a JupyterLab outlives a killed cove; the next cove ends it and starts
    the instance again."""
    server = CoveServer(tmp_path / "home", {"COVE_SANDBOX": "none"}).start()
    try:
        sm = server.client("sagemaker")
        create(sm, "crash")
        old = "http://" + wait_in_service(sm, "crash")["Url"]
        server.kill()
        assert requests.get(old + "/api/status", timeout=10).status_code == 403  # still there
        server.start()
        sm = server.client("sagemaker")
        url = wait_in_service(sm, "crash")["Url"]
        with pytest.raises(requests.ConnectionError):
            requests.get(old + "/api/status", timeout=10)
        token = sm.create_presigned_notebook_instance_url(
            NotebookInstanceName="crash")["AuthorizedUrl"].rsplit("token=", 1)[1]
        assert requests.get(f"http://{url}/api/status", timeout=10,
                            headers={"Authorization": f"token {token}"}).status_code == 200
    finally:
        server.stop()
