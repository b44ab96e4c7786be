"""The SDK v3 editions of the tutorials (``examples/tutorials-v3/*.ipynb``), run top to bottom
in a cove notebook instance on the kernel each names ("Python 3 (SageMaker SDK v3)"), as
``tests/examples/test_tutorials.py`` runs the v2 ones: ``cove.notebooks.run_notebook`` drives a
kernel the instance's own JupyterLab starts, so the code runs where a user's would (the
sandbox, the instance's keys and SDK config, ``get_execution_role()`` answered through
DescribeNotebookInstance).  The only thing set from outside is ``COVE_TUTORIAL_SCALE=small``,
as ``%env`` would.  The tutorials a test worker runs share its one instance (``v3_notebook``).
A tutorial passes when no cell fails, the
figures it prints (``RESULT name=value``) meet the floors below, and it leaves no endpoint,
endpoint configuration or model behind."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest

from tests.conftest import CoveServer
from tests_v3.conftest import run_in_instance

TUTORIALS = Path(__file__).resolve().parents[1] / "examples" / "tutorials-v3"
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))
#: diabetes targets 25..346 (standard deviation ~77): a constant guess scores RMSE ~77
FLOORS = {"01-regression-train-model-trainer.ipynb": {"rmse": 70.0},
          "02-regression-tuning.ipynb": {"rmse": 70.0},
          "03-regression-deploy-model-builder.ipynb": {"rmse": 70.0}}
#: The docs' first cell, which every v3 tutorial starts with.
FIRST_CELL = ("from sagemaker.core.helper.session_helper import Session, get_execution_role\n\n"
              "sagemaker_session = Session()\nrole = get_execution_role()\n"
              "bucket = sagemaker_session.default_bucket()")


def test_every_tutorial_has_floors_and_starts_as_the_docs_do() -> None:
    assert sorted(FLOORS) == [p.name for p in NOTEBOOKS]
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
        code = [c.source for c in notebook.cells if c.cell_type == "code"]
        assert code[0] == FIRST_CELL, path.name
        assert notebook.metadata.kernelspec.name == "sagemaker-sdk-v3", path.name


@pytest.mark.timeout(900)
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_tutorial_runs_unchanged_in_a_notebook_instance(notebook: Path,
                                                        v3_notebook: CoveServer) -> None:
    kernel = nbformat.read(notebook, as_version=4).metadata.kernelspec.name  # type: ignore[no-untyped-call]
    started = time.monotonic()
    run = run_in_instance(v3_notebook, "v3", notebook, kernel,
                          env={"COVE_TUTORIAL_SCALE": "small"}, cell_timeout=800)
    print(f"\nTUTORIAL {notebook.name}: {time.monotonic() - started:.1f} s "
          + " ".join(f"{k}={v:g}" for k, v in run.results.items()))
    assert run.error is None, f"{notebook.name} failed (executed copy: {run.saved}):\n{run.error}"
    for name, bound in FLOORS[notebook.name].items():
        assert name in run.results, f"{notebook.name} printed no RESULT {name}: {run.results}"
        assert run.results[name] < bound, f"{notebook.name}: {name}={run.results[name]} >= {bound}"
    sm = v3_notebook.client("sagemaker")
    assert sm.list_endpoints()["Endpoints"] == [], "the tutorial left endpoints running"
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert sm.list_models()["Models"] == []
