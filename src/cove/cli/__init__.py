"""The ``cove`` command line: run the server and look at its state.

Errors are printed once, here, as a message and an exit code; no traceback for a user's mistake.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import botocore.exceptions
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cove import __version__
from cove.config import Config, load_config, read_server_file
from cove.errors import CoveError
from cove.lifecycles import EndpointStatus
from cove.lifecycles import NotebookInstanceStatus as Notebook
from cove.units import human_size

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="cove: SageMaker's train → tune → deploy → serve loop on one machine.")
console = Console()
err_console = Console(stderr=True)


def _register_groups() -> None:
    from cove.cli import (
        accounts,
        endpoints,
        functions,
        gateway,
        jobs,
        notebook,
        pipelines,
        processing,
        transforms,
        tuning,
    )

    app.add_typer(jobs.app, name="jobs")
    app.add_typer(processing.app, name="processing")
    app.add_typer(endpoints.app, name="endpoints")
    app.add_typer(tuning.app, name="tuning")
    app.add_typer(transforms.app, name="transforms")
    app.add_typer(functions.app, name="functions")
    app.add_typer(gateway.app, name="gateway")
    app.add_typer(notebook.app, name="notebook")
    app.add_typer(pipelines.app, name="pipelines")
    app.add_typer(accounts.app, name="accounts")

HomeOption = Annotated[Path | None, typer.Option("--home", envvar="COVE_HOME",
                                                 help="Data directory (default: ~/.cove).")]


class CliError(CoveError):
    code = "CliError"
    status = 1


def main() -> None:
    _register_groups()
    try:
        app()
    except CoveError as exc:
        err_console.print(f"[bold red]error:[/] {escape(exc.message)}", soft_wrap=True)
        sys.exit(1)
    except (botocore.exceptions.EndpointConnectionError,
            botocore.exceptions.ConnectionClosedError) as exc:
        from cove.cli._client import unreachable

        where = str(exc.kwargs.get("endpoint_url", "its address"))
        err_console.print(f"[bold red]error:[/] {escape(unreachable(where, exc))}",
                          soft_wrap=True)
        sys.exit(1)
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        # escaped: a message such as pip install 'cove[notebook]' is not Rich markup
        err_console.print(f"[bold red]error:[/] {escape(str(error.get('Code')))}: "
                          f"{escape(str(error.get('Message')))}", soft_wrap=True)
        sys.exit(1)


def _version(value: bool) -> None:
    if value:
        print(f"cove {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print cove's version and exit.")
        ] = False) -> None:
    """cove: SageMaker's train → tune → deploy → serve loop on one machine."""


@app.command()
def up(
    home: HomeOption = None,
    host: Annotated[str | None,
                    typer.Option(help="Interface to bind (default: 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: 4599; 0 picks a free one).",
                                             envvar="COVE_PORT")] = None,
    console_port: Annotated[int | None, typer.Option(
        "--console-port", envvar="COVE_CONSOLE_PORT",
        help="The web console's port [default: cove's port + 1; 0 picks a free one].")] = None,
    detach: Annotated[bool, typer.Option("--detach", "-d",
                                         help="Run in the background and return.")] = False,
    idle_timeout: Annotated[str | None, typer.Option(
        "--idle-timeout", envvar="COVE_ENDPOINT_IDLE_TIMEOUT",
        help="Stop endpoints unused this long (e.g. 2h); off by default.")] = None,
    executor: Annotated[str | None, typer.Option(
        "--executor", envvar="COVE_EXECUTOR",
        help="Where job hosts run: local (this machine) or ray (default: local).")] = None,
    ray_address: Annotated[str | None, typer.Option(
        "--ray-address", envvar="COVE_RAY_ADDRESS",
        help="The Ray cluster's head, HOST:PORT (with --executor ray).")] = None,
) -> None:
    """Start the cove server (foreground until Ctrl-C, or --detach)."""
    config = load_config(home, host=host, port=port, console_port=console_port,
                         endpoint_idle_timeout=idle_timeout, executor=executor,
                         ray_address=ray_address)
    if config.executor not in ("local", "ray"):
        raise CliError(f"--executor must be local or ray, not {config.executor!r}")
    if config.executor == "ray" and not config.ray_address:
        raise CliError("--executor ray needs --ray-address HOST:PORT (or COVE_RAY_ADDRESS)")
    config.idle_timeout_seconds  # noqa: B018 - a bad duration fails here, before starting
    config.head_timeout_seconds  # noqa: B018
    if detach:
        record = start_detached(config)
        console.print(f"cove is up at [bold]{record['url']}[/] (pid {record['pid']}, "
                      f"home {config.home})")
        console.print('Point clients at it with: [bold]eval "$(cove env)"[/]')
        from cove.console import mint_link

        console.print(f"Console: {mint_link(config.home, _console_url(record))} (one-time "
                      "link)", soft_wrap=True)
        return
    from cove.server import serve

    _check_port_free(config)
    if config.host not in ("127.0.0.1", "localhost", "::1"):
        err_console.print(f"[yellow]warning:[/] listening on {config.host}: cove will accept "
                          "signed requests from other machines.")
    serve(config)


def _check_port_free(config: Config) -> None:
    """One line naming the busy port, before anything starts or prints where it listens."""
    import socket

    if config.port == 0 or read_server_file(config.home) is not None:
        return  # any free port; or this home's cove runs already (its own message says so)
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((config.host, config.port))
        except OSError as exc:
            raise CliError(f"port {config.port} on {config.host} is busy ({exc.strerror}): "
                           "pick another with --port N, --port 0 (any free port) or "
                           "COVE_PORT=N.") from None


def start_detached(config: Config, timeout: float = 60.0) -> dict[str, Any]:
    """Start a background server for ``config`` and wait until it answers."""
    if (running := read_server_file(config.home)) is not None:
        return running
    _check_port_free(config)
    config.log_dir.mkdir(parents=True, exist_ok=True)
    log_path = config.log_dir / "server.log"
    args = [sys.executable, "-m", "cove", "up", "--home", str(config.home),
            "--host", config.host, "--port", str(config.port)]
    if config.console_port >= 0:
        args += ["--console-port", str(config.console_port)]
    if config.endpoint_idle_timeout:
        args += ["--idle-timeout", config.endpoint_idle_timeout]
    if config.executor != "local":
        args += ["--executor", config.executor, "--ray-address", config.ray_address]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    deadline = time.monotonic() + timeout
    with console.status("starting cove…"):
        while time.monotonic() < deadline:
            record = read_server_file(config.home)
            if record and record["pid"] == proc.pid and _healthy(record["url"]):
                return record
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace").splitlines()[-15:]
                raise CliError("cove failed to start:\n" + "\n".join(tail))
            time.sleep(0.05)
    proc.terminate()
    raise CliError(f"cove did not answer within {timeout:.0f} s; see {log_path}")


def _console_url(record: dict[str, Any]) -> str:
    """The console's origin (a server older than the console's own port served it on its
    API port)."""
    return str(record.get("console_url") or record["url"])


def _healthy(url: str) -> dict[str, Any] | None:
    import json

    try:
        with urllib.request.urlopen(f"{url}/_cove/health", timeout=2) as response:
            data: dict[str, Any] = json.loads(response.read())
            return data
    except (urllib.error.URLError, OSError, ValueError):
        return None


@app.command()
def down(home: HomeOption = None,
         timeout: Annotated[float, typer.Option(help="Seconds to wait before SIGKILL.")] = 30.0,
         ) -> None:
    """Stop the background cove server."""
    config = load_config(home)
    record = read_server_file(config.home)
    if record is None:
        console.print(f"cove is not running (home {config.home}).")
        return
    _warn_live_endpoints(config.home)
    _warn_notebooks(config.home, "they start again with the next `cove up`")
    pid = record["pid"]
    os.kill(pid, signal.SIGTERM)
    with console.status(f"stopping cove (pid {pid})…"):
        if not _wait_gone(pid, timeout):
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 5)
            console.print(f"[yellow]cove did not stop within {timeout:.0f} s: killed.[/]")
            return
    console.print("cove stopped.")


def _warn_live_endpoints(home: Path) -> None:
    """Have you shut down your endpoints?  They come back with the next `cove up`."""
    from cove.cli._client import client

    try:
        live = [e["EndpointName"] for e in client("sagemaker", home).list_endpoints(
            StatusEquals=EndpointStatus.IN_SERVICE.value, MaxResults=100)["Endpoints"]]
    except (CoveError, botocore.exceptions.BotoCoreError,
            botocore.exceptions.ClientError) as exc:
        err_console.print(f"[yellow]could not list endpoints: {exc}[/]")
        return
    if live:
        console.print(f"[yellow]{len(live)} endpoint(s) still deployed: {', '.join(live)}. "
                      "They restart with the next `cove up`; `cove endpoints rm NAME` deletes "
                      "one.[/]")


def _warn_notebooks(home: Path, then: str) -> None:
    """Notebook instances that run (a JupyterLab each)."""
    from cove.cli._client import client

    try:
        live = [n["NotebookInstanceName"] for n in client("sagemaker", home)
                .list_notebook_instances(StatusEquals=Notebook.IN_SERVICE.value,
                                         MaxResults=100)[
                    "NotebookInstances"]]
    except (CoveError, botocore.exceptions.BotoCoreError,
            botocore.exceptions.ClientError) as exc:
        err_console.print(f"[yellow]could not list notebook instances: {escape(str(exc))}[/]")
        return
    if live:
        console.print(f"[yellow]{len(live)} notebook instance(s) running: {', '.join(live)}; "
                      f"{then} (`cove notebook stop NAME` stops one).[/]")


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


@app.command()
def status(home: HomeOption = None) -> None:
    """Show whether cove runs, where, and what it holds."""
    config = load_config(home)
    record = read_server_file(config.home)
    health = _healthy(record["url"]) if record else None
    table = Table(show_header=False, box=None)
    table.add_row("state", "[green]running[/]" if health else "[red]not running[/]")
    table.add_row("home", str(config.home))
    if record and health:
        table.add_row("url", record["url"])
        table.add_row("console", f"{_console_url(record)}/ui/ (`cove ui` signs in)")
        table.add_row("pid", str(record["pid"]))
        table.add_row("version", health["version"])
        table.add_row("uptime", _duration(health["uptime_seconds"]))
        from cove.cli._client import cove_call

        _executor_rows(table, cove_call("DescribeExecutor", home))
        _notebook_row(table, home)
        stats = cove_call("DescribeObjectStore", home)  # the server's view, never the file's
        table.add_row("buckets", str(stats["Buckets"]))
        table.add_row("objects", f"{stats['Objects']} ({human_size(stats['Bytes'])})")
        table.add_row("multipart uploads", str(stats["MultipartUploads"]))
    console.print(table)
    if not health:
        raise typer.Exit(1)


def _notebook_row(table: Table, home: Path | None) -> None:
    from cove.cli._client import client

    instances = client("sagemaker", home).list_notebook_instances(MaxResults=100)[
        "NotebookInstances"]
    running = [n["NotebookInstanceName"] for n in instances
               if Notebook(n["NotebookInstanceStatus"]) in (Notebook.PENDING, Notebook.IN_SERVICE)]
    table.add_row("notebooks", f"{len(running)} running ({', '.join(running)})" if running
                  else f"none running ({len(instances)} in all)")


def _executor_rows(table: Table, executor: dict[str, Any]) -> None:
    """The executor and, on Ray, each node with its free CPUs; the sandbox, loudly when user
    code runs unconfined or not at all."""
    sandbox = str(executor.get("sandbox", "?"))
    table.add_row("sandbox", sandbox if sandbox.startswith("bwrap") else f"[bold red]{sandbox}[/]")
    if executor.get("executor") != "ray":
        table.add_row("executor", f"local ({executor.get('slots', '?')} parallel hosts)")
        return
    table.add_row("executor", f"ray at {executor['address']} "
                              f"({len(executor['nodes'])} nodes)")
    for node in executor["nodes"]:
        extra = f", resources {', '.join(node['resources'])}" if node["resources"] else ""
        table.add_row(f"  node {node['node'][:12]}",
                      f"{node['address']}: {node['free_cpus']:g} of {node['cpus']:g} CPUs free, "
                      f"{human_size(int(node['memory_bytes']))} memory{extra}")


@app.command()
def env(home: HomeOption = None) -> None:
    """Print the `export` lines that point boto3, the aws CLI and the SageMaker SDK at cove."""
    import shlex

    from cove._sdk import client_environment

    for name, value in client_environment(home).items():
        print(f"export {name}={shlex.quote(value)}")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run(ctx: typer.Context, home: HomeOption = None) -> None:
    """Run a command against cove: `cove run -- aws s3 ls`, `cove run -- python train.py`.

    The command gets cove's URL, credentials, region and SDK config (what `cove env` exports),
    so it cannot reach real AWS by mistake; its exit code is cove run's."""
    from cove._sdk import client_environment
    from cove.cli._client import running_config

    if not ctx.args:
        raise CliError("cove run needs a command: cove run -- aws s3 ls")
    running_config(home)  # not running: say so, rather than let the command fail to connect
    env = {k: v for k, v in os.environ.items()
           if k not in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")}
    env.update(client_environment(home))
    try:
        code = subprocess.call(ctx.args, env=env)
    except FileNotFoundError:
        raise CliError(f"{ctx.args[0]}: command not found") from None
    except PermissionError:
        raise CliError(f"{ctx.args[0]}: permission denied") from None
    raise typer.Exit(code)


@app.command()
def demo(home: HomeOption = None,
         data: Annotated[str | None, typer.Option(
             help="Reviews to use: an aclImdb directory or a CSV (review,sentiment[,split]). "
                  "Default: everyday reviews generated from a sentiment lexicon (offline).")
         ] = None,
         download: Annotated[bool, typer.Option(
             help="Fetch the IMDB reviews (cached in COVE_HOME) when the network allows.")
         ] = False,
         keep: Annotated[bool, typer.Option(
             help="Leave the endpoint running after Ctrl-C.")] = False,
         serve: Annotated[bool, typer.Option(
             help="Keep serving until Ctrl-C (--no-serve: set up, print, exit).")] = True,
         rounds: Annotated[int | None, typer.Option(
             help="XGBoost rounds (default: 50 on the generated reviews; with --data the "
                  "tutorial's 500, early stopping after 10).")
         ] = None) -> None:
    """The case study: a movie-review sentiment model behind an HTTP API and a web page.

    Trains it, deploys it behind a function and an HTTP API, and serves the page."""
    from cove.demo import run_demo

    run_demo(load_config(home), console, data=data, download=download, keep=keep, serve=serve,
             rounds=rounds)


@app.command()
def ui(home: HomeOption = None,
       open_browser: Annotated[bool, typer.Option(
           "--open/--no-open", help="Open the link in a browser.")] = True) -> None:
    """Print a one-time sign-in link to the web console (and open it)."""
    import webbrowser

    from cove.console import mint_link
    config = load_config(home)
    record = read_server_file(config.home)
    if record is None:
        raise CliError(f"cove is not running (home {config.home}); `cove up` starts it.")
    link = mint_link(config.home, _console_url(record))
    print(f"Console (one-time link, valid 15 minutes): {link}")
    if open_browser:
        webbrowser.open(link)


@app.command()
def version() -> None:
    """Print cove's version."""
    print(__version__)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"
