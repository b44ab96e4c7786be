"""``cove transforms``: batch transform jobs — list with progress, describe, follow logs, stop."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.progress_bar import ProgressBar
from rich.table import Table

from cove.cli._client import client, cove_call
from cove.cli._views import TERMINAL, HomeOption, WatchOption, console, show, status, when
from cove.cli.jobs import follow_log

app = typer.Typer(no_args_is_help=True, help="Batch transform jobs: list, describe, logs, stop.")
LOG_GROUP = "/aws/sagemaker/TransformJobs"

#: name -> (records done, records total, objects done, objects total); totals None until known
Progress = tuple[int, int | None, int, int | None]


def progress(home: Path | None) -> dict[str, Progress]:
    """Every transform job's progress (cove's own API: SageMaker's has no field for it)."""
    return {j["TransformJobName"]: (j["RecordsDone"], j["RecordsTotal"], j["ObjectsDone"],
                                    j["ObjectsTotal"])
            for j in cove_call("ListTransformProgress", home)["TransformJobs"]}


@app.command("ls")
def list_jobs(home: HomeOption = None,
              state: Annotated[str | None, typer.Option(
                  "--status", help="Only jobs in this status.")] = None,
              limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20) -> None:
    """List transform jobs, newest first, with how far each got."""
    sm = client("sagemaker", home)
    params: dict[str, Any] = {"SortBy": "CreationTime", "SortOrder": "Descending",
                              "MaxResults": min(limit, 100)}
    if state:
        params["StatusEquals"] = state
    jobs = sm.list_transform_jobs(**params)["TransformJobSummaries"]
    done = progress(home)
    table = Table("name", "status", "records", "objects", "created", "duration")
    for job in jobs:
        name = job["TransformJobName"]
        records, total, objects, objects_total = done.get(name, (0, None, 0, None))
        end = job.get("TransformEndTime")
        took = (end - job["CreationTime"]).total_seconds() if end else None
        table.add_row(name, status(job["TransformJobStatus"]), _fraction(records, total),
                      _fraction(objects, objects_total), when(job["CreationTime"]),
                      f"{took:.1f} s" if took is not None else "…")
    console.print(table if jobs else "No transform jobs yet.")


@app.command()
def describe(name: str, home: HomeOption = None, watch: WatchOption = False) -> None:
    """Show one job: its input and output, batching, progress, failure."""
    sm = client("sagemaker", home)

    def render() -> tuple[Group, bool]:
        job = sm.describe_transform_job(TransformJobName=name)
        return _view(job, progress(home).get(name)), job["TransformJobStatus"] in TERMINAL
    show(render, watch, interval=0.5)


def _view(job: dict[str, Any], done: Progress | None) -> Group:
    source = job["TransformInput"]["DataSource"]["S3DataSource"]
    head = Table(show_header=False, box=None)
    head.add_row("job", job["TransformJobName"])
    head.add_row("status", status(job["TransformJobStatus"]))
    head.add_row("model", job["ModelName"])
    head.add_row("input", f"{source['S3Uri']} ({source['S3DataType']}, "
                          f"{_input_format(job['TransformInput'])})")
    output = job["TransformOutput"]
    head.add_row("output", f"{output['S3OutputPath']} (Accept {output.get('Accept', '-')}, "
                           f"AssembleWith {output.get('AssembleWith', 'None')})")
    head.add_row("batching", _batching(job))
    processing = job.get("DataProcessing", {})
    if processing and processing != {"InputFilter": "$", "OutputFilter": "$",
                                     "JoinSource": "None"}:
        head.add_row("processing", ", ".join(f"{k} {v}" for k, v in processing.items()))
    if job.get("FailureReason"):
        head.add_row("failure", f"[red]{job['FailureReason']}[/]")
    parts: list[Any] = [head]
    if done is not None:
        records, total, objects, objects_total = done
        head.add_row("records", _fraction(records, total))
        head.add_row("objects", _fraction(objects, objects_total))
        if total:
            parts.append(ProgressBar(total=total, completed=records, width=60))
    return Group(*parts)


def _input_format(transform_input: dict[str, Any]) -> str:
    compression = transform_input.get("CompressionType", "None")
    return (f"{transform_input.get('ContentType', 'no ContentType')}, SplitType "
            f"{transform_input.get('SplitType', 'None')}"
            + (f", {compression}" if compression != "None" else ""))


def _batching(job: dict[str, Any]) -> str:
    resources = job["TransformResources"]
    given = [f"{key} {job[key]}" for key in ("BatchStrategy", "MaxPayloadInMB",
                                             "MaxConcurrentTransforms") if key in job]
    return ", ".join([*given, f"{resources['InstanceCount']} × {resources['InstanceType']}"])


@app.command()
def logs(name: str, home: HomeOption = None,
         follow: Annotated[bool, typer.Option("--follow", "-f",
                                              help="Keep printing until the job ends.")] = False
         ) -> None:
    """Print a job's log (cove's data log and the model workers'), optionally following it."""
    sm = client("sagemaker", home)
    follow_log(client("logs", home), name, LOG_GROUP, follow,
               lambda: str(sm.describe_transform_job(TransformJobName=name)["TransformJobStatus"]))


@app.command()
def stop(name: str, home: HomeOption = None) -> None:
    """Stop a running job: outputs already written stay, the one being written is dropped."""
    sm = client("sagemaker", home)
    sm.stop_transform_job(TransformJobName=name)
    with console.status(f"stopping {name}…"):
        while (ended := sm.describe_transform_job(TransformJobName=name)[
                "TransformJobStatus"]) not in TERMINAL:
            time.sleep(0.25)
    console.print(f"{name}: {status(ended)}")


def _fraction(done: int, total: int | None) -> str:
    if total is None:
        return f"{done:,} / …"
    share = f" ({100 * done / total:.0f}%)" if total else ""
    return f"{done:,} / {total:,}{share}"

