"""SDK v3 inside notebook instances: when cove knows an environment with SDK v3
(``COVE_SDK_V3_PYTHON``), each instance offers a second kernel, "Python 3 (SageMaker SDK v3)",
beside cove's own (v2), and the docs' first cell (``Session()``, ``get_execution_role()``,
``default_bucket()``) runs there with no set-up: the instance's endpoint, keys, SDK config and
metadata file.  The v3 environment is shared by every instance, so the sandbox shows it
read-only."""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.conftest import CoveServer
from tests_v3.conftest import ROLE, cove_python, create_instance, platform_cove, run_in_instance

V3_KERNEL = "sagemaker-sdk-v3"
PROBE = """
import importlib.metadata, json, os, sys
import boto3
from sagemaker.core.helper.session_helper import Session, get_execution_role

sagemaker_session = Session()
role = get_execution_role()
bucket = sagemaker_session.default_bucket()
site = next(p for p in sys.path if p.endswith("site-packages"))
changed = None
if %r:  # the v3 environment is every instance's: this one must not change it
    try:
        with open(os.path.join(site, "planted.pth"), "w") as planted:
            planted.write("import os")
        changed = True
    except OSError as exc:
        changed = str(exc)
print(json.dumps({
    "python": sys.executable, "sdk": importlib.metadata.version("sagemaker"),
    "role": role, "bucket": bucket, "region": sagemaker_session.boto_region_name,
    "buckets": [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]],
    "key": os.environ["AWS_ACCESS_KEY_ID"], "cwd": os.getcwd(),
    "sees_home": os.path.exists(%r), "changed": changed}))
"""
V2_PROBE = """
import importlib.metadata, json, sys
from sagemaker import get_execution_role
print(json.dumps({"sdk": importlib.metadata.version("sagemaker"), "role": get_execution_role()}))
"""


def _probe(server: CoveServer, name: str, tmp_path: Path, source: str,
           kernel: str) -> dict[str, Any]:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source)]
    path = tmp_path / f"probe-{kernel}.ipynb"
    nbformat.write(notebook, path)
    run = run_in_instance(server, name, path, kernel, cell_timeout=180)
    assert run.error is None, run.error
    return json.loads([ln for ln in run.text().splitlines() if ln.startswith("{")][-1])  # type: ignore[no-any-return]


def _kernelspecs(server: CoveServer, name: str) -> dict[str, str]:
    """The kernels the instance's JupyterLab offers: name -> display name."""
    url = server.client("sagemaker").create_presigned_notebook_instance_url(
        NotebookInstanceName=name)["AuthorizedUrl"]
    base, token = url.split("/lab?token=")
    request = urllib.request.Request(f"{base}/api/kernelspecs",
                                     headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        specs = json.loads(response.read())["kernelspecs"]
    return {k: v["spec"]["display_name"] for k, v in specs.items()}


def _check_reached_cove(seen: dict[str, Any], server: CoveServer) -> None:
    account = server.credentials["account_id"]
    assert seen["python"] == sys.executable and seen["sdk"].startswith("3.")
    assert seen["role"] == ROLE  # DescribeNotebookInstance, through the metadata file
    assert seen["bucket"] == f"sagemaker-us-east-1-{account}" and seen["region"] == "us-east-1"
    assert seen["bucket"] in seen["buckets"]
    assert seen["key"] != server.credentials["access_key_id"]  # the instance's own key


@pytest.mark.timeout(600)
def test_the_v3_kernel_runs_the_docs_first_cell_with_no_set_up(tmp_path: Path) -> None:
    """cove on its own environment (SDK v2), the v3 kernel on the suite's."""
    server = platform_cove(tmp_path / "home")
    try:
        _first_cell_on_both_kernels(server, tmp_path)
    finally:
        server.stop()


def _first_cell_on_both_kernels(server: CoveServer, tmp_path: Path) -> None:
    create_instance(server, "v3")
    assert _kernelspecs(server, "v3") == {"python3": "Python 3 (cove)",
                                          V3_KERNEL: "Python 3 (SageMaker SDK v3)"}
    seen = _probe(server, "v3", tmp_path,
                  PROBE % (True, str(server.home / "credentials.json")), V3_KERNEL)
    _check_reached_cove(seen, server)
    assert seen["cwd"] == "/opt/ml/SageMaker" and not seen["sees_home"]
    assert "Read-only file system" in str(seen["changed"]), seen["changed"]
    site = Path(sys.prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    assert not (site / "site-packages" / "planted.pth").exists()
    v2 = _probe(server, "v3", tmp_path, V2_PROBE, "python3")  # cove's own kernel: still v2
    assert v2["sdk"].startswith("2.") and v2["role"] == ROLE


@pytest.mark.timeout(600)
def test_unsandboxed_and_misconfigured_v3_kernels(tmp_path: Path) -> None:
    """COVE_SANDBOX=none: nothing is mounted at /opt/ml, and the launcher points v3's
    metadata reader at the instance's copy.  Then an interpreter without SDK v3: the instance
    offers no v3 kernel (its old kernelspec goes) and its log says why."""
    server = platform_cove(tmp_path / "home", COVE_SANDBOX="none")
    try:
        create_instance(server, "plain")
        # unconfined: it could change the environment, so it does not try
        seen = _probe(server, "plain", tmp_path, PROBE % (False, "/nowhere"), V3_KERNEL)
        _check_reached_cove(seen, server)
        server.stop()
        server.extra_env["COVE_SDK_V3_PYTHON"] = cove_python()  # SDK v2
        server.start()
        sm = server.client("sagemaker")
        sm.get_waiter("notebook_instance_in_service").wait(
            NotebookInstanceName="plain", WaiterConfig={"Delay": 0.5, "MaxAttempts": 360})
        assert _kernelspecs(server, "plain") == {"python3": "Python 3 (cove)"}
        events = server.client("logs").get_log_events(
            logGroupName="/aws/sagemaker/NotebookInstances",
            logStreamName="plain/jupyter.log")["events"]
        said = [e["message"] for e in events if "SageMaker SDK v3" in e["message"]]
        assert said and "has no SageMaker SDK v3 (sagemaker 2." in said[-1], said
    finally:
        server.stop()
