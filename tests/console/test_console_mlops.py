"""The console's registry and pipeline pages in headless Chromium: approve and reject a
version (CSRF-checked), see an execution's steps as a graph coloured by status with each step
linked to its job, stop an execution; without the CSRF token a POST changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from tests.console.conftest import signed_in
from tests.console.test_console_browser import ARTIFACTS, assert_labelled, browser, sign_in
from tests.console.test_console_browser import server as server  # noqa: F401 - fixture
from tests.hosting.test_endpoints import xgb_model
from tests.pipelines.helpers import create, model_step, source, start, steps, training_step
from tests.pipelines.helpers import wait as wait_execution
from tests.training.helpers import XGBOOST_IMAGE, wait_for

__all__ = ["browser"]


def test_registry_approve_and_reject(server: Any, browser: Any) -> None:  # noqa: F811
    sm, s3 = server.client("sagemaker"), server.client("s3")
    s3.create_bucket(Bucket="reg")
    url, _, _ = xgb_model(s3, "reg")
    sm.create_model_package_group(ModelPackageGroupName="churn",
                                  ModelPackageGroupDescription="churn models")
    for _ in range(2):
        sm.create_model_package(ModelPackageGroupName="churn", InferenceSpecification={
            "Containers": [{"Image": XGBOOST_IMAGE, "ModelDataUrl": url}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
            ModelMetrics={"ModelQuality": {"Statistics": {
                "ContentType": "application/json", "S3Uri": "s3://reg/eval.json"}}})
    forged = requests.post(f"{server.console_url}/ui/model-registry/churn/1/approval",
                           data={"status": "Approved"}, timeout=30)
    assert forged.status_code == 401
    page = sign_in(browser, server)
    page.get_by_role("link", name="Registry").click()
    page.wait_for_url("**/ui/model-registry")
    page.get_by_role("link", name="churn").click()
    page.wait_for_url("**/ui/model-registry/churn")
    assert_labelled(page)
    row = page.locator("#v1")
    row.get_by_label("Note").fill("best so far")
    # each button posts a form and the page comes back: the next click waits for the new page
    # (a click on the page being left could be lost to the navigation)
    with page.expect_navigation():
        row.get_by_role("button", name="Approve").click()
    with page.expect_navigation():
        page.locator("#v2").get_by_role("button", name="Reject").click()
    page.wait_for_url("**/ui/model-registry/churn")
    assert "Approved" in page.locator("#v1").inner_text()
    assert "Rejected" in page.locator("#v2").inner_text()
    page.screenshot(path=str(ARTIFACTS / "registry.png"), full_page=True)
    versions = {p["ModelPackageVersion"]: p for p in sm.list_model_packages(
        ModelPackageGroupName="churn")["ModelPackageSummaryList"]}
    assert (versions[1]["ModelApprovalStatus"], versions[2]["ModelApprovalStatus"]) == \
        ("Approved", "Rejected")
    assert sm.describe_model_package(ModelPackageName=versions[1]["ModelPackageArn"])[
        "ApprovalDescription"] == "best so far"
    # signed in, but without (or with a wrong) CSRF token: refused, and nothing changes
    session, csrf = signed_in(server)
    approval = f"{server.console_url}/ui/model-registry/churn/2/approval"
    for token in ({}, {"csrf": "0" * len(csrf)}):
        answer = session.post(approval, data={"status": "Approved", **token}, timeout=30)
        assert answer.status_code == 403, answer.text[:300]
    assert sm.describe_model_package(ModelPackageName=versions[2]["ModelPackageArn"])[
        "ModelApprovalStatus"] == "Rejected"


def test_pipeline_graph_links_and_stop(server: Any, browser: Any,  # noqa: F811
                                       tmp_path: Path) -> None:
    sm, s3 = server.client("sagemaker"), server.client("s3")
    s3.create_bucket(Bucket="pipe")
    code = source(s3, "pipe")
    create(sm, "graph", [training_step("Train", "pipe", code), model_step("Model", "Train")])
    done = start(sm, "graph")
    assert wait_execution(sm, done)["PipelineExecutionStatus"] == "Succeeded"
    create(sm, "slow", [training_step("Slow", "pipe", code, pause=120)])
    running = start(sm, "slow")
    wait_for(lambda: steps(sm, running).get("Slow", {}).get("StepStatus") == "Executing")

    page = sign_in(browser, server)
    page.get_by_role("link", name="Pipelines", exact=True).click()
    page.wait_for_url("**/ui/pipelines")
    page.get_by_role("link", name="graph", exact=True).click()
    page.locator(".pipeline-graph").first.wait_for()
    page.goto(f"{server.console_url}/ui/pipelines/graph/executions/{done.rsplit('/', 1)[-1]}")
    statuses = page.evaluate("() => Object.fromEntries(Array.from(document.querySelectorAll("
                             "'[data-step]')).map(g => [g.dataset.step, g.dataset.status]))")
    assert statuses == {"Train": "Succeeded", "Model": "Succeeded"}
    page.screenshot(path=str(ARTIFACTS / "pipeline-execution.png"), full_page=True)
    page.locator('[data-step="Train"] a').click()
    page.wait_for_url("**/ui/training-jobs/pipelines-*")

    page.goto(f"{server.console_url}/ui/pipelines/slow/executions/{running.rsplit('/', 1)[-1]}")
    with page.expect_navigation():
        page.get_by_role("button", name="Stop execution").click()
    assert wait_execution(sm, running)["PipelineExecutionStatus"] == "Stopped"
