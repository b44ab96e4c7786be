"""What the resource commands (jobs, tuning, endpoints) share: the console, the --home option,
status colours, times, and showing a view once or live until its resource ends."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, RenderableType
from rich.live import Live

from cove.lifecycles import JobStatus

console = Console()
HomeOption = Annotated[Path | None, typer.Option("--home", envvar="COVE_HOME",
                                                 help="Data directory (default: ~/.cove).")]
WatchOption = Annotated[bool, typer.Option("--watch", "-w", help="Refresh until it ends.")]
STATUS_STYLE = {JobStatus.COMPLETED.value: "green", JobStatus.FAILED.value: "red",
                JobStatus.STOPPED.value: "yellow", JobStatus.IN_PROGRESS.value: "cyan",
                JobStatus.STOPPING.value: "yellow"}
#: A job's status value (training, processing, transform, tuning) that it ends in.
TERMINAL = tuple(s.value for s in JobStatus if s.is_finished())


def status(value: str) -> str:
    return f"[{STATUS_STYLE.get(value, 'white')}]{value}[/]"


def when(value: Any) -> str:
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value)
    return value.strftime("%H:%M:%S") if hasattr(value, "strftime") else str(value)


def show(render: Callable[[], tuple[RenderableType, bool]], watch: bool,
         interval: float = 1.0) -> None:
    """Print ``render()``'s view; with ``watch``, refresh it in place until it says it is done."""
    view, done = render()
    if not watch:
        console.print(view)
        return
    with Live(view, console=console, refresh_per_second=4) as live:
        while not done:
            time.sleep(interval)
            view, done = render()
            live.update(view)
