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
#: Prints a line every 0.2 s for a minute: a job that is still running while the test looks.
SLOW = """
import time
for tick in range(300):
    print(f"tick {tick} train_loss: {1.0 / (tick + 1):.5f}", flush=True)
    time.sleep(0.2)
"""
METRICS = [{"Name": "train:loss", "Regex": r"train_loss: ([0-9.]+)"},
           {"Name": "validation:loss", "Regex": r"validation_loss: ([0-9.]+)"}]

pytestmark = pytest.mark.skipif(not shutil.which(CHROMIUM), reason="needs the Debian chromium "
                                "package (.ci/run installs it)")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[CoveServer]:
    """A server of the test's own (tests spread over xdist workers; none waits on another's
    jobs); endpoints unused for 2 s count as idle on the dashboard."""
    started = CoveServer(tmp_path / "home", {"COVE_ROUTING_SEED": "3",
                                              "COVE_CONSOLE_IDLE_WARNING": "2s"}).start()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield started
    started.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def sign_in(browser: Any, server: CoveServer, width: int = 1280) -> Any:
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.set_default_timeout(60_000)  # Playwright's 30 s is short for a loaded 2-core machine
    page.goto(server.console_url + "/ui/")
    assert page.get_by_role("heading", name="Sign in to cove").is_visible()
    page.get_by_label("Access key ID").fill(server.credentials["access_key_id"])
    page.get_by_label("Secret access key").fill(server.credentials["secret_access_key"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/ui/")
    return page


def assert_labelled(page: Any) -> None:
    """Basic accessibility: every visible form control has a label, every chart a name."""
    unlabelled = page.evaluate(
        "() => Array.from(document.querySelectorAll('input:not([type=hidden]), select, "
        "textarea')).filter(e => e.labels.length === 0 && !e.getAttribute('aria-label'))"
        ".map(e => e.outerHTML)")
    assert unlabelled == []
    assert page.evaluate("() => Array.from(document.querySelectorAll('[data-chart]'))"
                         ".every(e => e.getAttribute('role') === 'img' && "
                         "e.getAttribute('aria-label'))")


def trace_lengths(page: Any, chart: str) -> dict[str, int]:
    """Each drawn trace of a chart: name -> number of points Plotly holds."""
    # (the page may still be the one a click leaves: no chart yet is no error)
    page.wait_for_function(f"() => (document.getElementById('{chart}') || {{}}).data "
                           "!== undefined", timeout=30_000)
    lengths: dict[str, int] = page.evaluate(
        f"() => Object.fromEntries(document.getElementById('{chart}').data"
        f".map(t => [t.name, t.y.length]))")
    return lengths


def test_dashboard_training_pages_live_log_and_stops(server: CoveServer, browser: Any
                                                       ) -> None:
    s3, sm = server.client("s3"), server.client("sagemaker")
    bucket = unique("console")
    s3.create_bucket(Bucket=bucket)
    curve, slow = unique("curve"), unique("slow")
    sm.create_training_job(**script_job(curve, bucket, upload_source(s3, bucket, {
        "train.py": TRAIN}), algorithm={"MetricDefinitions": METRICS}))
    sm.create_training_job(**script_job(slow, bucket, upload_source(s3, bucket, {
        "train.py": SLOW}), algorithm={"MetricDefinitions": METRICS}))
    url, _, _ = xgb_model(s3, bucket)
    idle = deploy(sm, [("only", url, 1.0, 1)])
    assert wait_training(sm, curve)["TrainingJobStatus"] == "Completed"

    page = sign_in(browser, server)
    page.wait_for_selector("text=Have you shut down your endpoints?", timeout=30_000)
    running = page.locator("section", has=page.get_by_role("heading", name="Running now"))
    assert running.get_by_role("link", name=slow).is_visible()
    assert_labelled(page)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    phone = sign_in(browser, server, width=390)
    phone.screenshot(path=str(ARTIFACTS / "dashboard-phone.png"), full_page=True)
    phone.keyboard.press("Tab")  # keyboard: the skip link comes first
    assert phone.evaluate("document.activeElement.textContent") == "Skip to content"
    with page.expect_navigation():
        page.get_by_role("button", name=f"Stop {idle}").click()
    assert sm.describe_endpoint(EndpointName=idle)["EndpointStatus"] == "OutOfService"

    page.goto(f"{server.console_url}/ui/training-jobs?status=Completed")
    page.get_by_role("link", name=curve).click()
    assert trace_lengths(page, "metrics-chart") == {"train:loss": EPOCHS,
                                                    "validation:loss": EPOCHS}
    assert page.get_by_text("validation_loss: 0.15000").first.is_visible()  # the log
    assert page.get_by_role("heading", name="Status timeline").is_visible()
    assert_labelled(page)
    page.screenshot(path=str(ARTIFACTS / "training-job.png"), full_page=True)

    # a running job's log grows on the page without a reload; then stop it from the page
    page.goto(f"{server.console_url}/ui/training-jobs/{slow}")
    page.wait_for_selector("text=tick 3", timeout=60_000)
    page.evaluate("window.notReloaded = true")
    page.wait_for_selector("text=tick 12", timeout=60_000)
    assert page.evaluate("window.notReloaded") is True
    with page.expect_navigation():
        page.get_by_role("button", name="Stop job").click()
    assert wait_training(sm, slow)["TrainingJobStatus"] == "Stopped"


def test_tuning_scatter_shows_every_trial(server: CoveServer, browser: Any) -> None:
    s3, sm = server.client("s3"), server.client("sagemaker")
    bucket = unique("console")
    s3.create_bucket(Bucket=bucket)
    name = unique("tune")
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name,
        HyperParameterTuningJobConfig=tuning.config(max_jobs=TRIALS, parallel=2),
        TrainingJobDefinition=tuning.definition(bucket, tuning.source(s3, bucket)))
    best = tuning.wait_tuning(sm, name)["BestTrainingJob"]["TrainingJobName"]
    page = sign_in(browser, server)
    page.goto(f"{server.console_url}/ui/tuning-jobs")
    page.get_by_role("link", name=name).click()
    assert trace_lengths(page, "objective-chart") == {"trial": TRIALS, "best so far": TRIALS}
    assert trace_lengths(page, "hp-chart-x") == {"x": TRIALS}
    assert trace_lengths(page, "hp-chart-y") == {"y": TRIALS}
    assert page.locator("#best-job").text_content() == best
    rows = page.locator("#trials tbody tr")
    assert rows.count() == TRIALS and best in (rows.first.text_content() or "")
    page.screenshot(path=str(ARTIFACTS / "tuning-job.png"), full_page=True)
    trials = [s["TrainingJobName"] for s in sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name)["TrainingJobSummaries"]]
    # the best trials compared: their loss curves (3 epochs each) overlaid on one chart
    with page.expect_navigation():
        page.locator("#compare-best").click()
    assert page.get_by_role("heading", name=f"Compare {TRIALS} training jobs").is_visible()
    assert trace_lengths(page, "compare-chart-1") == {trial: 3 for trial in trials}
    assert "differs" in (page.locator("#compare-hyperparameters tr", has=page.locator(
        "th", has_text="x")).first.get_attribute("class") or "")
    page.screenshot(path=str(ARTIFACTS / "compare.png"), full_page=True)
    page.go_back()
    page.get_by_label(f"Compare {trials[0]}").check()
    page.get_by_label(f"Compare {trials[1]}").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Compare selected").click()
    assert set(trace_lengths(page, "compare-chart-1")) == set(trials[:2])
    # the dashboard keeps the trials under their tuning job instead of in "Recent jobs"
    page.goto(f"{server.url}/ui/")
    recent = page.locator("section", has_text="Recent jobs").inner_text()
    assert name in recent and not any(trial in recent for trial in trials)
    assert f"{TRIALS} / {TRIALS} trials" in recent


def invoke(runtime: Any, endpoint: str, body: bytes, count: int) -> list[str]:
    return [runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv",
                                    Body=body)["InvokedProductionVariant"]
            for _ in range(count)]


def test_endpoint_traffic_weights_delete_and_objects(server: CoveServer, browser: Any) -> None:
    s3, sm = server.client("s3"), server.client("sagemaker")
    runtime = server.client("sagemaker-runtime")
    bucket = unique("console")
    s3.create_bucket(Bucket=bucket)
    url_a, _, X = xgb_model(s3, bucket, seed=0)
    url_b, _, _ = xgb_model(s3, bucket, seed=100)
    endpoint = deploy(sm, [("A", url_a, 1.0, 1), ("B", url_b, 1.0, 1)])
    body = csv_rows(X[:1])
    hits = invoke(runtime, endpoint, body, 200)
    assert 0.3 < hits.count("A") / len(hits) < 0.7
    page = sign_in(browser, server)
    page.goto(f"{server.console_url}/ui/endpoints")
    page.get_by_role("link", name=endpoint).click()
    page.wait_for_url(f"**/ui/endpoints/{endpoint}")
    # the chart polls; wait until it has every request (flushed each second) of both variants.
    # Null-safe: the predicate may run while the chart element is not drawn yet.
    page.wait_for_function(
        "([a, b]) => { const d = (document.getElementById('traffic-chart') || {}).data; "
        "if (!d) return false; "
        "const sum = n => (d.find(t => t.name === n) || {y: []}).y.reduce((x, y) => x + y, 0);"
        " return sum('A requests') === a && sum('B requests') === b; }",
        arg=[hits.count("A"), hits.count("B")], timeout=30_000)
    served = page.evaluate("() => Object.fromEntries(document.getElementById('traffic-chart')"
                           ".data.map(t => [t.name, t.y.reduce((a, b) => a + b, 0)]))")
    assert served["A requests"] == hits.count("A") and served["B requests"] == hits.count("B")
    # "try it": a payload through InvokeEndpoint, the answer with its variant and latency
    page.get_by_label("Payload").fill(body.decode().strip())
    page.get_by_role("button", name="Invoke").click()
    page.locator("#try-status", has_text=" ms").wait_for(timeout=30_000)  # no eval: CSP
    status = page.inner_text("#try-status")
    assert status.startswith("HTTP 200 from ") and status.split()[3] in ("A", "B"), status
    float(page.inner_text("#try-answer").strip())  # the model's score
    # without the session's CSRF token the box's endpoint refuses
    forged = page.request.post(f"{server.console_url}/ui/endpoints/{endpoint}/invoke", data=body,
                               headers={"Content-Type": "text/csv"})
    assert forged.status == 403
    assert served["A errors"] == served["B errors"] == 0
    assert set(trace_lengths(page, "latency-chart")) == {"A p50", "A p99", "B p50", "B p99"}
    assert_labelled(page)
    page.screenshot(path=str(ARTIFACTS / "endpoint.png"), full_page=True)
    phone = sign_in(browser, server, width=390)
    phone.goto(page.url)
    trace_lengths(phone, "traffic-chart")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    phone.screenshot(path=str(ARTIFACTS / "endpoint-phone.png"), full_page=True)

    # all traffic to A, from the page; the observed split follows
    page.get_by_label("Weight of A").fill("1")
    page.get_by_label("Weight of B").fill("0")
    with page.expect_navigation():
        page.get_by_role("button", name="Apply weights").click()
    deadline = time.monotonic() + 60
    while sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] != "InService" \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    assert set(invoke(runtime, endpoint, body, 100)) == {"A"}
    page.wait_for_function("() => (document.querySelector('#variants tbody tr:nth-child(2) "
                           ".weight') || {textContent: ''}).textContent.trim() === '0.0'",
                           timeout=30_000)
    events = page.locator("#history tbody tr")
    assert "WeightsChanged" in (events.first.text_content() or "")
    assert "B: weight 0" in (events.first.text_content() or "")
    assert "Creating" in (events.last.text_content() or "")

    # delete, confirming with the name
    page.get_by_role("link", name="Delete endpoint…").click()
    page.get_by_label("Type the endpoint's name to confirm").fill(endpoint)
    page.get_by_role("button", name="Delete").click()
    page.wait_for_url("**/ui/endpoints")
    assert endpoint not in page.content()
    assert endpoint not in [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]]

    # objects: browse into a prefix, see an object's metadata, upload a file
    page.goto(f"{server.console_url}/ui/objects/{bucket}")
    page.get_by_role("link", name="models/").click()
    page.wait_for_url("**prefix=models%2F")
    page.get_by_label("File (stored under").set_input_files(
        files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"from the page"}])
    page.get_by_role("button", name="Upload").click()
    page.wait_for_selector("text=Uploaded models/notes.txt (13 bytes).")
    assert s3.get_object(Bucket=bucket, Key="models/notes.txt")["Body"].read() == \
        b"from the page"
    page.wait_for_selector("#listing >> text=notes.txt")
    assert_labelled(page)
    page.screenshot(path=str(ARTIFACTS / "objects.png"), full_page=True)


def test_one_time_link_signs_a_browser_in(server: CoveServer, browser: Any) -> None:
    """The link `cove up` printed: a real browser keeps the strict cookie it sets."""
    import re

    link = re.search(r"Console: (\S+)", server.log_tail()).group(1)  # type: ignore[union-attr]
    page = browser.new_page()
    page.goto(link)
    page.wait_for_url("**/ui/")
    assert page.get_by_role("heading", name="Dashboard").is_visible()
    page.goto(server.console_url + "/ui/endpoints")
    assert page.get_by_role("heading", name="Endpoints").is_visible()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/ui/sign-in")
    page.goto(server.console_url + "/ui/endpoints")
    assert page.get_by_role("heading", name="Sign in to cove").is_visible()
    other = browser.new_page()
    other.goto(link)  # used once already
    assert "already used" in other.content()
