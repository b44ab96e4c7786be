"""``cove tuning``: hyperparameter tuning jobs — list them, watch their trials, stop them."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.table import Table

from cove.cli._client import client
from cove.cli._views import TERMINAL, HomeOption, WatchOption, console, show, status, when
from cove.lifecycles import JobStatus

app = typer.Typer(no_args_is_help=True, help="Hyperparameter tuning jobs: list, describe, stop.")


@app.command("ls")
def list_tuning_jobs(home: HomeOption = None,
                     state: Annotated[str | None, typer.Option(
                         "--status", help="Only tuning jobs in this status.")] = None,
                     limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20
                     ) -> None:
    """List tuning jobs, newest first, with their trial counts."""
    sm = client("sagemaker", home)
    params: dict[str, Any] = {"SortBy": "CreationTime", "SortOrder": "Descending",
                              "MaxResults": min(limit, 100)}
    if state:
        params["StatusEquals"] = state
    jobs = sm.list_hyper_parameter_tuning_jobs(**params)["HyperParameterTuningJobSummaries"]
    table = Table("name", "status", "strategy", "trials done / max", "running", "failed",
                  "created")
    for job in jobs:
        counts = job["TrainingJobStatusCounters"]
        # the counters are named for the trials' JobStatus (and the errors' kinds)
        done = (counts[JobStatus.COMPLETED.value] + counts[JobStatus.STOPPED.value]
                + counts["NonRetryableError"])
        limit_jobs = job.get("ResourceLimits", {}).get("MaxNumberOfTrainingJobs", "grid")
        table.add_row(job["HyperParameterTuningJobName"],
                      status(job["HyperParameterTuningJobStatus"]), job["Strategy"],
                      f"{done} / {limit_jobs}", str(counts[JobStatus.IN_PROGRESS.value]),
                      str(counts["NonRetryableError"]), when(job["CreationTime"]))
    console.print(table if jobs else "No tuning jobs yet.")


@app.command()
def describe(name: str, home: HomeOption = None, watch: WatchOption = False) -> None:
    """Show a tuning job and its trials, best objective first (live with --watch)."""
    sm = client("sagemaker", home)
    show(lambda: _view(sm, name), watch)


@app.command()
def stop(name: str, home: HomeOption = None) -> None:
    """Stop a tuning job and its running trials."""
    sm = client("sagemaker", home)
    sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    with console.status(f"stopping {name} and its running trials…"):
        while (ended := _tuning_status(sm, name)) not in TERMINAL:
            time.sleep(0.5)
    console.print(f"{name}: {status(ended)}")


def _tuning_status(sm: Any, name: str) -> str:
    return str(sm.describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name)["HyperParameterTuningJobStatus"])


def _view(sm: Any, name: str) -> tuple[Group, bool]:
    d = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    config = d["HyperParameterTuningJobConfig"]
    objective = config["HyperParameterTuningJobObjective"]
    head = Table(show_header=False, box=None)
    head.add_row("tuning job", name)
    head.add_row("status", status(d["HyperParameterTuningJobStatus"]))
    head.add_row("strategy", f"{config['Strategy']} (early stopping "
                             f"{config.get('TrainingJobEarlyStoppingType', 'Off')})")
    head.add_row("objective", f"{objective['Type']} {objective['MetricName']}")
    counts = d["TrainingJobStatusCounters"]
    head.add_row("trials", ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "none yet")
    if d.get("BestTrainingJob"):
        best = d["BestTrainingJob"]
        head.add_row("best", f"{best['TrainingJobName']} = "
                             f"{best['FinalHyperParameterTuningJobObjectiveMetric']['Value']:.6g}")
    if d.get("FailureReason"):
        head.add_row("failure", f"[red]{d['FailureReason']}[/]")
    pages = sm.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job").paginate(
        HyperParameterTuningJobName=name)
    trials = [s for page in pages for s in page["TrainingJobSummaries"]]
    sign = 1 if objective["Type"] == "Minimize" else -1
    trials.sort(key=lambda s: (
        "FinalHyperParameterTuningJobObjectiveMetric" not in s,
        sign * s.get("FinalHyperParameterTuningJobObjectiveMetric", {}).get("Value", 0),
        s["TrainingJobName"]))
    tuned = sorted({k for s in trials for k in s["TunedHyperParameters"]})
    table = Table("trial", "status", objective["MetricName"], *tuned,
                  title="trials, best first")
    for s in trials:
        value = s.get("FinalHyperParameterTuningJobObjectiveMetric", {}).get("Value")
        table.add_row(s["TrainingJobName"], status(s["TrainingJobStatus"]),
                      f"{value:.6g}" if value is not None else "…",
                      *(_short(s["TunedHyperParameters"].get(k, "")) for k in tuned))
    return Group(head, table), d["HyperParameterTuningJobStatus"] in TERMINAL


def _short(value: str) -> str:
    try:
        return f"{float(value):.6g}"
    except ValueError:
        return value
