"""``cove processing``: processing jobs at a glance — list, describe, follow logs, stop."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.table import Table

from cove.cli._client import client
from cove.cli._views import TERMINAL, HomeOption, WatchOption, console, show, status, when
from cove.cli.jobs import follow_log

app = typer.Typer(no_args_is_help=True, help="Processing jobs: list, describe, logs, stop.")
LOG_GROUP = "/aws/sagemaker/ProcessingJobs"


@app.command("ls")
def list_jobs(home: HomeOption = None,
              state: Annotated[str | None, typer.Option(
                  "--status", help="Only jobs in this status.")] = None,
              limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20) -> None:
    """List processing jobs, newest first."""
    sm = client("sagemaker", home)
    params: dict[str, Any] = {"SortBy": "CreationTime", "SortOrder": "Descending",
                              "MaxResults": min(limit, 100)}
    if state:
        params["StatusEquals"] = state
    jobs = sm.list_processing_jobs(**params)["ProcessingJobSummaries"]
    table = Table("name", "status", "created", "duration")
    for job in jobs:
        end = job.get("ProcessingEndTime")
        took = (end - job["CreationTime"]).total_seconds() if end else None
        table.add_row(job["ProcessingJobName"], status(job["ProcessingJobStatus"]),
                      when(job["CreationTime"]), f"{took:.1f} s" if took is not None else "…")
    console.print(table if jobs else "No processing jobs yet.")


@app.command()
def describe(name: str, home: HomeOption = None, watch: WatchOption = False) -> None:
    """Show one job: status, image and command, inputs and outputs."""
    sm = client("sagemaker", home)

    def render() -> tuple[Group, bool]:
        job = sm.describe_processing_job(ProcessingJobName=name)
        return _describe_view(job), job["ProcessingJobStatus"] in TERMINAL
    show(render, watch)


def _describe_view(job: dict[str, Any]) -> Group:
    app = job["AppSpecification"]
    cluster = job["ProcessingResources"]["ClusterConfig"]
    head = Table(show_header=False, box=None)
    head.add_row("job", job["ProcessingJobName"])
    head.add_row("status", status(job["ProcessingJobStatus"]))
    head.add_row("image", app["ImageUri"])
    head.add_row("command", " ".join(app.get("ContainerEntrypoint", []) +
                                     app.get("ContainerArguments", [])))
    head.add_row("hosts", f"{cluster['InstanceCount']} × {cluster['InstanceType']}")
    for key in ("ProcessingStartTime", "ProcessingEndTime"):
        if job.get(key):
            head.add_row(key.removeprefix("Processing").lower(), when(job[key]))
    if job.get("ExitMessage"):
        head.add_row("exit message", job["ExitMessage"])
    if job.get("FailureReason"):
        head.add_row("failure", f"[red]{job['FailureReason']}[/]")
    inputs = Table("input", "from", "to", title="inputs")
    for entry in job.get("ProcessingInputs", []):
        source = entry.get("S3Input", {})
        inputs.add_row(entry["InputName"], source.get("S3Uri", ""), source.get("LocalPath", ""))
    outputs = Table("output", "from", "to", title="outputs")
    for entry in job.get("ProcessingOutputConfig", {}).get("Outputs", []):
        target = entry.get("S3Output", {})
        outputs.add_row(entry["OutputName"], target.get("LocalPath", ""),
                        target.get("S3Uri", ""))
    return Group(head, inputs, outputs)


@app.command()
def logs(name: str, home: HomeOption = None,
         follow: Annotated[bool, typer.Option("--follow", "-f",
                                              help="Keep printing until the job ends.")] = False
         ) -> None:
    """Print a job's log (all hosts), optionally following it live."""
    sm = client("sagemaker", home)
    follow_log(client("logs", home), name, LOG_GROUP, follow, lambda: str(
        sm.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"]))


@app.command()
def stop(name: str, home: HomeOption = None) -> None:
    """Stop a running job (SIGTERM, then SIGKILL after the grace period)."""
    sm = client("sagemaker", home)
    sm.stop_processing_job(ProcessingJobName=name)
    with console.status(f"stopping {name}…"):
        while True:
            job = sm.describe_processing_job(ProcessingJobName=name)
            if job["ProcessingJobStatus"] in TERMINAL:
                break
            time.sleep(0.5)
    console.print(f"{name}: {status(job['ProcessingJobStatus'])}")
