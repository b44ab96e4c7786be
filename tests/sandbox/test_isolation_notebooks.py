"""A notebook kernel runs in the same sandbox as every other kind of user code."""

from __future__ import annotations

from pathlib import Path

import nbformat

from cove.notebooks import run_notebook
from tests.conftest import CoveServer
from tests.notebooks.test_instances import create, wait_in_service, wait_stopped
from tests.sandbox.helpers import PROBE, assert_confined, last_json, loopback_service


def test_a_notebook_kernel_is_confined(cove: CoveServer, tmp_path: Path) -> None:
    sm = cove.client("sagemaker")
    name = f"probe-{tmp_path.name[-8:].replace('_', '-')}"
    create(sm, name)
    wait_in_service(sm, name)
    try:
        with loopback_service() as port:
            notebook = nbformat.v4.new_notebook()
            notebook.cells = [nbformat.v4.new_code_cell(
                PROBE + f"\nimport json\nprint(json.dumps(probe({str(cove.home)!r}, {port})))")]
            path = tmp_path / "probe.ipynb"
            nbformat.write(notebook, path)
            url = sm.create_presigned_notebook_instance_url(
                NotebookInstanceName=name)["AuthorizedUrl"]
            directory = cove.home / "notebooks" / name
            run = run_notebook(path, url, directory / "SageMaker",
                               directory / "home/.local/share/jupyter/runtime",
                               cell_timeout=120)
        assert run.error is None, run.error
        assert_confined(last_json(run.text()), str(cove.home))
    finally:
        sm.stop_notebook_instance(NotebookInstanceName=name)
        wait_stopped(sm, name)
