"""``cove pipelines``: pipelines and their executions — list, describe, executions, start,
stop."""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.table import Table

from cove.cli._client import client
from cove.cli._views import HomeOption, WatchOption, console, show, status, when
from cove.lifecycles import ExecutionStatus

app = typer.Typer(no_args_is_help=True,
                  help="Pipelines: list, describe, executions, start, stop.")
_DONE = tuple(s.value for s in ExecutionStatus if s.is_finished())


@app.command("ls")
def list_pipelines(home: HomeOption = None) -> None:
    """List pipelines, newest first, with their last run."""
    sm = client("sagemaker", home)
    found = sm.list_pipelines(SortBy="CreationTime", SortOrder="Descending",
                              MaxResults=100)["PipelineSummaries"]
    table = Table("name", "created", "last run")
    for p in found:
        table.add_row(p["PipelineName"], when(p["CreationTime"]),
                      when(p["LastExecutionTime"]) if p.get("LastExecutionTime") else "never")
    console.print(table if found else "No pipelines yet.")


@app.command()
def describe(name: str, home: HomeOption = None) -> None:
    """Show a pipeline: its steps and parameters, and its recent executions."""
    import json

    sm = client("sagemaker", home)
    pipeline = sm.describe_pipeline(PipelineName=name)
    definition = json.loads(pipeline["PipelineDefinition"])
    head = Table(show_header=False, box=None)
    head.add_row("pipeline", pipeline["PipelineName"])
    head.add_row("role", pipeline["RoleArn"])
    parameters = Table("parameter", "type", "default", title="parameters")
    for p in definition.get("Parameters", []):
        parameters.add_row(p["Name"], p.get("Type", "String"), str(p.get("DefaultValue", "")))
    steps = Table("step", "type", title="steps")
    for step in _flatten(definition.get("Steps", [])):
        steps.add_row(step["Name"], step["Type"])
    console.print(Group(head, parameters, steps))
    _executions_table(sm, name, 5)


@app.command()
def executions(name: str, home: HomeOption = None,
               limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20
               ) -> None:
    """List a pipeline's executions, newest first."""
    _executions_table(client("sagemaker", home), name, limit)


@app.command()
def start(name: str, home: HomeOption = None,
          parameter: Annotated[list[str] | None, typer.Option(
              "--parameter", "-p", help="NAME=VALUE, once per parameter.")] = None,
          wait: Annotated[bool, typer.Option("--wait", help="Follow it to the end.")] = False
          ) -> None:
    """Start an execution; with --wait, show its steps until it ends."""
    sm = client("sagemaker", home)
    given = []
    for item in parameter or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"{item!r}: write NAME=VALUE", param_hint="--parameter")
        given.append({"Name": key, "Value": value})
    arn = sm.start_pipeline_execution(PipelineName=name, PipelineParameters=given,
                                      ClientRequestToken=uuid.uuid4().hex)[
        "PipelineExecutionArn"]
    console.print(f"started {arn}")
    if wait:
        _follow(sm, arn, True)


@app.command("execution")
def execution(arn: str, home: HomeOption = None, watch: WatchOption = False) -> None:
    """Show one execution's steps (status, job, condition outcome, failure)."""
    _follow(client("sagemaker", home), arn, watch)


@app.command()
def stop(arn: str, home: HomeOption = None) -> None:
    """Stop an execution: its running jobs are stopped, no new step starts."""
    sm = client("sagemaker", home)
    sm.stop_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=uuid.uuid4().hex)
    with console.status("stopping…"):
        while True:
            d = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
            if d["PipelineExecutionStatus"] in _DONE:
                break
            time.sleep(0.5)
    console.print(f"{arn}: {status(d['PipelineExecutionStatus'])}")


def _follow(sm: Any, arn: str, watch: bool) -> None:
    def render() -> tuple[Group, bool]:
        d = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
        steps = sm.list_pipeline_execution_steps(PipelineExecutionArn=arn, SortOrder="Ascending",
                                                 MaxResults=100)["PipelineExecutionSteps"]
        head = Table(show_header=False, box=None)
        head.add_row("execution", arn)
        head.add_row("status", status(d["PipelineExecutionStatus"]))
        if d.get("FailureReason"):
            head.add_row("failure", f"[red]{d['FailureReason']}[/]")
        table = Table("step", "status", "attempts", "what", "started", title="steps")
        for s in steps:
            table.add_row(s["StepName"], status(s["StepStatus"]), str(s.get("AttemptCount", 1)),
                          _what(s), when(s["StartTime"]))
        return Group(head, table), d["PipelineExecutionStatus"] in _DONE
    show(render, watch)


def _what(step: dict[str, Any]) -> str:
    """The step's job, model or outcome, from its metadata."""
    if step.get("CacheHitResult"):
        return "cached"
    for kind, meta in step.get("Metadata", {}).items():
        if "Arn" in meta:
            return f"{kind} {meta['Arn'].rsplit('/', 1)[-1]}"
        if "Outcome" in meta:
            return f"condition {meta['Outcome']}"
        if "ErrorMessage" in meta:
            return f"fail: {meta['ErrorMessage']}"
    return str(step.get("FailureReason", ""))


def _executions_table(sm: Any, name: str, limit: int) -> None:
    found = sm.list_pipeline_executions(PipelineName=name, SortOrder="Descending",
                                        MaxResults=min(limit, 100))["PipelineExecutionSummaries"]
    table = Table("execution", "status", "started", "failure", title="executions")
    for e in found:
        table.add_row(e["PipelineExecutionArn"], status(e["PipelineExecutionStatus"]),
                      when(e["StartTime"]), e.get("PipelineExecutionFailureReason", ""))
    console.print(table if found else "No executions yet.")


def _flatten(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for step in steps:
        out.append(step)
        arguments = step.get("Arguments") or {}
        if step.get("Type") == "Condition":
            out += _flatten(arguments.get("IfSteps", []) + arguments.get("ElseSteps", []))
    return out
