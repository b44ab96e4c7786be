"""``cove endpoints``: what is serving, how much, and since when — so none is forgotten."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from cove.cli._client import client, cove_call
from cove.cli._views import HomeOption, console
from cove.lifecycles import EndpointStatus

app = typer.Typer(no_args_is_help=True, help="Endpoints: list, describe, start, delete (rm).")
STYLE = {s.value: colour for s, colour in (
    (EndpointStatus.IN_SERVICE, "green"), (EndpointStatus.FAILED, "red"),
    (EndpointStatus.CREATING, "cyan"), (EndpointStatus.UPDATING, "cyan"),
    (EndpointStatus.DELETING, "yellow"), (EndpointStatus.OUT_OF_SERVICE, "yellow"))}


def usage(home: Path | None) -> dict[str, tuple[int, float | None]]:
    """Invocations and last invocation per endpoint (cove's own API: SageMaker's has no field
    for them)."""
    return {e["EndpointName"]: (e["Invocations"], e["LastInvocation"])
            for e in cove_call("ListEndpointUsage", home)["Endpoints"]}


@app.command("ls")
def list_endpoints(home: HomeOption = None) -> None:
    """Every endpoint: status, variants and workers, uptime, invocations, last use."""
    sm = client("sagemaker", home)
    counts = usage(home)
    table = Table("name", "status", "variants (weight × workers)", "up", "invocations",
                  "last invocation")
    for summary in sm.list_endpoints(MaxResults=100)["Endpoints"]:
        d = sm.describe_endpoint(EndpointName=summary["EndpointName"])
        variants = ", ".join(f"{v['VariantName']} ({v['CurrentWeight']:g} × "
                             f"{v['CurrentInstanceCount']})"
                             for v in d.get("ProductionVariants", []))
        calls, last = counts.get(d["EndpointName"], (0, None))
        status = d["EndpointStatus"]
        table.add_row(d["EndpointName"], f"[{STYLE.get(status, 'white')}]{status}[/]",
                      variants, _age(d["CreationTime"]), str(calls),
                      _ago(last) if last else "never")
    console.print(table if table.row_count else "No endpoints: nothing is running up a bill.")


@app.command()
def describe(name: str, home: HomeOption = None) -> None:
    """One endpoint in detail."""
    d = client("sagemaker", home).describe_endpoint(EndpointName=name)
    table = Table(show_header=False, box=None)
    for key in ("EndpointName", "EndpointStatus", "EndpointConfigName", "FailureReason"):
        if key in d:
            table.add_row(key, str(d[key]))
    console.print(table)
    for variant in d.get("ProductionVariants", []):
        console.print(f"  {variant['VariantName']}: weight {variant['CurrentWeight']:g}, "
                      f"{variant['CurrentInstanceCount']} worker(s), "
                      f"{variant['DeployedImages'][0]['SpecifiedImage']}")


@app.command()
def start(name: str, home: HomeOption = None) -> None:
    """Start an endpoint that was stopped for being idle (OutOfService) again."""
    sm = client("sagemaker", home)
    config = sm.describe_endpoint(EndpointName=name)["EndpointConfigName"]
    sm.update_endpoint(EndpointName=name, EndpointConfigName=config)
    with console.status(f"starting {name}…"):
        while (status := sm.describe_endpoint(EndpointName=name)["EndpointStatus"]) in (
                EndpointStatus.CREATING.value, EndpointStatus.UPDATING.value):
            time.sleep(0.25)
    console.print(f"{name}: {status}")


@app.command()
def rm(name: str, home: HomeOption = None) -> None:
    """Delete an endpoint (its workers stop at once)."""
    client("sagemaker", home).delete_endpoint(EndpointName=name)
    console.print(f"deleted {name}")


def _age(value: Any) -> str:
    started = value.timestamp() if hasattr(value, "timestamp") else float(value)
    minutes = int((time.time() - started) // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


def _ago(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")
