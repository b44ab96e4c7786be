"""``cove functions``: the functions deployed here, and what each runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cove.cli._client import client
from cove.units import human_size

app = typer.Typer(no_args_is_help=True, help="Functions (Lambda): list them.")
console = Console()
HomeOption = Annotated[Path | None, typer.Option("--home", envvar="COVE_HOME",
                                                 help="Data directory (default: ~/.cove).")]


@app.command("ls")
def list_functions(home: HomeOption = None) -> None:
    """Every function: runtime, handler, memory, timeout, code size, last change."""
    lam = client("lambda", home)
    table = Table("name", "runtime", "handler", "memory", "timeout", "code", "last modified")
    for page in lam.get_paginator("list_functions").paginate():
        for f in page["Functions"]:
            table.add_row(f["FunctionName"], f["Runtime"], f["Handler"],
                          f"{f['MemorySize']} MB", f"{f['Timeout']} s",
                          human_size(f["CodeSize"]), f["LastModified"][:19].replace("T", " "))
    console.print(table if table.row_count else "No functions.")
