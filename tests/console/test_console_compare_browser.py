"""The training list as an experiment tracker (chosen columns, kept; sorted) and the compare
view (hyperparameters side by side, differences marked; metric curves overlaid), in headless
Chromium against jobs that really ran; and what a hostile name or value does there."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from botocore.exceptions import ClientError

from tests.conftest import CoveServer
from tests.console.conftest import signed_in
from tests.console.test_console_browser import CHROMIUM, assert_labelled, browser, sign_in
from tests.training.helpers import script_job, unique, upload_source
from tests.training.helpers import wait as wait_training

__all__ = ["browser"]  # the module-scoped Chromium fixture, shared

#: loss falls as 1/(epoch * lr); accuracy rises to 1 - 0.1/lr; one line each per epoch.
TRAIN = """
import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float)
parser.add_argument("--epochs", type=int)
args, _ = parser.parse_known_args()
for epoch in range(1, args.epochs + 1):
    print(f"epoch {epoch} loss: {1.0 / (epoch * args.lr):.5f}", flush=True)
    print(f"epoch {epoch} accuracy: {1 - 0.1 / args.lr / epoch:.5f}", flush=True)
"""
METRICS = [{"Name": "train:loss", "Regex": r"loss: ([0-9.]+)"},
           {"Name": "validation:accuracy", "Regex": r"accuracy: ([0-9.-]+)"}]
#: job suffix -> (lr, epochs); "optimizer" is the same for all, so never marked as differing
RUNS = {"a": ("0.5", 3), "b": ("1.5", 5), "c": ("1.25", 4)}

needs_chromium = pytest.mark.skipif(not shutil.which(CHROMIUM), reason="needs the Debian "
                                    "chromium package (.ci/run installs it)")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[CoveServer]:
    started = CoveServer(tmp_path / "home").start()
    yield started
    started.stop()


def train(server: CoveServer, runs: dict[str, tuple[str, int]], extra_hps: dict[str, str],
          metrics: list[dict[str, str]] = METRICS) -> dict[str, str]:
    """One finished script-mode job per run; suffix -> job name."""
    s3, sm = server.client("s3"), server.client("sagemaker")
    bucket = unique("compare")
    s3.create_bucket(Bucket=bucket)
    source = upload_source(s3, bucket, {"train.py": TRAIN})
    names = {}
    for suffix, (lr, epochs) in runs.items():
        names[suffix] = unique(f"run-{suffix}")
        sm.create_training_job(**script_job(
            names[suffix], bucket, source, hyperparameters={
                "lr": lr, "epochs": str(epochs), **extra_hps},
            algorithm={"MetricDefinitions": metrics}))
    for name in names.values():
        assert wait_training(sm, name, timeout=300)["TrainingJobStatus"] == "Completed"
    return names


def headers(page: Any) -> list[str]:
    return [h.strip() for h in page.locator("#jobs thead th").all_inner_texts()]


def column_of(page: Any, label: str) -> list[str]:
    """The cells of one column of the training list, top to bottom."""
    at = headers(page).index(label) + 1
    return [c.strip() for c in page.locator(f"#jobs tbody td:nth-child({at})").all_inner_texts()]


def curves(page: Any, chart_id: str) -> dict[str, list[float]]:
    page.wait_for_function(f"() => (document.getElementById('{chart_id}') || {{}}).data "
                           "!== undefined", timeout=30_000)
    found: dict[str, list[float]] = page.evaluate(
        f"() => Object.fromEntries(document.getElementById('{chart_id}').data"
        f".map(t => [t.name, Array.from(t.y)]))")
    return found


@needs_chromium
def test_choose_columns_keep_them_sort_and_compare(server: CoveServer, browser: Any) -> None:
    names = train(server, RUNS, {"optimizer": "adam"})
    page = sign_in(browser, server)
    page.goto(f"{server.console_url}/ui/training-jobs")
    assert headers(page) == ["Compare", "Name", "Status", "Phase", "Created", "Duration"]

    # choose columns: a hyperparameter, a metric, the image and the instance type
    page.get_by_text("Columns", exact=True).click()
    chooser = page.locator("#columns-form")
    for label in ("lr", "validation:accuracy", "Algorithm / image", "Instance type"):
        chooser.get_by_label(label, exact=True).check()
    chooser.get_by_label("Phase", exact=True).uncheck()
    with page.expect_navigation():
        chooser.get_by_role("button", name="Show these columns").click()
    chosen = ["Compare", "Name", "Status", "Created", "Duration", "Algorithm / image",
              "Instance type", "lr", "validation:accuracy"]
    assert headers(page) == chosen
    assert set(column_of(page, "Algorithm / image")) == {"sagemaker-scikit-learn:1.2-1-cpu-py3"}
    assert set(column_of(page, "Instance type")) == {"ml.m5.large"}
    by_name = dict(zip(column_of(page, "Name"), column_of(page, "lr"), strict=True))
    assert by_name == {names[s]: lr for s, (lr, _) in RUNS.items()}
    accuracy = dict(zip(column_of(page, "Name"), column_of(page, "validation:accuracy"),
                        strict=True))
    assert accuracy[names["b"]] == f"{1 - 0.1 / 1.5 / 5:.5f}"  # the last value logged
    assert_labelled(page)

    # the choice stays: the list opened from the menu shows the same columns
    page.get_by_role("link", name="Dashboard").click()
    page.wait_for_url("**/ui/")  # (the menu's link is on both pages: click the new one)
    page.get_by_role("navigation").get_by_role("link", name="Training").click()
    page.wait_for_url("**/ui/training-jobs?*col=*")
    assert headers(page) == chosen

    # sort by the metric: best accuracy first on the second click
    page.get_by_role("link", name="validation:accuracy").click()
    page.wait_for_url("**order=asc*")
    page.get_by_role("link", name="validation:accuracy ▲").click()
    page.wait_for_url("**order=desc*")
    assert column_of(page, "Name") == [names["b"], names["c"], names["a"]]

    # tick two rows; the live refresh of the list (once the focus has left it) keeps them
    page.get_by_label(f"Compare {names['a']}").check()
    page.get_by_label(f"Compare {names['b']}").check()
    page.evaluate("document.activeElement.blur(); "
                  "document.querySelector('#jobs table').dataset.old = '1'")
    page.wait_for_function("() => !document.querySelector('#jobs table').dataset.old",
                           timeout=30_000)
    assert page.get_by_label(f"Compare {names['a']}").is_checked()
    assert page.get_by_label(f"Compare {names['b']}").is_checked()
    with page.expect_navigation():
        page.get_by_role("button", name="Compare selected").click()
    check_compare_page(page, names)  # in the list's order: b (best) first


def check_compare_page(page: Any, names: dict[str, str]) -> None:
    assert page.get_by_role("heading", name="Compare 2 training jobs").is_visible()
    table = page.locator("#compare-hyperparameters table")
    assert [h.strip() for h in table.locator("thead th").all_inner_texts()] == [
        "Hyperparameter", names["b"], names["a"]]
    lr = table.locator("tbody tr", has=page.locator("th", has_text="lr"))
    assert "differs" in (lr.get_attribute("class") or "")
    assert [c.strip() for c in lr.locator("td").all_inner_texts()] == ["1.5", "0.5"]
    same = table.locator("tbody tr", has=page.locator("th", has_text="optimizer"))
    assert "differs" not in (same.get_attribute("class") or "")
    assert [c.strip() for c in same.locator("td").all_inner_texts()] == ["adam", "adam"]
    # one chart per metric, one curve per job, every point each job logged
    charts = page.locator("#compare-charts [data-chart]")
    assert charts.count() == 2
    labels = [charts.nth(i).get_attribute("aria-label") for i in range(2)]
    assert labels == ["train:loss: one curve per job", "validation:accuracy: one curve per job"]
    loss = curves(page, "compare-chart-1")
    assert loss == {names["a"]: [round(1.0 / (e * 0.5), 5) for e in range(1, 4)],
                    names["b"]: [round(1.0 / (e * 1.5), 5) for e in range(1, 6)]}
    assert set(curves(page, "compare-chart-2")) == {names["a"], names["b"]}
    assert page.evaluate("document.getElementById('compare-chart-1').layout.title.text") == \
        "train:loss"
    assert_labelled(page)
    # only the rows where the jobs differ
    page.get_by_role("link", name="only where the jobs differ").click()
    page.wait_for_url("**rows=differ*")
    rows = page.locator("#compare-hyperparameters tbody th").all_inner_texts()
    assert any(r.startswith("lr") for r in rows) and not any(
        r.startswith("optimizer") for r in rows)


HOSTILE_VALUE = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'
HOSTILE_KEY = '<img src=x onerror="window.pwned = 3">'
HOSTILE_METRIC = '<b>bold</b><a href="javascript:window.pwned=4">x</a>'


@needs_chromium
def test_hostile_names_and_values_render_as_text(server: CoveServer, browser: Any) -> None:
    sm = server.client("sagemaker")
    with pytest.raises(ClientError) as refused:  # a job name never holds markup
        sm.create_training_job(**script_job("<script>x</script>", "b", "s3://b/k"))
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    names = train(server, {"a": ("0.5", 2), "b": ("1.0", 2)},
                  {"note": HOSTILE_VALUE, HOSTILE_KEY: "1"},
                  metrics=[{"Name": HOSTILE_METRIC, "Regex": r"loss: ([0-9.]+)"}])
    page = sign_in(browser, server)
    page.on("dialog", lambda dialog: dialog.dismiss())
    page.goto(f"{server.console_url}/ui/training-jobs?" + urlencode([
        ("col", "hp:note"), ("col", f"hp:{HOSTILE_KEY}"), ("col", f"metric:{HOSTILE_METRIC}")]))
    assert HOSTILE_VALUE in column_of(page, "note")
    assert HOSTILE_KEY in headers(page) and HOSTILE_METRIC in headers(page)
    page.goto(f"{server.console_url}/ui/training-compare?job={names['a']}&job={names['b']}")
    note = page.locator("#compare-hyperparameters tbody tr", has=page.locator(
        "th", has_text="note"))
    assert [c.strip() for c in note.locator("td").all_inner_texts()] == [HOSTILE_VALUE] * 2
    assert page.locator("#compare-hyperparameters th", has_text=HOSTILE_KEY).count() == 1
    curves(page, "compare-chart-1")
    # Plotly reads tags in labels: the metric's name is drawn as written, no bold, no link
    assert page.evaluate("document.querySelector('#compare-chart-1 .gtitle').textContent") == \
        HOSTILE_METRIC
    assert page.locator("#compare-chart-1 .gtitle a, #compare-chart-1 .gtitle b").count() == 0
    assert page.locator("main img").count() == 0 and page.locator("main script").count() == 0
    assert page.evaluate("window.pwned === undefined")


def test_compare_refuses_what_it_cannot_show(cove: CoveServer) -> None:
    session, _ = signed_in(cove)
    base = f"{cove.console_url}/ui/training-compare"
    missing = session.get(base, params={"job": ["no-such-job"]}, timeout=30)
    assert missing.status_code == 404 and "<h1>Not found</h1>" in missing.text
    assert "Could not find training job &#39;no-such-job&#39;" in missing.text
    assert 'href="/ui/training-jobs">See all training jobs</a>' in missing.text
    hostile = session.get(base, params={"job": ["<script>alert(1)</script>"]}, timeout=30)
    assert hostile.status_code == 404 and "<script>alert(1)" not in hostile.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile.text
    nothing = session.get(base, timeout=30)
    assert nothing.status_code == 400 and "Choose the training jobs to compare" in nothing.text
    many = session.get(base, params={"job": [f"j{i}" for i in range(13)]}, timeout=30)
    assert many.status_code == 400 and "at most 12 training jobs" in many.text
    chart = session.get(f"{cove.console_url}/ui/api/training-compare/metrics",
                        params={"job": ["no-such-job"], "metric": "loss"}, timeout=30)
    assert chart.status_code == 400 and "Could not find" in chart.json()["message"]
    column = session.get(f"{cove.console_url}/ui/training-jobs", params={"col": "bogus"},
                         timeout=30)
    assert column.status_code == 400 and "Unknown column &#39;bogus&#39;" in column.text
    anonymous = requests.get(base, params={"job": ["x"]}, timeout=30)
    assert anonymous.status_code == 401 and "Sign in to cove" in anonymous.text
