"""``cove notebook``: JupyterLab notebook instances already pointed at cove.

``cove notebook [NAME]`` creates the instance (or starts it again) and prints the URL that logs
a browser in; ``ls``, ``stop``, ``rm`` manage them; ``run FILE`` executes a notebook headless in
one, top to bottom, as the tests do with the tutorials.
"""

from __future__ import annotations

import time
import webbrowser
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from typer.core import TyperGroup

from cove.cli._client import client, running_config
from cove.cli._views import HomeOption, console, when
from cove.errors import CoveError
from cove.lifecycles import START_FROM
from cove.lifecycles import NotebookInstanceStatus as Status

DEFAULT_NAME = "cove"
STYLE = {s.value: colour for s, colour in (
    (Status.IN_SERVICE, "green"), (Status.FAILED, "red"), (Status.PENDING, "cyan"),
    (Status.STOPPING, "yellow"), (Status.STOPPED, "yellow"), (Status.DELETING, "yellow"))}


class _OpenByDefault(TyperGroup):
    """``cove notebook NAME`` means ``cove notebook open NAME``; ``cove notebook`` alone opens
    the default instance."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = ["open", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(cls=_OpenByDefault, help=(
    "Notebook instances: `cove notebook [NAME]` creates or starts one and prints its URL; "
    "ls, stop, rm, run."))


class NotebookFailed(CoveError):
    code = "NotebookFailed"
    status = 1


@app.command("open")
def open_instance(
    name: Annotated[str, typer.Argument(help="Instance name.")] = DEFAULT_NAME,
    browser: Annotated[bool, typer.Option("--open", help="Open the URL in a browser.")] = False,
    instance_type: Annotated[str, typer.Option(help="Recorded as on SageMaker.")] =
        "ml.t3.medium",
    home: HomeOption = None,
) -> None:
    """Create the notebook instance NAME (or start it again) and print the URL that logs in."""
    url = ensure_in_service(name, instance_type, home)
    console.print(f"[green]{name}[/] is InService. Open JupyterLab at:\n[bold]{url}[/]")
    if browser:
        webbrowser.open(url)


@app.command("ls")
def list_instances(home: HomeOption = None) -> None:
    """Every notebook instance: status, URL, creation time."""
    sm = client("sagemaker", home)
    table = Table("name", "status", "url", "instance type", "created")
    for page in sm.get_paginator("list_notebook_instances").paginate():
        for n in page["NotebookInstances"]:
            status = n["NotebookInstanceStatus"]
            table.add_row(n["NotebookInstanceName"], f"[{STYLE.get(status, 'white')}]{status}[/]",
                          n.get("Url", ""), n["InstanceType"], when(n["CreationTime"]))
    console.print(table if table.row_count else
                  "No notebook instances; `cove notebook` creates one.")


@app.command()
def stop(name: str, home: HomeOption = None) -> None:
    """Stop an instance's JupyterLab (its files stay; `cove notebook NAME` starts it again)."""
    sm = client("sagemaker", home)
    sm.stop_notebook_instance(NotebookInstanceName=name)
    _wait(sm, name, (Status.STOPPING,), f"stopping {name}…")
    console.print(f"{name}: stopped")


@app.command()
def rm(name: str, home: HomeOption = None) -> None:
    """Delete an instance and its files (stopping it first if it runs)."""
    sm = client("sagemaker", home)
    status = Status(sm.describe_notebook_instance(NotebookInstanceName=name)[
        "NotebookInstanceStatus"])
    if status.runs():
        status = _wait(sm, name, (Status.PENDING,), f"waiting for {name} to start…")
        if status is Status.IN_SERVICE:
            sm.stop_notebook_instance(NotebookInstanceName=name)
        _wait(sm, name, (Status.STOPPING,), f"stopping {name}…")
    sm.delete_notebook_instance(NotebookInstanceName=name)
    with console.status(f"deleting {name}…"):
        sm.get_waiter("notebook_instance_deleted").wait(
            NotebookInstanceName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    console.print(f"deleted {name}")


@app.command()
def run(
    notebook: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                             help="The .ipynb file to run.")],
    name: Annotated[str, typer.Option("--name", help="Notebook instance to run it in.")] =
        DEFAULT_NAME,
    env: Annotated[list[str] | None, typer.Option(
        "--env", help="NAME=VALUE set in the kernel before the first cell (repeatable).")] =
        None,
    with_files: Annotated[list[Path] | None, typer.Option(
        "--with", exists=True, help="A file or folder the notebook needs, copied beside it.")] =
        None,
    home: HomeOption = None,
) -> None:
    """Run NOTEBOOK top to bottom in a notebook instance (created or started as needed); the
    executed copy, outputs included, is saved in the instance's folder."""
    from cove.notebooks import run_notebook

    variables = dict(_pair(item) for item in env or [])
    url = ensure_in_service(name, "ml.t3.medium", home)
    config, _ = running_config(home)
    directory = config.home / "notebooks" / name
    with console.status(f"running {notebook.name} in {name}…"):
        result = run_notebook(notebook, url, directory / "SageMaker",
                              directory / "home" / ".local" / "share" / "jupyter" / "runtime",
                              env=variables, extra=with_files or [])
    for key, value in result.results.items():
        console.print(f"{key} = {value:g}")
    console.print(f"{notebook.name}: {result.seconds:.1f} s; executed copy: {result.saved}")
    if result.error is not None:
        raise NotebookFailed(f"{notebook.name} failed:\n{result.error}")


def ensure_in_service(name: str, instance_type: str, home: Path | None) -> str:
    """Create or start NAME as needed, wait until it serves, and return its authorized URL."""
    from botocore.exceptions import ClientError

    from cove._sdk import execution_role

    sm = client("sagemaker", home)
    try:
        sm.describe_notebook_instance(NotebookInstanceName=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ValidationException":
            raise
        config, _ = running_config(home)
        sm.create_notebook_instance(NotebookInstanceName=name, InstanceType=instance_type,
                                    RoleArn=execution_role(config.home))
    status = _wait(sm, name, (Status.STOPPING, Status.DELETING), f"waiting for {name}…")
    if status in START_FROM:
        sm.start_notebook_instance(NotebookInstanceName=name)
    status = _wait(sm, name, (Status.PENDING,), f"starting JupyterLab for {name}…")
    if status is not Status.IN_SERVICE:
        reason = sm.describe_notebook_instance(NotebookInstanceName=name).get(
            "FailureReason", "")
        raise NotebookFailed(f"{name} is {status.value}: {reason}")
    return str(sm.create_presigned_notebook_instance_url(
        NotebookInstanceName=name)["AuthorizedUrl"])


def _wait(sm: Any, name: str, passing: tuple[Status, ...], message: str,
          timeout: float = 300) -> Status:
    """Wait (with a spinner) while the instance's status is one of ``passing``."""
    deadline = time.monotonic() + timeout
    with console.status(message):
        while True:
            status = Status(sm.describe_notebook_instance(NotebookInstanceName=name)[
                "NotebookInstanceStatus"])
            if status not in passing or time.monotonic() > deadline:
                return status
            time.sleep(0.5)


def _pair(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise typer.BadParameter(f"--env takes NAME=VALUE, not {item!r}")
    return key, value
