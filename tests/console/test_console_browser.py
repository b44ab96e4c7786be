"""The console in headless Chromium: sign in, read the charts, change weights, delete an
endpoint.  Screenshots of the main pages go to tests/.artifacts/console/."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CoveServer
from tests.hosting.test_endpoints import csv_rows, deploy, xgb_model
from tests.training.helpers import script_job, unique, upload_source
from tests.training.helpers import wait as wait_training
from tests.tuning import helpers as tuning

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[1] / ".artifacts" / "console"
EPOCHS = 12
TRIALS = 4

TRAIN = f"""
import math, time
for epoch in range({EPOCHS}):
    print(f"epoch {{epoch}} train_loss: {{1.0 / (epoch + 1):.5f}}", flush=True)
    print(f"epoch {{epoch}} validation_loss: {{1.2 / (epoch + 1) + 0.05:.5f}}", flush=True)
    time.sleep(0.05)
"""
METRICS = [{"Name": "train:loss", "Regex": r"train_loss: ([0-9.]+)"},
           {"Name": "validation:loss", "Regex": r"validation_loss: ([0-9.]+)"}]

pytestmark = pytest.mark.skipif(not shutil.which(CHROMIUM), reason="needs the Debian chromium "
                                "package (.ci/run installs it)")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One server with a finished training job, a finished tuning job and an A/B endpoint."""
    server = CoveServer(tmp_path_factory.mktemp("console") / "home",
                        {"COVE_ROUTING_SEED": "3"}).start()
    s3, sm = server.client("s3"), server.client("sagemaker")
    bucket = unique("console")
    s3.create_bucket(Bucket=bucket)
    job = unique("curve")
    sm.create_training_job(**script_job(job, bucket, upload_source(s3, bucket, {
        "train.py": TRAIN}), algorithm={"MetricDefinitions": METRICS}))
    tuning_job = unique("tune")[:32]
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=tuning_job,
        HyperParameterTuningJobConfig=tuning.config(max_jobs=TRIALS, parallel=2),
        TrainingJobDefinition=tuning.definition(bucket, tuning.source(s3, bucket)))
    url_a, _, X = xgb_model(s3, bucket, seed=0)
    url_b, _, _ = xgb_model(s3, bucket, seed=100)
    endpoint = deploy(sm, [("A", url_a, 1.0, 1), ("B", url_b, 1.0, 1)])
    assert wait_training(sm, job)["TrainingJobStatus"] == "Completed"
    tuning.wait_tuning(sm, tuning_job)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield {"server": server, "sm": sm, "runtime": server.client("sagemaker-runtime"),
           "job": job, "tuning": tuning_job, "endpoint": endpoint, "body": csv_rows(X[:1]),
           "bucket": bucket}
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def sign_in(browser: Any, server: CoveServer, width: int = 1280) -> Any:
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(server.url + "/ui/")
    assert page.get_by_role("heading", name="Sign in to cove").is_visible()
    page.get_by_label("Access key ID").fill(server.credentials["access_key_id"])
    page.get_by_label("Secret access key").fill(server.credentials["secret_access_key"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/ui/")
    return page


def trace_lengths(page: Any, chart: str) -> dict[str, int]:
    """Each drawn trace of a chart: name -> number of points Plotly holds."""
    page.wait_for_function(f"() => document.getElementById('{chart}').data !== undefined",
                           timeout=30_000)
    lengths: dict[str, int] = page.evaluate(
        f"() => Object.fromEntries(document.getElementById('{chart}').data"
        f".map(t => [t.name, t.y.length]))")
    return lengths


def test_sign_in_and_the_dashboard(world: dict[str, Any], browser: Any) -> None:
    page = sign_in(browser, world["server"])
    assert page.get_by_role("heading", name="Dashboard").is_visible()
    assert page.get_by_role("link", name=world["endpoint"]).is_visible()
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    phone = sign_in(browser, world["server"], width=390)
    phone.screenshot(path=str(ARTIFACTS / "dashboard-phone.png"), full_page=True)
    # keyboard: the skip link is the first stop and lands on the content
    phone.keyboard.press("Tab")
    assert phone.evaluate("document.activeElement.textContent") == "Skip to content"


def test_training_page_plots_every_logged_validation_point(world: dict[str, Any],
                                                            browser: Any) -> None:
    page = sign_in(browser, world["server"])
    page.goto(f"{world['server'].url}/ui/training-jobs")
    page.get_by_role("link", name=world["job"]).click()
    lengths = trace_lengths(page, "metrics-chart")
    assert lengths == {"train:loss": EPOCHS, "validation:loss": EPOCHS}
    assert page.get_by_text("validation_loss: 0.15000").first.is_visible()  # the log
    assert page.get_by_role("heading", name="Status timeline").is_visible()
    page.screenshot(path=str(ARTIFACTS / "training-job.png"), full_page=True)


def test_tuning_scatter_shows_every_trial(world: dict[str, Any], browser: Any) -> None:
    page = sign_in(browser, world["server"])
    page.goto(f"{world['server'].url}/ui/tuning-jobs/{world['tuning']}")
    assert trace_lengths(page, "objective-chart") == {"trial": TRIALS, "best so far": TRIALS}
    assert trace_lengths(page, "hp-chart-x") == {"x": TRIALS}
    assert trace_lengths(page, "hp-chart-y") == {"y": TRIALS}
    best = world["sm"].describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=world["tuning"])["BestTrainingJob"]["TrainingJobName"]
    assert page.locator("#best-job").text_content() == best
    rows = page.locator("#trials tbody tr")
    assert rows.count() == TRIALS and best in (rows.first.text_content() or "")
    page.screenshot(path=str(ARTIFACTS / "tuning-job.png"), full_page=True)


def invoke(world: dict[str, Any], count: int) -> list[str]:
    return [world["runtime"].invoke_endpoint(
        EndpointName=world["endpoint"], ContentType="text/csv",
        Body=world["body"])["InvokedProductionVariant"] for _ in range(count)]


def test_endpoint_traffic_weights_and_delete(world: dict[str, Any], browser: Any) -> None:
    hits = invoke(world, 200)
    assert 0.3 < hits.count("A") / len(hits) < 0.7
    page = sign_in(browser, world["server"])
    page.goto(f"{world['server'].url}/ui/endpoints/{world['endpoint']}")
    page.wait_for_function(
        "() => { const d = document.getElementById('traffic-chart').data; return d && "
        "['A requests', 'B requests'].every(n => d.some(t => t.name === n && "
        "t.y.reduce((a, b) => a + b, 0) > 0)); }", timeout=30_000)
    served = page.evaluate("() => Object.fromEntries(document.getElementById('traffic-chart')"
                           ".data.map(t => [t.name, t.y.reduce((a, b) => a + b, 0)]))")
    assert served["A requests"] + served["B requests"] == 200
    assert served["A requests"] == hits.count("A")
    trace_lengths(page, "latency-chart")
    page.screenshot(path=str(ARTIFACTS / "endpoint.png"), full_page=True)
    # all traffic to A from the page; the observed split follows
    page.get_by_label("Weight of A").fill("1")
    page.get_by_label("Weight of B").fill("0")
    page.get_by_role("button", name="Apply weights").click()
    deadline = time.monotonic() + 30
    while world["sm"].describe_endpoint(EndpointName=world["endpoint"])[
            "EndpointStatus"] != "InService" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert set(invoke(world, 100)) == {"A"}
    page.wait_for_function("() => document.querySelector('#variants tbody tr:nth-child(2) "
                           ".weight').textContent.trim() === '0.0'", timeout=30_000)
    # delete, confirming with the name
    page.get_by_role("link", name="Delete endpoint…").click()
    page.get_by_label("Type the endpoint's name to confirm").fill(world["endpoint"])
    page.get_by_role("button", name="Delete").click()
    page.wait_for_url("**/ui/endpoints")
    assert world["endpoint"] not in page.content()
    names = [e["EndpointName"] for e in world["sm"].list_endpoints()["Endpoints"]]
    assert world["endpoint"] not in names


def test_objects_page(world: dict[str, Any], browser: Any) -> None:
    page = sign_in(browser, world["server"])
    page.goto(f"{world['server'].url}/ui/objects/{world['bucket']}")
    assert page.get_by_role("link", name="models/").is_visible()
    page.get_by_role("link", name="models/").click()
    page.wait_for_url("**prefix=models%2F")
    page.screenshot(path=str(ARTIFACTS / "objects.png"), full_page=True)
