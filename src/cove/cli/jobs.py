"""``cove jobs``: training jobs at a glance — list, describe, follow logs, stop."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.table import Table

from cove.cli._client import client
from cove.cli._views import TERMINAL, HomeOption, WatchOption, console, show, status, when

app = typer.Typer(no_args_is_help=True, help="Training jobs: list, describe, logs, stop.")
LOG_GROUP = "/aws/sagemaker/TrainingJobs"


@app.command("ls")
def list_jobs(home: HomeOption = None,
              state: Annotated[str | None, typer.Option(
                  "--status", help="Only jobs in this status.")] = None,
              limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20) -> None:
    """List training jobs, newest first."""
    sm = client("sagemaker", home)
    params: dict[str, Any] = {"SortBy": "CreationTime", "SortOrder": "Descending",
                              "MaxResults": min(limit, 100)}
    if state:
        params["StatusEquals"] = state
    jobs = sm.list_training_jobs(**params)["TrainingJobSummaries"]
    table = Table("name", "status", "phase", "created", "duration")
    for job in jobs:
        end = job.get("TrainingEndTime")
        took = (end - job["CreationTime"]).total_seconds() if end else None
        table.add_row(job["TrainingJobName"], status(job["TrainingJobStatus"]),
                      job.get("SecondaryStatus", ""), when(job["CreationTime"]),
                      f"{took:.1f} s" if took is not None else "…")
    console.print(table if jobs else "No training jobs yet.")


@app.command()
def describe(name: str, home: HomeOption = None, watch: WatchOption = False) -> None:
    """Show one job: status timeline, hyperparameters, metrics, artifacts."""
    sm = client("sagemaker", home)

    def render() -> tuple[Group, bool]:
        job = sm.describe_training_job(TrainingJobName=name)
        return _describe_view(job), job["TrainingJobStatus"] in TERMINAL
    show(render, watch)


def _describe_view(job: dict[str, Any]) -> Group:
    head = Table(show_header=False, box=None)
    head.add_row("job", job["TrainingJobName"])
    head.add_row("status", f"{status(job['TrainingJobStatus'])} ({job['SecondaryStatus']})")
    head.add_row("image", job["AlgorithmSpecification"].get("TrainingImage", ""))
    if job.get("ModelArtifacts"):
        head.add_row("model", job["ModelArtifacts"]["S3ModelArtifacts"])
    if job.get("FailureReason"):
        head.add_row("failure", f"[red]{job['FailureReason']}[/]")
    timeline = Table("phase", "started", "ended", "message", title="timeline")
    for t in job.get("SecondaryStatusTransitions", []):
        timeline.add_row(t["Status"], when(t["StartTime"]),
                         when(t["EndTime"]) if t.get("EndTime") else "…",
                         t.get("StatusMessage", ""))
    hps = Table("hyperparameter", "value", title="hyperparameters")
    for key, value in sorted(job.get("HyperParameters", {}).items()):
        hps.add_row(key, value)
    final = Table("metric", "value", title="final metrics")
    for metric in job.get("FinalMetricDataList", []):
        final.add_row(metric["MetricName"], f"{metric['Value']:.6g}")
    return Group(head, timeline, hps, final)


@app.command()
def logs(name: str, home: HomeOption = None,
         follow: Annotated[bool, typer.Option("--follow", "-f",
                                              help="Keep printing until the job ends.")] = False
         ) -> None:
    """Print a job's log (all hosts), optionally following it live."""
    sm = client("sagemaker", home)
    follow_log(client("logs", home), name, LOG_GROUP, follow,
               lambda: str(sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"]))


def follow_log(cw: Any, name: str, group: str, follow: bool,
               status: Callable[[], str]) -> None:
    """Print a job's log in ``group``; with ``follow``, until ``status()`` says it ended and
    nothing more came.  ``status()`` is asked first: a job that does not exist is an error
    (the CLI's one line), not silence."""
    status()
    tokens: dict[str, str] = {}
    while True:
        printed = print_new_events(cw, name, tokens, group)
        if not follow:
            return
        ended = status()
        if ended in TERMINAL and not printed:
            console.print(f"[dim]-- job {ended} --[/]")
            return
        time.sleep(0.5)


def print_new_events(cw: Any, name: str, tokens: dict[str, str],
                      group: str = LOG_GROUP) -> int:
    """Print the events of the job's streams in ``group`` since ``tokens``; how many."""
    try:
        streams = cw.describe_log_streams(logGroupName=group,
                                          logStreamNamePrefix=f"{name}/")["logStreams"]
    except cw.exceptions.ResourceNotFoundException:
        return 0
    printed = 0
    for stream in streams:
        stream_name = stream["logStreamName"]
        params = {"logGroupName": group, "logStreamName": stream_name,
                  "startFromHead": True}
        if stream_name in tokens:
            params["nextToken"] = tokens[stream_name]
        page = cw.get_log_events(**params)
        tokens[stream_name] = page["nextForwardToken"]
        prefix = f"[dim]{stream_name.split('/')[-1]}[/] " if len(streams) > 1 else ""
        for event in page["events"]:
            console.print(prefix + event["message"].replace("#011", "\t"), markup=bool(prefix),
                          highlight=False)
            printed += 1
    return printed


@app.command()
def stop(name: str, home: HomeOption = None) -> None:
    """Stop a running job (SIGTERM, then SIGKILL after the grace period)."""
    sm = client("sagemaker", home)
    sm.stop_training_job(TrainingJobName=name)
    with console.status(f"stopping {name}…"):
        while True:
            job = sm.describe_training_job(TrainingJobName=name)
            if job["TrainingJobStatus"] in TERMINAL:
                break
            time.sleep(0.5)
    console.print(f"{name}: {status(job['TrainingJobStatus'])}")
