"""Every tutorial notebook (``examples/tutorials/*.ipynb``), run top to bottom in a cove notebook
instance, at small scale.

Each test starts its own cove, creates a notebook instance through the SageMaker API, waits for
it to be InService, and runs the notebook in a kernel that instance's JupyterLab starts (with
``cove.notebooks.run_notebook``: nbclient over the kernel's ports) — so the notebook's code runs
exactly where a user's would: the sandbox, the instance's credentials and SDK config,
``get_execution_role()`` answered through DescribeNotebookInstance.  The only thing set from
outside is ``COVE_TUTORIAL_SCALE=small``, as ``%env`` would.

A tutorial passes when no cell fails, its plots render, the key figures it prints
(``RESULT name=value``) meet the floors below, and nothing it deployed is left behind.  Other
files and folders in ``examples/tutorials/`` (code the notebooks use) are copied beside each
notebook.
"""

from __future__ import annotations

import json
import operator
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cove.notebooks import run_notebook
from tests.conftest import CoveServer

TUTORIALS = Path(__file__).resolve().parents[2] / "examples" / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))
ROLE = "arn:aws:iam::000000000000:role/CoveExecutionRole"
#: Notebooks that manage IAM roles run on an instance whose role may (the default one may not).
IAM_ADMIN_NOTEBOOKS = {"08-least-privilege-a-job-under-its-own-role.ipynb"}

#: notebook file name -> RESULT figure -> (comparison, bound) that figure must meet at small
#: scale.  Every tutorial needs an entry: a figure nobody checks proves nothing.
FLOORS: dict[str, dict[str, tuple[str, float]]] = {
    # diabetes: targets 25..346, standard deviation ~77; a constant guess scores RMSE ~77
    "01-regression-batch-transform.ipynb": {"rmse": ("<", 70.0), "rmse_low_level": ("<", 70.0)},
    "02-regression-deploy.ipynb": {"rmse": ("<", 70.0), "rmse_low_level": ("<", 70.0)},
    "03-regression-tuning.ipynb": {"rmse": ("<", 70.0), "rmse_low_level": ("<", 70.0)},
    "04-regression-update-endpoint.ipynb": {
        "rmse_xgboost": ("<", 70.0), "rmse_linear": ("<", 70.0),
        "xgboost_share": (">", 0.2), "linear_share": (">", 0.2),
        "failed_requests": ("==", 0.0)},
    # generated reviews (IMDB when COVE_IMDB_CSV names it): a coin scores 0.5
    "05-imdb-xgboost-batch-transform-and-tuning.ipynb": {
        "accuracy": (">", 0.75), "tuned_accuracy": (">", 0.75)},
    # the drift flips a fifth of the labels: the old model falls to ~0.72, a new one recovers
    "06-imdb-updating-a-model-after-drift.ipynb": {
        "original_accuracy": (">", 0.8), "drifted_accuracy": ("<", 0.78),
        "retrained_accuracy": (">", 0.8), "recovered": (">", 0.05)},
    "07-pytorch-lstm-sentiment-web-app.ipynb": {
        "accuracy": (">", 0.7), "web_accuracy": (">", 0.7)},
    # 6 simulated cases, 2 allowed; the job's keys: 2 things allowed, 4 refused
    "08-least-privilege-a-job-under-its-own-role.ipynb": {
        "simulated_allowed": ("==", 2.0), "simulated_denied": ("==", 4.0),
        "allowed": ("==", 2.0), "refused": ("==", 4.0), "assumed_role": ("==", 1.0),
        "rmse": ("<", 70.0)},
}
COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq}


def _supporting_files() -> list[Path]:
    return sorted(p for p in TUTORIALS.iterdir()
                  if p.suffix != ".ipynb" and not p.name.startswith("."))


def _iam_admin_role(server: CoveServer) -> str:
    """The default role's policy, and the IAM actions a notebook needs to manage roles."""
    iam = server.client("iam")
    default = iam.get_role(RoleName="CoveExecutionRole")["Role"]
    arn = iam.create_role(RoleName="TutorialIamAdmin", AssumeRolePolicyDocument=json.dumps(
        default["AssumeRolePolicyDocument"]))["Role"]["Arn"]
    iam.put_role_policy(RoleName="TutorialIamAdmin", PolicyName="default", PolicyDocument=(
        json.dumps(iam.get_role_policy(RoleName="CoveExecutionRole",
                                       PolicyName="CoveExecutionPolicy")["PolicyDocument"])))
    iam.put_role_policy(RoleName="TutorialIamAdmin", PolicyName="roles", PolicyDocument=(
        json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Resource": "*", "Action": [
                "iam:CreateRole", "iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy",
                "iam:DeleteRolePolicy", "iam:DeleteRole"]}]})))
    return str(arn)


@pytest.fixture
def notebook_instance(tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    """A cove of the test's own and an InService notebook instance on it."""
    server = CoveServer(tmp_path / "home").start()
    sagemaker = server.client("sagemaker")
    notebook = request.node.callspec.params["notebook"]
    role = _iam_admin_role(server) if notebook.name in IAM_ADMIN_NOTEBOOKS else ROLE
    sagemaker.create_notebook_instance(NotebookInstanceName="tutorials",
                                       InstanceType="ml.t3.medium", RoleArn=role)
    sagemaker.get_waiter("notebook_instance_in_service").wait(
        NotebookInstanceName="tutorials", WaiterConfig={"Delay": 1, "MaxAttempts": 180})
    yield server, sagemaker, "tutorials"
    server.stop()


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_tutorial_runs_unchanged_in_a_notebook_instance(notebook: Path,
                                                        notebook_instance: Any) -> None:
    server, sagemaker, name = notebook_instance
    url = sagemaker.create_presigned_notebook_instance_url(
        NotebookInstanceName=name)["AuthorizedUrl"]
    directory = server.home / "notebooks" / name
    started = time.monotonic()
    run = run_notebook(notebook, url, directory / "SageMaker",
                       directory / "home" / ".local" / "share" / "jupyter" / "runtime",
                       env={"COVE_TUTORIAL_SCALE": "small"}, extra=_supporting_files(),
                       cell_timeout=900)
    print(f"\nTUTORIAL {notebook.name}: {time.monotonic() - started:.1f} s "
          + " ".join(f"{k}={v:g}" for k, v in run.results.items()))
    assert run.error is None, f"{notebook.name} failed (executed copy: {run.saved}):\n{run.error}"
    failed = [o for c in run.notebook.cells if c.cell_type == "code"
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not failed, failed
    if any("plt.show()" in c.source for c in run.notebook.cells if c.cell_type == "code"):
        assert any("image/png" in o.get("data", {}) for c in run.notebook.cells
                   if c.cell_type == "code" for o in c.get("outputs", [])), "no plot rendered"
    assert notebook.name in FLOORS, f"add the figures {notebook.name} must meet to FLOORS"
    for figure, (comparison, bound) in FLOORS[notebook.name].items():
        assert figure in run.results, (f"{notebook.name} printed no RESULT {figure}=...; it "
                                       f"printed {run.results}")
        assert COMPARE[comparison](run.results[figure], bound), (
            f"{notebook.name}: {figure}={run.results[figure]} is not {comparison} {bound}")
    assert sagemaker.list_endpoints()["Endpoints"] == [], "the tutorial left endpoints running"
    assert sagemaker.list_endpoint_configs()["EndpointConfigs"] == []
    assert sagemaker.list_models()["Models"] == []
