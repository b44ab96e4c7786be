"""``cove gateway``: the HTTP APIs, their routes and the URLs that reach them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cove.cli._client import client

app = typer.Typer(no_args_is_help=True, help="HTTP APIs (API Gateway): list them.")
console = Console()
HomeOption = Annotated[Path | None, typer.Option("--home", envvar="COVE_HOME",
                                                 help="Data directory (default: ~/.cove).")]


def stage_urls(api: dict[str, Any], stages: list[dict[str, Any]]) -> list[str]:
    """The invoke URL of each stage: ``$default`` at the API's endpoint, others below it."""
    base = api["ApiEndpoint"]
    return [base + ("" if s["StageName"] == "$default" else f"/{s['StageName']}")
            for s in stages]


@app.command("ls")
def list_apis(home: HomeOption = None) -> None:
    """Every HTTP API: its stages' URLs and each route with the function it invokes."""
    gw = client("apigatewayv2", home)
    table = Table("api", "name", "url", "routes → functions")
    for api in gw.get_apis()["Items"]:
        stages = gw.get_stages(ApiId=api["ApiId"])["Items"]
        integrations = {i["IntegrationId"]: i for i in gw.get_integrations(
            ApiId=api["ApiId"])["Items"]}
        routes = []
        for route in gw.get_routes(ApiId=api["ApiId"])["Items"]:
            target = integrations.get(route.get("Target", "").removeprefix("integrations/"))
            function = target["IntegrationUri"].rsplit(":", 1)[-1] if target else "(none)"
            routes.append(f"{route['RouteKey']} → {function}")
        table.add_row(api["ApiId"], api["Name"], "\n".join(stage_urls(api, stages)) or
                      "(no stage)", "\n".join(routes) or "(no routes)")
    console.print(table if table.row_count else "No APIs.")
